//! Probes: the [`Prober`] trait, the lab guard that refuses probes whose route would leave the lab, and one
//! file per probe kind. Captures run around the probes and are judged from their packets.

pub mod captures;
pub mod dns;
pub mod guard;
pub mod icmp;
pub mod listen;
pub mod rule;
pub mod tcp;
pub mod udp;

use crate::check::{Action, Check, Observation, Outcome};
use crate::inventory::Inventory;
use crate::lab::kernel::KernelLab;
use crate::suite::Endpoint;
use futures::future::join_all;
use std::collections::{BTreeSet, HashMap};
use std::net::Ipv4Addr;

/// Something that can observe one check. The real one sends packets; tests use recorded answers.
#[allow(async_fn_in_trait)]
pub trait Prober {
    /// Observes one check. Never panics on network conditions: unreachable is an observation; only a probe
    /// that could not run is an [`Observation::Error`].
    async fn probe(&self, check: &Check) -> Observation;
}

/// Runs every check at once, so an N×N matrix costs about one timeout, not N² of them.
pub async fn probe_all<'c>(
    prober: &impl Prober,
    checks: impl IntoIterator<Item = &'c Check>,
) -> HashMap<usize, Observation> {
    let observed = join_all(checks.into_iter().map(|c| async move { (c.id, prober.probe(c).await) })).await;
    observed.into_iter().collect()
}

/// For UDP and TCP, "no route" means the datagram or SYN was never delivered: dropped.
fn undelivered(o: Observation) -> Observation {
    match o {
        Observation::Observed { outcome: Outcome::Unreachable, detail, target, artifacts, dropped } => {
            Observation::Observed { outcome: Outcome::Dropped, detail, target, artifacts, dropped }
        }
        other => other,
    }
}

/// The real prober of a built lab.
pub struct LabProber<'a> {
    lab: &'a KernelLab,
    inventory: Inventory,
    lab_addresses: BTreeSet<Ipv4Addr>,
    icmp: icmp::Icmp,
    listeners: listen::Listeners,
}

impl<'a> LabProber<'a> {
    /// A prober for `lab`, whose addresses are `inventory` (read back from the kernel).
    pub fn new(lab: &'a KernelLab, inventory: Inventory) -> Self {
        let lab_addresses = inventory.addresses();
        LabProber {
            lab,
            inventory,
            lab_addresses,
            icmp: icmp::Icmp::default(),
            listeners: listen::Listeners::default(),
        }
    }

    /// The address to probe, cleared by the guard; or the observation that replaces the probe.
    async fn target(&self, check: &Check, to: &Endpoint, by_name: bool) -> Result<Ipv4Addr, Observation> {
        let ip = if by_name {
            dns::resolve(self.lab, &check.from, &to.node, check.settings.timeout_ms).await?
        } else {
            self.inventory
                .target(&check.from, to)
                .map_err(|e| Observation::error(format!("no address to probe: {e}")))?
        };
        guard::clear(self.lab, &self.lab_addresses, &check.from, ip).await.map(|()| ip)
    }
}

impl Prober for LabProber<'_> {
    async fn probe(&self, check: &Check) -> Observation {
        match &check.action {
            Action::Icmp { to, by_name } => match self.target(check, to, *by_name).await {
                Ok(ip) => self.icmp.ping(self.lab, &check.from, ip, check.settings).await.at(ip),
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
            Action::Capture { .. } => Observation::error("captures are judged from their packets, not probed"),
        }
    }
}
