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
    #[schemars(with = "Option<String>")]
    pub name: Option<Spanned<String>>,
    /// What the suite shows, in the lab's words.
    pub description: Option<String>,
    /// Probe defaults for every matrix of this suite.
    #[serde(default)]
    pub settings: Settings,
    /// The emulated two-VM LAN of the lab: server1 (with its own Docker engine), server2, and the hypervisor's
    /// host-only switch. Implied, with these defaults, when the suite has containers or networks.
    pub lab: Option<LabSpec>,
    /// Network namespaces (`ip netns add NAME`).
    #[serde(default)]
    pub namespace: Vec<NamespaceSpec>,
    /// Linux bridges, each inside one of the suite's namespaces (`ip link add NAME type bridge`).
    #[serde(default)]
    pub bridge: Vec<BridgeSpec>,
    /// veth pairs (`ip link add NAME type veth peer name PEER`), each end placed in a namespace.
    #[serde(default)]
    pub veth: Vec<VethSpec>,
    /// Other virtual interfaces: macvlan, ipvlan, vlan, vxlan, dummy.
    #[serde(default)]
    pub link: Vec<LinkSpec>,
    /// Docker networks in server1's engine (`docker network create`).
    #[serde(default)]
    pub network: Vec<NetworkSpec>,
    /// Containers in server1's engine (`docker run -dit`).
    #[serde(default)]
    pub container: Vec<ContainerSpec>,
    /// Expected reachability matrices.
    #[serde(default)]
    pub matrix: Vec<MatrixSpec>,
    /// Packet captures running while the probes run, with assertions.
    #[serde(default)]
    pub capture: Vec<CaptureSpec>,
    /// Assertions on NAT rules (`iptables -t nat -S`).
    #[serde(default)]
    pub nat: Vec<NatSpec>,
    /// Assertions on an interface's flags as the kernel reports them (`ip link show`), e.g. promiscuous mode.
    #[serde(default)]
    pub interface: Vec<InterfaceSpec>,
    /// Grading: the submission builds the namespaces and Docker objects; the suite scores what it observes.
    pub grading: Option<GradingSpec>,
}

/// How a suite grades submissions.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GradingSpec {
    /// Points for each checked matrix cell, capture assertion and rule (default 1).
    #[schemars(with = "Option<f64>")]
    pub points: Option<Spanned<f64>>,
    /// Points for each predicted cell (in the submission's `answers.toml`) that matches what was observed
    /// (default 0: predictions are not scored).
    #[schemars(with = "Option<f64>")]
    pub prediction_points: Option<Spanned<f64>>,
    /// Time limit for the submission's `setup.sh`, in seconds (default 60).
    #[schemars(with = "Option<u64>")]
    pub setup_timeout_s: Option<Spanned<u64>>,
}

/// The emulated LAN: server1 and server2 on a host-only switch.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LabSpec {
    /// server1's address on the LAN (default `192.168.56.3/24`, as in the handout).
    #[schemars(with = "Option<String>")]
    pub server1: Option<Spanned<String>>,
    /// server2's address on the LAN (default `192.168.56.4/24`).
    #[schemars(with = "Option<String>")]
    pub server2: Option<Spanned<String>>,
    /// server1's NIC on the LAN (default `enp0s3`).
    #[schemars(with = "Option<String>")]
    pub nic: Option<Spanned<String>>,
    /// server2's NIC on the LAN (default `enp0s3`).
    #[schemars(with = "Option<String>")]
    pub server2_nic: Option<Spanned<String>>,
    /// The hypervisor's promiscuous-mode policy for server1's adapter, as VirtualBox names it: `deny` (the
    /// default: server1's port gets only frames for server1's own MAC, broadcast and multicast) or `allow-all`.
    pub promiscuous: Option<Promiscuous>,
    /// `ip link set NIC promisc on` on server1 (default false).
    #[serde(default)]
    pub nic_promisc: bool,
}

/// The hypervisor's promiscuous-mode policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Promiscuous {
    /// Deliver to the VM only frames for its own MAC (plus broadcast and multicast).
    Deny,
    /// Deliver every frame.
    AllowAll,
}

impl Promiscuous {
    /// The word used in suites and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Promiscuous::Deny => "deny",
            Promiscuous::AllowAll => "allow-all",
        }
    }
}

/// Kinds of `[[link]]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LinkKind {
    /// `ip link add NAME link PARENT type macvlan mode MODE`.
    Macvlan,
    /// `ip link add NAME link PARENT type ipvlan mode MODE`.
    Ipvlan,
    /// `ip link add NAME link PARENT type vlan id ID` (802.1Q).
    Vlan,
    /// `ip link add NAME type vxlan id VNI remote IP local IP dev PARENT dstport PORT`.
    Vxlan,
    /// `ip link add NAME type dummy`.
    Dummy,
}

impl LinkKind {
    /// The kernel's name for the kind.
    pub fn as_str(self) -> &'static str {
        match self {
            LinkKind::Macvlan => "macvlan",
            LinkKind::Ipvlan => "ipvlan",
            LinkKind::Vlan => "vlan",
            LinkKind::Vxlan => "vxlan",
            LinkKind::Dummy => "dummy",
        }
    }
}

