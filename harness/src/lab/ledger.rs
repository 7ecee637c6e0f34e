//! The ledger: every resource a run creates is recorded (and persisted under the state directory) *before* it is
//! created, so teardown — in this process, or `reachlab clean` after a SIGKILL — finds it.

use serde::{Deserialize, Serialize};
use std::io;
use std::path::{Path, PathBuf};

/// One created resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "resource", rename_all = "snake_case")]
pub enum Entry {
    /// A named network namespace (its mount point).
    Namespace {
        /// Kernel-visible name.
        name: String,
        /// Mount point under /run/netns.
        path: PathBuf,
    },
    /// A link inside a namespace (removed with it, or explicitly).
    Link {
        /// The namespace's mount point.
        netns_path: PathBuf,
        /// Interface name.
        name: String,
    },
    /// A scratch directory of ours (a grading sandbox's working copy), removed whole.
    ScratchDir {
        /// The directory.
        path: PathBuf,
    },
    /// A grading lab's cgroup (every hierarchy): everything in it is killed, then it is removed.
    Cgroup {
        /// Its name under each hierarchy.
        name: String,
    },
    /// A private Docker engine: its directory and cgroup parent.
    Engine {
        /// Data root, exec root, socket and pidfiles live here.
        dir: PathBuf,
        /// Cgroup parent of its containers.
        cgroup: String,
    },
    /// A network, container or image reachlab made in the machine's own engine (`--engine system`); removed by
    /// name after checking it carries this run's label.
    SystemObject {
        /// The engine's API socket.
        socket: PathBuf,
        /// `network`, `container`, `image`.
        kind: String,
        /// Its name.
        name: String,
        /// The run whose label it must carry.
        run_id: String,
    },
    /// A network, container or image inside a private engine (removed with the engine).
    DockerObject {
        /// The engine's directory.
        engine_dir: PathBuf,
        /// `network`, `container`, `image`.
        kind: String,
        /// Its name.
        name: String,
    },
}

/// The persisted ledger of one run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    /// Run id (also in every kernel name the run makes).
    pub run_id: String,
    /// Suite name.
    pub suite: String,
    /// Owning process, and its start time (PIDs are reused).
    pub pid: u32,
    /// Start time of `pid` in clock ticks since boot (field 22 of /proc/PID/stat).
    pub pid_start: u64,
    /// Left standing on purpose (`reachlab up`).
    pub kept: bool,
    /// The suite file the lab was built from (absolute), recorded by `reachlab up` so `reachlab probe` can
    /// reload it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suite_file: Option<PathBuf>,
    /// SHA-256 (hex) of that file's text when the lab was built: `probe` refuses a suite that changed since.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suite_sha256: Option<String>,
    /// Resources, in creation order.
    pub entries: Vec<Entry>,
}

/// A ledger being written by this process.
#[derive(Debug)]
pub struct Ledger {
    path: PathBuf,
    record: Record,
}

/// Start time of a process, to tell a live owner from a reused PID.
pub fn process_start(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces; fields resume after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// The directory holding ledgers under a state directory.
pub fn runs_dir(state_dir: &Path) -> PathBuf {
    state_dir.join("runs")
}

impl Ledger {
    /// Starts a ledger for a new run and persists it.
    pub fn create(state_dir: &Path, run_id: &str, suite: &str) -> io::Result<Ledger> {
        let dir = runs_dir(state_dir);
        std::fs::create_dir_all(&dir)?;
        let pid = std::process::id();
        let record = Record {
            run_id: run_id.into(),
            suite: suite.into(),
            pid,
            pid_start: process_start(pid).unwrap_or(0),
            kept: false,
            suite_file: None,
            suite_sha256: None,
            entries: Vec::new(),
        };
        let ledger = Ledger { path: dir.join(format!("{run_id}.json")), record };
        ledger.persist()?;
        Ok(ledger)
    }

    /// Reads a persisted ledger.
    pub fn read(path: &Path) -> io::Result<Record> {
        let text = std::fs::read_to_string(path)?;
        serde_json::from_str(&text)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("{}: {e}", path.display())))
    }

    fn persist(&self) -> io::Result<()> {
        let tmp = temporary(&self.path);
        std::fs::write(&tmp, serde_json::to_vec_pretty(&self.record)?)?;
        crate::files::replace(&tmp, &self.path)
    }

    /// Records a resource about to be created.
    pub fn record(&mut self, entry: Entry) -> io::Result<()> {
        self.record.entries.push(entry);
        self.persist()
    }

    /// Records which suite file (and which text of it, as [`suite_digest`]) the lab is built from.
    pub fn set_source(&mut self, file: &Path, sha256: &str) -> io::Result<()> {
        self.record.suite_file = Some(file.to_path_buf());
        self.record.suite_sha256 = Some(sha256.to_string());
        self.persist()
    }

    /// Takes up the persisted ledger of a standing lab (`reachlab probe`) without writing it.
    pub fn reopen(path: &Path) -> io::Result<Ledger> {
        Ok(Ledger { path: path.to_path_buf(), record: Ledger::read(path)? })
    }

    /// Marks the run as kept (exploring with `reachlab up`).
    pub fn keep(&mut self) -> io::Result<()> {
        self.record.kept = true;
        self.persist()
    }

    /// The record.
    pub fn record_ref(&self) -> &Record {
        &self.record
    }

    /// Where it is persisted.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Where a ledger's next version is written before it takes the ledger's place.
