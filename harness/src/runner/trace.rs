//! `run --trace`: after judging, each ICMP matrix check that failed is probed once more — one echo with a fresh
//! identifier — with captures on the lab's interfaces and netfilter traces in the lab's own namespaces, and the
//! path its packets took is kept on its result ([`PathReport`]).
//!
//! The interfaces watched, in this order: the source's interface towards the target (its route's output
//! interface), every interface other than `lo` of every namespace the lab owns that is not a container's
//! (server1 with its NIC, docker bridges and their veth ends, the switch and its ports, suite namespaces), then
//! the destination's interface holding the target address. That is the lab's interfaces, not the path sorted
//! hop by hop: a hop off the path simply sees nothing. Nothing is watched or traced in the machine's own
//! namespace (with `--engine system`, server1): it is not the lab's.

use crate::check::{Action, CheckKind, Observation, PathReport, Verdict};
use crate::judge::judge;
use crate::kernel::netlink::RouteTo;
use crate::kernel::netns::Netns;
use crate::kernel::nftrace::is_forbidden;
use crate::lab::live::LiveLab;
use crate::plan::Plan;
use crate::probe::nodes::Nodes;
use crate::probe::path::{observe_echo, Point};
use std::collections::HashMap;
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

/// The interfaces of the lab's own namespaces worth watching: every one but `lo` that is up.
async fn lab_points(lab: &LiveLab, namespaces: &[(String, Netns)]) -> Vec<Point> {
    let mut points = Vec::new();
    for (node, ns) in namespaces {
        let Some(nl) = lab.netlink(node) else { continue };
        let Ok(links) = nl.links().await else { continue };
        for l in links.into_iter().filter(|l| l.name != "lo" && l.admin_up) {
            points.push(Point { node: node.clone(), ns: ns.clone(), interface: l.name });
        }
    }
    points
}

/// The source's interface towards `target`, from its kernel's route.
async fn source_point(lab: &LiveLab, from: &str, target: Ipv4Addr) -> Option<Point> {
    let ns = lab.namespace(from).filter(|ns| ours(ns))?;
    let Some(Ok(RouteTo::Unicast { oif, .. })) = lab.route_to(from, target).await else { return None };
    let Some(Ok(Some(interface))) = lab.interface_name(from, oif).await else { return None };
    Some(Point { node: from.into(), ns: ns.clone(), interface })
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
    Some(Point { node: to.into(), ns: ns.clone(), interface: iface.name.clone() })
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

/// Observes again, with captures and traces, every ICMP matrix check that `observations` fail, and returns
/// each one's path by check id. A check whose path could not be observed gets none (a trace is help, not
/// evidence). Pcaps go to `dir/paths/<suite>/<check>/`.
pub(crate) async fn trace_failures(
    lab: &LiveLab,
    plan: &Plan,
    inventory: &crate::inventory::Inventory,
    observations: &HashMap<usize, Observation>,
    dir: &Path,
    suite: &str,
) -> HashMap<usize, PathReport> {
    let mut paths = HashMap::new();
    let failing: Vec<_> = judge(&plan.checks, observations, None)
        .into_iter()
        .filter(|r| r.verdict == Verdict::Fail && r.check.kind == CheckKind::Icmp && r.check.cell.is_some())
        .filter(|r| matches!(r.check.action, Action::Icmp { .. }))
        .collect();
    if failing.is_empty() {
        return paths;
    }
    let namespaces = lab_namespaces(lab);
    let watched = lab_points(lab, &namespaces).await;
    for r in failing {
        let (Some(target), Some(from)) = (r.target, lab.namespace(&r.check.from).filter(|ns| ours(ns))) else {
            continue;
        };
        let Some(to) = crate::plan::probe_destination(&r.check.action) else { continue };
        let points = ordered(
            source_point(lab, &r.check.from, target).await,
            &watched,
            destination_point(lab, inventory, &to.node, target),
        );
        let pcaps: PathBuf = dir.join("paths").join(file_name(suite)).join(file_name(&r.check.name));
        if std::fs::create_dir_all(&pcaps).is_err() {
            continue;
        }
        let key = (rand::random::<u16>() | 0x8000, 1);
        let wait = Duration::from_millis(r.check.settings.timeout_ms).max(LEAST_WAIT);
        if let Ok(seen) = observe_echo(from, target, key, wait, &points, &namespaces, &pcaps).await {
            let mut report = seen.report();
            // The lab's reasons for the failure are hypotheses; the path is the evidence.
            report.reasons = crate::explain::test_reasons(&r.why, &report, &r.check.from, &to.node);
            paths.insert(r.check.id, report);
        }
    }
    paths
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_source_comes_first_the_destination_last_and_each_interface_once() {
        let ns = Netns::open("self", Path::new("/proc/thread-self/ns/net")).unwrap();
        let p = |node: &str, interface: &str| Point { node: node.into(), ns: ns.clone(), interface: interface.into() };
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
}
