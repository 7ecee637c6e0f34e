//! The one typed wrapper around rtnetlink: small named operations on the links, addresses and routes of one
//! namespace. Each [`Netlink`] owns a socket created inside its namespace.

use super::netns::{self, Netns};
use super::request::{LinkKind, LinkRequest, RouteRequest};
use crate::cidr::Cidr;
use futures::TryStreamExt;
use netlink_packet_route::link::{InfoData, InfoVeth, IpVlanMode, LinkAttribute, MacVlanMode};
use netlink_packet_route::route::{RouteAttribute, RouteProtocol, RouteScope};
use rtnetlink::{
    LinkBridge, LinkBridgePort, LinkDummy, LinkIpVlan, LinkMacVlan, LinkMessageBuilder, LinkUnspec, LinkVeth, LinkVlan,
    LinkVxlan, RouteMessageBuilder,
};
use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::AsRawFd;

/// A netlink failure, with the operation that failed.
#[derive(Debug, thiserror::Error)]
#[error("failed to {op}: {source}")]
pub struct NetlinkError {
    /// What was attempted, e.g. "create veth veth-s1".
    pub op: String,
    /// The kernel's answer.
    #[source]
    pub source: io::Error,
}

impl NetlinkError {
    /// The errno, when the kernel gave one.
    pub fn errno(&self) -> Option<i32> {
        self.source.raw_os_error()
    }
}

fn io_of(e: rtnetlink::Error) -> io::Error {
    match e {
        rtnetlink::Error::NetlinkError(m) => m.to_io(),
        other => io::Error::other(other.to_string()),
    }
}

/// A bridge port's forwarding state (IFLA_BRPORT_STATE).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PortState {
    /// Not in use (the port or the bridge is down, or its carrier is off).
    Disabled,
    /// STP: listening (not forwarding yet).
    Listening,
    /// STP: learning (not forwarding yet).
    Learning,
    /// Forwarding.
    Forwarding,
    /// STP: blocked.
    Blocking,
}

/// One interface as the kernel reports it (`ip -d link show`): what the lab's state, readiness and
/// explanations are read from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LinkState {
    /// Interface name.
    pub name: String,
    /// Its index in its namespace.
    pub index: u32,
    /// Link kind (`veth`, `bridge`, `macvlan` …), when it has one (not for `lo`).
    pub kind: Option<String>,
    /// Administratively up (IFF_UP).
    pub admin_up: bool,
    /// Promiscuous (IFF_PROMISC as set with `ip link set … promisc on`).
    pub promisc: bool,
    /// Carrier (IFLA_CARRIER).
    pub carrier: Option<bool>,
    /// RFC 2863 operational state, lowercase as `ip` prints it (`up`, `down`, `lowerlayerdown`, `unknown` …).
    pub oper: String,
    /// The bridge it is a port of (index in the same namespace).
    pub master: Option<u32>,
    /// The lower device or veth peer (IFLA_LINK; in another namespace when `link_netnsid` is set).
    pub link: Option<u32>,
    /// Whether `link` lives in another namespace.
    pub link_elsewhere: bool,
    /// As a bridge port: its state, learning and unicast flooding.
    pub port: Option<(PortState, bool, bool)>,
    /// For a macvlan: its mode.
    pub macvlan_mode: Option<String>,
}

/// What the kernel's routing decides for a destination (`ip route get`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "route", rename_all = "lowercase")]
pub enum RouteTo {
    /// Sent out of interface `oif`, to `gateway` when it is not on-link, from address `src`.
    Unicast {
        /// Output interface index.
        oif: u32,
        /// The next hop, when routed through a gateway.
        gateway: Option<Ipv4Addr>,
        /// The source address the kernel would pick.
        src: Option<Ipv4Addr>,
    },
    /// The destination is one of this namespace's own addresses.
    Local,
    /// The destination is a broadcast address here (a subnet's broadcast, or 255.255.255.255).
    Broadcast,
    /// A multicast destination.
    Multicast,
    /// No route: `errno` is the kernel's answer (ENETUNREACH, EHOSTUNREACH; EACCES for a `prohibit` route,
    /// EINVAL for a `blackhole` route).
    Unreachable {
        /// The kernel's answer.
        errno: i32,
    },
}

