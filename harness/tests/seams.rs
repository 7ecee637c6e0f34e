//! The lab's decisions, tested through its seams with recording fakes (no root, no kernel, no engine): the
//! guard's refusals and clearances, a probe's choice of target, "recorded in the ledger before it is created",
//! and teardown going on past errors.

mod fakes;

use fakes::{Calls, FakeNode, FakeNodes, RecordingEngine, RecordingKernel, RecordingRemover};
use reachlab::check::{Observation, Outcome};
use reachlab::engine::EngineMode;
use reachlab::inventory::{Iface, Inventory};
use reachlab::kernel::netlink::RouteTo;
use reachlab::lab::apply::{apply, Run};
use reachlab::lab::ledger::{Entry, Ledger, Record};
use reachlab::lab::teardown::teardown_with;
use reachlab::probe::guard::{clear, Clearance};
use reachlab::probe::{LabProber, Prober};
use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::path::PathBuf;

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

fn unicast(oif: u32) -> RouteTo {
    RouteTo::Unicast { oif, gateway: None, src: None }
}

fn lab_addresses(list: &[&str]) -> BTreeSet<Ipv4Addr> {
    list.iter().map(|s| ip(s)).collect()
}

fn refused(o: &Observation, words: &str) -> bool {
    matches!(o, Observation::Error { .. })
        && format!("{o:?}").contains("refused to probe")
        && format!("{o:?}").contains(words)
}

fn two_nodes(routes: &[(&str, RouteTo)]) -> FakeNodes {
    let mut a = FakeNode::default();
    for (to, r) in routes {
        a.routes.insert(ip(to), *r);
    }
    FakeNodes::default().node("a", a).node("b", FakeNode::default())
}

#[tokio::test]
async fn the_guard_refuses_a_node_the_lab_did_not_make_before_asking_any_kernel() {
    let nodes = two_nodes(&[]);
    let o = clear(&nodes, &lab_addresses(&["10.0.0.2"]), "stranger", ip("10.0.0.2")).await.unwrap_err();
    assert!(refused(&o, "not a node this lab made"), "{o:?}");
    assert!(nodes.asked.lock().unwrap().is_empty());
}

#[tokio::test]
async fn the_guard_refuses_an_address_outside_the_lab_before_asking_any_kernel() {
    let nodes = two_nodes(&[("8.8.8.8", unicast(2))]);
    let o = clear(&nodes, &lab_addresses(&["10.0.0.2"]), "a", ip("8.8.8.8")).await.unwrap_err();
    assert!(refused(&o, "8.8.8.8 is not an address of the lab"), "{o:?}");
    assert!(nodes.asked.lock().unwrap().is_empty());
}

#[tokio::test]
async fn the_guard_refuses_the_machines_own_namespace_with_the_private_engine() {
    let mut nodes = two_nodes(&[("10.0.0.2", unicast(2))]);
    nodes.nodes.get_mut("a").unwrap().machine = true;
    let o = clear(&nodes, &lab_addresses(&["10.0.0.2"]), "a", ip("10.0.0.2")).await.unwrap_err();
    assert!(refused(&o, "the machine's own network namespace"), "{o:?}");
}

#[tokio::test]
async fn from_the_machine_only_a_docker_bridge_route_is_cleared() {
    let mut machine = FakeNode { machine: true, ..FakeNode::default() };
    machine.routes.insert(ip("172.17.0.2"), unicast(3));
    machine.routes.insert(ip("10.0.0.2"), unicast(2));
    machine.routes.insert(ip("172.18.0.255"), RouteTo::Broadcast);
    machine.interfaces.insert(2, "eth0".into());
    machine.interfaces.insert(3, "docker0".into());
    let nodes = FakeNodes { mode: EngineMode::System, ..FakeNodes::default() }.node("server1", machine);
    let lab = lab_addresses(&["172.17.0.2", "10.0.0.2", "172.18.0.255", "172.19.0.2"]);
    assert_eq!(clear(&nodes, &lab, "server1", ip("172.17.0.2")).await.unwrap(), Clearance::Send);
    let o = clear(&nodes, &lab, "server1", ip("10.0.0.2")).await.unwrap_err();
    assert!(refused(&o, "routed through eth0, not a Docker bridge"), "{o:?}");
    // Not unicast at all, from the machine: refused, never reported as a verdict.
    for target in ["172.18.0.255", "172.19.0.2"] {
        let o = clear(&nodes, &lab, "server1", ip(target)).await.unwrap_err();
        assert!(refused(&o, "not routed through a Docker bridge"), "{target}: {o:?}");
    }
}

