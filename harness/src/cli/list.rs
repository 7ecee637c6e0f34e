//! `reachlab list`: suites and checks, without building anything.

use super::{exit, load_all, CliError};
use crate::kernel::features::{Decision, Features};
use crate::plan;
use crate::runner::{decide, needed};
use serde::Serialize;
use std::path::PathBuf;

/// Arguments of `reachlab doctor`.
#[derive(clap::Args)]
pub struct Paths {
    /// Suite files or directories of suites.
    #[arg(default_value = "test-suites")]
    pub paths: Vec<PathBuf>,
}

/// Arguments of `reachlab list`.
#[derive(clap::Args)]
pub struct Args {
    /// Suite files or directories of suites.
    #[arg(default_value = "test-suites")]
    pub paths: Vec<PathBuf>,
    /// Print the list as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Only the checks these patterns select, as `run --filter` (repeatable).
    #[arg(long, value_name = "PATTERN")]
    pub filter: Vec<String>,
}

/// A suite as `list --json` shows it.
#[derive(Debug, Serialize)]
pub struct ListedSuite {
    /// Suite name.
    pub name: String,
    /// Suite file.
    pub file: String,
    /// `runs`, `skipped` or `error`: what `run` would do on this machine.
    pub status: &'static str,
    /// Why it would be skipped or cannot be decided.
    pub reason: Option<String>,
    /// Its checks, in run order.
    pub checks: Vec<ListedCheck>,
}

/// A check as `list --json` shows it.
#[derive(Debug, Serialize)]
pub struct ListedCheck {
    /// e.g. `icmp space1 -> space2`.
    pub name: String,
    /// `icmp`, `udp`, `tcp`, `capture`, `rule`.
    pub kind: String,
    /// Source node.
    pub from: String,
    /// Destination as written.
    pub to: String,
    /// Address to probe, when known before running (null: found at run time).
    pub target: Option<String>,
    /// What the suite expects, in the report's words.
    pub expected: String,
    /// The matrix it belongs to.
    pub matrix: Option<String>,
}

pub fn list(args: Args) -> Result<i32, CliError> {
    let filter = crate::select::Filter::parse(&args.filter).map_err(CliError::Usage)?;
    let suites = load_all(&args.paths)?;
    let features = Features::detect_for(needed(&suites));
    let mut listed = Vec::new();
    for s in &suites {
        let plan = plan::resolve(s);
        let (status, reason) = match decide(&plan, &features) {
            Decision::Skip(why) => ("skipped", Some(why)),
            Decision::Error(why) => ("error", Some(why)),
            Decision::Run => ("runs", None),
        };
        let checks: Vec<ListedCheck> = plan
            .checks
            .iter()
            .filter(|c| filter.selects(s, c))
            .map(|c| ListedCheck {
                name: c.name.clone(),
                kind: c.kind.as_str().into(),
                from: c.from.clone(),
                to: c.to.clone(),
                target: c.target.map(|t| t.to_string()),
                expected: c.expected.label.clone(),
                matrix: c.cell.map(|cell| s.matrices[cell.matrix].name.clone()),
            })
            .collect();
        if !filter.is_empty() && checks.is_empty() {
            continue;
        }
        listed.push(ListedSuite { name: s.name.clone(), file: s.file.clone(), status, reason, checks });
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&listed).expect("list serializes"));
        return Ok(exit::PASS);
    }
    for s in &listed {
        let status = match (&s.reason, s.status) {
            (Some(why), st) => format!("{st}: {why}"),
            (None, st) => st.to_string(),
        };
        println!("{}  {}  ({} checks; {status})", s.name, s.file, s.checks.len());
        for c in &s.checks {
            let target = c.target.clone().unwrap_or_else(|| "address found at run time".to_string());
            println!("    {}  [{target}, expect {}]", c.name, c.expected);
        }
    }
    Ok(exit::PASS)
}
