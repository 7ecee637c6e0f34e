//! `reachlab status`: the labs standing on this machine, from the ledgers in the state directory — those left by
//! `up` (with the commands to use them), runs still going, and what stopped runs left for `clean`.

use super::{exit, CliError};
use crate::lab::ledger::{owner_alive, Entry, Ledger, Record};
use serde::Serialize;
use std::path::Path;

/// Arguments of `reachlab status`.
#[derive(clap::Args)]
pub struct Args {
    /// Print the labs as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

/// One lab as `status` shows it.
#[derive(Debug, Serialize, PartialEq)]
pub struct Standing {
    /// Run id.
    pub run_id: String,
    /// Suite name.
    pub suite: String,
    /// The suite file it was built from, when `up` recorded it.
    pub suite_file: Option<String>,
    /// `up` (left standing by `reachlab up`), `running` (its run is still going) or `left` (its run stopped
    /// without tearing down: `reachlab clean` removes it).
    pub state: &'static str,
    /// Nodes: its namespaces (by the suite's names) and its containers.
    pub nodes: Vec<String>,
    /// Seconds since its ledger was last written (for a lab left by `up`: since it was up).
    pub age_s: Option<u64>,
}

/// What `record` holds, as `status` shows it.
pub fn standing(record: &Record, age_s: Option<u64>, owner_alive: bool) -> Standing {
    let prefix = format!("rl-{}-", record.run_id);
    let mut nodes: Vec<String> = record
        .entries
        .iter()
        .filter_map(|e| match e {
            Entry::Namespace { name, .. } => Some(name.strip_prefix(&prefix).unwrap_or(name).to_string()),
            Entry::DockerObject { kind, name, .. } | Entry::SystemObject { kind, name, .. } if kind == "container" => {
                Some(name.clone())
            }
            _ => None,
        })
        .collect();
    nodes.dedup();
    let state = match (record.kept, owner_alive) {
        (true, _) => "up",
        (false, true) => "running",
        (false, false) => "left",
    };
    Standing {
        run_id: record.run_id.clone(),
        suite: record.suite.clone(),
        suite_file: record.suite_file.as_ref().map(|f| f.display().to_string()),
        state,
        nodes,
        age_s,
    }
}

/// `1h 02m`, `3m 05s`, `12s`.
pub fn age(secs: u64) -> String {
    match secs {
        s if s >= 86_400 => format!("{}d {:02}h", s / 86_400, s % 86_400 / 3600),
        s if s >= 3600 => format!("{}h {:02}m", s / 3600, s % 3600 / 60),
        s if s >= 60 => format!("{}m {:02}s", s / 60, s % 60),
        s => format!("{s}s"),
    }
}

pub fn status(args: Args, state_dir: &Path) -> Result<i32, CliError> {
    let mut labs = Vec::new();
    for path in super::up::ledger_files(state_dir) {
        let Ok(record) = Ledger::read(&path) else { continue };
        let age_s = std::fs::metadata(&path)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .map(|d| d.as_secs());
        labs.push(standing(&record, age_s, owner_alive(&record)));
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&labs).expect("status serializes"));
        return Ok(exit::PASS);
    }
    if labs.is_empty() {
        println!("no labs under {}", state_dir.display());
        return Ok(exit::PASS);
    }
    println!("{:<8} {:<24} {:<8} {:>8}  nodes", "run id", "suite", "state", "age");
    for l in &labs {
        let age = l.age_s.map_or_else(|| "?".into(), age);
        println!("{:<8} {:<24} {:<8} {:>8}  {}", l.run_id, l.suite, l.state, age, l.nodes.join(" "));
    }
    let me = super::up::invocation(state_dir);
    if labs.iter().any(|l| l.state == "up") {
        println!("enter a node:   {me} exec RUN_ID NODE");
        println!("probe it again: {me} probe RUN_ID");
        println!("remove it:      {me} down RUN_ID");
    }
    if labs.iter().any(|l| l.state == "left") {
        println!("labs marked `left` belong to runs that stopped without tearing down: {me} clean");
    }
    Ok(exit::PASS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn a_ledger_shows_its_nodes_by_the_suites_names() {
        let record = Record {
            run_id: "abc123".into(),
            suite: "test1".into(),
            pid: 1,
            pid_start: 0,
            kept: true,
            suite_file: Some(PathBuf::from("/x/test1.toml")),
            suite_sha256: None,
            entries: vec![
                Entry::Namespace { name: "rl-abc123-server1".into(), path: "/run/netns/rl-abc123-server1".into() },
                Entry::Link { netns_path: "/run/netns/rl-abc123-server1".into(), name: "enp0s3".into() },
                Entry::Engine { dir: "/run/reachlab/engines/abc123".into(), cgroup: "reachlab-abc123".into() },
                Entry::DockerObject {
                    engine_dir: "/run/reachlab/engines/abc123".into(),
                    kind: "network".into(),
                    name: "alpine-net".into(),
                },
                Entry::DockerObject {
                    engine_dir: "/run/reachlab/engines/abc123".into(),
                    kind: "container".into(),
                    name: "alpine1".into(),
                },
            ],
        };
        let s = standing(&record, Some(65), false);
        assert_eq!((s.state, s.nodes.clone()), ("up", vec!["server1".to_string(), "alpine1".to_string()]));
        assert_eq!(standing(&Record { kept: false, ..record.clone() }, None, false).state, "left");
        assert_eq!(standing(&Record { kept: false, ..record }, None, true).state, "running");
        assert_eq!((age(65), age(3725), age(5)), ("1m 05s".to_string(), "1h 02m".to_string(), "5s".to_string()));
    }
}
