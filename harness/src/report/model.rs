//! The report model: what every format shows. `--json` prints it as is; it is a contract (see README).

use crate::check::{Action, CheckResult, Verdict};
use crate::suite::{Cell, Suite};
use serde::Serialize;

/// One check in a report. Its evidence (`detail`) and the reasons the lab gives (`why`) are separate fields;
/// renderers join them ([`CheckReport::detail_and_why`]), and report.json carries both the joined text (its
/// `detail`, as the contract says) and the typed reasons (see [`super::json`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(into = "super::json::CheckJson")]
pub struct CheckReport {
    /// e.g. `icmp space1 -> space2`.
    pub name: String,
    /// `icmp`, `udp`, `tcp`, `capture`, `rule`.
    pub kind: String,
    /// `"name"` for ICMP probes by name.
    pub by: Option<String>,
    /// Source node (captures and rules: the node observed).
    pub from: String,
    /// Destination as written in the matrix (captures: the interface; rules: the chain).
    pub to: String,
    /// Address probed (captures: the filter), null when unknown.
    pub target: Option<String>,
    /// ICMP: `reachable` / `unreachable` / `unresolved`; UDP/TCP: `delivered` / `refused` / `dropped` (or
    /// `refused or dropped`); captures and rules: the assertion in words.
    pub expected: String,
    /// Same vocabulary; null when the probe did not run.
    pub observed: Option<String>,
    /// `pass`, `fail`, `error`, `skipped`.
    pub verdict: Verdict,
    /// Evidence or failure message.
    pub detail: String,
    /// Why a probe did not get through, as the lab as built explains it (typed, read back from the lab).
    pub why: Vec<crate::reason::Why>,
    /// The matrix the check belongs to, if any.
    pub matrix: Option<String>,
    /// Files backing the observation (pcap), as paths.
    pub artifacts: Vec<String>,
    /// Captures only: frames that matched the filter but that the kernel dropped (0 when none were).
    pub dropped: Option<u64>,
    /// How long observing it took, in milliseconds (a capture: the time it ran); absent when it was not probed.
    pub duration_ms: Option<u64>,
    /// Where its packets went, observed again after judging (failing matrix cells only; see `runner::trace`).
    pub path: Option<crate::check::PathReport>,
}

impl CheckReport {
    /// The detail followed by the reasons, as every report shows them: `DETAIL — why: REASON; REASON`.
    pub fn detail_and_why(&self) -> String {
        crate::reason::joined(&self.detail, &self.why)
    }
}

/// A matrix, expected beside observed, for display.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
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
    /// Observed cells: `Y`, `N`, `U`, `R`, `D`, `-` (not checked), `E` (probe error), `S` (skipped); one string
    /// per row.
    pub observed: Vec<String>,
    /// Cells whose check failed, as `[row, column]`.
    pub failed: Vec<[usize; 2]>,
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
    /// How the lab was built: engine start time, which image was used.
    pub notes: Vec<String>,
    /// Checks.
    pub checks: Vec<CheckReport>,
    /// Matrices for display.
    pub matrices: Vec<MatrixReport>,
    /// Time to build the topology, in milliseconds.
    pub setup_ms: u64,
    /// Whole suite, in milliseconds.
    pub duration_ms: u64,
    /// Its topology, for pictures (not part of the JSON).
    #[serde(skip)]
    pub graph: super::graph::Graph,
    /// When it started (UTC, `2024-05-06T12:53:20Z`), when it ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    /// Where the time went, phase by phase in the order they first ran (`--timings` prints them).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub timings: Vec<Phase>,
}

pub use crate::timings::Phase;

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
                by: matches!(r.check.action, Action::Icmp { by_name: true, .. }).then(|| "name".into()),
                from: r.check.from.clone(),
                to: r.check.to.clone(),
                target: match &r.check.action {
                    Action::Capture { capture, .. } => {
                        Some(suite.captures[*capture].filter.to_string()).filter(|f| !f.is_empty())
                    }
                    _ => r.target.map(|t| t.to_string()),
                },
                expected: r.check.expected.label.clone(),
                observed: r.observed.as_ref().map(|o| o.label()),
                verdict: r.verdict,
                detail: r.detail.clone(),
                why: r.why.clone(),
                matrix: r.check.cell.map(|c| suite.matrices[c.matrix].name.clone()),
                artifacts: r.artifacts.clone(),
                dropped: r.dropped,
                duration_ms: None,
                path: r.path.clone(),
            })
            .collect();
        let matrices = suite
            .matrices
            .iter()
            .enumerate()
            .map(|(mi, m)| {
                let result = |ri: usize, ci: usize| {
                    results
                        .iter()
                        .find(|r| r.check.cell.is_some_and(|c| c.matrix == mi && c.row == ri && c.column == ci))
                };
                let observed_cell = |ri: usize, ci: usize| match result(ri, ci) {
                    None => '-',
                    Some(r) => match (r.verdict, &r.observed) {
                        (Verdict::Skipped, _) => 'S',
                        (Verdict::Error, _) | (_, None) => 'E',
                        (_, Some(o)) => o.symbol(),
                    },
                };
                let mut failed = Vec::new();
                for ri in 0..m.rows.len() {
                    for ci in 0..m.columns.len() {
                        if result(ri, ci).is_some_and(|r| r.verdict == Verdict::Fail) {
                            failed.push([ri, ci]);
                        }
                    }
                }
                MatrixReport {
                    name: m.name.clone(),
                    probe: m.probe.as_str().into(),
                    rows: m.rows.iter().map(|r| r.to_string()).collect(),
                    columns: m.columns.iter().map(|c| c.to_string()).collect(),
                    expected: m.cells.iter().map(|row| row.iter().map(|c: &Cell| c.symbol()).collect()).collect(),
                    observed: (0..m.rows.len())
                        .map(|ri| (0..m.columns.len()).map(|ci| observed_cell(ri, ci)).collect())
                        .collect(),
                    failed,
                }
            })
            .collect();
        SuiteReport {
            name: suite.name.clone(),
            file: suite.file.clone(),
            skipped,
            errors,
            notes: Vec::new(),
            checks,
            matrices,
            setup_ms: 0,
            duration_ms: 0,
            graph: super::graph::Graph::of(suite),
            started_at: None,
            timings: Vec::new(),
        }
    }

    /// Records how long each check took to observe (by check id, in the order of `results`, which built this).
    pub fn set_durations(&mut self, results: &[CheckResult], durations: &std::collections::HashMap<usize, u64>) {
        for (c, r) in self.checks.iter_mut().zip(results) {
            c.duration_ms = durations.get(&r.check.id).copied();
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
