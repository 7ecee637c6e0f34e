//! Why a probe did not get through, in the lab's words — reasoned from what reachlab **read back from the lab
//! as built** (the kernel's links, routes and forwarding switches, the engine's networks and endpoints, the
//! switch's port flags), never from what the suite declares: a student whose lab differs from the suite is
//! told about the lab they built. Pure: [`LabFacts`] and [`PathFacts`] are read by the lab (`lab/facts.rs`); the
//! reasons themselves ([`Why`]) are data of the observation, in [`crate::reason`].

use crate::check::Outcome;
use crate::engine::docker::NetworkFact;
use crate::kernel::netlink::{LinkState, RouteTo};
use crate::reason::Why;
use serde::Serialize;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;

/// The lab as built, as far as explanations need it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LabFacts {
    /// Each node's interfaces, read from the kernel.
    pub links: BTreeMap<String, Vec<LinkState>>,
    /// Each node's addresses (interface, address) — the inventory read back.
    pub addresses: BTreeMap<String, Vec<(String, crate::suite::Cidr)>>,
    /// Whether each node's kernel forwards IPv4 (`net.ipv4.ip_forward`).
    pub forwarding: BTreeMap<String, bool>,
    /// The engine's networks.
    pub networks: Vec<NetworkFact>,
    /// Which engine networks each running container is on (`host` for a host-network container).
    pub attached: BTreeMap<String, Vec<String>>,
    /// server1's port on the hypervisor's switch: (MAC learning, unknown-unicast flooding), when there is one.
    pub switch_port: Option<(bool, bool)>,
    /// server1's NIC on the LAN (the macvlan parent of the lab), when there is a LAN.
    pub nic: Option<String>,
}

/// What the kernels on a probe's path say: the source's route to the target, and the destination's route back
/// to the address the source sends from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct PathFacts {
    /// `ip route get TARGET` in the source.
    pub out: Option<RouteTo>,
    /// `ip route get SOURCE-ADDRESS` in the destination.
    pub back: Option<RouteTo>,
    /// The address the source sends from (the route's preferred source).
    pub src: Option<Ipv4Addr>,
}

fn is_negative(o: &Outcome) -> bool {
    matches!(o, Outcome::Unreachable | Outcome::Dropped | Outcome::Refused)
}

impl LabFacts {
    fn macvlan_of(&self, node: &str) -> Option<&NetworkFact> {
        let nets = self.attached.get(node)?;
        self.networks.iter().find(|n| n.driver == "macvlan" && nets.contains(&n.name))
    }

    /// server1 itself, or a container sharing its network stack.
    fn is_server1(&self, node: &str) -> bool {
        node == crate::suite::Lab::SERVER1 || self.attached.get(node).is_some_and(|n| n.iter().any(|n| n == "host"))
    }

    fn bridge_networks(&self, node: &str) -> Option<Vec<String>> {
        let nets = self.attached.get(node)?;
        let bridges: Vec<String> = nets
            .iter()
            .filter(|n| self.networks.iter().any(|f| &f.name == *n && f.driver == "bridge"))
            .cloned()
            .collect();
        (!bridges.is_empty() && bridges.len() == nets.len()).then_some(bridges)
    }

    fn holder(&self, ip: Ipv4Addr) -> Option<(&str, &str)> {
        self.addresses.iter().find_map(|(node, addrs)| {
            addrs.iter().find(|(_, c)| c.addr == ip).map(|(iface, _)| (node.as_str(), iface.as_str()))
        })
    }

    fn link_state(&self, node: &str, iface: &str) -> Option<&'static str> {
        let l = self.links.get(node)?.iter().find(|l| l.name == iface)?;
        if !l.admin_up {
            Some("down")
        } else if l.carrier == Some(false) {
            Some("without carrier (its peer or lower device is down)")
        } else {
            None
        }
    }
}

