//! A live lab (built, being built, or left standing on this machine): what [`super::apply`] built — the nodes' namespace handles and netlink sockets
//! ([`KernelSide`]), the lab's engine ([`EngineSide`]) — and the ledger of everything made. It answers probes
//! ([`Nodes`]) and tears everything down when dropped.

use super::apply::{self, Run};
use super::engine_side::EngineSide;
use super::kernel_side::KernelSide;
use super::ledger::{Entry, Ledger, Record};
use super::teardown::{teardown, TeardownError};
use super::{ApplyError, Topology};
use crate::engine::daemon::{self};
use crate::engine::{docker, docker_bridge, EngineMode};
use crate::inventory::{Iface, Inventory};
use crate::kernel::netlink::Netlink;
use crate::kernel::netns::Netns;
use crate::plan::Step;
use crate::probe::nodes::Nodes;
use crate::suite::Lab;
use std::path::{Path, PathBuf};

/// A lab being built or standing: the suite's namespaces and containers (by the suite's names), their netlink
/// sockets, the lab's engine, and the ledger. Dropping it tears everything down.
pub struct LiveLab {
    run_id: String,
    suite: String,
    ledger: Ledger,
    /// The nodes' handles (the kernel side of building).
    pub(super) nodes: KernelSide,
    /// The lab's engine (the engine side of building).
    pub(super) engine: EngineSide,
    /// server1's NIC on the emulated LAN, once the switch is set up.
    pub(super) lan_nic: Option<String>,
    pub(super) notes: Vec<String>,
    /// Nothing is left to tear down on drop (torn down, kept standing, or reopened).
    pub(super) done: bool,
}

impl LiveLab {
    /// Starts an empty lab whose ledger is persisted under `state_dir`, with a private engine.
    pub fn new(state_dir: &Path, run_id: &str, suite: &str) -> std::io::Result<LiveLab> {
        let ledger = Ledger::create(state_dir, run_id, suite)?;
        Ok(Self::with_ledger(ledger, EngineMode::Private, state_dir, run_id, suite))
    }

    pub(super) fn with_ledger(ledger: Ledger, mode: EngineMode, state_dir: &Path, run_id: &str, suite: &str) -> Self {
        LiveLab {
            run_id: run_id.into(),
            suite: suite.into(),
            ledger,
            nodes: KernelSide::default(),
            engine: EngineSide::new(mode, state_dir, run_id),
            lan_nic: None,
            notes: Vec::new(),
            done: false,
        }
    }

    /// A lab that drives the machine's own engine, with server1 = this machine's network namespace (neither
    /// recorded nor ever removed).
    pub async fn new_system(state_dir: &Path, run_id: &str, suite: &str) -> std::io::Result<LiveLab> {
        let mut lab = LiveLab::new(state_dir, run_id, suite)?;
        lab.engine.mode = EngineMode::System;
        let machine = Netns::open("server1 (this machine)", Path::new("/proc/self/ns/net"))?;
        let nl = Netlink::open(&machine).await?;
        lab.nodes.namespaces.insert(Lab::SERVER1.into(), machine);
        lab.nodes.netlink.insert(Lab::SERVER1.into(), nl);
        Ok(lab)
    }

    /// The run id.
    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    /// What the run wants reported about how it built the lab (engine start time, images used).
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    /// The engine's API, when the lab has one.
    pub fn docker(&self) -> Option<&bollard::Docker> {
        self.engine.running.as_ref().map(|e| &e.docker)
    }

    /// server1's NIC on the emulated LAN, when the lab has one.
    pub fn lan_nic(&self) -> Option<String> {
        self.lan_nic.clone()
    }

    /// The private engine's API socket, when the lab has one.
    pub fn engine_socket(&self) -> Option<PathBuf> {
        self.engine.running.as_ref().map(|e| e.socket.clone())
    }

    /// Every node the lab holds.
    pub fn nodes(&self) -> Vec<String> {
        let host = self.engine.running.iter().flat_map(|e| e.host_mode.iter().cloned());
        self.nodes.namespaces.keys().cloned().chain(self.nodes.containers.keys().cloned()).chain(host).collect()
    }

    /// The kernel side of the lab (grading takes in what a submission built through it).
    pub fn handles_mut(&mut self) -> &mut KernelSide {
        &mut self.nodes
    }

    /// The engine side of the lab.
    pub fn engine_mut(&mut self) -> &mut EngineSide {
        &mut self.engine
    }

