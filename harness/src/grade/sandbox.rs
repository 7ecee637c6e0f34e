//! The sandbox a submission's `setup.sh` runs in. It lives in server1's network namespace, so `ip` and the
//! `docker` CLI act on the lab; in a private mount namespace where every mount is read-only except its own
//! working copy, `/run/netns` is a private tmpfs (named namespaces it creates stay inside, and reachlab finds
//! them through `/proc/PID/root`), the Docker socket is the lab's private engine, and the machine's Docker state,
//! reachlab's state and its reports are hidden; and in a PID namespace of its own (with a fresh /proc), so it
//! cannot reach the machine through `/proc/1/root`, and killing it kills everything it started.

use crate::kernel::netns::Netns;
use std::ffi::CString;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::AsyncReadExt;

/// How much of the script's output is kept for the instructor.
pub const OUTPUT_CAP: usize = 64 * 1024;

/// What running `setup.sh` gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetupOutcome {
    /// Its exit status, when it finished in time.
    pub exit: Option<i32>,
    /// Whether it was still running at the time limit.
    pub timed_out: bool,
    /// Its output (stdout and stderr), capped at [`OUTPUT_CAP`] bytes.
    pub output: String,
    /// The line of `setup.sh` that ran last (where it exited or failed), as bash reported it.
    pub line: Option<u32>,
}

/// A running sandbox; dropping it kills everything inside.
pub struct Sandbox {
    child: Child,
    /// The sandbox's first process (PID 1 inside), whose mount namespace holds the named namespaces.
    pub holder: Option<u32>,
    /// The working copy of the submission.
    pub workdir: PathBuf,
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        // unshare(1) was started with --kill-child: killing it kills the sandbox's PID namespace.
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.workdir);
    }
}

impl Sandbox {
    /// A named namespace the script created (`ip netns add NAME`), seen from outside its mount namespace.
    pub fn netns_path(&self, name: &str) -> Option<PathBuf> {
        let p = PathBuf::from(format!("/proc/{}/root/run/netns/{name}", self.holder?));
        p.exists().then_some(p)
    }
}

/// Where the sandbox of run `id` keeps its working copy.
pub fn workdir_of(id: &str) -> PathBuf {
    std::env::temp_dir().join(format!("reachlab-sandbox-{id}"))
}

/// Removes a working copy unless released to a [`Sandbox`].
struct WorkdirGuard(Option<PathBuf>);

impl WorkdirGuard {
    fn release(mut self) -> PathBuf {
        self.0.take().expect("released once")
    }
}

