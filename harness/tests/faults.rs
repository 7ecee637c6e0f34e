//! Faults and signals, for real: SIGINT, SIGTERM and SIGKILL at seeded random moments of real runs (the netns,
//! routed, Test1 and Test3 suites), a lab changed under a run (a namespace deleted, the private engine stopped),
//! a teardown that cannot finish, a full disk. After each, the machine holds exactly what it held before —
//! namespaces, links, mounts, engine processes, cgroups, the machine engine's objects, files in /tmp, ledgers
//! — and decoys named like ours survive `clean --all`.
//!
//! CI runs a short sample of the random trials; the long run is
//! `REACHLAB_FAULT_TRIALS=120 cargo nextest run --test faults random_signals` (seed: `REACHLAB_FAULT_SEED`).
//! Listed as ignored without root.

mod common;

use common::*;
use nix::sys::signal::Signal;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn main() {
    let root = reachlab::kernel::privilege::unprivileged_reason();
    let docker = docker_skip(&[]);
    let tests: [Trial; 6] = [
        ("random_signals_leave_the_machine_as_found", random_signals_leave_the_machine_as_found, root.clone()),
        ("a_signal_at_start_up_stops_cleanly_with_130", a_signal_at_start_up_stops_cleanly_with_130, root.clone()),
        ("a_namespace_deleted_while_probing_is_an_error", a_namespace_deleted_while_probing_is_an_error, root.clone()),
        ("a_stopped_engine_while_probing_is_an_error", a_stopped_engine_while_probing_is_an_error, docker.clone()),
        ("a_teardown_that_cannot_finish_says_what_is_left", a_teardown_that_cannot_finish_says_what_is_left, docker),
        ("a_full_disk_leaves_no_partial_report", a_full_disk_leaves_no_partial_report, root),
    ];
    run_trials_each("faults", &tests);
}

/// The run ended as a lab that changed under it must: exit 4, the change named, no check passed, nothing left.
fn assert_changed_under_the_run(s: &Scratch, child: Child, said: &str, before: &Snapshot) {
    let (code, err) = wait_text(child);
    assert_eq!(code, Some(4), "{err}");
    let report = std::fs::read_to_string(s.reports().join("report.json")).unwrap();
    assert!(report.contains(said), "{report}");
    assert!(!report.contains("\"verdict\": \"pass\""), "a check passed in a lab that changed: {report}");
    assert_eq!(&snapshot(), before);
    assert!(s.ledgers().is_empty());
}

/// `/tmp` entries that a run or its engine could make (console sockets `/tmp/ptyNNN`, containerd's stack dumps,
/// sandboxes, ours); other programs' files come and go on a shared machine.
fn tmp_entries() -> Vec<String> {
    const OURS_OR_THE_ENGINES: [&str; 7] = ["pty", "reachlab", "rl", "containerd", "docker", "runc", "buildkit"];
    let mut v: Vec<String> = std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| OURS_OR_THE_ENGINES.iter().any(|p| n.starts_with(p)))
        .collect();
    v.sort();
    v
}

/// Everything a fault could leave behind.
#[derive(Debug, PartialEq)]
struct Snapshot {
    machine: MachineState,
    tmp: Vec<String>,
    mounts: usize,
}

fn snapshot() -> Snapshot {
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap().lines().count();
    Snapshot { machine: machine_state(), tmp: tmp_entries(), mounts }
}

/// Decoys named like ours that no ledger names: `clean --all` must leave them.
struct Decoys {
    netns: String,
    file: PathBuf,
}

impl Decoys {
    fn make() -> Decoys {
        let netns = "rl-000000-decoy".to_string();
        assert!(Command::new("ip").args(["netns", "add", &netns]).status().unwrap().success());
        let file = std::env::temp_dir().join("rl-decoy");
        std::fs::write(&file, b"decoy").unwrap();
        Decoys { netns, file }
    }
    fn intact(&self) -> bool {
        Path::new("/run/netns").join(&self.netns).exists() && self.file.exists()
    }
}

impl Drop for Decoys {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.netns]).status();
        let _ = std::fs::remove_file(&self.file);
    }
}

