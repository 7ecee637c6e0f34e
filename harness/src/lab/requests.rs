//! The one place where the suite's links and routes become the kernel wrapper's requests.

use crate::kernel::request::{IpVlanMode, LinkKind, LinkRequest, MacVlanMode, RouteRequest};
use crate::suite::{self, Link, Route};

/// The request for a suite link: sent to its parent's namespace (or its own when it has no parent).
pub fn link(link: &Link) -> LinkRequest {
    let kind = match link.kind {
        suite::LinkKind::Macvlan => LinkKind::Macvlan {
            mode: match link.mode.as_deref() {
                Some("private") => MacVlanMode::Private,
                Some("vepa") => MacVlanMode::Vepa,
                Some("passthru") => MacVlanMode::Passthrough,
                _ => MacVlanMode::Bridge,
            },
        },
        suite::LinkKind::Ipvlan => LinkKind::Ipvlan {
            mode: match link.mode.as_deref() {
                Some("l3") => IpVlanMode::L3,
                Some("l3s") => IpVlanMode::L3S,
                _ => IpVlanMode::L2,
            },
        },
        suite::LinkKind::Vlan => LinkKind::Vlan { id: link.id.unwrap_or(1) as u16 },
        suite::LinkKind::Vxlan => LinkKind::Vxlan {
            vni: link.id.unwrap_or(1),
            port: link.dstport.unwrap_or(4789),
            remote: link.remote,
            local: link.local,
        },
        suite::LinkKind::Dummy => LinkKind::Dummy,
    };
    LinkRequest { name: link.name.clone(), kind, parent: link.parent.as_ref().map(|(_, dev)| dev.clone()) }
}

/// The request for a suite route.
pub fn route(route: &Route) -> RouteRequest {
    RouteRequest { to: route.to, via: route.via, dev: route.dev.clone() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn suite_link(kind: suite::LinkKind, mode: Option<&str>) -> Link {
        Link {
            kind,
            name: "m1".into(),
            netns: "ns".into(),
            parent: Some(("server1".into(), "enp0s3".into())),
            mode: mode.map(String::from),
            id: None,
            remote: None,
            local: None,
            dstport: None,
            address: None,
            up: true,
        }
    }

    #[test]
    fn modes_and_defaults_are_the_kernels() {
        let r = link(&suite_link(suite::LinkKind::Macvlan, Some("vepa")));
        assert_eq!(r.kind, LinkKind::Macvlan { mode: MacVlanMode::Vepa });
        assert_eq!(r.parent.as_deref(), Some("enp0s3"));
        assert_eq!(
            link(&suite_link(suite::LinkKind::Macvlan, None)).kind,
            LinkKind::Macvlan { mode: MacVlanMode::Bridge }
        );
        assert_eq!(
            link(&suite_link(suite::LinkKind::Ipvlan, Some("l3"))).kind,
            LinkKind::Ipvlan { mode: IpVlanMode::L3 }
        );
        let vx = link(&suite_link(suite::LinkKind::Vxlan, None)).kind;
        assert_eq!(vx, LinkKind::Vxlan { vni: 1, port: 4789, remote: None, local: None });
    }
}
