//! Privileged tests of the Docker lab (Test1, Test2): a private engine per run, real containers, real packets.
//! After every run — passing, failing, interrupted, killed and cleaned — the machine holds exactly what it held
//! before: namespaces, links, mounts, engine processes, cgroups, and the machine's own Docker containers,
//! networks and images. Listed as ignored without root or without a Docker Engine.

mod common;

use common::*;
use std::time::{Duration, Instant};

fn main() {
    let tests: [(&'static str, fn()); 12] = [
        ("a_standing_engine_holds_nothing_it_was_handed", a_standing_engine_holds_nothing_it_was_handed),
        (
            "system_engine_runs_and_leaves_the_machine_engine_as_it_was",
            system_engine_runs_and_leaves_the_machine_engine_as_it_was,
        ),
        ("system_engine_refuses_what_could_leave_the_lab", system_engine_refuses_what_could_leave_the_lab),
        ("system_engine_never_touches_what_it_did_not_create", system_engine_never_touches_what_it_did_not_create),
        ("test3_and_test4_match_the_lab", test3_and_test4_match_the_lab),
        ("the_switch_policy_changes_exactly_the_server2_cells", the_switch_policy_changes_exactly_the_server2_cells),
        ("a_wrong_test3_explains_every_failure", a_wrong_test3_explains_every_failure),
        ("test1_passes_with_the_lab_outcomes", test1_passes_with_the_lab_outcomes),
        ("a_flipped_test1_cell_fails_exactly_that_cell", a_flipped_test1_cell_fails_exactly_that_cell),
        (
            "test2_delivers_udp_and_a_wrong_capture_assertion_fails",
            test2_delivers_udp_and_a_wrong_capture_assertion_fails,
        ),
        ("interrupted_docker_run_tears_down_the_engine", interrupted_docker_run_tears_down_the_engine),
        ("clean_removes_a_killed_runs_engine", clean_removes_a_killed_runs_engine),
    ];
    run_trials("docker_lab", docker_skip(&[reachlab::plan::Feature::Macvlan]), &tests);
}

fn suite_text(name: &str) -> String {
    std::fs::read_to_string(repo().join("test-suites").join(name)).unwrap()
}

fn checks(report: &serde_json::Value) -> Vec<serde_json::Value> {
    report["suites"].as_array().unwrap().iter().flat_map(|s| s["checks"].as_array().unwrap().clone()).collect()
}

fn assert_left_as_found(before: &MachineState, s: &Scratch) {
    assert_eq!(&machine_state(), before);
    assert!(s.ledgers().is_empty(), "ledgers left: {:?}", s.ledgers());
    let engines: Vec<_> = std::fs::read_dir(s.state().join("engines")).into_iter().flatten().flatten().collect();
    assert!(engines.is_empty(), "engine state directories left: {engines:?}");
}

fn test1_passes_with_the_lab_outcomes() {
    let _g = serial();
    let before = machine_state();
    let s = Scratch::new();
    let (code, report, stderr) = s.run_json(&repo().join("test-suites/test1-custom-bridge.toml"), &[]);
    assert_eq!(code, 0, "{stderr}");
    let all = checks(&report);
    assert_eq!(report["passed"].as_u64(), Some(all.len() as u64));
    let kinds: std::collections::BTreeSet<&str> = all.iter().map(|c| c["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["capture", "icmp", "rule"].into_iter().collect());
    let by_name: Vec<_> = all.iter().filter(|c| c["by"] == "name").collect();
    assert_eq!(by_name.len(), 2);
    let unresolved = by_name.iter().find(|c| c["from"] == "alpine1").unwrap();
    assert_eq!(
        (unresolved["expected"].as_str(), unresolved["observed"].as_str()),
        (Some("unresolved"), Some("unresolved"))
    );
    // Containers' targets are found at run time: alpine3 is probed on alpine-net.
    let a2a3 = all
        .iter()
        .find(|c| c["kind"] == "icmp" && c["from"] == "alpine2" && c["to"] == "alpine3" && c.get("by").is_none())
        .unwrap();
    assert!(a2a3["target"].as_str().unwrap().starts_with("172."), "{a2a3}");
    // Every capture check names a pcap that parses and holds what the check says.
    for c in all.iter().filter(|c| c["kind"] == "capture") {
        let pcap = c["artifacts"][0].as_str().unwrap();
        let frames = reachlab::capture::read_pcap(std::path::Path::new(pcap)).unwrap();
        if c["name"].as_str().unwrap().contains("echo-requests-at-server2") {
            assert!(!frames.is_empty(), "{pcap}");
        }
    }
    let junit = std::fs::read_to_string(s.reports().join("junit.xml")).unwrap();
    assert!(junit.contains("[[ATTACHMENT|"), "pcaps are attached to their test cases");
    assert_left_as_found(&before, &s);
}

fn a_flipped_test1_cell_fails_exactly_that_cell() {
    let _g = serial();
    let before = machine_state();
    let s = Scratch::new();
    let text = suite_text("test1-custom-bridge.toml");
    // alpine1 cannot reach alpine3 (different bridges): claiming it can must fail on that cell alone.
    let flipped = text.replace(
        "alpine1      -        Y        N        Y        Y",
        "alpine1      -        Y        Y        Y        Y",
    );
    assert_ne!(flipped, text);
    let (code, report, stderr) = s.run_json(&s.suite("test1-flipped.toml", &flipped), &[]);
    assert_eq!(code, 1, "{stderr}");
    let bad = not_passed(&report);
    assert_eq!(bad.len(), 1, "{bad:?}");
    assert_eq!((bad[0].0.as_str(), bad[0].1.as_str(), bad[0].2.as_str()), ("fail", "alpine1", "alpine3"));
    assert!(bad[0].3.starts_with("expected reachable, observed unreachable"), "{}", bad[0].3);
    assert_left_as_found(&before, &s);
}

fn test2_delivers_udp_and_a_wrong_capture_assertion_fails() {
    let _g = serial();
    let before = machine_state();
    let s = Scratch::new();
    let text = suite_text("test2-host-network.toml");
    let (code, report, stderr) = s.run_json(&repo().join("test-suites/test2-host-network.toml"), &[]);
    assert_eq!(code, 0, "{stderr}");
    let udp = checks(&report).into_iter().find(|c| c["kind"] == "udp").unwrap();
    assert_eq!((udp["expected"].as_str(), udp["observed"].as_str()), (Some("delivered"), Some("delivered")));
    assert_eq!(udp["target"], "192.168.56.3", "a host-network container is reached at server1's address");
    // A capture assertion that must fail: the datagrams do arrive on enp0s3.
    let wrong = text.replace("min_packets = 1", "max_packets = 0");
    assert_ne!(wrong, text);
    let (code, report, stderr) = s.run_json(&s.suite("test2-wrong.toml", &wrong), &[]);
    assert_eq!(code, 1, "{stderr}");
    let bad: Vec<_> = checks(&report).into_iter().filter(|c| c["verdict"] != "pass").collect();
    assert_eq!(bad.len(), 1, "{bad:?}");
    assert_eq!(bad[0]["kind"], "capture");
    assert!(
        bad[0]["detail"].as_str().unwrap().starts_with("expected at most 0 packets, observed 1 packet"),
        "{}",
        bad[0]["detail"]
    );
    assert_left_as_found(&before, &s);
}

/// Starts Test1 and waits until its containers run.
fn start_test1(s: &Scratch) -> std::process::Child {
    let ready = |s: &Scratch| {
        s.ledger_text().is_some_and(|t| t.contains("\"container\"")) && !machine_state().cgroups.is_empty()
    };
    s.start_slow("test-suites/test1-custom-bridge.toml", ready, Duration::from_secs(30), Duration::from_millis(1500))
}

fn interrupted_docker_run_tears_down_the_engine() {
    let _g = serial();
    let before = machine_state();
    let s = Scratch::new();
    let child = start_test1(&s);
    assert!(!machine_state().engine_processes.is_empty(), "no private engine is running");
    signal(&child, nix::sys::signal::Signal::SIGINT);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", String::from_utf8_lossy(&out.stderr));
    assert_left_as_found(&before, &s);
}

fn clean_removes_a_killed_runs_engine() {
    let _g = serial();
    let before = machine_state();
    let s = Scratch::new();
    let child = start_test1(&s);
    signal(&child, nix::sys::signal::Signal::SIGKILL);
    let _ = child.wait_with_output();
    assert!(!machine_state().engine_processes.is_empty(), "a killed run leaves its engine running");
    let out = s.reachlab().arg("clean").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // Killed shims are reaped by init shortly after.
    let deadline = Instant::now() + Duration::from_secs(5);
    while machine_state() != before && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_left_as_found(&before, &s);
}

fn test3_and_test4_match_the_lab() {
    let _g = serial();
    let before = machine_state();
    let s = Scratch::new();
    let out = s
        .reachlab()
        .args([
            "run",
            "test-suites/test3-macvlan.toml",
            "test-suites/test4-macvlan-promisc.toml",
            "--json",
            "--report-dir",
        ])
        .arg(s.reports())
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0), "{}\n{:?}", String::from_utf8_lossy(&out.stderr), not_passed(&report));
    assert_eq!(report["suites"].as_array().unwrap().len(), 2);
    assert_left_as_found(&before, &s);
}

fn matrix_failures(report: &serde_json::Value) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = checks(report)
        .into_iter()
        .filter(|c| c["verdict"] == "fail" && !c["matrix"].is_null())
        .map(|c| (c["from"].as_str().unwrap().to_string(), c["to"].as_str().unwrap().to_string()))
        .collect();
    v.sort();
    v
}

