//! Recording fakes for the seams of the lab (test tools only: production code never selects them). Each
//! answers from a table and writes down what it was asked, so a test can check a decision without root.

#![allow(dead_code)]

use reachlab::cidr::Cidr;
use reachlab::engine::EngineMode;
use reachlab::kernel::netlink::{Netlink, NetlinkError, RouteTo};
use reachlab::kernel::netns::Netns;
use reachlab::kernel::request::{LinkRequest, RouteRequest};
use reachlab::lab::ledger::{Entry, Ledger};
use reachlab::lab::ops::{EngineOps, KernelOps, Started};
use reachlab::lab::teardown::Remove;
use reachlab::lab::ApplyError;
use reachlab::probe::nodes::Nodes;
use reachlab::suite::{Container, Network};
use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// One node of a [`FakeNodes`] table.
#[derive(Debug, Clone, Default)]
pub struct FakeNode {
    /// Its namespace is the machine's own.
    pub machine: bool,
    /// What its kernel answers for a route to each address (absent: unreachable, ENETUNREACH).
    pub routes: BTreeMap<Ipv4Addr, RouteTo>,
    /// Its interfaces by index.
    pub interfaces: BTreeMap<u32, String>,
}

/// A lab's nodes as a table; `asked` records every route question.
#[derive(Debug, Default)]
pub struct FakeNodes {
    /// Which engine the lab drives.
    pub mode: EngineMode,
    /// Nodes by name.
    pub nodes: BTreeMap<String, FakeNode>,
    /// `(node, target)` for every route lookup.
    pub asked: Mutex<Vec<(String, Ipv4Addr)>>,
}

impl FakeNodes {
    /// Adds a node.
    pub fn node(mut self, name: &str, node: FakeNode) -> Self {
        self.nodes.insert(name.into(), node);
        self
    }
}

impl Nodes for FakeNodes {
    fn mode(&self) -> EngineMode {
        self.mode
    }
    fn namespace(&self, _node: &str) -> Option<&Netns> {
        None
    }
    fn netlink(&self, _node: &str) -> Option<&Netlink> {
        None
    }
    fn container_pid(&self, _node: &str) -> Option<u32> {
        None
    }
    fn is_machine(&self, node: &str) -> Option<std::io::Result<bool>> {
        self.nodes.get(node).map(|n| Ok(n.machine))
    }
    async fn route_to(&self, node: &str, target: Ipv4Addr) -> Option<Result<RouteTo, NetlinkError>> {
        self.asked.lock().unwrap().push((node.into(), target));
        let n = self.nodes.get(node)?;
        Some(Ok(n.routes.get(&target).copied().unwrap_or(RouteTo::Unreachable { errno: libc_enetunreach() })))
    }
    async fn interface_name(&self, node: &str, index: u32) -> Option<Result<Option<String>, NetlinkError>> {
        Some(Ok(self.nodes.get(node)?.interfaces.get(&index).cloned()))
    }
    async fn flush_neighbours(&self) -> Result<(), String> {
        Ok(())
    }
}

/// ENETUNREACH.
pub fn libc_enetunreach() -> i32 {
    101
}

/// Everything a recording kernel or engine was asked, in order, with whether the ledger on disk already named
/// what it was asked to create.
#[derive(Debug, Default, Clone)]
pub struct Calls(pub std::sync::Arc<Mutex<Vec<String>>>);

impl Calls {
    /// The calls so far.
    pub fn list(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
    fn push(&self, s: String) {
        self.0.lock().unwrap().push(s);
    }
}

/// Whether the ledger file at `path` names `wanted` (read from disk: what `clean` would find after a SIGKILL).
fn ledgered(path: &Path, wanted: impl Fn(&Entry) -> bool) -> &'static str {
    match Ledger::read(path) {
        Ok(r) if r.entries.iter().any(wanted) => "ledgered",
        _ => "NOT LEDGERED",
    }
}

/// A kernel that creates nothing: it records each call and whether the ledger named the resource first, and
/// fails the call whose description starts with `fail_on`.
pub struct RecordingKernel {
    /// The ledger file to look at.
    pub ledger: PathBuf,
    /// What was asked.
    pub calls: Calls,
    /// Namespace paths by node.
    pub namespaces: BTreeMap<String, PathBuf>,
    /// Fail the first call whose record starts with this.
    pub fail_on: Option<String>,
    /// A handle to hand the engine (this process's own namespace: the fake engine never enters it).
    pub handle: Netns,
}

impl RecordingKernel {
    /// A recording kernel watching the ledger at `ledger`.
    pub fn new(ledger: &Path, calls: Calls) -> Self {
        RecordingKernel {
            ledger: ledger.into(),
            calls,
            namespaces: BTreeMap::new(),
            fail_on: None,
            handle: Netns::open("this test", Path::new("/proc/self/ns/net")).expect("open /proc/self/ns/net"),
        }
    }

