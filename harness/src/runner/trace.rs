//! Paths: after judging, each matrix check (ICMP, UDP, TCP) that failed is probed once more — one echo with an
//! identifier of its own, one datagram or one SYN from a port of its own — with captures on the lab's
//! interfaces and netfilter traces in the lab's own namespaces, and the path its packets took is kept on its
//! result ([`PathReport`]).
//!
//! The interfaces watched, in this order: the source's interface towards the target (its route's output
//! interface), every interface other than `lo` of every namespace the lab owns that is not a container's
//! (server1 with its NIC, docker bridges and their veth ends, the switch and its ports, suite namespaces), then
//! the destination's interface holding the target address. That is the lab's interfaces, not the path sorted
//! hop by hop: a hop off the path simply sees nothing. Nothing is watched or traced in the machine's own
//! namespace (with `--engine system`, server1): it is not the lab's.

use crate::check::{Action, CheckKind, Observation, PathReport, Verdict};
use crate::cidr::Cidr;
use crate::judge::judge;
use crate::kernel::netlink::RouteTo;
use crate::kernel::netns::Netns;
use crate::kernel::nftrace::is_forbidden;
use crate::lab::live::LiveLab;
use crate::plan::Plan;
use crate::probe::nodes::Nodes;
use crate::probe::path::{observe_probe, ArpKey, PathProbe, Point};
use std::collections::{BTreeSet, HashMap};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The shortest a path probe waits for its answer (a matrix's timeout may be shorter than a capture needs).
const LEAST_WAIT: Duration = Duration::from_millis(500);

/// Whether a namespace is one the lab may watch and trace: not the machine's (an error reading it: no).
fn ours(ns: &Netns) -> bool {
    matches!(is_forbidden(ns), Ok(false))
}

/// A directory name for a check: its name with anything but letters, digits, `.`, `_` and `-` made `_`.
pub(crate) fn file_name(name: &str) -> String {
    name.split_whitespace()
        .filter(|w| *w != "->")
        .map(|w| w.chars().map(|c| if c.is_ascii_alphanumeric() || "._-".contains(c) { c } else { '_' }).collect())
        .collect::<Vec<String>>()
        .join("-")
}

/// The namespaces the lab owns that are not containers', by node (each namespace once).
fn lab_namespaces(lab: &LiveLab) -> Vec<(String, Netns)> {
    let mut out: Vec<(String, Netns)> = Vec::new();
    for node in lab.nodes() {
        if lab.container_pid(&node).is_some() {
            continue;
        }
        let Some(ns) = lab.namespace(&node) else { continue };
        if ours(ns) && !out.iter().any(|(_, n)| n.path == ns.path) {
            out.push((node, ns.clone()));
        }
    }
    out
}

/// The most interfaces watched per path besides the source's and the destination's (a submission's namespace
/// may hold thousands; each watched interface is a socket per probe).
const MOST_POINTS: usize = 256;

/// Every interface of each of the lab's own namespaces, read once per trace pass (the watched points and the
/// labels both come from it).
type NamespaceLinks = Vec<(String, Netns, Vec<crate::kernel::netlink::LinkState>)>;

async fn lab_links(lab: &LiveLab, namespaces: &[(String, Netns)]) -> NamespaceLinks {
    let mut out = Vec::new();
    for (node, ns) in namespaces {
        let Some(nl) = lab.netlink(node) else { continue };
        let Ok(links) = nl.links().await else { continue };
        out.push((node.clone(), ns.clone(), links));
    }
    out
}

/// The interfaces of the lab's own namespaces worth watching: every one but `lo` that is up (at most
/// [`MOST_POINTS`], in the lab's order).
fn lab_points(links: &NamespaceLinks) -> Vec<Point> {
    links
        .iter()
        .flat_map(|(node, ns, links)| {
            links.iter().filter(|l| l.name != "lo" && l.admin_up).map(move |l| Point {
                node: node.clone(),
                ns: ns.clone(),
                interface: l.name.clone(),
                bridge: l.kind.as_deref() == Some("bridge"),
            })
        })
        .take(MOST_POINTS)
        .collect()
}

/// The source's interface towards `target`, from its kernel's route, with its neighbour resolution there
/// (its address and the next hop it asks for).
async fn source_point(lab: &LiveLab, from: &str, target: Ipv4Addr) -> Option<(Point, Option<ArpKey>)> {
    let ns = lab.namespace(from).filter(|ns| ours(ns))?;
    let Some(Ok(RouteTo::Unicast { oif, gateway, src })) = lab.route_to(from, target).await else { return None };
    let Some(Ok(Some(interface))) = lab.interface_name(from, oif).await else { return None };
    let arp = src.map(|sender| ArpKey { sender, next_hop: gateway.unwrap_or(target) });
    Some((Point { node: from.into(), ns: ns.clone(), interface, bridge: false }, arp))
}

/// The destination's interface holding `target`, as read back into the inventory.
fn destination_point(
    lab: &LiveLab,
    inventory: &crate::inventory::Inventory,
    to: &str,
    target: Ipv4Addr,
) -> Option<Point> {
    let ns = lab.namespace(to).filter(|ns| ours(ns))?;
    let iface = inventory.nodes.get(to)?.iter().find(|i| i.cidr.addr == target)?;
    Some(Point { node: to.into(), ns: ns.clone(), interface: iface.name.clone(), bridge: false })
}

/// The watched points of one probe, each interface once, source first and destination last.
pub(crate) fn ordered(source: Option<Point>, lab: &[Point], destination: Option<Point>) -> Vec<Point> {
    let mut points: Vec<Point> = Vec::new();
    let mut push = |p: Point| {
        if !points.iter().any(|q| q.ns.path == p.ns.path && q.interface == p.interface) {
            points.push(p);
        }
    };
    let same = |a: &Point, b: &Point| a.ns.path == b.ns.path && a.interface == b.interface;
    source.into_iter().for_each(&mut push);
    lab.iter().filter(|p| !destination.as_ref().is_some_and(|d| same(d, p))).cloned().for_each(&mut push);
    destination.into_iter().for_each(&mut push);
    points
}

/// How much a run traces: nothing, or the failing matrix cells (up to `limit` of them, in check order).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TraceMode {
    /// No path probes (`--no-trace`).
    Off,
    /// Failing cells, at most `limit` (`None`: all of them, `--trace`).
    Failing {
        /// How many failing cells at most.
        limit: Option<usize>,
    },
}

