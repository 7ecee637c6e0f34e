//! The two sides a lab is built from, as small traits: the kernel's (namespaces and links, by the suite's node
//! names, over the netlink wrapper's own request types) and the engine's (every Engine API call). The real
//! ones are [`super::kernel_side::KernelSide`] and [`super::engine_side::EngineSide`]; tests drive
//! [`super::apply::apply`] with recording fakes, so "recorded in the ledger before it is created" is a unit
//! test.

use super::ledger::Entry;
use super::ApplyError;
use crate::cidr::Cidr;
use crate::kernel::netns::Netns;
use crate::kernel::request::{LinkRequest, RouteRequest};
use crate::suite::{Container, Network};
use std::collections::HashMap;
use std::path::PathBuf;

/// Namespaces and links, addressed by the suite's node names.
#[allow(async_fn_in_trait)]
pub trait KernelOps {
    /// The mount point of a namespace the lab holds (a link's ledger entry names it).
    fn namespace_path(&self, node: &str) -> Result<PathBuf, ApplyError>;
    /// The handle of a namespace the lab holds (the private engine starts inside server1's).
    fn namespace(&self, node: &str) -> Result<&Netns, ApplyError>;
    /// `ip netns add KERNEL_NAME` for `node`, with `lo` up.
    async fn create_namespace(&mut self, node: &str, kernel_name: &str) -> Result<(), ApplyError>;
    /// [`KernelOps::create_namespace`] for each `(node, kernel name)`; the real kernel makes them concurrently.
    async fn create_namespaces(&mut self, batch: &[(String, String)]) -> Result<(), ApplyError> {
        for (node, kernel_name) in batch {
            self.create_namespace(node, kernel_name).await?;
        }
        Ok(())
    }
    /// IPv4 forwarding on in `node`.
    async fn enable_forwarding(&mut self, node: &str) -> Result<(), ApplyError>;
    /// `ip link add NAME type bridge` in `node`.
    async fn create_bridge(&mut self, node: &str, name: &str) -> Result<(), ApplyError>;
    /// A veth pair, each end created in its own namespace.
    async fn create_veth(&mut self, node: &str, name: &str, peer_node: &str, peer_name: &str)
        -> Result<(), ApplyError>;
    /// A macvlan/ipvlan/vlan/vxlan/dummy link: requested in `parent_node`, ending up in `node`.
    async fn create_link(&mut self, node: &str, parent_node: &str, link: &LinkRequest) -> Result<(), ApplyError>;
    /// VirtualBox's "Deny" on a switch port: learning and unknown-unicast flooding off, and a static
    /// forwarding entry for the MAC of `vm_nic` in `vm`.
    async fn deny_promiscuous(&mut self, switch: &str, port: &str, vm: &str, vm_nic: &str) -> Result<(), ApplyError>;
    /// `ip link set DEV promisc on`.
    async fn set_promisc(&mut self, node: &str, dev: &str) -> Result<(), ApplyError>;
    /// `ip link set NAME master MASTER`.
    async fn set_master(&mut self, node: &str, name: &str, master: &str) -> Result<(), ApplyError>;
    /// `ip addr add ADDRESS dev DEV`.
    async fn add_address(&mut self, node: &str, dev: &str, address: Cidr) -> Result<(), ApplyError>;
    /// `ip link set DEV up`.
    async fn set_up(&mut self, node: &str, dev: &str) -> Result<(), ApplyError>;
    /// `ip route add …`.
    async fn add_route(&mut self, node: &str, route: &RouteRequest) -> Result<(), ApplyError>;
    /// Takes in a container the engine started (its own namespace, never a host-network one); `server1_conf`
    /// gives it server1's IPv4 settings except the keys it was created with.
    async fn add_container(&mut self, started: &Started, server1_conf: bool) -> Result<(), ApplyError>;
}

/// A container the engine started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Started {
    /// Its name.
    pub name: String,
    /// Its first process.
    pub pid: u32,
    /// It shares server1's network stack (`network_mode = host`).
    pub host: bool,
    /// IPv4 conf keys it was created with (`--sysctl`), which reachlab never resets.
    pub own_sysctls: Vec<String>,
}

impl Started {
    /// The container `name`, as the engine reads it back.
    pub fn new(name: &str, running: crate::engine::docker::Running) -> Started {
        Started { name: name.into(), pid: running.pid, host: running.host, own_sysctls: running.own_sysctls }
    }
}

/// The lab's container engine.
#[allow(async_fn_in_trait)]
pub trait EngineOps {
    /// Whether this is a private engine of the lab (else the machine's own, `--engine system`).
    fn private(&self) -> bool;
    /// What to record before starting a private engine (`None` for the machine's, which is never removed).
    fn start_entry(&self) -> Option<Entry>;
    /// Starts the engine (a private dockerd inside `server1`) and says how it went, for the report.
    async fn start(&mut self, server1: &Netns) -> Result<String, ApplyError>;
    /// How a network, container or image made in this engine is recorded.
    fn object_entry(&self, kind: &str, name: &str) -> Result<Entry, ApplyError>;
    /// Whether the engine already has a `kind` (network or container) of this name.
    async fn name_taken(&self, kind: &str, name: &str) -> Result<bool, ApplyError>;
    /// Whether the engine has the image.
    async fn image_present(&self, image: &str) -> Result<bool, ApplyError>;
    /// Makes the image available; says where it came from, for the report.
    async fn ensure_image(&mut self, image: &str) -> Result<String, ApplyError>;
    /// `docker network create`.
    async fn create_network(&mut self, network: &Network, labels: &HashMap<String, String>) -> Result<(), ApplyError>;
    /// `docker create`.
    async fn create_container(
        &mut self,
        container: &Container,
        labels: &HashMap<String, String>,
    ) -> Result<(), ApplyError>;
    /// `docker network connect`.
    async fn connect(&mut self, container: &str, network: &str) -> Result<(), ApplyError>;
    /// `docker start`, all at once; what was started.
    async fn start_containers(&mut self, names: &[String]) -> Result<Vec<Started>, ApplyError>;
}
