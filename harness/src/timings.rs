//! Where a suite's time went, phase by phase (`run --timings`, `timings` in report.json). Pure data, filled by
//! the runner and the lab builder, shown by the reporters.

/// Time spent in one phase of a suite's run.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Phase {
    /// `namespaces`, `links`, `engine`, `image`, `networks`, `containers`, `settle`, `probes`, `captures`,
    /// `teardown`.
    pub phase: String,
    /// Milliseconds.
    pub ms: u64,
}

/// Accumulates [`Phase`]s (`.0`), and how long each check took to observe, by check id (`.1`).
#[derive(Debug, Default, Clone)]
pub struct Timings(pub Vec<Phase>, pub std::collections::HashMap<usize, u64>);

impl Timings {
    /// Adds `ms` to `phase`.
    pub fn add(&mut self, phase: &str, ms: u64) {
        match self.0.iter_mut().find(|p| p.phase == phase) {
            Some(p) => p.ms += ms,
            None => self.0.push(Phase { phase: phase.into(), ms }),
        }
    }

    /// Times `f`, adding its duration to `phase`.
    pub async fn time<T>(&mut self, phase: &str, f: impl std::future::Future<Output = T>) -> T {
        let started = std::time::Instant::now();
        let out = f.await;
        self.add(phase, started.elapsed().as_millis() as u64);
        out
    }
}
