//! The sandbox a submission's `setup.sh` runs in — root of its lab and of nothing else:
//!
//! - **user namespace**: the script is root of a user namespace that maps it to an unprivileged id of the
//!   machine ([`crate::kernel::userns`]) and owns server1's network namespace, so `ip`, `ip netns`, `iptables`
//!   and server1's `/proc/sys/net` work as the handout has them, while the machine's files, sysctls, kernel
//!   log, devices and mounts answer "permission denied" by the kernel's own rules;
//! - **its own root** ([`spawn`]): `pivot_root` into a tmpfs holding the machine's `/usr` and `/etc`
//!   read-only, a few device nodes, server1's sysfs, size-limited private `/tmp`, `/run` (its `ip netns`
//!   namespaces live there; reachlab finds them through `/proc/PID/root`), `/dev/shm` and working copy
//!   (`/submission`); every mount is locked (it was made by the machine's root before the user namespace), and
//!   the old root is detached, so there is nothing underneath to reveal;
//! - **PID, UTS, IPC and cgroup namespaces**: it sees only its own processes, its hostname is its own
//!   (`server1`), and killing its first process kills everything it started;
//! - **the engine front** ([`proxy`], [`policy`]): `/run/docker.sock` (and `/var/run/docker.sock`, `DOCKER_HOST`)
//!   is reachlab's filtering front to the lab's private engine, never the machine's engine;
//! - **the lab's cgroup** ([`crate::kernel::cgroup`]): memory, pids and CPU weight for the script, and in the
//!   lab's group with the engine and every container;
//! - **bounded output**: read in chunks, at most [`OUTPUT_CAP`] bytes kept whatever its lines.

pub mod policy;
pub mod proxy;
pub mod spawn;

use crate::kernel::cgroup::LabCgroup;
use crate::kernel::netns::Netns;
use crate::kernel::userns::UserNs;
use spawn::{Op, Prepared};
use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::AsyncReadExt;

/// How much of the script's output is kept for the instructor.
pub const OUTPUT_CAP: usize = 64 * 1024;
/// The longest line looked at whole (for the exit marker); longer ones are kept in pieces.
const LINE_CAP: usize = 4096;
/// Where the working copy is, inside.
pub const WORKDIR: &str = "/submission";
/// The bash start-up file (BASH_ENV) that reports the line `setup.sh` ended at, inside.
const LINE_TRAP: &str = "/run/reachlab-line.sh";

/// What the wrapper prints when `setup.sh` ends: its last line (`reachlab-setup-line:N:NONCE`, from the trap),
/// then its status (`reachlab-setup-exit:CODE:NONCE`).
struct Marker {
    done: tokio::sync::mpsc::UnboundedSender<i32>,
    nonce: String,
    line: Arc<Mutex<Option<u32>>>,
}

impl Marker {
    /// Whether `text` is one of the markers (then it is kept out of the output).
    fn take(&self, text: &str) -> bool {
        let Some(body) = text.trim_end().strip_suffix(self.nonce.as_str()) else { return false };
        if let Some(code) = body.strip_prefix("reachlab-setup-exit:").and_then(|c| c.parse().ok()) {
            let _ = self.done.send(code);
            return true;
        }
        if let Some(n) = body.strip_prefix("reachlab-setup-line:") {
            *self.line.lock().expect("line lock") = n.parse().ok();
            return true;
        }
        false
    }
}

/// What running `setup.sh` gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetupOutcome {
    /// Its exit status, when it finished in time.
    pub exit: Option<i32>,
    /// Whether it was still running at the time limit.
    pub timed_out: bool,
    /// Its output (stdout and stderr), capped at [`OUTPUT_CAP`] bytes.
    pub output: String,
    /// Whether output beyond the cap was dropped.
    pub truncated: bool,
    /// What the engine front refused, as "METHOD PATH: why".
    pub refusals: Vec<String>,
    /// The line of `setup.sh` that ran last (where it exited or failed), as bash reported it.
    pub line: Option<u32>,
}

