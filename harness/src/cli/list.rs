//! `reachlab list`: suites and checks, without building anything.

use super::{exit, load_all, CliError};
use crate::kernel::features::{Decision, Features};
use crate::plan;
use crate::runner::{decide, needed};
use std::path::PathBuf;

/// Arguments of `reachlab list` and `reachlab doctor`.
#[derive(clap::Args)]
pub struct Args {
    /// Suite files or directories of suites.
    #[arg(default_value = "test-suites")]
    pub paths: Vec<PathBuf>,
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
    let suites = load_all(&args.paths)?;
    let features = Features::detect_for(needed(&suites));
    for s in &suites {
        let plan = plan::resolve(s);
        let status = match decide(&plan, &features) {
            Decision::Skip(why) => format!("skipped: {why}"),
            Decision::Error(why) => format!("error: {why}"),
            Decision::Run => "runs".into(),
        };
        println!("{}  {}  ({} checks; {status})", s.name, s.file, plan.checks.len());
        let calibrated = Calibrated::of(s, state_dir);
        if let Some(c) = &calibrated {
            println!("{}", c.header());
        }
        for c in &plan.checks {
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
