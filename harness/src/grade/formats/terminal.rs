//! What `reachlab check` prints for a student: the score, why setup ended early if it did, each visible matrix
//! expected beside observed (as `reachlab run` draws it), then each failed or skipped check with its hint.
//! Hidden checks and matrices are left out; one line says how many checks were not shown.

use super::{not_graded_reason, percent, points, NOT_GRADED};
use crate::grade::model::{CheckStatus, SubmissionGrade, Visibility};
use crate::report::terminal::grid_lines;

/// Renders the student's view of `grade` for a terminal (`color`: ANSI colors).
pub fn render(grade: &SubmissionGrade, color: bool) -> String {
    let mut out = format!("━━ {} — {}\n", grade.suite, grade.student);
    if not_graded_reason(grade).is_some() {
        out.push_str(&format!("   {NOT_GRADED}\n"));
        return out;
    }
    let pct = percent(grade.score, grade.max_score).map(|p| format!(" ({p}%)")).unwrap_or_default();
    out.push_str(&format!("   score: {} / {}{pct}\n", points(grade.score), points(grade.max_score)));
    if let Some(why) = &grade.setup_ended {
        out.push_str(&format!("   setup ended early: {why}; the checks below grade what it had built by then\n"));
    }
    for m in grade.matrices.iter().filter(|m| !m.hidden) {
        out.push_str(&format!("\n   {}\n", m.grid.name));
        for line in grid_lines(&m.grid, color) {
            out.push_str(&format!("   {line}\n"));
        }
    }
    let shown: Vec<_> = grade.checks.iter().filter(|c| c.visibility != Visibility::Hidden).collect();
    let failing: Vec<_> =
        shown.iter().filter(|c| matches!(c.status, CheckStatus::Fail | CheckStatus::Skipped)).collect();
    if !failing.is_empty() {
        out.push('\n');
    }
    for c in failing {
        let word = if c.status == CheckStatus::Skipped { "SKIP" } else { "FAIL" };
        // The first line is the verdict; the lines after it (where the packets went) go under it, as `hint:`.
        let mut lines = c.output.lines();
        out.push_str(&format!("   {word} {}: {}\n", c.name, lines.next().unwrap_or_default()));
        for more in lines {
            out.push_str(&format!("        {more}\n"));
        }
        if let Some(h) = &c.hint {
            out.push_str(&format!("        hint: {h}\n"));
        }
    }
    let hidden = grade.checks.len() - shown.len();
    if hidden > 0 {
        let n = if hidden == 1 { "check was" } else { "checks were" };
        out.push_str(&format!("\n   {hidden} hidden {n} not shown (they count toward the score)\n"));
    }
    out
}
