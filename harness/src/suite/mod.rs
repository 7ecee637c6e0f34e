//! Suites: the TOML files in `test-suites/`, loaded and validated into [`Suite`] without any I/O but reading the
//! file.

mod load;
pub mod matrix;
pub mod model;
pub mod schema;

pub use crate::cidr::Cidr;
pub use load::{load_bytes, load_file, load_str, load_str_with, read_source, Limits, LoadError};
pub use matrix::Cell;
pub use model::{By, LinkKind, ProbeKind, Promiscuous};

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
    /// Other virtual interfaces.
    pub links: Vec<Link>,
    /// Expected matrices.
    pub matrices: Vec<Matrix>,
    /// The emulated LAN, when the suite has one (its namespaces, switch and cables are already in
    /// `namespaces`, `bridges` and `veths`).
    pub lab: Option<Lab>,
    /// Docker networks.
    pub networks: Vec<Network>,
    /// Containers.
    pub containers: Vec<Container>,
    /// Captures.
    pub captures: Vec<Capture>,
    /// NAT assertions.
    pub nats: Vec<Nat>,
    /// Interface flag assertions.
    pub interfaces: Vec<Interface>,
    /// Grading settings, when the suite grades submissions.
    pub grading: Option<Grading>,
}

/// Grading settings.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Grading {
    /// Default points per check.
    pub points: f64,
    /// Points per correctly predicted cell.
    pub prediction_points: f64,
    /// Time limit for `setup.sh`.
    pub setup_timeout_s: u64,
}

/// How a check counts when grading.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize)]
pub struct Scoring {
    /// Points, when set on the matrix, capture or rule.
    pub points: Option<f64>,
    /// Hidden from students until released.
    pub hidden: bool,
    /// Passes without any submission on purpose (the environment provides it): shown, never scored.
    pub given: bool,
}

/// The emulated LAN of the lab.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Lab {
    /// server1's LAN address.
    pub server1: Cidr,
    /// server2's LAN address.
    pub server2: Cidr,
    /// server1's NIC.
    pub nic: String,
    /// server2's NIC.
    pub server2_nic: String,
    /// The hypervisor's promiscuous policy for server1's port.
    pub promiscuous: Promiscuous,
    /// Promiscuous mode on server1's NIC.
    pub nic_promisc: bool,
}

/// A macvlan, ipvlan, vlan, vxlan or dummy interface.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Link {
    /// Kind.
    pub kind: LinkKind,
    /// Interface name.
    pub name: String,
    /// Namespace it ends up in.
    pub netns: String,
    /// Lower device and its namespace.
    pub parent: Option<(String, String)>,
    /// Mode (macvlan, ipvlan).
    pub mode: Option<String>,
    /// VLAN id or VNI.
    pub id: Option<u32>,
    /// vxlan remote.
    pub remote: Option<Ipv4Addr>,
    /// vxlan local.
    pub local: Option<Ipv4Addr>,
    /// vxlan UDP port.
    pub dstport: Option<u16>,
    /// Address.
    pub address: Option<Cidr>,
    /// Administrative state.
    pub up: bool,
}

impl Lab {
    /// The namespace of server1 (whose Docker engine runs the containers).
    pub const SERVER1: &'static str = "server1";
    /// The namespace of server2.
    pub const SERVER2: &'static str = "server2";
    /// The namespace of the hypervisor's host-only switch.
    pub const SWITCH: &'static str = "hostonly";
    /// The lab's own machines, which a suite's `[lab]` provides (server1, server2 and the host-only switch).
    pub const ENVIRONMENT: [&'static str; 3] = [Lab::SERVER1, Lab::SERVER2, Lab::SWITCH];
    /// The switch's bridge, named after VirtualBox's host-only adapter.
    pub const BRIDGE: &'static str = "vboxnet0";
}

/// A Docker network.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Network {
    /// Name.
    pub name: String,
    /// Driver.
    pub driver: String,
    /// Subnet.
    pub subnet: Option<Cidr>,
    /// Gateway.
    pub gateway: Option<Ipv4Addr>,
    /// IP range.
    pub ip_range: Option<Cidr>,
    /// Driver options.
    pub options: std::collections::BTreeMap<String, String>,
}

/// How a container is attached.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Attachment {
    /// To these networks, in order.
    Networks(Vec<String>),
    /// Sharing server1's network stack.
    Host,
    /// No network.
    None,
}

/// A container.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Container {
    /// Name.
    pub name: String,
    /// Image as the suite names it.
    pub image: String,
    /// Networks or mode.
    pub attachment: Attachment,
    /// Command, if not the image's.
    pub command: Option<Vec<String>>,
}

/// A node or a literal address in a capture assertion.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum HostRef {
    /// A node's addresses.
    Node(String),
    /// One address.
    Address(Ipv4Addr),
}

impl std::fmt::Display for HostRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HostRef::Node(n) => f.write_str(n),
            HostRef::Address(a) => write!(f, "{a}"),
        }
    }
}

/// A capture.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Capture {
    /// Name (pcap file name).
    pub name: String,
    /// Node.
    pub node: String,
    /// Interface in the node's namespace.
    pub interface: String,
    /// Filter in tcpdump's language, checked by libpcap; node names marked for their addresses.
    pub filter: crate::filter::Filter,
    /// Count bounds.
    pub min_packets: Option<u64>,
    /// Count bounds.
    pub max_packets: Option<u64>,
    /// Source assertion.
    pub src: Option<HostRef>,
    /// Destination assertion.
    pub dst: Option<HostRef>,
    /// Grading.
    pub scoring: Scoring,
    /// Hint when it fails.
    pub hint: Option<String>,
}

/// A NAT assertion.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Nat {
    /// Node whose nat table is read.
    pub node: String,
    /// Subnet that must be masqueraded.
    pub masquerade: Cidr,
    /// Grading.
    pub scoring: Scoring,
    /// Hint when it fails.
    pub hint: Option<String>,
}

/// An interface flag assertion (`ip link show NAME` must say PROMISC, or must not).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Interface {
    /// Node whose interface is read.
    pub node: String,
    /// Interface name in the node's namespace.
    pub name: String,
    /// Whether promiscuous mode must be on.
    pub promisc: bool,
    /// Grading.
    pub scoring: Scoring,
    /// Hint when it fails.
    pub hint: Option<String>,
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
    /// ICMP by address or by name.
    pub by: By,
    /// UDP/TCP port.
    pub port: Option<u16>,
    /// UDP/TCP: whether reachlab listens at the destination.
    pub listen: bool,
    /// Grading.
    pub scoring: Scoring,
    /// Hints by (source, destination) as written in the matrix.
    pub hints: std::collections::BTreeMap<(String, String), String>,
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
        for l in &self.links {
            if let Some(a) = l.address {
                out.push((l.netns.as_str(), l.name.as_str(), a));
            }
        }
        out
    }

    /// A container by name.
    pub fn container(&self, name: &str) -> Option<&Container> {
        self.containers.iter().find(|c| c.name == name)
    }
}
