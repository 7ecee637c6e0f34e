//! `feedback.md` for one submission: [`render`] for the student, [`render_instructor`] for the instructor.
//!
//! The student's file has the score, a table of the checks they may see, and each failed check's output and
//! hint. Hidden checks are left out entirely — not their names, not their output — and one line says how many
//! were not shown (their points still count in the score). Checks shown "after the due date" or "after
//! publishing" on Gradescope are shown here: this file is handed out by the instructor, who chooses when.
//!
//! A submission that was not graded gets no score at all, only the sentence that it was not graded because of
//! an infrastructure problem and will be rerun. The reason stays in the instructor's file, which also shows
//! hidden checks, every check's output and the setup output (already size-capped by the caller).

use super::{cell, fenced, not_graded_reason, percent, points, NOT_GRADED};
use crate::grade::model::{CheckStatus, GradedCheck, SubmissionGrade, Visibility};

/// Renders the student's `feedback.md`.
pub fn render(grade: &SubmissionGrade) -> String {
    let mut md = header(grade, "Feedback");
    if not_graded_reason(grade).is_some() {
        md.push_str(&format!("**{NOT_GRADED}**\n"));
        return md;
    }
    md.push_str(&score_line(grade));
    md.push_str(&setup_line(grade));
    let shown: Vec<&GradedCheck> = grade.checks.iter().filter(|c| c.visibility != Visibility::Hidden).collect();
    md.push_str(&table(&shown, false));
    let hidden = grade.checks.len() - shown.len();
    if hidden > 0 {
        let (n, were) = if hidden == 1 { ("check was", "it counts") } else { ("checks were", "they count") };
        md.push_str(&format!("\n{hidden} hidden {n} not shown ({were} toward the score).\n"));
    }
    details(&mut md, &shown, false);
    md
}

/// Renders the instructor's feedback: every check with its visibility and output, the reason when the
/// submission was not graded, and the setup output.
pub fn render_instructor(grade: &SubmissionGrade) -> String {
    let mut md = header(grade, "Instructor report");
    md.push_str(&format!(
        "Submission `{}` · suite version `{}` · {} ms\n\n",
        grade.submission_version, grade.suite_version, grade.duration_ms
    ));
    match not_graded_reason(grade) {
        Some(reason) => md.push_str(&format!("**Not graded — rerun it.** Reason: {reason}\n")),
        None => {
            md.push_str(&score_line(grade));
            md.push_str(&setup_line(grade));
        }
    }
    let all: Vec<&GradedCheck> = grade.checks.iter().collect();
    if !all.is_empty() {
        md.push_str(&table(&all, true));
    }
    details(&mut md, &all, true);
    md.push_str("\n## Setup output\n\n");
    if grade.output.is_empty() {
        md.push_str("(none)\n");
    } else {
        md.push_str(&fenced(&grade.output));
    }
    md
}

fn header(grade: &SubmissionGrade, title: &str) -> String {
    format!("# {title}: {} — {}\n\n", grade.suite, grade.student)
}

fn score_line(grade: &SubmissionGrade) -> String {
    let pct = percent(grade.score, grade.max_score).map(|p| format!(" ({p}%)")).unwrap_or_default();
    format!("**Score: {} / {}{pct}**\n", points(grade.score), points(grade.max_score))
}

/// Why setup ended early, when it did: what the checks below could see depends on it.
fn setup_line(grade: &SubmissionGrade) -> String {
    match &grade.setup_ended {
        Some(why) => format!("\n**Setup ended early:** {why}. The checks below grade what it had built by then.\n"),
        None => String::new(),
    }
}

fn status_word(s: CheckStatus) -> &'static str {
    match s {
        CheckStatus::Pass => "pass",
        CheckStatus::Fail => "**FAIL**",
        CheckStatus::Skipped => "skipped",
        CheckStatus::Error => "**error**",
    }
}

fn visibility_word(v: Visibility) -> &'static str {
    match v {
        Visibility::Visible => "visible",
        Visibility::Hidden => "hidden",
        Visibility::AfterDueDate => "after due date",
        Visibility::AfterPublished => "after published",
    }
}

fn table(checks: &[&GradedCheck], instructor: bool) -> String {
    let mut t = String::from("\n| | Check | Points |");
    t.push_str(if instructor { " Shown |\n|---|---|---|---|\n" } else { "\n|---|---|---|\n" });
    for c in checks {
        t.push_str(&format!(
            "| {} | {} | {} / {} |",
            status_word(c.status),
            cell(&c.name),
            points(c.score),
            points(c.max_score)
        ));
        if instructor {
            t.push_str(&format!(" {} |", visibility_word(c.visibility)));
        }
        t.push('\n');
    }
    t
}

/// Each failed or skipped check's output and hint (the student's file); every check's output (the
/// instructor's).
fn details(md: &mut String, checks: &[&GradedCheck], instructor: bool) {
    let listed: Vec<&&GradedCheck> =
        checks.iter().filter(|c| instructor || matches!(c.status, CheckStatus::Fail | CheckStatus::Skipped)).collect();
    if listed.is_empty() {
        return;
    }
    md.push_str(if instructor { "\n## Checks\n" } else { "\n## What to look at\n" });
    for c in listed {
        md.push_str(&format!("\n### {} — {}\n\n", status_word(c.status), c.name.replace('\n', " ")));
        if !c.output.is_empty() {
            md.push_str(&fenced(&c.output));
        }
        if let Some(h) = &c.hint {
            md.push_str(&format!("\n**Hint:** {h}\n"));
        }
    }
}
