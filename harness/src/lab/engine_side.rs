//! The engine side of a real lab ([`EngineOps`]): a private dockerd started in server1's namespace, or the
//! machine's own engine with `--engine system`. Every Engine API call goes through `crate::engine`.

use super::ledger::Entry;
use super::ops::{EngineOps, Started};
use super::ApplyError;
use crate::engine::daemon::{self, Daemon};
use crate::engine::{docker, image, EngineError, EngineMode};
use crate::kernel::netns::Netns;
use crate::suite::{Attachment, Container, Network};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

fn not_started() -> ApplyError {
    ApplyError::Io { op: "use the engine".into(), source: std::io::Error::other("it was not started") }
}

/// A started engine.
pub struct Running {
    /// The private engine; `None` when driving the machine's own engine (`--engine system`), or a standing
    /// lab's engine reopened by `reachlab probe` (which outlives us).
    pub daemon: Option<Daemon>,
    /// Where the engine's API answers.
    pub socket: PathBuf,
    /// Its API.
    pub docker: bollard::Docker,
    /// The machine's engine, read only (images are copied from it).
    pub machine: Option<bollard::Docker>,
    /// Containers that share server1's network stack.
    pub host_mode: Vec<String>,
    /// Their first processes (a host-network container has no namespace of its own, but its processes are
    /// still its own: a socket server1's table shows is the container's only if one of them holds it).
    pub host_pids: BTreeMap<String, u32>,
}

impl Running {
    /// An engine that is already running at `socket` (a standing lab's), checked to answer.
    pub async fn reopen(socket: PathBuf) -> Result<Running, ApplyError> {
        let docker = docker::connect(&socket)?;
        docker::ping(&docker, &socket).await?;
        Ok(Running { daemon: None, socket, docker, machine: None, host_mode: Vec::new(), host_pids: BTreeMap::new() })
    }
}

/// The lab's engine, before and after it starts.
pub struct EngineSide {
    /// Which engine.
    pub mode: EngineMode,
    state_dir: PathBuf,
    run_id: String,
    /// How a grading lab's engine is confined.
    pub confine: daemon::Confine,
    /// The engine, once started.
    pub running: Option<Running>,
}

impl EngineSide {
    /// A lab's engine, not started yet: its directory goes under `state_dir`.
    pub fn new(mode: EngineMode, state_dir: &Path, run_id: &str) -> EngineSide {
        EngineSide {
            mode,
            state_dir: state_dir.into(),
            run_id: run_id.into(),
            confine: daemon::Confine::default(),
            running: None,
        }
    }

    /// The started engine.
    pub fn running(&self) -> Result<&Running, ApplyError> {
        self.running.as_ref().ok_or_else(not_started)
    }

    fn running_mut(&mut self) -> Result<&mut Running, ApplyError> {
        self.running.as_mut().ok_or_else(not_started)
    }

    /// Whether `node` is a container sharing server1's network stack.
    pub fn is_host_mode(&self, node: &str) -> bool {
        self.running.as_ref().is_some_and(|e| e.host_mode.iter().any(|c| c == node))
    }

    /// The first process of a host-network container.
    pub fn host_pid(&self, node: &str) -> Option<u32> {
        self.running.as_ref().and_then(|e| e.host_pids.get(node).copied())
    }

    /// Takes in a host-network container (its first process, when known).
    pub fn add_host_container(&mut self, name: &str, pid: Option<u32>) -> Result<(), ApplyError> {
        let e = self.running_mut()?;
        e.host_mode.push(name.into());
        e.host_pids.extend(pid.map(|p| (name.to_string(), p)));
        Ok(())
    }

    /// Stops a private engine's process (what it made goes with the ledger's engine entry).
    pub fn stop(&mut self) {
        if let Some(daemon) = self.running.take().and_then(|e| e.daemon) {
            daemon.stop();
        }
    }

    /// Leaves a private engine running (`reachlab up`): `down` removes it through the ledger.
    pub fn forget(&mut self) {
        if let Some(e) = self.running.take() {
            std::mem::forget(e.daemon);
        }
    }
}

impl EngineOps for EngineSide {
    fn private(&self) -> bool {
        self.mode == EngineMode::Private
    }