/// A virtual interface of another kind than veth and bridge.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkSpec {
    /// The kind.
    #[schemars(with = "LinkKind")]
    pub kind: Spanned<LinkKind>,
    /// Interface name.
    #[schemars(with = "String")]
    pub name: Spanned<String>,
    /// The namespace it ends up in.
    #[schemars(with = "String")]
    pub netns: Spanned<String>,
    /// The lower device (macvlan, ipvlan, vlan; vxlan's underlay).
    #[schemars(with = "Option<String>")]
    pub parent: Option<Spanned<String>>,
    /// The namespace of the lower device, when not `netns` (the interface is created there, then moved).
    #[schemars(with = "Option<String>")]
    pub parent_netns: Option<Spanned<String>>,
    /// macvlan: `bridge` (default), `private`, `vepa`, `passthru`; ipvlan: `l2` (default), `l3`, `l3s`.
    #[schemars(with = "Option<String>")]
    pub mode: Option<Spanned<String>>,
    /// vlan: the VLAN id; vxlan: the VNI.
    #[schemars(with = "Option<u32>")]
    pub id: Option<Spanned<u32>>,
    /// vxlan: the remote tunnel endpoint.
    #[schemars(with = "Option<String>")]
    pub remote: Option<Spanned<String>>,
    /// vxlan: the local tunnel endpoint.
    #[schemars(with = "Option<String>")]
    pub local: Option<Spanned<String>>,
    /// vxlan: UDP port (default 4789).
    #[schemars(with = "Option<u16>")]
    pub dstport: Option<Spanned<u16>>,
    /// Address with prefix length.
    #[schemars(with = "Option<String>")]
    pub address: Option<Spanned<String>>,
    /// Administrative state (default true).
    pub up: Option<bool>,
}

/// A Docker network.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NetworkSpec {
    /// Network name.
    #[schemars(with = "String")]
    pub name: Spanned<String>,
    /// Driver (default `bridge`).
    #[schemars(with = "Option<String>")]
    pub driver: Option<Spanned<String>>,
    /// `--subnet`.
    #[schemars(with = "Option<String>")]
    pub subnet: Option<Spanned<String>>,
    /// `--gateway`.
    #[schemars(with = "Option<String>")]
    pub gateway: Option<Spanned<String>>,
    /// `--ip-range`.
    #[schemars(with = "Option<String>")]
    pub ip_range: Option<Spanned<String>>,
    /// Driver options (`-o KEY=VALUE`), e.g. `{ parent = "enp0s3" }` for macvlan.
    #[serde(default)]
    pub options: std::collections::BTreeMap<String, String>,
}

/// A container.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ContainerSpec {
    /// Container name (also its DNS name on user-defined networks).
    #[schemars(with = "String")]
    pub name: Spanned<String>,
    /// Image (default `alpine`). Without a registry, a busybox stand-in is built offline under this name.
    #[schemars(with = "Option<String>")]
    pub image: Option<Spanned<String>>,
    /// Networks, in order: created on the first (`docker run --network`), connected to the rest
    /// (`docker network connect`). Default `["bridge"]`.
    #[schemars(with = "Option<Vec<String>>")]
    pub networks: Option<Vec<Spanned<String>>>,
    /// `host` (share server1's network stack) or `none`; excludes `networks`.
    #[schemars(with = "Option<String>")]
    pub network_mode: Option<Spanned<String>>,
    /// Command (default: the image's, kept running as `docker run -dit` does).
    pub command: Option<Vec<String>>,
}

/// A capture: frames seen on one interface of one node while the probes run.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CaptureSpec {
    /// Name (also the pcap file name).
    #[schemars(with = "String")]
    pub name: Spanned<String>,
    /// `NODE:INTERFACE`, e.g. `server1:enp0s3`, `alpine1:eth0`, `server1:docker0`.
    #[schemars(with = "String")]
    pub on: Spanned<String>,
    /// Filter in tcpdump's language (pcap-filter(7)), checked by libpcap, e.g. `udp port 2020`,
    /// `icmp and src host alpine1`; hosts may be node names.
    #[schemars(with = "Option<String>")]
    pub filter: Option<Spanned<String>>,
    /// At least this many matching packets.
    pub min_packets: Option<u64>,
    /// At most this many matching packets.
    pub max_packets: Option<u64>,
    /// Every matching packet comes from this node's address (or this address).
    #[schemars(with = "Option<String>")]
    pub src: Option<Spanned<String>>,
    /// Every matching packet goes to this node's address (or this address).
    #[schemars(with = "Option<String>")]
    pub dst: Option<Spanned<String>>,
    /// Grading: points for each of its checks (overrides `[grading] points`).
    #[schemars(with = "Option<f64>")]
    pub points: Option<Spanned<f64>>,
    /// Grading: hide its checks from students until released.
    #[serde(default)]
    pub hidden: bool,
    /// Grading: these checks pass without any submission on purpose (an observation of the environment itself,
    /// e.g. the MASQUERADE rule Docker creates when it starts): shown to the student, scored 0 points, and not
    /// reported by calibration as grading nothing.
    #[serde(default)]
    pub given: bool,
    /// Grading: a hint shown when it fails.
    pub hint: Option<String>,
}

