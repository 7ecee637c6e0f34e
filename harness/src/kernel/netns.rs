//! Named network namespaces, made the way `ip netns add` makes them but without forking: a dedicated thread
//! unshares its network namespace and bind-mounts `/proc/thread-self/ns/net` onto `/run/netns/NAME`.
//!
//! A socket belongs to the namespace it was created in, so [`within`] runs a closure on a fresh thread that
//! entered the namespace (never on a tokio worker) and hands the result back.

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{setns, unshare, CloneFlags};
use std::fs::File;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Where named namespaces live, as for iproute2.
pub const NETNS_DIR: &str = "/run/netns";

/// An open named namespace. Holding the file keeps the namespace alive even if its mount disappears.
#[derive(Debug, Clone)]
pub struct Netns {
    /// The kernel-visible (run-scoped) name.
    pub name: String,
    /// Its mount point.
    pub path: PathBuf,
    file: Arc<File>,
}

impl Netns {
    /// Opens an existing namespace file (a mount point under /run/netns, or /proc/PID/ns/net).
    pub fn open(name: &str, path: &Path) -> io::Result<Netns> {
        let file = File::open(path)?;
        Ok(Netns { name: name.to_string(), path: path.to_path_buf(), file: Arc::new(file) })
    }

    /// The open namespace file.
    pub fn file(&self) -> &File {
        &self.file
    }

    /// Whether `path` still names the namespace this handle holds (it was not deleted, or replaced by another
    /// of the same name). Holding the file keeps a deleted namespace alive, so probes would still work in it:
    /// this is how a lab that changed under a run is noticed.
    pub fn still_at_path(&self) -> bool {
        let Ok(held) = self.file.metadata() else { return false };
        std::fs::metadata(&self.path).is_ok_and(|m| m.ino() == held.ino() && m.dev() == held.dev())
    }

    /// Whether this is the machine's own network namespace: that of PID 1 (when visible) or the one reachlab
    /// was started in (its main thread never changes namespace).
    pub fn is_machine_root(&self) -> io::Result<bool> {
        let me = self.file.metadata()?;
        let same = |p: &str| std::fs::metadata(p).is_ok_and(|m| m.ino() == me.ino() && m.dev() == me.dev());
        Ok(same("/proc/1/ns/net") || same("/proc/self/ns/net"))
    }
}

fn errno(e: nix::Error) -> io::Error {
    io::Error::from_raw_os_error(e as i32)
}

/// Makes /run/netns a shared mount point, as iproute2 does, so namespace mounts propagate.
fn prepare_dir() -> io::Result<()> {
    std::fs::create_dir_all(NETNS_DIR)?;
    match mount(None::<&str>, NETNS_DIR, None::<&str>, MsFlags::MS_SHARED | MsFlags::MS_REC, None::<&str>) {
        Ok(()) => Ok(()),
        Err(nix::Error::EINVAL) => {
            mount(Some(NETNS_DIR), NETNS_DIR, None::<&str>, MsFlags::MS_BIND | MsFlags::MS_REC, None::<&str>)
                .map_err(errno)?;
            mount(None::<&str>, NETNS_DIR, None::<&str>, MsFlags::MS_SHARED | MsFlags::MS_REC, None::<&str>)
                .map_err(errno)
        }
        Err(e) => Err(errno(e)),
    }
}

/// Creates the named namespace `/run/netns/NAME`. Fails if it exists.
pub fn create(name: &str) -> io::Result<Netns> {
    prepare_dir()?;
    let path = Path::new(NETNS_DIR).join(name);
    std::fs::OpenOptions::new().write(true).create_new(true).open(&path)?;
    let target = path.clone();
    let made = std::thread::spawn(move || -> io::Result<()> {
        // This thread's namespace changes; the thread ends right after, so no other code ever runs in it.
        unshare(CloneFlags::CLONE_NEWNET).map_err(errno)?;
        // Not the machine's settings: the kernel's own defaults (see `baseline`).
        super::baseline::apply_here()?;
        mount(Some("/proc/thread-self/ns/net"), &target, None::<&str>, MsFlags::MS_BIND, None::<&str>).map_err(errno)
    })
    .join()
    .map_err(|_| io::Error::other("namespace thread panicked"))?;
    if let Err(e) = made {
        let _ = std::fs::remove_file(&path);
        return Err(e);
    }
    Netns::open(name, &path)
}

/// Names an existing namespace (`source`, an open namespace file, e.g. one a user namespace owns) as
/// `/run/netns/NAME`, and gives it the kernel's defaults as [`create`] does. Fails if the name exists.
pub fn create_from(name: &str, source: &File) -> io::Result<Netns> {
    use std::os::fd::AsRawFd;
    prepare_dir()?;
    let path = Path::new(NETNS_DIR).join(name);
    std::fs::OpenOptions::new().write(true).create_new(true).open(&path)?;
    let fd = format!("/proc/self/fd/{}", source.as_raw_fd());
    let made = mount(Some(fd.as_str()), &path, None::<&str>, MsFlags::MS_BIND, None::<&str>).map_err(errno);
    if let Err(e) = made {
        let _ = std::fs::remove_file(&path);
        return Err(e);
    }
    let file = Arc::new(File::open(&path)?);
    let held = file.clone();
    std::thread::spawn(move || -> io::Result<()> {
        setns(held.as_ref(), CloneFlags::CLONE_NEWNET).map_err(errno)?;
        super::baseline::apply_here()
    })
    .join()
    .map_err(|_| io::Error::other("namespace thread panicked"))??;
    Ok(Netns { name: name.to_string(), path, file })
}

/// Removes a named namespace mount and its file. Already gone is success.
pub fn remove(path: &Path) -> io::Result<()> {
    match umount2(path, MntFlags::MNT_DETACH) {
        Ok(()) | Err(nix::Error::EINVAL) | Err(nix::Error::ENOENT) => {}
        Err(e) => return Err(errno(e)),
    }
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Runs `f` on a new thread that entered `ns`, with the current tokio runtime entered (so sockets it creates
/// can be registered), and returns its result. The thread ends afterwards.
pub async fn within<T, F>(ns: &Netns, f: F) -> io::Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> io::Result<T> + Send + 'static,
{
    let file = ns.file.clone();
    let runtime = tokio::runtime::Handle::current();
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new().name(format!("netns-{}", ns.name)).spawn(move || {
        let result = setns(file.as_ref(), CloneFlags::CLONE_NEWNET).map_err(errno).and_then(|()| {
            let _guard = runtime.enter();
            f()
        });
        let _ = tx.send(result);
    })?;
    rx.await.map_err(|_| io::Error::other("namespace thread panicked"))?
}

/// Runs `f` on a new thread inside a fresh anonymous namespace that disappears with the thread (for feature
/// probes: nothing to clean up, ever).
pub fn scratch<T: Send + 'static>(f: impl FnOnce() -> io::Result<T> + Send + 'static) -> io::Result<T> {
    std::thread::spawn(move || {
        unshare(CloneFlags::CLONE_NEWNET).map_err(errno)?;
        f()
    })
    .join()
    .map_err(|_| io::Error::other("scratch namespace thread panicked"))?
}