    fn start_entry(&self) -> Option<Entry> {
        self.private().then(|| Entry::Engine {
            dir: daemon::engine_dir(&self.state_dir, &self.run_id),
            cgroup: daemon::cgroup_name(&self.run_id),
        })
    }

    async fn start(&mut self, server1: &Netns) -> Result<String, ApplyError> {
        let (daemon, socket, docker, machine, note) = if self.mode == EngineMode::System {
            let docker = docker::machine_engine().await.ok_or_else(|| {
                EngineError::Start(
                    "--engine system: no Docker engine answers at DOCKER_HOST or /var/run/docker.sock".into(),
                )
            })?;
            let socket = docker::machine_socket();
            let note = format!("the machine's own Docker engine at {} (server1 is this machine)", socket.display());
            (None, socket, docker, None, note)
        } else {
            let dir = daemon::engine_dir(&self.state_dir, &self.run_id);
            let cgroup = daemon::cgroup_name(&self.run_id);
            // server1 starts from the kernel's defaults (forwarding off) like every namespace reachlab makes;
            // dockerd turns forwarding on (and sets FORWARD to DROP), as on a freshly booted VM.
            let daemon = Daemon::start_confined(server1, &dir, &cgroup, &self.confine).await?;
            let docker = docker::connect(&daemon.socket)?;
            let note = format!("private Docker engine in server1 ready in {:.2} s", daemon.ready_in.as_secs_f64());
            let machine = docker::machine_engine().await;
            let socket = daemon.socket.clone();
            (Some(daemon), socket, docker, machine, note)
        };
        self.running =
            Some(Running { daemon, socket, docker, machine, host_mode: Vec::new(), host_pids: BTreeMap::new() });
        Ok(note)
    }

    fn object_entry(&self, kind: &str, name: &str) -> Result<Entry, ApplyError> {
        let e = self.running()?;
        Ok(match &e.daemon {
            Some(d) => Entry::DockerObject { engine_dir: d.dir.clone(), kind: kind.into(), name: name.into() },
            None => Entry::SystemObject {
                socket: e.socket.clone(),
                kind: kind.into(),
                name: name.into(),
                run_id: self.run_id.clone(),
            },
        })
    }

    async fn name_taken(&self, kind: &str, name: &str) -> Result<bool, ApplyError> {
        Ok(docker::name_taken(&self.running()?.docker, kind, name).await)
    }

    async fn image_present(&self, image: &str) -> Result<bool, ApplyError> {
        Ok(docker::image_present(&self.running()?.docker, image).await)
    }

    async fn ensure_image(&mut self, name: &str) -> Result<String, ApplyError> {
        let e = self.running()?;
        let source = image::ensure(&e.docker, name, e.machine.as_ref(), &self.run_id).await?;
        Ok(source.describe(name))
    }

    async fn create_network(&mut self, network: &Network, labels: &HashMap<String, String>) -> Result<(), ApplyError> {
        Ok(docker::create_network(&self.running()?.docker, network, labels).await?)
    }

    async fn create_container(
        &mut self,
        container: &Container,
        labels: &HashMap<String, String>,
    ) -> Result<(), ApplyError> {
        docker::create_container(&self.running()?.docker, container, &container.image, labels).await?;
        if container.attachment == Attachment::Host {
            self.running_mut()?.host_mode.push(container.name.clone());
        }
        Ok(())
    }

    async fn connect(&mut self, container: &str, network: &str) -> Result<(), ApplyError> {
        Ok(docker::connect_network(&self.running()?.docker, container, network).await?)
    }

    async fn start_containers(&mut self, names: &[String]) -> Result<Vec<Started>, ApplyError> {
        let engine = self.running()?;
        let starts = names.iter().map(|n| docker::start(&engine.docker, n));
        for r in futures::future::join_all(starts).await {
            r?;
        }
        let mut started = Vec::new();
        for name in names {
            let s = Started::new(name, docker::running(&self.running()?.docker, name).await?);
            if s.host {
                self.running_mut()?.host_pids.insert(name.clone(), s.pid);
            }
            started.push(s);
        }
        Ok(started)
    }
}