/// A NAT rule that must be present.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NatSpec {
    /// The node whose nat table is read (default `server1`).
    #[schemars(with = "Option<String>")]
    pub on: Option<Spanned<String>>,
    /// Source subnet that POSTROUTING must MASQUERADE, e.g. `172.17.0.0/16`.
    #[schemars(with = "String")]
    pub masquerade: Spanned<String>,
    /// Grading: points for each of its checks (overrides `[grading] points`).
    #[schemars(with = "Option<f64>")]
    pub points: Option<Spanned<f64>>,
    /// Grading: hide its checks from students until released.
    #[serde(default)]
    pub hidden: bool,
    /// Grading: these checks pass without any submission on purpose (an observation of the environment itself,
    /// e.g. the MASQUERADE rule Docker creates when it starts): shown to the student, scored 0 points, and not
    /// reported by calibration as grading nothing.
    #[serde(default)]
    pub given: bool,
    /// Grading: a hint shown when it fails.
    pub hint: Option<String>,
}

/// Flags an interface must have, read from the kernel (netlink), e.g. after `ip link set enp0s3 promisc on`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InterfaceSpec {
    /// `NODE:INTERFACE`, e.g. `server1:enp0s3`.
    #[schemars(with = "String")]
    pub on: Spanned<String>,
    /// Promiscuous mode (`IFF_PROMISC`, what `ip link set NAME promisc on` sets) must be on (`true`) or off.
    pub promisc: bool,
    /// Grading: points for this check (overrides `[grading] points`).
    #[schemars(with = "Option<f64>")]
    pub points: Option<Spanned<f64>>,
    /// Grading: hide it from students until released.
    #[serde(default)]
    pub hidden: bool,
    /// Grading: it passes without any submission on purpose (shown, not scored).
    #[serde(default)]
    pub given: bool,
    /// Grading: a hint shown when it fails.
    pub hint: Option<String>,
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
    #[schemars(with = "Option<String>")]
    pub name: Option<Spanned<String>>,
    /// What each cell probes.
    pub probe: ProbeKind,
    /// ICMP only: probe the destination by `address` (default) or by `name`, resolved through Docker's embedded
    /// DNS from inside the source.
    pub by: Option<By>,
    /// UDP/TCP: destination port.
    #[schemars(with = "Option<u16>")]
    pub port: Option<Spanned<u16>>,
    /// UDP/TCP: open reachlab's listener in the destination (default true). `false` probes a closed port:
    /// nothing can be delivered, and `R` (refused) and `D` (dropped) tell the two apart.
    #[schemars(with = "Option<bool>")]
    pub listen: Option<Spanned<bool>>,
    /// The grid: first line names the destinations (columns), each further line starts with a source (row)
    /// followed by one cell per column: `Y` must reach, `N` must not reach, `-` not checked; by name also `U`
    /// (must not resolve); UDP/TCP also `R` (refused) and `D` (dropped).
    #[schemars(with = "String")]
    pub expect: Spanned<String>,
    /// Overrides `settings.timeout_ms` for this matrix.
    #[schemars(with = "Option<u64>")]
    pub timeout_ms: Option<Spanned<u64>>,
    /// Overrides `settings.attempts` for this matrix.
    #[schemars(with = "Option<u32>")]
    pub attempts: Option<Spanned<u32>>,
    /// Grading: points for each cell of this matrix (overrides `[grading] points`).
    #[schemars(with = "Option<f64>")]
    pub points: Option<Spanned<f64>>,
    /// Grading: hide this matrix's checks from students until released.
    #[serde(default)]
    pub hidden: bool,
    /// Grading: these checks pass without any submission on purpose (an observation of the environment itself,
    /// e.g. the MASQUERADE rule Docker creates when it starts): shown to the student, scored 0 points, and not
    /// reported by calibration as grading nothing.
    #[serde(default)]
    pub given: bool,
    /// Grading: hints shown when a cell fails, keyed `"FROM -> TO"`.
    #[serde(default)]
    #[schemars(with = "std::collections::BTreeMap<String, String>")]
    pub hints: std::collections::BTreeMap<Spanned<String>, String>,
}

/// Probe kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, JsonSchema, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ProbeKind {
    /// ICMP echo request from the source's namespace to the destination's address.
    Icmp,
    /// A UDP datagram carrying a unique token to a listener reachlab opens in the destination.
    Udp,
    /// A TCP connection to a listener reachlab opens in the destination.
    Tcp,
}

impl ProbeKind {
    /// The name used in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            ProbeKind::Icmp => "icmp",
            ProbeKind::Udp => "udp",
            ProbeKind::Tcp => "tcp",
        }
    }
}

/// How the destination of an ICMP matrix is addressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum By {
    /// The destination's address (chosen as described in the README).
    Address,
    /// The destination's name, resolved from inside the source through Docker's embedded DNS.
    Name,
}