#[tokio::test]
async fn the_guard_says_what_the_kernel_would_do() {
    let nodes = two_nodes(&[
        ("10.0.0.2", unicast(2)),
        ("10.0.0.255", RouteTo::Broadcast),
        ("10.0.0.1", RouteTo::Local),
        ("224.0.0.1", RouteTo::Multicast),
    ]);
    let lab = lab_addresses(&["10.0.0.2", "10.0.0.255", "10.0.0.1", "224.0.0.1", "10.9.9.9"]);
    assert_eq!(clear(&nodes, &lab, "a", ip("10.0.0.2")).await.unwrap(), Clearance::Send);
    assert_eq!(clear(&nodes, &lab, "a", ip("10.0.0.255")).await.unwrap(), Clearance::Broadcast);
    assert_eq!(clear(&nodes, &lab, "a", ip("10.0.0.1")).await.unwrap(), Clearance::Local);
    assert_eq!(
        clear(&nodes, &lab, "a", ip("10.9.9.9")).await.unwrap(),
        Clearance::NoRoute { errno: fakes::libc_enetunreach() }
    );
    assert!(refused(&clear(&nodes, &lab, "a", ip("224.0.0.1")).await.unwrap_err(), "multicast"));
}

// ── A probe's decisions, on recorded answers ─────────────────────────────────────────────────────────────────

fn netns_checks() -> Vec<reachlab::check::Check> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../test-suites/netns.toml");
    let suite = reachlab::suite::load_file(std::path::Path::new(path)).expect("the bundled netns suite loads");
    reachlab::plan::resolve(&suite).checks
}

fn inventory(a: &[&str], b: &[&str]) -> Inventory {
    let iface = |c: &&str| Iface { name: "veth".into(), cidr: c.parse().unwrap() };
    let mut inv = Inventory::default();
    inv.nodes.insert("space1".into(), a.iter().map(iface).collect());
    inv.nodes.insert("space2".into(), b.iter().map(iface).collect());
    inv
}

fn space1(routes: &[(&str, RouteTo)]) -> FakeNodes {
    let mut n = FakeNode::default();
    for (to, r) in routes {
        n.routes.insert(ip(to), *r);
    }
    FakeNodes::default().node("space1", n).node("space2", FakeNode::default())
}

fn check_from_space1() -> reachlab::check::Check {
    netns_checks().into_iter().find(|c| c.from == "space1").expect("a check from space1")
}

#[tokio::test]
async fn a_target_without_a_route_is_unreachable_and_nothing_is_sent() {
    let nodes = space1(&[]);
    let prober = LabProber::new(&nodes, inventory(&["10.0.0.11/24"], &["10.0.0.12/24"]));
    match prober.probe(&check_from_space1()).await {
        Observation::Observed { outcome: Outcome::Unreachable, sent: false, target, .. } => {
            assert_eq!(target, Some(ip("10.0.0.12")))
        }
        o => panic!("{o:?}"),
    }
}

