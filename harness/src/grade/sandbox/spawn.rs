//! Starting the sandbox's first process: fork, then only system calls on data prepared beforehand.
//!
//! 1. The child enters server1's network namespace, unshares a mount and a PID namespace (both owned by the
//!    machine's user namespace, so reachlab's mounts there become locked below), and builds a root of its own
//!    on a tmpfs: the machine's `/usr` and `/etc` read-only, a few device nodes, a fresh sysfs (server1's),
//!    private `/tmp`, `/run`, `/dev/shm` and working copy — all size-limited — and the engine front's socket
//!    as `/run/docker.sock`. Nothing else of the machine is in it.
//! 2. It forks the sandbox's PID 1, then waits for it and exits with its status (the middle process holds
//!    nothing open).
//! 3. PID 1 mounts its /proc, `pivot_root`s into the new root and detaches the old one (nothing is left
//!    underneath to reveal), makes `/` read-only, joins the lab's user namespace as its root (an unprivileged id
//!    of the machine, no supplementary groups) and unshares mount, UTS, IPC and cgroup namespaces owned by it:
//!    the kernel locks every mount it inherited, so nothing can be unmounted, moved or made writable.
//! 4. It tells reachlab it is ready and waits: reachlab copies the submission in and puts it in the lab's
//!    cgroup; then it execs the script.
//!
//! A failing step writes its number and errno to the status pipe; exec closes that pipe (close-on-exec).

use std::ffi::CString;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::ptr::null;

/// One preparation step of the new root (paths as the machine sees them, before `pivot_root`).
pub enum Op {
    /// mount(2).
    Mount {
        src: Option<CString>,
        target: CString,
        fstype: Option<CString>,
        flags: libc::c_ulong,
        data: Option<CString>,
    },
    /// mkdir(2).
    Mkdir(CString, libc::mode_t),
    /// symlink(2): a link at `at` pointing to `to`.
    Symlink { to: CString, at: CString },
    /// An empty file (a mount point for a file).
    Touch(CString),
    /// chown(2).
    Chown(CString, u32),
}

/// Everything the children need, prepared before forking.
pub struct Prepared {
    /// server1's network namespace.
    pub netns: RawFd,
    /// The lab's user namespace.
    pub userns: RawFd,
    /// Where the new root is mounted (a directory of ours).
    pub root: CString,
    /// `root/proc`.
    pub proc_dir: CString,
    /// The steps that build the root.
    pub ops: Vec<Op>,
    /// The script's working directory inside.
    pub workdir: CString,
    /// The hostname inside the sandbox's UTS namespace.
    pub hostname: CString,
    /// Program and arguments.
    pub argv: Vec<CString>,
    /// Environment.
    pub envp: Vec<CString>,
}

/// The sandbox's processes and output pipes.
pub struct Spawned {
    /// The middle process (our child).
    pub middle: i32,
    /// The sandbox's PID 1, as the machine numbers it.
    pub pid1: i32,
    /// Its stdout and stderr.
    pub stdout: OwnedFd,
    /// See `stdout`.
    pub stderr: OwnedFd,
}

const STEP_NAMES: [&str; 18] = [
    "dup2",
    "prctl",
    "setsid",
    "setns(server1)",
    "unshare(mount, pid)",
    "make / private",
    "fork",
    "mount /proc",
    "chdir(new root)",
    "pivot_root",
    "detach the old root",
    "make / read-only",
    "setns(user)",
    "drop to the lab's root",
    "unshare(mount, uts, ipc, cgroup)",
    "sethostname",
    "chdir(working copy)",
    "execve",
];
const OP_STEP: u32 = 100;

fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills two fds we then own.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fresh fds from pipe2.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

fn describe(step: u32, errno: i32) -> io::Error {
    let what = match step {
        s if s >= OP_STEP => format!("preparing the sandbox's root (step {})", s - OP_STEP),
        s => STEP_NAMES.get(s as usize).map_or_else(|| format!("step {s}"), |n| n.to_string()),
    };
    let e = io::Error::from_raw_os_error(errno);
    io::Error::new(e.kind(), format!("sandbox: {what} failed: {e}"))
}

