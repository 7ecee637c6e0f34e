//! `--json`: the report on stdout when the run finishes, and nothing else there.

use crate::event::{Event, EventKind, Reporter};
use crate::report::json;
use std::io::Write;

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
        if let EventKind::RunFinished(r) = &event.kind {
            self.out.write_all(json::render(r).as_bytes())?;
            self.out.flush()?;
        }
        Ok(())
    }
}
