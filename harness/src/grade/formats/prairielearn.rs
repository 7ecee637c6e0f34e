//! PrairieLearn external grader `results.json` for one submission, after PrairieLearn's "External Grading" →
//! "Grading results" (<https://prairielearn.readthedocs.io/en/latest/externalGrading/>).
//!
//! A gradable submission has `score` in [0, 1] (earned / possible), a `message`, an `output`, and `tests`
//! with `name`, `description`, `points`, `max_points`, `message`, `output` — what `<pl-external-grader-results>`
//! renders, for the student. So hidden checks are folded into one test that carries their points only.
//!
//! **Not graded.** PrairieLearn's own way to say "not a zero" is `"gradable": false`: the submission is marked
//! "invalid, not gradable", no points are awarded or lost and the student is not charged an attempt; `score`
//! is then not needed and is left out. The reason goes in `message` and `format_errors` (the messages
//! PrairieLearn shows for an ungradable submission), worded so the student knows it is not their answer's
//! fault. A suite worth no points is also not gradable: there is no fraction to report.

use super::{not_graded_reason, points, NOT_GRADED};
use crate::grade::model::{CheckStatus, GradedCheck, SubmissionGrade, Visibility};
use serde_json::{json, Value};

/// Renders `results.json` for `grade`.
pub fn render(grade: &SubmissionGrade) -> Value {
    let reason = not_graded_reason(grade)
        .or_else(|| (grade.max_score <= 0.0).then(|| format!("suite `{}` awards no points", grade.suite)));
    if let Some(reason) = reason {
        return json!({
            "gradable": false,
            "message": NOT_GRADED,
            "format_errors": [format!("{NOT_GRADED} Reason: {reason}")],
        });
    }
    let mut tests: Vec<Value> = grade.checks.iter().filter(|c| c.visibility != Visibility::Hidden).map(test).collect();
    let hidden: Vec<&GradedCheck> = grade.checks.iter().filter(|c| c.visibility == Visibility::Hidden).collect();
    if !hidden.is_empty() {
        tests.push(json!({
            "name": format!("Hidden checks ({})", hidden.len()),
            "description": "Checks whose details are not shown.",
            "points": hidden.iter().map(|c| c.score).sum::<f64>(),
            "max_points": hidden.iter().map(|c| c.max_score).sum::<f64>(),
            "message": "",
            "output": "",
        }));
    }
    let failed = grade.checks.iter().filter(|c| c.status == CheckStatus::Fail).count();
    json!({
        "gradable": true,
        "score": (grade.score / grade.max_score).clamp(0.0, 1.0),
        "message": format!(
            "{} / {} points; {} of {} checks failed.",
            points(grade.score),
            points(grade.max_score),
            failed,
            grade.checks.len()
        ),
        "output": overview(grade),
        "tests": tests,
    })
}

/// One line per shown check (`pass`, `FAIL`, `skipped`), the way a terminal run reads.
fn overview(grade: &SubmissionGrade) -> String {
    let mut s = String::new();
    for c in grade.checks.iter().filter(|c| c.visibility != Visibility::Hidden) {
        let word = match c.status {
            CheckStatus::Pass => "pass",
            CheckStatus::Fail => "FAIL",
            CheckStatus::Skipped => "skipped",
            CheckStatus::Error => "error",
        };
        s.push_str(&format!("{word:<7} {} ({}/{})\n", c.name, points(c.score), points(c.max_score)));
    }
    s
}

fn test(c: &GradedCheck) -> Value {
    let (message, output) = match c.status {
        CheckStatus::Pass => ("Passed.".to_string(), c.output.clone()),
        CheckStatus::Skipped => ("Skipped: no points.".to_string(), c.output.clone()),
        CheckStatus::Fail | CheckStatus::Error => {
            (c.hint.as_ref().map_or("Failed.".to_string(), |h| format!("Failed. Hint: {h}")), c.output.clone())
        }
    };
    json!({
        "name": c.name,
        "description": format!("{} check", c.kind),
        "points": c.score,
        "max_points": c.max_score,
        "message": message,
        "output": output,
    })
}