fn temporary(ledger: &Path) -> PathBuf {
    ledger.with_extension("json.tmp")
}

/// Removes a persisted ledger (its resources are gone), and a next version of it that a crash left behind.
pub fn remove(ledger: &Path) {
    let _ = std::fs::remove_file(temporary(ledger));
    let _ = std::fs::remove_file(ledger);
}

/// Whether the process that wrote `record` is still running.
pub fn owner_alive(record: &Record) -> bool {
    process_start(record.pid).is_some_and(|start| start == record.pid_start)
}

/// The digest of a suite's text recorded in [`Record::suite_sha256`].
pub fn suite_digest(text: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(text.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// Ledgers this very process wrote that are still on disk and not kept on purpose: what its teardowns did not
/// finish (a finished teardown removes its ledger). Read from the ledgers themselves, so what is reported
/// as left is what `reachlab clean` would find.
pub fn left_by_this_process(state_dir: &Path) -> Vec<Record> {
    let me = std::process::id();
    let start = process_start(me).unwrap_or(0);
    let mut left: Vec<Record> = std::fs::read_dir(runs_dir(state_dir))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .filter_map(|p| Ledger::read(&p).ok())
        .filter(|r| r.pid == me && r.pid_start == start && !r.kept)
        .collect();
    left.sort_by(|a, b| a.run_id.cmp(&b.run_id));
    left
}

/// One line per resource of `record` that still exists (namespaces, engines and directories are looked at;
/// what cannot be looked at cheaply is listed), for telling a user what is left.
pub fn describe_left(record: &Record) -> Vec<String> {
    let engines: Vec<&Path> = record
        .entries
        .iter()
        .filter_map(|e| match e {
            Entry::Engine { dir, .. } => Some(dir.as_path()),
            _ => None,
        })
        .collect();
    record
        .entries
        .iter()
        .filter_map(|e| match e {
            Entry::Namespace { name, path } => path.exists().then(|| format!("namespace {name}")),
            Entry::Link { name, netns_path } => {
                netns_path.exists().then(|| format!("link {name} in {}", netns_path.display()))
            }
            Entry::ScratchDir { path } => path.exists().then(|| format!("directory {}", path.display())),
            Entry::Cgroup { name } => (!crate::kernel::cgroup::dirs(name).is_empty()).then(|| format!("cgroup {name}")),
            Entry::Engine { dir, cgroup } => {
                dir.exists().then(|| format!("private engine {} (cgroup {cgroup})", dir.display()))
            }
            Entry::SystemObject { kind, name, .. } => Some(format!("{kind} {name} in the machine's engine")),
            Entry::DockerObject { kind, name, engine_dir } => (!engines.contains(&engine_dir.as_path())
                || engine_dir.exists())
            .then(|| format!("{kind} {name} in the private engine")),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_this_process_left_is_read_from_its_ledgers() {
        let dir = tempfile::tempdir().unwrap();
        let mut unfinished = Ledger::create(dir.path(), "aaaaaa", "s").unwrap();
        let gone = dir.path().join("gone");
        unfinished.record(Entry::Namespace { name: "rl-aaaaaa-x".into(), path: gone }).unwrap();
        unfinished.record(Entry::ScratchDir { path: dir.path().to_path_buf() }).unwrap();
        let mut kept = Ledger::create(dir.path(), "bbbbbb", "s").unwrap();
        kept.keep().unwrap();
        let left = left_by_this_process(dir.path());
        assert_eq!(left.iter().map(|r| r.run_id.as_str()).collect::<Vec<_>>(), ["aaaaaa"]);
        // The namespace is gone already; the directory is still there.
        assert_eq!(describe_left(&left[0]), [format!("directory {}", dir.path().display())]);
    }

    #[test]
    fn each_record_replaces_the_ledger_whole_and_removing_it_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut ledger = Ledger::create(dir.path(), "cccccc", "s").unwrap();
        for k in 0..3 {
            ledger.record(Entry::Cgroup { name: format!("g{k}") }).unwrap();
            assert_eq!(Ledger::read(ledger.path()).unwrap().entries.len(), k + 1);
        }
        let files = || std::fs::read_dir(runs_dir(dir.path())).unwrap().count();
        assert_eq!(files(), 1, "only the ledger: its next versions took its place");
        std::fs::write(temporary(ledger.path()), "a next version a crash left").unwrap();
        remove(ledger.path());
        assert_eq!(files(), 0);
    }
}
