//! The real [`Topology`]: named namespaces and links made over netlink, a private Docker engine in server1's
//! namespace with the suite's networks and containers — every one ledgered before it is made.

use super::ledger::{Entry, Ledger, Record};
use super::teardown::{teardown, TeardownError};
use super::{ApplyError, Topology};
use crate::engine::daemon::{self, Daemon};
use crate::engine::{docker, image, labels, EngineError};
use crate::inventory::{Iface, Inventory};
use crate::kernel::baseline;
use crate::kernel::netlink::Netlink;
use crate::kernel::netns::{self, Netns};
use crate::plan::Step;
use crate::suite::{Attachment, Lab, Promiscuous};
use crate::system::EngineMode;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The private engine of a lab.
struct Engine {
    /// The private engine; `None` when driving the machine's own engine (`--engine system`).
    daemon: Option<Daemon>,
    /// Where the engine's API answers.
    socket: PathBuf,
    docker: bollard::Docker,
    machine: Option<bollard::Docker>,
    /// Containers that share server1's network stack.
    host_mode: Vec<String>,
    /// Their first processes (a host-network container has no namespace of its own, but its processes are
    /// still its own: a socket server1's table shows is the container's only if one of them holds it).
    host_pids: BTreeMap<String, u32>,
}

/// A container's network namespace and first process.
struct ContainerNode {
    netns: Netns,
    pid: u32,
}

/// A lab being built or standing: the suite's namespaces and containers (by the suite's names), their netlink
/// sockets, the private engine, and the ledger. Dropping it tears everything down.
pub struct KernelLab {
    run_id: String,
    suite: String,
    state_dir: PathBuf,
    ledger: Ledger,
    namespaces: BTreeMap<String, Netns>,
    netlink: BTreeMap<String, Netlink>,
    containers: BTreeMap<String, ContainerNode>,
    engine: Option<Engine>,
    mode: EngineMode,
    /// server1's NIC on the emulated LAN, once the switch is set up.
    lan_nic: Option<String>,
    notes: Vec<String>,
    done: bool,
    /// Namespaces that already exist (a grading sandbox's user namespace owns them), named instead of created.
    provided: BTreeMap<String, std::fs::File>,
    /// How a grading lab's engine is confined.
    confine: daemon::Confine,
}

fn io(op: impl Into<String>) -> impl FnOnce(std::io::Error) -> ApplyError {
    let op = op.into();
    move |source| ApplyError::Io { op, source }
}

impl From<EngineError> for ApplyError {
    fn from(e: EngineError) -> Self {
        ApplyError::Engine(e)
    }
}

impl KernelLab {
    /// Starts an empty lab whose ledger is persisted under `state_dir`, with a private engine.
    pub fn new(state_dir: &Path, run_id: &str, suite: &str) -> std::io::Result<KernelLab> {
        let ledger = Ledger::create(state_dir, run_id, suite)?;
        Ok(KernelLab {
            mode: EngineMode::Private,
            run_id: run_id.into(),
            suite: suite.into(),
            state_dir: state_dir.into(),
            ledger,
            namespaces: BTreeMap::new(),
            netlink: BTreeMap::new(),
            containers: BTreeMap::new(),
            engine: None,
            lan_nic: None,
            notes: Vec::new(),
            done: false,
            provided: BTreeMap::new(),
            confine: daemon::Confine::default(),
        })
    }

    /// A lab that drives the machine's own engine, with server1 = this machine's network namespace (neither
    /// recorded nor ever removed).
    pub async fn new_system(state_dir: &Path, run_id: &str, suite: &str) -> std::io::Result<KernelLab> {
        let mut lab = KernelLab::new(state_dir, run_id, suite)?;
        lab.mode = EngineMode::System;
        let machine = Netns::open("server1 (this machine)", Path::new("/proc/self/ns/net"))?;
        let nl = Netlink::open(&machine).await?;
        lab.namespaces.insert(Lab::SERVER1.into(), machine);
        lab.netlink.insert(Lab::SERVER1.into(), nl);
        Ok(lab)
    }

    /// Which engine this lab drives.
    pub fn mode(&self) -> EngineMode {
        self.mode
    }

    /// The run-scoped kernel name of a suite namespace: concurrent runs of one suite never collide.
    pub fn kernel_name(run_id: &str, netns: &str) -> String {
        format!("rl-{run_id}-{netns}")
    }