/// What a sandbox is made of.
pub struct SandboxSpec<'a> {
    /// server1's network namespace (owned by `userns`).
    pub server1: &'a Netns,
    /// The lab's user namespace.
    pub userns: &'a UserNs,
    /// The lab's private engine, if it has one (the sandbox gets a filtering front to it).
    pub engine_socket: Option<&'a Path>,
    /// The submission directory.
    pub submission: &'a Path,
    /// The lab's cgroup (the script joins its `sandbox` child).
    pub cgroup: Option<&'a LabCgroup>,
    /// How long `setup.sh` may run.
    pub limit: Duration,
    /// The run id (names the scratch directory).
    pub id: &'a str,
    /// Ends the line the wrapper prints when `setup.sh` returns; derived from the submission, not random, so the
    /// same submission's output is the same every run (a script that prints it only ends its own setup early:
    /// results still come from probes).
    pub marker: &'a str,
}

/// A running sandbox; dropping it kills everything inside and removes its scratch directory.
pub struct Sandbox {
    middle: OwnedFd,
    first: Option<OwnedFd>,
    /// The sandbox's first process (PID 1 inside), whose mount namespace holds the named namespaces.
    pub holder: Option<u32>,
    /// The scratch directory (the new root's mount point, the engine front's socket).
    pub workdir: PathBuf,
    proxy: Option<proxy::Proxy>,
}

fn pidfd(pid: i32) -> io::Result<OwnedFd> {
    use std::os::fd::FromRawFd;
    // SAFETY: pidfd_open returns a new fd we own, or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a fresh fd.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

fn kill(fd: &OwnedFd) {
    // SAFETY: signalling through a pidfd we hold (no PID reuse).
    unsafe { libc::syscall(libc::SYS_pidfd_send_signal, fd.as_raw_fd(), libc::SIGKILL, std::ptr::null::<u8>(), 0) };
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        // PID 1 dying ends its PID namespace; the middle process dies with it (and the supervisor thread that
        // waits for it returns).
        if let Some(f) = &self.first {
            kill(f);
        }
        kill(&self.middle);
        self.proxy.take();
        let _ = std::fs::remove_dir_all(&self.workdir);
    }
}

impl Sandbox {
    /// A named namespace the script created (`ip netns add NAME`), seen from outside its mount namespace.
    pub fn netns_path(&self, name: &str) -> Option<PathBuf> {
        let p = PathBuf::from(format!("/proc/{}/root/run/netns/{name}", self.holder?));
        p.exists().then_some(p)
    }

    /// What the engine front refused so far.
    pub fn refusals(&self) -> Vec<String> {
        self.proxy.as_ref().map(proxy::Proxy::refusals).unwrap_or_default()
    }
}

/// Where the sandbox of run `id` keeps its scratch directory.
pub fn workdir_of(id: &str) -> PathBuf {
    std::env::temp_dir().join(format!("reachlab-sandbox-{id}"))
}

fn cstring(p: impl AsRef<std::ffi::OsStr>) -> io::Result<CString> {
    CString::new(p.as_ref().as_encoded_bytes()).map_err(|_| io::Error::other("path with a NUL byte"))
}

/// Copies the submission into the sandbox (files and directories only; links and devices are not copied) and
/// gives it to the sandbox's root.
fn copy_in(from: &Path, to: &Path, owner: u32) -> io::Result<()> {
    for e in std::fs::read_dir(from)? {
        let e = e?;
        let target = to.join(e.file_name());
        let t = e.file_type()?;
        if t.is_dir() {
            std::fs::create_dir(&target)?;
            copy_in(&e.path(), &target, owner)?;
        } else if t.is_file() {
            std::fs::copy(e.path(), &target)?;
        } else {
            continue;
        }
        std::os::unix::fs::lchown(&target, Some(owner), Some(owner))?;
    }
    Ok(())
}

