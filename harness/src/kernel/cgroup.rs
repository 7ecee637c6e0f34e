//! A lab's own cgroup: memory, pids and CPU weight for everything a grading lab runs — the submission's script
//! (in the child group `sandbox`, with tighter limits of its own), the private engine (`engine`: dockerd,
//! containerd, the shims) and every container (dockerd's `--cgroup-parent` is this group). cgroup v1 (one
//! hierarchy per controller, as on this project's CI machine: Docker says "Cgroup Version: 1") and v2 (one
//! unified tree) are both supported, detected at run time. [`kill_tree`] ends everything in the tree.

use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const ROOT: &str = "/sys/fs/cgroup";
/// The v1 hierarchies a lab's group is made in (freezer so teardown can stop a fork bomb before killing it).
const V1_CONTROLLERS: [&str; 4] = ["memory", "pids", "cpu", "freezer"];

/// Which cgroup layout the machine has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// One hierarchy per controller under /sys/fs/cgroup/<controller>.
    V1,
    /// The unified hierarchy at /sys/fs/cgroup.
    V2,
}

/// Detects the layout: v2 when /sys/fs/cgroup itself is the unified hierarchy, v1 when the memory controller
/// has a hierarchy of its own (a hybrid machine's /sys/fs/cgroup/unified holds no controllers), else none.
pub fn detect() -> Option<Version> {
    if Path::new(ROOT).join("cgroup.controllers").exists() {
        Some(Version::V2)
    } else if Path::new(ROOT).join("memory").is_dir() {
        Some(Version::V1)
    } else {
        None
    }
}

/// Limits of a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Bytes of memory (page cache and tmpfs included).
    pub memory: u64,
    /// Tasks (processes and threads).
    pub pids: u64,
    /// Relative CPU weight, 1–10000 with 100 the default (v1 `cpu.shares` = weight × 1024 / 100).
    pub cpu_weight: u64,
}

/// A lab's cgroup, created with its limits; not removed on drop (teardown does that, see [`kill_tree`]).
#[derive(Debug, Clone)]
pub struct LabCgroup {
    /// The group's name under every hierarchy (the engine's cgroup parent).
    pub name: String,
    /// The layout.
    pub version: Version,
}

fn write(path: &Path, value: &str) -> io::Result<()> {
    std::fs::write(path, value).map_err(|e| io::Error::new(e.kind(), format!("write {}: {e}", path.display())))
}

impl LabCgroup {
    /// Creates group `name` with `limits`, and its children `engine` and `sandbox` (the latter with
    /// `sandbox_limits`).
    pub fn create(name: &str, limits: Limits, sandbox_limits: Limits) -> io::Result<LabCgroup> {
        let version = detect().ok_or_else(|| io::Error::other("no cgroup hierarchy with a memory controller"))?;
        let cg = LabCgroup { name: name.to_string(), version };
        match version {
            Version::V1 => {
                for c in V1_CONTROLLERS {
                    for child in ["", "engine", "sandbox"] {
                        let d = Path::new(ROOT).join(c).join(name).join(child);
                        std::fs::create_dir_all(&d)?;
                    }
                }
                for (child, l) in [("", limits), ("sandbox", sandbox_limits)] {
                    let g = |c: &str| Path::new(ROOT).join(c).join(name).join(child);
                    write(&g("memory").join("memory.limit_in_bytes"), &l.memory.to_string())?;
                    write(&g("pids").join("pids.max"), &l.pids.to_string())?;
                    write(&g("cpu").join("cpu.shares"), &(l.cpu_weight * 1024 / 100).max(2).to_string())?;
                }
            }
            Version::V2 => {
                let top = Path::new(ROOT).join(name);
                std::fs::create_dir_all(&top)?;
                // Controllers must be enabled in the parent's subtree_control (systemd machines have them).
                write(&top.join("cgroup.subtree_control"), "+memory +pids +cpu")?;
                for child in ["engine", "sandbox"] {
                    std::fs::create_dir_all(top.join(child))?;
                }
                for (dir, l) in [(top.clone(), limits), (top.join("sandbox"), sandbox_limits)] {
                    write(&dir.join("memory.max"), &l.memory.to_string())?;
                    // No swap for the lab (absent where the kernel has no swap accounting).
                    let _ = write(&dir.join("memory.swap.max"), "0");
                    write(&dir.join("pids.max"), &l.pids.to_string())?;
                    write(&dir.join("cpu.weight"), &l.cpu_weight.to_string())?;
                }
            }
        }
        Ok(cg)
    }

    /// The `cgroup.procs` files a process writes itself into to join child group `child` (one per hierarchy).
    pub fn procs_files(&self, child: &str) -> Vec<PathBuf> {
        match self.version {
            Version::V1 => V1_CONTROLLERS
                .iter()
                .map(|c| Path::new(ROOT).join(c).join(&self.name).join(child).join("cgroup.procs"))
                .collect(),
            Version::V2 => vec![Path::new(ROOT).join(&self.name).join(child).join("cgroup.procs")],
        }
    }

    /// Moves `pid` into child group `child`.
    pub fn add(&self, child: &str, pid: u32) -> io::Result<()> {
        self.procs_files(child).iter().try_for_each(|f| write(f, &pid.to_string()))
    }
}

/// Directories of group `name` in every hierarchy that has one.
pub fn dirs(name: &str) -> Vec<PathBuf> {
    let root = Path::new(ROOT);
    let mut out = Vec::new();
    if root.join(name).is_dir() {
        out.push(root.join(name));
    }
    for e in std::fs::read_dir(root).into_iter().flatten().flatten() {
        let p = e.path().join(name);
        if p.is_dir() {
            out.push(p);
        }
    }
    out
}

/// Every process in `dir` and below.
pub fn procs(dir: &Path) -> Vec<i32> {
    let mut pids: Vec<i32> = std::fs::read_to_string(dir.join("cgroup.procs"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if e.path().is_dir() {
            pids.extend(procs(&e.path()));
        }
    }
    pids
}

/// Kills every process in group `name`'s tree, in every hierarchy: v2's `cgroup.kill` where there is one;
/// otherwise the tree is frozen first (so nothing forks while it is being killed), killed, and thawed. Waits
/// (at most a few seconds) until the tree is empty.
pub fn kill_tree(name: &str) {
    let groups = dirs(name);
    for g in &groups {
        let _ = std::fs::write(g.join("cgroup.kill"), "1");
    }
    let freezer = groups.iter().find(|g| g.join("freezer.state").exists());
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let pids: Vec<i32> = groups.iter().flat_map(|g| procs(g)).collect();
        if pids.is_empty() || Instant::now() > deadline {
            break;
        }
        if let Some(f) = freezer {
            let _ = std::fs::write(f.join("freezer.state"), "FROZEN");
        }
        for p in pids {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(p), nix::sys::signal::Signal::SIGKILL);
        }
        // Frozen tasks die once thawed.
        if let Some(f) = freezer {
            let _ = std::fs::write(f.join("freezer.state"), "THAWED");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Removes group `name`'s directories (children first) in every hierarchy; already gone is success.
pub fn remove(name: &str) -> Vec<io::Error> {
    fn rmdir_tree(dir: &Path) -> io::Result<()> {
        for e in std::fs::read_dir(dir)?.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                rmdir_tree(&e.path())?;
            }
        }
        match std::fs::remove_dir(dir) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
    dirs(name)
        .iter()
        .filter_map(|d| rmdir_tree(d).err().map(|e| io::Error::new(e.kind(), format!("{}: {e}", d.display()))))
        .collect()
}
