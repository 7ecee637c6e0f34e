//! `reachlab doctor`: can this machine run labs, and what will be skipped?

use super::{exit, list::Args, load_all, CliError};
use crate::kernel::features::{Availability, Features};
use crate::kernel::privilege;
use crate::plan;
use crate::runner::skip_reason;
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
        };
        println!("{tag} feature {}: {text}", f.as_str());
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
    match docker_ping() {
        Ok(s) => println!("ok   container engine: {s}"),
        Err(e) => println!("warn container engine: not reachable ({e}); suites with containers will need one"),
    }
    match load_all(&args.paths) {
        Ok(suites) => {
            for s in &suites {
                match skip_reason(&plan::resolve(s), &features) {
                    Some(why) => println!("skip suite {}: {why}", s.name),
                    None => println!("ok   suite {} will run", s.name),
                }
            }
        }
        Err(e) => println!("FAIL suites: {e}"),
    }
    Ok(if usable { exit::PASS } else { exit::ENVIRONMENT })
}