    /// The run id.
    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    /// What the run wants reported about how it built the lab (engine start time, images used).
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    /// A node's network namespace: a suite namespace, a container's, or server1's for a host-network container.
    pub fn namespace(&self, node: &str) -> Option<&Netns> {
        if let Some(ns) = self.namespaces.get(node) {
            return Some(ns);
        }
        if self.engine.as_ref().is_some_and(|e| e.host_mode.iter().any(|c| c == node)) {
            return self.namespaces.get(Lab::SERVER1);
        }
        self.containers.get(node).map(|c| &c.netns)
    }

    /// Netlink inside a node's namespace.
    pub fn netlink(&self, node: &str) -> Option<&Netlink> {
        if let Some(nl) = self.netlink.get(node) {
            return Some(nl);
        }
        self.engine
            .as_ref()
            .filter(|e| e.host_mode.iter().any(|c| c == node))
            .and_then(|_| self.netlink.get(Lab::SERVER1))
    }

    /// A container's first process, if the node is a running container.
    pub fn container_pid(&self, node: &str) -> Option<u32> {
        let host = || self.engine.as_ref().and_then(|e| e.host_pids.get(node).copied());
        self.containers.get(node).map(|c| c.pid).or_else(host)
    }

    /// The engine's API, when the lab has one.
    pub fn docker(&self) -> Option<&bollard::Docker> {
        self.engine.as_ref().map(|e| &e.docker)
    }

    /// server1's NIC on the emulated LAN, when the lab has one.
    pub fn lan_nic(&self) -> Option<String> {
        self.lan_nic.clone()
    }

    /// The private engine's API socket, when the lab has one.
    pub fn engine_socket(&self) -> Option<PathBuf> {
        self.engine.as_ref().map(|e| e.socket.clone())
    }

    /// Every node the lab holds.
    pub fn nodes(&self) -> Vec<String> {
        let host = self.engine.iter().flat_map(|e| e.host_mode.iter().cloned());
        self.namespaces.keys().cloned().chain(self.containers.keys().cloned()).chain(host).collect()
    }

