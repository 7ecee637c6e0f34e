//! Applying plans: the [`Topology`] trait (side effects), the real kernel implementation, the ledger of what
//! exists and its teardown.

pub mod apply;
pub mod engine_side;
pub mod facts;
pub mod kernel_side;
pub mod ledger;
pub mod live;
pub mod ops;
pub mod ready;
pub mod reopen;
pub mod requests;
pub mod teardown;

use crate::plan::{Plan, Step};

/// Why a step could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// A netlink operation failed.
    #[error("failed to build the topology: {0}")]
    Netlink(#[from] crate::kernel::netlink::NetlinkError),
    /// The container engine refused.
    #[error("failed to build the topology: {0}")]
    Engine(crate::engine::EngineError),
    /// The lab's links never settled (see [`ready`]).
    #[error("the lab never became ready within {within_ms} ms: {pending}")]
    NotReady {
        /// How long reachlab waited.
        within_ms: u64,
        /// What was still pending.
        pending: String,
    },
    /// Anything else the kernel or filesystem refused.
    #[error("failed to {op}: {source}")]
    Io {
        /// What was attempted.
        op: String,
        /// Why it failed.
        #[source]
        source: std::io::Error,
    },
}

impl From<crate::engine::EngineError> for ApplyError {
    fn from(e: crate::engine::EngineError) -> Self {
        ApplyError::Engine(e)
    }
}

/// Something that can carry out plan steps. The kernel is the real one; tests record.
#[allow(async_fn_in_trait)]
pub trait Topology {
    /// Carries out one step, recording anything it creates before creating it.
    async fn apply(&mut self, step: &Step) -> Result<(), ApplyError>;

    /// Creates the namespaces of `nodes` (the plan's first steps), each recorded before any is made.
    async fn apply_namespaces(&mut self, nodes: &[String]) -> Result<(), ApplyError> {
        for netns in nodes {
            self.apply(&Step::CreateNamespace { netns: netns.clone() }).await?;
        }
        Ok(())
    }
}

/// Builds a plan's topology, in order, stopping at the first error (teardown removes what was made).
pub async fn build(topology: &mut impl Topology, plan: &Plan) -> Result<(), ApplyError> {
    build_timed(topology, plan, &mut crate::timings::Timings::default()).await
}

/// [`build`], adding the time of each step to its phase.
pub async fn build_timed(
    topology: &mut impl Topology,
    plan: &Plan,
    timings: &mut crate::timings::Timings<'_>,
) -> Result<(), ApplyError> {
    // The plan opens with its namespaces (and their forwarding switches): they are independent of each other,
    // so they are made together; forwarding is switched on once they exist, in the plan's order.
    let opening = plan
        .steps
        .iter()
        .take_while(|s| matches!(s, Step::CreateNamespace { .. } | Step::EnableForwarding { .. }))
        .count();
    let (first, rest) = plan.steps.split_at(opening);
    let nodes: Vec<String> = first
        .iter()
        .filter_map(|s| match s {
            Step::CreateNamespace { netns } => Some(netns.clone()),
            _ => None,
        })
        .collect();
    if !nodes.is_empty() {
        timings.time("namespaces", topology.apply_namespaces(&nodes)).await?;
    }
    for step in first.iter().filter(|s| !matches!(s, Step::CreateNamespace { .. })).chain(rest) {
        timings.time(step.phase(), topology.apply(step)).await?;
    }
    Ok(())
}
