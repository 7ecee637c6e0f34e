//! `reachlab doctor`: can this machine run labs, and what will be skipped?

use super::{exit, list::Paths as Args, load_all, CliError};
use crate::kernel::features::{Availability, Decision, Features};
use crate::kernel::privilege;
use crate::plan;
use crate::runner::decide;
use std::io::{Read, Write};
use std::path::Path;

fn docker_ping() -> Result<String, String> {
    let host = std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".into());
    let path = host.strip_prefix("unix://").ok_or_else(|| format!("DOCKER_HOST={host} is not a unix socket"))?;
    let mut s = std::os::unix::net::UnixStream::connect(path).map_err(|e| format!("{path}: {e}"))?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(3))).ok();
    s.write_all(b"GET /version HTTP/1.0\r\nHost: docker\r\n\r\n").map_err(|e| e.to_string())?;
    let mut body = String::new();
    s.read_to_string(&mut body).map_err(|e| e.to_string())?;
    let version = body.split("\"Version\":\"").nth(1).and_then(|v| v.split('"').next()).unwrap_or("unknown version");
    Ok(format!("{path} answers (Docker Engine {version})"))
}

/// Grades the empty submission for a grading suite and says which scored checks grade nothing.
fn calibrate(s: &crate::suite::Suite, features: &Features, state_dir: &Path, usable: bool) {
    if !usable {
        println!("skip calibration of {}: grading the empty submission needs a machine that can build labs", s.name);
        return;
    }
    let Ok(rt) = super::runtime() else {
        println!("FAIL calibration of {}: no async runtime", s.name);
        return;
    };
    let version = crate::grade::submission::content_hash(Path::new(&s.file));
    let calibrated =
        super::block_on_interruptible(&rt, crate::grade::calibrate::get(s, &version, features, state_dir, true));
    // Interrupted: the lab was torn down; main exits 130.
    let Some(c) = calibrated else { return };
    match &c.status {
        crate::grade::model::GradeStatus::Error { reason } => {
            println!("FAIL calibration of {}: the empty submission could not be graded: {reason}", s.name)
        }
        crate::grade::model::GradeStatus::Graded if c.holes.is_empty() => println!(
            "ok   calibration of {}: the empty submission scores 0 of {}: every scored check depends on the submission{}",
            s.name,
            crate::grade::formats::points(c.max_score),
            if c.given.is_empty() { String::new() } else { format!(" ({} given, not scored)", c.given.len()) }
        ),
        crate::grade::model::GradeStatus::Graded => {
            for h in &c.holes {
                println!("FAIL calibration of {}: `{h}` grades nothing: passes without any submission", s.name);
            }
        }
    }
}

pub fn doctor(args: Args, state_dir: &Path) -> Result<i32, CliError> {
    let mut usable = true;
    let mark = |ok: bool| if ok { "ok  " } else { "FAIL" };
    let missing = privilege::missing_capabilities();
    println!(
        "{} privileges: {}",
        mark(missing.is_empty()),
        if missing.is_empty() {
            "root capabilities present".to_string()
        } else {
            format!("missing {} — run as root (sudo)", missing.join(", "))
        }
    );
    usable &= missing.is_empty();
    let features = Features::detect();
    for (f, a) in &features.0 {
        let (tag, text) = match a {
            Availability::Available => ("ok  ", "available".to_string()),
            Availability::Missing(why) => ("miss", format!("missing: {why}; suites that need it are skipped")),
            Availability::Unknown(why) => ("??  ", format!("unknown: {why}")),
            // (detect() tries everything; this is a run's answer, never doctor's.)
            Availability::AtBuild => ("??  ", "not tried".to_string()),
            Availability::Failed(why) => {
                usable = false;
                ("FAIL", format!("detection failed: {why}; suites that need it are errors"))
            }
        };
        println!("{tag} feature {}: {text}", f.as_str());
    }
    match crate::kernel::neigh::arp_table() {
        Ok(t) => {
            let pairs = t.room(crate::probe::waves::margin(t.limit)) / 2;
            println!(
                "ok   ARP table: {} of {} entries in use (net.ipv4.neigh.default.gc_thresh3, shared by the machine): up to {pairs} node pairs are probed at once, larger matrices in waves (slower, never wrong); to go faster, raise gc_thresh1/2/3 yourself — reachlab never changes the machine's settings",
                t.entries, t.limit
            );
        }
        Err(e) => println!(
            "warn ARP table: cannot read /proc/net/stat/arp_cache or gc_thresh3 ({e}): not the machine's first namespace? Waves are then sized for an empty table of 1024 and a full table cannot be detected"
        ),
    }
    let netns_dir = Path::new(crate::kernel::netns::NETNS_DIR);
    println!(
        "ok   named namespaces: {} ({})",
        netns_dir.display(),
        if netns_dir.exists() { "exists" } else { "will be created" }
    );
    let state_ok = std::fs::create_dir_all(state_dir).is_ok();
    println!("{} state directory: {}", mark(state_ok), state_dir.display());
    usable &= state_ok;
    let have = |cmd: &str| std::process::Command::new(cmd).arg("--version").output().is_ok_and(|o| o.status.success());
    let busybox = crate::engine::image::find_busybox();
    println!(
        "{} offline images: {}",
        if busybox.is_some() { "ok  " } else { "warn" },
        busybox.map_or(
            "no static busybox: install busybox-static (needed only when an image is missing)".into(),
            |b| format!("static busybox at {}", b.display())
        )
    );
    println!(
        "{} grading: {}",
        if have("docker") && have("unshare") { "ok  " } else { "warn" },
        if have("docker") && have("unshare") {
            "docker CLI and unshare present".to_string()
        } else {
            "needs the docker CLI and unshare (util-linux) for submissions' setup.sh".to_string()
        }
    );
    match crate::filter::libpcap::available() {
        Ok(()) => println!("ok   libpcap: loads (capture filters, pcaps, paths)"),
        Err(e) => println!("warn libpcap: {e}; suites with captures, and paths of failing cells, need it"),
    }
    match docker_ping() {
        Ok(s) => println!("ok   container engine: {s}"),
        Err(e) => println!("warn container engine: not reachable ({e}); suites with containers will need one"),
    }
    match load_all(&args.paths) {
        Ok(suites) => {
            for s in &suites {
                match decide(&plan::resolve(s), &features) {
                    Decision::Skip(why) => println!("skip suite {}: {why}", s.name),
                    Decision::Error(why) => println!("FAIL suite {}: {why}", s.name),
                    Decision::Run => println!("ok   suite {} will run", s.name),
                }
            }
            for s in suites.iter().filter(|s| s.grading.is_some()) {
                calibrate(s, &features, state_dir, usable);
            }
        }
        Err(e) => println!("FAIL suites: {e}"),
    }
    Ok(if usable { exit::PASS } else { exit::ENVIRONMENT })
}