impl Drop for WorkdirGuard {
    fn drop(&mut self) {
        if let Some(d) = self.0.take() {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

fn cstring(p: &Path) -> io::Result<CString> {
    CString::new(p.as_os_str().as_encoded_bytes()).map_err(|_| io::Error::other("path with a NUL byte"))
}

fn copy_dir(from: &Path, to: &Path) -> io::Result<()> {
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        let target = to.join(e.file_name());
        if e.file_type()?.is_dir() {
            copy_dir(&e.path(), &target)?;
        } else if e.file_type()?.is_file() {
            std::fs::copy(e.path(), &target)?;
        }
    }
    Ok(())
}

/// Mount points to make read-only, read before forking (nothing may allocate between fork and exec).
fn mount_points() -> Vec<CString> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut points: Vec<String> =
        info.lines().filter_map(|l| l.split(' ').nth(4)).filter(|p| !p.contains('\\')).map(str::to_string).collect();
    points.sort();
    points.dedup();
    points.into_iter().filter_map(|p| CString::new(p).ok()).collect()
}

fn check(rc: libc::c_int) -> io::Result<()> {
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Starts `setup.sh` from `submission` in a sandbox (see the module docs) and waits for it, at most `limit`.
/// `hide` lists directories the script must not see (reachlab's state and reports).
/// `marker` ends the line the wrapper prints when `setup.sh` returns; it is derived from the submission, not
/// random, so the same submission's output is the same every run (a script that prints it only ends its own
/// setup early: results still come from probes).
pub async fn run_setup(
    server1: &Netns,
    docker_socket: Option<&Path>,
    submission: &Path,
    hide: &[PathBuf],
    limit: Duration,
    id: &str,
    marker: &str,
) -> io::Result<(Sandbox, SetupOutcome)> {
    let workdir = workdir_of(id);
    // Until the sandbox owns it, this guard removes the working copy on any early return.
    let guard = WorkdirGuard(Some(workdir.clone()));
    copy_dir(submission, &workdir)?;
    let sock_in_work = workdir.join("docker.sock");
    std::fs::write(&sock_in_work, b"")?;
    // bash reads BASH_ENV before the script: it records the line of each command (functions included) and, on
    // exit, prints the last one, so feedback can say where the script stopped. Children do not inherit it.
    let line_trap = workdir.join(".reachlab-line.sh");
    std::fs::write(
        &line_trap,
        format!(
            "unset BASH_ENV\nset -o functrace\ntrap '__rl_prev=$__rl_line; __rl_line=$LINENO' DEBUG\ntrap 'echo \"reachlab-setup-line:$__rl_prev:{marker}\"' EXIT\n"
        ),
    )?;

    // Everything the child needs, prepared here: between fork and exec only system calls may run.
    let netns_fd = server1.file().as_raw_fd();
    let root = cstring(Path::new("/"))?;
    let engine_sock = docker_socket.map(cstring).transpose()?;
    let work = cstring(&workdir)?;
    let work_sock = cstring(&sock_in_work)?;
    let machine_sock: Option<CString> = ["/run/docker.sock", "/var/run/docker.sock"]
        .iter()
        .map(Path::new)
        .find(|p| p.exists())
        .map(|p| cstring(&p.canonicalize().unwrap_or_else(|_| p.to_path_buf())))
        .transpose()?;
    // Directories to hide, outermost only (a tmpfs over a parent already hides its children).
    let mut dirs: Vec<PathBuf> = hide
        .iter()
        .map(PathBuf::as_path)
        .chain(["/run/docker", "/var/lib/docker", "/run/containerd", "/var/lib/containerd"].iter().map(Path::new))
        .filter(|d| d.is_dir())
        .map(|d| d.canonicalize().unwrap_or_else(|_| d.to_path_buf()))
        .collect();
    dirs.sort();
    dirs.dedup();
    let outermost: Vec<&PathBuf> = dirs.iter().filter(|d| !dirs.iter().any(|o| o != *d && d.starts_with(o))).collect();
    let hidden: Vec<CString> = outermost.into_iter().map(|d| cstring(d)).collect::<io::Result<_>>()?;
    let netns_dir = cstring(Path::new(crate::kernel::netns::NETNS_DIR))?;
    let points = mount_points();
    let tmpfs = CString::new("tmpfs").expect("literal");
    let opts = CString::new("size=4m,mode=0755").expect("literal");
    let nonce = marker.to_string();

    // One pipe for both streams, so the output keeps the order the script wrote it in (reruns are identical).
    let wrapper = format!("exec 2>&1; bash ./setup.sh; echo \"reachlab-setup-exit:$?:{nonce}\"; exec sleep infinity");
    let mut cmd = Command::new("unshare");
    cmd.args(["--pid", "--fork", "--kill-child", "--mount-proc", "--", "/bin/sh", "-c", &wrapper])
        .current_dir(&workdir)
        .env_clear()
        .env("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
        .env("HOME", &workdir)
        .env("DOCKER_HOST", format!("unix://{}", sock_in_work.display()))
        .env("BASH_ENV", &line_trap)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    // SAFETY: only system calls run between fork and exec, on data prepared above; the namespace fd stays open
    // in the parent for the duration of the spawn.
    unsafe {
        cmd.pre_exec(move || {
            let null = std::ptr::null::<libc::c_char>();
            check(libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL))?;
            check(libc::setns(netns_fd, libc::CLONE_NEWNET))?;
            check(libc::unshare(libc::CLONE_NEWNS))?;
            check(libc::mount(null, root.as_ptr(), null, libc::MS_REC | libc::MS_PRIVATE, std::ptr::null()))?;
            // The working copy becomes a mount of its own, so it stays writable when everything else is not.
            check(libc::mount(work.as_ptr(), work.as_ptr(), null, libc::MS_BIND, std::ptr::null()))?;
            // The lab's engine, where the docker CLI and any hand-made client will look.
            if let Some(engine) = &engine_sock {
                check(libc::mount(engine.as_ptr(), work_sock.as_ptr(), null, libc::MS_BIND, std::ptr::null()))?;
                if let Some(m) = &machine_sock {
                    check(libc::mount(engine.as_ptr(), m.as_ptr(), null, libc::MS_BIND, std::ptr::null()))?;
                }
            } else if let Some(m) = &machine_sock {
                // No engine in this lab: the machine's socket is hidden behind the (empty) working-copy file.
                check(libc::mount(work_sock.as_ptr(), m.as_ptr(), null, libc::MS_BIND, std::ptr::null()))?;
            }
            // Read-only everywhere (the working copy and the new tmpfs mounts below stay writable).
            for p in &points {
                // Failures here (e.g. mounts that vanished) leave that mount as it was; / itself must succeed.
                let rc = libc::mount(
                    null,
                    p.as_ptr(),
                    null,
                    libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY,
                    std::ptr::null(),
                );
                if rc != 0 && libc::strcmp(p.as_ptr(), root.as_ptr()) == 0 {
                    return Err(io::Error::last_os_error());
                }
            }
            for h in hidden.iter().chain(std::iter::once(&netns_dir)) {
                let flags = libc::MS_NOSUID | libc::MS_NODEV;
                check(libc::mount(tmpfs.as_ptr(), h.as_ptr(), tmpfs.as_ptr(), flags, opts.as_ptr().cast()))?;
            }
            check(libc::chdir(work.as_ptr()))
        });
    }
    let mut child = cmd.spawn()?;
    let workdir = guard.release();
    let stdout = tokio::process::ChildStdout::from_std(child.stdout.take().expect("piped"))?;
    let stderr = tokio::process::ChildStderr::from_std(child.stderr.take().expect("piped"))?;
    let output = Arc::new(Mutex::new(Vec::new()));
    let (tx, mut done) = tokio::sync::mpsc::unbounded_channel::<i32>();
    let line = Arc::new(Mutex::new(None));
    let marker = Marker { done: tx, nonce: format!(":{nonce}"), line: line.clone() };
    spawn_reader(stdout, output.clone(), Some(marker));
    spawn_reader(stderr, output.clone(), None);
    let (exit, timed_out) = match tokio::time::timeout(limit, done.recv()).await {
        Ok(Some(code)) => (Some(code), false),
        Ok(None) => (None, false),
        Err(_) => (None, true),
    };
    let holder = std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", child.id()))
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|p| p.parse().ok()));
    let text = String::from_utf8_lossy(&output.lock().expect("output lock")).into_owned();
    let line = *line.lock().expect("line lock");
    Ok((Sandbox { child, holder, workdir }, SetupOutcome { exit, timed_out, output: text, line }))
}

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

/// Reads a pipe into the shared, capped buffer; reports the markers (and drops them from the output).
fn spawn_reader<R: tokio::io::AsyncRead + Unpin + Send + 'static>(
    mut pipe: R,
    out: Arc<Mutex<Vec<u8>>>,
    marker: Option<Marker>,
) {
    tokio::spawn(async move {
        let mut buf = [0u8; 4096];
        let mut line = Vec::new();
        while let Ok(n) = pipe.read(&mut buf).await {
            if n == 0 {
                break;
            }
            for &b in &buf[..n] {
                line.push(b);
                if b != b'\n' {
                    continue;
                }
                let text = String::from_utf8_lossy(&line).into_owned();
                if !marker.as_ref().is_some_and(|m| m.take(&text)) {
                    let mut o = out.lock().expect("output lock");
                    let room = OUTPUT_CAP.saturating_sub(o.len());
                    o.extend_from_slice(&line[..line.len().min(room)]);
                }
                line.clear();
            }
        }
    });
}
