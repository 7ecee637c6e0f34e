//! The suite file as written: serde input types, one per TOML table.
//!
//! Every table denies unknown keys, so a typo is reported at its file:line:col with the keys that are allowed.
//! Names that refer to other things (`netns`, `master`, matrix rows) stay [`Spanned`] so the loader can point at
//! them when they do not resolve.

use schemars::JsonSchema;
use serde::Deserialize;
use toml::Spanned;

/// A whole suite file (`test-suites/*.toml`).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(
    title = "reachlab suite",
    description = "A reachlab suite: a topology, probes and expected reachability matrices."
)]
pub struct SuiteFile {
    /// The suite's name in reports; defaults to the file name without `.toml`.
    pub name: Option<String>,
    /// What the suite shows, in the lab's words.
    pub description: Option<String>,
    /// Probe defaults for every matrix of this suite.
    #[serde(default)]
    pub settings: Settings,
    /// Network namespaces (`ip netns add NAME`).
    #[serde(default)]
    pub namespace: Vec<NamespaceSpec>,
    /// Linux bridges, each inside one of the suite's namespaces (`ip link add NAME type bridge`).
    #[serde(default)]
    pub bridge: Vec<BridgeSpec>,
    /// veth pairs (`ip link add NAME type veth peer name PEER`), each end placed in a namespace.
    #[serde(default)]
    pub veth: Vec<VethSpec>,
    /// Expected reachability matrices.
    #[serde(default)]
    pub matrix: Vec<MatrixSpec>,
}

/// Probe defaults.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// How long a probe waits for an answer, in milliseconds (default 1000).
    #[schemars(with = "Option<u64>")]
    pub timeout_ms: Option<Spanned<u64>>,
    /// How many requests a probe sends within its timeout (default 3); one answer is enough.
    #[schemars(with = "Option<u32>")]
    pub attempts: Option<Spanned<u32>>,
}

/// A network namespace.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NamespaceSpec {
    /// The name used in the suite and in reports (the kernel's name is run-scoped).
    #[schemars(with = "String")]
    pub name: Spanned<String>,
    /// Routes to add (`ip route add TO via VIA dev DEV`).
    #[serde(default)]
    pub routes: Vec<RouteSpec>,
    /// Forward IPv4 packets between interfaces (`sysctl net.ipv4.ip_forward=1`).
    #[serde(default)]
    pub forwarding: bool,
}

/// A route inside a namespace.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RouteSpec {
    /// Destination: a CIDR such as `10.0.1.0/24`, or `default`.
    #[schemars(with = "String")]
    pub to: Spanned<String>,
    /// Gateway address.
    #[schemars(with = "Option<String>")]
    pub via: Option<Spanned<String>>,
    /// Output interface (needed when there is no gateway).
    #[schemars(with = "Option<String>")]
    pub dev: Option<Spanned<String>>,
}

/// A Linux bridge.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BridgeSpec {
    /// Interface name (at most 15 characters).
    #[schemars(with = "String")]
    pub name: Spanned<String>,
    /// The namespace it lives in.
    #[schemars(with = "String")]
    pub netns: Spanned<String>,
    /// Address with prefix length, e.g. `10.0.0.1/24`.
    #[schemars(with = "Option<String>")]
    pub address: Option<Spanned<String>>,
    /// Administrative state (default true: `ip link set NAME up`).
    pub up: Option<bool>,
}

/// A veth pair; this table is one end, `peer` the other.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VethSpec {
    /// Interface name of this end (at most 15 characters).
    #[schemars(with = "String")]
    pub name: Spanned<String>,
    /// The namespace this end is moved into (`ip link set NAME netns NETNS`).
    #[schemars(with = "String")]
    pub netns: Spanned<String>,
    /// Address with prefix length, e.g. `10.0.0.11/24`.
    #[schemars(with = "Option<String>")]
    pub address: Option<Spanned<String>>,
    /// A bridge in the same namespace to enslave this end to (`ip link set NAME master BRIDGE`).
    #[schemars(with = "Option<String>")]
    pub master: Option<Spanned<String>>,
    /// Administrative state (default true).
    pub up: Option<bool>,
    /// The other end.
    pub peer: VethPeerSpec,
}

/// The other end of a veth pair.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VethPeerSpec {
    /// Interface name of the peer (at most 15 characters).
    #[schemars(with = "String")]
    pub name: Spanned<String>,
    /// The namespace the peer is moved into.
    #[schemars(with = "String")]
    pub netns: Spanned<String>,
    /// Address with prefix length.
    #[schemars(with = "Option<String>")]
    pub address: Option<Spanned<String>>,
    /// A bridge in the peer's namespace to enslave the peer to.
    #[schemars(with = "Option<String>")]
    pub master: Option<Spanned<String>>,
    /// Administrative state (default true).
    pub up: Option<bool>,
}

/// An expected reachability matrix.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MatrixSpec {
    /// A title for reports; defaults to the probe kind.
    pub name: Option<String>,
    /// What each cell probes.
    pub probe: ProbeKind,
    /// The grid: first line names the destinations (columns), each further line starts with a source (row)
    /// followed by one cell per column: `Y` must reach, `N` must not reach, `-` not checked.
    #[schemars(with = "String")]
    pub expect: Spanned<String>,
    /// Overrides `settings.timeout_ms` for this matrix.
    #[schemars(with = "Option<u64>")]
    pub timeout_ms: Option<Spanned<u64>>,
    /// Overrides `settings.attempts` for this matrix.
    #[schemars(with = "Option<u32>")]
    pub attempts: Option<Spanned<u32>>,
}

/// Probe kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ProbeKind {
    /// ICMP echo request from the source's namespace to the destination's address.
    Icmp,
}

impl ProbeKind {
    /// The name used in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            ProbeKind::Icmp => "icmp",
        }
    }
}
