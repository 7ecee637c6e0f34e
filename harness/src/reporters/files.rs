//! The report directory of a run: `junit.xml`, `report.json`, `summary.md` and `report.html`, written when the
//! run finishes, each whole or absent.

use super::create_dir;
use crate::event::{Event, EventKind, Reporter};
use crate::files::write_atomic;
use crate::report::{html, json, junit, junit_xml, markdown};
use std::collections::HashMap;
use std::path::PathBuf;

/// Writes `junit.xml`, `report.json`, `summary.md` and `report.html` into a directory when the run finishes.
pub struct FilesReporter {
    dir: PathBuf,
    /// When each suite started, by name (JUnit's `timestamp`, for suites whose report does not say).
    started: HashMap<String, String>,
}

impl FilesReporter {
    /// Reports into `dir` (created if missing).
    pub fn new(dir: PathBuf) -> Self {
        FilesReporter { dir, started: HashMap::new() }
    }
}

impl Reporter for FilesReporter {
    fn on_event(&mut self, event: &Event<'_>) -> std::io::Result<()> {
        match &event.kind {
            EventKind::SuiteStarted { name, .. } => {
                self.started.entry(name.to_string()).or_insert_with(|| junit_xml::utc(event.at));
            }
            EventKind::RunFinished(r) => {
                create_dir(&self.dir)?;
                let ctx = junit::Context {
                    report_dir: Some(&self.dir),
                    hostname: super::hostname(),
                    started: r.suites.iter().map(|s| self.started.get(&s.name).cloned().unwrap_or_default()).collect(),
                };
                // Each file whole or absent (a 0-byte junit.xml beside a complete report would read as a result).
                write_atomic(&self.dir.join("junit.xml"), junit::render_in(r, &ctx))?;
                write_atomic(&self.dir.join("report.html"), html::render(r, Some(&self.dir)))?;
                write_atomic(&self.dir.join("report.json"), json::render(r))?;
                write_atomic(&self.dir.join("summary.md"), markdown::render(r))?;
            }
            _ => {}
        }
        Ok(())
    }
}
