//! The grading model: what a graded submission is, independent of any output format. Pure data; every LMS
//! format (`formats/`) is a renderer of it.

use serde::{Deserialize, Serialize};

/// Who may see a check's result (Gradescope's vocabulary, which the other formats map onto).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Visibility {
    /// Shown to the student at once.
    Visible,
    /// Never shown to the student (instructor only) until released.
    Hidden,
    /// Shown once the assignment's due date has passed.
    AfterDueDate,
    /// Shown once grades are published.
    AfterPublished,
}

/// The outcome of one graded check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckStatus {
    /// Observed as expected: full points.
    Pass,
    /// Observed otherwise: no points.
    Fail,
    /// Could not be observed (infrastructure): the whole submission is an error to rerun, never a zero.
    Error,
    /// Not run (reason given): no points, and it is said so.
    Skipped,
}

/// One check of a graded submission.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GradedCheck {
    /// Stable name, e.g. `icmp alpine1 -> alpine3`.
    pub name: String,
    /// `icmp`, `udp`, `tcp`, `capture`, `rule`, `prediction`.
    pub kind: String,
    /// Points earned.
    pub score: f64,
    /// Points possible.
    pub max_score: f64,
    /// Outcome.
    pub status: CheckStatus,
    /// Who may see it.
    pub visibility: Visibility,
    /// What was observed, in words (the report's detail).
    pub output: String,
    /// A hint for the student, present when the check failed and the suite has one.
    pub hint: Option<String>,
    /// Why the check is worth no points although observed: the suite marks it as given by the environment, or
    /// calibration found it passes without any submission (it grades nothing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_scored: Option<String>,
    /// How long observing it took, in milliseconds, when it was probed (JUnit's testcase `time`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
}

/// Whether a submission could be graded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum GradeStatus {
    /// Graded: the score stands.
    Graded,
    /// Not graded because of an infrastructure problem: rerun it. Never reported as a zero.
    Error {
        /// What went wrong.
        reason: String,
    },
}

/// One student's submission, graded against one suite.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubmissionGrade {
    /// The student (the submission directory's name).
    pub student: String,
    /// Suite name.
    pub suite: String,
    /// Content hash of the suite file (grades are reproducible per suite version).
    pub suite_version: String,
    /// Content hash of the submission directory.
    pub submission_version: String,
    /// Graded, or an error to rerun.
    pub status: GradeStatus,
    /// Points earned (0 when not graded; check `status`).
    pub score: f64,
    /// Points possible.
    pub max_score: f64,
    /// Every check, in suite order.
    pub checks: Vec<GradedCheck>,
    /// The submission's setup output (size-capped), for the instructor.
    pub output: String,
    /// Wall time in milliseconds.
    pub duration_ms: u64,
    /// Where that time went, phase by phase, in the order they ran (empty when nothing was built: a reused or
    /// ungraded submission).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub phases: Vec<GradePhase>,
    /// Why setup ended early, in words ("setup.sh exited with status 1 at line 4", "setup.sh was still running
    /// after 20 s"), when it did not run to the end with status 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub setup_ended: Option<String>,
    /// The suite's matrices, expected beside observed (what `reachlab check` draws).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub matrices: Vec<GradedMatrix>,
}

/// Time spent in one phase of grading a submission: `confine` (its user namespace and cgroup), the environment's
/// build phases as `run --timings` names them (`namespaces`, `links`, `engine`, `image`, …), `setup` (setup.sh),
/// `settle`, `observe` (adopting the submission's endpoints and probing them) and `teardown`. The time is on a
/// line of its own that names it (`duration_ms`), so a comparison of grades can leave timings out line by line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GradePhase {
    /// The phase's name.
    pub phase: String,
    /// Milliseconds.
    pub duration_ms: u64,
}

/// A matrix of a graded submission, expected beside observed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GradedMatrix {
    /// Whether its checks are hidden from students.
    pub hidden: bool,
    /// The grids.
    pub grid: crate::report::MatrixReport,
}

/// A batch of graded submissions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Batch {
    /// Suite name.
    pub suite: String,
    /// Suite version (content hash).
    pub suite_version: String,
    /// Submissions, sorted by student.
    pub submissions: Vec<SubmissionGrade>,
}

/// What the empty submission got.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    /// Suite name.
    pub suite: String,
    /// Suite version (content hash of its file).
    pub suite_version: String,
    /// The reachlab version that calibrated (the environment it builds may change between versions).
    pub reachlab: String,
    /// Whether the empty submission could be graded at all.
    pub status: GradeStatus,
    /// Scored checks that pass without any submission: they grade nothing.
    pub holes: Vec<String>,
    /// Checks marked `given` that pass in the bare environment, as the suite says they do.
    pub given: Vec<String>,
    /// Points the empty submission would get once the holes are voided (0 for a fair suite).
    pub score: f64,
    /// Points possible (holes excluded).
    pub max_score: f64,
}

impl Calibration {
    /// Reads the calibration off the empty submission's grade (graded without any holes voided). Pure.
    pub fn from_grade(suite_version: &str, g: &SubmissionGrade) -> Calibration {
        let passed = |given: bool| -> Vec<String> {
            g.checks
                .iter()
                .filter(|c| c.status == CheckStatus::Pass && c.not_scored.is_some() == given && c.kind != "prediction")
                .map(|c| c.name.clone())
                .collect()
        };
        let holes = passed(false);
        let voided: f64 = g.checks.iter().filter(|c| holes.contains(&c.name)).map(|c| c.max_score).sum();
        Calibration {
            suite: g.suite.clone(),
            suite_version: suite_version.into(),
            reachlab: env!("CARGO_PKG_VERSION").into(),
            status: g.status.clone(),
            given: passed(true),
            score: g.score - voided,
            max_score: g.max_score - voided,
            holes,
        }
    }

    /// The holes, for scoring.
    pub fn hole_set(&self) -> std::collections::BTreeSet<String> {
        self.holes.iter().cloned().collect()
    }
}
