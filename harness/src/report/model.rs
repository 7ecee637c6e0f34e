//! The report model: what every format shows. `--json` prints it as is; it is a contract (see README).

use crate::check::{CheckResult, Verdict};
use crate::suite::{Cell, Suite};
use serde::Serialize;

/// One check in a report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckReport {
    /// e.g. `icmp space1 -> space2`.
    pub name: String,
    /// Probe kind: `icmp`.
    pub kind: String,
    /// Source node.
    pub from: String,
    /// Destination as written in the matrix.
    pub to: String,
    /// Address probed.
    pub target: String,
    /// `reachable` / `unreachable`.
    pub expected: String,
    /// `reachable` / `unreachable`, or null when the probe did not run.
    pub observed: Option<String>,
    /// `pass`, `fail`, `error`, `skipped`.
    pub verdict: Verdict,
    /// Evidence or failure message.
    pub detail: String,
    /// The matrix the check belongs to.
    pub matrix: String,
}

/// A matrix, expected beside observed, for display.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MatrixReport {
    /// Title.
    pub name: String,
    /// Probe kind.
    pub probe: String,
    /// Row labels (sources).
    pub rows: Vec<String>,
    /// Column labels (destinations).
    pub columns: Vec<String>,
    /// Expected cells: `Y`, `N`, `-`.
    pub expected: Vec<String>,
    /// Observed cells: `Y`, `N`, `-` (not checked), `E` (probe error), `S` (skipped); one string per row.
    pub observed: Vec<String>,
}

/// One suite's results.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SuiteReport {
    /// Suite name.
    pub name: String,
    /// Suite file.
    pub file: String,
    /// Why the whole suite was skipped, decided before running.
    pub skipped: Option<String>,
    /// Infrastructure problems of the run (topology could not be built, teardown left something).
    pub errors: Vec<String>,
    /// Checks.
    pub checks: Vec<CheckReport>,
    /// Matrices for display.
    pub matrices: Vec<MatrixReport>,
    /// Time to build the topology, in milliseconds.
    pub setup_ms: u64,
    /// Whole suite, in milliseconds.
    pub duration_ms: u64,
}

/// A whole run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunReport {
    /// reachlab version.
    pub version: String,
    /// Suites in the order run.
    pub suites: Vec<SuiteReport>,
    /// Checks that passed.
    pub passed: usize,
    /// Checks that failed.
    pub failed: usize,
    /// Checks whose probe could not run.
    pub errors: usize,
    /// Checks not run.
    pub skipped: usize,
    /// Whole run, in milliseconds.
    pub duration_ms: u64,
}

/// Counts of verdicts.
pub fn count(checks: &[CheckReport], verdict: Verdict) -> usize {
    checks.iter().filter(|c| c.verdict == verdict).count()
}

impl SuiteReport {
    /// Builds a suite report from judged checks.
    pub fn new(suite: &Suite, results: &[CheckResult], skipped: Option<String>, errors: Vec<String>) -> SuiteReport {
        let checks = results
            .iter()
            .map(|r| CheckReport {
                name: r.check.name.clone(),
                kind: r.check.kind.as_str().into(),
                from: r.check.from.clone(),
                to: r.check.to.to_string(),
                target: r.check.target.to_string(),
                expected: r.check.expected.as_str().into(),
                observed: r.observed.map(|o| o.as_str().into()),
                verdict: r.verdict,
                detail: r.detail.clone(),
                matrix: suite.matrices[r.check.matrix].name.clone(),
            })
            .collect();
        let matrices = suite
            .matrices
            .iter()
            .enumerate()
            .map(|(mi, m)| {
                let observed_cell = |ri: usize, ci: usize| {
                    let r = results.iter().find(|r| r.check.matrix == mi && r.check.row == ri && r.check.column == ci);
                    match r {
                        None => '-',
                        Some(r) => match (r.verdict, r.observed) {
                            (Verdict::Skipped, _) => 'S',
                            (Verdict::Error, _) | (_, None) => 'E',
                            (_, Some(o)) => o.symbol(),
                        },
                    }
                };
                MatrixReport {
                    name: m.name.clone(),
                    probe: m.probe.as_str().into(),
                    rows: m.rows.iter().map(|r| r.to_string()).collect(),
                    columns: m.columns.iter().map(|c| c.to_string()).collect(),
                    expected: m.cells.iter().map(|row| row.iter().map(|c: &Cell| c.symbol()).collect()).collect(),
                    observed: (0..m.rows.len())
                        .map(|ri| (0..m.columns.len()).map(|ci| observed_cell(ri, ci)).collect())
                        .collect(),
                }
            })
            .collect();
        SuiteReport {
            name: suite.name.clone(),
            file: suite.file.clone(),
            skipped,
            errors,
            checks,
            matrices,
            setup_ms: 0,
            duration_ms: 0,
        }
    }

    /// Count of checks with `verdict`.
    pub fn count(&self, verdict: Verdict) -> usize {
        count(&self.checks, verdict)
    }
}

impl RunReport {
    /// Totals a run.
    pub fn new(suites: Vec<SuiteReport>, duration_ms: u64) -> RunReport {
        let all: Vec<&CheckReport> = suites.iter().flat_map(|s| &s.checks).collect();
        let n = |v| all.iter().filter(|c| c.verdict == v).count();
        RunReport {
            version: env!("CARGO_PKG_VERSION").into(),
            passed: n(Verdict::Pass),
            failed: n(Verdict::Fail),
            errors: n(Verdict::Error),
            skipped: n(Verdict::Skipped),
            suites,
            duration_ms,
        }
    }
}
