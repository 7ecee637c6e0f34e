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

fn write(path: &Path, value: &str) -> io::Result<()> {
    match std::fs::write(path, value) {
        // Older kernels lack some keys (arp_evict_nocarrier came with 5.16): nothing to reset there.
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        r => r.map_err(|e| io::Error::new(e.kind(), format!("failed to write {}: {e}", path.display()))),
    }
}

/// Writes the kernel's defaults into the calling thread's network namespace (call it on a thread that entered
/// a namespace reachlab just created, before any interface but `lo` exists).
pub fn apply_here() -> io::Result<()> {
    let conf = Path::new(CONF);
    for (key, all, default) in IPV4_CONF {
        write(&conf.join("all").join(key), all)?;
        write(&conf.join("default").join(key), default)?;
        write(&conf.join("lo").join(key), default)?;
    }
    write(Path::new("/proc/sys/net/ipv6/conf/all/forwarding"), "0")?;
    write(Path::new("/proc/sys/net/ipv6/conf/default/forwarding"), "0")
}

/// IPv4 `conf` values as [`read_here`] reads them: key, value in `all`, value in `default`.
pub type Settings = Vec<(&'static str, String, String)>;

/// One sysctl write: scope (`all`, `default`, `lo`), key, value.
pub type Write = (&'static str, &'static str, &'static str);

/// The writes [`apply_here`] makes: every key of [`IPV4_CONF`] in `all`, `default` and `lo`.
pub fn every_write() -> Vec<Write> {
    IPV4_CONF
        .iter()
        .flat_map(|(key, all, default)| [("all", *key, *all), ("default", *key, *default), ("lo", *key, *default)])
        .collect()
}

/// The writes that give a namespace the kernel's defaults when it starts as a copy of `machine` (its `all` and
/// `default` values per key, as [`read_here`] reads them): only the keys whose value differs (`lo` copies
/// `default` when the namespace is made). Writing `forwarding` in `all` resets `accept_redirects` there, so that
/// is written too whenever `forwarding` is. Pure.
pub fn writes_from(machine: &[(&'static str, String, String)]) -> Vec<Write> {
    let value =
        |key: &str, all: bool| machine.iter().find(|(k, _, _)| *k == key).map(|(_, a, d)| if all { a } else { d });
    let forwarding_all = value("forwarding", true).is_some_and(|v| v != "0");
    let mut out = Vec::new();
    for (key, all, default) in IPV4_CONF {
        let differs = |is_all: bool, want: &str| value(key, is_all).is_some_and(|v| v != want);
        if differs(true, all) || (forwarding_all && *key == "accept_redirects") {
            out.push(("all", *key, *all));
        }
        if differs(false, default) {
            out.push(("default", *key, *default));
            out.push(("lo", *key, *default));
        }
    }
    out
}

/// What a namespace created now starts as, if that is known: the kernel copies the IPv4 `conf` of the machine's
/// own namespace (`devconf_inherit_init_net` 0 or 1, when reachlab runs there) or of the creating one (3, which
/// is reachlab's: only dedicated threads ever change namespace). Read once per process, on a thread in
/// reachlab's own namespace; `None` (then every key is written) when it cannot be known.
fn inherited() -> Option<&'static [(&'static str, String, String)]> {
    static INHERITED: std::sync::OnceLock<Option<Settings>> = std::sync::OnceLock::new();
    INHERITED
        .get_or_init(|| {
            use std::os::unix::fs::MetadataExt;
            let mode = std::fs::read_to_string("/proc/sys/net/core/devconf_inherit_init_net").ok()?;
            let inode = |p: &str| std::fs::metadata(p).ok().map(|m| (m.dev(), m.ino()));
            // In the machine's PID namespace (its inode is the kernel's constant PROC_PID_INIT_INO), PID 1 is
            // the machine's init, whose network namespace is the machine's.
            let init_pid_ns = inode("/proc/thread-self/ns/pid").is_some_and(|(_, ino)| ino == 0xEFFF_FFFC);
            let in_machine_ns = || {
                inode("/proc/thread-self/ns/net").is_some()
                    && inode("/proc/thread-self/ns/net") == inode("/proc/1/ns/net")
            };
            let copies_ours = match mode.trim() {
                "3" => true,
                "0" | "1" => init_pid_ns && in_machine_ns(),
                _ => false,
            };
            copies_ours.then(read_here)?.ok()
        })
        .as_deref()
}

/// The writes a namespace about to be created needs (call it in reachlab's own namespace, before creating).
pub fn writes_for_new() -> Vec<Write> {
    inherited().map_or_else(every_write, writes_from)
}

/// Makes `writes` in the calling thread's network namespace, then turns IPv6 forwarding off.
pub fn apply_writes_here(writes: &[Write]) -> io::Result<()> {
    let conf = Path::new(CONF);
    for (scope, key, value) in writes {
        write(&conf.join(scope).join(key), value)?;
    }
    write(Path::new("/proc/sys/net/ipv6/conf/all/forwarding"), "0")?;
    write(Path::new("/proc/sys/net/ipv6/conf/default/forwarding"), "0")
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
    let devices: Vec<String> = std::fs::read_dir(conf)?
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .filter(|n| n != "all" && n != "default")
        .collect();
    for (key, all, default) in settings {
        if keep.iter().any(|k| k == key) {
            continue;
        }
        write(&conf.join("all").join(key), all)?;
        write(&conf.join("default").join(key), default)?;
        for dev in &devices {
            write(&conf.join(dev).join(key), default)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_what_the_copy_gets_wrong_is_written() {
        // A machine running Docker: forwarding on; everything else at the kernel's defaults.
        let mut machine: Vec<(&'static str, String, String)> =
            IPV4_CONF.iter().map(|(k, a, d)| (*k, a.to_string(), d.to_string())).collect();
        assert!(writes_from(&machine).is_empty(), "a copy of the defaults needs nothing");
        machine[0] = ("forwarding", "1".into(), "1".into());
        let rp = machine.iter_mut().find(|(k, _, _)| *k == "rp_filter").unwrap();
        rp.2 = "2".into();
        assert_eq!(
            writes_from(&machine),
            [
                ("all", "forwarding", "0"),
                ("default", "forwarding", "0"),
                ("lo", "forwarding", "0"),
                ("default", "rp_filter", "0"),
                ("lo", "rp_filter", "0"),
                ("all", "accept_redirects", "1"),
            ]
        );
        assert_eq!(every_write().len(), IPV4_CONF.len() * 3);
    }
}