    /// Waits until the kernel says every link is settled (see [`super::ready`]): polls each namespace's links
    /// every few milliseconds, for at most `limit`. Returns how long it waited.
    pub async fn wait_ready(&self, limit: std::time::Duration) -> Result<std::time::Duration, ApplyError> {
        let started = std::time::Instant::now();
        loop {
            let mut pending = Vec::new();
            for (node, nl) in &self.netlink {
                pending.extend(super::ready::unready(node, &nl.links().await?));
            }
            if pending.is_empty() {
                return Ok(started.elapsed());
            }
            if started.elapsed() > limit {
                return Err(ApplyError::NotReady { within_ms: limit.as_millis() as u64, pending: pending.join("; ") });
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }

    /// What changed in the lab since it was built, if anything: a namespace of its own deleted or replaced, a
    /// container whose process is gone, the private engine exited. Probes hold namespace files, so they would
    /// go on working in a deleted namespace and report a lab that no longer exists; the runner asks this before
    /// and after probing and turns a change into an infrastructure error.
    pub async fn changed(&self) -> Vec<String> {
        let mut changes = Vec::new();
        let ours: Vec<&Path> = self
            .ledger
            .record_ref()
            .entries
            .iter()
            .filter_map(|e| match e {
                Entry::Namespace { path, .. } => Some(path.as_path()),
                _ => None,
            })
            .collect();
        for (node, ns) in &self.namespaces {
            if ours.contains(&ns.path.as_path()) && !ns.still_at_path() {
                changes.push(format!("namespace {} ({node}) was deleted while the lab was in use", ns.name));
            }
        }
        for (name, c) in &self.containers {
            let same = std::fs::metadata(format!("/proc/{}/ns/net", c.pid))
                .ok()
                .zip(c.netns.file().metadata().ok())
                .is_some_and(|(now, held)| {
                    use std::os::unix::fs::MetadataExt;
                    now.ino() == held.ino() && now.dev() == held.dev()
                });
            if !same || !daemon::process_running(c.pid) {
                changes.push(format!("container {name} stopped while the lab was in use"));
            }
        }
        if let Some(engine) = &self.engine {
            if engine.daemon.as_ref().is_some_and(|d| !d.alive()) {
                changes.push("server1's Docker engine exited while the lab was in use".into());
            } else {
                // A stopping engine closes its API first (and stops the containers after their grace period).
                let ping = tokio::time::timeout(std::time::Duration::from_secs(2), engine.docker.ping()).await;
                if !matches!(ping, Ok(Ok(_))) {
                    changes.push("server1's Docker engine stopped answering while the lab was in use".into());
                }
            }
        }
        changes
    }

    /// Empties the ARP caches of every namespace of the lab (entries made permanent on purpose stay).
    pub async fn flush_neighbours(&self) -> Result<(), ApplyError> {
        for nl in self.netlink.values() {
            nl.flush_neighbours().await?;
        }
        Ok(())
    }

    /// Reads back every node's addresses and every Docker network's subnet.
    pub async fn inventory(&self) -> Result<Inventory, ApplyError> {
        let mut inv = Inventory::default();
        for node in self.nodes() {
            let Some(nl) = self.netlink(&node) else { continue };
            let mut ifaces: Vec<Iface> =
                nl.addresses().await?.into_iter().map(|(name, cidr)| Iface { name, cidr }).collect();
            if self.mode == EngineMode::System
                && self.namespace(&node).is_some_and(|ns| ns.is_machine_root().unwrap_or(true))
            {
                // The machine's own addresses are not the lab's: only its Docker bridges are.
                ifaces.retain(|i| crate::probe::guard::docker_bridge(&i.name));
            }
            inv.nodes.insert(node, ifaces);
        }
        if let Some(e) = &self.engine {
            inv.networks.extend(docker::subnets(&e.docker).await?);
        }
        Ok(inv)
    }

    fn nl(&self, netns: &str) -> Result<&Netlink, ApplyError> {
        self.netlink.get(netns).ok_or_else(|| ApplyError::Io {
            op: format!("use namespace {netns}"),
            source: std::io::Error::other("it was not created"),
        })
    }

    fn ns(&self, netns: &str) -> Result<&Netns, ApplyError> {
        self.namespaces.get(netns).ok_or_else(|| ApplyError::Io {
            op: format!("use namespace {netns}"),
            source: std::io::Error::other("it was not created"),
        })
    }

    fn engine(&self) -> Result<&Engine, ApplyError> {
        self.engine.as_ref().ok_or_else(|| ApplyError::Io {
            op: "use the engine".into(),
            source: std::io::Error::other("it was not started"),
        })
    }

    fn record(&mut self, entry: Entry) -> Result<(), ApplyError> {
        self.ledger.record(entry).map_err(io("write the ledger"))
    }

    fn docker_entry(&mut self, kind: &str, name: &str) -> Result<(), ApplyError> {
        let engine = self.engine()?;
        let entry = match &engine.daemon {
            Some(d) => Entry::DockerObject { engine_dir: d.dir.clone(), kind: kind.into(), name: name.into() },
            None => Entry::SystemObject {
                socket: engine.socket.clone(),
                kind: kind.into(),
                name: name.into(),
                run_id: self.run_id.clone(),
            },
        };
        self.record(entry)
    }

    /// In system mode, refuses to create a Docker object whose name the machine's engine already uses:
    /// reachlab never touches what it did not create.
    async fn claim_name(&self, kind: &str, name: &str) -> Result<(), ApplyError> {
        let e = self.engine()?;
        if e.daemon.is_some() {
            return Ok(());
        }
        let taken = match kind {
            "network" => {
                e.docker.inspect_network(name, None::<bollard::query_parameters::InspectNetworkOptions>).await.is_ok()
            }
            _ => e
                .docker
                .inspect_container(name, None::<bollard::query_parameters::InspectContainerOptions>)
                .await
                .is_ok(),
        };
        if taken {
            return Err(EngineError::Start(format!(
                "the machine's engine already has a {kind} named {name}; reachlab does not touch what it did not create (remove or rename it, or use the private engine)"
            ))
            .into());
        }
        Ok(())
    }

    /// Leaves the lab standing (for `reachlab up`) and returns its record.
    pub fn keep(mut self) -> std::io::Result<Record> {
        self.ledger.keep()?;
        self.done = true;
        if let Some(e) = self.engine.take() {
            // The engine process outlives us; `down` removes it through the ledger.
            std::mem::forget(e.daemon);
        }
        Ok(self.ledger.record_ref().clone())
    }

    /// Removes everything the lab made; on success the ledger file goes too.
    pub fn teardown(mut self) -> Vec<TeardownError> {
        self.done = true;
        self.remove()
    }

    fn remove(&mut self) -> Vec<TeardownError> {
        let mut errors = Vec::new();
        if let Some(daemon) = self.engine.take().and_then(|e| e.daemon) {
            let dir = daemon.dir.clone();
            errors.extend(
                daemon
                    .stop()
                    .into_iter()
                    .map(|source| TeardownError { what: format!("engine {}", dir.display()), source }),
            );
        }
        // Close our sockets first so the namespaces can go as soon as their mounts do.
        self.netlink.clear();
        self.containers.clear();
        self.namespaces.clear();
        errors.extend(teardown(self.ledger.record_ref()));
        if errors.is_empty() {
            let _ = std::fs::remove_file(self.ledger.path());
        }
        errors
    }

    async fn start_engine(&mut self, netns: &str) -> Result<(), ApplyError> {
        if self.mode == EngineMode::System {
            let docker = docker::machine_engine().await.ok_or_else(|| {
                EngineError::Start(
                    "--engine system: no Docker engine answers at DOCKER_HOST or /var/run/docker.sock".into(),
                )
            })?;
            let socket = docker::machine_socket();
            self.notes
                .push(format!("the machine's own Docker engine at {} (server1 is this machine)", socket.display()));
            self.engine = Some(Engine {
                daemon: None,
                socket,
                docker,
                machine: None,
                host_mode: Vec::new(),
                host_pids: BTreeMap::new(),
            });
            return Ok(());
        }
        let dir = daemon::engine_dir(&self.state_dir, &self.run_id);
        let cgroup = daemon::cgroup_name(&self.run_id);
        self.record(Entry::Engine { dir: dir.clone(), cgroup: cgroup.clone() })?;
        // server1 starts from the kernel's defaults (forwarding off) like every namespace reachlab makes;
        // dockerd turns forwarding on (and sets FORWARD to DROP), as on a freshly booted VM.
        let ns = self.ns(netns)?.clone();
        let daemon = Daemon::start_confined(&ns, &dir, &cgroup, &self.confine).await?;
        let docker = docker::connect(&daemon.socket)?;
        self.notes.push(format!("private Docker engine in {netns} ready in {:.2} s", daemon.ready_in.as_secs_f64()));
        let machine = docker::machine_engine().await;
        let socket = daemon.socket.clone();
        self.engine = Some(Engine {
            daemon: Some(daemon),
            socket,
            docker,
            machine,
            host_mode: Vec::new(),
            host_pids: BTreeMap::new(),
        });
        Ok(())
    }

    async fn register_container(&mut self, name: &str) -> Result<(), ApplyError> {
        let running = docker::running(&self.engine()?.docker, name).await?;
        let path = PathBuf::from(format!("/proc/{}/ns/net", running.pid));
        // Hold the namespace file: the PID could be reused, the namespace file cannot.
        let ns =
            Netns::open(&format!("container {name}"), &path).map_err(io(format!("open the namespace of {name}")))?;
        if self.mode == EngineMode::Private {
            self.inherit_server1_conf(&ns, name, running.own_sysctls).await?;
        }
        let nl = Netlink::open(&ns).await.map_err(io(format!("open netlink in {name}")))?;
        self.netlink.insert(name.to_string(), nl);
        self.containers.insert(name.to_string(), ContainerNode { netns: ns, pid: running.pid });
        Ok(())
    }

    /// On server1 — a VM — a container's namespace copies server1's own IPv4 settings (the kernel copies the
    /// settings of the machine's first namespace). Here the machine's first namespace is not server1, so the
    /// kernel copied the machine's: reachlab writes server1's instead, except the keys the container was
    /// created with on purpose (`--sysctl`).
    async fn inherit_server1_conf(&self, ns: &Netns, name: &str, keep: Vec<String>) -> Result<(), ApplyError> {
        let server1 = self.ns(Lab::SERVER1)?;
        let settings = netns::within(server1, baseline::read_here).await.map_err(io("read server1's IPv4 settings"))?;
        netns::within(ns, move || baseline::inherit_here(&settings, &keep))
            .await
            .map_err(io(format!("give {name} server1's IPv4 settings")))
    }

    /// Grading: the namespace of `node` exists already (`source`, owned by the sandbox's user namespace); the
    /// plan's step that would create it names this one instead (and ledgers it as usual).
    pub fn provide_namespace(&mut self, node: &str, source: std::fs::File) {
        self.provided.insert(node.to_string(), source);
    }

    /// Grading: the private engine starts confined (its cgroup, a bounded data root).
    pub fn confine_engine(&mut self, confine: daemon::Confine) {
        self.confine = confine;
    }

    /// Records a cgroup of the lab (before it is created) so teardown and `clean` kill what is in it and remove
    /// it.
    pub fn record_cgroup(&mut self, name: &str) -> std::io::Result<()> {
        self.ledger.record(Entry::Cgroup { name: name.to_string() })
    }

    /// Records a scratch directory (a grading sandbox's working copy) so teardown and `clean` remove it.
    pub fn record_scratch_dir(&mut self, path: &Path) -> std::io::Result<()> {
        self.ledger.record(Entry::ScratchDir { path: path.to_path_buf() })
    }

    /// Grading: takes in a namespace the submission made (`path` is where it can be opened). Not ledgered: it
    /// lives and dies with the submission's sandbox.
    pub async fn adopt_namespace(&mut self, name: &str, path: &Path) -> Result<(), ApplyError> {
        let ns = Netns::open(name, path).map_err(io(format!("open the submission's namespace {name}")))?;
        let nl = Netlink::open(&ns).await.map_err(io(format!("open netlink in {name}")))?;
        self.namespaces.insert(name.into(), ns);
        self.netlink.insert(name.into(), nl);
        Ok(())
    }

    /// Grading: takes in a container the submission made in the lab's engine; `false` when there is no running
    /// container of that name.
    pub async fn adopt_container(&mut self, name: &str) -> Result<bool, ApplyError> {
        let info = self
            .engine()?
            .docker
            .inspect_container(name, None::<bollard::query_parameters::InspectContainerOptions>)
            .await;
        let Ok(info) = info else { return Ok(false) };
        if !info.state.as_ref().and_then(|s| s.running).unwrap_or(false) {
            return Ok(false);
        }
        if info.host_config.and_then(|h| h.network_mode).as_deref() == Some("host") {
            let pid = info.state.and_then(|s| s.pid).and_then(|p| u32::try_from(p).ok()).filter(|p| *p > 0);
            let engine = self.engine.as_mut().expect("engine checked above");
            engine.host_mode.push(name.into());
            engine.host_pids.extend(pid.map(|p| (name.to_string(), p)));
            return Ok(true);
        }
        self.register_container(name).await?;
        Ok(true)
    }

    async fn start_containers(&mut self, names: &[String]) -> Result<(), ApplyError> {
        let engine = self.engine()?;
        let starts = names.iter().map(|n| docker::start(&engine.docker, n));
        for r in futures::future::join_all(starts).await {
            r?;
        }
        for name in names {
            if !self.engine()?.host_mode.contains(name) {
                self.register_container(name).await?;
            } else {
                let running = docker::running(&self.engine()?.docker, name).await?;
                self.engine.as_mut().expect("engine checked above").host_pids.insert(name.clone(), running.pid);
            }
        }
        Ok(())
    }
}

impl Drop for KernelLab {
    fn drop(&mut self) {
        if !self.done {
            for e in self.remove() {
                eprintln!("reachlab: teardown: {e}");
            }
        }
    }
}

impl Topology for KernelLab {
    async fn apply(&mut self, step: &Step) -> Result<(), ApplyError> {
        match step {
            Step::CreateNamespace { netns } => {
                let name = Self::kernel_name(&self.run_id, netns);
                let path = Path::new(netns::NETNS_DIR).join(&name);
                self.record(Entry::Namespace { name: name.clone(), path })?;
                let ns = match self.provided.get(netns) {
                    Some(source) => netns::create_from(&name, source),
                    None => netns::create(&name),
                }
                .map_err(io(format!("create namespace {name}")))?;
                let nl = Netlink::open(&ns).await.map_err(io(format!("open netlink in {name}")))?;
                nl.set_up("lo").await?;
                self.namespaces.insert(netns.clone(), ns);
                self.netlink.insert(netns.clone(), nl);
            }
            Step::EnableForwarding { netns } => {
                let ns = self.ns(netns)?;
                netns::within(ns, || std::fs::write("/proc/sys/net/ipv4/ip_forward", "1"))
                    .await
                    .map_err(io(format!("enable forwarding in {netns}")))?;
            }
            Step::CreateBridge { netns, name } => {
                let netns_path = self.ns(netns)?.path.clone();
                self.record(Entry::Link { netns_path, name: name.clone() })?;
                self.nl(netns)?.create_bridge(name).await?;
            }
            Step::CreateVeth { netns, name, peer_netns, peer_name } => {
                let netns_path = self.ns(netns)?.path.clone();
                self.record(Entry::Link { netns_path, name: name.clone() })?;
                let peer_ns = self.ns(peer_netns)?;
                let mine = self.nl(netns)?.free_index().await?;
                let mut theirs = self.nl(peer_netns)?.free_index().await?;
                if theirs == mine {
                    theirs += 1;
                }
                self.nl(netns)?.create_veth(name, peer_name, peer_ns, Some((mine, theirs))).await?;
            }
            Step::CreateLink { link } => {
                let parent_ns = link.parent.as_ref().map_or(&link.netns, |(ns, _)| ns);
                let netns_path = self.ns(&link.netns)?.path.clone();
                self.record(Entry::Link { netns_path, name: link.name.clone() })?;
                let into = (parent_ns != &link.netns).then(|| self.ns(&link.netns)).transpose()?;
                self.nl(parent_ns)?.create_link(link, into).await?;
            }
            Step::SwitchPolicy { netns, port, policy, mac_of: (node, nic) } => {
                if *policy == Promiscuous::Deny {
                    // VirtualBox's "Deny": the VM's adapter gets frames for its own MAC, broadcast and multicast.
                    let mac = self.nl(node)?.mac_of(nic).await?;
                    let nl = self.nl(netns)?;
                    nl.set_port_flags(port, false, false).await?;
                    nl.add_static_fdb(port, mac).await?;
                }
                self.notes
                    .push(format!("hypervisor switch: promiscuous mode {} for {node}'s adapter", policy.as_str()));
                self.lan_nic = Some(nic.clone());
            }
            Step::SetPromisc { netns, dev } => {
                self.nl(netns)?.set_promisc(dev).await?;
                self.notes.push(format!("{netns}: ip link set {dev} promisc on"));
            }
            Step::SetMaster { netns, name, master } => self.nl(netns)?.set_master(name, master).await?,
            Step::AddAddress { netns, dev, address } => self.nl(netns)?.add_address(dev, *address).await?,
            Step::SetUp { netns, dev } => self.nl(netns)?.set_up(dev).await?,
            Step::AddRoute { netns, route } => self.nl(netns)?.add_route(route).await?,
            Step::StartEngine { netns } => self.start_engine(netns).await?,
            Step::EnsureImage { image: name } => {
                let e = self.engine()?;
                let present = e.docker.inspect_image(name).await.is_ok();
                // In system mode only an image reachlab imports is recorded (and later removed).
                if !present || e.daemon.is_some() {
                    self.docker_entry("image", name)?;
                }
                let e = self.engine()?;
                let source = image::ensure(&e.docker, name, e.machine.as_ref(), &self.run_id).await?;
                self.notes.push(source.describe(name));
            }
            Step::CreateNetwork { network } => {
                self.claim_name("network", &network.name).await?;
                self.docker_entry("network", &network.name)?;
                let labels = labels(&self.run_id, &self.suite);
                docker::create_network(&self.engine()?.docker, network, &labels).await?;
            }
            Step::CreateContainer { container } => {
                self.claim_name("container", &container.name).await?;
                self.docker_entry("container", &container.name)?;
                let labels = labels(&self.run_id, &self.suite);
                docker::create_container(&self.engine()?.docker, container, &container.image, &labels).await?;
                if container.attachment == Attachment::Host {
                    self.engine.as_mut().expect("engine checked above").host_mode.push(container.name.clone());
                }
            }
            Step::ConnectContainer { container, network } => {
                docker::connect_network(&self.engine()?.docker, container, network).await?
            }
            Step::StartContainers { containers } => self.start_containers(containers).await?,
        }
        Ok(())
    }
}

// ── Reopening a standing lab (`reachlab probe`) ──────────────────────────────────────────────────────────────
// Kept apart from the building code above on purpose: this only opens what a ledger names and never creates or
// removes anything.

/// Why a standing lab could not be reopened.
#[derive(Debug, thiserror::Error)]
pub enum ReopenError {
    /// The lab does not hold what the suite needs (it was built from another suite, or something removed it).
    #[error("the lab does not match its suite: {0}")]
    Mismatch(String),
    /// Opening a namespace, a netlink socket or the engine failed.
    #[error(transparent)]
    Apply(#[from] ApplyError),
}

impl KernelLab {
    /// Records the suite file the lab is built from and the digest of its text (`reachlab up`), so
    /// [`KernelLab::reopen`] can find it and tell whether it changed.
    pub fn record_source(&mut self, file: &Path, sha256: &str) -> std::io::Result<()> {
        self.ledger.set_source(file, sha256)
    }

    /// Takes up a lab left standing by `reachlab up` (its ledger at `ledger_path`): opens the namespaces of
    /// `suite` and, if it has containers, the private engine and its containers, exactly as the ledger names
    /// them. Creates nothing; dropping the returned lab removes nothing (only an explicit
    /// [`KernelLab::teardown`] would).
    pub async fn reopen(
        state_dir: &Path,
        ledger_path: &Path,
        suite: &crate::suite::Suite,
    ) -> Result<KernelLab, ReopenError> {
        let ledger = Ledger::reopen(ledger_path).map_err(io(format!("read the ledger {}", ledger_path.display())))?;
        let record = ledger.record_ref().clone();
        let mut lab = KernelLab {
            mode: EngineMode::Private,
            run_id: record.run_id.clone(),
            suite: suite.name.clone(),
            state_dir: state_dir.into(),
            ledger,
            namespaces: BTreeMap::new(),
            netlink: BTreeMap::new(),
            containers: BTreeMap::new(),
            engine: None,
            lan_nic: suite.lab.as_ref().map(|l| l.nic.clone()),
            notes: vec![format!("probed the standing lab {} (built by `reachlab up`)", record.run_id)],
            // Never torn down on drop: the lab stays standing for `reachlab down`.
            done: true,
            provided: BTreeMap::new(),
            confine: daemon::Confine::default(),
        };
        for ns in &suite.namespaces {
            let kname = Self::kernel_name(&record.run_id, &ns.name);
            let path = record
                .entries
                .iter()
                .find_map(|e| match e {
                    Entry::Namespace { name, path } if *name == kname => Some(path.clone()),
                    _ => None,
                })
                .ok_or_else(|| ReopenError::Mismatch(format!("its ledger names no namespace {kname}")))?;
            let handle = Netns::open(&kname, &path).map_err(io(format!("open namespace {kname}")))?;
            let nl = Netlink::open(&handle).await.map_err(io(format!("open netlink in {kname}")))?;
            lab.namespaces.insert(ns.name.clone(), handle);
            lab.netlink.insert(ns.name.clone(), nl);
        }
        if !suite.containers.is_empty() {
            let dir = record
                .entries
                .iter()
                .find_map(|e| match e {
                    Entry::Engine { dir, .. } => Some(dir.clone()),
                    _ => None,
                })
                .ok_or_else(|| ReopenError::Mismatch("its ledger names no private engine".into()))?;
            // Where `Daemon::start` puts the API socket.
            let socket = dir.join("docker.sock");
            let docker = docker::connect(&socket).map_err(ApplyError::from)?;
            docker
                .ping()
                .await
                .map_err(EngineError::api(format!("reach the lab's engine at {}", socket.display())))
                .map_err(ApplyError::from)?;
            let host_mode =
                suite.containers.iter().filter(|c| c.attachment == Attachment::Host).map(|c| c.name.clone()).collect();
            lab.engine =
                Some(Engine { daemon: None, socket, docker, machine: None, host_mode, host_pids: BTreeMap::new() });
            for c in &suite.containers {
                if c.attachment != Attachment::Host {
                    lab.register_container(&c.name).await?;
                }
            }
        }
        Ok(lab)
    }
}
