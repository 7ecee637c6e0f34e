//! Progress while a run or a grading batch goes: one line per suite that is under way showing its phase
//! (`engine`, `image`, `topology`, `settle`, `probes 12/35`, `captures`, `explain`, `teardown`), and one line
//! per submission being graded. On a terminal the lines stand at the bottom of the screen and are redrawn in
//! place (erased before any other reporter writes a suite's or a submission's result, so nothing is drawn
//! over); elsewhere — not a terminal, under CI (`CI`), under nextest (`NEXTEST`), or `TERM=dumb` — each change
//! of phase is one plain line. Always on stderr: with `--json`, stdout holds the report and nothing else.

use crate::event::{Event, EventKind, Reporter, SuitePhase};
use std::io::Write;
use std::time::Duration;

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Lines redrawn in place on a terminal.
    Live,
    /// One plain line per change of phase.
    Lines,
}

impl Mode {
    /// Live on a terminal, plain lines when the stream is not one, under CI or nextest, or on a dumb terminal.
    pub fn choose(is_terminal: bool, ci: Option<&str>, nextest: Option<&str>, term: Option<&str>) -> Mode {
        let set = |v: Option<&str>| v.is_some_and(|v| !v.is_empty());
        if !is_terminal || set(ci) || set(nextest) || term == Some("dumb") {
            Mode::Lines
        } else {
            Mode::Live
        }
    }

    /// [`Mode::choose`] for this process's stderr and environment.
    pub fn for_stderr() -> Mode {
        let var = |k| std::env::var(k).ok();
        Mode::choose(
            std::io::IsTerminal::is_terminal(&std::io::stderr()),
            var("CI").as_deref(),
            var("NEXTEST").as_deref(),
            var("TERM").as_deref(),
        )
    }
}

/// One thing under way: a suite or a submission.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Line {
    /// The suite or the student.
    name: String,
    /// What it is doing, in words.
    doing: String,
}

/// The progress lines (see the module's documentation).
pub struct ProgressReporter<W: Write> {
    out: W,
    mode: Mode,
    /// What is under way, in the order it started.
    lines: Vec<Line>,
    /// How many lines are drawn on the terminal now (live mode).
    drawn: usize,
    /// Terminal width, for cutting lines that would wrap (a wrapped line would spoil the redraw).
    width: usize,
    /// Submissions in the batch, and how many have started.
    batch: Option<(usize, usize)>,
    /// When live mode last drew (the time of the event, since the stream started): probe counts redraw at
    /// most every [`REDRAW`].
    last_draw: Option<Duration>,
}

/// How often live mode redraws for probe counts alone. Events are reported from inside the probing task, so a
/// redraw per answered probe would put a terminal write on the probes' path (and a paused terminal would hold
/// them); phase changes and results always draw.
const REDRAW: Duration = Duration::from_millis(100);

impl<W: Write> ProgressReporter<W> {
    /// Progress to `out`, shown as `mode` says.
    pub fn new(out: W, mode: Mode) -> Self {
        ProgressReporter {
            out,
            mode,
            lines: Vec::new(),
            drawn: 0,
            width: terminal_width().unwrap_or(100),
            batch: None,
            last_draw: None,
        }
    }

    fn set(&mut self, name: &str, doing: String) -> Option<usize> {
        match self.lines.iter().position(|l| l.name == name) {
            Some(i) if self.lines[i].doing == doing => None,
            Some(i) => {
                self.lines[i].doing = doing;
                Some(i)
            }
            None => {
                self.lines.push(Line { name: name.into(), doing });
                Some(self.lines.len() - 1)
            }
        }
    }

    fn remove(&mut self, name: &str) {
        self.lines.retain(|l| l.name != name);
    }

    /// Erases what live mode drew, so that another reporter can write below the last finished result.
    fn erase(&mut self) -> std::io::Result<()> {
        if self.drawn > 0 {
            // Up to the first drawn line, then clear to the end of the screen.
            write!(self.out, "\r\x1b[{}A\x1b[J", self.drawn)?;
            self.drawn = 0;
        }
        Ok(())
    }

    fn draw(&mut self) -> std::io::Result<()> {
        self.erase()?;
        let name_width = self.lines.iter().map(|l| l.name.chars().count()).max().unwrap_or(0);
        for l in &self.lines {
            let text = format!("  {:<name_width$}  {}", l.name, l.doing);
            writeln!(self.out, "{}", cut(&text, self.width.saturating_sub(1)))?;
        }
        self.drawn = self.lines.len();
        self.out.flush()
    }

