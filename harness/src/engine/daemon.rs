//! A private dockerd per run, inside a network namespace, with its own data root, exec root, pidfile, socket,
//! managed containerd and cgroup parent. Started without `ip netns exec` (which remounts /sys and hides the
//! cgroups): the child enters the namespace itself before exec. Removed by [`purge`], which is synchronous,
//! idempotent and works after a crash (it needs only the directory and cgroup name from the ledger).

use super::EngineError;
use crate::kernel::netns::Netns;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use sha2::{Digest, Sha256};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running private engine.
pub struct Daemon {
    /// Its directory (data, exec root, socket, log).
    pub dir: PathBuf,
    /// The API socket.
    pub socket: PathBuf,
    /// Its cgroup parent name (under every hierarchy).
    pub cgroup: String,
    /// How long it took to answer its first ping.
    pub ready_in: Duration,
    child: Option<Child>,
}

/// The directory of a run's engine under the state directory (short: unix socket paths are limited).
pub fn engine_dir(state_dir: &Path, run_id: &str) -> PathBuf {
    state_dir.join("engines").join(run_id)
}

/// The cgroup parent of a run's containers.
pub fn cgroup_name(run_id: &str) -> String {
    format!("reachlab-{run_id}")
}

const OVERLAYFS_MAGIC: i64 = 0x794c_7630;

fn storage_driver(dir: &Path) -> &'static str {
    // overlay2 cannot sit on overlayfs (a harness running inside a container): fall back to vfs there.
    match nix::sys::statfs::statfs(dir) {
        Ok(fs) if fs.filesystem_type().0 == OVERLAYFS_MAGIC => "vfs",
        _ => "overlay2",
    }
}

fn log_tail(dir: &Path) -> String {
    let log = std::fs::read_to_string(dir.join("dockerd.log")).unwrap_or_default();
    let lines: Vec<&str> = log.lines().filter(|l| l.contains("level=error") || l.contains("failed")).collect();
    let pick = if lines.is_empty() {
        log.lines().rev().take(5).collect::<Vec<_>>()
    } else {
        lines.into_iter().rev().take(5).collect()
    };
    pick.into_iter().rev().collect::<Vec<_>>().join("\n")
}

/// Confinement of a grading lab's engine.
#[derive(Debug, Clone, Default)]
pub struct Confine {
    /// `cgroup.procs` files dockerd joins before it starts (so containerd and the shims are born inside).
    pub procs: Vec<PathBuf>,
    /// The data root is a tmpfs of this many MiB (images, containers' layers and logs cannot fill the disk).
    pub data_mib: Option<u64>,
}

impl Daemon {
    /// Starts dockerd inside `ns` and waits until its API answers.
    pub async fn start(ns: &Netns, dir: &Path, cgroup: &str) -> Result<Daemon, EngineError> {
        Self::start_confined(ns, dir, cgroup, &Confine::default()).await
    }