impl TraceMode {
    /// What runs without a flag: the first [`DEFAULT_LIMIT`] failing cells. A passing cell costs nothing; a
    /// failing one about one timeout, and the path probes of a run go together, so a run with a few failures
    /// pays about one timeout more (bench/trace-cost.py measures it).
    pub const DEFAULT: TraceMode = TraceMode::Failing { limit: Some(DEFAULT_LIMIT) };
}

/// The mode the command line asks for: `--trace` all failing cells, `--no-trace` none, else the default.
pub fn mode(all: bool, none: bool) -> TraceMode {
    match (all, none) {
        (_, true) => TraceMode::Off,
        (true, false) => TraceMode::Failing { limit: None },
        (false, false) => TraceMode::DEFAULT,
    }
}

/// How many failing cells are traced by default.
pub const DEFAULT_LIMIT: usize = 16;
/// Path probes in flight at once, at most …
const AT_ONCE: usize = 8;
/// … and capture sockets open at once, at most (a lab of a hundred ports traces one cell at a time).
const SOCKETS_AT_ONCE: usize = 512;

/// What a trace pass did: the paths by check id, and how many failing cells it left untraced (the limit).
#[derive(Debug, Default)]
pub(crate) struct Traced {
    /// Each traced check's path.
    pub paths: HashMap<usize, PathReport>,
    /// The limit the pass had.
    pub limit: Option<usize>,
    /// Failing cells beyond the limit.
    pub beyond_limit: usize,
}

impl Traced {
    /// The report's note when the limit left cells untraced.
    pub fn note(&self) -> Option<String> {
        (self.beyond_limit > 0).then(|| {
            format!(
                "path traces: the first {} failing cells were traced, {} more were not (--trace traces them all)",
                self.limit.unwrap_or_default(),
                self.beyond_limit
            )
        })
    }
}

/// Names for interfaces whose kernel names are random, by (node, interface): a container's host-side veth
/// is `veth@alpine1` (`veth@alpine1:eth1` for a container's second interface), an engine bridge `br-<id>` is
/// `br@<network>`. Paths name these, so that the same lab reads the same way every run (grades must be
/// byte-identical across runs) and a reader sees whose cable it is.
#[derive(Debug, Default, Clone)]
pub(crate) struct Labels(HashMap<(String, String), String>);

