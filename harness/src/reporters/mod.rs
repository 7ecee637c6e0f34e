//! The reporters: everything that turns the [`crate::event`] stream into output — the terminal view, progress
//! lines, the report directory (`junit.xml`, `report.json`, `summary.md`, `report.html`), `--json` on stdout,
//! and for grading `grades.csv`, each submission's feedback, JUnit and LMS files, and `reachlab check`'s view.
//! Each is a peer fed the same events; the text itself is made by the pure renderers of [`crate::report`] and
//! [`crate::grade::formats`]. This room is where output meets the clock, the environment and the disk.

pub mod files;
pub mod grading;
pub mod json;
pub mod progress;
pub mod terminal;

pub use files::FilesReporter;
pub use grading::{CheckViewReporter, GradeFilesReporter, GradeLinesReporter};
pub use json::JsonReporter;
pub use progress::ProgressReporter;
pub use terminal::TerminalReporter;

use crate::report::terminal::ColorChoice;

pub use crate::files::create_dir;

static CHOICE: std::sync::OnceLock<ColorChoice> = std::sync::OnceLock::new();

/// Sets the process's `--color` (once, from the command line).
pub fn set_color_choice(choice: ColorChoice) {
    let _ = CHOICE.set(choice);
}

/// Whether to color output written to a stream, by `--color` (default `auto`) and the environment.
pub fn use_color(is_terminal: bool) -> bool {
    let var = |k| std::env::var(k).ok();
    CHOICE.get().copied().unwrap_or_default().decide(
        is_terminal,
        var("NO_COLOR").as_deref(),
        var("CLICOLOR_FORCE").as_deref(),
    )
}

/// This machine's host name, as the kernel has it (JUnit's `hostname`).
pub fn hostname() -> Option<String> {
    let h = std::fs::read_to_string("/proc/sys/kernel/hostname").ok()?;
    Some(h.trim().to_string()).filter(|h| !h.is_empty())
}
