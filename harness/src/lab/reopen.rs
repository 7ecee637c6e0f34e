//! Reopening a standing lab (`reachlab probe`, `reachlab exec`): this only opens what a ledger names and never
//! creates or removes anything.

use super::engine_side::Running;
use super::ledger::{Entry, Ledger};
use super::live::LiveLab;
use super::ops::{KernelOps, Started};
use super::ApplyError;
use crate::engine::{docker, EngineMode};
use crate::suite::{Attachment, Suite};
use std::path::Path;

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

impl LiveLab {
    /// Takes up a lab left standing by `reachlab up` (its ledger at `ledger_path`): opens the namespaces of
    /// `suite` and, if it has containers, the private engine and its containers, exactly as the ledger names
    /// them. Creates nothing; dropping the returned lab removes nothing (only an explicit
    /// [`LiveLab::teardown`] would).
    pub async fn reopen(state_dir: &Path, ledger_path: &Path, suite: &Suite) -> Result<LiveLab, ReopenError> {
        let ledger = Ledger::reopen(ledger_path)
            .map_err(|source| ApplyError::Io { op: format!("read the ledger {}", ledger_path.display()), source })?;
        let record = ledger.record_ref().clone();
        let mut lab = LiveLab::with_ledger(ledger, EngineMode::Private, state_dir, &record.run_id, &suite.name);
        lab.lan_nic = suite.lab.as_ref().map(|l| l.nic.clone());
        lab.notes.push(format!("probed the standing lab {} (built by `reachlab up`)", record.run_id));
        // Never torn down on drop: the lab stays standing for `reachlab down`.
        lab.done = true;
        for ns in &suite.namespaces {
            let kname = crate::lab::apply::kernel_name(&record.run_id, &ns.name);
            let path = record
                .entries
                .iter()
                .find_map(|e| match e {
                    Entry::Namespace { name, path } if *name == kname => Some(path.clone()),
                    _ => None,
                })
                .ok_or_else(|| ReopenError::Mismatch(format!("its ledger names no namespace {kname}")))?;
            lab.nodes.open_namespace(&ns.name, &kname, &path).await?;
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
            let mut engine = Running::reopen(dir.join("docker.sock")).await?;
            engine.host_mode =
                suite.containers.iter().filter(|c| c.attachment == Attachment::Host).map(|c| c.name.clone()).collect();
            let docker = engine.docker.clone();
            lab.engine.running = Some(engine);
            for c in suite.containers.iter().filter(|c| c.attachment != Attachment::Host) {
                let running = docker::running(&docker, &c.name).await.map_err(ApplyError::from)?;
                let started = Started::new(&c.name, running);
                // Their settings were given at `up`; what was changed since (by `exec`, say) is the lab now.
                lab.nodes.add_container(&started, false).await?;
            }
        }
        Ok(lab)
    }
}
