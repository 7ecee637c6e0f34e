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

/// Removes everything in `record`, newest first. Links inside a namespace the ledger also holds go with that
/// namespace (deleting a namespace deletes its links, and a veth's peer with it), and Docker objects go with
/// their private engine, so only engines and namespaces are removed explicitly; anything whose owner the
/// ledger does not hold is reported, never guessed at.
pub fn teardown(record: &Record) -> Vec<TeardownError> {
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
                if let Err(source) = netns::remove(path) {
                    errors.push(TeardownError { what: format!("namespace {name}"), source });
                }
            }
            Entry::ScratchDir { path } => match std::fs::remove_dir_all(path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    errors.push(TeardownError { what: format!("directory {}", path.display()), source: e })
                }
                _ => {}
            },
            Entry::Cgroup { name } => {
                crate::kernel::cgroup::kill_tree(name);
                for source in crate::kernel::cgroup::remove(name) {
                    errors.push(TeardownError { what: format!("cgroup {name}"), source });
                }
            }
            Entry::Engine { dir, cgroup } => {
                for source in daemon::purge(dir, cgroup) {
                    errors.push(TeardownError { what: format!("engine {}", dir.display()), source });
                }
            }
            Entry::SystemObject { socket, kind, name, run_id } => {
                if let Err(source) = crate::engine::docker::remove_owned(socket, kind, name, run_id) {
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
