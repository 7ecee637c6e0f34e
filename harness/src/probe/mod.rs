//! Probes: the [`Prober`] trait, the lab guard that refuses probes whose route would leave the lab, and one
//! file per probe kind. Captures run around the probes and are judged from their packets.

pub mod arrival;
pub mod capture_checks;
pub mod dns;
pub mod guard;
pub mod icmp;
pub mod interface;
pub mod listen;
pub mod nodes;
pub mod path;
pub mod rule;
pub mod tcp;
pub mod timing;
pub mod udp;
pub mod waves;
pub mod wire;

use crate::check::{Action, Check, Observation, Outcome};
use crate::inventory::Inventory;
use crate::suite::Endpoint;
use guard::Clearance;
use nodes::Nodes;
use std::collections::BTreeSet;
use std::net::Ipv4Addr;

/// Something that can observe one check. The real one sends packets; tests use recorded answers.
#[allow(async_fn_in_trait)]
pub trait Prober {
    /// Observes one check. Never panics on network conditions: unreachable is an observation; only a probe
    /// that could not run is an [`Observation::Error`].
    async fn probe(&self, check: &Check) -> Observation;
}

/// The real ARP table of the machine and the neighbour caches of a lab's namespaces.
pub struct LabNeighbours<'a, L: Nodes>(pub &'a L);

impl<L: Nodes> waves::NeighbourTable for LabNeighbours<'_, L> {
    fn read(&self) -> Option<crate::kernel::neigh::ArpTable> {
        crate::kernel::neigh::arp_table().ok()
    }
    async fn flush(&self) -> Result<(), String> {
        self.0.flush_neighbours().await
    }
}

/// For UDP and TCP, "no route" means the datagram or SYN was never delivered: dropped.
fn undelivered(o: Observation) -> Observation {
    match o {
        Observation::Observed { outcome: Outcome::Unreachable, detail, target, artifacts, dropped, why, sent } => {
            Observation::Observed { outcome: Outcome::Dropped, detail, target, artifacts, dropped, why, sent }
        }
        other => other,
    }
}

/// The real prober of a built lab.
pub struct LabProber<'a, L: Nodes> {
    lab: &'a L,
    inventory: Inventory,
    lab_addresses: BTreeSet<Ipv4Addr>,
    icmp: icmp::Icmp,
    listeners: listen::Listeners,
}

impl<'a, L: Nodes> LabProber<'a, L> {
    /// A prober for `lab`, whose addresses are `inventory` (read back from the kernel).
    pub fn new(lab: &'a L, inventory: Inventory) -> Self {
        let lab_addresses = inventory.addresses();
        LabProber {
            lab,
            inventory,
            lab_addresses,
            icmp: icmp::Icmp::default(),
            listeners: listen::Listeners::default(),
        }
    }

    /// The address to probe, cleared by the guard; or the observation that replaces the probe. The
    /// destination's preferred address decides, unless the source's kernel says it is a broadcast address or
    /// one of the source's own: then its next address is tried.
    async fn target(&self, check: &Check, to: &Endpoint, by_name: bool) -> Result<Ipv4Addr, Observation> {
        let candidates = if by_name {
            vec![dns::resolve(self.lab, &check.from, &to.node, check.settings.timeout_ms).await?]
        } else {
            self.inventory
                .candidates(&check.from, to)
                .map_err(|e| Observation::error(format!("no address to probe: {e}")))?
        };
        let from = &check.from;
        let (mut broadcast, mut local) = (Vec::new(), Vec::new());
        for ip in candidates {
            match guard::clear(self.lab, &self.lab_addresses, from, ip).await? {
                Clearance::Send => return Ok(ip),
                Clearance::NoRoute { errno } => {
                    let words = crate::kernel::netlink::RouteTo::no_route_words(errno);
                    let detail = format!("no packet was sent: {from} has {words} to {ip}");
                    return Err(Observation::unsent(Outcome::Unreachable, detail).at(ip));
                }
                Clearance::Broadcast => broadcast.push(ip),
                Clearance::Local => local.push(ip),
            }
        }
        if let Some(ip) = local.first() {
            return Err(Observation::error(format!(
                "cannot know: {ip}, the address of {}, is also an address of {from}, so a probe would answer itself (give the two nodes different addresses)",
                to.node
            )));
        }
        let ip = broadcast[0];
        let detail = format!(
            "no packet was sent: {ip}, {}'s address, is a broadcast address of a subnet on {from}, so {from} cannot send a unicast packet to it (ping: \"Do you want to ping broadcast?\")",
            to.node
        );
        Err(Observation::unsent(Outcome::Unreachable, detail).at(ip))
    }
}

impl<L: Nodes> Prober for LabProber<'_, L> {
    async fn probe(&self, check: &Check) -> Observation {
        match &check.action {
            Action::Icmp { to, by_name } => match self.target(check, to, *by_name).await {
                Ok(ip) => match self.lab.namespace(&check.from) {
                    Some(ns) => self.icmp.ping(&check.from, ns, ip, check.settings).await.at(ip),
                    None => Observation::error(format!("the namespace of {} is gone", check.from)),
                },
                Err(o) => o,
            },
            Action::Udp { to, port, listen } => match self.target(check, to, false).await {
                Ok(ip) => {
                    let dest = listen::Dest { node: &to.node, ip, port: *port, listen: *listen };
                    udp::send(self.lab, &self.listeners, &check.from, dest, check.settings).await.at(ip)
                }
                Err(o) => undelivered(o),
            },
            Action::Tcp { to, port, listen } => match self.target(check, to, false).await {
                Ok(ip) => {
                    let dest = listen::Dest { node: &to.node, ip, port: *port, listen: *listen };
                    tcp::connect(self.lab, &self.listeners, &check.from, dest, check.settings).await.at(ip)
                }
                Err(o) => undelivered(o),
            },
            Action::Masquerade { subnet } => rule::masquerade(self.lab, &check.from, *subnet).await,
            Action::InterfaceFlags { interface, promisc } => {
                interface::flags(self.lab, &check.from, interface, *promisc).await
            }
            Action::Capture { .. } => Observation::error("captures are judged from their packets, not probed"),
        }
    }
}
