//! Helpers for privileged tests: the machine's state, the reachlab binary, serialisation.

#![allow(dead_code)]

pub mod consumers;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Mutex, MutexGuard};

static SERIAL: Mutex<()> = Mutex::new(());

/// Serialises privileged tests within one binary (nextest serialises across binaries: .config/nextest.toml).
pub fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// What a lab could leave behind: named namespaces, root-namespace links, namespace mounts, engine
/// processes and cgroups of ours, and the machine's own Docker state.
#[derive(Debug, PartialEq, Eq, Clone)]
pub struct MachineState {
    pub namespaces: Vec<String>,
    pub links: Vec<String>,
    pub netns_mounts: usize,
    pub engine_processes: Vec<String>,
    pub cgroups: Vec<String>,
    pub docker: Vec<String>,
    pub sandboxes: Vec<String>,
}

fn engine_processes() -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        if (cmd.starts_with("dockerd ") || cmd.contains("containerd")) && cmd.contains("/engines/") {
            out.push(cmd);
        }
    }
    out.sort();
    out
}

fn reachlab_cgroups() -> Vec<String> {
    let mut out = Vec::new();
    for h in std::fs::read_dir("/sys/fs/cgroup").into_iter().flatten().flatten() {
        let p = h.path();
        let candidates =
            std::fs::read_dir(&p).into_iter().flatten().flatten().map(|e| e.path()).chain(std::iter::once(p.clone()));
        for c in candidates {
            if c.file_name().is_some_and(|n| n.to_string_lossy().starts_with("reachlab-")) {
                out.push(c.display().to_string());
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// The machine's own Docker state: containers, networks, images (empty when there is no engine).
pub fn docker_state() -> Vec<String> {
    let q = |args: &[&str]| {
        Command::new("docker")
            .args(args)
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    };
    let mut v: Vec<String> = [
        q(&["ps", "-aq", "--no-trunc"]),
        q(&["network", "ls", "-q", "--no-trunc"]),
        q(&["images", "-aq", "--no-trunc"]),
    ]
    .iter()
    .flat_map(|s| s.lines().map(str::to_string).collect::<Vec<_>>())
    .collect();
    v.sort();
    v
}

fn names(dir: &str) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect();
    v.sort();
    v
}

pub fn machine_state() -> MachineState {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    MachineState {
        namespaces: names("/run/netns"),
        links: names("/sys/class/net"),
        netns_mounts: mountinfo.lines().filter(|l| l.contains(" /run/netns/")).count(),
        engine_processes: engine_processes(),
        cgroups: reachlab_cgroups(),
        docker: docker_state(),
        sandboxes: names(std::env::temp_dir().to_str().unwrap())
            .into_iter()
            .filter(|n| n.starts_with("reachlab-sandbox-"))
            .collect(),
    }
}

/// A scratch directory for state and reports. Dropped — also when a test panics — it first runs
/// `reachlab clean --all` on its state directory, so what a failed test's runs left is removed from their
/// ledgers instead of being orphaned when the directory (with the ledgers) goes.
pub struct Scratch {
    pub dir: tempfile::TempDir,
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if self.state().join("runs").read_dir().is_ok_and(|mut d| d.next().is_some()) {
            let _ = self.reachlab().args(["clean", "--all"]).output();
        }
    }
}

impl Scratch {
    pub fn new() -> Scratch {
        Scratch { dir: tempfile::tempdir().unwrap() }
    }
    pub fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }
    pub fn reports(&self) -> PathBuf {
        self.dir.path().join("reports")
    }
    /// A `reachlab` command using this scratch's state directory.
    pub fn reachlab(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_reachlab"));
        c.current_dir(repo()).env("REACHLAB_STATE_DIR", self.state()).env("NO_COLOR", "1");
        c
    }
    /// `reachlab run --json` on `suite`, returning (exit code, parsed stdout, stderr).
    pub fn run_json(&self, suite: &Path, extra: &[&str]) -> (i32, serde_json::Value, String) {
        let out: Output = self
            .reachlab()
            .arg("run")
            .arg(suite)
            .arg("--json")
            .arg("--report-dir")
            .arg(self.reports())
            .args(extra)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let json = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!("stdout is not only JSON ({e}):\n{}\nstderr:\n{stderr}", String::from_utf8_lossy(&out.stdout))
        });
        // Every junit.xml a run writes is read by its consumers as CI would.
        if self.reports().join("junit.xml").exists() {
            consumers::check_run_reports(&self.reports());
        }
        (out.status.code().unwrap_or(-1), json, stderr)
    }
    /// Writes `text` as a suite file in the scratch directory.
    pub fn suite(&self, name: &str, text: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    }
    pub fn ledgers(&self) -> Vec<String> {
        names(self.state().join("runs").to_str().unwrap())
    }
}