impl RouteTo {
    /// Why there is no route, in words (for [`RouteTo::Unreachable`]).
    pub fn no_route_words(errno: i32) -> &'static str {
        match errno {
            libc::EACCES => "a `prohibit` route",
            libc::EINVAL => "a `blackhole` route",
            libc::EHOSTUNREACH => "an `unreachable` route",
            _ => "no route",
        }
    }
}

/// Netlink on one namespace.
#[derive(Clone)]
pub struct Netlink {
    handle: rtnetlink::Handle,
}

impl Netlink {
    /// Opens a route netlink socket inside `ns`.
    pub async fn open(ns: &Netns) -> io::Result<Netlink> {
        let (connection, handle, _) = netns::within(ns, rtnetlink::new_connection).await?;
        tokio::spawn(connection);
        Ok(Netlink { handle })
    }

    /// Opens a route netlink socket in the calling thread's namespace (use inside [`netns::scratch`]).
    pub fn open_here() -> io::Result<Netlink> {
        let (connection, handle, _) = rtnetlink::new_connection()?;
        tokio::spawn(connection);
        Ok(Netlink { handle })
    }

    fn wrap<T>(op: impl FnOnce() -> String, r: Result<T, rtnetlink::Error>) -> Result<T, NetlinkError> {
        r.map_err(|e| NetlinkError { op: op(), source: io_of(e) })
    }

    /// The index of an interface, if it exists.
    pub async fn index_of(&self, name: &str) -> Result<Option<u32>, NetlinkError> {
        let mut links = self.handle.link().get().match_name(name.to_string()).execute();
        match links.try_next().await {
            Ok(link) => Ok(link.map(|l| l.header.index)),
            Err(rtnetlink::Error::NetlinkError(m)) if m.raw_code().abs() == libc::ENODEV => Ok(None),
            Err(e) => Err(NetlinkError { op: format!("look up interface {name}"), source: io_of(e) }),
        }
    }

    async fn require(&self, name: &str) -> Result<u32, NetlinkError> {
        self.index_of(name).await?.ok_or_else(|| NetlinkError {
            op: format!("find interface {name}"),
            source: io::Error::from_raw_os_error(libc::ENODEV),
        })
    }

    /// The name of interface `index`, if it exists (a single GET, not a dump: concurrent dumps on one socket
    /// fail with EBUSY).
    pub async fn name_of(&self, index: u32) -> Result<Option<String>, NetlinkError> {
        let mut links = self.handle.link().get().match_index(index).execute();
        match links.try_next().await {
            Ok(link) => Ok(link.and_then(|l| {
                l.attributes.into_iter().find_map(|a| match a {
                    LinkAttribute::IfName(n) => Some(n),
                    _ => None,
                })
            })),
            Err(rtnetlink::Error::NetlinkError(m)) if m.raw_code().abs() == libc::ENODEV => Ok(None),
            Err(e) => Err(NetlinkError { op: format!("look up interface {index}"), source: io_of(e) }),
        }
    }

    /// `ip link add NAME type bridge`.
    pub async fn create_bridge(&self, name: &str) -> Result<(), NetlinkError> {
        Self::wrap(
            || format!("create bridge {name}"),
            self.handle.link().add(LinkBridge::new(name).build()).execute().await,
        )
    }