/// A small seeded generator (xorshift64*): trials are reproducible from the seed alone.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn spawn_run(s: &Scratch, suite: &str, extra: &[&str]) -> Child {
    s.reachlab()
        .args(["run", suite, "--report-dir"])
        .arg(s.reports())
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn wait_text(child: Child) -> (Option<i32>, String) {
    let out = child.wait_with_output().unwrap();
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// Waits until `ready` holds (polling), failing the test after `limit`.
fn wait_until(what: &str, limit: Duration, ready: impl Fn() -> bool) {
    let deadline = Instant::now() + limit;
    while !ready() {
        assert!(Instant::now() < deadline, "{what} never happened within {limit:?}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn engine_dirs(s: &Scratch) -> Vec<PathBuf> {
    std::fs::read_dir(s.state().join("engines")).into_iter().flatten().flatten().map(|e| e.path()).collect()
}

/// Whether the run's private engine has `n` running containers.
fn containers_running(s: &Scratch, n: usize) -> bool {
    engine_dirs(s).iter().any(|d| {
        let sock = d.join("docker.sock");
        sock.exists()
            && Command::new("docker")
                .arg("-H")
                .arg(format!("unix://{}", sock.display()))
                .args(["ps", "-q"])
                .output()
                .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).lines().count() >= n)
    })
}

/// The suites of the random trials: file, typical duration (ms) on this machine kind, whether it needs Docker.
const SUITES: [(&str, u64, bool); 4] = [
    ("test-suites/netns.toml", 300, false),
    ("fixtures/suites/routed.toml", 1_800, false),
    ("test-suites/test1-custom-bridge.toml", 3_500, true),
    ("test-suites/test3-macvlan.toml", 3_500, true),
];

fn random_signals_leave_the_machine_as_found() {
    let _g = serial();
    let trials: u64 = std::env::var("REACHLAB_FAULT_TRIALS").ok().and_then(|v| v.parse().ok()).unwrap_or(8);
    let seed: u64 = std::env::var("REACHLAB_FAULT_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or(20_261_201);
    let docker = docker_skip(&[reachlab::plan::Feature::Macvlan]).is_none();
    let suites: Vec<_> = SUITES.iter().filter(|s| docker || !s.2).collect();
    let mut rng = Rng(seed | 1);
    let (mut signalled, mut finished_first) = (0, 0);
    for trial in 0..trials {
        let &&(suite, typical, _) = &suites[rng.below(suites.len() as u64) as usize];
        let sig = [Signal::SIGINT, Signal::SIGTERM, Signal::SIGKILL][rng.below(3) as usize];
        let delay = Duration::from_millis(rng.below(typical));
        let what = format!("trial {trial} (seed {seed}): {sig} after {delay:?} into {suite}");
        let s = Scratch::new();
        let decoys = Decoys::make();
        let before = snapshot();
        let mut child = spawn_run(&s, suite, &[]);
        std::thread::sleep(delay);
        if child.try_wait().unwrap().is_some() {
            finished_first += 1;
            let (code, err) = wait_text(child);
            assert_eq!(code, Some(0), "{what}: the run finished before the signal but failed: {err}");
        } else {
            signalled += 1;
            signal(&child, sig);
            let (code, err) = wait_text(child);
            match sig {
                Signal::SIGKILL => {
                    let out = s.reachlab().arg("clean").output().unwrap();
                    assert!(out.status.success(), "{what}: clean: {}", String::from_utf8_lossy(&out.stderr));
                }
                // A signal that lands just after the final check of `main` lets a finished run exit 0, with
                // its whole report written.
                _ if code == Some(0) => assert!(s.reports().join("report.json").exists(), "{what}: {err}"),
                _ => assert_eq!(code, Some(130), "{what}: {err}"),
            }
        }
        let out = s.reachlab().args(["clean", "--all"]).output().unwrap();
        assert!(out.status.success(), "{what}: clean --all: {}", String::from_utf8_lossy(&out.stderr));
        assert!(decoys.intact(), "{what}: clean --all removed a decoy");
        assert_eq!(snapshot(), before, "{what}: the machine changed");
        assert!(s.ledgers().is_empty(), "{what}: ledgers left: {:?}", s.ledgers());
    }
    eprintln!("{trials} trials (seed {seed}): {signalled} signalled, {finished_first} finished before the signal");
}

fn a_signal_at_start_up_stops_cleanly_with_130() {
    let _g = serial();
    for (ms, sig) in
        [(0, Signal::SIGTERM), (2, Signal::SIGINT), (10, Signal::SIGTERM), (25, Signal::SIGINT), (50, Signal::SIGHUP)]
    {
        let s = Scratch::new();
        let before = snapshot();
        // routed takes over a second, so every signal here lands while it runs.
        let child = spawn_run(&s, "fixtures/suites/routed.toml", &[]);
        std::thread::sleep(Duration::from_millis(ms));
        signal(&child, sig);
        let (code, err) = wait_text(child);
        // Within the first milliseconds the signal can land before `main` (while the loader maps the binary),
        // where the default action still applies; nothing exists yet then, which the snapshot checks.
        if !(ms < 20 && code.is_none()) {
            assert_eq!(code, Some(130), "{sig} after {ms} ms: {err}");
        }
        assert_eq!(snapshot(), before, "{sig} after {ms} ms");
        assert!(s.ledgers().is_empty());
    }
}

fn a_namespace_deleted_while_probing_is_an_error() {
    let _g = serial();
    let s = Scratch::new();
    let before = snapshot();
    // routed's unreachable cells wait for their timeout: the run is still probing when h4 goes.
    let h4 = || machine_state().namespaces.into_iter().find(|n| n.starts_with("rl-") && n.ends_with("-h4"));
    let child = spawn_run(&s, "fixtures/suites/routed.toml", &["--timeout-ms", "3000"]);
    wait_until("h4 to exist", Duration::from_secs(10), || h4().is_some());
    std::thread::sleep(Duration::from_millis(500));
    let ns = h4().unwrap();
    assert!(Command::new("ip").args(["netns", "del", &ns]).status().unwrap().success());
    assert_changed_under_the_run(&s, child, "deleted while the lab was in use", &before);
}

fn a_stopped_engine_while_probing_is_an_error() {
    let _g = serial();
    let s = Scratch::new();
    let before = snapshot();
    let child = spawn_run(&s, "test-suites/test1-custom-bridge.toml", &["--timeout-ms", "4000"]);
    wait_until("three running containers", Duration::from_secs(30), || containers_running(&s, 3));
    std::thread::sleep(Duration::from_millis(700));
    let pid: i32 = std::fs::read_to_string(engine_dirs(&s)[0].join("dockerd.pid")).unwrap().trim().parse().unwrap();
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), Signal::SIGTERM).unwrap();
    assert_changed_under_the_run(&s, child, "changed under the run", &before);
}