    /// Plain mode: one line, stamped with the time since the stream started.
    fn say(&mut self, elapsed: Duration, name: &str, doing: &str) -> std::io::Result<()> {
        writeln!(self.out, "[{:>7.2}s] {name}: {doing}", elapsed.as_secs_f64())?;
        self.out.flush()
    }

    fn update(&mut self, event: &Event<'_>, name: &str, doing: String) -> std::io::Result<()> {
        if self.set(name, doing.clone()).is_none() {
            return Ok(());
        }
        match self.mode {
            Mode::Live => {
                self.last_draw = Some(event.elapsed);
                self.draw()
            }
            Mode::Lines => self.say(event.elapsed, name, &doing),
        }
    }

    fn done(&mut self, name: &str) -> std::io::Result<()> {
        self.remove(name);
        match self.mode {
            // The result is written next (by its own reporter), where these lines were.
            Mode::Live => self.erase(),
            Mode::Lines => Ok(()),
        }
    }
}

impl<W: Write> ProgressReporter<W> {
    fn show(&mut self, event: &Event<'_>) -> std::io::Result<()> {
        match &event.kind {
            EventKind::SuiteStarted { name, .. } => self.update(event, name, "starting".into()),
            EventKind::SuitePhase { name, phase } => {
                // Plain lines say when probing starts and ends, not every probe between.
                let quiet = matches!(phase, SuitePhase::Probes { done, total } if *done != 0 && done != total);
                if quiet && self.mode == Mode::Lines {
                    return Ok(());
                }
                if quiet && self.last_draw.is_some_and(|t| event.elapsed.saturating_sub(t) < REDRAW) {
                    // Remembered, drawn with the next frame.
                    self.set(name, phase.label());
                    return Ok(());
                }
                self.update(event, name, phase.label())
            }
            EventKind::SuiteFinished(s) => self.done(&s.name),
            EventKind::RunFinished(_) | EventKind::GradingFinished { .. } => {
                self.lines.clear();
                match self.mode {
                    Mode::Live => self.erase(),
                    Mode::Lines => Ok(()),
                }
            }
            EventKind::GradingStarted { submissions, .. } => {
                self.batch = Some((*submissions, 0));
                Ok(())
            }
            EventKind::SubmissionStarted { student } => {
                let (total, started) = self.batch.unwrap_or((0, 0));
                self.batch = Some((total, started + 1));
                let of = if total > 0 { format!(" ({} of {total})", started + 1) } else { String::new() };
                self.update(event, student, format!("grading{of}"))
            }
            EventKind::SubmissionGraded { grade, .. } => self.done(&grade.student),
            _ => Ok(()),
        }
    }
}

impl<W: Write> Reporter for ProgressReporter<W> {
    /// Progress is a courtesy: a closed or broken stderr is not a reporting failure (it never turns a run's
    /// exit code into an infrastructure error); the results' own reporters say what matters.
    fn on_event(&mut self, event: &Event<'_>) -> std::io::Result<()> {
        let _ = self.show(event);
        Ok(())
    }
}

/// `text` cut to `width` characters (an ellipsis marks the cut).
fn cut(text: &str, width: usize) -> String {
    if text.chars().count() <= width || width == 0 {
        return text.to_string();
    }
    let mut s: String = text.chars().take(width.saturating_sub(1)).collect();
    s.push('…');
    s
}

