//! When a built lab is ready to be probed — decided from the kernel's own state (pure).
//!
//! Setting a link up is not the end of it: the kernel's link watcher turns the carrier into an operational
//! state, activates the device's queue and tells the bridge the port may forward — at once for "urgent"
//! events, but up to a second later for others (net/core/link_watch.c counts a carrier change as urgent only
//! when the device's index differs from its peer's or lower device's). Until then frames sent there are
//! dropped. So the lab is ready only when every link whose carrier is on is operationally up and every
//! bridge port that can forward does.

use crate::kernel::netlink::{LinkState, PortState};

/// What is not ready yet in one namespace's links, in words (empty: ready).
pub fn unready(namespace: &str, links: &[LinkState]) -> Vec<String> {
    let mut out = Vec::new();
    for l in links {
        let pending_down = matches!(l.oper.as_str(), "down" | "lowerlayerdown" | "notpresent");
        match l.carrier {
            Some(true) if l.admin_up && pending_down => {
                out.push(format!("{namespace}: {} has carrier but is still operationally {}", l.name, l.oper))
            }
            Some(false) if l.oper == "up" => {
                out.push(format!("{namespace}: {} lost its carrier but is still operationally up", l.name))
            }
            _ => {}
        }
        let Some((state, _, _)) = l.port else { continue };
        let bridge_up = l.master.and_then(|m| links.iter().find(|b| b.index == m)).is_some_and(|b| b.admin_up);
        let can_forward = l.admin_up && l.carrier == Some(true) && bridge_up;
        if can_forward && matches!(state, PortState::Disabled | PortState::Listening | PortState::Learning) {
            let state = format!("{state:?}").to_lowercase();
            out.push(format!("{namespace}: bridge port {} is {state}, not forwarding yet", l.name));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(name: &str, index: u32, carrier: bool, oper: &str) -> LinkState {
        LinkState {
            name: name.into(),
            index,
            kind: Some("veth".into()),
            admin_up: true,
            promisc: false,
            carrier: Some(carrier),
            oper: oper.into(),
            master: None,
            link: None,
            link_elsewhere: true,
            port: None,
            macvlan_mode: None,
        }
    }

    #[test]
    fn carrier_without_operstate_is_not_ready() {
        assert_eq!(
            unready("h1", &[link("eth0", 2, true, "down")]),
            ["h1: eth0 has carrier but is still operationally down"]
        );
        assert!(unready("h1", &[link("eth0", 2, true, "up")]).is_empty());
        // A veth whose peer is down has no carrier: that is its final state, not a pending one.
        assert!(unready("h1", &[link("eth0", 2, false, "lowerlayerdown")]).is_empty());
        let mut down = link("eth0", 2, false, "down");
        down.admin_up = false;
        assert!(unready("h1", &[down]).is_empty());
    }

    #[test]
    fn bridge_ports_must_forward() {
        let mut br = link("br0", 2, true, "up");
        br.kind = Some("bridge".into());
        let mut port = link("p-h1", 3, true, "up");
        port.master = Some(2);
        port.port = Some((PortState::Disabled, true, true));
        assert_eq!(
            unready("lan", &[br.clone(), port.clone()]),
            ["lan: bridge port p-h1 is disabled, not forwarding yet"]
        );
        port.port = Some((PortState::Forwarding, true, true));
        assert!(unready("lan", &[br.clone(), port.clone()]).is_empty());
        // STP's blocking is a decision, not a delay.
        port.port = Some((PortState::Blocking, true, true));
        assert!(unready("lan", &[br.clone(), port.clone()]).is_empty());
        // A port without carrier stays disabled for good.
        port.carrier = Some(false);
        port.oper = "lowerlayerdown".into();
        port.port = Some((PortState::Disabled, true, true));
        assert!(unready("lan", &[br, port]).is_empty());
    }
}
