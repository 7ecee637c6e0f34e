//! Resolving: a [`Suite`] → a [`Plan`]: the ordered steps that build its topology and the checks to run. Pure.

use crate::check::{Action, CaptureAssertion, CellRef, Check, CheckKind, Expected, Outcome};
use crate::inventory::Inventory;
use crate::suite::{
    By, Cell, Cidr, Container, Endpoint, Lab, Link, LinkKind, Network, ProbeKind, ProbeSettings, Promiscuous, Route,
    Suite,
};
use serde::Serialize;
use std::collections::BTreeSet;

pub use crate::kernel::features::Feature;

/// The feature a link kind needs.
pub fn link_feature(kind: LinkKind) -> Feature {
    match kind {
        LinkKind::Macvlan => Feature::Macvlan,
        LinkKind::Ipvlan => Feature::Ipvlan,
        LinkKind::Vlan => Feature::Vlan,
        LinkKind::Vxlan => Feature::Vxlan,
        LinkKind::Dummy => Feature::Dummy,
    }
}

/// One side effect, in the suite's names; the applier maps them to run-scoped kernel names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum Step {
    /// `ip netns add`.
    CreateNamespace { netns: String },
    /// Turn on IPv4 forwarding in a namespace.
    EnableForwarding { netns: String },
    /// `ip link add NAME type bridge`.
    CreateBridge { netns: String, name: String },
    /// `ip link add NAME type veth peer name PEER`, each end created directly in its namespace.
    CreateVeth { netns: String, name: String, peer_netns: String, peer_name: String },
    /// `ip link add NAME … type KIND …` for macvlan, ipvlan, vlan, vxlan, dummy.
    CreateLink { link: Link },
    /// `ip link set NAME master BRIDGE`.
    SetMaster { netns: String, name: String, master: String },
    /// `ip addr add ADDRESS dev NAME`.
    AddAddress { netns: String, dev: String, address: Cidr },
    /// `ip link set NAME up`.
    SetUp { netns: String, dev: String },
    /// `ip route add`.
    AddRoute { netns: String, route: Route },
    /// The hypervisor's promiscuous policy on a switch port: `deny` turns learning and unknown-unicast
    /// flooding off and adds a static forwarding entry for the VM's own MAC (read from `mac_of`).
    SwitchPolicy { netns: String, port: String, policy: Promiscuous, mac_of: (String, String) },
    /// `ip link set NAME promisc on`.
    SetPromisc { netns: String, dev: String },
    /// Start a private Docker engine inside a namespace (server1).
    StartEngine { netns: String },
    /// Make an image available to the engine (copied from the machine's engine, or a busybox stand-in).
    EnsureImage { image: String },
    /// `docker network create`.
    CreateNetwork { network: Network },
    /// `docker create` on the container's first network (or host/none mode).
    CreateContainer { container: Container },
    /// `docker network connect`.
    ConnectContainer { container: String, network: String },
    /// `docker start`, all at once.
    StartContainers { containers: Vec<String> },
}

/// What a step changes: namespaces (by the suite's names), the engine itself, or objects inside the engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Touches<'a> {
    /// The namespaces it changes (both ends of a veth).
    Namespaces(Vec<&'a str>),
    /// The engine (starting it, giving it an image).
    Engine,
    /// Networks and containers inside the engine.
    DockerObjects,
}

