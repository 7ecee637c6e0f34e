//! The seam between probes and the lab: what a probe needs to know about the lab's nodes — the namespace
//! handle of a node, its netlink socket, a container's first process, which engine the lab drives — and what
//! the node's kernel says about a route. The real lab implements it; tests answer from a table, so the guard's
//! refusals and each probe's decisions are unit tests.

use crate::engine::EngineMode;
use crate::kernel::netlink::{Netlink, NetlinkError, RouteTo};
use crate::kernel::netns::Netns;
use std::future::Future;
use std::net::Ipv4Addr;

/// What probes need from a built lab.
pub trait Nodes: Sync {
    /// Which engine the lab drives (with `--engine system`, server1 is the machine itself).
    fn mode(&self) -> EngineMode;

    /// A node's network namespace: a suite namespace, a container's, or server1's for a host-network
    /// container. `None` for anything the lab did not make.
    fn namespace(&self, node: &str) -> Option<&Netns>;

    /// Netlink inside a node's namespace.
    fn netlink(&self, node: &str) -> Option<&Netlink>;

    /// A container's first process, if the node is a running container.
    fn container_pid(&self, node: &str) -> Option<u32>;

    /// Whether the node's namespace is the machine's own (`None`: not a node of the lab).
    fn is_machine(&self, node: &str) -> Option<std::io::Result<bool>> {
        self.namespace(node).map(Netns::is_machine_root)
    }

    /// What the node's kernel would do with a packet to `target` (`None`: no netlink socket in the node).
    fn route_to(
        &self,
        node: &str,
        target: Ipv4Addr,
    ) -> impl Future<Output = Option<Result<RouteTo, NetlinkError>>> + Send {
        let nl = self.netlink(node);
        async move {
            match nl {
                Some(nl) => Some(nl.route_to(target).await),
                None => None,
            }
        }
    }

    /// The name of the node's interface `index` (`None`: no netlink socket in the node).
    fn interface_name(
        &self,
        node: &str,
        index: u32,
    ) -> impl Future<Output = Option<Result<Option<String>, NetlinkError>>> + Send {
        let nl = self.netlink(node);
        async move {
            match nl {
                Some(nl) => Some(nl.name_of(index).await),
                None => None,
            }
        }
    }

    /// Empties the ARP caches of every namespace of the lab (entries made permanent on purpose stay).
    fn flush_neighbours(&self) -> impl Future<Output = Result<(), String>> + Send;
}