/// Checks of a report with a verdict other than `pass`.
pub fn not_passed(report: &serde_json::Value) -> Vec<(String, String, String, String)> {
    report["suites"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["checks"].as_array().unwrap().clone())
        .filter(|c| c["verdict"] != "pass")
        .map(|c| {
            (
                c["verdict"].as_str().unwrap().into(),
                c["from"].as_str().unwrap().into(),
                c["to"].as_str().unwrap().into(),
                c["detail"].as_str().unwrap().into(),
            )
        })
        .collect()
}

/// Runs privileged tests as libtest-mimic trials: every one is listed, and all are ignored (never passed)
/// when `skip` says why they cannot run here.
pub fn run_trials(binary: &str, skip: Option<String>, tests: &[(&'static str, fn())]) -> ! {
    let each: Vec<_> = tests.iter().map(|&(name, f)| (name, f, skip.clone())).collect();
    if let Some(why) = &skip {
        eprintln!("{binary}: every test will be skipped: {why}");
    }
    run_trials_each(binary, &each)
}

/// A test: its name, its body, and why it cannot run here (if it cannot).
pub type Trial = (&'static str, fn(), Option<String>);

/// [`run_trials`] with a reason to skip per test (say, only the ones that need a Docker Engine).
pub fn run_trials_each(binary: &str, tests: &[Trial]) -> ! {
    let args = libtest_mimic::Arguments::from_args();
    let trials = tests
        .iter()
        .map(|(name, f, skip)| {
            if let Some(why) = skip {
                eprintln!("{binary}: {name} will be skipped: {why}");
            }
            let f = *f;
            libtest_mimic::Trial::test(*name, move || std::panic::catch_unwind(f).map_err(|e| panic_text(&*e).into()))
                .with_ignored_flag(skip.is_some())
        })
        .collect();
    libtest_mimic::run(&args, trials).exit()
}

fn panic_text(e: &(dyn std::any::Any + Send)) -> String {
    e.downcast_ref::<String>()
        .cloned()
        .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "panicked".into())
}

/// Why Docker-lab tests cannot run here, if they cannot.
pub fn docker_skip(extra: &[reachlab::plan::Feature]) -> Option<String> {
    let features = reachlab::kernel::features::Features::detect();
    let mut needed = vec![reachlab::plan::Feature::Docker, reachlab::plan::Feature::Veth];
    needed.extend_from_slice(extra);
    reachlab::kernel::privilege::unprivileged_reason().or_else(|| match features.decide(&needed) {
        reachlab::kernel::features::Decision::Skip(why) => Some(why),
        _ => None,
    })
}

impl Scratch {
    /// The text of this scratch's (first) run ledger, if one exists.
    pub fn ledger_text(&self) -> Option<String> {
        self.ledgers().first().and_then(|l| std::fs::read_to_string(self.state().join("runs").join(l)).ok())
    }

    /// Starts `reachlab run SUITE --timeout-ms 5000` (so its unreachable cells keep it busy) and returns once
    /// `ready` holds, plus `settle`; fails the test, reaping the child, when it never does.
    #[allow(clippy::zombie_processes)] // returned to the caller, which waits for it
    pub fn start_slow(
        &self,
        suite: &str,
        ready: impl Fn(&Scratch) -> bool,
        limit: std::time::Duration,
        settle: std::time::Duration,
    ) -> std::process::Child {
        use std::process::Stdio;
        let child = self
            .reachlab()
            .args(["run", suite, "--timeout-ms", "5000", "--report-dir"])
            .arg(self.reports())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + limit;
        while !ready(self) {
            if std::time::Instant::now() > deadline {
                let mut child = child;
                let _ = child.kill();
                let out = child.wait_with_output().unwrap();
                panic!("{suite} never got ready: {}", String::from_utf8_lossy(&out.stderr));
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        std::thread::sleep(settle);
        child
    }
}

/// Sends `sig` to a child.
pub fn signal(child: &std::process::Child, sig: nix::sys::signal::Signal) {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), sig).unwrap();
}