    fn call(&mut self, record: String) -> Result<(), ApplyError> {
        let fail = self.fail_on.as_ref().is_some_and(|f| record.starts_with(f.as_str()));
        self.calls.push(record.clone());
        if fail {
            self.fail_on = None;
            return Err(ApplyError::Io { op: record, source: std::io::Error::other("failed on purpose") });
        }
        Ok(())
    }

    fn link_ledgered(&self, node: &str, name: &str) -> &'static str {
        let path = self.namespaces.get(node).cloned().unwrap_or_default();
        ledgered(&self.ledger, |e| matches!(e, Entry::Link { netns_path, name: n } if *netns_path == path && n == name))
    }

    fn need(&self, node: &str) -> Result<(), ApplyError> {
        if self.namespaces.contains_key(node) {
            Ok(())
        } else {
            Err(ApplyError::Io { op: format!("use namespace {node}"), source: std::io::Error::other("not created") })
        }
    }
}

impl KernelOps for RecordingKernel {
    fn namespace_path(&self, node: &str) -> Result<PathBuf, ApplyError> {
        self.need(node)?;
        Ok(self.namespaces[node].clone())
    }
    fn namespace(&self, node: &str) -> Result<&Netns, ApplyError> {
        self.need(node)?;
        Ok(&self.handle)
    }
    async fn create_namespace(&mut self, node: &str, kernel_name: &str) -> Result<(), ApplyError> {
        let l = ledgered(&self.ledger, |e| matches!(e, Entry::Namespace { name, .. } if name == kernel_name));
        self.call(format!("create namespace {node} as {kernel_name} [{l}]"))?;
        self.namespaces.insert(node.into(), Path::new("/run/netns").join(kernel_name));
        Ok(())
    }
    async fn enable_forwarding(&mut self, node: &str) -> Result<(), ApplyError> {
        self.need(node)?;
        self.call(format!("forwarding on in {node}"))
    }
    async fn create_bridge(&mut self, node: &str, name: &str) -> Result<(), ApplyError> {
        self.need(node)?;
        let l = self.link_ledgered(node, name);
        self.call(format!("create bridge {node}/{name} [{l}]"))
    }
    async fn create_veth(&mut self, node: &str, name: &str, peer: &str, peer_name: &str) -> Result<(), ApplyError> {
        self.need(node)?;
        self.need(peer)?;
        let l = self.link_ledgered(node, name);
        self.call(format!("create veth {node}/{name} {peer}/{peer_name} [{l}]"))
    }
    async fn create_link(&mut self, node: &str, parent: &str, link: &LinkRequest) -> Result<(), ApplyError> {
        self.need(node)?;
        self.need(parent)?;
        let l = self.link_ledgered(node, &link.name);
        self.call(format!("create {} {node}/{} from {parent} [{l}]", link.kind.as_str(), link.name))
    }
    async fn deny_promiscuous(&mut self, switch: &str, port: &str, vm: &str, nic: &str) -> Result<(), ApplyError> {
        self.need(switch)?;
        self.call(format!("deny promiscuous {switch}/{port} for {vm}/{nic}"))
    }
    async fn set_promisc(&mut self, node: &str, dev: &str) -> Result<(), ApplyError> {
        self.call(format!("promisc {node}/{dev}"))
    }
    async fn set_master(&mut self, node: &str, name: &str, master: &str) -> Result<(), ApplyError> {
        self.call(format!("master {node}/{name} {master}"))
    }
    async fn add_address(&mut self, node: &str, dev: &str, address: Cidr) -> Result<(), ApplyError> {
        self.call(format!("address {node}/{dev} {address}"))
    }
    async fn set_up(&mut self, node: &str, dev: &str) -> Result<(), ApplyError> {
        self.call(format!("up {node}/{dev}"))
    }
    async fn add_route(&mut self, node: &str, route: &RouteRequest) -> Result<(), ApplyError> {
        self.call(format!("route {node} {}", route.to))
    }
    async fn add_container(&mut self, started: &Started, server1_conf: bool) -> Result<(), ApplyError> {
        self.call(format!("take in container {} (server1's settings: {server1_conf})", started.name))
    }
}

/// An engine that runs nothing: it records each call and whether the ledger named the object first.
pub struct RecordingEngine {
    /// The ledger file to look at.
    pub ledger: PathBuf,
    /// What was asked (shared with the kernel's, so the order across both shows).
    pub calls: Calls,
    /// A private engine (else the machine's).
    pub private: bool,
    /// Names the machine's engine already uses.
    pub taken: Vec<String>,
    /// Host-network containers.
    pub host: Vec<String>,
    started: bool,
}