    /// [`Daemon::start`], inside the cgroup and with the data root that `confine` names.
    pub async fn start_confined(
        ns: &Netns,
        dir: &Path,
        cgroup: &str,
        confine: &Confine,
    ) -> Result<Daemon, EngineError> {
        std::fs::create_dir_all(dir.join("data")).map_err(EngineError::io("create the engine directory"))?;
        if let Some(mib) = confine.data_mib {
            let opts = format!("size={mib}m,mode=0711");
            nix::mount::mount(
                Some("tmpfs"),
                &dir.join("data"),
                Some("tmpfs"),
                nix::mount::MsFlags::MS_NOSUID | nix::mount::MsFlags::MS_NODEV,
                Some(opts.as_str()),
            )
            .map_err(|e| EngineError::Io { op: "mount the engine's data root".into(), source: e.into() })?;
        }
        let procs: Vec<std::ffi::CString> = confine
            .procs
            .iter()
            .filter_map(|p| std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).ok())
            .collect();
        std::fs::create_dir_all(dir.join("exec")).map_err(EngineError::io("create the engine directory"))?;
        // Its temporary files (containerd's and runc's console sockets, /tmp/ptyNNN/pty.sock) go in its own
        // directory, so that an interrupted run leaves none in the machine's /tmp: they go with the directory.
        std::fs::create_dir_all(dir.join("tmp")).map_err(EngineError::io("create the engine directory"))?;
        // Our own (empty) config: the machine's /etc/docker/daemon.json must not apply to the lab's engine.
        std::fs::write(dir.join("daemon.json"), "{}\n").map_err(EngineError::io("write daemon.json"))?;
        let log = std::fs::File::create(dir.join("dockerd.log")).map_err(EngineError::io("create dockerd.log"))?;
        let socket = dir.join("docker.sock");
        let started = Instant::now();
        let netns_fd = ns.file().as_raw_fd();
        let mut cmd = Command::new("dockerd");
        cmd.arg("--config-file")
            .arg(dir.join("daemon.json"))
            .arg("--data-root")
            .arg(dir.join("data"))
            .arg("--exec-root")
            .arg(dir.join("exec"))
            .arg("--pidfile")
            .arg(dir.join("dockerd.pid"))
            .arg("-H")
            .arg(format!("unix://{}", socket.display()))
            .arg("--cgroup-parent")
            .arg(format!("/{cgroup}"))
            .arg("--storage-driver")
            .arg(storage_driver(dir))
            .env("TMPDIR", dir.join("tmp"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(EngineError::io("open dockerd.log"))?)
            .stderr(log)
            // Its own process group: a Ctrl-C at the terminal reaches reachlab, which then tears it down.
            .process_group(0);
        // SAFETY: between fork and exec only system calls run (open, write, close, setns) on data prepared
        // above; the fd stays open in the parent for the whole call.
        unsafe {
            cmd.pre_exec(move || {
                for p in &procs {
                    let fd = libc::open(p.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
                    if fd < 0 || libc::write(fd, b"0".as_ptr().cast(), 1) != 1 {
                        return Err(io::Error::last_os_error());
                    }
                    libc::close(fd);
                }
                if libc::setns(netns_fd, libc::CLONE_NEWNET) != 0 {
                    return Err(io::Error::last_os_error());
                }
                // The engine may outlive us (`reachlab up`): it must not hold what we were handed — a caller's
                // lock (`flock … reachlab up` would stay locked until `down`), a CI runner's pipes, the
                // namespace file above. Every descriptor past stdio closes at exec.
                close_from_3_on_exec();
                Ok(())
            });
        }
        let mut child = cmd.spawn().map_err(EngineError::io("start dockerd (is Docker Engine installed?)"))?;
        std::fs::write(dir.join("launch.pid"), child.id().to_string()).map_err(EngineError::io("write launch.pid"))?;
        let deadline = started + Duration::from_secs(30);
        loop {
            if socket.exists() {
                if let Ok(docker) = super::docker::connect(&socket) {
                    if docker.ping().await.is_ok() {
                        break;
                    }
                }
            }
            if let Ok(Some(status)) = child.try_wait() {
                return Err(EngineError::Start(format!("dockerd exited ({status}): {}", log_tail(dir))));
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(EngineError::Start(format!("no answer within 30 s: {}", log_tail(dir))));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(Daemon {
            dir: dir.to_path_buf(),
            socket,
            cgroup: cgroup.to_string(),
            ready_in: started.elapsed(),
            child: Some(child),
        })
    }

    /// Whether the engine process is still running (not exited, not a zombie waiting to be reaped).
    pub fn alive(&self) -> bool {
        self.child.as_ref().is_some_and(|c| process_running(c.id()))
    }

    /// Stops the engine process and reaps it. What it made (containerd, shims, containers, mounts, its
    /// directory) goes with the ledger's engine entry ([`purge`]), once, in the lab's teardown.
    pub fn stop(mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Daemon {
    /// Only a daemon dropped without [`Daemon::stop`] (a lab that never reached its teardown) purges here.
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            for e in purge(&self.dir, &self.cgroup) {
                eprintln!("reachlab: engine teardown: {e}");
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Marks every file descriptor from 3 up close-on-exec (async-signal-safe: system calls only). Marking instead
/// of closing keeps the standard library's own exec-error pipe working until exec.
fn close_from_3_on_exec() {
    const CLOSE_RANGE_CLOEXEC: libc::c_uint = 1 << 2;
    // SAFETY: plain system calls on descriptor numbers.
    unsafe {
        if libc::syscall(libc::SYS_close_range, 3 as libc::c_uint, libc::c_uint::MAX, CLOSE_RANGE_CLOEXEC) == 0 {
            return;
        }
        // Kernels before 5.11: each descriptor up to the limit.
        let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        let max =
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 { limit.rlim_cur.min(1 << 16) } else { 1024 };
        for fd in 3..max as libc::c_int {
            libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
        }
    }
}

/// Whether `pid` names a running process (a zombie has exited: it only waits to be reaped).
pub fn process_running(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return false };
    // The state follows the command name, which may hold spaces and parentheses: read after the last ')'.
    stat.rfind(')')
        .and_then(|i| stat[i + 1..].split_whitespace().next())
        .is_some_and(|state| state != "Z" && state != "X")
}

fn read_pid(path: &Path) -> Option<i32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

fn cmdline(pid: &str) -> Vec<String> {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| b.split(|c| *c == 0).map(|s| String::from_utf8_lossy(s).into_owned()).collect())
        .unwrap_or_default()
}

fn kill9(pid: i32) {
    let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
}

/// Every process below `pid` (by parent links in /proc).
fn descendants(pid: i32) -> Vec<i32> {
    let parents: Vec<(i32, i32)> = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let p: i32 = e.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
            let ppid = stat.rsplit_once(')')?.1.split_whitespace().nth(1)?.parse().ok()?;
            Some((p, ppid))
        })
        .collect();
    let mut out = vec![];
    let mut frontier = vec![pid];
    while let Some(p) = frontier.pop() {
        for &(c, _) in parents.iter().filter(|(_, pp)| *pp == p) {
            out.push(c);
            frontier.push(c);
        }
    }
    out
}

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

/// Removes a private engine and everything it made: processes (dockerd, its containerd, shims, containers),
/// mounts under its directory, its cgroups, shim sockets, the directory. Already gone is success; every error
/// is returned, none stops the rest.
pub fn purge(dir: &Path, cgroup: &str) -> Vec<io::Error> {
    // Interrupted while containers start, a shim can still be mounting a root filesystem after the first
    // sweep: sweep again (processes, then mounts) until the directory goes, for a bounded time.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let errors = sweep(dir, cgroup);
        let busy = errors.iter().any(|e| e.kind() == io::ErrorKind::ResourceBusy);
        if !busy || Instant::now() > deadline {
            return errors;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn sweep(dir: &Path, cgroup: &str) -> Vec<io::Error> {
    let mut errors = Vec::new();
    let containerd_sock = dir.join("exec/containerd/containerd.sock");
    for pidfile in ["dockerd.pid", "launch.pid", "exec/containerd/containerd.pid"] {
        if let Some(pid) = read_pid(&dir.join(pidfile)) {
            // Only a process that is still ours: its command line names our directory.
            if cmdline(&pid.to_string()).iter().any(|a| a.contains(dir.to_string_lossy().as_ref())) {
                kill9(pid);
            }
        }
    }
    let mut orphans = Vec::new();
    // containerd shims outlive dockerd; they carry our containerd's address. Their sockets live in the fixed
    // directory /run/containerd/s, named by the hash of address/namespace/id.
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let pid = entry.file_name().to_string_lossy().into_owned();
        if !pid.chars().all(|c| c.is_ascii_digit()) {
            continue;
        }
        let args = cmdline(&pid);
        let arg = |flag: &str| args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1)).cloned();
        if arg("-address").is_some_and(|a| Path::new(&a) == containerd_sock) {
            if let Ok(p) = pid.parse() {
                orphans.extend(descendants(p));
                kill9(p);
            }
            if let Some(id) = arg("-id") {
                let hash = Sha256::digest(format!("{}/moby/{id}", containerd_sock.display()).as_bytes());
                let name: String = hash.iter().map(|b| format!("{b:02x}")).collect();
                let _ = std::fs::remove_file(Path::new("/run/containerd/s").join(name));
            }
        }
    }
    // Every container process sits in our cgroup parent (a grading lab's engine and script too); a container
    // placed elsewhere (which grading's engine front refuses) is still a descendant of a shim killed above.
    for pid in orphans {
        kill9(pid);
    }
    crate::kernel::cgroup::kill_tree(cgroup);
    let groups = crate::kernel::cgroup::dirs(cgroup);
    // Mounts under the directory (overlays, sandbox namespaces, the data root bound on itself), deepest first.
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut mounts: Vec<PathBuf> = mountinfo
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(PathBuf::from)
        .filter(|m| m.starts_with(dir))
        .collect();
    mounts.sort_by_key(|m| std::cmp::Reverse(m.components().count()));
    for m in mounts {
        match nix::mount::umount2(&m, nix::mount::MntFlags::MNT_DETACH) {
            Ok(()) | Err(nix::Error::EINVAL) | Err(nix::Error::ENOENT) => {}
            Err(e) => errors
                .push(io::Error::new(io::Error::from(e).kind(), format!("failed to unmount {}: {e}", m.display()))),
        }
    }
    for g in groups {
        if let Err(e) = rmdir_tree(&g) {
            errors.push(io::Error::new(e.kind(), format!("failed to remove cgroup {}: {e}", g.display())));
        }
    }
    match std::fs::remove_dir_all(dir) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => {
            errors.push(io::Error::new(e.kind(), format!("failed to remove {}: {e}", dir.display())))
        }
        _ => {}
    }
    // Shared directories the shims made, only if nothing else uses them.
    let _ = std::fs::remove_dir("/run/containerd/s");
    let _ = std::fs::remove_dir("/run/containerd");
    errors
}