impl Labels {
    /// The label of `interface` on `node`, or its own name.
    pub fn name(&self, node: &str, interface: &str) -> String {
        self.0.get(&(node.to_string(), interface.to_string())).cloned().unwrap_or_else(|| interface.to_string())
    }

    /// `text` with every labelled kernel name (as a whole word) replaced by its label.
    pub fn relabel(&self, text: &str) -> String {
        let names: HashMap<&str, &str> = self.0.iter().map(|((_, i), l)| (i.as_str(), l.as_str())).collect();
        let is_word = |c: char| c.is_ascii_alphanumeric() || "-_.@".contains(c);
        crate::words::map_words(text, is_word, |w| names.get(w).copied())
    }

    /// The labels (pure): `bridges` are (node, interface, its address) in the lab's namespaces, `networks` the
    /// engine's networks with their subnets, `veths` (node, interface, index, peer index) of the lab's
    /// namespaces' veths whose peer is in another namespace, `container_veths` (container, interface, index,
    /// peer index) of the containers' veths.
    pub fn from_parts(
        bridges: &[(String, String, Cidr)],
        networks: &std::collections::BTreeMap<String, Cidr>,
        veths: &[(String, String, u32, u32)],
        container_veths: &[(String, String, u32, u32)],
    ) -> Labels {
        let mut labels = HashMap::new();
        // docker0 keeps its name: it is the same in every lab.
        let engine_bridge = |i: &str| crate::engine::docker_bridge(i) && i != "docker0";
        for (node, iface, addr) in bridges.iter().filter(|(_, i, _)| engine_bridge(i)) {
            let mut within = networks.iter().filter(|(_, s)| s.contains(addr.addr));
            if let (Some((name, _)), None) = (within.next(), within.next()) {
                labels.insert((node.clone(), iface.clone()), format!("br@{name}"));
            }
        }
        for (node, iface, index, peer) in veths {
            let mut owners = container_veths.iter().filter(|(_, _, ci, cp)| ci == peer && cp == index);
            if let (Some((container, their, _, _)), None) = (owners.next(), owners.next()) {
                let several = container_veths.iter().filter(|(c, ..)| c == container).count() > 1;
                let label = if several { format!("veth@{container}:{their}") } else { format!("veth@{container}") };
                labels.insert((node.clone(), iface.clone()), label);
            }
        }
        Labels(labels)
    }
}

/// The labels of a live lab: its containers' veths (read in each container) matched to their host ends in the
/// lab's namespaces, and its engine bridges matched to the engine's networks by address.
pub(crate) async fn labels(
    lab: &impl Nodes,
    nodes: &[String],
    links: &NamespaceLinks,
    inventory: &crate::inventory::Inventory,
) -> Labels {
    let veth_ends = |node: &str, links: &[crate::kernel::netlink::LinkState]| -> Vec<(String, String, u32, u32)> {
        links
            .iter()
            .filter(|l| l.kind.as_deref() == Some("veth") && l.link_elsewhere)
            .filter_map(|l| Some((node.to_string(), l.name.clone(), l.index, l.link?)))
            .collect()
    };
    let mut container_veths = Vec::new();
    for node in nodes.iter().filter(|n| lab.container_pid(n).is_some()) {
        let Some(nl) = lab.netlink(node) else { continue };
        let Ok(links) = nl.links().await else { continue };
        container_veths.extend(veth_ends(node, &links));
    }
    let veths: Vec<_> = links.iter().flat_map(|(node, _, links)| veth_ends(node, links)).collect();
    let bridges: Vec<(String, String, Cidr)> = links
        .iter()
        .flat_map(|(node, _, _)| {
            inventory.nodes.get(node).into_iter().flatten().map(|i| (node.clone(), i.name.clone(), i.cidr))
        })
        .collect();
    Labels::from_parts(&bridges, &inventory.networks, &veths, &container_veths)
}

/// Which checks a trace pass probes: the failing matrix cells (ICMP, UDP, TCP), in check order.
fn failing(plan: &Plan, observations: &HashMap<usize, Observation>) -> Vec<crate::check::CheckResult> {
    judge(&plan.checks, observations, None)
        .into_iter()
        .filter(|r| r.verdict == Verdict::Fail && r.check.cell.is_some())
        .filter(|r| matches!(r.check.kind, CheckKind::Icmp | CheckKind::Udp | CheckKind::Tcp))
        .collect()
}

