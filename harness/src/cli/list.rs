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

/// What a grading suite's checks are worth: each scored check that the empty submission passed (the kept
/// calibration, when there is one) "grades nothing"; `given` checks are shown, not scored.
pub(super) struct Calibrated {
    holes: Option<std::collections::BTreeSet<String>>,
}

impl Calibrated {
    pub(super) fn of(s: &crate::suite::Suite, state_dir: &std::path::Path) -> Option<Calibrated> {
        s.grading?;
        let version = crate::grade::submission::content_hash(std::path::Path::new(&s.file));
        let holes = crate::grade::calibrate::cached(state_dir, &version).map(|c| c.hole_set());
        Some(Calibrated { holes })
    }

    pub(super) fn header(&self) -> String {
        match &self.holes {
            None => "    calibration: not run yet for this version of the suite (`reachlab doctor SUITE` grades the empty submission)".into(),
            Some(h) if h.is_empty() => "    calibration: the empty submission scores 0: every scored check depends on the submission".into(),
            Some(h) => format!("    calibration: {} scored check{} GRADE NOTHING (the empty submission passes them)", h.len(), if h.len() == 1 { "" } else { "s" }),
        }
    }

    pub(super) fn mark(&self, s: &crate::suite::Suite, c: &crate::check::Check) -> &'static str {
        if crate::grade::score::scoring_of(s, c).0.given {
            "  (given: shown, not scored)"
        } else if self.holes.as_ref().is_some_and(|h| h.contains(&c.name)) {
            "  GRADES NOTHING: passes without any submission"
        } else {
            ""
        }
    }
}

pub fn list(args: Args, state_dir: &std::path::Path) -> Result<i32, CliError> {
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
    for (s, l) in suites.iter().filter(|s| listed.iter().any(|l| l.file == s.file && l.name == s.name)).zip(&listed) {
        let status = match (&l.reason, l.status) {
            (Some(why), st) => format!("{st}: {why}"),
            (None, st) => st.to_string(),
        };
        println!("{}  {}  ({} checks; {status})", l.name, l.file, l.checks.len());
        let calibrated = Calibrated::of(s, state_dir);
        if let Some(c) = &calibrated {
            println!("{}", c.header());
        }
        for c in plan::resolve(s).checks.iter().filter(|c| filter.selects(s, c)) {
            let target = match (plan::probe_destination(&c.action), c.target) {
                (None, _) => String::new(),
                (Some(_), Some(t)) => format!("{t}, "),
                (Some(_), None) => "address found at run time, ".into(),
            };
            let mark = calibrated.as_ref().map_or("", |k| k.mark(s, c));
            println!("    {}  [{target}expect {}]{mark}", c.name, c.expected.label);
        }
    }
    Ok(exit::PASS)
}