    /// `ip link add NAME type veth peer name PEER netns PEER_NS`: this end here, the peer created directly in
    /// `peer_ns` (so neither end ever exists in another namespace).
    ///
    /// `indexes` asks for the two ends' interface indexes. They should differ: the kernel's link watcher treats
    /// a carrier change as urgent only on a device whose index differs from its peer's, and otherwise lets the
    /// link come up to a second later (a veth made with `ip link add` in one namespace and then moved keeps
    /// two different indexes; two ends made directly in fresh namespaces would both get index 2). A kernel
    /// that refuses them gets the request again without.
    pub async fn create_veth(
        &self,
        name: &str,
        peer: &str,
        peer_ns: &Netns,
        indexes: Option<(u32, u32)>,
    ) -> Result<(), NetlinkError> {
        let request = |indexes: Option<(u32, u32)>| {
            let mut peer_msg = LinkMessageBuilder::<LinkUnspec>::new()
                .name(peer.to_string())
                .setns_by_fd(peer_ns.file().as_raw_fd())
                .build();
            let mut msg = LinkVeth::new(name, peer).build();
            if let Some((mine, theirs)) = indexes {
                msg.header.index = mine;
                peer_msg.header.index = theirs;
            }
            msg.attributes.retain(|a| !matches!(a, LinkAttribute::LinkInfo(_)));
            msg.attributes.push(LinkAttribute::LinkInfo(vec![
                netlink_packet_route::link::LinkInfo::Kind(netlink_packet_route::link::InfoKind::Veth),
                netlink_packet_route::link::LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(peer_msg))),
            ]));
            msg
        };
        let first = self.handle.link().add(request(indexes)).execute().await;
        let r = match first {
            Err(rtnetlink::Error::NetlinkError(m))
                if indexes.is_some() && [libc::EEXIST, libc::EBUSY, libc::EINVAL].contains(&m.raw_code().abs()) =>
            {
                self.handle.link().add(request(None)).execute().await
            }
            r => r,
        };
        Self::wrap(|| format!("create veth {name} (peer {peer})"), r)
    }

    /// An interface index no link of this namespace holds (one past the highest).
    pub async fn free_index(&self) -> Result<u32, NetlinkError> {
        let links: Vec<_> =
            Self::wrap(|| "list interfaces".into(), self.handle.link().get().execute().try_collect().await)?;
        Ok(links.iter().map(|l| l.header.index).max().unwrap_or(0) + 1)
    }

    /// `ip link add` for macvlan, ipvlan, vlan, vxlan and dummy links. The request goes to this namespace
    /// (the parent's); `into` moves the new link to its own namespace in the same request.
    pub async fn create_link(&self, link: &LinkRequest, into: Option<&Netns>) -> Result<(), NetlinkError> {
        let parent = match &link.parent {
            Some(p) => Some(self.require(p).await?),
            None => None,
        };
        let needs_parent = || {
            parent.ok_or_else(|| NetlinkError {
                op: format!("create {} {}", link.kind.as_str(), link.name),
                source: io::Error::other("this kind of link needs a parent device"),
            })
        };
        let mut msg = match link.kind {
            LinkKind::Macvlan { mode } => LinkMacVlan::new(&link.name, needs_parent()?, mode).build(),
            LinkKind::Ipvlan { mode } => LinkIpVlan::new(&link.name, needs_parent()?, mode).build(),
            LinkKind::Vlan { id } => LinkVlan::new(&link.name, needs_parent()?, id).build(),
            LinkKind::Vxlan { vni, port, remote, local } => {
                let mut b = LinkVxlan::new(&link.name, vni).port(port);
                if let Some(r) = remote {
                    b = b.remote(r);
                }
                if let Some(l) = local {
                    b = b.local(l);
                }
                if let Some(p) = parent {
                    b = b.dev(p);
                }
                b.build()
            }
            LinkKind::Dummy => LinkDummy::new(&link.name).build(),
        };
        if let Some(ns) = into {
            msg.attributes.push(LinkAttribute::NetNsFd(ns.file().as_raw_fd()));
        }
        Self::wrap(
            || format!("create {} {}", link.kind.as_str(), link.name),
            self.handle.link().add(msg).execute().await,
        )
    }

    /// Creates a throwaway link of a feature's kind (feature detection, in a scratch namespace).
    pub async fn create_probe_link(&self, kind: super::features::Feature) -> Result<(), NetlinkError> {
        use super::features::Feature;
        let lower = "rlprobe0";
        if self.index_of(lower).await?.is_none() {
            Self::wrap(
                || "create veth".into(),
                self.handle.link().add(LinkVeth::new(lower, "rlprobe1").build()).execute().await,
            )?;
        }
        let link = |kind: LinkKind, parent: bool| LinkRequest {
            name: format!("rlp{}", kind.as_str()),
            kind,
            parent: parent.then(|| lower.to_string()),
        };
        let vxlan = LinkKind::Vxlan { vni: 10, port: 4789, remote: Some(Ipv4Addr::new(192, 0, 2, 1)), local: None };
        match kind {
            Feature::Veth => Ok(()),
            Feature::Bridge => Self::wrap(
                || "create bridge".into(),
                self.handle.link().add(LinkBridge::new("rlpbridge").build()).execute().await,
            ),
            Feature::Docker => Ok(()),
            Feature::Macvlan => {
                self.create_link(&link(LinkKind::Macvlan { mode: MacVlanMode::Bridge }, true), None).await
            }
            Feature::Ipvlan => self.create_link(&link(LinkKind::Ipvlan { mode: IpVlanMode::L2 }, true), None).await,
            Feature::Vlan => self.create_link(&link(LinkKind::Vlan { id: 10 }, true), None).await,
            Feature::Vxlan => self.create_link(&link(vxlan, false), None).await,
            Feature::Dummy => self.create_link(&link(LinkKind::Dummy, false), None).await,
        }
    }

    /// The MAC address of an interface.
    pub async fn mac_of(&self, name: &str) -> Result<[u8; 6], NetlinkError> {
        let index = self.require(name).await?;
        let mut links = self.handle.link().get().match_index(index).execute();
        let link = Self::wrap(|| format!("read {name}"), links.try_next().await)?;
        link.and_then(|l| {
            l.attributes.into_iter().find_map(|a| match a {
                LinkAttribute::Address(mac) => <[u8; 6]>::try_from(mac.as_slice()).ok(),
                _ => None,
            })
        })
        .ok_or_else(|| NetlinkError { op: format!("read the MAC of {name}"), source: io::Error::other("it has none") })
    }

    /// `ip link set NAME promisc on`.
    pub async fn set_promisc(&self, name: &str) -> Result<(), NetlinkError> {
        let index = self.require(name).await?;
        let msg = LinkUnspec::new_with_index(index).promiscuous(true).build();
        Self::wrap(|| format!("set {name} promisc on"), self.handle.link().set(msg).execute().await)
    }

    /// `ip link set PORT type bridge_slave learning L flood F`.
    pub async fn set_port_flags(&self, port: &str, learning: bool, flood: bool) -> Result<(), NetlinkError> {
        let index = self.require(port).await?;
        let msg = LinkBridgePort::new(index).learning(learning).flood(flood).build();
        Self::wrap(
            || format!("set bridge port {port} learning/flood"),
            self.handle.link().set_port(msg).execute().await,
        )
    }

    /// `bridge fdb add MAC dev PORT master static`.
    pub async fn add_static_fdb(&self, port: &str, mac: [u8; 6]) -> Result<(), NetlinkError> {
        use netlink_packet_route::neighbour::{NeighbourFlags, NeighbourState};
        let index = self.require(port).await?;
        let request = self
            .handle
            .neighbours()
            .add_bridge(index, &mac)
            .state(NeighbourState::Noarp)
            .flags(NeighbourFlags::Controller)
            // Replace: the bridge may already have learned the MAC from the port's first frames.
            .replace();
        Self::wrap(|| format!("add a static forwarding entry on {port}"), request.execute().await)
    }

    /// `ip link set NAME master MASTER`.
    pub async fn set_master(&self, name: &str, master: &str) -> Result<(), NetlinkError> {
        let index = self.require(name).await?;
        let master_index = self.require(master).await?;
        let msg = LinkUnspec::new_with_index(index).controller(master_index).build();
        Self::wrap(|| format!("set {name} master {master}"), self.handle.link().set(msg).execute().await)
    }

    /// `ip link set NAME up`.
    pub async fn set_up(&self, name: &str) -> Result<(), NetlinkError> {
        let index = self.require(name).await?;
        Self::wrap(
            || format!("set {name} up"),
            self.handle.link().set(LinkUnspec::new_with_index(index).up().build()).execute().await,
        )
    }

    /// `ip addr add ADDRESS dev NAME`.
    pub async fn add_address(&self, name: &str, address: Cidr) -> Result<(), NetlinkError> {
        let index = self.require(name).await?;
        Self::wrap(
            || format!("add address {address} to {name}"),
            self.handle.address().add(index, IpAddr::V4(address.addr), address.prefix).execute().await,
        )
    }

    /// `ip route add TO [via VIA] [dev DEV]`.
    pub async fn add_route(&self, route: &RouteRequest) -> Result<(), NetlinkError> {
        let mut builder =
            RouteMessageBuilder::<Ipv4Addr>::new().destination_prefix(route.to.network(), route.to.prefix);
        // As `ip route add` does: a route without a gateway reaches its destination on the link (scope link),
        // which is what makes a later `via` on that link valid; a route with a gateway is scope universe.
        // Protocol "boot", as routes added by hand are.
        builder = builder.protocol(RouteProtocol::Boot);
        builder = match route.via {
            Some(via) => builder.gateway(via),
            None => builder.scope(RouteScope::Link),
        };
        if let Some(dev) = &route.dev {
            builder = builder.output_interface(self.require(dev).await?);
        }
        Self::wrap(|| format!("add route to {}", route.to), self.handle.route().add(builder.build()).execute().await)
    }

    /// `ip link del NAME`. Already gone is success.
    pub async fn delete_link(&self, name: &str) -> Result<(), NetlinkError> {
        let Some(index) = self.index_of(name).await? else { return Ok(()) };
        match self.handle.link().del(index).execute().await {
            Err(rtnetlink::Error::NetlinkError(m)) if m.raw_code().abs() == libc::ENODEV => Ok(()),
            r => Self::wrap(|| format!("delete {name}"), r),
        }
    }

    /// `ip route get TARGET`: what the kernel would do with a packet to `target` from this namespace.
    pub async fn route_to(&self, target: Ipv4Addr) -> Result<RouteTo, NetlinkError> {
        use netlink_packet_route::route::RouteType;
        let msg = RouteMessageBuilder::<Ipv4Addr>::new().destination_prefix(target, 32).build();
        let mut routes = self.handle.route().get(msg).execute();
        match routes.try_next().await {
            Ok(Some(route)) => {
                let oif = route.attributes.iter().find_map(|a| match a {
                    RouteAttribute::Oif(i) => Some(*i),
                    _ => None,
                });
                let gateway = route.attributes.iter().find_map(|a| match a {
                    RouteAttribute::Gateway(netlink_packet_route::route::RouteAddress::Inet(g)) => Some(*g),
                    _ => None,
                });
                let src = route.attributes.iter().find_map(|a| match a {
                    RouteAttribute::PrefSource(netlink_packet_route::route::RouteAddress::Inet(s)) => Some(*s),
                    _ => None,
                });
                Ok(match route.header.kind {
                    RouteType::Local => RouteTo::Local,
                    RouteType::Broadcast => RouteTo::Broadcast,
                    RouteType::Multicast => RouteTo::Multicast,
                    _ => match oif {
                        Some(oif) => RouteTo::Unicast { oif, gateway, src },
                        None => RouteTo::Unreachable { errno: libc::ENETUNREACH },
                    },
                })
            }
            Ok(None) => Ok(RouteTo::Unreachable { errno: libc::ENETUNREACH }),
            // No route (network or host unreachable), a `prohibit` route (EACCES), a `blackhole` route (EINVAL).
            Err(rtnetlink::Error::NetlinkError(m))
                if [libc::ENETUNREACH, libc::EHOSTUNREACH, libc::EACCES, libc::EINVAL]
                    .contains(&m.raw_code().abs()) =>
            {
                Ok(RouteTo::Unreachable { errno: m.raw_code().abs() })
            }
            Err(e) => Err(NetlinkError { op: format!("look up the route to {target}"), source: io_of(e) }),
        }
    }

    /// Every interface of the namespace, read back (one dump).
    pub async fn links(&self) -> Result<Vec<LinkState>, NetlinkError> {
        use netlink_packet_route::link::{
            BridgePortState, InfoBridgePort, InfoData, InfoMacVlan, InfoPortData, LinkFlags, LinkInfo,
        };
        let msgs: Vec<_> =
            Self::wrap(|| "list interfaces".into(), self.handle.link().get().execute().try_collect().await)?;
        let mut out = Vec::new();
        for m in msgs {
            let mut l = LinkState {
                name: String::new(),
                index: m.header.index,
                kind: None,
                admin_up: m.header.flags.contains(LinkFlags::Up),
                promisc: m.header.flags.contains(LinkFlags::Promisc),
                carrier: None,
                oper: "unknown".into(),
                master: None,
                link: None,
                link_elsewhere: false,
                port: None,
                macvlan_mode: None,
            };
            for a in m.attributes {
                match a {
                    LinkAttribute::IfName(n) => l.name = n,
                    LinkAttribute::Carrier(c) => l.carrier = Some(c != 0),
                    LinkAttribute::OperState(s) => l.oper = format!("{s:?}").to_lowercase(),
                    LinkAttribute::Controller(i) => l.master = Some(i),
                    LinkAttribute::Link(i) => l.link = Some(i),
                    LinkAttribute::LinkNetNsId(_) => l.link_elsewhere = true,
                    LinkAttribute::LinkInfo(infos) => {
                        for info in infos {
                            match info {
                                LinkInfo::Kind(k) => l.kind = Some(k.to_string()),
                                LinkInfo::Data(InfoData::MacVlan(d)) => {
                                    l.macvlan_mode = d.iter().find_map(|x| match x {
                                        InfoMacVlan::Mode(m) => Some(format!("{m:?}").to_lowercase()),
                                        _ => None,
                                    })
                                }
                                LinkInfo::PortData(InfoPortData::BridgePort(attrs)) => {
                                    let mut port = (PortState::Disabled, true, true);
                                    for attr in attrs {
                                        match attr {
                                            InfoBridgePort::State(s) => {
                                                port.0 = match s {
                                                    BridgePortState::Listening => PortState::Listening,
                                                    BridgePortState::Learning => PortState::Learning,
                                                    BridgePortState::Forwarding => PortState::Forwarding,
                                                    BridgePortState::Blocking => PortState::Blocking,
                                                    _ => PortState::Disabled,
                                                }
                                            }
                                            InfoBridgePort::Learning(b) => port.1 = b,
                                            InfoBridgePort::UnicastFlood(b) => port.2 = b,
                                            _ => {}
                                        }
                                    }
                                    l.port = Some(port);
                                }
                                _ => {}
                            }
                        }
                    }
                    _ => {}
                }
            }
            out.push(l);
        }
        Ok(out)
    }

    /// `ip -4 neigh flush all`: removes the namespace's ARP entries except permanent and no-ARP ones (entries
    /// someone put there on purpose). Returns how many went.
    pub async fn flush_neighbours(&self) -> Result<usize, NetlinkError> {
        use netlink_packet_route::neighbour::NeighbourState;
        let entries: Vec<_> = Self::wrap(
            || "list neighbours".into(),
            self.handle
                .neighbours()
                .get()
                .set_address_family(netlink_packet_route::AddressFamily::Inet)
                .execute()
                .try_collect()
                .await,
        )?;
        let mut removed = 0;
        for e in entries {
            if matches!(e.header.state, NeighbourState::Permanent | NeighbourState::Noarp) {
                continue;
            }
            match self.handle.neighbours().del(e).execute().await {
                Ok(()) => removed += 1,
                Err(rtnetlink::Error::NetlinkError(m)) if m.raw_code().abs() == libc::ENOENT => {}
                Err(e) => return Err(NetlinkError { op: "flush neighbours".into(), source: io_of(e) }),
            }
        }
        Ok(removed)
    }

    /// Every IPv4 address with its interface name, except loopback.
    pub async fn addresses(&self) -> Result<Vec<(String, Cidr)>, NetlinkError> {
        use netlink_packet_route::address::AddressAttribute;
        let links: Vec<_> =
            Self::wrap(|| "list interfaces".into(), self.handle.link().get().execute().try_collect().await)?;
        let names: std::collections::HashMap<u32, String> = links
            .into_iter()
            .filter_map(|l| {
                let name = l.attributes.into_iter().find_map(|a| match a {
                    LinkAttribute::IfName(n) => Some(n),
                    _ => None,
                })?;
                Some((l.header.index, name))
            })
            .collect();
        let addrs: Vec<_> =
            Self::wrap(|| "list addresses".into(), self.handle.address().get().execute().try_collect().await)?;
        let mut out = Vec::new();
        for m in addrs {
            let local = m.attributes.iter().find_map(|a| match a {
                AddressAttribute::Local(IpAddr::V4(ip)) => Some(*ip),
                _ => None,
            });
            let addr = local.or_else(|| {
                m.attributes.iter().find_map(|a| match a {
                    AddressAttribute::Address(IpAddr::V4(ip)) => Some(*ip),
                    _ => None,
                })
            });
            if let (Some(addr), Some(name)) = (addr, names.get(&m.header.index)) {
                if !addr.is_loopback() {
                    out.push((name.clone(), Cidr { addr, prefix: m.header.prefix_len }));
                }
            }
        }
        Ok(out)
    }
}
