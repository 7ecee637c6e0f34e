//! Why a probe did not get through, in the lab's words — from the topology alone (pure). The runner appends
//! the explanation to unreachable observations, so a student reading a failure learns what blocked it.

use crate::check::{Action, Check, Outcome};
use crate::suite::{Attachment, Lab, LinkKind, Promiscuous, Suite};

fn networks_of<'a>(suite: &'a Suite, node: &str) -> Option<&'a [String]> {
    match &suite.container(node)?.attachment {
        Attachment::Networks(n) => Some(n),
        _ => None,
    }
}

fn on_macvlan<'a>(suite: &'a Suite, node: &str) -> Option<&'a str> {
    let nets = networks_of(suite, node)?;
    suite.networks.iter().find(|n| n.driver == "macvlan" && nets.contains(&n.name)).map(|n| n.name.as_str())
}

/// An explanation for `check` not getting through, when the topology has one.
pub fn why(suite: &Suite, check: &Check, outcome: &Outcome) -> Option<String> {
    if !matches!(outcome, Outcome::Unreachable | Outcome::Dropped | Outcome::Refused) {
        return None;
    }
    let to = match &check.action {
        Action::Icmp { to, .. } | Action::Udp { to, .. } | Action::Tcp { to, .. } => to.node.as_str(),
        _ => return None,
    };
    let from = check.from.as_str();
    let lab = suite.lab.as_ref();
    // macvlan children and their parent's host.
    for (child, other) in [(from, to), (to, from)] {
        if let Some(net) = on_macvlan(suite, child) {
            if other == Lab::SERVER1 {
                return Some(format!(
                    "macvlan children never reach their parent's host: {child}'s interface on {net} hangs off server1's NIC, and the kernel does not pass frames between a macvlan parent and its children"
                ));
            }
            if other == Lab::SERVER2 && lab.is_some_and(|l| l.promiscuous == Promiscuous::Deny) {
                return Some(format!(
                    "the hypervisor's switch denies promiscuous mode (VirtualBox's default): it delivers to server1's port only frames for server1's own MAC, so frames for {child}'s own MAC (its macvlan address) are dropped at the switch"
                ));
            }
        }
    }
    // Containers on different bridge networks.
    if let (Some(a), Some(b)) = (networks_of(suite, from), networks_of(suite, to)) {
        if !a.iter().any(|n| b.contains(n)) {
            return Some(format!(
                "{from} ({}) and {to} ({}) share no Docker network: Docker isolates bridge networks from each other",
                a.join(", "),
                b.join(", ")
            ));
        }
    }
    // The outside machine and the containers behind server1's bridges.
    if from == Lab::SERVER2 && networks_of(suite, to).is_some() && on_macvlan(suite, to).is_none() {
        return Some(format!(
            "server2 knows only the LAN: {to} sits behind server1 on a Docker bridge whose private subnet server2 has no route to (containers reach out through NAT; nothing reaches in)"
        ));
    }
    // macvlan private mode between siblings of the suite's own links.
    let link = |n: &str| suite.links.iter().find(|l| l.netns == n && l.kind == LinkKind::Macvlan);
    if let (Some(a), Some(b)) = (link(from), link(to)) {
        if a.parent == b.parent && (a.mode.as_deref() == Some("private") || b.mode.as_deref() == Some("private")) {
            return Some("macvlan private mode: siblings on one parent are kept apart, even from each other".into());
        }
    }
    // A link left down.
    let down = suite.veths.iter().flat_map(|v| [&v.a, &v.b]).find(|e| !e.up && (e.netns == from || e.netns == to));
    down.map(|e| format!("{}'s interface {} is down", e.netns, e.name))
}
