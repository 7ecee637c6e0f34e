//! Teardown: walk a ledger in reverse, treat "already gone" as success, keep going past errors and report all.
//! Synchronous on purpose: it runs from `Drop` (Ctrl-C, panic) as well as from `reachlab clean`.

use super::ledger::{Entry, Record};
use crate::engine::daemon;
use crate::kernel::netns;
use std::path::Path;

/// A resource that could not be removed.
#[derive(Debug, thiserror::Error)]
#[error("failed to remove {what}: {source}")]
pub struct TeardownError {
    /// The resource.
    pub what: String,
    /// Why.
    #[source]
    pub source: std::io::Error,
}

/// How each kind of resource is removed. The machine is the real one; tests record, and fail on purpose.
pub trait Remove {
    /// Unmounts and removes a named namespace (already gone is success).
    fn namespace(&mut self, path: &Path) -> std::io::Result<()>;
    /// Removes a directory of ours, whole (already gone is success).
    fn directory(&mut self, path: &Path) -> std::io::Result<()>;
    /// Kills everything in a cgroup of ours and removes it, in every hierarchy.
    fn cgroup(&mut self, name: &str) -> Vec<std::io::Error>;
    /// Stops what is left of a private engine and removes its directory.
    fn engine(&mut self, dir: &Path, cgroup: &str) -> Vec<std::io::Error>;
    /// Removes an object of ours from the machine's engine, after checking it carries the run's label.
    fn system_object(&mut self, socket: &Path, kind: &str, name: &str, run_id: &str) -> std::io::Result<()>;
}

/// The real machine.
pub struct Machine;

impl Remove for Machine {
    fn namespace(&mut self, path: &Path) -> std::io::Result<()> {
        netns::remove(path)
    }
    fn directory(&mut self, path: &Path) -> std::io::Result<()> {
        match std::fs::remove_dir_all(path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
    fn cgroup(&mut self, name: &str) -> Vec<std::io::Error> {
        crate::kernel::cgroup::kill_tree(name);
        crate::kernel::cgroup::remove(name)
    }
    fn engine(&mut self, dir: &Path, cgroup: &str) -> Vec<std::io::Error> {
        daemon::purge(dir, cgroup)
    }
    fn system_object(&mut self, socket: &Path, kind: &str, name: &str, run_id: &str) -> std::io::Result<()> {
        crate::engine::docker::remove_owned(socket, kind, name, run_id)
    }
}

/// Removes everything in `record`, newest first. Links inside a namespace the ledger also holds go with that
/// namespace (deleting a namespace deletes its links, and a veth's peer with it), and Docker objects go with
/// their private engine, so only engines and namespaces are removed explicitly; anything whose owner the
/// ledger does not hold is reported, never guessed at.
pub fn teardown(record: &Record) -> Vec<TeardownError> {
    teardown_with(record, &mut Machine)
}

/// [`teardown`] through `remove`.
pub fn teardown_with(record: &Record, remove: &mut impl Remove) -> Vec<TeardownError> {
    let mut errors = Vec::new();
    let namespaces: Vec<&Path> = record
        .entries
        .iter()
        .filter_map(|e| match e {
            Entry::Namespace { path, .. } => Some(path.as_path()),
            _ => None,
        })
        .collect();
    for entry in record.entries.iter().rev() {
        match entry {
            Entry::Namespace { name, path } => {
                if let Err(source) = remove.namespace(path) {
                    errors.push(TeardownError { what: format!("namespace {name}"), source });
                }
            }
            Entry::ScratchDir { path } => {
                if let Err(source) = remove.directory(path) {
                    errors.push(TeardownError { what: format!("directory {}", path.display()), source })
                }
            }
            Entry::Cgroup { name } => {
                for source in remove.cgroup(name) {
                    errors.push(TeardownError { what: format!("cgroup {name}"), source });
                }
            }
            Entry::Engine { dir, cgroup } => {
                for source in remove.engine(dir, cgroup) {
                    errors.push(TeardownError { what: format!("engine {}", dir.display()), source });
                }
            }
            Entry::SystemObject { socket, kind, name, run_id } => {
                if let Err(source) = remove.system_object(socket, kind, name, run_id) {
                    errors.push(TeardownError { what: format!("{kind} {name} in the machine's engine"), source });
                }
            }
            Entry::DockerObject { engine_dir, kind, name } => {
                let engine_held =
                    record.entries.iter().any(|e| matches!(e, Entry::Engine { dir, .. } if dir == engine_dir));
                if !engine_held {
                    errors.push(TeardownError {
                        what: format!("{kind} {name}"),
                        source: std::io::Error::other(
                            "its engine is not in the ledger; remove it with `docker rm`/`docker network rm`",
                        ),
                    });
                }
            }
            Entry::Link { netns_path, name } => {
                if !namespaces.contains(&netns_path.as_path()) {
                    errors.push(TeardownError {
                        what: format!("link {name} in {}", netns_path.display()),
                        source: std::io::Error::other(
                            "its namespace is not in the ledger; remove it by hand with `ip link del`",
                        ),
                    });
                }
            }
        }
    }
    errors
}
