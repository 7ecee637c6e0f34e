//! Where a probe's packet died, observed: captures along a path keep only the probe's own packets, and a
//! netfilter trace in the middle names the rule that dropped or rewrote them. Each test builds its own small
//! topology in throwaway namespaces and checks afterwards that no namespace, nft table or socket of ours is
//! left:
//!
//! ```text
//!   a (va 10.1.0.2) ── veth ── pa ⊂ br0 (10.1.0.1)  m  vmb (10.2.0.1) ── veth ── (vb 10.2.0.2) b
//! ```
//!
//! m routes between the two subnets; its rules are written with iptables (iptables-nft), as a container
//! engine writes them: FORWARD jumps to ISOLATE, which may drop ICMP to b, and POSTROUTING masquerades a's
//! subnet towards b. With a Docker Engine, the bundled Test1 lab (`reachlab up`) shows the same on Docker's own
//! rules in server1: alpine1 → alpine3 ends at DOCKER-ISOLATION-STAGE-2, alpine1 → server2 is masqueraded.

mod common;

use reachlab::kernel::netlink::Netlink;
use reachlab::kernel::netns::{self, Netns};
use reachlab::kernel::nftrace::{Decider, Leg, ProbeKey, TraceError, Tracer, Verdict, TABLE_PREFIX};
use reachlab::probe::path::{observe_probe, send_echo, EchoAnswer, PathObserver, PathProbe, Point};
use std::net::{IpAddr, Ipv4Addr};
use std::process::Command;
use std::time::Duration;

const A: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 2);
const M_TOWARDS_B: Ipv4Addr = Ipv4Addr::new(10, 2, 0, 1);
const B: Ipv4Addr = Ipv4Addr::new(10, 2, 0, 2);

/// Named namespaces removed on drop, so a failing test leaves nothing behind.
struct Namespaces(Vec<Netns>);

impl Drop for Namespaces {
    fn drop(&mut self) {
        for ns in self.0.drain(..).rev() {
            if let Err(e) = netns::remove(&ns.path) {
                eprintln!("failed to remove namespace {}: {e}", ns.name);
            }
        }
    }
}

struct Lab {
    a: Netns,
    m: Netns,
    b: Netns,
    _guard: Namespaces,
}