/// The steps that build the sandbox's root at `root` (see [`spawn`]).
fn root_ops(root: &Path, owner: u32, socket: Option<&Path>) -> io::Result<Vec<Op>> {
    let at = |p: &str| cstring(root.join(p.trim_start_matches('/')));
    let tmpfs = |target: &str, size: &str, mode: &str, flags: libc::c_ulong| -> io::Result<Op> {
        Ok(Op::Mount {
            src: Some(cstring("tmpfs")?),
            target: at(target)?,
            fstype: Some(cstring("tmpfs")?),
            flags: flags | libc::MS_NOSUID | libc::MS_NODEV,
            data: Some(cstring(format!("size={size},mode={mode},uid={owner},gid={owner}"))?),
        })
    };
    let bind = |src: &str, target: &str| -> io::Result<[Op; 2]> {
        let flags = libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY | libc::MS_NOSUID;
        Ok([
            Op::Mount { src: Some(cstring(src)?), target: at(target)?, fstype: None, flags: libc::MS_BIND, data: None },
            Op::Mount { src: None, target: at(target)?, fstype: None, flags, data: None },
        ])
    };
    let mut ops = vec![Op::Mount {
        src: Some(cstring("tmpfs")?),
        target: cstring(root)?,
        fstype: Some(cstring("tmpfs")?),
        flags: libc::MS_NOSUID | libc::MS_NODEV,
        data: Some(cstring("size=1m,mode=0755")?),
    }];
    for d in ["usr", "etc"] {
        ops.push(Op::Mkdir(at(d)?, 0o755));
        ops.extend(bind(&format!("/{d}"), d)?);
    }
    // bin, lib, … are links into /usr on merged-/usr systems, directories elsewhere.
    for d in ["bin", "sbin", "lib", "lib32", "lib64", "libx32"] {
        let machine = Path::new("/").join(d);
        match std::fs::symlink_metadata(&machine) {
            Ok(m) if m.file_type().is_symlink() => {
                ops.push(Op::Symlink { to: cstring(std::fs::read_link(&machine)?)?, at: at(d)? })
            }
            Ok(m) if m.is_dir() => {
                ops.push(Op::Mkdir(at(d)?, 0o755));
                ops.extend(bind(&format!("/{d}"), d)?);
            }
            _ => {}
        }
    }
    ops.push(Op::Mkdir(at("dev")?, 0o755));
    ops.push(Op::Mount {
        src: Some(cstring("tmpfs")?),
        target: at("dev")?,
        fstype: Some(cstring("tmpfs")?),
        flags: libc::MS_NOSUID | libc::MS_NOEXEC,
        data: Some(cstring("size=64k,mode=0755")?),
    });
    for n in ["null", "zero", "full", "random", "urandom", "tty"] {
        let d = format!("dev/{n}");
        ops.push(Op::Touch(at(&d)?));
        ops.push(Op::Mount {
            src: Some(cstring(format!("/dev/{n}"))?),
            target: at(&d)?,
            fstype: None,
            flags: libc::MS_BIND,
            data: None,
        });
    }
    for (link, to) in [("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1")] {
        ops.push(Op::Symlink { to: cstring(to)?, at: at(&format!("dev/{link}"))? });
    }
    ops.push(Op::Symlink { to: cstring("/proc/self/fd/2")?, at: at("dev/stderr")? });
    ops.push(Op::Mkdir(at("dev/shm")?, 0o755));
    ops.push(tmpfs("dev/shm", "16m", "1777", 0)?);
    ops.push(Op::Mkdir(at("proc")?, 0o555));
    ops.push(Op::Mkdir(at("sys")?, 0o555));
    // Made while in server1's namespace: its net devices are server1's.
    ops.push(Op::Mount {
        src: Some(cstring("sysfs")?),
        target: at("sys")?,
        fstype: Some(cstring("sysfs")?),
        flags: libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
        data: None,
    });
    ops.push(Op::Mkdir(at("tmp")?, 0o1777));
    ops.push(tmpfs("tmp", "64m", "1777", 0)?);
    ops.push(Op::Mkdir(at("run")?, 0o755));
    ops.push(tmpfs("run", "4m", "0755", 0)?);
    ops.push(Op::Mkdir(at("run/netns")?, 0o755));
    ops.push(Op::Chown(at("run/netns")?, owner));
    if let Some(sock) = socket {
        ops.push(Op::Touch(at("run/docker.sock")?));
        ops.push(Op::Mount {
            src: Some(cstring(sock)?),
            target: at("run/docker.sock")?,
            fstype: None,
            flags: libc::MS_BIND,
            data: None,
        });
    }
    ops.push(Op::Mkdir(at("var")?, 0o755));
    ops.push(Op::Symlink { to: cstring("../run")?, at: at("var/run")? });
    ops.push(Op::Symlink { to: cstring("../tmp")?, at: at("var/tmp")? });
    ops.push(Op::Mkdir(at(WORKDIR)?, 0o755));
    ops.push(tmpfs(WORKDIR, "64m", "0755", 0)?);
    Ok(ops)
}

