//! Per-submission `junit.xml`, for CI dashboards and the instructor — it shows every check, hidden ones
//! included. Valid against the Jenkins schema (see [`crate::report::junit_xml`]).
//!
//! One `<testsuite>` named after the student, one `<testcase>` per check with `classname` = suite. The totals
//! are the testsuite's properties (`status`, `score`, `max_score`, the suite and submission versions); each
//! check's points, kind and visibility are lines of its `<system-out>` (`score: 2 / 2`), which is where the
//! schema lets a testcase say more. A failure's message is its output's first line, its body the whole output
//! and the hint; a skip carries its reason.
//!
//! A submission that was not graded turns every testcase into `<error type="infrastructure">` saying to rerun
//! it, and carries no score anywhere — only `max_score` — so nothing reads as a zero. If it has no checks at
//! all, one testcase named `grading` carries that error, so the failure cannot go unnoticed.

use super::gradescope::visibility;
use super::{not_graded_reason, output_with_hint, points, NOT_GRADED};
use crate::grade::model::{CheckStatus, GradedCheck, SubmissionGrade};
use crate::report::junit_xml::{self, Case, Outcome, Suite, Suites};

/// When and where a submission was graded: what the grading model itself does not hold (it is the same on every
/// run, so that grades are byte-identical).
#[derive(Debug, Clone, Default)]
pub struct Context {
    /// When grading it started (ISO 8601, UTC): the testsuite's `timestamp`.
    pub timestamp: Option<String>,
    /// The machine it was graded on: the testsuite's `hostname`.
    pub hostname: Option<String>,
}

/// Renders `junit.xml` for `grade`, without timestamp or host name.
pub fn render(grade: &SubmissionGrade) -> String {
    render_in(grade, &Context::default())
}

/// Renders `junit.xml` for `grade`, graded when and where `ctx` says.
pub fn render_in(grade: &SubmissionGrade, ctx: &Context) -> String {
    let reason = not_graded_reason(grade);
    let mut properties = vec![
        ("suite".to_string(), grade.suite.clone()),
        ("suite_version".into(), grade.suite_version.clone()),
        ("submission_version".into(), grade.submission_version.clone()),
    ];
    match &reason {
        Some(r) => {
            properties.push(("status".into(), "error".into()));
            properties.push(("error".into(), r.clone()));
        }
        None => {
            properties.push(("status".into(), "graded".into()));
            properties.push(("score".into(), points(grade.score)));
        }
    }
    properties.push(("max_score".into(), points(grade.max_score)));

    let mut cases: Vec<Case> = grade
        .checks
        .iter()
        .map(|c| {
            let outcome = match &reason {
                Some(r) => infrastructure_error(r, Some(c)),
                None => status(c),
            };
            let mut out = String::new();
            if !c.output.is_empty() {
                out.push_str(&c.output);
                out.push('\n');
            }
            out.push_str(&format!("kind: {}\nvisibility: {}\n", c.kind, visibility(c.visibility)));
            match reason {
                None => out.push_str(&format!("score: {} / {}", points(c.score), points(c.max_score))),
                Some(_) => out.push_str(&format!("max_score: {}", points(c.max_score))),
            }
            let time_ms = c.duration_ms.unwrap_or(0);
            Case { name: c.name.clone(), classname: grade.suite.clone(), time_ms, outcome, system_out: Some(out) }
        })
        .collect();
    if let (Some(r), true) = (&reason, grade.checks.is_empty()) {
        cases.push(Case {
            name: "grading".into(),
            classname: grade.suite.clone(),
            outcome: infrastructure_error(r, None),
            ..Case::default()
        });
    }
    let suite = Suite {
        name: grade.student.clone(),
        time_ms: grade.duration_ms,
        timestamp: ctx.timestamp.clone(),
        hostname: ctx.hostname.clone(),
        properties,
        cases,
        system_out: (!grade.output.is_empty()).then(|| grade.output.clone()),
    };
    junit_xml::render(&Suites { name: "reachlab-grade".into(), time_ms: grade.duration_ms, suites: vec![suite] })
}

fn status(c: &GradedCheck) -> Outcome {
    match c.status {
        CheckStatus::Pass => Outcome::Pass,
        // The attribute gets the first line; the body gets everything.
        CheckStatus::Fail => {
            Outcome::Failure { kind: "fail".into(), text: output_with_hint(&c.output, c.hint.as_deref()) }
        }
        CheckStatus::Skipped => Outcome::Skipped { message: c.output.clone() },
        // Unreachable: an error check makes the whole submission not graded.
        CheckStatus::Error => Outcome::Error { kind: "infrastructure".into(), text: c.output.clone() },
    }
}

fn infrastructure_error(reason: &str, check: Option<&GradedCheck>) -> Outcome {
    let mut text = format!("{NOT_GRADED} Reason: {reason}");
    if let Some(c) = check.filter(|c| !c.output.is_empty()) {
        text.push('\n');
        text.push_str(&c.output);
    }
    Outcome::Error { kind: "infrastructure".into(), text }
}
