//! The terminal view of a run: each suite's matrices and verdicts when it finishes, and the closing summary.

use crate::event::{Event, EventKind, Reporter};
use crate::report::terminal;
use std::io::Write;

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
        match &event.kind {
            EventKind::SuiteFinished(s) if !self.quiet => {
                write!(self.out, "{}", terminal::render_suite(s, self.color))?;
                if self.timings {
                    writeln!(self.out, "{}", terminal::timings_line(s))?;
                }
                writeln!(self.out)
            }
            EventKind::RunFinished(r) => {
                if !self.quiet && r.suites.iter().any(|s| !s.matrices.is_empty()) {
                    writeln!(self.out, "{}", terminal::LEGEND)?;
                }
                writeln!(self.out, "{}", terminal::summary_line(r))
            }
            _ => Ok(()),
        }
    }
}