/// Reads a failure report (step, errno) from the status pipe; `None` at end of file (exec succeeded).
fn read_status(status: &mut std::fs::File) -> io::Result<Option<io::Error>> {
    let mut buf = Vec::new();
    status.read_to_end(&mut buf)?;
    if buf.len() < 8 {
        return Ok(None);
    }
    let step = u32::from_ne_bytes(buf[0..4].try_into().expect("4 bytes"));
    let errno = i32::from_ne_bytes(buf[4..8].try_into().expect("4 bytes"));
    Ok(Some(describe(step, errno)))
}

/// Forks the sandbox (see the module docs) on the calling thread, which must outlive it (the first child dies
/// with it: `PR_SET_PDEATHSIG`). `prepare(pid1)` runs while PID 1 waits; then the script starts.
pub fn spawn(p: &Prepared, prepare: impl FnOnce(i32) -> io::Result<()>) -> io::Result<Spawned> {
    let (out_r, out_w) = pipe()?;
    let (err_r, err_w) = pipe()?;
    let (status_r, status_w) = pipe()?;
    let (ready_r, ready_w) = pipe()?;
    let (go_r, go_w) = pipe()?;
    let devnull = std::fs::File::open("/dev/null")?;
    let argv: Vec<*const libc::c_char> = p.argv.iter().map(|a| a.as_ptr()).chain([null()]).collect();
    let envp: Vec<*const libc::c_char> = p.envp.iter().map(|a| a.as_ptr()).chain([null()]).collect();
    let fds = ChildFds {
        devnull: devnull.as_raw_fd(),
        out: out_w.as_raw_fd(),
        err: err_w.as_raw_fd(),
        status: status_w.as_raw_fd(),
        ready: ready_w.as_raw_fd(),
        go: go_r.as_raw_fd(),
    };
    // SAFETY: the child runs only system calls on memory prepared above (no allocation, no locks), then execs
    // or _exits.
    let middle = unsafe { libc::fork() };
    if middle < 0 {
        return Err(io::Error::last_os_error());
    }
    if middle == 0 {
        // SAFETY: in the child; never returns.
        unsafe { child(p, &fds, &argv, &envp) }
    }
    drop((out_w, err_w, status_w, ready_w, go_r, devnull));
    let mut status = std::fs::File::from(status_r);
    let mut ready = std::fs::File::from(ready_r);
    let mut byte = [0u8; 1];
    if ready.read(&mut byte)? != 1 {
        let e = read_status(&mut status)?.unwrap_or_else(|| io::Error::other("sandbox: PID 1 ended early"));
        reap(middle);
        return Err(e);
    }
    let pid1 = std::fs::read_to_string(format!("/proc/{middle}/task/{middle}/children"))
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|p| p.parse().ok()))
        .ok_or_else(|| io::Error::other("sandbox: PID 1 not found"));
    let prepared = pid1.and_then(|pid1| prepare(pid1).map(|()| pid1));
    let pid1 = match prepared {
        Ok(pid1) => pid1,
        Err(e) => {
            // SAFETY: our own child.
            unsafe { libc::kill(middle, libc::SIGKILL) };
            reap(middle);
            return Err(e);
        }
    };
    std::fs::File::from(go_w).write_all(b"g")?;
    if let Some(e) = read_status(&mut status)? {
        reap(middle);
        return Err(e);
    }
    Ok(Spawned { middle, pid1, stdout: out_r, stderr: err_r })
}

/// Waits for the middle process.
pub fn reap(middle: i32) -> i32 {
    let mut status = 0;
    loop {
        // SAFETY: waiting for our own child.
        let r = unsafe { libc::waitpid(middle, &mut status, 0) };
        if r == middle || (r < 0 && io::Error::last_os_error().raw_os_error() != Some(libc::EINTR)) {
            return status;
        }
    }
}

struct ChildFds {
    devnull: RawFd,
    out: RawFd,
    err: RawFd,
    status: RawFd,
    ready: RawFd,
    go: RawFd,
}

unsafe fn fail(status: RawFd, step: u32) -> ! {
    let errno = *libc::__errno_location();
    let mut msg = [0u8; 8];
    msg[0..4].copy_from_slice(&step.to_ne_bytes());
    msg[4..8].copy_from_slice(&errno.to_ne_bytes());
    libc::write(status, msg.as_ptr().cast(), 8);
    libc::_exit(127)
}

