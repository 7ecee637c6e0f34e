//! Resolving: a [`Suite`] → a [`Plan`]: the ordered steps that build its topology and the checks to probe. Pure.

use crate::check::{Check, Reach};
use crate::suite::{Cell, Cidr, Endpoint, Route, Suite};
use serde::Serialize;
use std::collections::BTreeSet;
use std::net::Ipv4Addr;

/// A kernel capability a suite needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Feature {
    /// veth pairs.
    Veth,
    /// Linux bridges.
    Bridge,
}

impl Feature {
    /// Every feature reachlab knows how to detect.
    pub const ALL: [Feature; 2] = [Feature::Veth, Feature::Bridge];

    /// The kernel's link kind name.
    pub fn as_str(self) -> &'static str {
        match self {
            Feature::Veth => "veth",
            Feature::Bridge => "bridge",
        }
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
    /// `ip link set NAME master BRIDGE`.
    SetMaster { netns: String, name: String, master: String },
    /// `ip addr add ADDRESS dev NAME`.
    AddAddress { netns: String, dev: String, address: Cidr },
    /// `ip link set NAME up`.
    SetUp { netns: String, dev: String },
    /// `ip route add`.
    AddRoute { netns: String, route: Route },
}

/// What a run does for one suite.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    /// Steps in order.
    pub steps: Vec<Step>,
    /// Checks, one per checked matrix cell.
    pub checks: Vec<Check>,
    /// Kernel features the steps need.
    pub requires: BTreeSet<Feature>,
}

/// The address to probe for `to` from `from`: the pinned interface's, else one on a subnet the two share, else
/// the destination's first.
pub fn target_address(suite: &Suite, from: &str, to: &Endpoint) -> Option<Ipv4Addr> {
    let all = suite.addresses();
    let dest: Vec<(&str, Cidr)> =
        all.iter().filter(|(ns, _, _)| *ns == to.node).map(|(_, dev, c)| (*dev, *c)).collect();
    if let Some(via) = &to.via {
        return dest.iter().find(|(dev, _)| dev == via).map(|(_, c)| c.addr);
    }
    let mine: Vec<Cidr> = all.iter().filter(|(ns, _, _)| *ns == from).map(|(_, _, c)| *c).collect();
    let shared = dest.iter().find(|(_, c)| mine.iter().any(|m| m.contains(c.addr)));
    shared.or(dest.first()).map(|(_, c)| c.addr)
}

/// Resolves a suite into a plan.
pub fn resolve(suite: &Suite) -> Plan {
    let mut steps = Vec::new();
    let mut requires = BTreeSet::new();
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
    for (netns, dev) in bridges_up.chain(ends_up) {
        steps.push(Step::SetUp { netns: netns.clone(), dev: dev.clone() });
    }
    for ns in &suite.namespaces {
        for route in &ns.routes {
            steps.push(Step::AddRoute { netns: ns.name.clone(), route: route.clone() });
        }
    }

    let mut checks = Vec::new();
    for (mi, m) in suite.matrices.iter().enumerate() {
        for (ri, from) in m.rows.iter().enumerate() {
            for (ci, to) in m.columns.iter().enumerate() {
                let expected = match m.cells[ri][ci] {
                    Cell::Reach => Reach::Reachable,
                    Cell::NoReach => Reach::Unreachable,
                    Cell::Unchecked => continue,
                };
                let target =
                    target_address(suite, &from.node, to).expect("the loader checked destinations have addresses");
                checks.push(Check {
                    id: checks.len(),
                    name: format!("{} {} -> {}", m.probe.as_str(), from, to),
                    kind: m.probe,
                    matrix: mi,
                    row: ri,
                    column: ci,
                    from: from.node.clone(),
                    to: to.clone(),
                    target,
                    expected,
                    settings: m.settings,
                });
            }
        }
    }
    Plan { steps, checks, requires }
}
