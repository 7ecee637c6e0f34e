//! Grading takes in what a submission built: its namespaces (opened where the sandbox says they are) and its
//! containers in the lab's engine, so the suite's probes reach them as if reachlab had built them. Not
//! ledgered: they live and die with the submission's sandbox.

use crate::engine::docker;
use crate::lab::live::LiveLab;
use crate::lab::ops::{KernelOps, Started};
use crate::lab::ApplyError;
use std::path::Path;

/// Takes in a namespace the submission made (`path` is where it can be opened).
pub async fn namespace(lab: &mut LiveLab, name: &str, path: &Path) -> Result<(), ApplyError> {
    lab.handles_mut().open_namespace(name, name, path).await
}

/// Takes in a container the submission made in the lab's engine; `false` when there is no running container of
/// that name.
pub async fn container(lab: &mut LiveLab, name: &str) -> Result<bool, ApplyError> {
    let docker = lab.engine_mut().running()?.docker.clone();
    // One inspection: whether it runs, its first process, its network mode and its own settings.
    let Ok(running) = docker::running(&docker, name).await else { return Ok(false) };
    let started = Started::new(name, running);
    if started.host {
        lab.engine_mut().add_host_container(name, Some(started.pid))?;
        return Ok(true);
    }
    let private = lab.engine_mut().mode == crate::engine::EngineMode::Private;
    lab.handles_mut().add_container(&started, private).await?;
    Ok(true)
}