fn a_teardown_that_cannot_finish_says_what_is_left() {
    let _g = serial();
    let s = Scratch::new();
    let before = snapshot();
    let child = spawn_run(&s, "test-suites/test1-custom-bridge.toml", &["--timeout-ms", "4000"]);
    wait_until("three running containers", Duration::from_secs(30), || containers_running(&s, 3));
    // An immutable file in the engine's directory: removing the directory fails, whatever teardown tries.
    let pinned = engine_dirs(&s)[0].join("pinned");
    std::fs::write(&pinned, b"").unwrap();
    let chattr = |flag: &str| Command::new("chattr").arg(flag).arg(&pinned).status().is_ok_and(|st| st.success());
    if !chattr("+i") {
        signal(&child, Signal::SIGINT);
        let _ = wait_text(child);
        // Not a pass: without a pinned file nothing here checks an unfinished teardown.
        panic!("cannot pin {} (chattr +i): this filesystem has no immutable files", pinned.display());
    }
    signal(&child, Signal::SIGINT);
    let (code, err) = wait_text(child);
    let unpinned = chattr("-i");
    assert!(unpinned, "could not clear the immutable flag of {}", pinned.display());
    assert_eq!(code, Some(4), "an unfinished teardown must exit 4: {err}");
    assert!(err.contains("did not finish") && err.contains("private engine"), "{err}");
    assert!(err.contains("reachlab clean"), "{err}");
    assert!(!err.contains("the lab was torn down"), "{err}");
    assert_eq!(s.ledgers().len(), 1, "the ledger must stay for clean");
    let out = s.reachlab().arg("clean").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(snapshot(), before);
    assert!(s.ledgers().is_empty());
}

fn a_full_disk_leaves_no_partial_report() {
    let _g = serial();
    let s = Scratch::new();
    let before = snapshot();
    let disk = s.dir.path().join("disk");
    std::fs::create_dir(&disk).unwrap();
    let out_dir = disk.join("out");
    // A 4 KiB tmpfs in a mount namespace of the run's own: full after the first small file, gone with it.
    let script = format!(
        "mount -t tmpfs -o size=4k tmpfs {d} && {bin} run test-suites/netns.toml --report-dir {o}; rc=$?; \
         for f in {o}/* {o}/.*; do [ -f \"$f\" ] && echo \"file $(basename $f) $(wc -c < $f)\"; done; \
         for f in junit.xml report.json summary.md; do [ -f {o}/$f ] && cat {o}/$f > {k}/$f; done; exit $rc",
        d = disk.display(),
        bin = env!("CARGO_BIN_EXE_reachlab"),
        o = out_dir.display(),
        k = s.dir.path().display(),
    );
    let out = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c", &script])
        .current_dir(repo())
        .env("REACHLAB_STATE_DIR", s.state())
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(4), "{stdout}\n{stderr}");
    assert!(stderr.contains("failed to write") && stderr.contains("out/"), "the file is not named: {stderr}");
    assert!(!stdout.contains(".tmp"), "a temporary file was left: {stdout}");
    for line in stdout.lines().filter(|l| l.starts_with("file ")) {
        assert!(!line.ends_with(" 0"), "an empty report file: {line}");
    }
    // What was written is whole: it parses.
    let kept = |f: &str| std::fs::read_to_string(s.dir.path().join(f)).ok();
    if let Some(j) = kept("report.json") {
        serde_json::from_str::<serde_json::Value>(&j).expect("report.json is whole");
    }
    if let Some(x) = kept("junit.xml") {
        assert!(x.trim_end().ends_with("</testsuites>"), "junit.xml is cut: {x}");
    }
    assert_eq!(snapshot(), before);
    assert!(s.ledgers().is_empty());
}