fn the_switch_policy_changes_exactly_the_server2_cells() {
    let _g = serial();
    let before = machine_state();
    let s = Scratch::new();
    let text = suite_text("test3-macvlan.toml");
    let allowed = text.replace("promiscuous = \"deny\"", "promiscuous = \"allow-all\"");
    assert_ne!(allowed, text);
    let (code, report, stderr) = s.run_json(&s.suite("test3-allow-all.toml", &allowed), &[]);
    assert_eq!(code, 1, "{stderr}");
    let pair = |a: &str, b: &str| (a.to_string(), b.to_string());
    assert_eq!(
        matrix_failures(&report),
        vec![
            pair("alpine1", "server2"),
            pair("alpine2", "server2"),
            pair("server2", "alpine1"),
            pair("server2", "alpine2")
        ]
    );
    assert_left_as_found(&before, &s);
}

fn a_wrong_test3_explains_every_failure() {
    let _g = serial();
    let before = machine_state();
    let s = Scratch::new();
    let (code, report, stderr) = s.run_json(&repo().join("fixtures/suites/test3-wrong.toml"), &[]);
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(matrix_failures(&report).len(), 8, "{:?}", not_passed(&report));
    let junit = std::fs::read_to_string(s.reports().join("junit.xml")).unwrap();
    let failures: Vec<&str> = junit.lines().filter(|l| l.contains("<failure ")).collect();
    assert_eq!(failures.len(), 8);
    for f in &failures {
        assert!(f.contains("why: "), "no explanation: {f}");
    }
    assert_eq!(
        failures
            .iter()
            .filter(
                |f| f.contains("never reach their parent&apos;s host") || f.contains("never reach their parent's host")
            )
            .count(),
        4
    );
    assert_eq!(failures.iter().filter(|f| f.contains("denies promiscuous mode")).count(), 4);
    assert_left_as_found(&before, &s);
}

