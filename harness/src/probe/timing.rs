//! How long each probe took: a [`Prober`] that times the one it wraps, for the reports' per-check `time`.

use super::Prober;
use crate::check::{Check, Observation};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

/// Times every probe of `inner`, by check id (a probe done again keeps its last time).
pub struct Timed<'p, P> {
    inner: &'p P,
    times: Mutex<HashMap<usize, u64>>,
}

impl<'p, P: Prober> Timed<'p, P> {
    /// Wraps `inner`.
    pub fn new(inner: &'p P) -> Self {
        Timed { inner, times: Mutex::new(HashMap::new()) }
    }

    /// Milliseconds per check id.
    pub fn into_times(self) -> HashMap<usize, u64> {
        self.times.into_inner().unwrap_or_else(|e| e.into_inner())
    }
}

impl<P: Prober> Prober for Timed<'_, P> {
    async fn probe(&self, check: &Check) -> Observation {
        let started = Instant::now();
        let o = self.inner.probe(check).await;
        let ms = started.elapsed().as_millis() as u64;
        self.times.lock().unwrap_or_else(|e| e.into_inner()).insert(check.id, ms);
        o
    }
}
