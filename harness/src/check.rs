//! Checks and their outcomes: what the plan asks, what the probes saw, what the judge decided.

use crate::suite::{Endpoint, ProbeKind, ProbeSettings};
use serde::Serialize;
use std::net::Ipv4Addr;

/// Reachability, expected or observed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Reach {
    /// An answer came back from the target.
    Reachable,
    /// No answer came back from the target.
    Unreachable,
}

impl Reach {
    /// The matrix symbol.
    pub fn symbol(self) -> char {
        match self {
            Reach::Reachable => 'Y',
            Reach::Unreachable => 'N',
        }
    }

    /// The word used in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Reach::Reachable => "reachable",
            Reach::Unreachable => "unreachable",
        }
    }
}

/// One cell of a matrix to check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// Index among the suite's checks.
    pub id: usize,
    /// Human name, e.g. `icmp space1 -> space2`.
    pub name: String,
    /// Probe kind.
    pub kind: ProbeKind,
    /// Which matrix, and which cell of it.
    pub matrix: usize,
    /// Row index in the matrix.
    pub row: usize,
    /// Column index in the matrix.
    pub column: usize,
    /// Source node.
    pub from: String,
    /// Destination.
    pub to: Endpoint,
    /// Destination address probed.
    pub target: Ipv4Addr,
    /// What the suite expects.
    pub expected: Reach,
    /// Timing.
    pub settings: ProbeSettings,
}

/// What a probe saw.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "lowercase")]
pub enum Observation {
    /// The probe ran and saw this.
    Observed {
        /// Reachable or not.
        reach: Reach,
        /// Evidence, e.g. "echo reply from 10.0.0.12 in 0.1 ms".
        detail: String,
    },
    /// The probe could not run: an infrastructure problem, never the student's failure.
    Error {
        /// Why.
        detail: String,
    },
}

/// The judge's decision on one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Observed as expected.
    Pass,
    /// Observed otherwise than expected.
    Fail,
    /// The probe could not run.
    Error,
    /// Not run, for a reason decided before running.
    Skipped,
}

impl Verdict {
    /// The word used in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::Error => "error",
            Verdict::Skipped => "skipped",
        }
    }
}

/// A judged check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckResult {
    /// The check.
    pub check: Check,
    /// What was observed, if the probe ran.
    pub observed: Option<Reach>,
    /// The verdict.
    pub verdict: Verdict,
    /// Why, in words: the failure message or the evidence.
    pub detail: String,
}