fn system_engine_runs_and_leaves_the_machine_engine_as_it_was() {
    let _g = serial();
    let before = machine_state();
    let s = Scratch::new();
    let (code, report, stderr) = s.run_json(&repo().join("fixtures/suites/test1-system.toml"), &["--engine", "system"]);
    assert_eq!(code, 0, "{stderr}\n{:?}", not_passed(&report));
    assert!(report["suites"][0]["notes"].to_string().contains("the machine's own Docker engine"));
    assert_left_as_found(&before, &s);
}

fn system_engine_refuses_what_could_leave_the_lab() {
    let _g = serial();
    let before = machine_state();
    let s = Scratch::new();
    let out =
        s.reachlab().args(["run", "--engine", "system", "test-suites/test1-custom-bridge.toml"]).output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("icmp server2 -> alpine1: server2 and the host-only LAN are real machines"), "{stderr}");
    assert!(s.ledgers().is_empty(), "nothing may start");
    assert_left_as_found(&before, &s);
}

fn system_engine_never_touches_what_it_did_not_create() {
    let _g = serial();
    let s = Scratch::new();
    let before = machine_state();
    let net = "alpine-net";
    let created = std::process::Command::new("docker").args(["network", "create", net]).output().unwrap();
    assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
    let (code, _, stderr) = s.run_json(&repo().join("fixtures/suites/test1-system.toml"), &["--engine", "system"]);
    let still_there =
        std::process::Command::new("docker").args(["network", "inspect", net]).output().unwrap().status.success();
    let _ = std::process::Command::new("docker").args(["network", "rm", net]).output();
    assert_eq!(code, 4, "{stderr}");
    assert!(stderr.contains("already has a network named alpine-net"), "{stderr}");
    assert!(still_there, "reachlab removed a network it did not create");
    assert_left_as_found(&before, &s);
}

