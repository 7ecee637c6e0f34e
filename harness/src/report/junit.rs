//! `junit.xml`: one `<testsuite>` per suite, one `<testcase>` per check (classname = suite name). Failures carry
//! the judge's message; probe errors are `<error>`; skips are `<skipped>` with their reason.

use super::RunReport;
use crate::check::Verdict;
use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestSuite};
use std::time::Duration;

/// Renders the run as JUnit XML.
pub fn render(report: &RunReport) -> String {
    let mut junit = Report::new("reachlab");
    junit.set_time(Duration::from_millis(report.duration_ms));
    for suite in &report.suites {
        let mut ts = TestSuite::new(suite.name.as_str());
        ts.set_time(Duration::from_millis(suite.duration_ms));
        ts.add_property(Property::new("file", suite.file.as_str()));
        for n in &suite.notes {
            ts.add_property(Property::new("note", n.as_str()));
        }
        for e in &suite.errors {
            ts.add_property(Property::new("infrastructure-error", e.as_str()));
        }
        for c in &suite.checks {
            let mut status = match c.verdict {
                Verdict::Pass => TestCaseStatus::success(),
                Verdict::Fail => TestCaseStatus::non_success(NonSuccessKind::Failure),
                Verdict::Error => TestCaseStatus::non_success(NonSuccessKind::Error),
                Verdict::Skipped => TestCaseStatus::skipped(),
            };
            match c.verdict {
                Verdict::Pass => {}
                Verdict::Fail => {
                    status.set_message(c.detail.as_str()).set_type("unexpected-reachability");
                }
                Verdict::Error => {
                    status.set_message(c.detail.as_str()).set_type("infrastructure");
                }
                Verdict::Skipped => {
                    status.set_message(c.detail.as_str());
                }
            }
            let mut tc = TestCase::new(c.name.as_str(), status);
            tc.set_classname(suite.name.as_str());
            for (k, v) in [("kind", &c.kind), ("from", &c.from), ("to", &c.to), ("expected", &c.expected)] {
                tc.add_property(Property::new(k, v.as_str()));
            }
            for (k, v) in [("by", &c.by), ("target", &c.target), ("observed", &c.observed), ("matrix", &c.matrix)] {
                if let Some(v) = v {
                    tc.add_property(Property::new(k, v.as_str()));
                }
            }
            for a in &c.artifacts {
                tc.add_property(Property::new("pcap", a.as_str()));
            }
            // Attachments the way Jenkins and GitLab read them from system-out.
            let mut out = if c.verdict == Verdict::Pass { c.detail.clone() } else { String::new() };
            for a in &c.artifacts {
                out.push_str(&format!("\n[[ATTACHMENT|{a}]]"));
            }
            if !out.trim().is_empty() {
                tc.set_system_out(out.trim_start().to_string());
            }
            ts.add_test_case(tc);
        }
        junit.add_test_suite(ts);
    }
    junit.to_string().expect("junit serializes")
}
