//! Execution emits events; reporters consume them. Nothing in the runner or the grader formats output or writes
//! a report: the terminal view, the report directory, `--json`, progress lines, `grades.csv`, the LMS formats
//! and the feedback files are all [`Reporter`]s of one stream (the `reporters` room).
//!
//! Every event carries when it happened ([`Event::at`], wall clock) and how far into the stream
//! ([`Event::elapsed`]), and is about one thing: a suite's phase, one check, one submission.

use crate::report::grade::{Batch, Calibration, SubmissionGrade};
use crate::report::{CheckReport, RunReport, SuiteReport};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

/// Something that happened, and when.
#[derive(Debug)]
pub struct Event<'a> {
    /// Wall-clock time it happened.
    pub at: SystemTime,
    /// Time since the stream started (monotonic).
    pub elapsed: Duration,
    /// What happened.
    pub kind: EventKind<'a>,
}

impl<'a> Event<'a> {
    /// `kind`, happening now, at the start of a stream (`elapsed` zero): for reporters driven by hand.
    pub fn now(kind: EventKind<'a>) -> Event<'a> {
        Event { at: SystemTime::now(), elapsed: Duration::ZERO, kind }
    }
}

/// Where a suite's run is, for progress: the phases in the order they come.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SuitePhase {
    /// The lab's container engine is starting.
    Engine,
    /// The container image is being loaded or built.
    Image,
    /// Namespaces, links, networks and containers are being made.
    Topology,
    /// Waiting for the links to settle.
    Settle,
    /// Probes running: `done` of `total` answered.
    Probes {
        /// Probes that have an observation.
        done: usize,
        /// Probes to run.
        total: usize,
    },
    /// Captures being started or read.
    Captures,
    /// Reading the lab back to explain what did not get through.
    Explain,
    /// The lab is being torn down.
    Teardown,
}

impl SuitePhase {
    /// The phase a timed phase name (a [`crate::report::model::Phase`]) belongs to; `None` for `probes`, whose
    /// progress is counted instead.
    pub fn of_timing(phase: &str) -> Option<SuitePhase> {
        Some(match phase {
            "engine" => SuitePhase::Engine,
            "image" => SuitePhase::Image,
            "settle" => SuitePhase::Settle,
            "probes" => return None,
            "captures" => SuitePhase::Captures,
            "explain" => SuitePhase::Explain,
            "teardown" => SuitePhase::Teardown,
            _ => SuitePhase::Topology,
        })
    }

    /// The phase in words, as a progress line shows it (`engine`, `topology`, `probes 3/12` …).
    pub fn label(&self) -> String {
        match self {
            SuitePhase::Engine => "engine".into(),
            SuitePhase::Image => "image".into(),
            SuitePhase::Topology => "topology".into(),
            SuitePhase::Settle => "settle".into(),
            SuitePhase::Probes { done, total } => format!("probes {done}/{total}"),
            SuitePhase::Captures => "captures".into(),
            SuitePhase::Explain => "explain".into(),
            SuitePhase::Teardown => "teardown".into(),
        }
    }
}

/// A suite's [`crate::timings::Watch`]: its phases and probe counts as [`EventKind::SuitePhase`] events.
pub struct SuiteWatch<'a> {
    /// Where the events go.
    pub events: &'a Reporters,
    /// The suite.
    pub name: &'a str,
}

impl crate::timings::Watch for SuiteWatch<'_> {
    fn phase(&self, phase: &str) {
        if let Some(phase) = SuitePhase::of_timing(phase) {
            self.events.emit(EventKind::SuitePhase { name: self.name, phase });
        }
    }

    fn probed(&self, done: usize, total: usize) {
        self.events.emit(EventKind::SuitePhase { name: self.name, phase: SuitePhase::Probes { done, total } });
    }
}

/// What happened.
#[derive(Debug)]
pub enum EventKind<'a> {
    /// A run of `suites` suites begins.
    RunStarted {
        /// How many suites will run.
        suites: usize,
    },
    /// A suite is about to be built and probed.
    SuiteStarted {
        /// Suite name.
        name: &'a str,
        /// Suite file.
        file: &'a str,
    },
    /// A suite entered a phase.
    SuitePhase {
        /// Suite name.
        name: &'a str,
        /// The phase.
        phase: SuitePhase,
    },
    /// A suite's topology is up and its probes are about to run.
    TopologyReady {
        /// Suite name.
        name: &'a str,
        /// How long building took.
        setup_ms: u64,
    },
    /// One check is judged (emitted for every check of a suite, in the suite's order, before
    /// [`EventKind::SuiteFinished`]).
    CheckFinished {
        /// Suite name.
        suite: &'a str,
        /// The judged check.
        check: &'a CheckReport,
        /// How long observing it took, when it was observed.
        elapsed: Option<Duration>,
    },
    /// A suite is judged and torn down.
    SuiteFinished(&'a SuiteReport),
    /// Every suite is done.
    RunFinished(&'a RunReport),
    /// Grading a class begins: `submissions` to grade against `suite`.
    GradingStarted {
        /// Suite name.
        suite: &'a str,
        /// How many submissions.
        submissions: usize,
    },
    /// What the empty submission got (which checks grade nothing).
    Calibrated(&'a Calibration),
    /// A submission's grading begins.
    SubmissionStarted {
        /// The student (submission directory name).
        student: &'a str,
    },
    /// A submission is graded (or found graded by an earlier run with the same content: `reused`).
    SubmissionGraded {
        /// The grade.
        grade: &'a SubmissionGrade,
        /// Taken from an earlier run instead of graded again.
        reused: bool,
        /// How long grading it took (zero when reused).
        elapsed: Duration,
    },
    /// Every submission is graded.
    GradingFinished {
        /// The batch, sorted by student.
        batch: &'a Batch,
        /// How many were reused from an earlier run.
        reused: usize,
    },
}

/// Consumes events.
pub trait Reporter {
    /// Handles one event. An error here is a reporting problem, never a check result.
    fn on_event(&mut self, event: &Event<'_>) -> std::io::Result<()>;
}

/// Fans events out to every reporter, stamping each with its time, and keeps the reporting errors. Shared by
/// reference: suites and submissions that run at once emit into the same stream.
pub struct Reporters {
    reporters: Mutex<Vec<Box<dyn Reporter + Send>>>,
    errors: Mutex<Vec<std::io::Error>>,
    started: Instant,
}

impl Default for Reporters {
    fn default() -> Self {
        Reporters { reporters: Mutex::default(), errors: Mutex::default(), started: Instant::now() }
    }
}

impl Reporters {
    /// Adds a reporter.
    pub fn add(&mut self, r: impl Reporter + Send + 'static) {
        self.reporters.get_mut().unwrap_or_else(|e| e.into_inner()).push(Box::new(r));
    }

    /// Sends an event, happening now, to every reporter.
    pub fn emit(&self, kind: EventKind<'_>) {
        let event = Event { at: SystemTime::now(), elapsed: self.started.elapsed(), kind };
        let mut reporters = self.reporters.lock().unwrap_or_else(|e| e.into_inner());
        for r in reporters.iter_mut() {
            if let Err(e) = r.on_event(&event) {
                self.errors.lock().unwrap_or_else(|e| e.into_inner()).push(e);
            }
        }
    }

    /// The errors reporters returned so far, in words.
    pub fn errors(&self) -> Vec<String> {
        self.errors.lock().unwrap_or_else(|e| e.into_inner()).iter().map(ToString::to_string).collect()
    }
}