#[tokio::test]
async fn a_broadcast_address_is_passed_over_for_the_next_candidate() {
    // space2's first address is space1's subnet broadcast; its second is routed.
    let nodes = space1(&[("10.0.0.255", RouteTo::Broadcast)]);
    let prober = LabProber::new(&nodes, inventory(&["10.0.0.11/24"], &["10.0.0.255/24", "10.1.0.12/24"]));
    let o = prober.probe(&check_from_space1()).await;
    // The second candidate has no route in the table: unreachable at it, unsent; the broadcast was skipped.
    match o {
        Observation::Observed { outcome: Outcome::Unreachable, sent: false, target, .. } => {
            assert_eq!(target, Some(ip("10.1.0.12")))
        }
        o => panic!("{o:?}"),
    }
    assert_eq!(nodes.asked.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn only_broadcast_candidates_are_unreachable_unsent_and_say_why() {
    let nodes = space1(&[("10.0.0.255", RouteTo::Broadcast)]);
    let prober = LabProber::new(&nodes, inventory(&["10.0.0.11/24"], &["10.0.0.255/24"]));
    let o = prober.probe(&check_from_space1()).await;
    assert!(matches!(o, Observation::Observed { outcome: Outcome::Unreachable, sent: false, .. }), "{o:?}");
    assert!(format!("{o:?}").contains("broadcast address"), "{o:?}");
}

#[tokio::test]
async fn a_target_that_is_the_sources_own_address_cannot_be_known() {
    let nodes = space1(&[("10.0.0.11", RouteTo::Local)]);
    let prober = LabProber::new(&nodes, inventory(&["10.0.0.11/24"], &["10.0.0.11/24"]));
    let o = prober.probe(&check_from_space1()).await;
    assert!(matches!(o, Observation::Error { .. }) && format!("{o:?}").contains("cannot know"), "{o:?}");
}

#[tokio::test]
async fn a_cleared_probe_without_a_namespace_is_an_error_not_a_verdict() {
    // The fake has no namespace handles: once cleared, the probe cannot be sent, and says so.
    let nodes = space1(&[("10.0.0.12", unicast(2))]);
    let prober = LabProber::new(&nodes, inventory(&["10.0.0.11/24"], &["10.0.0.12/24"]));
    let o = prober.probe(&check_from_space1()).await;
    assert!(matches!(o, Observation::Error { .. }), "{o:?}");
}

// ── Building: recorded in the ledger before it is created ────────────────────────────────────────────────────

fn load(rel: &str) -> reachlab::suite::Suite {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join(rel);
    reachlab::suite::load_file(&path).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

async fn build_with_fakes(rel: &str, fail_on: Option<&str>) -> (Vec<String>, Record, Option<String>) {
    let dir = tempfile::tempdir().unwrap();
    let mut ledger = Ledger::create(dir.path(), "t1", "suite").unwrap();
    let calls = Calls::default();
    let mut kernel = RecordingKernel::new(ledger.path(), calls.clone());
    kernel.fail_on = fail_on.map(String::from);
    let mut engine = RecordingEngine::new(ledger.path(), calls.clone());
    let plan = reachlab::plan::resolve(&load(rel));
    let mut failed = None;
    for step in &plan.steps {
        if let Err(e) = apply(&mut ledger, &mut kernel, &mut engine, Run { id: "t1", suite: "suite" }, step).await {
            failed = Some(e.to_string());
            break;
        }
    }
    let record = Ledger::read(ledger.path()).unwrap();
    (calls.list(), record, failed)
}

#[tokio::test]
async fn every_resource_is_in_the_ledger_before_it_is_created() {
    for rel in [
        "test-suites/netns.toml",
        "test-suites/test1-custom-bridge.toml",
        "test-suites/test2-host-network.toml",
        "test-suites/test3-macvlan.toml",
        "test-suites/test4-macvlan-promisc.toml",
        "test-suites/iface-vxlan.toml",
    ] {
        let (calls, record, failed) = build_with_fakes(rel, None).await;
        assert_eq!(failed, None, "{rel}");
        let creates: Vec<&String> = calls.iter().filter(|c| c.contains('[')).collect();
        assert!(!creates.is_empty(), "{rel}: nothing was created: {calls:#?}");
        let late: Vec<&&String> = creates.iter().filter(|c| c.contains("NOT LEDGERED")).collect();
        assert!(late.is_empty(), "{rel}: created before being ledgered: {late:#?}");
        // Every namespace the kernel made is in the ledger under its run-scoped name.
        for c in calls.iter().filter(|c| c.starts_with("create namespace")) {
            let kname = c.split(" as ").nth(1).unwrap().split(' ').next().unwrap();
            assert!(kname.starts_with("rl-t1-"), "{c}");
            assert!(record.entries.iter().any(|e| matches!(e, Entry::Namespace { name, .. } if name == kname)));
        }
    }
}

#[tokio::test]
async fn namespaces_made_together_are_each_ledgered_before_any_is_made() {
    let dir = tempfile::tempdir().unwrap();
    let mut ledger = Ledger::create(dir.path(), "t5", "suite").unwrap();
    let calls = Calls::default();
    let mut kernel = RecordingKernel::new(ledger.path(), calls.clone());
    let nodes: Vec<String> = ["server1", "server2", "hostonly", "space1"].map(String::from).into();
    reachlab::lab::apply::apply_namespaces(&mut ledger, &mut kernel, Run { id: "t5", suite: "suite" }, &nodes)
        .await
        .unwrap();
    let record = Ledger::read(ledger.path()).unwrap();
    let names: Vec<&str> = record
        .entries
        .iter()
        .filter_map(|e| match e {
            Entry::Namespace { name, .. } => Some(name.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(names, ["rl-t5-server1", "rl-t5-server2", "rl-t5-hostonly", "rl-t5-space1"]);
    let calls = calls.list();
    assert_eq!(calls.len(), 4);
    assert!(calls.iter().all(|c| c.ends_with("[ledgered]")), "{calls:#?}");
}

#[tokio::test]
async fn a_failed_creation_is_already_in_the_ledger_so_teardown_finds_it() {
    let (calls, record, failed) = build_with_fakes("test-suites/netns.toml", Some("create veth")).await;
    assert!(failed.is_some_and(|e| e.contains("failed on purpose")));
    // Building stopped at the failure: nothing after the veth was asked for.
    assert!(calls.last().unwrap().starts_with("create veth"), "{calls:#?}");
    assert!(record.entries.iter().any(|e| matches!(e, Entry::Link { name, .. } if name == "veth-s1")));
}

#[tokio::test]
async fn the_machines_engine_is_never_asked_to_reuse_a_name_it_already_has() {
    let dir = tempfile::tempdir().unwrap();
    let mut ledger = Ledger::create(dir.path(), "t2", "suite").unwrap();
    let calls = Calls::default();
    let mut kernel = RecordingKernel::new(ledger.path(), calls.clone());
    // With the machine's engine, server1 is the machine: opened, never created (LiveLab::new_system).
    kernel.namespaces.insert("server1".into(), "/proc/self/ns/net".into());
    let mut engine = RecordingEngine::new(ledger.path(), calls.clone());
    engine.private = false;
    let plan = reachlab::system::without_lan(reachlab::plan::resolve(&load("test-suites/test1-custom-bridge.toml")));
    let taken = plan
        .steps
        .iter()
        .find_map(|s| match s {
            reachlab::plan::Step::CreateContainer { container } => Some(container.name.clone()),
            _ => None,
        })
        .unwrap();
    engine.taken.push(taken.clone());
    let mut error = None;
    for step in &plan.steps {
        if let Err(e) = apply(&mut ledger, &mut kernel, &mut engine, Run { id: "t2", suite: "suite" }, step).await {
            error = Some(e.to_string());
            break;
        }
    }
    let error = error.expect("refused");
    assert!(error.contains(&format!("already has a container named {taken}")), "{error}");
    assert!(!calls.list().iter().any(|c| c.contains(&format!("create container {taken}"))));
    // Neither recorded (so `clean` would never remove the machine's own container).
    let record = Ledger::read(ledger.path()).unwrap();
    assert!(!record.entries.iter().any(|e| matches!(e, Entry::SystemObject { name, .. } if *name == taken)));
}

// ── Teardown: newest first, on past errors, all reported ─────────────────────────────────────────────────────

#[test]
fn teardown_goes_on_past_errors_newest_first_and_reports_each() {
    let dir = tempfile::tempdir().unwrap();
    let mut ledger = Ledger::create(dir.path(), "t3", "suite").unwrap();
    let ns =
        |n: &str| Entry::Namespace { name: format!("rl-t3-{n}"), path: PathBuf::from(format!("/run/netns/rl-t3-{n}")) };
    ledger.record(ns("a")).unwrap();
    ledger.record(ns("b")).unwrap();
    ledger.record(Entry::Link { netns_path: "/run/netns/rl-t3-a".into(), name: "veth-a".into() }).unwrap();
    ledger.record(Entry::Engine { dir: "/nonexistent/engine-t3".into(), cgroup: "rl-t3".into() }).unwrap();
    ledger
        .record(Entry::DockerObject {
            engine_dir: "/nonexistent/engine-t3".into(),
            kind: "container".into(),
            name: "c1".into(),
        })
        .unwrap();
    ledger.record(Entry::Cgroup { name: "rl-t3-sandbox".into() }).unwrap();
    ledger.record(ns("c")).unwrap();
    let mut remover = RecordingRemover { fail: vec!["rl-t3-c".into(), "engine".into()], ..Default::default() };
    let errors = teardown_with(ledger.record_ref(), &mut remover);
    assert_eq!(
        remover.calls,
        [
            "namespace /run/netns/rl-t3-c",
            "cgroup rl-t3-sandbox",
            "engine /nonexistent/engine-t3 rl-t3",
            "namespace /run/netns/rl-t3-b",
            "namespace /run/netns/rl-t3-a",
        ],
        "links and Docker objects go with their namespace and engine; everything else is removed, newest first"
    );
    let said: Vec<String> = errors.iter().map(|e| e.what.clone()).collect();
    assert_eq!(said, ["namespace rl-t3-c", "engine /nonexistent/engine-t3"]);
}

#[test]
fn teardown_reports_what_it_cannot_remove_rather_than_guessing() {
    let dir = tempfile::tempdir().unwrap();
    let mut ledger = Ledger::create(dir.path(), "t4", "suite").unwrap();
    // A link whose namespace and a Docker object whose engine the ledger does not hold.
    ledger.record(Entry::Link { netns_path: "/run/netns/elsewhere".into(), name: "veth-x".into() }).unwrap();
    ledger
        .record(Entry::DockerObject {
            engine_dir: "/nonexistent/other".into(),
            kind: "network".into(),
            name: "n1".into(),
        })
        .unwrap();
    let mut remover = RecordingRemover::default();
    let errors = teardown_with(ledger.record_ref(), &mut remover);
    assert!(remover.calls.is_empty(), "{:?}", remover.calls);
    assert_eq!(errors.len(), 2);
    assert!(errors.iter().any(|e| e.to_string().contains("ip link del")));
    assert!(errors.iter().any(|e| e.to_string().contains("docker network rm")));
}
