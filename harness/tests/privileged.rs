//! Privileged integration tests: real namespaces, real packets, real teardown. Each checks the machine is left
//! with exactly the namespaces, links and mounts it had before. A libtest-mimic harness so that, without root,
//! they are listed as ignored (skipped) rather than passing vacuously.

mod common;

use common::*;
use std::process::{Command, Stdio};
use std::time::Duration;

fn main() {
    let tests: [(&'static str, fn()); 11] = [
        ("macvlan_private_mode_is_observed_not_echoed", macvlan_private_mode_is_observed_not_echoed),
        ("udp_and_tcp_tell_delivered_refused_and_dropped_apart", udp_and_tcp_tell_delivered_refused_and_dropped_apart),
        ("netns_suite_passes_and_honours_the_json_contract", netns_suite_passes_and_honours_the_json_contract),
        ("a_flipped_cell_fails_exactly_that_cell", a_flipped_cell_fails_exactly_that_cell),
        ("routed_topology_matches_the_reasoned_matrix", routed_topology_matches_the_reasoned_matrix),
        ("concurrent_runs_of_one_suite_do_not_collide", concurrent_runs_of_one_suite_do_not_collide),
        ("interrupted_runs_tear_down", interrupted_runs_tear_down),
        (
            "clean_removes_what_a_killed_run_left_and_nothing_else",
            clean_removes_what_a_killed_run_left_and_nothing_else,
        ),
        ("up_leaves_a_lab_to_explore_and_down_removes_it", up_leaves_a_lab_to_explore_and_down_removes_it),
        ("probes_that_would_leave_the_lab_are_refused", probes_that_would_leave_the_lab_are_refused),
        ("a_filter_probes_only_the_selected_cells", a_filter_probes_only_the_selected_cells),
    ];
    run_trials("privileged", reachlab::kernel::privilege::unprivileged_reason(), &tests);
}

fn netns_suite() -> String {
    std::fs::read_to_string(repo().join("test-suites/netns.toml")).unwrap()
}

fn routed_suite() -> String {
    std::fs::read_to_string(repo().join("fixtures/suites/routed.toml")).unwrap()
}

fn netns_suite_passes_and_honours_the_json_contract() {
    let _g = serial();
    let before = machine_state();
    let s = Scratch::new();
    let (code, report, stderr) = s.run_json(&repo().join("test-suites/netns.toml"), &[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        (report["passed"].as_u64(), report["failed"].as_u64(), report["errors"].as_u64(), report["skipped"].as_u64()),
        (Some(2), Some(0), Some(0), Some(0))
    );
    let suite = &report["suites"][0];
    assert_eq!(suite["name"], "netns");
    assert_eq!(suite["file"], repo().join("test-suites/netns.toml").display().to_string());
    let c = &suite["checks"][0];
    assert_eq!(
        (c["kind"].as_str(), c["from"].as_str(), c["to"].as_str(), c["target"].as_str()),
        (Some("icmp"), Some("space1"), Some("space2"), Some("10.0.0.12"))
    );
    assert_eq!(
        (c["expected"].as_str(), c["observed"].as_str(), c["verdict"].as_str()),
        (Some("reachable"), Some("reachable"), Some("pass"))
    );
    assert!(c["detail"].as_str().unwrap().starts_with("echo reply from 10.0.0.12 in "), "{c}");
    for f in ["junit.xml", "report.json", "summary.md"] {
        assert!(s.reports().join(f).exists(), "{f}");
    }
    assert_eq!(machine_state(), before);
    assert!(s.ledgers().is_empty(), "ledger left: {:?}", s.ledgers());
}

fn a_flipped_cell_fails_exactly_that_cell() {
    let _g = serial();
    let before = machine_state();
    let s = Scratch::new();
    // Y -> N: space1 does reach space2, so exactly that check must fail.
    let flipped = netns_suite().replace("space1      -       Y", "space1      -       N");
    assert_ne!(flipped, netns_suite());
    let (code, report, _) = s.run_json(&s.suite("flipped.toml", &flipped), &[]);
    assert_eq!(code, 1);
    let bad = not_passed(&report);
    assert_eq!(bad.len(), 1, "{bad:?}");
    assert_eq!((bad[0].0.as_str(), bad[0].1.as_str(), bad[0].2.as_str()), ("fail", "space1", "space2"));
    assert!(
        bad[0].3.starts_with("expected unreachable, observed reachable: echo reply from 10.0.0.12"),
        "{}",
        bad[0].3
    );

    // N -> Y on a routed topology: h2 has no route to h4.
    let flipped = routed_suite().replace("h2    Y   -   N   N   Y", "h2    Y   -   N   Y   Y");
    assert_ne!(flipped, routed_suite());
    let (code, report, _) = s.run_json(&s.suite("routed-flipped.toml", &flipped), &[]);
    assert_eq!(code, 1);
    let bad = not_passed(&report);
    assert_eq!(
        bad,
        vec![(
            "fail".into(),
            "h2".into(),
            "h4".into(),
            "expected reachable, observed unreachable: no packet was sent: h2 has no route to 10.2.0.4".into()
        )]
    );
    let junit = std::fs::read_to_string(s.reports().join("junit.xml")).unwrap();
    assert!(
        junit.contains(r#"<failure message="expected reachable, observed unreachable: no packet was sent: h2 has no route to 10.2.0.4""#),
        "{junit}"
    );
    assert_eq!(machine_state(), before);
}

fn routed_topology_matches_the_reasoned_matrix() {
    let _g = serial();
    let s = Scratch::new();
    let (code, report, stderr) = s.run_json(&repo().join("fixtures/suites/routed.toml"), &[]);
    assert_eq!(code, 0, "{stderr}\n{:?}", not_passed(&report));
    assert_eq!(report["passed"], 20);
}

fn concurrent_runs_of_one_suite_do_not_collide() {
    let _g = serial();
    let before = machine_state();
    let s = Scratch::new();
    let spawn = |i: usize| {
        s.reachlab()
            .arg("run")
            .arg("test-suites/netns.toml")
            .arg("--report-dir")
            .arg(s.reports().join(i.to_string()))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let children: Vec<_> = (0..3).map(spawn).collect();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    assert_eq!(machine_state(), before);
}

/// Starts a slow run (unreachable cells wait 5 s) and waits until its whole topology exists and is ledgered.
fn start_slow_run(s: &Scratch) -> std::process::Child {
    let ready = |s: &Scratch| {
        let made = machine_state().namespaces.iter().any(|n| n.starts_with("rl-") && n.ends_with("-h4"));
        made && s.ledger_text().is_some_and(|t| t.contains("-h4"))
    };
    s.start_slow("fixtures/suites/routed.toml", ready, Duration::from_secs(10), Duration::from_millis(300))
}

fn interrupted_runs_tear_down() {
    let _g = serial();
    let before = machine_state();
    for sig in [nix::sys::signal::Signal::SIGINT, nix::sys::signal::Signal::SIGTERM] {
        let s = Scratch::new();
        let child = start_slow_run(&s);
        assert_ne!(machine_state(), before, "the run built nothing");
        signal(&child, sig);
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(130), "{sig}: {}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(machine_state(), before, "after {sig}");
        assert!(s.ledgers().is_empty(), "after {sig}: {:?}", s.ledgers());
    }
}

fn clean_removes_what_a_killed_run_left_and_nothing_else() {
    let _g = serial();
    let before = machine_state();
    let s = Scratch::new();
    // A namespace that is not ours, named like ours: clean must not touch it.
    let bystander = "rl-000000-bystander";
    assert!(Command::new("ip").args(["netns", "add", bystander]).status().unwrap().success());
    let child = start_slow_run(&s);
    signal(&child, nix::sys::signal::Signal::SIGKILL);
    let _ = child.wait_with_output();
    let left = machine_state();
    assert!(
        left.namespaces.iter().filter(|n| n.starts_with("rl-") && n.as_str() != bystander).count() >= 6,
        "{left:?}"
    );
    let out = s.reachlab().arg("clean").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut after = machine_state();
    assert!(after.namespaces.contains(&bystander.to_string()), "clean removed a namespace it did not create");
    let _ = Command::new("ip").args(["netns", "del", bystander]).status();
    after = machine_state();
    assert_eq!(after, before);
    assert!(s.ledgers().is_empty());
}

fn up_leaves_a_lab_to_explore_and_down_removes_it() {
    let _g = serial();
    let before = machine_state();
    let s = Scratch::new();
    let out = s.reachlab().args(["up", "test-suites/netns.toml"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{text}");
    let id = text.split("run id ").nth(1).and_then(|t| t.get(..6)).expect("up names its run id").to_string();
    let ns = format!("rl-{id}-space1");
    assert!(machine_state().namespaces.contains(&ns), "space1 is up: {text}");
    assert!(text.contains(&format!("ip netns exec {ns}")), "{text}");
    // The kept lab is really there: ping with iproute2 + busybox is not assumed; look at the link instead.
    assert!(Command::new("ip").args(["-n", &ns, "link", "show", "veth-s1"]).output().unwrap().status.success());
    // clean leaves kept labs alone.
    assert!(s.reachlab().arg("clean").status().unwrap().success());
    assert!(machine_state().namespaces.contains(&ns));
    // status lists it, with the suite's node names.
    let out = s.reachlab().args(["status", "--json"]).output().unwrap();
    let labs: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(labs[0]["run_id"].as_str(), Some(id.as_str()), "{labs}");
    assert_eq!((labs[0]["state"].as_str(), labs[0]["suite"].as_str()), (Some("up"), Some("netns")), "{labs}");
    assert_eq!(labs[0]["nodes"], serde_json::json!(["space1", "space2"]));
    // exec enters the node's namespace by itself, and passes the command's exit code on.
    let out = s.reachlab().args(["exec", &id, "space1", "--", "ip", "-o", "addr", "show", "veth-s1"]).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("10.0.0.11/24"), "{out:?}");
    let code = s.reachlab().args(["exec", &id, "space2", "--", "sh", "-c", "exit 7"]).status().unwrap().code();
    assert_eq!(code, Some(7));
    let out = s.reachlab().args(["exec", &id, "nowhere", "--", "true"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    // probe re-probes the standing lab and times each check, as run does (junit.xml's testcase time).
    let out = s.reachlab().args(["probe", &id, "--json", "--report-dir"]).arg(s.reports()).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let checks = report["suites"][0]["checks"].as_array().unwrap();
    assert!(!checks.is_empty() && checks.iter().all(|c| c["duration_ms"].is_u64()), "{report}");
    let junit = std::fs::read_to_string(s.reports().join("junit.xml")).unwrap();
    let cases: Vec<&str> = junit.split("<testcase ").skip(1).map(|c| c.split('>').next().unwrap()).collect();
    assert_eq!(cases.len(), checks.len(), "{junit}");
    assert!(cases.iter().all(|c| c.contains(" time=\"")), "every testcase has its time: {junit}");
    // The commands up printed work as printed: its own path, the state directory, no sudo it was not run with.
    let bin = env!("CARGO_BIN_EXE_reachlab");
    let down = format!("{bin} --state-dir {} down {id}", s.state().display());
    assert!(text.lines().any(|l| l.trim_start().starts_with("when done:") && l.ends_with(&down)), "{text}");
    assert!(!text.contains("sudo"), "{text}");
    assert!(Command::new("sh").args(["-c", &down]).status().unwrap().success());
    assert_eq!(machine_state(), before);
}

fn probes_that_would_leave_the_lab_are_refused() {
    use reachlab::check::Observation;
    use reachlab::lab::live::LiveLab;
    use reachlab::probe::guard::clear;
    let _g = serial();
    let before = machine_state();
    let s = Scratch::new();
    let suite = reachlab::suite::load_str(&netns_suite(), "netns.toml").unwrap();
    let plan = reachlab::plan::resolve(&suite);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let mut lab = LiveLab::new(&s.state(), "feed00", "netns").unwrap();
        reachlab::lab::build(&mut lab, &plan).await.unwrap();
        let lab_addresses = lab.inventory().await.unwrap().addresses();
        let space2: std::net::Ipv4Addr = "10.0.0.12".parse().unwrap();
        // A documentation address: not the lab's, so nothing is sent.
        match clear(&lab, &lab_addresses, "space1", "192.0.2.1".parse().unwrap()).await {
            Err(Observation::Error { detail, .. }) => assert!(detail.contains("not an address of the lab"), "{detail}"),
            other => panic!("{other:?}"),
        }
        // A source the lab did not make.
        assert!(matches!(clear(&lab, &lab_addresses, "nowhere", space2).await, Err(Observation::Error { .. })));
        assert_eq!(clear(&lab, &lab_addresses, "space1", space2).await, Ok(reachlab::probe::guard::Clearance::Send));
        assert!(lab.teardown().is_empty());
    });
    assert_eq!(machine_state(), before);
}

fn macvlan_private_mode_is_observed_not_echoed() {
    let _g = serial();
    let before = machine_state();
    let s = Scratch::new();
    let text = std::fs::read_to_string(repo().join("test-suites/iface-macvlan.toml")).unwrap();
    // p1 and p2 are private-mode siblings: claiming they talk must fail on that cell, with the reason.
    let flipped = text.replace("p1       N     Y    N   N   -   N", "p1       N     Y    N   N   -   Y");
    assert_ne!(flipped, text);
    let (code, report, stderr) = s.run_json(&s.suite("macvlan-flipped.toml", &flipped), &[]);
    assert_eq!(code, 1, "{stderr}");
    let bad = not_passed(&report);
    assert_eq!(bad.len(), 1, "{bad:?}");
    assert_eq!((bad[0].1.as_str(), bad[0].2.as_str()), ("p1", "p2"));
    assert!(bad[0].3.contains("why: macvlan private mode"), "{}", bad[0].3);
    assert_eq!(machine_state(), before);
}

fn udp_and_tcp_tell_delivered_refused_and_dropped_apart() {
    let _g = serial();
    let before = machine_state();
    let s = Scratch::new();
    let (code, report, stderr) = s.run_json(&repo().join("fixtures/suites/transport.toml"), &[]);
    assert_eq!(code, 0, "{stderr}\n{:?}", not_passed(&report));
    let text = std::fs::read_to_string(repo().join("fixtures/suites/transport.toml")).unwrap();
    // h2 answers a closed UDP port with ICMP port unreachable: claiming it drops must fail on that cell.
    let flipped = text.replacen("h1    R   R\nh2    -   D", "h1    D   R\nh2    -   D", 1);
    assert_ne!(flipped, text);
    let (code, report, _) = s.run_json(&s.suite("transport-flipped.toml", &flipped), &[]);
    assert_eq!(code, 1);
    let bad = not_passed(&report);
    assert_eq!(bad.len(), 1, "{bad:?}");
    assert_eq!((bad[0].1.as_str(), bad[0].2.as_str()), ("h1", "h2"));
    assert!(bad[0].3.starts_with("expected dropped, observed refused: ICMP port unreachable"), "{}", bad[0].3);
    assert_eq!(machine_state(), before);
}

fn a_filter_probes_only_the_selected_cells() {
    let _g = serial();
    let before = machine_state();
    let s = Scratch::new();
    // Routed: h2's row only; h2 -> h4 is expected unreachable and is, so the run passes with h2's cells alone.
    let (code, report, stderr) = s.run_json(&repo().join("fixtures/suites/routed.toml"), &["--filter", "routed:h2->*"]);
    assert_eq!(code, 0, "{stderr}");
    let checks = report["suites"][0]["checks"].as_array().unwrap();
    assert!(!checks.is_empty() && checks.iter().all(|c| c["from"] == "h2"), "{report}");
    assert_eq!(report["passed"].as_u64(), Some(checks.len() as u64));
    assert_eq!(machine_state(), before);
}
