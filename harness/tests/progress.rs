//! Live progress as a person at a terminal sees it: `reachlab run` on Test1 in a real terminal (a tmux pane),
//! the pane read while the run goes. A progress line (the suite and its phase) must be on the screen before the
//! run ends, and gone when it has: the screen then holds the suite's matrices and the closing summary, nothing
//! drawn over them. Needs root, a Docker Engine and tmux (`.ci/run` installs it); listed as ignored otherwise.

#[path = "common/mod.rs"]
mod common;

use common::*;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

fn main() {
    let skip = docker_skip(&[reachlab::plan::Feature::Macvlan]).or_else(|| {
        let tmux = Command::new("tmux").arg("-V").output();
        (!tmux.is_ok_and(|o| o.status.success())).then(|| "tmux is not installed (apt-get install tmux)".to_string())
    });
    let tests: [(&'static str, fn()); 1] =
        [("a_test1_run_in_a_terminal_shows_its_progress_before_it_ends", a_test1_run_in_a_terminal_shows_progress)];
    run_trials("progress", skip, &tests);
}

/// A tmux server of its own (its own socket), killed when dropped.
struct Tmux {
    socket: std::path::PathBuf,
}

impl Tmux {
    fn cmd(&self) -> Command {
        let mut c = Command::new("tmux");
        c.arg("-S").arg(&self.socket);
        c
    }

    fn screen(&self) -> String {
        let out = self.cmd().args(["capture-pane", "-p", "-t", "run"]).output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd().arg("kill-server").output();
    }
}

fn a_test1_run_in_a_terminal_shows_progress() {
    let _g = serial();
    let before = machine_state();
    let s = Scratch::new();
    let done = s.dir.path().join("exit-code");
    let tmux = Tmux { socket: s.dir.path().join("tmux.sock") };
    // A terminal as a person has one: no CI, not under nextest (which would ask for plain lines).
    let script = format!(
        "env -u CI -u NEXTEST REACHLAB_STATE_DIR={state} NO_COLOR=1 TERM=xterm {bin} run test-suites/test1-custom-bridge.toml --report-dir {reports}; echo $? > {done}; sleep 600",
        state = s.state().display(),
        bin = env!("CARGO_BIN_EXE_reachlab"),
        reports = s.reports().display(),
        done = done.display(),
    );
    let started = tmux
        .cmd()
        .args(["new-session", "-d", "-s", "run", "-x", "160", "-y", "60", "-c"])
        .arg(repo())
        .arg(&script)
        .output()
        .unwrap();
    assert!(started.status.success(), "tmux: {}", String::from_utf8_lossy(&started.stderr));
    // Read the screen until the run ends (a deadline, not a timing: the test only needs the run to end).
    let deadline = Instant::now() + Duration::from_secs(100);
    let mut progress = Vec::new();
    while !done.exists() && Instant::now() < deadline {
        let screen = tmux.screen();
        for line in screen.lines().filter(|l| is_progress(l)) {
            if !done.exists() && !progress.contains(&line.to_string()) {
                progress.push(line.to_string());
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let code = wait_for(&done);
    let screen = tmux.screen();
    drop(tmux);
    assert_eq!(code, "0", "the run failed:\n{screen}");
    assert!(!progress.is_empty(), "no progress line was on the screen while the run went; at the end:\n{screen}");
    assert!(progress.iter().any(|l| l.contains("probes ")), "the probes were never shown counting: {progress:#?}");
    assert!(screen.contains("passed, 0 failed, 0 errors"), "the summary is on the screen:\n{screen}");
    assert!(!screen.lines().any(is_progress), "progress lines are erased once the run is over:\n{screen}");
    assert_eq!(&machine_state(), &before);
    assert!(s.ledgers().is_empty(), "ledgers left: {:?}", s.ledgers());
}

/// A live progress line: two spaces, the suite, and a phase.
fn is_progress(line: &str) -> bool {
    let Some(rest) = line.strip_prefix("  test1-custom-bridge  ") else { return false };
    ["starting", "engine", "image", "topology", "settle", "probes ", "captures", "explain", "teardown"]
        .iter()
        .any(|p| rest.trim_start().starts_with(p))
}

fn wait_for(done: &Path) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(text) = std::fs::read_to_string(done) {
            if text.ends_with('\n') {
                return text.trim().to_string();
            }
        }
        assert!(Instant::now() < deadline, "the run did not end");
        std::thread::sleep(Duration::from_millis(50));
    }
}