/// Starts `setup.sh` from the submission in a sandbox (see the module docs) and waits for it, at most
/// `spec.limit`.
pub async fn run_setup(spec: SandboxSpec<'_>) -> io::Result<(Sandbox, SetupOutcome)> {
    let workdir = workdir_of(spec.id);
    std::fs::create_dir_all(workdir.join("root"))?;
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&workdir, std::fs::Permissions::from_mode(0o700))?;
    }
    let cleanup = |e: io::Error| {
        let _ = std::fs::remove_dir_all(&workdir);
        e
    };
    let proxy = match spec.engine_socket {
        Some(engine) => Some(proxy::Proxy::start(&workdir.join("docker.sock"), engine).map_err(cleanup)?),
        None => None,
    };
    let owner = spec.userns.base;
    let root = workdir.join("root");
    let ops =
        root_ops(&root, owner, proxy.as_ref().map(|_| workdir.join("docker.sock")).as_deref()).map_err(cleanup)?;
    // One pipe for both streams, so the output keeps the order the script wrote it in (reruns are identical).
    let wrapper =
        format!("exec 2>&1; bash ./setup.sh; echo \"reachlab-setup-exit:$?:{}\"; exec sleep infinity", spec.marker);
    let mut env = vec![
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_string(),
        format!("HOME={WORKDIR}"),
        "LANG=C.UTF-8".to_string(),
        format!("BASH_ENV={LINE_TRAP}"),
    ];
    // bash reads BASH_ENV before the script: it records the line of each command (functions included) and, on
    // exit, prints the last one, so feedback can say where the script stopped. Children do not inherit it.
    let line_trap = format!(
        "unset BASH_ENV\nset -o functrace\ntrap '__rl_prev=$__rl_line; __rl_line=$LINENO' DEBUG\ntrap 'echo \"reachlab-setup-line:$__rl_prev:{}\"' EXIT\n",
        spec.marker
    );
    if proxy.is_some() {
        env.push("DOCKER_HOST=unix:///run/docker.sock".into());
    }
    let prepared = Prepared {
        netns: spec.server1.file().as_raw_fd(),
        userns: spec.userns.user.as_raw_fd(),
        proc_dir: cstring(root.join("proc")).map_err(cleanup)?,
        root: cstring(&root).map_err(cleanup)?,
        ops,
        workdir: cstring(WORKDIR).map_err(cleanup)?,
        hostname: cstring("server1").map_err(cleanup)?,
        argv: ["/bin/sh", "-c", &wrapper].iter().map(cstring).collect::<io::Result<_>>().map_err(cleanup)?,
        envp: env.iter().map(cstring).collect::<io::Result<_>>().map_err(cleanup)?,
    };
    let submission = spec.submission.to_path_buf();
    let cgroup = spec.cgroup.cloned();
    // The supervisor thread forks the sandbox and lives exactly as long as it (the first child dies with it).
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new().name("sandbox".into()).spawn(move || {
        let spawned = spawn::spawn(&prepared, |pid1| {
            copy_in(&submission, &PathBuf::from(format!("/proc/{pid1}/root{WORKDIR}")), owner)?;
            // Owned by the machine's root (unmapped inside): readable, not changeable, by the script.
            std::fs::write(format!("/proc/{pid1}/root{LINE_TRAP}"), &line_trap)?;
            if let Some(cg) = &cgroup {
                cg.add("sandbox", pid1 as u32)?;
            }
            Ok(())
        });
        let middle = spawned.as_ref().ok().map(|s| s.middle);
        let handles = spawned.and_then(|s| Ok((pidfd(s.middle)?, pidfd(s.pid1).ok(), s)));
        let _ = tx.send(handles);
        if let Some(m) = middle {
            spawn::reap(m);
        }
    })?;
    let (middle, first, spawned) =
        rx.await.map_err(|_| io::Error::other("sandbox thread ended")).and_then(|r| r).map_err(cleanup)?;
    let sandbox = Sandbox { middle, first, holder: Some(spawned.pid1 as u32), workdir, proxy };
    let output = Arc::new(Mutex::new(Output::default()));
    let (tx, mut done) = tokio::sync::mpsc::unbounded_channel::<i32>();
    let line = Arc::new(Mutex::new(None));
    let marker = Marker { done: tx, nonce: format!(":{}", spec.marker), line: line.clone() };
    let stdout = tokio::net::unix::pipe::Receiver::from_owned_fd(spawned.stdout)?;
    let stderr = tokio::net::unix::pipe::Receiver::from_owned_fd(spawned.stderr)?;
    spawn_reader(stdout, output.clone(), Some(marker));
    spawn_reader(stderr, output.clone(), None);
    let (exit, timed_out) = match tokio::time::timeout(spec.limit, done.recv()).await {
        Ok(Some(code)) => (Some(code), false),
        Ok(None) => (None, false),
        Err(_) => (None, true),
    };
    let (text, truncated) = {
        let o = output.lock().expect("output lock");
        (String::from_utf8_lossy(&o.kept).into_owned(), o.dropped)
    };
    let refusals = sandbox.refusals();
    let line = *line.lock().expect("line lock");
    Ok((sandbox, SetupOutcome { exit, timed_out, output: text, truncated, refusals, line }))
}

