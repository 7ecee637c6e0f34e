//! Calibration: a grade is fair only if every point it awards depends on the submission. reachlab grades the
//! **empty submission** — the environment alone (server1 with its engine, the LAN, server2) and a `setup.sh`
//! that does nothing — and every scored check that passes there "grades nothing: passes without any
//! submission". `grade` then awards no points for those checks; a check the suite means to pass in the bare
//! environment says so with `given = true` (shown, not scored).
//!
//! The result is kept per suite version in the state directory, so `reachlab list` can show it without building
//! anything; `reachlab doctor SUITE` and `reachlab grade` (which needs it) compute it when it is missing.

use super::model::GradeStatus;
use super::submission::{self, GradeOptions};
use crate::kernel::features::Features;
use crate::suite::Suite;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

pub use super::model::Calibration;

fn cache_path(state_dir: &Path, suite_version: &str) -> PathBuf {
    state_dir.join("calibration").join(format!("{suite_version}.json"))
}

/// The calibration of this suite version, if one was made (by this reachlab version) and graded.
pub fn cached(state_dir: &Path, suite_version: &str) -> Option<Calibration> {
    let text = std::fs::read_to_string(cache_path(state_dir, suite_version)).ok()?;
    let c: Calibration = serde_json::from_str(&text).ok()?;
    (c.reachlab == env!("CARGO_PKG_VERSION") && c.status == GradeStatus::Graded).then_some(c)
}

/// Keeps a calibration for `list` and later runs (best effort: a state directory that cannot be written only
/// means calibrating again).
pub fn store(state_dir: &Path, c: &Calibration) {
    let path = cache_path(state_dir, &c.suite_version);
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let _ = std::fs::write(path, serde_json::to_string_pretty(c).expect("calibration serializes") + "\n");
}

/// Grades the empty submission against `suite` (its own lab, like any submission) and returns the calibration.
pub async fn calibrate(suite: &Suite, suite_version: &str, features: &Features, state_dir: &Path) -> Calibration {
    let scratch = std::env::temp_dir().join(format!("reachlab-calibration-{}", crate::runner::new_run_id()));
    let empty = scratch.join("empty-submission");
    let made = std::fs::create_dir_all(&empty).and_then(|()| std::fs::write(empty.join("setup.sh"), b""));
    let grade = match made {
        Ok(()) => {
            // The empty submission fails nearly everything; where its packets went teaches nobody.
            let trace = crate::runner::TraceMode::Off;
            let opts = GradeOptions { state_dir: state_dir.to_path_buf(), out_dir: scratch.join("out"), trace };
            submission::grade(suite, suite_version, &empty, features, &opts, &BTreeSet::new()).await
        }
        Err(e) => {
            submission::not_graded(suite, suite_version, &empty, &format!("failed to write the empty submission: {e}"))
        }
    };
    let _ = std::fs::remove_dir_all(&scratch);
    Calibration::from_grade(suite_version, &grade)
}

/// The calibration for `suite`: the kept one unless `fresh`, else a new one (kept for next time).
pub async fn get(
    suite: &Suite,
    suite_version: &str,
    features: &Features,
    state_dir: &Path,
    fresh: bool,
) -> Calibration {
    if !fresh {
        if let Some(c) = cached(state_dir, suite_version) {
            return c;
        }
    }
    let c = calibrate(suite, suite_version, features, state_dir).await;
    if c.status == GradeStatus::Graded {
        store(state_dir, &c);
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grade::model::{CheckStatus, GradedCheck, SubmissionGrade, Visibility};

    fn check(name: &str, status: CheckStatus, given: bool) -> GradedCheck {
        GradedCheck {
            name: name.into(),
            kind: "icmp".into(),
            score: if status == CheckStatus::Pass && !given { 1.0 } else { 0.0 },
            max_score: if given { 0.0 } else { 1.0 },
            status,
            visibility: Visibility::Visible,
            output: String::new(),
            hint: None,
            not_scored: given.then(|| "given".to_string()),
            duration_ms: None,
        }
    }

    #[test]
    fn scored_checks_that_pass_empty_are_holes_and_given_ones_are_not() {
        let g = SubmissionGrade {
            student: "empty-submission".into(),
            suite: "s".into(),
            suite_version: "v".into(),
            submission_version: "w".into(),
            status: GradeStatus::Graded,
            score: 1.0,
            max_score: 2.0,
            checks: vec![
                check("icmp server1 -> server2", CheckStatus::Pass, false),
                check("icmp alpine1 -> server2", CheckStatus::Fail, false),
                check("rule server1", CheckStatus::Pass, true),
            ],
            output: String::new(),
            duration_ms: 0,
            phases: Vec::new(),
            setup_ended: None,
            matrices: Vec::new(),
        };
        let c = Calibration::from_grade("v", &g);
        assert_eq!(c.holes, vec!["icmp server1 -> server2".to_string()]);
        assert_eq!(c.given, vec!["rule server1".to_string()]);
        assert_eq!((c.score, c.max_score), (0.0, 1.0), "the voided hole counts for neither");
    }
}
