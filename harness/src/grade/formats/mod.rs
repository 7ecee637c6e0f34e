//! LMS output formats: pure renderers of the grading model ([`super::model`]). Each takes a graded submission (or
//! a batch) and returns text or JSON; none reads the clock, the environment or the disk, so the same input
//! always renders byte-identical output.
//!
//! One rule holds in every format: a submission that could not be graded (an infrastructure problem) is never
//! rendered as a zero. Each format says so in its own way — an empty CSV cell, no `score` for Gradescope,
//! no `max_score` for GitHub Classroom, `gradable: false` for PrairieLearn, `<error>` in JUnit, and words in
//! Markdown. [`not_graded_reason`] decides, once, which submissions those are.
//!
//! Who reads what decides how hidden checks are shown: Gradescope hides them itself (its own `visibility`);
//! GitHub Classroom's job log and PrairieLearn's results are read by the student, so hidden checks are folded
//! into one line there; the student's `feedback.md` leaves them out; `grades.csv`, JUnit and the instructor's
//! feedback show everything.

pub mod classroom;
pub mod csv;
pub mod feedback;
pub mod gradescope;
pub mod junit;
pub mod prairielearn;
pub mod terminal;

use super::model::{CheckStatus, GradeStatus, SubmissionGrade};

/// Why `grade` must not be scored, if it must not: its status is [`GradeStatus::Error`], or one of its checks
/// could not be observed ([`CheckStatus::Error`]). The model says such a check makes the whole submission an
/// error to rerun; renderers enforce that here too, so an inconsistent grade can never leak out as a zero.
pub fn not_graded_reason(grade: &SubmissionGrade) -> Option<String> {
    if let GradeStatus::Error { reason } = &grade.status {
        return Some(reason.clone());
    }
    grade
        .checks
        .iter()
        .find(|c| c.status == CheckStatus::Error)
        .map(|c| format!("check `{}` could not be observed: {}", c.name, c.output))
}

/// What every student-facing format says when a submission was not graded.
pub(crate) const NOT_GRADED: &str = "Not graded: an infrastructure problem stopped the grader (not a problem with \
                                     your submission). The instructor will rerun it; no score has been recorded.";

/// Points as people write them: `2`, `2.5`, `0.33` (at most two decimals, no trailing zeros). Used by the text
/// formats; JSON formats carry the `f64` itself.
pub fn points(x: f64) -> String {
    if !x.is_finite() {
        return String::new();
    }
    let s = format!("{x:.2}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    // `-0.00` would otherwise print as `-0`.
    if s == "-0" {
        "0".to_string()
    } else {
        s.to_string()
    }
}

/// `score / max` as a percentage in [`points`] notation, or `None` when there is nothing to divide by.
pub(crate) fn percent(score: f64, max: f64) -> Option<String> {
    (max > 0.0).then(|| points(score / max * 100.0))
}

/// `text` in a fenced Markdown code block whose fence is longer than any run of backticks inside it, so
/// captured output can never close the block early.
pub(crate) fn fenced(text: &str) -> String {
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest.max(2) + 1);
    let body = text.trim_end_matches('\n');
    format!("{fence}text\n{body}\n{fence}\n")
}

/// `text` made safe for one Markdown table cell: pipes escaped, line breaks folded into spaces.
pub(crate) fn cell(text: &str) -> String {
    text.replace('\\', "\\\\").replace('|', "\\|").replace("\r\n", " ").replace(['\n', '\r'], " ")
}

/// A check's output followed by its hint, as the failure text of the JSON and XML formats.
pub(crate) fn output_with_hint(output: &str, hint: Option<&str>) -> String {
    match hint {
        Some(h) if output.is_empty() => format!("Hint: {h}"),
        Some(h) => format!("{output}\nHint: {h}"),
        None => output.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grade::model::{GradedCheck, Visibility};

    fn check(status: CheckStatus) -> GradedCheck {
        GradedCheck {
            name: "icmp a -> b".into(),
            kind: "icmp".into(),
            score: 0.0,
            max_score: 1.0,
            status,
            visibility: Visibility::Visible,
            output: "no ICMP socket".into(),
            hint: None,
            not_scored: None,
            duration_ms: None,
        }
    }

    fn grade(status: GradeStatus, checks: Vec<GradedCheck>) -> SubmissionGrade {
        SubmissionGrade {
            student: "s".into(),
            suite: "netns".into(),
            suite_version: "v".into(),
            submission_version: "w".into(),
            status,
            score: 0.0,
            max_score: 1.0,
            checks,
            output: String::new(),
            duration_ms: 0,
            phases: Vec::new(),
            setup_ended: None,
            matrices: Vec::new(),
        }
    }

    #[test]
    fn an_error_check_makes_a_graded_submission_not_graded() {
        assert_eq!(not_graded_reason(&grade(GradeStatus::Graded, vec![check(CheckStatus::Fail)])), None);
        let r = not_graded_reason(&grade(GradeStatus::Graded, vec![check(CheckStatus::Error)])).unwrap();
        assert_eq!(r, "check `icmp a -> b` could not be observed: no ICMP socket");
        let e = GradeStatus::Error { reason: "dockerd did not start".into() };
        assert_eq!(not_graded_reason(&grade(e, vec![])).as_deref(), Some("dockerd did not start"));
    }

    #[test]
    fn points_are_short_and_exact() {
        assert_eq!(points(2.0), "2");
        assert_eq!(points(2.5), "2.5");
        assert_eq!(points(1.0 / 3.0), "0.33");
        assert_eq!(points(-0.0001), "0");
        assert_eq!(percent(6.0, 10.0).as_deref(), Some("60"));
        assert_eq!(percent(1.0, 0.0), None);
    }

    #[test]
    fn fences_outlast_backticks_in_the_text() {
        assert_eq!(fenced("a\n"), "```text\na\n```\n");
        assert_eq!(fenced("x ```` y"), "`````text\nx ```` y\n`````\n");
    }

    #[test]
    fn cells_keep_tables_intact() {
        assert_eq!(cell("a|b\nc"), "a\\|b c");
    }
}
