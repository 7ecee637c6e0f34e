//! `report.html`, beside `junit.xml`: one self-contained page (inline CSS and SVG, no script, nothing fetched)
//! for people who look rather than read — per suite the topology with the observed reachability drawn on it
//! (green arrows: pairs seen to get through; red dashed arrows: cells that differ from the expectation), the expected and observed matrices colored cell by cell, every check that did not pass with its
//! detail and why, and links to the pcaps (relative to the report directory).

use super::graph::{esc, Arrow};
use super::junit::relative;
use super::{MatrixReport, RunReport, SuiteReport};
use crate::check::Verdict;
use std::fmt::Write as _;
use std::path::Path;

const STYLE: &str = "body{font-family:sans-serif;margin:1.5em;color:#0f172a}h1{font-size:1.4em}h2{margin-top:2em;border-bottom:2px solid #cbd5e1}\
.counts span{margin-right:1em}.pass{color:#15803d}.fail{color:#b91c1c}.error{color:#a16207}.skipped{color:#64748b}\
.grids{display:flex;gap:2em;flex-wrap:wrap}table.matrix{border-collapse:collapse;margin:.3em 0}table.matrix th,table.matrix td{border:1px solid #cbd5e1;padding:.2em .6em;text-align:center;font-family:monospace}\
td.ok{background:#dcfce7}td.bad{background:#fecaca;font-weight:bold}td.err{background:#fef08a}td.skip{background:#e2e8f0}td.none{color:#94a3b8}\
ul.checks li{margin:.3em 0}code{background:#f1f5f9;padding:0 .2em}svg.topology{max-width:100%;height:auto;border:1px solid #e2e8f0;background:#f8fafc}";

/// Renders the run as one HTML page; pcap links are relative to `report_dir` when they are inside it.
pub fn render(report: &RunReport, report_dir: Option<&Path>) -> String {
    let mut out = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>reachlab report</title><style>{STYLE}</style></head><body>\n<h1>reachlab report</h1>\n<p class=\"counts\" id=\"totals\"><span class=\"pass\">{} passed</span><span class=\"fail\">{} failed</span><span class=\"error\">{} errors</span><span class=\"skipped\">{} skipped</span> in {:.2} s ({} suites)</p>\n",
        report.passed,
        report.failed,
        report.errors,
        report.skipped,
        report.duration_ms as f64 / 1000.0,
        report.suites.len()
    );
    for s in &report.suites {
        suite(&mut out, s, report_dir);
    }
    out.push_str("</body></html>\n");
    out
}

