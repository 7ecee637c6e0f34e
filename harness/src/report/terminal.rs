//! The terminal view: expected and observed matrices side by side, mismatches marked (`!`, and red when color is
//! on), then the checks that did not pass and a one-line summary.

use super::{MatrixReport, RunReport, SuiteReport};
use crate::check::Verdict;

const RED: &str = "\x1b[1;31m";
const GREEN: &str = "\x1b[32m";
const YELLOW: &str = "\x1b[33m";
const DIM: &str = "\x1b[2m";
const BOLD: &str = "\x1b[1m";
const RESET: &str = "\x1b[0m";

/// `--color`: when the terminal view is colored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ColorChoice {
    /// On a terminal, unless `NO_COLOR` is set; also off a terminal when `CLICOLOR_FORCE` is set (not `0`).
    #[default]
    Auto,
    /// Always, even into a pipe or a file.
    Always,
    /// Never.
    Never,
}

impl ColorChoice {
    /// Whether to color a stream, given whether it is a terminal and the environment's `NO_COLOR` and
    /// `CLICOLOR_FORCE` (<https://no-color.org>, <https://bixense.com/clicolors>): an explicit choice wins, then
    /// `NO_COLOR`, then `CLICOLOR_FORCE`, then whether the stream is a terminal.
    pub fn decide(self, is_terminal: bool, no_color: Option<&str>, clicolor_force: Option<&str>) -> bool {
        match self {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto if no_color.is_some_and(|v| !v.is_empty()) => false,
            ColorChoice::Auto if clicolor_force.is_some_and(|v| !v.is_empty() && v != "0") => true,
            ColorChoice::Auto => is_terminal,
        }
    }
}

fn paint(text: &str, style: &str, color: bool) -> String {
    if color && !style.is_empty() {
        format!("{style}{text}{RESET}")
    } else {
        text.to_string()
    }
}

fn center(text: &str, width: usize) -> String {
    let len = text.chars().count();
    let left = (width.saturating_sub(len)) / 2;
    format!("{}{}{}", " ".repeat(left), text, " ".repeat(width.saturating_sub(len + left)))
}

/// The two grids of a matrix, side by side, one string per line.
pub fn grid_lines(m: &MatrixReport, color: bool) -> Vec<String> {
    let label = m.rows.iter().map(|r| r.chars().count()).max().unwrap_or(0).max(4);
    let mut widths: Vec<usize> = m.columns.iter().map(|c| c.chars().count().max(3) + 1).collect();
    // Room for the "expected"/"observed" titles above narrow grids.
    let short = 10usize.saturating_sub(widths.iter().sum::<usize>());
    if let Some(last) = widths.last_mut() {
        *last += short;
    }
    let grid_width = label + widths.iter().sum::<usize>();
    let header =
        format!("{:label$}{}", "", m.columns.iter().zip(&widths).map(|(c, w)| center(c, *w)).collect::<String>());
    let mut lines = vec![
        format!(
            "{:label$}{}   │ {:label$}{}",
            "",
            center("expected", grid_width - label),
            "",
            center("observed", grid_width - label)
        ),
        format!("{header}   │ {header}"),
    ];
    for (ri, row) in m.rows.iter().enumerate() {
        let exp: Vec<char> = m.expected[ri].chars().collect();
        let obs: Vec<char> = m.observed[ri].chars().collect();
        let mut left = format!("{row:<label$}");
        let mut right = format!("{row:<label$}");
        for (ci, w) in widths.iter().enumerate() {
            left.push_str(&center(&exp[ci].to_string(), *w));
            let failed = m.failed.contains(&[ri, ci]);
            let (text, style) = match (exp[ci], obs[ci]) {
                (_, 'E') => ("E".to_string(), YELLOW),
                (_, 'S') => ("S".to_string(), DIM),
                (_, o) if failed => (format!("{o}!"), RED),
                ('-', o) => (o.to_string(), DIM),
                (_, o) => (o.to_string(), GREEN),
            };
            right.push_str(&paint(&center(&text, *w), style, color));
        }
        lines.push(format!("{left}   │ {right}"));
    }
    lines
}

fn verdict_mark(v: Verdict, color: bool) -> String {
    match v {
        Verdict::Pass => paint("ok", GREEN, color),
        Verdict::Fail => paint("FAIL", RED, color),
        Verdict::Error => paint("ERROR", YELLOW, color),
        Verdict::Skipped => paint("SKIP", DIM, color),
    }
}

fn secs(ms: u64) -> String {
    format!("{:.2} s", ms as f64 / 1000.0)
}

