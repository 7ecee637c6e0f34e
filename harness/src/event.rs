//! Execution emits events; reporters consume them. Nothing in the runner formats output.

use crate::report::{RunReport, SuiteReport};

/// Something that happened during a run.
#[derive(Debug)]
pub enum Event<'a> {
    /// A suite is about to be built and probed.
    SuiteStarted {
        /// Suite name.
        name: &'a str,
        /// Suite file.
        file: &'a str,
    },
    /// A suite's topology is up and its probes are about to run.
    TopologyReady {
        /// Suite name.
        name: &'a str,
        /// How long building took.
        setup_ms: u64,
    },
    /// A suite is judged and torn down.
    SuiteFinished(&'a SuiteReport),
    /// Every suite is done.
    RunFinished(&'a RunReport),
}

/// Consumes events.
pub trait Reporter {
    /// Handles one event. An error here is a reporting problem, never a check result.
    fn on_event(&mut self, event: &Event<'_>) -> std::io::Result<()>;
}

/// Fans events out to every reporter, collecting reporting errors.
#[derive(Default)]
pub struct Reporters {
    reporters: Vec<Box<dyn Reporter + Send>>,
    /// Errors reporters returned.
    pub errors: Vec<std::io::Error>,
}

impl Reporters {
    /// Adds a reporter.
    pub fn add(&mut self, r: impl Reporter + Send + 'static) {
        self.reporters.push(Box::new(r));
    }

    /// Sends an event to every reporter.
    pub fn emit(&mut self, event: Event<'_>) {
        for r in &mut self.reporters {
            if let Err(e) = r.on_event(&event) {
                self.errors.push(e);
            }
        }
    }
}
