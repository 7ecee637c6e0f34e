//! Probes: the [`Prober`] trait, the lab guard that refuses probes whose route would leave the lab, and one
//! file per probe kind.

pub mod guard;
pub mod icmp;

use crate::check::{Check, Observation};
use futures::future::join_all;
use std::collections::HashMap;

/// Something that can observe one check. The real one sends packets; tests use recorded answers.
#[allow(async_fn_in_trait)]
pub trait Prober {
    /// Observes one check. Never panics on network conditions: unreachable is an observation; only a probe
    /// that could not run is an [`Observation::Error`].
    async fn probe(&self, check: &Check) -> Observation;
}

/// Runs every check at once, so an N×N matrix costs about one timeout, not N² of them.
pub async fn probe_all(prober: &impl Prober, checks: &[Check]) -> HashMap<usize, Observation> {
    let observed = join_all(checks.iter().map(|c| async move { (c.id, prober.probe(c).await) })).await;
    observed.into_iter().collect()
}
