//! Where a suite's time went, phase by phase (`run --timings`, `timings` in report.json): [`Timings`] adds up
//! each phase and each check's time as the run goes, and tells a [`Watch`] as each phase begins (the runner's
//! watch turns that into progress events); the totals end up in the report as [`Phase`]s.

/// Time spent in one phase of a suite's run.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Phase {
    /// `namespaces`, `links`, `engine`, `image`, `networks`, `containers`, `settle`, `probes`, `captures`,
    /// `teardown`.
    pub phase: String,
    /// Milliseconds.
    pub ms: u64,
}

/// Told when a phase of a suite's run begins and how far its probes are (the runner's watch turns them into
/// events).
pub trait Watch: Sync {
    /// `phase` (a [`Phase::phase`] name) begins.
    fn phase(&self, phase: &str);
    /// `done` of `total` probes have answered.
    fn probed(&self, done: usize, total: usize);
}

/// Accumulates [`Phase`]s, and how long each check took to observe, by check id; tells its [`Watch`], if it has
/// one, as each phase begins.
#[derive(Default)]
pub struct Timings<'w> {
    /// Time per phase, in the order the phases first ran.
    pub phases: Vec<Phase>,
    /// Milliseconds per check id.
    pub checks: std::collections::HashMap<usize, u64>,
    watch: Option<&'w dyn Watch>,
}

impl<'w> Timings<'w> {
    /// Timings that tell `watch` as each phase begins.
    pub fn watched(watch: &'w dyn Watch) -> Self {
        Timings { watch: Some(watch), ..Timings::default() }
    }

    /// Who is told of the phases, if anyone.
    pub fn watch(&self) -> Option<&'w dyn Watch> {
        self.watch
    }

    /// Adds `ms` to `phase`.
    pub fn add(&mut self, phase: &str, ms: u64) {
        match self.phases.iter_mut().find(|p| p.phase == phase) {
            Some(p) => p.ms += ms,
            None => self.phases.push(Phase { phase: phase.into(), ms }),
        }
    }

    /// Times `f`, adding its duration to `phase` (and telling the watch that `phase` begins).
    pub async fn time<T>(&mut self, phase: &str, f: impl std::future::Future<Output = T>) -> T {
        if let Some(w) = self.watch {
            w.phase(phase);
        }
        let started = std::time::Instant::now();
        let out = f.await;
        self.add(phase, started.elapsed().as_millis() as u64);
        out
    }
}
