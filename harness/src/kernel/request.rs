//! What the netlink wrapper is asked to make, in the kernel's own terms. The wrapper never sees the suite
//! format: the lab translates a suite's links and routes into these once (see `lab::requests`).

use crate::cidr::Cidr;
pub use netlink_packet_route::link::{IpVlanMode, MacVlanMode};
use std::net::Ipv4Addr;

/// `ip link add NAME [link PARENT] type KIND …` for the kinds that are not veth or bridge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkRequest {
    /// Interface name.
    pub name: String,
    /// Kind and its parameters.
    pub kind: LinkKind,
    /// The lower device, in the namespace the request is sent to.
    pub parent: Option<String>,
}

/// A link kind with its parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkKind {
    /// macvlan on a parent.
    Macvlan {
        /// Mode (bridge, private, vepa, passthru).
        mode: MacVlanMode,
    },
    /// ipvlan on a parent.
    Ipvlan {
        /// Mode (l2, l3, l3s).
        mode: IpVlanMode,
    },
    /// 802.1Q VLAN on a parent.
    Vlan {
        /// VLAN id.
        id: u16,
    },
    /// VXLAN, optionally bound to a parent.
    Vxlan {
        /// VNI.
        vni: u32,
        /// UDP destination port.
        port: u16,
        /// Remote endpoint.
        remote: Option<Ipv4Addr>,
        /// Local endpoint.
        local: Option<Ipv4Addr>,
    },
    /// dummy.
    Dummy,
}

impl LinkKind {
    /// The kernel's name for the kind.
    pub fn as_str(self) -> &'static str {
        match self {
            LinkKind::Macvlan { .. } => "macvlan",
            LinkKind::Ipvlan { .. } => "ipvlan",
            LinkKind::Vlan { .. } => "vlan",
            LinkKind::Vxlan { .. } => "vxlan",
            LinkKind::Dummy => "dummy",
        }
    }
}

/// `ip route add TO [via VIA] [dev DEV]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteRequest {
    /// Destination prefix.
    pub to: Cidr,
    /// Gateway.
    pub via: Option<Ipv4Addr>,
    /// Output interface.
    pub dev: Option<String>,
}
