//! The state every namespace reachlab creates starts from, whatever the machine it runs on.
//!
//! A new network namespace copies the IPv4 `conf/all` and `conf/default` settings of the machine's own
//! namespace (`net.core.devconf_inherit_init_net` = 0, the default, or 1), and its `lo` copies them in turn. On a
//! machine running Docker `ip_forward` is 1, so a namespace meant as a plain host would route; other machines
//! set `rp_filter`, `arp_ignore`, `promote_secondaries` … in their sysctl.d. None of that is the lab's, so right
//! after creating a namespace reachlab writes the **kernel's own defaults** (linux/net/ipv4/devinet.c:
//! `ipv4_devconf` for `all`, `ipv4_devconf_dflt` for `default`) into `conf/all`, `conf/default` and `conf/lo`:
//! the state of a freshly booted machine without distribution tweaks. Interfaces created later copy
//! `conf/default`. IPv6 forwarding is turned off too (IPv6 `conf` is reset by the kernel itself unless the
//! machine asks to inherit it). Every other per-namespace IPv4 setting (ICMP, TCP, neighbour parameters) starts
//! at the kernel's default anyway: the kernel does not copy those.

use std::io;
use std::path::Path;

/// `(key, value in conf/all, value in conf/default)`: the kernel's defaults for every IPv4 `conf` setting that
/// changes what reaches what (forwarding, reverse-path filtering, ARP replies and announcements, proxy ARP,
/// redirects, source routing, local and martian addresses …). `forwarding` comes first: writing it resets
/// `accept_redirects` of `all` as a side effect, which the later keys then set explicitly.
pub const IPV4_CONF: &[(&str, &str, &str)] = &[
    ("forwarding", "0", "0"),
    ("rp_filter", "0", "0"),
    ("arp_ignore", "0", "0"),
    ("arp_announce", "0", "0"),
    ("arp_filter", "0", "0"),
    ("arp_accept", "0", "0"),
    ("arp_notify", "0", "0"),
    ("arp_evict_nocarrier", "1", "1"),
    ("accept_local", "0", "0"),
    ("route_localnet", "0", "0"),
    ("proxy_arp", "0", "0"),
    ("proxy_arp_pvlan", "0", "0"),
    ("bc_forwarding", "0", "0"),
    ("accept_redirects", "1", "1"),
    ("secure_redirects", "1", "1"),
    ("send_redirects", "1", "1"),
    ("shared_media", "1", "1"),
    ("accept_source_route", "0", "1"),
    ("src_valid_mark", "0", "0"),
    ("ignore_routes_with_linkdown", "0", "0"),
    ("drop_unicast_in_l2_multicast", "0", "0"),
    ("drop_gratuitous_arp", "0", "0"),
    ("promote_secondaries", "0", "0"),
    ("bootp_relay", "0", "0"),
    ("log_martians", "0", "0"),
    ("disable_policy", "0", "0"),
    ("disable_xfrm", "0", "0"),
];

const CONF: &str = "/proc/sys/net/ipv4/conf";

/// A `conf/SCOPE` directory of the calling thread's namespace, opened once so that each key is opened relative
/// to it (`openat`) instead of walking `/proc/sys/net/ipv4/conf` again for each of a namespace's 81 keys.
/// Older kernels lack some keys (arp_evict_nocarrier came with 5.16), a kernel without IPv6 lacks its
/// directory, and an interface may go while its keys are written: what is not there has nothing to reset.
struct ConfDir {
    dir: Option<std::fs::File>,
    path: std::path::PathBuf,
}

impl ConfDir {
    fn open(path: impl AsRef<Path>) -> io::Result<ConfDir> {
        let path = path.as_ref().to_path_buf();
        let dir = match std::fs::File::open(&path) {
            Ok(dir) => Some(dir),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(io::Error::new(e.kind(), format!("failed to open {}: {e}", path.display()))),
        };
        Ok(ConfDir { dir, path })
    }

    fn write(&self, key: &str, value: &str) -> io::Result<()> {
        use nix::fcntl::{openat, OFlag};
        let Some(dir) = &self.dir else { return Ok(()) };
        let failed =
            |e: io::Error| io::Error::new(e.kind(), format!("failed to write {}: {e}", self.path.join(key).display()));
        match openat(dir, key, OFlag::O_WRONLY | OFlag::O_CLOEXEC, nix::sys::stat::Mode::empty()) {
            Ok(fd) => io::Write::write_all(&mut std::fs::File::from(fd), value.as_bytes()).map_err(failed),
            Err(nix::errno::Errno::ENOENT) => Ok(()),
            Err(e) => Err(failed(e.into())),
        }
    }
}

/// Writes the kernel's defaults into the calling thread's network namespace (call it on a thread that entered
/// a namespace reachlab just created, before any interface but `lo` exists).
pub fn apply_here() -> io::Result<()> {
    let conf = Path::new(CONF);
    let (all, default, lo) =
        (ConfDir::open(conf.join("all"))?, ConfDir::open(conf.join("default"))?, ConfDir::open(conf.join("lo"))?);
    for (key, in_all, in_default) in IPV4_CONF {
        all.write(key, in_all)?;
        default.write(key, in_default)?;
        lo.write(key, in_default)?;
    }
    ConfDir::open("/proc/sys/net/ipv6/conf/all")?.write("forwarding", "0")?;
    ConfDir::open("/proc/sys/net/ipv6/conf/default")?.write("forwarding", "0")
}

/// The IPv4 settings of the calling thread's namespace: `(all, default)` values for every key of
/// [`IPV4_CONF`] the kernel has.
pub fn read_here() -> io::Result<Vec<(&'static str, String, String)>> {
    let conf = Path::new(CONF);
    let mut out = Vec::new();
    for (key, _, _) in IPV4_CONF {
        let read = |scope: &str| std::fs::read_to_string(conf.join(scope).join(key)).map(|v| v.trim().to_string());
        match (read("all"), read("default")) {
            (Ok(a), Ok(d)) => out.push((*key, a, d)),
            (Err(e), _) | (_, Err(e)) if e.kind() == io::ErrorKind::NotFound => {}
            (Err(e), _) | (_, Err(e)) => return Err(e),
        }
    }
    Ok(out)
}

/// Writes settings read by [`read_here`] into the calling thread's namespace — `all` and `default`, and every
/// existing interface gets the `default` values, as an interface created there would — leaving out `keep`
/// (settings someone chose for this namespace on purpose, e.g. a container's `--sysctl`).
pub fn inherit_here(settings: &[(&'static str, String, String)], keep: &[String]) -> io::Result<()> {
    let conf = Path::new(CONF);
    let devices: Vec<ConfDir> = std::fs::read_dir(conf)?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name() != "all" && e.file_name() != "default")
        .map(|e| ConfDir::open(e.path()))
        .collect::<io::Result<_>>()?;
    let (all, default) = (ConfDir::open(conf.join("all"))?, ConfDir::open(conf.join("default"))?);
    for (key, in_all, in_default) in settings {
        if keep.iter().any(|k| k == key) {
            continue;
        }
        all.write(key, in_all)?;
        default.write(key, in_default)?;
        for dev in &devices {
            dev.write(key, in_default)?;
        }
    }
    Ok(())
}