/// The width of the terminal on stderr, if it is one.
fn terminal_width() -> Option<usize> {
    // SAFETY: TIOCGWINSZ only fills the winsize it is given.
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    let ok = unsafe { libc::ioctl(libc::STDERR_FILENO, libc::TIOCGWINSZ, &mut ws) } == 0;
    (ok && ws.ws_col > 0).then_some(ws.ws_col as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(mode: Mode, events: &[EventKind<'_>]) -> String {
        let timed: Vec<(u64, EventKind<'_>)> = events.iter().enumerate().map(|(i, k)| (i as u64, clone(k))).collect();
        feed_at(mode, &timed)
    }

    /// Events at the given milliseconds since the stream started.
    fn feed_at(mode: Mode, events: &[(u64, EventKind<'_>)]) -> String {
        let mut out = Vec::new();
        let mut p = ProgressReporter::new(&mut out, mode);
        p.width = 60;
        for (ms, kind) in events {
            let e =
                Event { at: std::time::SystemTime::UNIX_EPOCH, elapsed: Duration::from_millis(*ms), kind: clone(kind) };
            p.on_event(&e).unwrap();
        }
        String::from_utf8(out).unwrap()
    }

    fn clone<'a>(k: &EventKind<'a>) -> EventKind<'a> {
        match k {
            EventKind::SuiteStarted { name, file } => EventKind::SuiteStarted { name, file },
            EventKind::SuitePhase { name, phase } => EventKind::SuitePhase { name, phase: *phase },
            EventKind::SubmissionStarted { student } => EventKind::SubmissionStarted { student },
            EventKind::GradingStarted { suite, submissions } => {
                EventKind::GradingStarted { suite, submissions: *submissions }
            }
            other => panic!("not used here: {other:?}"),
        }
    }

    fn phase(name: &str, phase: SuitePhase) -> EventKind<'_> {
        EventKind::SuitePhase { name, phase }
    }

    #[test]
    fn the_mode_follows_the_terminal_ci_and_nextest() {
        assert_eq!(Mode::choose(true, None, None, Some("xterm")), Mode::Live);
        assert_eq!(Mode::choose(false, None, None, Some("xterm")), Mode::Lines);
        assert_eq!(Mode::choose(true, Some("true"), None, None), Mode::Lines);
        assert_eq!(Mode::choose(true, None, Some("1"), None), Mode::Lines);
        assert_eq!(Mode::choose(true, None, None, Some("dumb")), Mode::Lines);
        assert_eq!(Mode::choose(true, Some(""), None, None), Mode::Live, "an empty CI is unset");
    }

    #[test]
    fn plain_lines_say_each_phase_once_and_probes_at_their_ends() {
        let probes = |done| SuitePhase::Probes { done, total: 3 };
        let text = feed(
            Mode::Lines,
            &[
                EventKind::SuiteStarted { name: "test1", file: "t.toml" },
                phase("test1", SuitePhase::Engine),
                phase("test1", SuitePhase::Topology),
                phase("test1", SuitePhase::Topology),
                phase("test1", probes(0)),
                phase("test1", probes(1)),
                phase("test1", probes(3)),
                phase("test1", SuitePhase::Teardown),
            ],
        );
        let said: Vec<&str> = text.lines().map(|l| l.split_once("] ").unwrap().1).collect();
        assert_eq!(
            said,
            [
                "test1: starting",
                "test1: engine",
                "test1: topology",
                "test1: probes 0/3",
                "test1: probes 3/3",
                "test1: teardown"
            ]
        );
        assert!(!text.contains('\x1b'), "no escape codes in plain lines: {text:?}");
    }

    #[test]
    fn live_lines_are_redrawn_in_place_one_per_suite_and_submission() {
        let text = feed_at(
            Mode::Live,
            &[
                (0, EventKind::SuiteStarted { name: "a", file: "a.toml" }),
                (1, EventKind::SuiteStarted { name: "bb", file: "b.toml" }),
                (200, phase("a", SuitePhase::Probes { done: 2, total: 9 })),
            ],
        );
        // The last frame: both suites, aligned, after erasing the two lines drawn before.
        let last = text.rsplit("\x1b[J").next().unwrap();
        assert_eq!(last, "  a   probes 2/9\n  bb  starting\n");
        assert!(text.contains("\r\x1b[2A\x1b[J"), "{text:?}");
        let grading = feed(
            Mode::Live,
            &[
                EventKind::GradingStarted { suite: "test1", submissions: 2 },
                EventKind::SubmissionStarted { student: "alice" },
            ],
        );
        assert_eq!(grading, "  alice  grading (1 of 2)\n");
    }

    #[test]
    fn probe_counts_redraw_at_most_every_100_ms_and_are_not_lost() {
        let text = feed_at(
            Mode::Live,
            &[
                (0, EventKind::SuiteStarted { name: "a", file: "a.toml" }),
                (10, phase("a", SuitePhase::Probes { done: 0, total: 9 })),
                (20, phase("a", SuitePhase::Probes { done: 1, total: 9 })),
                (30, phase("a", SuitePhase::Probes { done: 2, total: 9 })),
            ],
        );
        assert!(!text.contains("probes 1/9") && !text.contains("probes 2/9"), "drawn too often: {text:?}");
        let later = feed_at(
            Mode::Live,
            &[
                (0, EventKind::SuiteStarted { name: "a", file: "a.toml" }),
                (10, phase("a", SuitePhase::Probes { done: 0, total: 9 })),
                (20, phase("a", SuitePhase::Probes { done: 1, total: 9 })),
                (30, phase("a", SuitePhase::Probes { done: 9, total: 9 })),
            ],
        );
        // The last count always draws (it ends the phase).
        assert!(later.ends_with("  a  probes 9/9\n"), "{later:?}");
    }

    #[test]
    fn long_lines_are_cut_not_wrapped() {
        assert_eq!(cut("abcdef", 4), "abc…");
        assert_eq!(cut("abc", 4), "abc");
    }
}
