//! The reporters: terminal, report directory, JSON on stdout.

use super::{html, json, junit, junit_xml, markdown, terminal};
use crate::event::{Event, Reporter};
use crate::files::write_atomic;
use std::io::Write;
use std::path::PathBuf;

/// Matrices and verdicts for people.
pub struct TerminalReporter<W: Write> {
    out: W,
    color: bool,
    quiet: bool,
    timings: bool,
}

impl<W: Write> TerminalReporter<W> {
    /// Writes to `out`, colored when `color`.
    pub fn new(out: W, color: bool) -> Self {
        TerminalReporter { out, color, quiet: false, timings: false }
    }

    /// After each suite, where its time went (`--timings`).
    pub fn timings(mut self, on: bool) -> Self {
        self.timings = on;
        self
    }

    /// Only the closing summary line.
    pub fn quiet(mut self) -> Self {
        self.quiet = true;
        self
    }
}

impl<W: Write> Reporter for TerminalReporter<W> {
    fn on_event(&mut self, event: &Event<'_>) -> std::io::Result<()> {
        match event {
            Event::SuiteFinished(s) if !self.quiet => {
                write!(self.out, "{}", terminal::render_suite(s, self.color))?;
                if self.timings {
                    writeln!(self.out, "{}", terminal::timings_line(s))?;
                }
                writeln!(self.out)
            }
            Event::RunFinished(r) => {
                if !self.quiet && r.suites.iter().any(|s| !s.matrices.is_empty()) {
                    writeln!(self.out, "{}", terminal::LEGEND)?;
                }
                writeln!(self.out, "{}", terminal::summary_line(r))
            }
            _ => Ok(()),
        }
    }
}

/// Writes `junit.xml`, `report.json`, `summary.md` and `report.html` into a directory when the run finishes.
pub struct FilesReporter {
    dir: PathBuf,
    /// When each suite started, in order (JUnit's `timestamp`).
    started: Vec<String>,
}

impl FilesReporter {
    /// Reports into `dir` (created if missing).
    pub fn new(dir: PathBuf) -> Self {
        FilesReporter { dir, started: Vec::new() }
    }
}

impl Reporter for FilesReporter {
    fn on_event(&mut self, event: &Event<'_>) -> std::io::Result<()> {
        if let Event::SuiteStarted { .. } = event {
            self.started.push(junit_xml::utc_now());
        }
        if let Event::RunFinished(r) = event {
            create_dir(&self.dir)?;
            let ctx = junit::Context {
                report_dir: Some(&self.dir),
                hostname: junit_xml::hostname(),
                started: self.started.clone(),
            };
            // Each file whole or absent (a 0-byte junit.xml beside a complete report would read as a result).
            write_atomic(&self.dir.join("junit.xml"), junit::render_in(r, &ctx))?;
            write_atomic(&self.dir.join("report.html"), html::render(r, Some(&self.dir)))?;
            write_atomic(&self.dir.join("report.json"), json::render(r))?;
            write_atomic(&self.dir.join("summary.md"), markdown::render(r))?;
        }
        Ok(())
    }
}

/// Creates a report directory; the error names it.
pub fn create_dir(dir: &std::path::Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)
        .map_err(|e| std::io::Error::new(e.kind(), format!("failed to create {}: {e}", dir.display())))
}

/// `--json`: the report on stdout, and nothing else there.
pub struct JsonReporter<W: Write> {
    out: W,
}

impl<W: Write> JsonReporter<W> {
    /// Writes to `out`.
    pub fn new(out: W) -> Self {
        JsonReporter { out }
    }
}

impl<W: Write> Reporter for JsonReporter<W> {
    fn on_event(&mut self, event: &Event<'_>) -> std::io::Result<()> {
        if let Event::RunFinished(r) = event {
            self.out.write_all(json::render(r).as_bytes())?;
            self.out.flush()?;
        }
        Ok(())
    }
}
