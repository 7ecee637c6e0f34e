//! The one typed wrapper around rtnetlink: small named operations on the links, addresses and routes of one
//! namespace. Each [`Netlink`] owns a socket created inside its namespace.

use super::netns::{self, Netns};
use crate::suite::{Cidr, Route};
use futures::TryStreamExt;
use netlink_packet_route::link::{InfoData, InfoVeth, LinkAttribute};
use netlink_packet_route::route::RouteAttribute;
use rtnetlink::{LinkBridge, LinkMessageBuilder, LinkUnspec, LinkVeth, RouteMessageBuilder};
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
    pub async fn create_veth(&self, name: &str, peer: &str, peer_ns: &Netns) -> Result<(), NetlinkError> {
        let peer_msg = LinkMessageBuilder::<LinkUnspec>::new()
            .name(peer.to_string())
            .setns_by_fd(peer_ns.file().as_raw_fd())
            .build();
        let msg = LinkVeth::new(name, peer).set_info_data(InfoData::Veth(InfoVeth::Peer(peer_msg))).build();
        Self::wrap(|| format!("create veth {name} (peer {peer})"), self.handle.link().add(msg).execute().await)
    }

    /// Creates a link of `kind` named `name` (for feature probes).
    pub async fn create_probe_link(&self, kind: crate::plan::Feature, name: &str) -> Result<(), NetlinkError> {
        use crate::plan::Feature;
        let msg = match kind {
            Feature::Veth => LinkVeth::new(name, &format!("{name}p")).build(),
            Feature::Bridge => LinkBridge::new(name).build(),
            Feature::Docker => return Ok(()),
        };
        Self::wrap(|| format!("create {} link", kind.as_str()), self.handle.link().add(msg).execute().await)
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
    pub async fn add_route(&self, route: &Route) -> Result<(), NetlinkError> {
        let mut builder =
            RouteMessageBuilder::<Ipv4Addr>::new().destination_prefix(route.to.network(), route.to.prefix);
        if let Some(via) = route.via {
            builder = builder.gateway(via);
        }
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

    /// `ip route get TARGET`: the output interface index, or `None` when there is no route.
    pub async fn route_oif(&self, target: Ipv4Addr) -> Result<Option<u32>, NetlinkError> {
        let msg = RouteMessageBuilder::<Ipv4Addr>::new().destination_prefix(target, 32).build();
        let mut routes = self.handle.route().get(msg).execute();
        match routes.try_next().await {
            Ok(Some(route)) => Ok(route.attributes.iter().find_map(|a| match a {
                RouteAttribute::Oif(i) => Some(*i),
                _ => None,
            })),
            Ok(None) => Ok(None),
            Err(rtnetlink::Error::NetlinkError(m))
                if [libc::ENETUNREACH, libc::EHOSTUNREACH].contains(&m.raw_code().abs()) =>
            {
                Ok(None)
            }
            Err(e) => Err(NetlinkError { op: format!("look up the route to {target}"), source: io_of(e) }),
        }
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