/// The output kept so far.
#[derive(Default)]
struct Output {
    kept: Vec<u8>,
    dropped: bool,
}

impl Output {
    fn keep(&mut self, bytes: &[u8]) {
        let room = OUTPUT_CAP.saturating_sub(self.kept.len());
        self.kept.extend_from_slice(&bytes[..bytes.len().min(room)]);
        self.dropped |= bytes.len() > room;
    }
}

/// Reads a pipe in chunks into the shared, capped output; reports the markers (and drops them from the
/// output). A line longer than [`LINE_CAP`] is kept in pieces and cannot be the marker; reading goes on (and
/// discards) past the cap so the script never blocks on a full pipe.
fn spawn_reader<R: tokio::io::AsyncRead + Unpin + Send + 'static>(
    mut pipe: R,
    out: Arc<Mutex<Output>>,
    marker: Option<Marker>,
) {
    tokio::spawn(async move {
        let mut buf = vec![0u8; 16 * 1024];
        let mut line = Vec::with_capacity(LINE_CAP);
        let mut long = false;
        while let Ok(n) = pipe.read(&mut buf).await {
            if n == 0 {
                break;
            }
            let mut rest = &buf[..n];
            while !rest.is_empty() {
                let end = rest.iter().position(|&b| b == b'\n').map(|i| i + 1);
                let (seg, rem) = rest.split_at(end.unwrap_or(rest.len()));
                rest = rem;
                if line.len() + seg.len() > LINE_CAP {
                    let mut o = out.lock().expect("output lock");
                    o.keep(&line);
                    o.keep(seg);
                    line.clear();
                    long = true;
                } else {
                    line.extend_from_slice(seg);
                }
                if end.is_none() {
                    continue;
                }
                let taken = marker
                    .as_ref()
                    .filter(|_| !long)
                    .is_some_and(|m| std::str::from_utf8(&line).is_ok_and(|text| m.take(text)));
                if !taken {
                    out.lock().expect("output lock").keep(&line);
                }
                line.clear();
                long = false;
            }
        }
        if !line.is_empty() {
            out.lock().expect("output lock").keep(&line);
        }
    });
}