fn run(program: &str, args: &[&str]) -> String {
    let out = Command::new(program).args(args).output().unwrap_or_else(|e| panic!("{program} {args:?}: {e}"));
    assert!(out.status.success(), "{program} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// An echo path probe with this identifier and sequence.
fn echo((ident, seq): (u16, u16)) -> PathProbe {
    PathProbe::Echo { ident, seq }
}

/// `iptables ARGS` inside `ns`.
fn iptables(ns: &Netns, args: &str) {
    let mut all = vec!["netns", "exec", &ns.name, "iptables", "-w"];
    all.extend(args.split_whitespace());
    run("ip", &all);
}

/// The nft tables of `ns` (`None`: the machine's own).
fn tables(ns: Option<&Netns>) -> Vec<String> {
    let out = match ns {
        Some(ns) => run("ip", &["netns", "exec", &ns.name, "nft", "list", "tables"]),
        None => run("nft", &["list", "tables"]),
    };
    let mut v: Vec<String> = out.lines().map(str::to_string).collect();
    v.sort();
    v
}

async fn build() -> Lab {
    let pid = std::process::id();
    let mut guard = Namespaces(Vec::new());
    for tag in ["a", "m", "b"] {
        let name = format!("rltr-{pid}-{tag}");
        guard.0.push(netns::create(&name).unwrap_or_else(|e| panic!("failed to create namespace {name}: {e}")));
    }
    let (a, m, b) = (guard.0[0].clone(), guard.0[1].clone(), guard.0[2].clone());
    for ns in [&a, &m, &b] {
        // No IPv6 chatter: the captures should hold only what the tests send.
        let forward = std::ptr::eq(ns, &m);
        netns::within(ns, move || {
            for conf in ["all", "default"] {
                std::fs::write(format!("/proc/sys/net/ipv6/conf/{conf}/disable_ipv6"), "1")?;
            }
            if forward {
                std::fs::write("/proc/sys/net/ipv4/ip_forward", "1")?;
            }
            Ok(())
        })
        .await
        .unwrap();
    }
    let (nl_a, nl_m, nl_b) =
        (Netlink::open(&a).await.unwrap(), Netlink::open(&m).await.unwrap(), Netlink::open(&b).await.unwrap());
    // Ends with different indexes come up at once (see `Netlink::create_veth`).
    nl_a.create_veth("va", "pa", &m, Some((20, 21))).await.unwrap();
    nl_m.create_veth("vmb", "vb", &b, Some((22, 23))).await.unwrap();
    nl_m.create_bridge("br0").await.unwrap();
    nl_m.set_master("pa", "br0").await.unwrap();
    nl_a.add_address("va", "10.1.0.2/24".parse().unwrap()).await.unwrap();
    nl_m.add_address("br0", "10.1.0.1/24".parse().unwrap()).await.unwrap();
    nl_m.add_address("vmb", "10.2.0.1/24".parse().unwrap()).await.unwrap();
    nl_b.add_address("vb", "10.2.0.2/24".parse().unwrap()).await.unwrap();
    for (nl, link) in [(&nl_a, "va"), (&nl_m, "pa"), (&nl_m, "br0"), (&nl_m, "vmb"), (&nl_b, "vb")] {
        nl.set_up(link).await.unwrap();
    }
    run("ip", &["-n", &a.name, "route", "add", "default", "via", "10.1.0.1"]);
    run("ip", &["-n", &b.name, "route", "add", "default", "via", "10.2.0.1"]);
    iptables(&m, "-N ISOLATE");
    iptables(&m, "-A FORWARD -j ISOLATE");
    iptables(&m, "-t nat -A POSTROUTING -s 10.1.0.0/24 -o vmb -j MASQUERADE");
    // Ready when both ends reach m (which no FORWARD rule affects), so neighbours are resolved.
    for (ns, gateway) in [(&a, Ipv4Addr::new(10, 1, 0, 1)), (&b, M_TOWARDS_B)] {
        let mut answer = EchoAnswer::Nothing;
        for seq in 0..20 {
            answer = send_echo(ns, gateway, 0x7e57, seq, Duration::from_millis(200)).await.unwrap();
            if matches!(answer, EchoAnswer::Reply { .. }) {
                break;
            }
        }
        assert_eq!(answer, EchoAnswer::Reply { from: gateway }, "{} never reached m", ns.name);
    }
    Lab { a, m, b, _guard: guard }
}

impl Lab {
    /// Every interface of the lab, in the order a request from a to b crosses them.
    fn points(&self) -> Vec<Point> {
        [(&self.a, "a", "va"), (&self.m, "m", "pa"), (&self.m, "m", "br0"), (&self.m, "m", "vmb"), (&self.b, "b", "vb")]
            .into_iter()
            .map(|(ns, node, interface)| Point {
                node: node.into(),
                ns: ns.clone(),
                interface: interface.into(),
                bridge: false,
            })
            .collect()
    }

    fn paths(&self) -> Vec<String> {
        [&self.a, &self.m, &self.b].iter().map(|n| n.path.display().to_string()).collect()
    }
}

/// This process's open sockets.
fn sockets() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter(|l| l.to_string_lossy().starts_with("socket:"))
        .count()
}

/// Runs `test` on a runtime of its own, under a timeout, and checks that the machine's namespaces and nft
/// tables, and this process's sockets, are as they were.
/// A test's body: what it built, as namespace paths that must be gone afterwards.
type Body = fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = Vec<String>>>>;

fn isolated(test: Body) {
    let _g = common::serial();
    let runtime = || tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    // Counted after a first runtime: tokio's signal driver opens a socket pair that lives as long as the process.
    drop(runtime());
    let (machine, machine_tables, open) = (common::machine_state(), tables(None), sockets());
    let rt = runtime();
    let left = rt.block_on(async { tokio::time::timeout(Duration::from_secs(60), test()).await.expect("timed out") });
    drop(rt);
    for path in left {
        assert!(!std::path::Path::new(&path).exists(), "{path} left behind");
    }
    assert_eq!(common::machine_state(), machine, "namespaces, links, mounts, engines, cgroups");
    assert_eq!(tables(None), machine_tables, "the machine's nft tables");
    assert_eq!(sockets(), open, "sockets of this process");
}

fn ours(tables: &[String]) -> Vec<&String> {
    tables.iter().filter(|t| t.contains(TABLE_PREFIX)).collect()
}

async fn a_dropped_probe_stops_at_the_middle_and_the_trace_names_the_rule() -> Vec<String> {
    let lab = build().await;
    iptables(&lab.m, "-A ISOLATE -d 10.2.0.2/32 -p icmp -j DROP");
    // Counted over netlink, as `nft list tables` counts them: m has iptables-nft's table, a has none.
    let count = |ns: &Netns| tables(Some(ns)).len();
    assert_eq!(reachlab::kernel::nftrace::table_count(&lab.a).await.unwrap(), count(&lab.a));
    assert_eq!(reachlab::kernel::nftrace::table_count(&lab.a).await.unwrap(), 0);
    assert_eq!(reachlab::kernel::nftrace::table_count(&lab.m).await.unwrap(), count(&lab.m));
    assert!(count(&lab.m) >= 1);
    let dir = tempfile::tempdir().unwrap();
    let traced = vec![("m".to_string(), lab.m.clone())];
    let key = (0x5a5a, 1);
    let seen =
        observe_probe(&lab.a, B, echo(key), None, Duration::from_millis(800), &lab.points(), &traced, dir.path())
            .await
            .unwrap();
    assert_eq!(seen.answer, EchoAnswer::Nothing);

    let request: Vec<(String, bool)> =
        seen.path.leg(Leg::Request).map(|h| (format!("{} {}", h.node, h.interface), h.seen.is_some())).collect();
    assert_eq!(
        request,
        vec![
            ("a va".into(), true),
            ("m pa".into(), true),
            ("m br0".into(), true),
            ("m vmb".into(), false),
            ("b vb".into(), false)
        ],
        "{:#?}",
        seen.path
    );
    assert!(seen.path.leg(Leg::Reply).all(|h| h.seen.is_none()));
    let last = seen.path.last_seen().unwrap();
    assert_eq!((last.node.as_str(), last.interface.as_str(), last.leg), ("m", "br0", Leg::Request));

    let (node, step) = seen.dropped_by().unwrap_or_else(|| panic!("no dropping rule: {:#?}", seen.traces));
    assert_eq!(node, "m");
    assert_eq!((step.family.as_str(), step.table.as_str(), step.chain.as_str()), ("ip", "filter", "ISOLATE"));
    assert_eq!((step.base_chain.as_deref(), step.hook.as_deref()), (Some("FORWARD"), Some("forward")));
    assert_eq!(step.verdict, Verdict::Drop);
    let Decider::Rule { iptables, nft, .. } = &step.decider else { panic!("{step:?}") };
    assert_eq!(iptables.as_deref(), Some("-A ISOLATE -d 10.2.0.2/32 -p icmp -j DROP"));
    assert!(nft.as_deref().is_some_and(|t| t.ends_with("drop") && !t.contains("packets")), "{nft:?}");
    assert_eq!((step.iif.as_deref(), step.oif.as_deref()), (Some("br0"), Some("vmb")));
    assert_eq!((step.src, step.dst), (Some(A), Some(B)));
    assert_eq!(step.summary(), "FORWARD ISOLATE DROP");
    assert_eq!(seen.line(), "a va → m pa → m br0 → ✗ m: FORWARD ISOLATE DROP");
    for p in &seen.path.pcaps {
        assert!(p.exists(), "{}", p.display());
    }
    assert!(ours(&tables(Some(&lab.m))).is_empty(), "the trace table is removed");
    lab.paths()
}

async fn a_passing_probe_reaches_the_destination_and_back() -> Vec<String> {
    let lab = build().await;
    let dir = tempfile::tempdir().unwrap();
    let traced: Vec<(String, Netns)> =
        [("a", &lab.a), ("m", &lab.m), ("b", &lab.b)].iter().map(|(n, ns)| (n.to_string(), (*ns).clone())).collect();
    let started = std::time::Instant::now();
    let seen =
        observe_probe(&lab.a, B, echo((0x1111, 3)), None, Duration::from_secs(2), &lab.points(), &traced, dir.path())
            .await
            .unwrap();
    // What a path costs, for deciding when to take one (5 captures, 3 traces, one answered echo).
    eprintln!("observed path with 5 captures and 3 traces in {:?}", started.elapsed());
    assert_eq!(seen.answer, EchoAnswer::Reply { from: B });
    assert!(seen.path.hops.iter().all(|h| h.seen.is_some()), "{:#?}", seen.path);
    assert!(seen.path.reached() && seen.path.answered());
    let last = seen.path.last_seen().unwrap();
    assert_eq!((last.node.as_str(), last.interface.as_str(), last.leg), ("a", "va", Leg::Reply));
    // Masqueraded at m: b sees the request from m's address, a sees the reply addressed to itself.
    let at = |node: &str, interface: &str, leg: Leg| {
        let hop = seen.path.hops.iter().find(|h| h.node == node && h.interface == interface && h.leg == leg).unwrap();
        let s = hop.seen.clone().unwrap();
        (s.src, s.dst, s.frames)
    };
    let v4 = |a: Ipv4Addr| Some(IpAddr::V4(a));
    assert_eq!(at("a", "va", Leg::Request), (v4(A), v4(B), 1));
    assert_eq!(at("b", "vb", Leg::Request), (v4(M_TOWARDS_B), v4(B), 1));
    assert_eq!(at("b", "vb", Leg::Reply), (v4(B), v4(M_TOWARDS_B), 1));
    assert_eq!(at("a", "va", Leg::Reply), (v4(B), v4(A), 1));

    assert_eq!(seen.dropped_by(), None, "{:#?}", seen.traces);
    let m = seen.traces.iter().find(|t| t.node() == "m").and_then(|t| t.trace()).expect("m traced");
    let nat: Vec<String> = m.rewrites().map(|s| s.summary()).collect();
    assert_eq!(
        nat,
        ["POSTROUTING MASQUERADE 10.1.0.0/24"],
        "{:#?}",
        m.steps.iter().map(|s| (s.leg, s.summary(), &s.decider)).collect::<Vec<_>>()
    );
    assert!(m.saw(Leg::Request) && m.saw(Leg::Reply));
    assert!(m.steps.iter().any(|s| s.chain == "FORWARD" && s.leg == Leg::Reply));
    assert!(!m.lost_events);
    // The ends have no rules: their traces say only where the packets entered their netfilter.
    for (node, hooks) in [("a", ["output", "prerouting"]), ("b", ["prerouting", "output"])] {
        let t = seen.traces.iter().find(|t| t.node() == node).and_then(|t| t.trace()).expect("traced");
        let arrivals: Vec<(Leg, &str)> = t.arrivals.iter().map(|a| (a.leg, a.hook.as_str())).collect();
        assert_eq!(arrivals, [(Leg::Request, hooks[0]), (Leg::Reply, hooks[1])], "{node}");
        assert!(t.steps.is_empty(), "{node}: {:#?}", t.steps);
    }
    let b_in = &seen.traces[2].trace().unwrap().arrivals[0];
    assert_eq!((b_in.iif.as_deref(), b_in.src, b_in.dst), (Some("vb"), Some(M_TOWARDS_B), Some(B)));
    assert!(seen.line().starts_with("a va → m pa → m br0 → m vmb → b vb → back: b vb → m vmb"), "{}", seen.line());
    for lab_ns in [&lab.a, &lab.m, &lab.b] {
        assert!(ours(&tables(Some(lab_ns))).is_empty(), "a trace table left in {}", lab_ns.name);
    }
    lab.paths()
}

async fn another_identifier_is_never_taken_for_the_probe() -> Vec<String> {
    let lab = build().await;
    let dir = tempfile::tempdir().unwrap();
    let key = ProbeKey::Echo { ident: 0x2222, seq: 1 };
    let tracer = Tracer::start(&lab.m, key).await.unwrap();
    let observer = PathObserver::start(&lab.points(), key, None, dir.path()).await.unwrap();
    // Other pings through the same path while ours is watched: another identifier, another sequence.
    let t = Duration::from_secs(2);
    assert_eq!(send_echo(&lab.a, B, 0x2223, 1, t).await.unwrap(), EchoAnswer::Reply { from: B });
    assert_eq!(send_echo(&lab.a, B, 0x2222, 2, t).await.unwrap(), EchoAnswer::Reply { from: B });
    let path = observer.finish().await.unwrap();
    assert!(path.hops.iter().all(|h| h.seen.is_none()), "other traffic taken for the probe: {path:#?}");
    assert!(path.last_seen().is_none());
    let trace = tracer.finish().await.unwrap();
    assert!(trace.steps.is_empty(), "{:#?}", trace.steps);

    // The same watch does see the probe itself, once per hop, among the others.
    let tracer = Tracer::start(&lab.m, key).await.unwrap();
    let observer = PathObserver::start(&lab.points(), key, None, dir.path()).await.unwrap();
    assert_eq!(send_echo(&lab.a, B, 0x2223, 1, t).await.unwrap(), EchoAnswer::Reply { from: B });
    assert_eq!(send_echo(&lab.a, B, 0x2222, 1, t).await.unwrap(), EchoAnswer::Reply { from: B });
    let path = observer.finish().await.unwrap();
    assert!(path.hops.iter().all(|h| h.seen.as_ref().is_some_and(|s| s.frames == 1)), "{path:#?}");
    let trace = tracer.finish().await.unwrap();
    let arrivals: Vec<(Leg, &str)> = trace.arrivals.iter().map(|a| (a.leg, a.hook.as_str())).collect();
    assert_eq!(arrivals, [(Leg::Request, "prerouting"), (Leg::Reply, "prerouting")], "one packet each way");
    let policies: Vec<(Leg, &str)> =
        trace.steps.iter().filter(|s| s.decider == Decider::Policy).map(|s| (s.leg, s.chain.as_str())).collect();
    assert_eq!(policies, [(Leg::Request, "FORWARD"), (Leg::Reply, "FORWARD")], "{:#?}", trace.steps);
    lab.paths()
}

async fn the_machines_namespace_is_refused_and_a_dropped_tracer_cleans_up() -> Vec<String> {
    let key = ProbeKey::Echo { ident: 1, seq: 1 };
    // PID 1's namespace may not be ours to open (a sandbox); the process's and the thread's always are.
    for path in ["/proc/1/ns/net", "/proc/self/ns/net", "/proc/thread-self/ns/net"] {
        let Ok(machine) = Netns::open("machine", std::path::Path::new(path)) else {
            assert_eq!(path, "/proc/1/ns/net");
            continue;
        };
        match Tracer::start(&machine, key).await {
            Err(TraceError::MachineNamespace { .. }) => {}
            other => panic!("{path}: {other:?}"),
        }
    }
    let lab = build().await;
    let before = tables(Some(&lab.m));
    let started = std::time::Instant::now();
    let idle = Tracer::start(&lab.m, key).await.unwrap().finish().await.unwrap();
    eprintln!("a tracer started and finished (nothing traced) in {:?}", started.elapsed());
    assert!(idle.steps.is_empty() && idle.arrivals.is_empty());
    let tracer = Tracer::start(&lab.m, key).await.unwrap();
    let during = tables(Some(&lab.m));
    assert_eq!(ours(&during), [&format!("table inet {}", tracer.table())]);
    drop(tracer);
    assert_eq!(tables(Some(&lab.m)), before, "dropping the tracer removes its table");
    lab.paths()
}

/// `docker -H ENGINE ARGS` against a lab's private engine.
fn docker(engine: &std::path::Path, args: &[&str]) -> String {
    let host = format!("unix://{}", engine.display());
    let mut all = vec!["-H", host.as_str()];
    all.extend_from_slice(args);
    run("docker", &all).trim().to_string()
}

/// The bundled Test1 lab, left standing by `reachlab up`: alpine1 (default bridge) → alpine3 (alpine-net) ends
/// at Docker's isolation rule in server1, named as Docker wrote it; alpine1 → server2 is masqueraded there.
async fn docker_isolation_and_masquerade_are_named_in_server1() -> Vec<String> {
    let s = common::Scratch::new();
    let out = s.reachlab().args(["up", "test-suites/test1-custom-bridge.toml"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    let id = text.split("run id ").nth(1).and_then(|t| t.get(..6)).expect("up names its run id").to_string();
    let server1_path = std::path::PathBuf::from(format!("/run/netns/rl-{id}-server1"));
    let server1 = Netns::open(&format!("rl-{id}-server1"), &server1_path).unwrap();
    let engine = s.state().join("engines").join(&id).join("docker.sock");
    let container = |name: &str| {
        let pid = docker(&engine, &["inspect", "-f", "{{.State.Pid}}", name]);
        Netns::open(name, std::path::Path::new(&format!("/proc/{pid}/ns/net"))).unwrap()
    };
    let (alpine1, alpine3) = (container("alpine1"), container("alpine3"));
    let address = |name: &str| -> Ipv4Addr {
        docker(&engine, &["inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", name])
            .parse()
            .unwrap()
    };
    let bridge = format!("br-{}", &docker(&engine, &["network", "inspect", "-f", "{{.Id}}", "alpine-net"])[..12]);
    let point = |node: &str, ns: &Netns, interface: &str| Point {
        node: node.into(),
        ns: ns.clone(),
        interface: interface.into(),
        bridge: interface == "docker0" || interface.starts_with("br-"),
    };
    let traced = vec![("server1".to_string(), server1.clone())];
    let dir = tempfile::tempdir().unwrap();

    let points = [
        point("alpine1", &alpine1, "eth0"),
        point("server1", &server1, "docker0"),
        point("server1", &server1, &bridge),
        point("alpine3", &alpine3, "eth0"),
    ];
    let seen = observe_probe(
        &alpine1,
        address("alpine3"),
        echo((0x7101, 1)),
        None,
        Duration::from_millis(800),
        &points,
        &traced,
        dir.path(),
    )
    .await
    .unwrap();
    assert_eq!(seen.answer, EchoAnswer::Nothing);
    let last = seen.path.last_seen().unwrap();
    assert_eq!((last.node.as_str(), last.interface.as_str(), last.leg), ("server1", "docker0", Leg::Request));
    let (node, step) = seen.dropped_by().unwrap_or_else(|| panic!("{:#?}", seen.traces));
    assert_eq!(node, "server1");
    assert_eq!(step.summary(), "FORWARD DOCKER-ISOLATION-STAGE-2 DROP");
    let Decider::Rule { iptables, .. } = &step.decider else { panic!("{step:?}") };
    assert_eq!(iptables.as_deref(), Some(format!("-A DOCKER-ISOLATION-STAGE-2 -o {bridge} -j DROP").as_str()));
    eprintln!("alpine1 → alpine3: {}", seen.line());

    let points = [
        point("alpine1", &alpine1, "eth0"),
        point("server1", &server1, "docker0"),
        point("server1", &server1, "enp0s3"),
    ];
    let server2 = Ipv4Addr::new(192, 168, 56, 4);
    let seen =
        observe_probe(&alpine1, server2, echo((0x7102, 1)), None, Duration::from_secs(2), &points, &traced, dir.path())
            .await
            .unwrap();
    assert_eq!(seen.answer, EchoAnswer::Reply { from: server2 }, "{:#?}", seen.path);
    let on_lan = seen.path.leg(Leg::Request).last().and_then(|h| h.seen.clone()).unwrap();
    assert_eq!(on_lan.src, Some(IpAddr::V4(Ipv4Addr::new(192, 168, 56, 3))), "masqueraded to server1's address");
    let trace = seen.traces[0].trace().unwrap();
    let nat: Vec<String> = trace.rewrites().map(|s| s.summary()).collect();
    assert_eq!(nat, ["POSTROUTING MASQUERADE 172.17.0.0/16"], "{:#?}", trace.steps);
    eprintln!("alpine1 → server2: {}", seen.line());
    assert!(ours(&tables(Some(&server1))).is_empty());

    drop((server1, alpine1, alpine3));
    let out = s.reachlab().args(["down", &id]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    vec![server1_path.display().to_string()]
}

/// Checks of a report.json.
fn all_checks(report: &serde_json::Value) -> Vec<serde_json::Value> {
    report["suites"].as_array().unwrap().iter().flat_map(|s| s["checks"].as_array().unwrap().clone()).collect()
}

/// The bundled Test1 suite with alpine1 → alpine3 expected reachable, which it is not (different bridges).
fn flipped_test1(s: &common::Scratch) -> std::path::PathBuf {
    let text = std::fs::read_to_string(common::repo().join("test-suites/test1-custom-bridge.toml")).unwrap();
    let flipped = text.replace(
        "alpine1      -        Y        N        Y        Y",
        "alpine1      -        Y        Y        Y        Y",
    );
    assert_ne!(flipped, text);
    s.suite("test1-flipped.toml", &flipped)
}

/// `reachlab run` (tracing by default: one failing cell is within the default limit) on a run whose one failing
/// cell is alpine1 → alpine3: that check alone carries a path, which ends in server1 at Docker's isolation
/// rule; the machine is left as found.
fn a_traced_run_shows_where_the_flipped_cell_was_dropped() {
    let _g = common::serial();
    let (machine, machine_tables) = (common::machine_state(), tables(None));
    let s = common::Scratch::new();
    let (code, report, stderr) = s.run_json(&flipped_test1(&s), &[]);
    assert_eq!(code, 1, "{stderr}");
    let all = all_checks(&report);
    let traced: Vec<&serde_json::Value> = all.iter().filter(|c| c.get("path").is_some()).collect();
    assert_eq!(traced.len(), 1, "{traced:#?}");
    let c = traced[0];
    assert_eq!(
        (c["verdict"].as_str(), c["from"].as_str(), c["to"].as_str()),
        (Some("fail"), Some("alpine1"), Some("alpine3"))
    );
    let path = &c["path"];
    let rule = path["dropped_by"]["rule"].as_str().unwrap_or_else(|| panic!("{path:#}"));
    assert!(rule.contains("DOCKER-ISOLATION"), "{path:#}");
    assert_eq!(path["dropped_by"]["node"], "server1", "{path:#}");
    assert_eq!(path["last_seen"]["node"], "server1", "{path:#}");
    assert_eq!(path["last_seen"]["leg"], "request", "{path:#}");
    // The lab's reason (alpine1 and alpine3 share no Docker network) is a hypothesis the trace confirms.
    let reasons = path["reasons"].as_array().unwrap_or_else(|| panic!("no tested reasons: {path:#}"));
    assert!(
        reasons.iter().any(|r| r["status"] == "confirmed"
            && r["reason"].as_str().is_some_and(|t| t.contains("share no Docker network"))
            && r["evidence"].as_str().is_some_and(|e| e.contains("DOCKER-ISOLATION"))),
        "{path:#}"
    );
    let first = &path["hops"][0];
    assert_eq!(
        (first["node"].as_str(), first["interface"].as_str(), first["seen"].as_bool()),
        (Some("alpine1"), Some("eth0"), Some(true)),
        "{path:#}"
    );
    // Reasoned from the lab: alpine1 is on the default bridge, so the request leaves its eth0, arrives on its
    // veth's host end (a port of docker0), goes up through docker0 into server1's routing, and FORWARD drops
    // it on its way out to alpine-net's bridge — which therefore never sees it.
    let line = path["line"].as_str().unwrap();
    assert_eq!(
        line,
        "alpine1 eth0 → server1 veth@alpine1 → server1 docker0 → ✗ server1: FORWARD DOCKER-ISOLATION-STAGE-2 DROP",
        "{path:#}"
    );
    for pcap in path["pcaps"].as_array().unwrap() {
        assert!(std::path::Path::new(pcap.as_str().unwrap()).starts_with(s.reports().join("paths")), "{pcap}");
    }
    // Checked by a tool no one here wrote: tcpdump reads each hop's pcap, and it holds the echo request exactly
    // where the path says the request was seen.
    let pcaps: Vec<String> =
        path["pcaps"].as_array().unwrap().iter().map(|p| p.as_str().unwrap().to_string()).collect();
    for hop in path["hops"].as_array().unwrap().iter().filter(|h| h["leg"] == "request") {
        let suffix = format!("-{}-{}.pcap", hop["node"].as_str().unwrap(), hop["interface"].as_str().unwrap());
        let pcap = pcaps.iter().find(|p| p.ends_with(&suffix)).unwrap_or_else(|| panic!("no pcap for {hop}"));
        let read = Command::new("tcpdump").args(["-nn", "-r", pcap]).output().expect("tcpdump (installed by .ci/run)");
        let text = String::from_utf8_lossy(&read.stdout);
        assert_eq!(text.contains("ICMP echo request"), hop["seen"].as_bool().unwrap(), "{hop}: tcpdump read {text:?}");
    }
    // The terminal view (on stderr with --json) shows it under the failing cell, and so does junit.xml.
    assert!(stderr.contains(&format!("path: {line}")), "{stderr}");
    let junit = std::fs::read_to_string(s.reports().join("junit.xml")).unwrap();
    assert!(
        junit.contains(&format!("path: {line}"))
            && junit.contains("dropped-by: server1: FORWARD DOCKER-ISOLATION-STAGE-2 DROP")
    );
    assert!(all.iter().filter(|c| c["verdict"] == "pass").all(|c| c.get("path").is_none()));
    eprintln!("traced: {line}");
    assert!(s.ledgers().is_empty(), "ledgers left: {:?}", s.ledgers());
    assert_eq!(common::machine_state(), machine, "namespaces, links, mounts, engines, cgroups");
    assert_eq!(tables(None), machine_tables, "the machine's nft tables");
}

/// With `--no-trace`, the same failing run carries no path anywhere.
fn an_untraced_run_carries_no_path() {
    let _g = common::serial();
    let machine = common::machine_state();
    let s = common::Scratch::new();
    let (code, report, stderr) = s.run_json(&flipped_test1(&s), &["--no-trace"]);
    assert_eq!(code, 1, "{stderr}");
    let all = all_checks(&report);
    assert!(all.iter().any(|c| c["verdict"] == "fail"));
    assert!(all.iter().all(|c| c.get("path").is_none()), "{all:#?}");
    assert!(!s.reports().join("paths").exists());
    assert!(s.ledgers().is_empty(), "ledgers left: {:?}", s.ledgers());
    assert_eq!(common::machine_state(), machine);
}

/// Test3 as the handout's mistake builds it (`fixtures/suites/test3-wrong.toml`: macvlan children off
/// server1's NIC, the switch denying promiscuous mode): every failing cell carries a path with where it
/// stopped, and each of the lab's reasons is confirmed by it. Reasoned from the lab, per cell:
/// - a child → its parent's host (server1) and server1 → a child: the kernel passes no frame between a macvlan
///   parent and its children, so the sender's ARP request for the other goes out to the switch and is never
///   answered: the request itself never leaves;
/// - a child → server2: the who-has is broadcast and reaches server2, whose unicast answer to the child's own
///   MAC the switch drops on the way to server1's port (it delivers only server1's MAC there). The child may
///   already know server2's MAC — it learns it from server2's own who-has for the child, which the switch
///   floods to server1's port — and then the request does leave, reaches server2, and server2's reply is the
///   frame dropped at the switch. Either way the answer is seen at port-server2 and no further;
/// - server2 → a child: the request reaches the switch from server2 and goes no further.
fn every_failing_cell_of_the_test3_mistake_shows_where_it_stopped() {
    let _g = common::serial();
    let (machine, machine_tables) = (common::machine_state(), tables(None));
    let s = common::Scratch::new();
    let (code, report, stderr) = s.run_json(&common::repo().join("fixtures/suites/test3-wrong.toml"), &[]);
    assert_eq!(code, 1, "{stderr}");
    let failing: Vec<serde_json::Value> =
        all_checks(&report).into_iter().filter(|c| c["verdict"] == "fail" && c["kind"] == "icmp").collect();
    assert_eq!(failing.len(), 8, "{failing:#?}");
    let children = ["alpine1", "alpine2"];
    for c in &failing {
        let (from, to, target) =
            (c["from"].as_str().unwrap(), c["to"].as_str().unwrap(), c["target"].as_str().unwrap());
        let path = &c["path"];
        let line = path["line"].as_str().unwrap_or_else(|| panic!("{from} -> {to} has no path: {c:#}"));
        let reasons = path["reasons"].as_array().unwrap();
        assert!(!reasons.is_empty() && reasons.iter().all(|r| r["status"] == "confirmed"), "{from} -> {to}: {path:#}");
        if children.contains(&from) && to == "server1" || from == "server1" {
            assert!(line.starts_with(&format!("ARP who-has {target}: {from} ")), "{from} -> {to}: {line}");
            assert!(line.ends_with("✗ no ARP reply seen"), "{from} -> {to}: {line}");
        } else if children.contains(&from) {
            assert_eq!(to, "server2");
            let (start, end) = if line.starts_with("ARP") {
                (format!("ARP who-has {target}: {from} eth0 → "), format!("✗ no ARP reply at {from}"))
            } else {
                (format!("{from} eth0 → "), "✗ not seen further".to_string())
            };
            assert!(line.starts_with(&start), "{from} -> {to}: {line}");
            assert!(
                line.ends_with(&format!("back: server2 enp0s3 → hostonly port-server2 → {end}")),
                "{from} -> {to}: {line}"
            );
        } else {
            assert_eq!(from, "server2");
            assert_eq!(line, "server2 enp0s3 → hostonly port-server2 → ✗ not seen further", "{from} -> {to}");
        }
    }
    assert!(s.ledgers().is_empty(), "ledgers left: {:?}", s.ledgers());
    assert_eq!(common::machine_state(), machine);
    assert_eq!(tables(None), machine_tables, "the machine's nft tables");
}

/// A six-host star whose every cell expects the opposite of what the one bridge does (30 failing cells): by
/// default the first 16 are traced and a note says how many were not; `--trace` traces all 30. Each path was
/// answered (the hosts do reach each other), so each line ends with the way back.
fn the_default_traces_the_first_sixteen_failing_cells_and_says_so() {
    let _g = common::serial();
    let machine = common::machine_state();
    let s = common::Scratch::new();
    let star = Command::new("python3")
        .arg(common::repo().join("bench/gen-star.py"))
        .args(["6", "--timeout-ms", "300"])
        .output()
        .unwrap();
    let text = String::from_utf8(star.stdout).unwrap();
    // The grid's rows (`h0 -   Y   Y …`): every Y becomes N.
    let flipped: Vec<String> = text
        .lines()
        .map(|l| if l.starts_with('h') && l.contains(" Y") { l.replace(" Y", " N") } else { l.to_string() })
        .collect();
    let suite = s.suite("star6-flipped.toml", &flipped.join("\n"));
    let (code, report, stderr) = s.run_json(&suite, &[]);
    assert_eq!(code, 1, "{stderr}");
    let failing = all_checks(&report).into_iter().filter(|c| c["verdict"] == "fail").count();
    assert_eq!(failing, 30, "{stderr}");
    let with_path = |r: &serde_json::Value| all_checks(r).into_iter().filter(|c| c.get("path").is_some()).count();
    assert_eq!(with_path(&report), 16);
    let notes = report["suites"][0]["notes"].as_array().unwrap();
    assert!(
        notes.iter().any(|n| n.as_str().unwrap().contains("the first 16 failing cells were traced, 14 more were not")),
        "{notes:#?}"
    );
    let (_, all, stderr) = s.run_json(&suite, &["--trace"]);
    assert_eq!(with_path(&all), 30, "{stderr}");
    for c in all_checks(&all).into_iter().filter(|c| c.get("path").is_some()) {
        let line = c["path"]["line"].as_str().unwrap().to_string();
        let (from, to) = (c["from"].as_str().unwrap(), c["to"].as_str().unwrap());
        assert!(line.starts_with(&format!("{from} eth0 → lan p-{from} ")), "{line}");
        assert!(line.ends_with(&format!("→ lan p-{from} → {from} eth0")), "{line}");
        assert!(line.contains(&format!("lan p-{to} → {to} eth0 → back: {to} eth0 → lan p-{to}")), "{line}");
    }
    assert!(s.ledgers().is_empty(), "ledgers left: {:?}", s.ledgers());
    assert_eq!(common::machine_state(), machine);
}

/// UDP and TCP cells get paths too: the transport fixture with h1 → h4 claimed dropped for UDP to reachlab's
/// listener and claimed dropped for TCP to a closed port. Reasoned from the lab: h1 reaches h4 through r
/// (h1's route to 10.2.0.0/24 via r, r forwards, h4's default route back via r). The path probe has no listener
/// behind it, so the datagram is answered by h4's port unreachable and the SYN by h4's reset: each path goes
/// out through the switch and r to h4's eth0, and back the same way.
fn udp_and_tcp_cells_get_paths_too() {
    let _g = common::serial();
    let (machine, machine_tables) = (common::machine_state(), tables(None));
    let s = common::Scratch::new();
    let text = std::fs::read_to_string(common::repo().join("fixtures/suites/transport.toml")).unwrap();
    let udp = "expect = \"\"\"\n      h2  h3  h4\nh1    Y   D   Y\nh2    -   D   D\n";
    let tcp = "listen = false\nexpect = \"\"\"\n      h2  h4\nh1    R   R\n\"\"\"";
    assert!(text.contains(udp) && text.contains(tcp));
    let flipped = text
        .replace(udp, "expect = \"\"\"\n      h2  h3  h4\nh1    Y   D   D\nh2    -   D   D\n")
        .replace(tcp, "listen = false\nexpect = \"\"\"\n      h2  h4\nh1    R   D\n\"\"\"");
    let (code, report, stderr) = s.run_json(&s.suite("transport-flipped.toml", &flipped), &[]);
    assert_eq!(code, 1, "{stderr}");
    let failing: Vec<serde_json::Value> = all_checks(&report).into_iter().filter(|c| c["verdict"] == "fail").collect();
    let kinds: Vec<(&str, &str, &str)> = failing
        .iter()
        .map(|c| (c["kind"].as_str().unwrap(), c["from"].as_str().unwrap(), c["to"].as_str().unwrap()))
        .collect();
    assert_eq!(kinds, [("udp", "h1", "h4"), ("tcp", "h1", "h4")], "{stderr}");
    for c in &failing {
        let line = c["path"]["line"].as_str().unwrap_or_else(|| panic!("no path: {c:#}"));
        assert!(line.starts_with("h1 eth0 → lan p-h1 → "), "{line}");
        assert!(
            line.contains("lan p-r → r r-lan → r r-far → h4 eth0 → back: h4 eth0 → r r-far → r r-lan → lan p-r"),
            "{line}"
        );
        assert!(line.ends_with("lan p-h1 → h1 eth0"), "{line}");
    }
    assert!(s.ledgers().is_empty(), "ledgers left: {:?}", s.ledgers());
    assert_eq!(common::machine_state(), machine);
    assert_eq!(tables(None), machine_tables, "the machine's nft tables");
}

/// Grading traces too: a Test1 submission that never connected alpine2 to alpine-net gets, in its feedback,
/// where alpine2 → alpine3's packets went and the reason confirmed — the same words on every run (the engine's
/// random interface names are labelled by whose they are). Reasoned from the lab: alpine2 is on the default
/// bridge only, alpine3 on alpine-net only; the request goes up through docker0 and FORWARD drops it at
/// Docker's isolation rule. With `--no-trace` the feedback has no path.
fn grading_feedback_says_where_the_packets_went() {
    let _g = common::serial();
    let (machine, machine_tables) = (common::machine_state(), tables(None));
    let s = common::Scratch::new();
    let class = s.dir.path().join("class");
    std::fs::create_dir_all(&class).unwrap();
    let cp = Command::new("cp")
        .arg("-a")
        .arg(common::repo().join("fixtures/submissions/test1/not-connected"))
        .arg(&class)
        .status()
        .unwrap();
    assert!(cp.success());
    let grade = |out: &str, extra: &[&str]| {
        let o = s
            .reachlab()
            .args(["grade", "--suite", "test-suites/grading/test1.toml"])
            .arg(&class)
            .arg("--report-dir")
            .arg(s.dir.path().join(out))
            .args(extra)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(0), "{o:?}");
        std::fs::read_to_string(s.dir.path().join(out).join("not-connected").join("feedback.md")).unwrap()
    };
    let feedback = grade("traced", &[]);
    let line = "where its packets went: alpine2 eth0 → server1 veth@alpine2 → server1 docker0 → ✗ server1: \
                FORWARD DOCKER-ISOLATION-STAGE-2 DROP";
    assert!(feedback.contains(line), "{feedback}");
    assert!(
        feedback.contains(
            "the reason, tested on that path: confirmed — dropped at server1 by FORWARD DOCKER-ISOLATION-STAGE-2 DROP"
        ),
        "{feedback}"
    );
    let untraced = grade("untraced", &["--no-trace"]);
    assert!(!untraced.contains("where its packets went"), "{untraced}");
    assert!(s.ledgers().is_empty(), "ledgers left: {:?}", s.ledgers());
    assert_eq!(common::machine_state(), machine);
    assert_eq!(tables(None), machine_tables, "the machine's nft tables");
}

fn main() {
    let skip = reachlab::kernel::privilege::unprivileged_reason().or_else(|| {
        let has = |tool: &str| Command::new(tool).arg("--version").output().is_ok_and(|o| o.status.success());
        (!has("nft") || !has("iptables")).then(|| "needs nft (nftables) and iptables".to_string())
    });
    let docker = skip.clone().or_else(|| common::docker_skip(&[]));
    let tests: [(&'static str, fn()); 4] = [
        ("a_dropped_probe_stops_at_the_middle_and_the_trace_names_the_rule", || {
            isolated(|| Box::pin(a_dropped_probe_stops_at_the_middle_and_the_trace_names_the_rule()))
        }),
        ("a_passing_probe_reaches_the_destination_and_back", || {
            isolated(|| Box::pin(a_passing_probe_reaches_the_destination_and_back()))
        }),
        ("another_identifier_is_never_taken_for_the_probe", || {
            isolated(|| Box::pin(another_identifier_is_never_taken_for_the_probe()))
        }),
        ("the_machines_namespace_is_refused_and_a_dropped_tracer_cleans_up", || {
            isolated(|| Box::pin(the_machines_namespace_is_refused_and_a_dropped_tracer_cleans_up()))
        }),
    ];
    let mut each: Vec<common::Trial> = tests.iter().map(|&(name, f)| (name, f, skip.clone())).collect();
    each.push((
        "docker_isolation_and_masquerade_are_named_in_server1",
        || isolated(|| Box::pin(docker_isolation_and_masquerade_are_named_in_server1())),
        docker.clone(),
    ));
    each.push((
        "a_traced_run_shows_where_the_flipped_cell_was_dropped",
        a_traced_run_shows_where_the_flipped_cell_was_dropped,
        docker.clone(),
    ));
    each.push(("an_untraced_run_carries_no_path", an_untraced_run_carries_no_path, docker.clone()));
    each.push((
        "every_failing_cell_of_the_test3_mistake_shows_where_it_stopped",
        every_failing_cell_of_the_test3_mistake_shows_where_it_stopped,
        docker.clone(),
    ));
    each.push(("grading_feedback_says_where_the_packets_went", grading_feedback_says_where_the_packets_went, docker));
    each.push(("udp_and_tcp_cells_get_paths_too", udp_and_tcp_cells_get_paths_too, skip.clone()));
    each.push((
        "the_default_traces_the_first_sixteen_failing_cells_and_says_so",
        the_default_traces_the_first_sixteen_failing_cells_and_says_so,
        skip.clone(),
    ));
    common::run_trials_each("trace", &each)
}