impl Step {
    /// What the step changes; plans are filtered by this (see [`Plan::retain`]).
    pub fn touches(&self) -> Touches<'_> {
        match self {
            Step::CreateNamespace { netns }
            | Step::EnableForwarding { netns }
            | Step::CreateBridge { netns, .. }
            | Step::SetMaster { netns, .. }
            | Step::AddAddress { netns, .. }
            | Step::SetUp { netns, .. }
            | Step::AddRoute { netns, .. }
            | Step::SwitchPolicy { netns, .. }
            | Step::SetPromisc { netns, .. } => Touches::Namespaces(vec![netns]),
            Step::CreateVeth { netns, peer_netns, .. } => Touches::Namespaces(vec![netns, peer_netns]),
            Step::CreateLink { link } => Touches::Namespaces(vec![&link.netns]),
            Step::StartEngine { .. } | Step::EnsureImage { .. } => Touches::Engine,
            Step::CreateNetwork { .. }
            | Step::CreateContainer { .. }
            | Step::ConnectContainer { .. }
            | Step::StartContainers { .. } => Touches::DockerObjects,
        }
    }

    /// The phase of a run this step belongs to, for `--timings`.
    pub fn phase(&self) -> &'static str {
        match self {
            Step::CreateNamespace { .. } | Step::EnableForwarding { .. } => "namespaces",
            Step::CreateBridge { .. }
            | Step::CreateVeth { .. }
            | Step::CreateLink { .. }
            | Step::SetMaster { .. }
            | Step::AddAddress { .. }
            | Step::SetUp { .. }
            | Step::AddRoute { .. }
            | Step::SwitchPolicy { .. }
            | Step::SetPromisc { .. } => "links",
            Step::StartEngine { .. } => "engine",
            Step::EnsureImage { .. } => "image",
            Step::CreateNetwork { .. } => "networks",
            Step::CreateContainer { .. } | Step::ConnectContainer { .. } | Step::StartContainers { .. } => "containers",
        }
    }
}

/// What a run does for one suite.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    /// Steps in order.
    pub steps: Vec<Step>,
    /// Checks: one per checked matrix cell, per capture assertion, per NAT rule.
    pub checks: Vec<Check>,
    /// Machine features the steps need.
    pub requires: BTreeSet<Feature>,
}

