//! Per-submission `junit.xml` (quick-junit), for CI dashboards and the instructor — it shows every check,
//! hidden ones included, with a `visibility` property.
//!
//! One `<testsuite>` named after the student, one `<testcase>` per check with `classname` = suite. Points are
//! properties: `score`/`max_score` on each testcase, the totals on the testsuite (with `status`, the suite and
//! submission versions). A failure carries the check's output and hint; a skip its reason.
//!
//! A submission that was not graded turns every testcase into `<error type="infrastructure">` saying to rerun
//! it, and carries no `score` property anywhere — only `max_score` — so nothing reads as a zero. If it has no
//! checks at all, one testcase named `grading` carries that error, so the failure cannot go unnoticed.

use super::gradescope::visibility;
use super::{not_graded_reason, output_with_hint, points, NOT_GRADED};
use crate::grade::model::{CheckStatus, GradedCheck, SubmissionGrade};
use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestSuite};
use std::time::Duration;

/// Renders `junit.xml` for `grade`.
pub fn render(grade: &SubmissionGrade) -> String {
    let reason = not_graded_reason(grade);
    let mut suite = TestSuite::new(grade.student.as_str());
    suite.set_time(Duration::from_millis(grade.duration_ms));
    suite.add_property(Property::new("suite", grade.suite.as_str()));
    suite.add_property(Property::new("suite_version", grade.suite_version.as_str()));
    suite.add_property(Property::new("submission_version", grade.submission_version.as_str()));
    match &reason {
        Some(r) => {
            suite.add_property(Property::new("status", "error"));
            suite.add_property(Property::new("error", r.as_str()));
        }
        None => {
            suite.add_property(Property::new("status", "graded"));
            suite.add_property(Property::new("score", points(grade.score)));
        }
    }
    suite.add_property(Property::new("max_score", points(grade.max_score)));

    for c in &grade.checks {
        let status = match &reason {
            Some(r) => infrastructure_error(r, Some(c)),
            None => status(c),
        };
        let mut tc = TestCase::new(c.name.as_str(), status);
        tc.set_classname(grade.suite.as_str());
        tc.add_property(Property::new("kind", c.kind.as_str()));
        tc.add_property(Property::new("visibility", visibility(c.visibility)));
        if reason.is_none() {
            tc.add_property(Property::new("score", points(c.score)));
        }
        tc.add_property(Property::new("max_score", points(c.max_score)));
        if c.status == CheckStatus::Pass && !c.output.is_empty() {
            tc.set_system_out(c.output.as_str());
        }
        suite.add_test_case(tc);
    }
    if let (Some(r), true) = (&reason, grade.checks.is_empty()) {
        let mut tc = TestCase::new("grading", infrastructure_error(r, None));
        tc.set_classname(grade.suite.as_str());
        suite.add_test_case(tc);
    }

    let mut report = Report::new("reachlab-grade");
    report.set_time(Duration::from_millis(grade.duration_ms));
    report.add_test_suite(suite);
    report.to_string().expect("junit serializes")
}

fn status(c: &GradedCheck) -> TestCaseStatus {
    match c.status {
        CheckStatus::Pass => TestCaseStatus::success(),
        CheckStatus::Fail => {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
            // The attribute gets the first line (attributes fold line breaks); the body gets everything.
            s.set_type("fail")
                .set_message(c.output.lines().next().unwrap_or_default())
                .set_description(output_with_hint(&c.output, c.hint.as_deref()));
            s
        }
        CheckStatus::Skipped => {
            let mut s = TestCaseStatus::skipped();
            s.set_message(c.output.as_str());
            s
        }
        // Unreachable: an error check makes the whole submission not graded.
        CheckStatus::Error => {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Error);
            s.set_type("infrastructure").set_message(c.output.as_str());
            s
        }
    }
}

fn infrastructure_error(reason: &str, check: Option<&GradedCheck>) -> TestCaseStatus {
    let mut s = TestCaseStatus::non_success(NonSuccessKind::Error);
    s.set_type("infrastructure").set_message(format!("{NOT_GRADED} Reason: {reason}"));
    if let Some(c) = check.filter(|c| !c.output.is_empty()) {
        s.set_description(c.output.as_str());
    }
    s
}
