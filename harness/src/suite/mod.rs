//! Suites: the TOML files in `test-suites/`, loaded and validated into [`Suite`] without any I/O but reading the
//! file.

mod cidr;
mod load;
pub mod matrix;
pub mod model;
pub mod schema;

pub use cidr::Cidr;
pub use load::{load_file, load_str, LoadError};
pub use matrix::Cell;
pub use model::ProbeKind;

use std::net::Ipv4Addr;

/// Probe timing for a matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct ProbeSettings {
    /// How long a probe waits for an answer.
    pub timeout_ms: u64,
    /// How many requests a probe spreads over its timeout.
    pub attempts: u32,
}

impl Default for ProbeSettings {
    fn default() -> Self {
        ProbeSettings { timeout_ms: 1000, attempts: 3 }
    }
}

/// A validated suite: every name resolves, every address parses.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Suite {
    /// Name used in reports.
    pub name: String,
    /// The file it was loaded from, as given.
    pub file: String,
    /// What the suite shows.
    pub description: Option<String>,
    /// Suite-wide probe defaults (already merged with the command line by the caller, if it wants).
    pub settings: ProbeSettings,
    /// Network namespaces.
    pub namespaces: Vec<Namespace>,
    /// Bridges.
    pub bridges: Vec<Bridge>,
    /// veth pairs.
    pub veths: Vec<Veth>,
    /// Expected matrices.
    pub matrices: Vec<Matrix>,
}

/// A network namespace of the suite.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Namespace {
    /// The suite's name for it.
    pub name: String,
    /// Routes to add.
    pub routes: Vec<Route>,
    /// IPv4 forwarding on.
    pub forwarding: bool,
}

/// A route.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Route {
    /// Destination prefix (`0.0.0.0/0` for default).
    pub to: Cidr,
    /// Gateway.
    pub via: Option<Ipv4Addr>,
    /// Output interface.
    pub dev: Option<String>,
}

/// A bridge.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Bridge {
    /// Interface name.
    pub name: String,
    /// Namespace it lives in.
    pub netns: String,
    /// Address on the bridge itself.
    pub address: Option<Cidr>,
    /// Administrative state.
    pub up: bool,
}

/// One end of a veth pair.
#[derive(Debug, Clone, serde::Serialize)]
pub struct VethEnd {
    /// Interface name.
    pub name: String,
    /// Namespace it lives in.
    pub netns: String,
    /// Address.
    pub address: Option<Cidr>,
    /// Bridge it is enslaved to.
    pub master: Option<String>,
    /// Administrative state.
    pub up: bool,
}

/// A veth pair.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Veth {
    /// The end named first in the suite.
    pub a: VethEnd,
    /// Its peer.
    pub b: VethEnd,
}

/// A matrix endpoint: a node, optionally pinned to one of its interfaces (`space2@veth-s2`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Endpoint {
    /// Node name.
    pub node: String,
    /// Interface whose address is the target, when given.
    pub via: Option<String>,
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.via {
            Some(via) => write!(f, "{}@{}", self.node, via),
            None => f.write_str(&self.node),
        }
    }
}

/// An expected matrix, resolved.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Matrix {
    /// Title.
    pub name: String,
    /// Probe kind.
    pub probe: ProbeKind,
    /// Timing.
    pub settings: ProbeSettings,
    /// Sources, top to bottom.
    pub rows: Vec<Endpoint>,
    /// Destinations, left to right.
    pub columns: Vec<Endpoint>,
    /// `cells[row][column]`.
    pub cells: Vec<Vec<Cell>>,
}

impl Suite {
    /// Every (namespace, interface, address) the suite declares, in declaration order.
    pub fn addresses(&self) -> Vec<(&str, &str, Cidr)> {
        let mut out = Vec::new();
        for b in &self.bridges {
            if let Some(a) = b.address {
                out.push((b.netns.as_str(), b.name.as_str(), a));
            }
        }
        for v in &self.veths {
            for end in [&v.a, &v.b] {
                if let Some(a) = end.address {
                    out.push((end.netns.as_str(), end.name.as_str(), a));
                }
            }
        }
        out
    }

    /// Interfaces the suite creates in a namespace.
    pub fn interfaces_in(&self, netns: &str) -> Vec<&str> {
        let bridges = self.bridges.iter().filter(|b| b.netns == netns).map(|b| b.name.as_str());
        let ends = self.veths.iter().flat_map(|v| [&v.a, &v.b]).filter(|e| e.netns == netns).map(|e| e.name.as_str());
        bridges.chain(ends).collect()
    }
}
