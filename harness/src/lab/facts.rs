//! Reading the lab back as built, for explanations: every node's links and forwarding switch, the engine's
//! networks and endpoints, the switch's port flags, and — per probe — the routes the kernels on its path
//! would take. Only reads; never changes the lab.

use super::live::LiveLab;
use super::ApplyError;
use crate::explain::{LabFacts, PathFacts};
use crate::inventory::Inventory;
use crate::kernel::netns;
use crate::probe::nodes::Nodes;
use crate::suite::Lab;
use std::net::Ipv4Addr;

impl LiveLab {
    /// The lab as built (see [`LabFacts`]).
    pub async fn facts(&self, inventory: &Inventory) -> Result<LabFacts, ApplyError> {
        let mut facts = LabFacts::default();
        for node in self.nodes() {
            if let Some(nl) = self.netlink(&node) {
                facts.links.insert(node.clone(), nl.links().await?);
            }
            if let Some(ns) = self.namespace(&node) {
                let on = netns::within(ns, || std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward"))
                    .await
                    .map_err(|source| ApplyError::Io { op: format!("read {node}'s ip_forward"), source })?;
                facts.forwarding.insert(node.clone(), on.trim() == "1");
            }
        }
        for (node, ifaces) in &inventory.nodes {
            facts.addresses.insert(node.clone(), ifaces.iter().map(|i| (i.name.clone(), i.cidr)).collect());
        }
        if let Some(docker) = self.docker() {
            let (networks, attached) = crate::engine::docker::read_back(docker).await?;
            facts.networks = networks;
            facts.attached = attached;
        }
        let port = format!("port-{}", Lab::SERVER1);
        facts.switch_port = facts
            .links
            .get(Lab::SWITCH)
            .and_then(|ls| ls.iter().find(|l| l.name == port))
            .and_then(|l| l.port.map(|(_, learning, flood)| (learning, flood)));
        facts.nic = self.lan_nic();
        Ok(facts)
    }

    /// The routes on a probe's path: `from` to `target`, and `to` back to the address `from` sends from.
    pub async fn path_facts(&self, from: &str, to: &str, target: Ipv4Addr) -> PathFacts {
        let mut path = PathFacts::default();
        if let Some(nl) = self.netlink(from) {
            path.out = nl.route_to(target).await.ok();
        }
        if let Some(crate::kernel::netlink::RouteTo::Unicast { src: Some(src), .. }) = path.out {
            path.src = Some(src);
            if let Some(nl) = self.netlink(to) {
                path.back = nl.route_to(src).await.ok();
            }
        }
        path
    }
}
