//! `reachlab probe RUN_ID`: probe a lab left standing by `reachlab up` again (as Mininet's `pingall` or
//! `netlab validate` do) — reload its suite, reopen its namespaces and containers from the ledger, read the
//! inventory back from the kernel, run the checks, judge and report exactly as `run` does, and leave the lab
//! standing.

use super::run::{finish, reporters};
use super::signals;
use super::{exit, require_privileges, runtime, utc_stamp, CliError};
use crate::event::EventKind;
use crate::judge::judge;
use crate::lab::ledger::{runs_dir, suite_digest, Ledger};
use crate::lab::live::LiveLab;
use crate::report::{RunReport, SuiteReport};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Arguments of `reachlab probe`.
#[derive(clap::Args)]
pub struct Args {
    /// The run id `reachlab up` printed.
    pub run_id: String,
    /// Print the report JSON on stdout (and nothing else there); the terminal view goes to stderr.
    #[arg(long)]
    pub json: bool,
    /// Where to write junit.xml, report.json, summary.md and report.html [default: reports/<suite>-<timestamp>].
    #[arg(long)]
    pub report_dir: Option<PathBuf>,
}

/// Where the ledger of run `run_id` is (whether or not it exists).
pub(super) fn ledger_path(run_id: &str, state_dir: &Path) -> Result<PathBuf, CliError> {
    // A run id is what `up` made (hex digits); anything else cannot name a ledger file.
    if run_id.is_empty() || !run_id.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(CliError::Usage(format!("`{run_id}` is not a run id")));
    }
    Ok(runs_dir(state_dir).join(format!("{run_id}.json")))
}

/// The ledger of a kept lab, and the suite it was built from (refused if its text changed since).
pub(super) fn kept_lab(run_id: &str, state_dir: &Path) -> Result<(PathBuf, crate::suite::Suite), CliError> {
    let path = ledger_path(run_id, state_dir)?;
    let record = Ledger::read(&path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => {
            CliError::Usage(format!("no lab with run id {run_id} under {}", runs_dir(state_dir).display()))
        }
        _ => CliError::Infrastructure(format!("failed to read the ledger {}: {e}", path.display())),
    })?;
    if !record.kept {
        return Err(CliError::Usage(format!("run {run_id} is not a lab left standing by `reachlab up`")));
    }
    let (Some(file), Some(digest)) = (&record.suite_file, &record.suite_sha256) else {
        return Err(CliError::Usage(format!(
            "the ledger of {run_id} does not say which suite built it (an older `reachlab up`); `reachlab down {run_id}` and `up` it again"
        )));
    };
    let text = crate::suite::read_source(file).map_err(|e| CliError::Usage(format!("lab {run_id}: {e}")))?;
    if suite_digest(&text) != *digest {
        return Err(CliError::Usage(format!(
            "suite {} changed since lab {run_id} was built from it; `reachlab down {run_id}` and `up` it again",
            file.display()
        )));
    }
    let suite = crate::suite::load_str(&text, &file.display().to_string())?;
    Ok((path, suite))
}

/// Reopens the standing lab and observes every check; nothing is created or removed.
async fn probe_suite(
    state_dir: &Path,
    ledger: &Path,
    suite: &crate::suite::Suite,
    artifacts: &Path,
    events: &crate::event::Reporters,
) -> SuiteReport {
    let started = Instant::now();
    events.emit(EventKind::SuiteStarted { name: &suite.name, file: &suite.file });
    let plan = crate::plan::resolve(suite);
    let mut errors = Vec::new();
    let mut notes = Vec::new();
    let mut observations = HashMap::new();
    // Each check's time, for the reports (junit.xml's testcase `time`, report.json's `duration_ms`), as `run`.
    let mut timings = crate::timings::Timings::default();
    match LiveLab::reopen(state_dir, ledger, suite).await {
        Err(e) => errors.push(e.to_string()),
        Ok(lab) => {
            notes.extend(lab.notes().iter().cloned());
            match lab.inventory().await {
                Err(e) => errors.push(e.to_string()),
                Ok(inventory) => {
                    events.emit(EventKind::TopologyReady { name: &suite.name, setup_ms: 0 });
                    observations =
                        crate::runner::observe_timed(&lab, suite, &plan, inventory, artifacts, &mut timings).await;
                }
            }
            // Dropping a reopened lab leaves it standing.
        }
    }
    if let Some(first) = errors.first() {
        for c in &plan.checks {
            observations
                .entry(c.id)
                .or_insert_with(|| crate::check::Observation::error(format!("not probed: {first}")));
        }
    }
    let results = judge(&plan.checks, &observations, None);
    let mut report = SuiteReport::new(suite, &results, None, errors);
    report.set_durations(&results, &timings.checks);
    report.notes = notes;
    report.duration_ms = started.elapsed().as_millis() as u64;
    crate::runner::suite_finished(events, &report);
    report
}

pub fn probe(args: Args, state_dir: &Path) -> Result<i32, CliError> {
    let (ledger, suite) = kept_lab(&args.run_id, state_dir)?;
    require_privileges()?;
    let report_dir =
        args.report_dir.clone().unwrap_or_else(|| Path::new("reports").join(format!("{}-{}", suite.name, utc_stamp())));
    let reporters = reporters(args.json, &report_dir, false);
    let rt = runtime()?;
    let started = Instant::now();
    reporters.emit(EventKind::RunStarted { suites: 1 });
    let outcome = rt.block_on(async {
        tokio::select! {
            biased;
            sig = signals::interrupted() => Err(sig),
            s = probe_suite(state_dir, &ledger, &suite, &report_dir, &reporters) => Ok(s),
        }
    });
    let report = match outcome {
        Ok(s) => RunReport::new(vec![s], started.elapsed().as_millis() as u64),
        Err(sig) => {
            eprintln!("reachlab: {}: stopped; lab {} is still standing", signals::describe(sig), args.run_id);
            return Ok(exit::INTERRUPTED);
        }
    };
    reporters.emit(EventKind::RunFinished(&report));
    Ok(finish(&report, &reporters, &report_dir))
}
