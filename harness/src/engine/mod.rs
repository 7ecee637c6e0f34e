//! The container engine: a private `dockerd` started inside server1's namespace (so docker0, user-defined
//! bridges, NAT rules and host-network containers all live in the lab), images without a registry, and the
//! Docker objects a suite declares — all through the Engine API (bollard), never the `docker` CLI.

pub mod daemon;
pub mod docker;
pub mod image;

/// Which engine runs the suite's containers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum EngineMode {
    /// A private dockerd in a fresh server1 namespace per run (default; hermetic).
    #[default]
    Private,
    /// The machine's engine (`DOCKER_HOST` or the default socket); server1 is the machine itself.
    System,
}

/// Whether an interface of server1 is one of Docker's bridges (docker0, or br-<network id>).
pub fn docker_bridge(name: &str) -> bool {
    name == "docker0" || name.starts_with("br-")
}

/// Why the engine could not do something.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The Engine API refused.
    #[error("failed to {op}: {source}")]
    Api {
        /// What was attempted.
        op: String,
        /// The engine's answer.
        #[source]
        source: bollard::errors::Error,
    },
    /// A process, file or socket problem.
    #[error("failed to {op}: {source}")]
    Io {
        /// What was attempted.
        op: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// dockerd did not come up.
    #[error("the private Docker engine did not start: {0}")]
    Start(String),
}

impl EngineError {
    pub(crate) fn api(op: impl Into<String>) -> impl FnOnce(bollard::errors::Error) -> EngineError {
        let op = op.into();
        move |source| EngineError::Api { op, source }
    }

    pub(crate) fn io(op: impl Into<String>) -> impl FnOnce(std::io::Error) -> EngineError {
        let op = op.into();
        move |source| EngineError::Io { op, source }
    }
}

/// Labels marking everything reachlab creates in an engine (for `clean`, and to never touch anything else).
pub fn labels(run_id: &str, suite: &str) -> std::collections::HashMap<String, String> {
    std::collections::HashMap::from([
        ("dev.reachlab.run".to_string(), run_id.to_string()),
        ("dev.reachlab.suite".to_string(), suite.to_string()),
    ])
}
