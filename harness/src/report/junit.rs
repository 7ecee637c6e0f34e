//! `junit.xml`: one `<testsuite>` per suite, one `<testcase>` per check (classname = suite name), valid against
//! the Jenkins schema (see [`super::junit_xml`]).
//!
//! A failure's `message` is the judge's first line and its body the whole detail with the expected and observed
//! outcomes; probe errors are `<error type="infrastructure">`; skips are `<skipped>` with their reason. Every
//! case's `<system-out>` holds the detail, the check's fields (`kind:`, `from:`, …) one per line, and its pcap
//! files both as `pcap:` lines and as `[[ATTACHMENT|…]]` (Jenkins' attachments plugin, GitLab), with paths
//! relative to the report directory — where `junit.xml` is. A traced failing matrix cell's
//! system-out also has `path:` (its [`crate::check::PathReport`] line) and `dropped-by:` lines. The suite's
//! file, notes and infrastructure errors are the testsuite's properties (the schema allows them nowhere else).

use super::junit_xml::{self, Case, Outcome, Suite, Suites};
use super::{CheckReport, RunReport};
use crate::check::Verdict;
use std::path::Path;

/// Where and when a run's `junit.xml` is written: what the report model itself does not hold.
#[derive(Debug, Clone, Default)]
pub struct Context<'a> {
    /// The report directory: artifact paths under it are written relative to it.
    pub report_dir: Option<&'a Path>,
    /// The machine the run ran on.
    pub hostname: Option<String>,
    /// When each suite started (ISO 8601), in the report's order, for suites whose report does not say.
    pub started: Vec<String>,
}

/// Renders the run as JUnit XML, without timestamps or host name, artifact paths as they are in the report.
pub fn render(report: &RunReport) -> String {
    render_in(report, &Context::default())
}

/// Renders the run as JUnit XML for a report directory.
pub fn render_in(report: &RunReport, ctx: &Context<'_>) -> String {
    let suites = report
        .suites
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let mut properties = vec![("file".to_string(), s.file.clone())];
            if let Some(why) = &s.skipped {
                properties.push(("skipped".into(), why.clone()));
            }
            properties.extend(s.notes.iter().map(|n| ("note".to_string(), n.clone())));
            properties.extend(s.errors.iter().map(|e| ("infrastructure-error".to_string(), e.clone())));
            Suite {
                name: s.name.clone(),
                time_ms: s.duration_ms,
                timestamp: s.started_at.clone().or_else(|| ctx.started.get(i).filter(|t| !t.is_empty()).cloned()),
                hostname: ctx.hostname.clone(),
                properties,
                cases: s.checks.iter().map(|c| case(&s.name, c, ctx.report_dir)).collect(),
                system_out: None,
            }
        })
        .collect();
    junit_xml::render(&Suites { name: "reachlab".into(), time_ms: report.duration_ms, suites })
}

/// An artifact's path as `junit.xml` names it: relative to the report directory when it is inside it.
pub fn relative(artifact: &str, report_dir: Option<&Path>) -> String {
    match report_dir.and_then(|d| Path::new(artifact).strip_prefix(d).ok()) {
        Some(rel) if !rel.as_os_str().is_empty() => rel.display().to_string(),
        _ => artifact.to_string(),
    }
}

fn case(suite: &str, c: &CheckReport, report_dir: Option<&Path>) -> Case {
    let artifacts: Vec<String> = c.artifacts.iter().map(|a| relative(a, report_dir)).collect();
    let mut fields = vec![("kind", Some(&c.kind)), ("by", c.by.as_ref()), ("from", Some(&c.from)), ("to", Some(&c.to))];
    fields.extend([
        ("target", c.target.as_ref()),
        ("expected", Some(&c.expected)),
        ("observed", c.observed.as_ref()),
        ("matrix", c.matrix.as_ref()),
    ]);
    let detail = c.detail_and_why();
    let mut out = format!("{detail}\n");
    for (k, v) in fields {
        if let Some(v) = v {
            out.push_str(&format!("{k}: {v}\n"));
        }
    }
    if let Some(d) = c.dropped.filter(|d| *d > 0) {
        out.push_str(&format!("dropped: {d}\n"));
    }
    if let Some(path) = &c.path {
        // A traced cell: where the packets went, and the rule that dropped them.
        out.push_str(&format!("path: {}\n", path.line));
        if let Some(d) = &path.dropped_by {
            out.push_str(&format!("dropped-by: {}: {}\n", d.node, d.rule));
        }
        for r in &path.reasons {
            out.push_str(&format!("reason {}: {} ({})\n", r.status.as_str(), r.reason, r.evidence));
        }
    }
    for a in &artifacts {
        out.push_str(&format!("pcap: {a}\n"));
    }
    for a in &artifacts {
        out.push_str(&format!("[[ATTACHMENT|{a}]]\n"));
    }
    let observed = c.observed.as_deref().unwrap_or("nothing (the probe did not run)");
    let body = format!("{detail}\nexpected: {}\nobserved: {observed}", c.expected);
    let outcome = match c.verdict {
        Verdict::Pass => Outcome::Pass,
        Verdict::Fail => Outcome::Failure { kind: "unexpected-reachability".into(), text: body },
        Verdict::Error => Outcome::Error { kind: "infrastructure".into(), text: body },
        Verdict::Skipped => Outcome::Skipped { message: detail },
    };
    Case {
        name: c.name.clone(),
        classname: suite.to_string(),
        time_ms: c.duration_ms.unwrap_or(0),
        outcome,
        system_out: Some(out.trim_end().to_string()),
    }
}
