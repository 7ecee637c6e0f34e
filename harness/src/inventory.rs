//! The inventory: which addresses each node has, and which subnet each Docker network uses. Built from the
//! suite (static, for `list`) or read from the kernel after the lab is built. Choosing a probe's target
//! address from it is pure.

use crate::suite::{Cidr, Endpoint, Suite};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

/// An addressed interface of a node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Iface {
    /// Interface name inside the node's namespace.
    pub name: String,
    /// Address.
    pub cidr: Cidr,
}

/// Addresses by node, subnets by Docker network.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Inventory {
    /// Node → addressed interfaces, in kernel order.
    pub nodes: BTreeMap<String, Vec<Iface>>,
    /// Docker network → subnet.
    pub networks: BTreeMap<String, Cidr>,
}

impl Inventory {
    /// What the suite itself declares (containers' addresses are only known at run time).
    pub fn from_suite(suite: &Suite) -> Inventory {
        let mut inv = Inventory::default();
        for (ns, dev, cidr) in suite.addresses() {
            inv.nodes.entry(ns.into()).or_default().push(Iface { name: dev.into(), cidr });
        }
        for n in &suite.networks {
            if let Some(s) = n.subnet {
                inv.networks.insert(n.name.clone(), s);
            }
        }
        inv
    }

    /// Every address of every node.
    pub fn addresses(&self) -> BTreeSet<Ipv4Addr> {
        self.nodes.values().flatten().map(|i| i.cidr.addr).collect()
    }

    /// Addresses of one node.
    pub fn addresses_of(&self, node: &str) -> Vec<Ipv4Addr> {
        self.nodes.get(node).into_iter().flatten().map(|i| i.cidr.addr).collect()
    }

    /// The address to probe for `to` from `from`: the pinned interface's (or the address on the pinned Docker
    /// network's subnet), else one on a subnet the two share, else the destination's first.
    pub fn target(&self, from: &str, to: &Endpoint) -> Result<Ipv4Addr, String> {
        self.candidates(from, to).map(|c| c[0])
    }

    /// The destination's addresses in the order a probe tries them: [`Inventory::target`]'s choice first, then
    /// the others (when the kernel says the first is a broadcast address for the source, or its own). A pinned
    /// endpoint has one candidate.
    pub fn candidates(&self, from: &str, to: &Endpoint) -> Result<Vec<Ipv4Addr>, String> {
        let dest = self.nodes.get(&to.node).map(Vec::as_slice).unwrap_or_default();
        if dest.is_empty() {
            return Err(format!("{} has no address", to.node));
        }
        if let Some(via) = &to.via {
            if let Some(i) = dest.iter().find(|i| &i.name == via) {
                return Ok(vec![i.cidr.addr]);
            }
            let subnet =
                self.networks.get(via).ok_or_else(|| format!("{} has no interface or network `{via}`", to.node))?;
            return dest
                .iter()
                .find(|i| subnet.contains(i.cidr.addr))
                .map(|i| vec![i.cidr.addr])
                .ok_or_else(|| format!("{} has no address on {via} ({subnet})", to.node));
        }
        let mine = self.nodes.get(from).map(Vec::as_slice).unwrap_or_default();
        let shares = |d: &Iface| mine.iter().any(|m| m.cidr.contains(d.cidr.addr) || d.cidr.contains(m.cidr.addr));
        let mut out: Vec<Ipv4Addr> = dest.iter().filter(|d| shares(d)).map(|d| d.cidr.addr).collect();
        out.extend(dest.iter().filter(|d| !shares(d)).map(|d| d.cidr.addr));
        out.dedup();
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inv() -> Inventory {
        let i = |name: &str, c: &str| Iface { name: name.into(), cidr: c.parse().unwrap() };
        Inventory {
            nodes: BTreeMap::from([
                ("alpine1".into(), vec![i("eth0", "172.17.0.2/16")]),
                ("alpine2".into(), vec![i("eth0", "172.17.0.3/16"), i("eth1", "172.18.0.2/16")]),
                ("alpine3".into(), vec![i("eth0", "172.18.0.3/16")]),
                (
                    "server1".into(),
                    vec![i("enp0s3", "192.168.56.3/24"), i("docker0", "172.17.0.1/16"), i("br-1", "172.18.0.1/16")],
                ),
                ("server2".into(), vec![i("enp0s3", "192.168.56.4/24")]),
            ]),
            networks: BTreeMap::from([("alpine-net".into(), "172.18.0.0/16".parse().unwrap())]),
        }
    }

    fn ep(s: &str) -> Endpoint {
        match s.split_once('@') {
            Some((n, v)) => Endpoint { node: n.into(), via: Some(v.into()) },
            None => Endpoint { node: s.into(), via: None },
        }
    }

    #[test]
    fn shared_subnet_then_first_address() {
        let i = inv();
        assert_eq!(i.target("alpine3", &ep("alpine2")).unwrap().to_string(), "172.18.0.2");
        assert_eq!(i.target("alpine1", &ep("alpine2")).unwrap().to_string(), "172.17.0.3");
        assert_eq!(i.target("alpine1", &ep("alpine3")).unwrap().to_string(), "172.18.0.3", "no shared subnet: first");
        assert_eq!(i.target("alpine3", &ep("server1")).unwrap().to_string(), "172.18.0.1");
        assert_eq!(i.target("server2", &ep("server1")).unwrap().to_string(), "192.168.56.3");
        assert_eq!(i.target("server2", &ep("alpine1")).unwrap().to_string(), "172.17.0.2");
    }

    #[test]
    fn pinned_interface_or_network() {
        let i = inv();
        assert_eq!(i.target("alpine1", &ep("alpine2@alpine-net")).unwrap().to_string(), "172.18.0.2");
        assert_eq!(i.target("alpine1", &ep("server1@enp0s3")).unwrap().to_string(), "192.168.56.3");
        assert!(i.target("alpine1", &ep("alpine1@nowhere")).is_err());
        assert!(i.target("alpine1", &ep("ghost")).unwrap_err().contains("no address"));
    }
}
