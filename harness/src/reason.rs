//! Why a probe did not get through, as data: each reason an enum variant with the facts it rests on (which
//! container, which network, which interface, which router). Observations carry them (`check.rs`); `explain.rs`
//! derives them from what the lab read back; renderers make the words ([`fmt::Display`], and [`joined`] for the
//! `DETAIL — why: REASON; REASON` every report shows).

use serde::Serialize;
use std::fmt;
use std::net::Ipv4Addr;

/// One reason a probe did not get through, with what it rests on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", rename_all = "kebab-case")]
pub enum Why {
    /// A macvlan child and its parent's host.
    MacvlanParentHost {
        /// The container on the macvlan network.
        child: String,
        /// That network.
        network: String,
        /// Its parent interface on server1.
        parent: String,
    },
    /// The hypervisor's switch delivers to server1's port only frames for server1's own MAC.
    SwitchDeniesPromiscuous {
        /// The macvlan child whose own MAC the switch does not deliver.
        child: String,
    },
    /// Two containers on no common network.
    NoSharedNetwork {
        /// Source container and its networks.
        from: (String, Vec<String>),
        /// Destination container and its networks.
        to: (String, Vec<String>),
    },
    /// The source has no route to a Docker network behind server1.
    BehindServer1 {
        /// The source.
        from: String,
        /// The destination container.
        to: String,
        /// Its network and subnet.
        network: String,
        /// The subnet.
        subnet: String,
    },
    /// An interface on the way is down, or has no carrier.
    LinkDown {
        /// The node.
        node: String,
        /// The interface.
        iface: String,
        /// `down` (set down) or `no carrier` (its peer or lower device is down).
        state: String,
    },
    /// The next hop does not forward.
    NotForwarding {
        /// The router's node.
        router: String,
        /// The gateway address the source sends to.
        gateway: Ipv4Addr,
    },
    /// The destination has no route back to the source.
    NoRouteBack {
        /// The destination.
        to: String,
        /// The source.
        from: String,
        /// The source's address the reply would go to.
        address: Ipv4Addr,
    },
    /// macvlan siblings in private mode.
    MacvlanPrivate {
        /// The nodes.
        nodes: (String, String),
    },
}

impl fmt::Display for Why {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Why::MacvlanParentHost { child, network, parent } => write!(
                f,
                "macvlan children never reach their parent's host: {child}'s interface on {network} hangs off server1's {parent}, and the kernel does not pass frames between a macvlan parent and its children"
            ),
            Why::SwitchDeniesPromiscuous { child } => write!(
                f,
                "the hypervisor's switch denies promiscuous mode (VirtualBox's default): server1's port learns no MACs and floods no unknown unicast, so it delivers only frames for server1's own MAC — frames for {child}'s own MAC (its macvlan address) are dropped at the switch"
            ),
            Why::NoSharedNetwork { from, to } => write!(
                f,
                "{} ({}) and {} ({}) share no Docker network: Docker isolates bridge networks from each other",
                from.0,
                from.1.join(", "),
                to.0,
                to.1.join(", ")
            ),
            Why::BehindServer1 { from, to, network, subnet } => write!(
                f,
                "{from} knows only the LAN: {to} sits behind server1 on Docker's {network} ({subnet}), which {from} has no route to (containers reach out through NAT; nothing reaches in)"
            ),
            Why::LinkDown { node, iface, state } => write!(f, "{node}'s interface {iface} is {state}"),
            Why::NotForwarding { router, gateway } => {
                write!(f, "{router} ({gateway}), the next hop, does not forward packets (net.ipv4.ip_forward = 0)")
            }
            Why::NoRouteBack { to, from, address } => {
                write!(f, "{to} has no route back to {from}'s address {address}, so its reply cannot leave")
            }
            Why::MacvlanPrivate { nodes } => write!(
                f,
                "macvlan private mode: {} and {} hang off one parent, and private mode keeps siblings apart",
                nodes.0, nodes.1
            ),
        }
    }
}

/// A detail followed by its explanations, as every report shows them: `DETAIL — why: REASON; REASON`.
pub fn joined(detail: &str, why: &[Why]) -> String {
    if why.is_empty() {
        return detail.to_string();
    }
    let reasons: Vec<String> = why.iter().map(ToString::to_string).collect();
    format!("{detail} — why: {}", reasons.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_follow_the_detail() {
        let w = [Why::LinkDown { node: "h4".into(), iface: "eth0".into(), state: "down".into() }];
        assert_eq!(joined("no echo reply", &w), "no echo reply — why: h4's interface eth0 is down");
        assert_eq!(joined("no echo reply", &[]), "no echo reply");
    }
}