    /// Waits until the kernel says every link is settled (see [`super::ready`]): polls each namespace's links
    /// every few milliseconds, for at most `limit`. Returns how long it waited.
    pub async fn wait_ready(&self, limit: std::time::Duration) -> Result<std::time::Duration, ApplyError> {
        let started = std::time::Instant::now();
        loop {
            let mut pending = Vec::new();
            for (node, nl) in &self.nodes.netlink {
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
        for (node, ns) in &self.nodes.namespaces {
            if ours.contains(&ns.path.as_path()) && !ns.still_at_path() {
                changes.push(format!("namespace {} ({node}) was deleted while the lab was in use", ns.name));
            }
        }
        for (name, c) in &self.nodes.containers {
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
        if let Some(engine) = &self.engine.running {
            if engine.daemon.as_ref().is_some_and(|d| !d.alive()) {
                changes.push("server1's Docker engine exited while the lab was in use".into());
            } else if !docker::answers(&engine.docker, std::time::Duration::from_secs(2)).await {
                // A stopping engine closes its API first (and stops the containers after their grace period).
                changes.push("server1's Docker engine stopped answering while the lab was in use".into());
            }
        }
        changes
    }

    /// Reads back every node's addresses and every Docker network's subnet.
    pub async fn inventory(&self) -> Result<Inventory, ApplyError> {
        let mut inv = Inventory::default();
        for node in self.nodes() {
            let Some(nl) = Nodes::netlink(self, &node) else { continue };
            let mut ifaces: Vec<Iface> =
                nl.addresses().await?.into_iter().map(|(name, cidr)| Iface { name, cidr }).collect();
            if self.engine.mode == EngineMode::System
                && Nodes::namespace(self, &node).is_some_and(|ns| ns.is_machine_root().unwrap_or(true))
            {
                // The machine's own addresses are not the lab's: only its Docker bridges are.
                ifaces.retain(|i| docker_bridge(&i.name));
            }
            inv.nodes.insert(node, ifaces);
        }
        if let Some(docker) = self.docker() {
            inv.networks.extend(docker::subnets(docker).await?);
        }
        Ok(inv)
    }

    /// Grading: the namespace of `node` exists already (`source`, owned by the sandbox's user namespace); the
    /// plan's step that would create it names this one instead (and ledgers it as usual).
    pub fn provide_namespace(&mut self, node: &str, source: std::fs::File) {
        self.nodes.provided.insert(node.to_string(), source);
    }

    /// Grading: the private engine starts confined (its cgroup, a bounded data root).
    pub fn confine_engine(&mut self, confine: daemon::Confine) {
        self.engine.confine = confine;
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

    /// Records the suite file the lab is built from and the digest of its text (`reachlab up`), so
    /// [`LiveLab::reopen`] can find it and tell whether it changed.
    pub fn record_source(&mut self, file: &Path, sha256: &str) -> std::io::Result<()> {
        self.ledger.set_source(file, sha256)
    }

    /// Leaves the lab standing (for `reachlab up`) and returns its record.
    pub fn keep(mut self) -> std::io::Result<Record> {
        self.ledger.keep()?;
        self.done = true;
        // The engine process outlives us; `down` removes it through the ledger.
        self.engine.forget();
        Ok(self.ledger.record_ref().clone())
    }

    /// Removes everything the lab made; on success the ledger file goes too.
    pub fn teardown(mut self) -> Vec<TeardownError> {
        self.done = true;
        self.remove()
    }

    /// [`LiveLab::teardown`] on a blocking thread: removal waits on the kernel and on processes to die (an
    /// engine's purge polls until its mounts let go), which must not stall an async worker.
    pub async fn teardown_blocking(self) -> Vec<TeardownError> {
        // Counted until it ends, even if this future is dropped (an interrupt): the command line waits for it
        // before saying whether the lab is gone.
        let running = super::inflight::TEARDOWNS.enter();
        match tokio::task::spawn_blocking(move || {
            let _running = running;
            self.teardown()
        })
        .await
        {
            Ok(errors) => errors,
            Err(e) => vec![TeardownError { what: "the lab".into(), source: std::io::Error::other(e.to_string()) }],
        }
    }

    fn remove(&mut self) -> Vec<TeardownError> {
        // A namespace still being made on a blocking thread (the build was interrupted) is in the ledger
        // already; wait until it exists, so the walk below removes it.
        super::inflight::CREATIONS.wait_idle(std::time::Duration::from_secs(30));
        self.engine.stop();
        // Close our sockets first so the namespaces can go as soon as their mounts do.
        self.nodes.close();
        let errors = teardown(self.ledger.record_ref());
        if errors.is_empty() {
            super::ledger::remove(self.ledger.path());
        }
        errors
    }
}

impl Drop for LiveLab {
    fn drop(&mut self) {
        if !self.done {
            for e in self.remove() {
                eprintln!("reachlab: teardown: {e}");
            }
        }
    }
}

impl Topology for LiveLab {
    async fn apply_namespaces(&mut self, nodes: &[String]) -> Result<(), ApplyError> {
        let run = Run { id: &self.run_id, suite: &self.suite };
        apply::apply_namespaces(&mut self.ledger, &mut self.nodes, run, nodes).await
    }

    async fn apply(&mut self, step: &Step) -> Result<(), ApplyError> {
        let run = Run { id: &self.run_id, suite: &self.suite };
        let note = apply::apply(&mut self.ledger, &mut self.nodes, &mut self.engine, run, step).await?;
        if let Step::SwitchPolicy { mac_of: (_, nic), .. } = step {
            self.lan_nic = Some(nic.clone());
        }
        self.notes.extend(note);
        Ok(())
    }
}

impl Nodes for LiveLab {
    fn mode(&self) -> EngineMode {
        self.engine.mode
    }

    fn namespace(&self, node: &str) -> Option<&Netns> {
        if let Some(ns) = self.nodes.namespaces.get(node) {
            return Some(ns);
        }
        if self.engine.is_host_mode(node) {
            return self.nodes.namespaces.get(Lab::SERVER1);
        }
        self.nodes.containers.get(node).map(|c| &c.netns)
    }

    fn netlink(&self, node: &str) -> Option<&Netlink> {
        if let Some(nl) = self.nodes.netlink.get(node) {
            return Some(nl);
        }
        self.engine.is_host_mode(node).then(|| self.nodes.netlink.get(Lab::SERVER1)).flatten()
    }

    fn container_pid(&self, node: &str) -> Option<u32> {
        self.nodes.containers.get(node).map(|c| c.pid).or_else(|| self.engine.host_pid(node))
    }

    async fn flush_neighbours(&self) -> Result<(), String> {
        for nl in self.nodes.netlink.values() {
            nl.flush_neighbours().await.map_err(|e| e.to_string())?;
        }
        Ok(())
    }
}
