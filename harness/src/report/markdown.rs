//! `summary.md`: fits a CI job summary (GitHub's `$GITHUB_STEP_SUMMARY`, GitLab's Markdown artifacts).

use super::terminal::grid_lines;
use super::RunReport;
use crate::check::Verdict;
use std::fmt::Write;

fn icon(v: Verdict) -> &'static str {
    match v {
        Verdict::Pass => "✅",
        Verdict::Fail => "❌",
        Verdict::Error => "⚠️",
        Verdict::Skipped => "⏭️",
    }
}

/// Renders the run as Markdown.
pub fn render(report: &RunReport) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# reachlab results\n");
    let _ = writeln!(
        out,
        "**{} passed, {} failed, {} errors, {} skipped**\n",
        report.passed, report.failed, report.errors, report.skipped
    );
    let _ = writeln!(out, "| suite | passed | failed | errors | skipped |\n|---|---:|---:|---:|---:|");
    for s in &report.suites {
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {} | {} |",
            s.name,
            s.count(Verdict::Pass),
            s.count(Verdict::Fail),
            s.count(Verdict::Error),
            s.count(Verdict::Skipped)
        );
    }
    for s in &report.suites {
        let _ = writeln!(out, "\n## {} (`{}`)\n", s.name, s.file);
        if let Some(why) = &s.skipped {
            let _ = writeln!(out, "Skipped: {why}\n");
        }
        for n in &s.notes {
            let _ = writeln!(out, "- {n}");
        }
        if !s.notes.is_empty() {
            let _ = writeln!(out);
        }
        for e in &s.errors {
            let _ = writeln!(out, "> ⚠️ infrastructure: {e}\n");
        }
        for m in &s.matrices {
            let _ = writeln!(out, "**{}** — expected | observed\n\n```text", m.name);
            for line in grid_lines(m, false) {
                let _ = writeln!(out, "{line}");
            }
            let _ = writeln!(out, "```\n");
        }
        let listed =
            |c: &&crate::report::CheckReport| (c.verdict != Verdict::Pass || c.matrix.is_none()) && s.skipped.is_none();
        let notable: Vec<_> = s.checks.iter().filter(listed).collect();
        if !notable.is_empty() {
            let _ = writeln!(out, "| | check | target | detail |\n|---|---|---|---|");
            for c in notable {
                let cell = |t: &str| t.replace('|', "\\|");
                let target = c.target.as_deref().unwrap_or("");
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} |",
                    icon(c.verdict),
                    cell(&c.name),
                    cell(target),
                    cell(&c.detail_and_why())
                );
            }
        }
    }
    out
}