impl Plan {
    /// Keeps the steps for which `keep` says yes, judged by what each step changes. The one place plans are cut
    /// down: `--engine system` drops the emulated LAN, grading keeps only the lab's environment.
    pub fn retain(mut self, keep: impl Fn(&Touches<'_>) -> bool) -> Plan {
        self.steps.retain(|s| keep(&s.touches()));
        self
    }
}

fn expected(probe: ProbeKind, cell: Cell) -> Option<Expected> {
    let udp_like = matches!(probe, ProbeKind::Udp | ProbeKind::Tcp);
    Some(match cell {
        Cell::Unchecked => return None,
        Cell::Reach if udp_like => Expected::one(Outcome::Delivered),
        Cell::Reach => Expected::one(Outcome::Reachable),
        Cell::NoReach if udp_like => Expected::any(vec![Outcome::Refused, Outcome::Dropped], "refused or dropped"),
        // Not resolving a name also means not reaching it.
        Cell::NoReach => Expected::any(vec![Outcome::Unreachable, Outcome::Unresolved], "unreachable"),
        Cell::Unresolved => Expected::one(Outcome::Unresolved),
        Cell::Refused => Expected::one(Outcome::Refused),
        Cell::Dropped => Expected::one(Outcome::Dropped),
        Cell::Open => Expected::one(Outcome::Open),
    })
}

fn topology_steps(suite: &Suite, steps: &mut Vec<Step>, requires: &mut BTreeSet<Feature>) {
    for ns in &suite.namespaces {
        steps.push(Step::CreateNamespace { netns: ns.name.clone() });
        if ns.forwarding {
            steps.push(Step::EnableForwarding { netns: ns.name.clone() });
        }
    }
    for b in &suite.bridges {
        requires.insert(Feature::Bridge);
        steps.push(Step::CreateBridge { netns: b.netns.clone(), name: b.name.clone() });
    }
    for v in &suite.veths {
        requires.insert(Feature::Veth);
        steps.push(Step::CreateVeth {
            netns: v.a.netns.clone(),
            name: v.a.name.clone(),
            peer_netns: v.b.netns.clone(),
            peer_name: v.b.name.clone(),
        });
    }
    for l in &suite.links {
        requires.insert(link_feature(l.kind));
        steps.push(Step::CreateLink { link: l.clone() });
    }
    let ends: Vec<_> = suite.veths.iter().flat_map(|v| [&v.a, &v.b]).collect();
    for e in &ends {
        if let Some(master) = &e.master {
            steps.push(Step::SetMaster { netns: e.netns.clone(), name: e.name.clone(), master: master.clone() });
        }
    }
    for (netns, dev, address) in suite.addresses() {
        steps.push(Step::AddAddress { netns: netns.into(), dev: dev.into(), address });
    }
    let bridges_up = suite.bridges.iter().filter(|b| b.up).map(|b| (&b.netns, &b.name));
    let ends_up = ends.iter().filter(|e| e.up).map(|e| (&e.netns, &e.name));
    let links_up = suite.links.iter().filter(|l| l.up).map(|l| (&l.netns, &l.name));
    for (netns, dev) in bridges_up.chain(ends_up).chain(links_up) {
        steps.push(Step::SetUp { netns: netns.clone(), dev: dev.clone() });
    }
    for ns in &suite.namespaces {
        for route in &ns.routes {
            steps.push(Step::AddRoute { netns: ns.name.clone(), route: route.clone() });
        }
    }
    if let Some(lab) = &suite.lab {
        steps.push(Step::SwitchPolicy {
            netns: Lab::SWITCH.into(),
            port: format!("port-{}", Lab::SERVER1),
            policy: lab.promiscuous,
            mac_of: (Lab::SERVER1.into(), lab.nic.clone()),
        });
        if lab.nic_promisc {
            steps.push(Step::SetPromisc { netns: Lab::SERVER1.into(), dev: lab.nic.clone() });
        }
    }
}

fn docker_steps(suite: &Suite, steps: &mut Vec<Step>, requires: &mut BTreeSet<Feature>) {
    if suite.containers.is_empty() && suite.networks.is_empty() {
        return;
    }
    requires.insert(Feature::Docker);
    if suite.networks.iter().any(|n| n.driver == "macvlan") {
        requires.insert(Feature::Macvlan);
    }
    steps.push(Step::StartEngine { netns: Lab::SERVER1.into() });
    let images: BTreeSet<&str> = suite.containers.iter().map(|c| c.image.as_str()).collect();
    for image in images {
        steps.push(Step::EnsureImage { image: image.into() });
    }
    for n in &suite.networks {
        steps.push(Step::CreateNetwork { network: n.clone() });
    }
    for c in &suite.containers {
        steps.push(Step::CreateContainer { container: c.clone() });
    }
    for c in &suite.containers {
        if let crate::suite::Attachment::Networks(nets) = &c.attachment {
            for n in nets.iter().skip(1) {
                steps.push(Step::ConnectContainer { container: c.name.clone(), network: n.clone() });
            }
        }
    }
    if !suite.containers.is_empty() {
        steps.push(Step::StartContainers { containers: suite.containers.iter().map(|c| c.name.clone()).collect() });
    }
}

fn matrix_checks(suite: &Suite, inventory: &Inventory, checks: &mut Vec<Check>) {
    let containers: std::collections::HashSet<&str> = suite.containers.iter().map(|c| c.name.as_str()).collect();
    for (mi, m) in suite.matrices.iter().enumerate() {
        for (ri, from) in m.rows.iter().enumerate() {
            for (ci, to) in m.columns.iter().enumerate() {
                let Some(expected) = expected(m.probe, m.cells[ri][ci]) else { continue };
                let action = match (m.probe, m.port) {
                    (ProbeKind::Icmp, _) => Action::Icmp { to: to.clone(), by_name: m.by == By::Name },
                    (ProbeKind::Udp, port) => {
                        Action::Udp { to: to.clone(), port: port.unwrap_or_default(), listen: m.listen }
                    }
                    (ProbeKind::Tcp, port) => {
                        Action::Tcp { to: to.clone(), port: port.unwrap_or_default(), listen: m.listen }
                    }
                };
                let by_name = m.by == By::Name;
                let containers_involved =
                    containers.contains(from.node.as_str()) || containers.contains(to.node.as_str());
                let target = if by_name || containers_involved { None } else { inventory.target(&from.node, to).ok() };
                let suffix = match (m.port, by_name) {
                    (Some(p), _) => format!(" port {p}"),
                    (None, true) => " by name".into(),
                    _ => String::new(),
                };
                checks.push(Check {
                    id: checks.len(),
                    name: format!("{} {} -> {}{suffix}", m.probe.as_str(), from, to),
                    kind: m.probe.into(),
                    cell: Some(CellRef { matrix: mi, row: ri, column: ci }),
                    from: from.node.clone(),
                    to: to.to_string(),
                    action,
                    target,
                    expected,
                    settings: m.settings,
                });
            }
        }
    }
}

fn assertion_checks(suite: &Suite, checks: &mut Vec<Check>) {
    for (index, c) in suite.captures.iter().enumerate() {
        let mut assertions = Vec::new();
        if c.min_packets.is_some() || c.max_packets.is_some() {
            let words = match (c.min_packets, c.max_packets) {
                (Some(a), Some(b)) if a == b => format!("exactly {a} packets"),
                (Some(a), Some(b)) => format!("{a} to {b} packets"),
                (Some(a), None) => format!("at least {a} packet{}", if a == 1 { "" } else { "s" }),
                (None, Some(b)) => format!("at most {b} packets"),
                (None, None) => unreachable!(),
            };
            assertions.push((CaptureAssertion::Count { min: c.min_packets, max: c.max_packets }, words));
        }
        if let Some(h) = &c.src {
            assertions.push((CaptureAssertion::Source { host: h.clone() }, format!("packets from {h}")));
        }
        if let Some(h) = &c.dst {
            assertions.push((CaptureAssertion::Destination { host: h.clone() }, format!("packets to {h}")));
        }
        if assertions.is_empty() {
            // A capture without assertions still records a pcap; it must see something to be useful.
            assertions.push((CaptureAssertion::Count { min: Some(1), max: None }, "at least 1 packet".into()));
        }
        let filter = if c.filter.is_empty() { String::new() } else { format!(" [{}]", c.filter) };
        for (assertion, words) in assertions {
            checks.push(Check {
                id: checks.len(),
                name: format!("capture {} on {}:{}{filter}: {words}", c.name, c.node, c.interface),
                kind: CheckKind::Capture,
                cell: None,
                from: c.node.clone(),
                to: c.interface.clone(),
                action: Action::Capture { capture: index, assertion },
                target: None,
                expected: Expected::assertion(words),
                settings: suite.settings,
            });
        }
    }
    for n in &suite.nats {
        checks.push(Check {
            id: checks.len(),
            name: format!("rule {}: nat POSTROUTING masquerades {}", n.node, n.masquerade),
            kind: CheckKind::Rule,
            cell: None,
            from: n.node.clone(),
            to: "nat/POSTROUTING".into(),
            action: Action::Masquerade { subnet: n.masquerade },
            target: None,
            expected: Expected::assertion(format!("MASQUERADE for {}", n.masquerade)),
            settings: ProbeSettings { ..suite.settings },
        });
    }
}

fn interface_checks(suite: &Suite, checks: &mut Vec<Check>) {
    for i in &suite.interfaces {
        let words = format!("promisc {}", if i.promisc { "on" } else { "off" });
        checks.push(Check {
            id: checks.len(),
            name: format!("interface {}:{}: {words}", i.node, i.name),
            kind: CheckKind::Interface,
            cell: None,
            from: i.node.clone(),
            to: i.name.clone(),
            action: Action::InterfaceFlags { interface: i.name.clone(), promisc: i.promisc },
            target: None,
            expected: Expected::assertion(words),
            settings: suite.settings,
        });
    }
}

/// Resolves a suite into a plan.
pub fn resolve(suite: &Suite) -> Plan {
    let mut steps = Vec::new();
    let mut requires = BTreeSet::new();
    topology_steps(suite, &mut steps, &mut requires);
    docker_steps(suite, &mut steps, &mut requires);
    let mut checks = Vec::new();
    matrix_checks(suite, &Inventory::from_suite(suite), &mut checks);
    assertion_checks(suite, &mut checks);
    interface_checks(suite, &mut checks);
    Plan { steps, checks, requires }
}

/// The endpoint a probe action targets, if it is a probe.
pub fn probe_destination(action: &Action) -> Option<&Endpoint> {
    match action {
        Action::Icmp { to, .. } | Action::Udp { to, .. } | Action::Tcp { to, .. } => Some(to),
        _ => None,
    }
}