impl RecordingEngine {
    /// A private engine watching the ledger at `ledger`.
    pub fn new(ledger: &Path, calls: Calls) -> Self {
        RecordingEngine {
            ledger: ledger.into(),
            calls,
            private: true,
            taken: Vec::new(),
            host: Vec::new(),
            started: false,
        }
    }

    fn object_ledgered(&self, kind: &str, name: &str) -> &'static str {
        ledgered(&self.ledger, |e| match e {
            Entry::DockerObject { kind: k, name: n, .. } | Entry::SystemObject { kind: k, name: n, .. } => {
                k == kind && n == name
            }
            _ => false,
        })
    }
}

impl EngineOps for RecordingEngine {
    fn private(&self) -> bool {
        self.private
    }
    fn start_entry(&self) -> Option<Entry> {
        self.private.then(|| Entry::Engine { dir: PathBuf::from("/nonexistent/engine"), cgroup: "rl-test".into() })
    }
    async fn start(&mut self, _server1: &Netns) -> Result<String, ApplyError> {
        let l = ledgered(&self.ledger, |e| matches!(e, Entry::Engine { .. }));
        self.calls.push(format!("start engine [{}]", if self.private { l } else { "machine's" }));
        self.started = true;
        Ok("engine started".into())
    }
    fn object_entry(&self, kind: &str, name: &str) -> Result<Entry, ApplyError> {
        Ok(if self.private {
            Entry::DockerObject { engine_dir: "/nonexistent/engine".into(), kind: kind.into(), name: name.into() }
        } else {
            Entry::SystemObject {
                socket: "/nonexistent.sock".into(),
                kind: kind.into(),
                name: name.into(),
                run_id: "t".into(),
            }
        })
    }
    async fn name_taken(&self, _kind: &str, name: &str) -> Result<bool, ApplyError> {
        Ok(self.taken.iter().any(|t| t == name))
    }
    async fn image_present(&self, _image: &str) -> Result<bool, ApplyError> {
        Ok(false)
    }
    async fn ensure_image(&mut self, image: &str) -> Result<String, ApplyError> {
        let l = self.object_ledgered("image", image);
        self.calls.push(format!("image {image} [{l}]"));
        Ok(format!("image {image}"))
    }
    async fn create_network(&mut self, n: &Network, _labels: &HashMap<String, String>) -> Result<(), ApplyError> {
        let l = self.object_ledgered("network", &n.name);
        self.calls.push(format!("create network {} [{l}]", n.name));
        Ok(())
    }
    async fn create_container(&mut self, c: &Container, _labels: &HashMap<String, String>) -> Result<(), ApplyError> {
        let l = self.object_ledgered("container", &c.name);
        self.calls.push(format!("create container {} [{l}]", c.name));
        Ok(())
    }
    async fn connect(&mut self, container: &str, network: &str) -> Result<(), ApplyError> {
        self.calls.push(format!("connect {container} {network}"));
        Ok(())
    }
    async fn start_containers(&mut self, names: &[String]) -> Result<Vec<Started>, ApplyError> {
        self.calls.push(format!("start {}", names.join(" ")));
        Ok(names
            .iter()
            .enumerate()
            .map(|(i, n)| Started {
                name: n.clone(),
                pid: 1000 + i as u32,
                host: self.host.contains(n),
                own_sysctls: vec![],
            })
            .collect())
    }
}

/// A remover that removes nothing: it records each removal and fails those whose record contains `fail`.
#[derive(Debug, Default)]
pub struct RecordingRemover {
    /// What was removed, in order.
    pub calls: Vec<String>,
    /// Fail every removal whose record contains one of these.
    pub fail: Vec<String>,
}

impl RecordingRemover {
    fn call(&mut self, record: String) -> std::io::Result<()> {
        let fail = self.fail.iter().any(|f| record.contains(f.as_str()));
        self.calls.push(record);
        if fail {
            Err(std::io::Error::other("failed on purpose"))
        } else {
            Ok(())
        }
    }
}

impl Remove for RecordingRemover {
    fn namespace(&mut self, path: &Path) -> std::io::Result<()> {
        self.call(format!("namespace {}", path.display()))
    }
    fn directory(&mut self, path: &Path) -> std::io::Result<()> {
        self.call(format!("directory {}", path.display()))
    }
    fn cgroup(&mut self, name: &str) -> Vec<std::io::Error> {
        self.call(format!("cgroup {name}")).err().into_iter().collect()
    }
    fn engine(&mut self, dir: &Path, cgroup: &str) -> Vec<std::io::Error> {
        self.call(format!("engine {} {cgroup}", dir.display())).err().into_iter().collect()
    }
    fn system_object(&mut self, _socket: &Path, kind: &str, name: &str, _run_id: &str) -> std::io::Result<()> {
        self.call(format!("{kind} {name} in the machine's engine"))
    }
}
