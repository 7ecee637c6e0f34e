//! Gradescope autograder `results.json` for one submission, after Gradescope's "Autograder Specifications"
//! (<https://gradescope-autograders.readthedocs.io/en/latest/specs/>, "Output format").
//!
//! A graded submission carries the top-level `score` (which overrides the sum of the tests' scores) and one
//! test per check: `score`, `max_score`, `status` (`passed`/`failed`), `name`, `number`, `output`, `tags`,
//! `visibility`. Our [`Visibility`] is Gradescope's vocabulary, so it maps one to one; Gradescope itself hides
//! hidden tests from students, so they are rendered in full here. A failed check's output ends with its hint.
//!
//! **Not graded.** Gradescope has no "error" grade: a `score` of 0 would be recorded as the student's grade.
//! The spec makes `score` "optional, but required if not on each test case" and `tests` "optional, but
//! required if no top-level score", so a submission that was not graded is rendered with *neither*: no
//! `score`, no `tests` — no number Gradescope could record. Only `output` (Markdown, visible) says the work was
//! not graded and will be rerun, and `extra_data` keeps the reason. Gradescope then treats the run as an
//! autograder failure ("The autograder failed to execute correctly … contact your course staff"), which is
//! the truth, records no score, and the instructor reruns the submission with "Regrade". The caller should
//! also print the reason on stdout: Gradescope shows `run_autograder`'s stdout to instructors.

use super::{not_graded_reason, output_with_hint, points, NOT_GRADED};
use crate::grade::model::{CheckStatus, GradedCheck, SubmissionGrade, Visibility};
use serde_json::{json, Map, Value};

/// Gradescope's name for a visibility setting.
pub fn visibility(v: Visibility) -> &'static str {
    match v {
        Visibility::Visible => "visible",
        Visibility::Hidden => "hidden",
        Visibility::AfterDueDate => "after_due_date",
        Visibility::AfterPublished => "after_published",
    }
}

/// Renders `results.json` for `grade`.
pub fn render(grade: &SubmissionGrade) -> Value {
    let mut top = Map::new();
    let extra = |status: &str| {
        json!({
            "reachlab_status": status,
            "student": grade.student,
            "suite": grade.suite,
            "suite_version": grade.suite_version,
            "submission_version": grade.submission_version,
        })
    };
    match not_graded_reason(grade) {
        Some(reason) => {
            top.insert("output".into(), Value::from(format!("**{NOT_GRADED}**\n")));
            top.insert("output_format".into(), "md".into());
            top.insert("execution_time".into(), seconds(grade.duration_ms));
            top.insert("visibility".into(), "visible".into());
            top.insert("stdout_visibility".into(), "hidden".into());
            let mut e = extra("error");
            e["reason"] = reason.into();
            top.insert("extra_data".into(), e);
        }
        None => {
            top.insert("score".into(), grade.score.into());
            top.insert("execution_time".into(), seconds(grade.duration_ms));
            top.insert("output".into(), summary(grade).into());
            top.insert("output_format".into(), "md".into());
            top.insert("test_output_format".into(), "text".into());
            // Per-test visibility decides; the submission as a whole is shown.
            top.insert("visibility".into(), "visible".into());
            // The run's stdout is for instructors (it may name hidden checks).
            top.insert("stdout_visibility".into(), "hidden".into());
            top.insert("extra_data".into(), extra("graded"));
            top.insert("tests".into(), grade.checks.iter().enumerate().map(|(i, c)| test(i, c)).collect());
        }
    }
    Value::Object(top)
}

fn test(index: usize, c: &GradedCheck) -> Value {
    let passed = c.status == CheckStatus::Pass;
    let output = match c.status {
        CheckStatus::Pass => c.output.clone(),
        CheckStatus::Skipped => format!("Skipped (no points): {}", c.output),
        CheckStatus::Fail | CheckStatus::Error => output_with_hint(&c.output, c.hint.as_deref()),
    };
    let status_tag = match c.status {
        CheckStatus::Pass => "pass",
        CheckStatus::Fail => "fail",
        CheckStatus::Error => "error",
        CheckStatus::Skipped => "skipped",
    };
    json!({
        "score": c.score,
        "max_score": c.max_score,
        // Explicit, so a skipped check is never shown as passed and a 0-point check can still fail.
        "status": if passed { "passed" } else { "failed" },
        "name": c.name,
        "number": (index + 1).to_string(),
        "output": output,
        "tags": [c.kind, status_tag],
        "visibility": visibility(c.visibility),
    })
}

/// The submission-level `output`: the score and what to look at. While any check is not yet visible, the spec
/// hides the total from students ("If test cases are hidden, students will not be able to see their total
/// score"), so this line must not give it away either: it counts only the visible checks' points, and neither
/// names nor counts the others.
fn summary(grade: &SubmissionGrade) -> String {
    let shown: Vec<&GradedCheck> = grade.checks.iter().filter(|c| c.visibility == Visibility::Visible).collect();
    let all_shown = shown.len() == grade.checks.len();
    let failed = shown.iter().filter(|c| c.status == CheckStatus::Fail).count();
    let skipped = shown.iter().filter(|c| c.status == CheckStatus::Skipped).count();
    let (score, max): (f64, f64) = if all_shown {
        (grade.score, grade.max_score)
    } else {
        (shown.iter().map(|c| c.score).sum(), shown.iter().map(|c| c.max_score).sum())
    };
    let what = if all_shown { "checks" } else { "visible checks" };
    let mut s = format!("**{}** — {} / {} points from {} {what}", grade.suite, points(score), points(max), shown.len());
    if failed + skipped > 0 {
        s.push_str(&format!(" ({failed} failed, {skipped} skipped)"));
    }
    s.push_str(".\n");
    if !all_shown {
        s.push_str("Further checks are not shown yet; their points count toward your score.\n");
    }
    s
}

/// Gradescope's `execution_time`, in seconds.
fn seconds(ms: u64) -> Value {
    Value::from(ms as f64 / 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn visibility_maps_one_to_one() {
        assert_eq!(visibility(Visibility::Visible), "visible");
        assert_eq!(visibility(Visibility::Hidden), "hidden");
        assert_eq!(visibility(Visibility::AfterDueDate), "after_due_date");
        assert_eq!(visibility(Visibility::AfterPublished), "after_published");
    }
}