/// One suite: header, matrices, what did not pass, counts.
pub fn render_suite(s: &SuiteReport, color: bool) -> String {
    let mut out = format!("{} {}  {}\n", paint("━━", BOLD, color), paint(&s.name, BOLD, color), s.file);
    if let Some(why) = &s.skipped {
        out.push_str(&format!("   {} {why}\n", paint("skipped:", DIM, color)));
    }
    for e in &s.errors {
        out.push_str(&format!("   {} {e}\n", paint("infrastructure error:", YELLOW, color)));
    }
    for n in &s.notes {
        out.push_str(&format!("   {}\n", paint(n, DIM, color)));
    }
    for m in &s.matrices {
        let kind = if m.name == m.probe { String::new() } else { format!(" ({})", m.probe) };
        out.push_str(&format!("   {}{kind}\n", paint(&m.name, BOLD, color)));
        for line in grid_lines(m, color) {
            out.push_str(&format!("   {line}\n"));
        }
    }
    if s.skipped.is_none() {
        // Matrix checks are in the grids: list only those that did not pass. Assertions are listed always.
        for c in s.checks.iter().filter(|c| c.verdict != Verdict::Pass || c.matrix.is_none()) {
            let target = match (&c.target, c.matrix.is_some()) {
                (Some(t), true) => format!(" ({t})"),
                _ => String::new(),
            };
            out.push_str(&format!(
                "   {:>5} {}{target}: {}\n",
                verdict_mark(c.verdict, color),
                c.name,
                c.detail_and_why()
            ));
            if let Some(path) = &c.path {
                out.push_str(&format!("         {} {}\n", paint("path:", DIM, color), path.line));
                for r in &path.reasons {
                    out.push_str(&format!(
                        "         {} {}: {}\n",
                        paint("trace:", DIM, color),
                        r.status.as_str(),
                        r.evidence
                    ));
                }
            }
            for a in &c.artifacts {
                out.push_str(&format!("         {} {a}\n", paint("pcap:", DIM, color)));
            }
        }
    }
    out.push_str(&format!(
        "   {}: {} passed, {} failed, {} errors, {} skipped in {} (topology {})\n",
        s.name,
        s.count(Verdict::Pass),
        s.count(Verdict::Fail),
        s.count(Verdict::Error),
        s.count(Verdict::Skipped),
        secs(s.duration_ms),
        secs(s.setup_ms)
    ));
    out
}

/// The closing line of a run.
pub fn summary_line(r: &RunReport) -> String {
    format!(
        "{} passed, {} failed, {} errors, {} skipped in {} ({} suites)",
        r.passed,
        r.failed,
        r.errors,
        r.skipped,
        secs(r.duration_ms),
        r.suites.len()
    )
}

/// Legend printed once under the matrices.
pub const LEGEND: &str = "   Y reaches/delivered · N does not · U name unresolved · R refused · D dropped · O open · - not checked · ! differs from expected · E probe error · S skipped";

/// `--timings`: where a suite's time went, phase by phase, and what the phases do not account for (judging,
/// reports, waiting between phases).
pub fn timings_line(s: &SuiteReport) -> String {
    let phases: Vec<String> = s.timings.iter().map(|p| format!("{} {}", p.phase, ms(p.ms))).collect();
    let accounted: u64 = s.timings.iter().map(|p| p.ms).sum();
    let rest = s.duration_ms.saturating_sub(accounted);
    if phases.is_empty() {
        return format!("   timings: {} in all (nothing was built)", ms(s.duration_ms));
    }
    format!("   timings: {} · other {} · {} in all", phases.join(" · "), ms(rest), ms(s.duration_ms))
}

fn ms(v: u64) -> String {
    if v >= 1000 {
        format!("{:.2} s", v as f64 / 1000.0)
    } else {
        format!("{v} ms")
    }
}

#[cfg(test)]
mod tests {
    use super::ColorChoice::*;

    #[test]
    fn color_follows_the_flag_then_no_color_then_clicolor_force_then_the_terminal() {
        assert!(Always.decide(false, Some("1"), None));
        assert!(!Never.decide(true, None, Some("1")));
        assert!(Auto.decide(true, None, None));
        assert!(!Auto.decide(false, None, None));
        assert!(!Auto.decide(true, Some("1"), None));
        assert!(Auto.decide(true, Some(""), None), "an empty NO_COLOR is unset");
        assert!(!Auto.decide(true, Some("1"), Some("1")), "NO_COLOR wins over CLICOLOR_FORCE");
        assert!(Auto.decide(false, None, Some("1")));
        assert!(!Auto.decide(false, None, Some("0")));
    }
}