/// A lab left standing keeps its private engine running after `reachlab up` exits. The engine must not hold the
/// descriptors reachlab was started with: `flock LOCK reachlab up …` would keep LOCK locked until `down` (seen:
/// a second `flock` waited on the first one's dockerd), a CI runner's pipes would never reach end of file.
fn a_standing_engine_holds_nothing_it_was_handed() {
    use std::os::fd::AsRawFd;
    use std::os::unix::process::CommandExt;
    let _g = serial();
    let before = machine_state();
    let s = Scratch::new();
    let marker = s.dir.path().join("handed-to-reachlab");
    let file = std::fs::File::create(&marker).unwrap();
    let fd = file.as_raw_fd();
    let mut up = s.reachlab();
    up.args(["up", "test-suites/test1-custom-bridge.toml"]);
    // SAFETY: dup2 only, between fork and exec: the child gets the file as descriptor 7, not close-on-exec.
    unsafe {
        up.pre_exec(move || if libc::dup2(fd, 7) == 7 { Ok(()) } else { Err(std::io::Error::last_os_error()) });
    }
    let out = up.output().unwrap();
    assert!(out.status.success(), "up: {}", String::from_utf8_lossy(&out.stderr));
    let run = s.ledgers()[0].trim_end_matches(".json").to_string();
    let engine = s.state().join("engines").join(&run);
    let mut holders = Vec::new();
    for pidfile in ["dockerd.pid", "exec/containerd/containerd.pid"] {
        let pid = std::fs::read_to_string(engine.join(pidfile)).unwrap_or_else(|e| panic!("{pidfile}: {e}"));
        for fd in std::fs::read_dir(format!("/proc/{}/fd", pid.trim())).unwrap().flatten() {
            if std::fs::read_link(fd.path()).is_ok_and(|t| t == marker) {
                holders.push(format!("{pidfile} {} holds fd {}", pid.trim(), fd.file_name().to_string_lossy()));
            }
        }
    }
    let down = s.reachlab().args(["down", &run]).output().unwrap();
    assert!(down.status.success(), "down: {}", String::from_utf8_lossy(&down.stderr));
    assert!(holders.is_empty(), "the standing engine holds what reachlab was handed: {holders:?}");
    assert_left_as_found(&before, &s);
}
