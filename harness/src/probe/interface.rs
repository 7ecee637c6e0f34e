//! Interface checks: an interface's flags as the node's kernel reports them over netlink (what `ip link show`
//! prints between `<…>`), e.g. `PROMISC` after `ip link set enp0s3 promisc on`. The flag is the one a user sets
//! (`IFF_PROMISC`), not the kernel's internal promiscuity count that macvlan children or captures raise.

use super::nodes::Nodes;
use crate::check::{Observation, Outcome};

/// Whether `node`'s `interface` has promiscuous mode as `promisc` says.
pub async fn flags(lab: &impl Nodes, node: &str, interface: &str, promisc: bool) -> Observation {
    let Some(nl) = lab.netlink(node) else {
        return Observation::error(format!("no namespace for {node}"));
    };
    let links = match nl.links().await {
        Ok(l) => l,
        Err(e) => return Observation::error(format!("failed to read the interfaces of {node}: {e}")),
    };
    let Some(link) = links.iter().find(|l| l.name == interface) else {
        let seen = format!("{node} has no interface {interface}");
        return Observation::seen(Outcome::Assertion { holds: false, seen: seen.clone() }, seen);
    };
    let state = if link.promisc { "on" } else { "off" };
    let seen = format!("promisc {state}");
    let detail = format!("{node}'s kernel reports {interface} with promiscuous mode {state} (IFF_PROMISC)");
    Observation::seen(Outcome::Assertion { holds: link.promisc == promisc, seen }, detail)
}