fn suite(out: &mut String, s: &SuiteReport, report_dir: Option<&Path>) {
    let n = |v| s.count(v);
    let _ = writeln!(
        out,
        "<section class=\"suite\" id=\"suite-{}\"><h2>{} <small><code>{}</code></small></h2>\n<p class=\"counts\"><span class=\"pass\">{} passed</span><span class=\"fail\">{} failed</span><span class=\"error\">{} errors</span><span class=\"skipped\">{} skipped</span></p>",
        esc(&s.name),
        esc(&s.name),
        esc(&s.file),
        n(Verdict::Pass),
        n(Verdict::Fail),
        n(Verdict::Error),
        n(Verdict::Skipped)
    );
    if let Some(why) = &s.skipped {
        let _ = writeln!(out, "<p class=\"skipped\">skipped: {}</p>", esc(why));
    }
    for e in &s.errors {
        let _ = writeln!(out, "<p class=\"error\">infrastructure error: {}</p>", esc(e));
    }
    // The observed reachability on the topology: a solid green arrow for each matrix pair seen to get through
    // as expected, a dashed red one for each cell that differs (drawn last, on top).
    let reached = |c: &&super::CheckReport| {
        c.verdict == Verdict::Pass
            && c.matrix.is_some()
            && matches!(c.observed.as_deref(), Some("reachable" | "delivered" | "open"))
    };
    let green = s.checks.iter().filter(reached).map(|c| Arrow {
        from: c.from.clone(),
        to: c.to.clone(),
        color: "#16a34a",
        dashed: false,
        title: format!("{}: {}", c.name, c.observed.as_deref().unwrap_or_default()),
    });
    let red = s.checks.iter().filter(|c| c.verdict == Verdict::Fail && c.matrix.is_some()).map(|c| Arrow {
        from: c.from.clone(),
        to: c.to.clone(),
        color: "#dc2626",
        dashed: true,
        title: c.detail_and_why(),
    });
    let arrows: Vec<Arrow> = green.chain(red).collect();
    let failing = arrows.iter().any(|a| a.dashed);
    if !s.graph.nodes.is_empty() {
        let _ = writeln!(
            out,
            "<figure><figcaption>topology{}</figcaption>\n{}</figure>",
            match (arrows.is_empty(), failing) {
                (true, _) => "",
                (false, false) => " — green arrows: pairs observed to get through",
                (false, true) =>
                    " — green arrows: pairs observed to get through; red dashed: cells that differ from the expectation",
            },
            s.graph.svg(&arrows)
        );
    }
    if !s.matrices.is_empty() {
        out.push_str("<div class=\"matrices\">\n");
        for m in &s.matrices {
            matrix(out, m);
        }
        out.push_str("</div>\n");
    }
    let shown: Vec<_> = s.checks.iter().filter(|c| c.verdict != Verdict::Pass || !c.artifacts.is_empty()).collect();
    if !shown.is_empty() {
        out.push_str("<h3>Checks that did not pass, and captures</h3>\n<ul class=\"checks\">\n");
        for c in shown {
            let v = c.verdict.as_str();
            let _ = write!(
                out,
                "<li class=\"check {v}\"><b class=\"{v}\">{}</b> {}: {}",
                v.to_uppercase(),
                esc(&c.name),
                esc(&c.detail_and_why())
            );
            for a in &c.artifacts {
                let rel = relative(a, report_dir);
                let _ = write!(out, " <a class=\"pcap\" href=\"{}\">{}</a>", esc(&rel), esc(&rel));
            }
            // Where its packets went (its path), with the path's captures.
            if let Some(path) = &c.path {
                let _ = write!(out, "<br><code class=\"path\">path: {}</code>", esc(&path.line));
                for p in &path.pcaps {
                    let rel = relative(p, report_dir);
                    let _ = write!(out, " <a class=\"pcap\" href=\"{}\">{}</a>", esc(&rel), esc(&rel));
                }
            }
            out.push_str("</li>\n");
        }
        out.push_str("</ul>\n");
    }
    out.push_str("</section>\n");
}

fn grid(out: &mut String, m: &MatrixReport, title: &str, cells: &[String], observed: bool) {
    let _ = write!(out, "<table class=\"matrix {title}\"><caption>{title}</caption><tr><th></th>");
    for c in &m.columns {
        let _ = write!(out, "<th>{}</th>", esc(c));
    }
    out.push_str("</tr>");
    for (ri, row) in m.rows.iter().enumerate() {
        let _ = write!(out, "<tr><th>{}</th>", esc(row));
        let exp: Vec<char> = m.expected[ri].chars().collect();
        for (ci, ch) in cells[ri].chars().enumerate() {
            let class = match (observed, ch) {
                (_, '-') => "none",
                (false, _) => "",
                (true, 'E') => "err",
                (true, 'S') => "skip",
                (true, _) if m.failed.contains(&[ri, ci]) => "bad",
                (true, _) if exp.get(ci) == Some(&'-') => "none",
                (true, _) => "ok",
            };
            let _ = write!(out, "<td class=\"{class}\">{ch}</td>");
        }
        out.push_str("</tr>");
    }
    out.push_str("</table>\n");
}

fn matrix(out: &mut String, m: &MatrixReport) {
    let kind = if m.name == m.probe { String::new() } else { format!(" ({})", esc(&m.probe)) };
    let _ = writeln!(out, "<h3>{}{kind}</h3><div class=\"grids\">", esc(&m.name));
    grid(out, m, "expected", &m.expected, false);
    grid(out, m, "observed", &m.observed, true);
    out.push_str("</div>\n");
}