unsafe fn run_op(op: &Op) -> libc::c_int {
    let opt = |c: &Option<CString>| c.as_ref().map_or(null(), |c| c.as_ptr());
    match op {
        Op::Mount { src, target, fstype, flags, data } => {
            libc::mount(opt(src), target.as_ptr(), opt(fstype), *flags, opt(data).cast())
        }
        Op::Mkdir(path, mode) => libc::mkdir(path.as_ptr(), *mode),
        Op::Symlink { to, at } => libc::symlink(to.as_ptr(), at.as_ptr()),
        Op::Touch(path) => {
            let fd = libc::open(path.as_ptr(), libc::O_CREAT | libc::O_WRONLY | libc::O_CLOEXEC, 0o644);
            if fd >= 0 {
                libc::close(fd);
            }
            fd.min(0)
        }
        Op::Chown(path, id) => libc::chown(path.as_ptr(), *id, *id),
    }
}

unsafe fn child(p: &Prepared, f: &ChildFds, argv: &[*const libc::c_char], envp: &[*const libc::c_char]) -> ! {
    let st = f.status;
    let check = |rc: libc::c_int, step: u32| {
        if rc < 0 {
            fail(st, step)
        }
    };
    check(libc::dup2(f.devnull, 0).min(libc::dup2(f.out, 1)).min(libc::dup2(f.err, 2)), 0);
    check(libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL), 1);
    check(libc::setsid(), 2);
    check(libc::setns(p.netns, libc::CLONE_NEWNET), 3);
    check(libc::unshare(libc::CLONE_NEWNS | libc::CLONE_NEWPID), 4);
    let slash = c"/".as_ptr();
    check(libc::mount(null(), slash, null(), libc::MS_REC | libc::MS_PRIVATE, null()), 5);
    for (i, op) in p.ops.iter().enumerate() {
        check(run_op(op), OP_STEP + i as u32);
    }
    let pid1 = libc::fork();
    check(pid1, 6);
    if pid1 > 0 {
        // The middle: holds nothing open, so the pipes end when the sandbox does.
        libc::syscall(libc::SYS_close_range, 0u32, u32::MAX, 0u32);
        let status = reap(pid1);
        let code = if libc::WIFEXITED(status) { libc::WEXITSTATUS(status) } else { 128 + libc::WTERMSIG(status) };
        libc::_exit(code);
    }
    check(libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL), 1);
    let proc_flags = libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
    check(libc::mount(c"proc".as_ptr(), p.proc_dir.as_ptr(), c"proc".as_ptr(), proc_flags, null()), 7);
    check(libc::chdir(p.root.as_ptr()), 8);
    let dot = c".".as_ptr();
    check(libc::syscall(libc::SYS_pivot_root, dot, dot) as libc::c_int, 9);
    check(libc::umount2(dot, libc::MNT_DETACH), 10);
    check(libc::chdir(slash), 8);
    let ro = libc::MS_REMOUNT | libc::MS_BIND | libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV;
    check(libc::mount(null(), slash, null(), ro, null()), 11);
    check(libc::setns(p.userns, libc::CLONE_NEWUSER), 12);
    check(libc::setgroups(0, null()).min(libc::setresgid(0, 0, 0)).min(libc::setresuid(0, 0, 0)), 13);
    let own = libc::CLONE_NEWNS | libc::CLONE_NEWUTS | libc::CLONE_NEWIPC | libc::CLONE_NEWCGROUP;
    check(libc::unshare(own), 14);
    check(libc::sethostname(p.hostname.as_ptr(), p.hostname.as_bytes().len()), 15);
    libc::write(f.ready, b"r".as_ptr().cast(), 1);
    let mut go = 0u8;
    if libc::read(f.go, (&mut go as *mut u8).cast(), 1) != 1 {
        libc::_exit(1);
    }
    check(libc::chdir(p.workdir.as_ptr()), 16);
    libc::execve(argv[0], argv.as_ptr(), envp.as_ptr());
    fail(st, 17)
}