/// What the path probe of a check sends, with `ident` for an echo.
fn path_probe(action: &Action, ident: u16) -> Option<PathProbe> {
    match action {
        Action::Icmp { .. } => Some(PathProbe::Echo { ident, seq: 1 }),
        Action::Udp { port, .. } => Some(PathProbe::Udp { port: *port }),
        Action::Tcp { port, .. } => Some(PathProbe::Tcp { port: *port }),
        _ => None,
    }
}

/// Observes again, with captures and traces, the matrix checks (ICMP, UDP, TCP) that `observations` fail (up to the mode's
/// limit, several at once, each with an echo identifier of its own), and returns each one's path by check id.
/// A check whose path could not be observed gets none (a trace is help, not evidence). Pcaps go to
/// `dir/paths/<suite>/<check>/`. Nodes in `foreign` (a submission's own namespaces) are watched but never
/// traced: reachlab adds no rules to a namespace it did not create.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn trace_failures(
    lab: &LiveLab,
    plan: &Plan,
    inventory: &crate::inventory::Inventory,
    observations: &HashMap<usize, Observation>,
    dir: &Path,
    suite: &str,
    mode: TraceMode,
    foreign: &BTreeSet<String>,
) -> Traced {
    let TraceMode::Failing { limit } = mode else { return Traced::default() };
    let mut failing = failing(plan, observations);
    let mut traced = Traced { limit, ..Traced::default() };
    if let Some(limit) = limit.filter(|l| failing.len() > *l) {
        traced.beyond_limit = failing.len() - limit;
        failing.truncate(limit);
    }
    if failing.is_empty() {
        return traced;
    }
    let nodes = lab.nodes();
    let namespaces = lab_namespaces(lab);
    let links = lab_links(lab, &namespaces).await;
    let watched = lab_points(&links);
    let labels = labels(lab, &nodes, &links, inventory).await;
    let (ours_to_trace, untraceable): (Vec<_>, Vec<_>) =
        namespaces.iter().cloned().partition(|(n, _)| !foreign.contains(n));
    // A namespace without a single nft table has no rule that could drop or rewrite the packet: not traced
    // (a tracer is a table, two nft processes and an iptables-save per probe).
    let counts =
        futures::future::join_all(ours_to_trace.iter().map(|(_, ns)| crate::kernel::nftrace::table_count(ns))).await;
    let (mut tracing, mut ruleless) = (Vec::new(), Vec::new());
    for ((node, ns), count) in ours_to_trace.into_iter().zip(counts) {
        match count {
            Ok(0) => ruleless.push(node),
            _ => tracing.push((node, ns)),
        }
    }
    let at_once = (SOCKETS_AT_ONCE / (watched.len() + 2).max(1)).clamp(1, AT_ONCE);
    // Distinct identifiers for the probes in flight together: their captures and traces tell them apart.
    let base = rand::random::<u16>() | 0x8000;
    let probes = failing.into_iter().enumerate().map(|(i, r)| {
        let (labels, watched, tracing, untraceable, ruleless) = (&labels, &watched, &tracing, &untraceable, &ruleless);
        async move {
            let target = r.target?;
            let from = lab.namespace(&r.check.from).filter(|ns| ours(ns))?;
            let to = crate::plan::probe_destination(&r.check.action)?;
            let (source, arp) = source_point(lab, &r.check.from, target).await.unzip();
            let points = ordered(source, watched, destination_point(lab, inventory, &to.node, target));
            let pcaps: PathBuf = dir.join("paths").join(file_name(suite)).join(file_name(&r.check.name));
            std::fs::create_dir_all(&pcaps).ok()?;
            let probe = path_probe(&r.check.action, base.wrapping_add(i as u16) | 0x8000)?;
            let wait = Duration::from_millis(r.check.settings.timeout_ms).max(LEAST_WAIT);
            let seen = observe_probe(from, target, probe, arp.flatten(), wait, &points, tracing, &pcaps).await.ok()?;
            let mut report = seen.report_named(&|node: &str, iface: &str| labels.name(node, iface));
            if let Some(d) = &mut report.dropped_by {
                d.rule = labels.relabel(&d.rule);
            }
            report.untraced.extend(untraceable.iter().map(|(node, _)| crate::check::Untraced {
                node: node.clone(),
                reason:
                    "the submission's own namespace: reachlab adds no rules to a namespace it did not create".into(),
            }));
            report.untraced.extend(ruleless.iter().map(|node| crate::check::Untraced {
                node: node.clone(),
                reason: "no nft table there: no rule could drop or rewrite the packet".into(),
            }));
            // The lab's reasons for the failure are hypotheses; the path is the evidence.
            report.reasons = crate::explain::test_reasons(&r.why, &report, &r.check.from, &to.node);
            Some((r.check.id, report))
        }
    });
    use futures::StreamExt;
    let done: Vec<Option<(usize, PathReport)>> =
        futures::stream::iter(probes).buffer_unordered(at_once).collect().await;
    traced.paths.extend(done.into_iter().flatten());
    traced
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_source_comes_first_the_destination_last_and_each_interface_once() {
        let ns = Netns::open("self", Path::new("/proc/thread-self/ns/net")).unwrap();
        let p = |node: &str, interface: &str| Point {
            node: node.into(),
            ns: ns.clone(),
            interface: interface.into(),
            bridge: interface.starts_with("docker"),
        };
        let lab = [p("server1", "docker0"), p("server1", "vethd"), p("server1", "enp0s3"), p("server1", "veths")];
        let names =
            |points: Vec<Point>| points.into_iter().map(|p| format!("{} {}", p.node, p.interface)).collect::<Vec<_>>();
        // The destination is server1's NIC here: last, not in the lab's order.
        let points = ordered(Some(p("alpine1", "eth0")), &lab, Some(p("server1", "enp0s3")));
        assert_eq!(
            names(points),
            ["alpine1 eth0", "server1 docker0", "server1 vethd", "server1 veths", "server1 enp0s3"]
        );
        let points = ordered(None, &lab[..2], None);
        assert_eq!(names(points), ["server1 docker0", "server1 vethd"]);
    }

    #[test]
    fn a_check_name_becomes_a_directory_name() {
        assert_eq!(file_name("icmp alpine1 -> alpine3"), "icmp-alpine1-alpine3");
        assert_eq!(file_name("Test 1: custom/bridge"), "Test-1_-custom_bridge");
    }

    #[test]
    fn random_kernel_names_are_labelled_by_whose_they_are() {
        let cidr = |t: &str| t.parse::<Cidr>().unwrap();
        let s = |t: &str| t.to_string();
        // server1: docker0 (the default network), br-… for alpine-net, a veth to alpine1 (one interface) and two
        // to alpine3 (two networks), one whose peer is nobody's.
        let bridges = [
            (s("server1"), s("docker0"), cidr("172.17.0.1/16")),
            (s("server1"), s("br-0123456789ab"), cidr("172.20.0.1/16")),
        ];
        let networks = [(s("bridge"), cidr("172.17.0.0/16")), (s("alpine-net"), cidr("172.20.0.0/16"))].into();
        let veths = [
            (s("server1"), s("veth1aaaaaa"), 7, 2),
            (s("server1"), s("veth3aaaaaa"), 9, 2),
            (s("server1"), s("veth3bbbbbb"), 11, 3),
            (s("server1"), s("vethorphan"), 13, 2),
        ];
        let containers =
            [(s("alpine1"), s("eth0"), 2, 7), (s("alpine3"), s("eth0"), 2, 9), (s("alpine3"), s("eth1"), 3, 11)];
        let labels = Labels::from_parts(&bridges, &networks, &veths, &containers);
        assert_eq!(labels.name("server1", "veth1aaaaaa"), "veth@alpine1");
        assert_eq!(labels.name("server1", "veth3aaaaaa"), "veth@alpine3:eth0");
        assert_eq!(labels.name("server1", "veth3bbbbbb"), "veth@alpine3:eth1");
        assert_eq!(labels.name("server1", "vethorphan"), "vethorphan", "no container holds its peer");
        assert_eq!(labels.name("server1", "br-0123456789ab"), "br@alpine-net");
        assert_eq!(labels.name("server1", "docker0"), "docker0", "the same in every lab");
        assert_eq!(labels.name("alpine1", "veth1aaaaaa"), "veth1aaaaaa", "by node and name");
        assert_eq!(
            labels.relabel("FORWARD -o br-0123456789ab -j DROP (veth1aaaaaax)"),
            "FORWARD -o br@alpine-net -j DROP (veth1aaaaaax)",
            "whole words only"
        );
    }
}