/// Why `from` → `to` (at `target`) did not get through, from the lab as built; empty when nothing read back
/// explains it (or it did get through).
pub fn why(
    facts: &LabFacts,
    path: &PathFacts,
    from: &str,
    to: &str,
    target: Option<Ipv4Addr>,
    outcome: &Outcome,
) -> Vec<Why> {
    if !is_negative(outcome) {
        return Vec::new();
    }
    let mut out = Vec::new();
    // macvlan children and their parent's host; and the switch's promiscuous policy for the LAN.
    for (child, other) in [(from, to), (to, from)] {
        let Some(net) = facts.macvlan_of(child) else { continue };
        let parent = net.parent.clone().unwrap_or_else(|| "NIC".into());
        if facts.is_server1(other) {
            out.push(Why::MacvlanParentHost { child: child.into(), network: net.name.clone(), parent });
            return out;
        }
        let on_lan = !facts.attached.contains_key(other) && other != crate::suite::Lab::SERVER1;
        if on_lan && facts.nic.as_deref() == Some(parent.as_str()) && facts.switch_port == Some((false, false)) {
            out.push(Why::SwitchDeniesPromiscuous { child: child.into() });
            return out;
        }
    }
    // Containers on different bridge networks.
    if let (Some(a), Some(b)) = (facts.bridge_networks(from), facts.bridge_networks(to)) {
        if !a.iter().any(|n| b.contains(n)) {
            out.push(Why::NoSharedNetwork { from: (from.into(), a), to: (to.into(), b) });
            return out;
        }
    }
    // An outside machine without a route to the containers behind server1.
    if let (Some(RouteTo::Unreachable { .. }), Some(ip)) = (path.out, target) {
        let behind = facts.networks.iter().find(|n| n.driver == "bridge" && n.subnet.is_some_and(|s| s.contains(ip)));
        if let Some(net) = behind.filter(|_| !facts.attached.contains_key(from) && !facts.is_server1(from)) {
            out.push(Why::BehindServer1 {
                from: from.into(),
                to: to.into(),
                network: format!("{} network", net.name),
                subnet: net.subnet.map(|s| s.to_string()).unwrap_or_default(),
            });
            return out;
        }
    }
    // macvlan siblings in private mode (links of the suite's own namespaces).
    let private = |n: &str| {
        facts
            .links
            .get(n)
            .and_then(|ls| ls.iter().find(|l| l.macvlan_mode.as_deref() == Some("private")).map(|l| l.link))
    };
    if let (Some(a), Some(b)) = (private(from), private(to)) {
        if a == b {
            out.push(Why::MacvlanPrivate { nodes: (from.into(), to.into()) });
            return out;
        }
    }
    // Links down: the source's way out (or the interface whose subnet would hold the target, when a link
    // that is down took its route with it), and the destination's interface holding the target.
    if let (Some(RouteTo::Unreachable { .. }), Some(ip)) = (path.out, target) {
        for (iface, cidr) in facts.addresses.get(from).into_iter().flatten() {
            if let (true, Some(state)) = (cidr.contains(ip), facts.link_state(from, iface)) {
                out.push(Why::LinkDown { node: from.into(), iface: iface.clone(), state: state.into() });
            }
        }
    }
    if let Some(RouteTo::Unicast { oif, .. }) = path.out {
        if let Some(l) = facts.links.get(from).and_then(|ls| ls.iter().find(|l| l.index == oif)) {
            if let Some(state) = facts.link_state(from, &l.name) {
                out.push(Why::LinkDown { node: from.into(), iface: l.name.clone(), state: state.into() });
            }
        }
    }
    if let Some((node, iface)) = target.and_then(|ip| facts.holder(ip)) {
        if let Some(state) = facts.link_state(node, iface) {
            out.push(Why::LinkDown { node: node.into(), iface: iface.into(), state: state.into() });
        }
    }
    if !out.is_empty() {
        return out;
    }
    // A next hop that does not forward.
    if let Some(RouteTo::Unicast { gateway: Some(gw), .. }) = path.out {
        if let Some((router, _)) = facts.holder(gw) {
            if router != to && facts.forwarding.get(router) == Some(&false) {
                out.push(Why::NotForwarding { router: router.into(), gateway: gw });
                return out;
            }
        }
    }
    // No way back.
    if let (Some(RouteTo::Unreachable { .. }), Some(src)) = (path.back, path.src) {
        out.push(Why::NoRouteBack { to: to.into(), from: from.into(), address: src });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::netlink::PortState;

    fn net(name: &str, driver: &str, subnet: &str, parent: Option<&str>) -> NetworkFact {
        NetworkFact {
            name: name.into(),
            driver: driver.into(),
            subnet: Some(subnet.parse().unwrap()),
            parent: parent.map(str::to_string),
        }
    }

    fn test1() -> LabFacts {
        LabFacts {
            networks: vec![
                net("bridge", "bridge", "172.17.0.0/16", None),
                net("alpine-net", "bridge", "172.18.0.0/16", None),
                net("macv", "macvlan", "192.168.56.0/24", Some("enp0s3")),
            ],
            attached: BTreeMap::from([
                ("alpine1".into(), vec!["bridge".into()]),
                ("alpine3".into(), vec!["alpine-net".into()]),
                ("m1".into(), vec!["macv".into()]),
            ]),
            switch_port: Some((false, false)),
            nic: Some("enp0s3".into()),
            ..LabFacts::default()
        }
    }

    const NO: Outcome = Outcome::Unreachable;

    #[test]
    fn the_built_engine_explains_isolation_and_macvlan() {
        let f = test1();
        let p = PathFacts::default();
        let w = why(&f, &p, "alpine1", "alpine3", None, &NO);
        assert_eq!(
            w.iter().map(ToString::to_string).collect::<Vec<_>>(),
            ["alpine1 (bridge) and alpine3 (alpine-net) share no Docker network: Docker isolates bridge networks from each other"]
        );
        assert!(matches!(why(&f, &p, "m1", "server1", None, &NO)[..], [Why::MacvlanParentHost { .. }]));
        assert!(matches!(why(&f, &p, "server2", "m1", None, &NO)[..], [Why::SwitchDeniesPromiscuous { .. }]));
        // The same cells with "allow all" on the switch: no switch reason.
        let allow = LabFacts { switch_port: Some((true, true)), ..test1() };
        assert!(why(&allow, &p, "server2", "m1", None, &NO).is_empty());
        assert!(why(&f, &p, "alpine1", "alpine3", None, &Outcome::Reachable).is_empty());
    }

    #[test]
    fn a_student_lab_is_explained_as_built_not_as_the_suite_says() {
        // The suite wants alpine3 on alpine-net; this student put it on the default bridge too: no isolation.
        let mut f = test1();
        f.attached.insert("alpine3".into(), vec!["bridge".into()]);
        assert!(why(&f, &PathFacts::default(), "alpine1", "alpine3", None, &NO).is_empty());
    }

    #[test]
    fn routes_forwarding_and_links_from_the_kernel() {
        let cidr = |s: &str| s.parse().unwrap();
        let mut f = LabFacts::default();
        f.addresses.insert("r".into(), vec![("eth0".into(), cidr("10.1.0.254/24"))]);
        f.addresses.insert("h4".into(), vec![("eth0".into(), cidr("10.2.0.4/24"))]);
        f.forwarding.insert("r".into(), false);
        let gw = Ipv4Addr::new(10, 1, 0, 254);
        let out = Some(RouteTo::Unicast { oif: 2, gateway: Some(gw), src: None });
        let p = PathFacts { out, back: None, src: Some(Ipv4Addr::new(10, 1, 0, 1)) };
        let target = Some(Ipv4Addr::new(10, 2, 0, 4));
        assert_eq!(why(&f, &p, "h1", "h4", target, &NO), [Why::NotForwarding { router: "r".into(), gateway: gw }]);
        f.forwarding.insert("r".into(), true);
        let back = PathFacts { back: Some(RouteTo::Unreachable { errno: libc::ENETUNREACH }), ..p };
        assert_eq!(
            why(&f, &back, "h1", "h4", target, &NO)[0].to_string(),
            "h4 has no route back to h1's address 10.1.0.1, so its reply cannot leave"
        );
        f.links.insert(
            "h4".into(),
            vec![LinkState {
                name: "eth0".into(),
                index: 2,
                kind: Some("veth".into()),
                admin_up: false,
                promisc: false,
                carrier: Some(false),
                oper: "down".into(),
                master: None,
                link: None,
                link_elsewhere: true,
                port: None::<(PortState, bool, bool)>,
                macvlan_mode: None,
            }],
        );
        assert_eq!(why(&f, &p, "h1", "h4", target, &NO)[0].to_string(), "h4's interface eth0 is down");
    }
}

/// Tests each reason the lab as built gives for a failed probe from `from` to `to` against the path its packets
/// were observed to take (paths): a reason is a hypothesis, the path confirms it, contradicts it, or
/// says nothing either way. Pure.
pub fn test_reasons(
    why: &[crate::reason::Why],
    path: &crate::check::PathReport,
    from: &str,
    to: &str,
) -> Vec<crate::check::TestedReason> {
    use crate::check::{ReasonStatus::*, TestedReason};
    use crate::kernel::nftrace::Leg;
    use crate::reason::Why;
    let request_at = |node: &str| path.hops.iter().any(|h| h.leg == Leg::Request && h.seen && h.node == node);
    let reply_at = |node: &str| path.hops.iter().any(|h| h.leg == Leg::Reply && h.seen && h.node == node);
    let beyond_source = path.hops.iter().any(|h| h.leg == Leg::Request && h.seen && h.node != from);
    let arrived = request_at(to);
    let dropped = path.dropped_by.as_ref();
    let dropped_words = |d: &crate::check::DroppedBy| format!("dropped at {} by {}", d.node, d.rule);
    let reached = || format!("the request was seen arriving at {to}");
    // The source's neighbour resolution, when the request itself never left: asked, and answered where.
    let arp_reply_at = |node: &str| path.arp.iter().any(|h| h.leg == Leg::Reply && h.seen && h.node == node);
    let arp_unanswered = path.arp.iter().any(|h| h.leg == Leg::Request && h.seen) && !arp_reply_at(from);
    let arp_words = |w: &str| match path.arp_for {
        Some(next) if arp_unanswered => format!("{w}: its ARP request for {next} was never answered"),
        _ => w.to_string(),
    };
    why.iter()
        .map(|w| {
            let (status, evidence) = match w {
                Why::NoSharedNetwork { .. } => match dropped {
                    Some(d) if d.rule.contains("DOCKER-ISOLATION") => (Confirmed, dropped_words(d)),
                    _ if arrived => (Contradicted, reached()),
                    _ => (Open, "no isolation rule was seen dropping it".to_string()),
                },
                Why::SwitchDeniesPromiscuous { child } => {
                    // The frames the reason is about are those for the child's own MAC: the request when the child
                    // is the destination, the answer to it (echo or ARP reply) when the child sent the probe. On
                    // the way out, the child's request passes server1's NIC before the switch, which says nothing.
                    use crate::suite::Lab;
                    let seen = |hops: &[crate::check::PathHop], leg: Leg, node: &str| {
                        hops.iter().any(|h| h.leg == leg && h.seen && h.node == node)
                    };
                    let towards_child = |hops: &[crate::check::PathHop], leg: Leg, words: &str| {
                        let beyond = seen(hops, leg, Lab::SERVER1) || seen(hops, leg, child);
                        match (seen(hops, leg, Lab::SWITCH), beyond) {
                            (true, false) => {
                                Some((Confirmed, format!("{words} was seen at the switch and never on server1's side")))
                            }
                            (_, true) => {
                                Some((Contradicted, format!("{words} was seen past the switch, on server1's side")))
                            }
                            (false, false) => None,
                        }
                    };
                    if to == child.as_str() {
                        towards_child(&path.hops, Leg::Request, "the request")
                            .unwrap_or((Open, "the request was not seen at the switch".to_string()))
                    } else {
                        let arp = format!(
                            "the ARP reply for {}",
                            path.arp_for.map_or_else(|| "the next hop".to_string(), |a| a.to_string())
                        );
                        towards_child(&path.hops, Leg::Reply, "the reply")
                            .or_else(|| towards_child(&path.arp, Leg::Reply, &arp))
                            .unwrap_or((Open, "no answer was seen at the switch".to_string()))
                    }
                }
                Why::MacvlanParentHost { .. } | Why::MacvlanPrivate { .. } | Why::BehindServer1 { .. } => {
                    if arrived {
                        (Contradicted, reached())
                    } else if !beyond_source {
                        (Confirmed, arp_words(&format!("nothing of the probe was seen past {from}")))
                    } else {
                        (Open, format!("the request was seen past {from} but not at {to}"))
                    }
                }
                Why::LinkDown { node, iface, .. } => {
                    let there = path.hops.iter().any(|h| h.seen && h.node == *node && h.interface == *iface);
                    if there {
                        (Contradicted, format!("the probe was seen on {node} {iface}"))
                    } else if arrived {
                        (Contradicted, reached())
                    } else {
                        (Confirmed, format!("nothing of the probe was seen on {node} {iface}"))
                    }
                }
                Why::NotForwarding { router, .. } => match (request_at(router), arrived) {
                    (_, true) => (Contradicted, reached()),
                    (true, false) => (Confirmed, format!("the request reached {router} and went no further")),
                    (false, false) => (Open, format!("the request was not seen at {router}")),
                },
                Why::NoRouteBack { .. } => match (arrived, reply_at(from)) {
                    (true, false) => (Confirmed, format!("{} and no reply came back to {from}", reached())),
                    (_, true) => (Contradicted, format!("a reply was seen back at {from}")),
                    (false, false) => (Open, format!("the request was not seen at {to}")),
                },
            };
            TestedReason { reason: w.to_string(), status, evidence }
        })
        .collect()
}

#[cfg(test)]
mod tested_reasons {
    use super::test_reasons;
    use crate::check::{DroppedBy, PathHop, PathReport, ReasonStatus};
    use crate::kernel::nftrace::Leg;
    use crate::reason::Why;

    fn hop(node: &str, interface: &str, leg: Leg, seen: bool) -> PathHop {
        PathHop { node: node.into(), interface: interface.into(), leg, seen, src: None, dst: None }
    }

    fn path(hops: Vec<PathHop>, dropped_by: Option<(&str, &str)>) -> PathReport {
        PathReport {
            last_seen: hops.iter().rev().find(|h| h.seen).cloned(),
            arp: vec![],
            arp_for: None,
            hops,
            dropped_by: dropped_by.map(|(node, rule)| DroppedBy { node: node.into(), rule: rule.into() }),
            untraced: vec![],
            lost: 0,
            pcaps: vec![],
            line: String::new(),
            reasons: vec![],
        }
    }

    fn isolation() -> Why {
        Why::NoSharedNetwork {
            from: ("alpine1".into(), vec!["bridge".into()]),
            to: ("alpine3".into(), vec!["mybridge".into()]),
        }
    }

    #[test]
    fn an_isolation_drop_confirms_no_shared_network_and_an_arrival_contradicts_it() {
        let dropped = path(
            vec![hop("alpine1", "eth0", Leg::Request, true), hop("server1", "docker0", Leg::Request, true)],
            Some(("server1", "FORWARD DOCKER-ISOLATION-STAGE-2 DROP")),
        );
        let t = test_reasons(&[isolation()], &dropped, "alpine1", "alpine3");
        assert_eq!(t[0].status, ReasonStatus::Confirmed, "{t:?}");
        assert!(t[0].evidence.contains("DOCKER-ISOLATION-STAGE-2"));
        let arrived =
            path(vec![hop("alpine1", "eth0", Leg::Request, true), hop("alpine3", "eth0", Leg::Request, true)], None);
        assert_eq!(test_reasons(&[isolation()], &arrived, "alpine1", "alpine3")[0].status, ReasonStatus::Contradicted);
        let silent = path(vec![hop("alpine1", "eth0", Leg::Request, true)], None);
        assert_eq!(test_reasons(&[isolation()], &silent, "alpine1", "alpine3")[0].status, ReasonStatus::Open);
    }

    #[test]
    fn seen_at_the_switch_and_not_on_server1_confirms_the_switch_policy() {
        let why = [Why::SwitchDeniesPromiscuous { child: "alpine1".into() }];
        let at_switch = path(
            vec![
                hop("server2", "enp0s3", Leg::Request, true),
                hop("hostonly", "port-server2", Leg::Request, true),
                hop("server1", "enp0s3", Leg::Request, false),
            ],
            None,
        );
        assert_eq!(test_reasons(&why, &at_switch, "server2", "alpine1")[0].status, ReasonStatus::Confirmed);
        let through = path(
            vec![hop("hostonly", "port-server2", Leg::Request, true), hop("server1", "enp0s3", Leg::Request, true)],
            None,
        );
        assert_eq!(test_reasons(&why, &through, "server2", "alpine1")[0].status, ReasonStatus::Contradicted);
        // The child sent the probe (seen on a real Test3 lab, when alpine1 already knew server2's MAC): its
        // request passes server1's NIC on the way out, which says nothing; server2's reply, for the child's MAC,
        // reaches the switch and never server1's side.
        let out_and_back = path(
            vec![
                hop("alpine1", "eth0", Leg::Request, true),
                hop("server1", "enp0s3", Leg::Request, true),
                hop("hostonly", "port-server1", Leg::Request, true),
                hop("hostonly", "port-server2", Leg::Request, true),
                hop("server2", "enp0s3", Leg::Request, true),
                hop("server2", "enp0s3", Leg::Reply, true),
                hop("hostonly", "port-server2", Leg::Reply, true),
                hop("hostonly", "port-server1", Leg::Reply, false),
                hop("server1", "enp0s3", Leg::Reply, false),
                hop("alpine1", "eth0", Leg::Reply, false),
            ],
            None,
        );
        let tested = &test_reasons(&why, &out_and_back, "alpine1", "server2")[0];
        assert_eq!(tested.status, ReasonStatus::Confirmed, "{tested:?}");
        assert_eq!(tested.evidence, "the reply was seen at the switch and never on server1's side");
        let mut answered = out_and_back.clone();
        answered.hops.iter_mut().for_each(|h| h.seen = true);
        assert_eq!(test_reasons(&why, &answered, "alpine1", "server2")[0].status, ReasonStatus::Contradicted);
    }

    #[test]
    fn a_reply_that_never_came_back_confirms_no_route_back() {
        let why = [Why::NoRouteBack { to: "b".into(), from: "a".into(), address: "10.0.0.1".parse().unwrap() }];
        let one_way = path(vec![hop("a", "va", Leg::Request, true), hop("b", "vb", Leg::Request, true)], None);
        assert_eq!(test_reasons(&why, &one_way, "a", "b")[0].status, ReasonStatus::Confirmed);
        let back = path(
            vec![
                hop("a", "va", Leg::Request, true),
                hop("b", "vb", Leg::Request, true),
                hop("a", "va", Leg::Reply, true),
            ],
            None,
        );
        assert_eq!(test_reasons(&why, &back, "a", "b")[0].status, ReasonStatus::Contradicted);
    }
}
