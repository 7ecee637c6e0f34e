//! The netfilter path of one probe inside one lab namespace: which tables, chains and rules its packets went
//! through, and which rule dropped or rewrote them.
//!
//! A [`Tracer`] installs a table of its own (`table inet reachlab_trace_XXXXXXXX`) whose chains, hooked at
//! prerouting and output at priority -350 (before raw, conntrack, NAT and filter), set `meta nftrace` on the
//! probe's own packets only ([`ProbeKey`]: the ICMP echo identifier and sequence, or the UDP/TCP ports, in both
//! directions). The kernel then reports every rule those packets match, in every nft table of the namespace —
//! iptables-nft's too, which is where a container engine's rules are — as `NFT_MSG_TRACE` events on the
//! multicast group `NFNLGRP_NFTRACE`, read here from a netlink socket of our own created inside the namespace.
//! When the probe is over, [`Tracer::finish`] reads the events, lists the ruleset (`nft -a list ruleset`, and
//! `iptables-save` for the words the rules were written in) to turn rule handles into text, and deletes the
//! table. Dropping a tracer deletes it too, so an error or a panic leaves nothing; a killed process leaves the
//! table in a namespace the lab's own teardown removes.
//!
//! Addresses are deliberately not part of the match: NAT rewrites them between the hooks (a masqueraded
//! reply arrives addressed to the router), while the identifier and sequence survive it.
//!
//! Only namespaces reachlab made may be traced: the machine's own namespace (PID 1's, the process's, or the
//! calling thread's) is refused before anything is installed.

pub mod events;
pub mod ruleset;
pub mod trace;

pub use trace::{steps, Arrival, Decider, Trace, TraceStep, Verdict};

use crate::kernel::netns::{self, Netns};
use events::RawEvent;
use ruleset::Ruleset;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The prefix of every table a tracer installs: `clean` may remove what carries it.
pub const TABLE_PREFIX: &str = "reachlab_trace_";
/// The priority of the tracer's chains: before raw (-300), conntrack (-200), DNAT (-100) and filter (0).
pub const PRIORITY: i32 = -350;
/// The receive buffer asked for: a packet's trip through a container engine's ruleset is a few dozen events.
const RECEIVE_BUFFER: libc::c_int = 4 << 20;
/// Reading stops after this long without an event.
const QUIET: Duration = Duration::from_millis(20);
/// … or after this long in all.
const MAX_DRAIN: Duration = Duration::from_secs(2);

/// Which way a probe's packet was going.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Leg {
    /// From the source towards the destination (echo request, the probe's datagram or SYN).
    Request,
    /// Back (echo reply, the answer's datagram or segment).
    Reply,
}

/// What identifies one probe's packets, in both directions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ProbeKey {
    /// ICMP echo request and reply with this identifier and sequence.
    Echo {
        /// Identifier.
        ident: u16,
        /// Sequence number.
        seq: u16,
    },
    /// UDP from `src_port` to `dst_port`, and back.
    Udp {
        /// The probe's source port.
        src_port: u16,
        /// The destination port.
        dst_port: u16,
    },
    /// TCP from `src_port` to `dst_port`, and back.
    Tcp {
        /// The probe's source port.
        src_port: u16,
        /// The destination port.
        dst_port: u16,
    },
}

impl ProbeKey {
    /// The nft match expressions, one per rule, that select this probe's packets.
    pub fn nft_matches(&self) -> Vec<String> {
        match *self {
            ProbeKey::Echo { ident, seq } => {
                vec![format!("icmp type {{ echo-request, echo-reply }} icmp id {ident} icmp sequence {seq}")]
            }
            ProbeKey::Udp { src_port: s, dst_port: d } => {
                vec![format!("udp sport {s} udp dport {d}"), format!("udp sport {d} udp dport {s}")]
            }
            ProbeKey::Tcp { src_port: s, dst_port: d } => {
                vec![format!("tcp sport {s} tcp dport {d}"), format!("tcp sport {d} tcp dport {s}")]
            }
        }
    }

    /// Which leg a packet with these IPv4 and transport headers is, if it is one of this probe's.
    pub fn leg(&self, network: &[u8], transport: &[u8]) -> Option<Leg> {
        if network.first()? >> 4 != 4 {
            return None;
        }
        let protocol = *network.get(9)?;
        let be = |at: usize| Some(u16::from_be_bytes([*transport.get(at)?, *transport.get(at + 1)?]));
        match *self {
            ProbeKey::Echo { ident, seq } if protocol == 1 => {
                if (be(4)?, be(6)?) != (ident, seq) {
                    return None;
                }
                match transport.first()? {
                    8 => Some(Leg::Request),
                    0 => Some(Leg::Reply),
                    _ => None,
                }
            }
            ProbeKey::Udp { src_port, dst_port } if protocol == 17 => ports_leg(be(0)?, be(2)?, src_port, dst_port),
            ProbeKey::Tcp { src_port, dst_port } if protocol == 6 => ports_leg(be(0)?, be(2)?, src_port, dst_port),
            _ => None,
        }
    }
}

fn ports_leg(sport: u16, dport: u16, src_port: u16, dst_port: u16) -> Option<Leg> {
    if (sport, dport) == (src_port, dst_port) {
        Some(Leg::Request)
    } else if (sport, dport) == (dst_port, src_port) {
        Some(Leg::Reply)
    } else {
        None
    }
}

/// Why a trace could not be made.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    /// The namespace is the machine's own: reachlab adds nothing there.
    #[error(
        "refusing to trace in namespace {namespace}: it is the machine's own network namespace, not one reachlab made"
    )]
    MachineNamespace {
        /// The namespace's name.
        namespace: String,
    },
    /// A system call or a command could not run.
    #[error("failed to {op} in namespace {namespace}: {source}")]
    Io {
        /// What was being done.
        op: String,
        /// The namespace.
        namespace: String,
        /// The error.
        source: io::Error,
    },
    /// nft refused.
    #[error("failed to {op} in namespace {namespace}: nft said: {stderr}")]
    Nft {
        /// What was being done.
        op: String,
        /// The namespace.
        namespace: String,
        /// nft's message.
        stderr: String,
    },
}

/// Whether `ns` is the machine's own namespace or the calling thread's (compared by device and inode, before
/// anything enters it).
pub fn is_forbidden(ns: &Netns) -> io::Result<bool> {
    let held = ns.file().metadata()?;
    let same = |p: &str| std::fs::metadata(p).is_ok_and(|m| m.ino() == held.ino() && m.dev() == held.dev());
    Ok(ns.is_machine_root()? || same("/proc/thread-self/ns/net"))
}

/// Runs `f` on a new thread inside `ns` and waits for it (blocking: call from a blocking context).
fn blocking_in<T: Send + 'static>(ns: &Netns, f: impl FnOnce() -> io::Result<T> + Send + 'static) -> io::Result<T> {
    let file = Arc::new(ns.file().try_clone()?);
    std::thread::Builder::new()
        .name(format!("nftrace-{}", ns.name))
        .spawn(move || {
            nix::sched::setns(file.as_ref(), nix::sched::CloneFlags::CLONE_NEWNET)
                .map_err(|e| io::Error::from_raw_os_error(e as i32))?;
            f()
        })?
        .join()
        .map_err(|_| io::Error::other("namespace thread panicked"))?
}

/// How many nft tables `ns` holds (any family; iptables-nft's included), asked over netlink
/// (`NFT_MSG_GETTABLE` dump) without starting a process. A namespace with none has no rule that could drop or
/// rewrite a packet, so tracing it would show nothing.
pub async fn table_count(ns: &Netns) -> io::Result<usize> {
    let ns = ns.clone();
    tokio::task::spawn_blocking(move || blocking_in(&ns, count_tables)).await.map_err(io::Error::other)?
}

fn count_tables() -> io::Result<usize> {
    const NFNL_SUBSYS_NFTABLES: u16 = 10;
    const NFT_MSG_NEWTABLE: u16 = 0;
    const NFT_MSG_GETTABLE: u16 = 1;
    // SAFETY: socket(2); ownership of a valid descriptor goes to the OwnedFd.
    let fd = unsafe { libc::socket(libc::AF_NETLINK, libc::SOCK_RAW | libc::SOCK_CLOEXEC, libc::NETLINK_NETFILTER) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a fresh descriptor that nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // nlmsghdr (16 bytes) + nfgenmsg (family AF_UNSPEC: every family, version 0, res_id 0).
    let mut request = Vec::with_capacity(20);
    request.extend_from_slice(&20u32.to_ne_bytes());
    request.extend_from_slice(&((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETTABLE).to_ne_bytes());
    request.extend_from_slice(&((libc::NLM_F_REQUEST | libc::NLM_F_DUMP) as u16).to_ne_bytes());
    request.extend_from_slice(&1u32.to_ne_bytes());
    request.extend_from_slice(&0u32.to_ne_bytes());
    request.extend_from_slice(&[0, 0, 0, 0]);
    // SAFETY: send(2) of a live buffer of the given length.
    if unsafe { libc::send(fd.as_raw_fd(), request.as_ptr().cast(), request.len(), 0) } < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut buf = vec![0u8; 64 << 10];
    let mut tables = 0;
    loop {
        // SAFETY: recv(2) into a live buffer of the given length.
        let n = unsafe { libc::recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            return Err(e);
        }
        let mut b = &buf[..n as usize];
        while b.len() >= 16 {
            let len = u32::from_ne_bytes([b[0], b[1], b[2], b[3]]) as usize;
            let kind = u16::from_ne_bytes([b[4], b[5]]);
            if len < 16 || len > b.len() {
                return Ok(tables);
            }
            match kind as libc::c_int {
                libc::NLMSG_DONE => return Ok(tables),
                libc::NLMSG_ERROR if len < 20 => return Ok(tables),
                libc::NLMSG_ERROR => {
                    let errno = i32::from_ne_bytes([b[16], b[17], b[18], b[19]]);
                    return if errno == 0 { Ok(tables) } else { Err(io::Error::from_raw_os_error(-errno)) };
                }
                _ if kind == (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWTABLE => tables += 1,
                _ => {}
            }
            b = &b[((len + 3) & !3).min(b.len())..];
        }
        if n == 0 {
            return Ok(tables);
        }
    }
}

/// Runs `nft ARGS` (with `stdin` as its input) in the calling thread's namespace.
fn nft(args: &[&str], stdin: Option<&str>) -> io::Result<Result<String, String>> {
    use std::process::{Command, Stdio};
    let mut child = Command::new("nft")
        .args(args)
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| io::Error::new(e.kind(), format!("failed to run nft (is nftables installed?): {e}")))?;
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(text.as_bytes())?;
    }
    let out = child.wait_with_output()?;
    Ok(if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
    })
}

/// The tracer's table, in nft's input language.
pub fn table_script(table: &str, key: &ProbeKey) -> String {
    let rules: String = key.nft_matches().iter().map(|m| format!("\t\t{m} meta nftrace set 1\n")).collect();
    let chain = |name: &str| {
        format!("\tchain {name} {{\n\t\ttype filter hook {name} priority {PRIORITY}; policy accept;\n{rules}\t}}\n")
    };
    format!("table inet {table} {{\n{}{}}}\n", chain("prerouting"), chain("output"))
}

/// Opens the trace socket (call inside the namespace): NETLINK_NETFILTER, joined to `NFNLGRP_NFTRACE`.
fn open_socket() -> io::Result<OwnedFd> {
    // SAFETY: socket(2); ownership of a valid descriptor goes to the OwnedFd.
    let fd = unsafe { libc::socket(libc::AF_NETLINK, libc::SOCK_RAW | libc::SOCK_CLOEXEC, libc::NETLINK_NETFILTER) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a fresh descriptor that nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let set = |level: libc::c_int, option: libc::c_int, value: *const libc::c_void, len: usize| {
        // SAFETY: `value` points to `len` live bytes for the duration of the call.
        let rc = unsafe { libc::setsockopt(fd.as_raw_fd(), level, option, value, len as libc::socklen_t) };
        if rc == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    };
    let size = RECEIVE_BUFFER;
    let int = std::mem::size_of::<libc::c_int>();
    set(libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, (&size as *const libc::c_int).cast(), int)
        .or_else(|_| set(libc::SOL_SOCKET, libc::SO_RCVBUF, (&size as *const libc::c_int).cast(), int))?;
    let timeout = libc::timeval { tv_sec: 0, tv_usec: QUIET.as_micros() as libc::suseconds_t };
    set(
        libc::SOL_SOCKET,
        libc::SO_RCVTIMEO,
        (&timeout as *const libc::timeval).cast(),
        std::mem::size_of::<libc::timeval>(),
    )?;
    // SAFETY: an all-zero sockaddr_nl is valid; the family is set below.
    let mut addr: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
    addr.nl_family = libc::AF_NETLINK as libc::sa_family_t;
    // SAFETY: bind(2) with a live sockaddr_nl and its size.
    let rc = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&addr as *const libc::sockaddr_nl).cast(),
            std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    let group = events::NFNLGRP_NFTRACE;
    set(libc::SOL_NETLINK, libc::NETLINK_ADD_MEMBERSHIP, (&group as *const u32).cast(), std::mem::size_of::<u32>())?;
    Ok(fd)
}

/// Reads what is queued on the trace socket until it has been quiet for [`QUIET`]: the events, and whether
/// the kernel dropped some (ENOBUFS).
fn drain(fd: &OwnedFd) -> io::Result<(Vec<RawEvent>, bool)> {
    let mut buf = vec![0u8; 256 << 10];
    let (mut events, mut lost) = (Vec::new(), false);
    let start = Instant::now();
    while start.elapsed() < MAX_DRAIN {
        // SAFETY: recv(2) into a live buffer of the given length.
        let n = unsafe { libc::recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n < 0 {
            let e = io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EAGAIN) => break,
                Some(libc::EINTR) => continue,
                Some(libc::ENOBUFS) => {
                    lost = true;
                    continue;
                }
                _ => return Err(e),
            }
        }
        events.extend(events::parse_datagram(&buf[..n as usize]));
    }
    Ok((events, lost))
}

/// What a tracer found out in its namespace when it finished (read there, on one thread).
struct Listing {
    ruleset: Ruleset,
    names: BTreeMap<u32, String>,
}

fn list(indexes: BTreeSet<u32>) -> io::Result<Result<Listing, String>> {
    let text = match nft(&["-a", "list", "ruleset"], None)? {
        Ok(t) => t,
        Err(e) => return Ok(Err(e)),
    };
    let mut ruleset = Ruleset::parse_nft(&text);
    // Without iptables (or for tables it does not manage) the rules keep nft's words.
    if let Ok(out) = std::process::Command::new("iptables-save").output() {
        if out.status.success() {
            ruleset.attach_iptables_save(&String::from_utf8_lossy(&out.stdout));
        }
    }
    let mut names = BTreeMap::new();
    for index in indexes {
        let mut buf = [0 as libc::c_char; libc::IF_NAMESIZE];
        // SAFETY: `buf` has room for IF_NAMESIZE bytes, as if_indextoname(3) requires.
        let p = unsafe { libc::if_indextoname(index, buf.as_mut_ptr()) };
        if !p.is_null() {
            // SAFETY: on success the buffer holds a NUL-terminated name.
            let name = unsafe { std::ffi::CStr::from_ptr(buf.as_ptr()) };
            names.insert(index, name.to_string_lossy().into_owned());
        }
    }
    Ok(Ok(Listing { ruleset, names }))
}

/// Whether the table is there, shared by the install thread and whoever removes it, so that removal always
/// comes after an install that has started and an install that has not started never happens.
#[derive(Debug, Default)]
struct TableState {
    cancelled: bool,
}

/// A trace being taken in one namespace. [`Tracer::finish`] returns what it saw; dropping it removes the
/// table without reading.
#[derive(Debug)]
pub struct Tracer {
    ns: Netns,
    table: String,
    key: ProbeKey,
    socket: Arc<OwnedFd>,
    state: Arc<Mutex<TableState>>,
    removed: bool,
}

impl Tracer {
    /// Starts tracing the packets of `key` in `ns`: joins the trace group, then installs the table.
    pub async fn start(ns: &Netns, key: ProbeKey) -> Result<Tracer, TraceError> {
        let io_err = |op: &str| {
            let (op, namespace) = (op.to_string(), ns.name.clone());
            move |source| TraceError::Io { op, namespace, source }
        };
        if is_forbidden(ns).map_err(io_err("tell whose namespace it is"))? {
            return Err(TraceError::MachineNamespace { namespace: ns.name.clone() });
        }
        let socket = netns::within(ns, open_socket).await.map_err(io_err("open the nftrace netlink socket"))?;
        let table = format!("{TABLE_PREFIX}{:08x}", rand::random::<u32>());
        let tracer = Tracer {
            ns: ns.clone(),
            table: table.clone(),
            key,
            socket: Arc::new(socket),
            state: Arc::default(),
            removed: false,
        };
        let (state, script, target) = (tracer.state.clone(), table_script(&table, &key), ns.clone());
        let installed = tokio::task::spawn_blocking(move || {
            let guard = state.lock().unwrap_or_else(|e| e.into_inner());
            if guard.cancelled {
                return Ok(Err("cancelled".to_string()));
            }
            blocking_in(&target, move || nft(&["-f", "-"], Some(&script)))
        })
        .await
        .map_err(|e| io_err("install the trace table")(io::Error::other(e)))?
        .map_err(io_err("install the trace table"))?;
        if let Err(stderr) = installed {
            return Err(TraceError::Nft { op: format!("add table inet {table}"), namespace: ns.name.clone(), stderr });
        }
        Ok(tracer)
    }

    /// The name of the table this tracer installed.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// Reads the events, names the rules, removes the table, and returns the probe's steps.
    pub async fn finish(mut self) -> Result<Trace, TraceError> {
        let namespace = self.ns.name.clone();
        let io_err = |op: &'static str| {
            let namespace = namespace.clone();
            move |source| TraceError::Io { op: op.to_string(), namespace, source }
        };
        let socket = self.socket.clone();
        let (events, lost) = tokio::task::spawn_blocking(move || drain(&socket))
            .await
            .map_err(|e| io_err("read trace events")(io::Error::other(e)))?
            .map_err(io_err("read trace events"))?;
        let indexes: BTreeSet<u32> = events.iter().flat_map(|e| [e.iif, e.oif]).flatten().collect();
        let listing = netns::within(&self.ns, move || list(indexes)).await.map_err(io_err("list the ruleset"))?;
        let removed = self.remove_blocking().await;
        let listing = listing.map_err(|stderr| TraceError::Nft {
            op: "list the ruleset".into(),
            namespace: namespace.clone(),
            stderr,
        })?;
        removed?;
        let (arrivals, steps) = steps(&events, &self.key, &self.table, &listing.ruleset, &listing.names);
        Ok(Trace { namespace, key: self.key, arrivals, steps, lost_events: lost })
    }

    async fn remove_blocking(&mut self) -> Result<(), TraceError> {
        let (ns, table, state) = (self.ns.clone(), self.table.clone(), self.state.clone());
        let r = tokio::task::spawn_blocking(move || remove(&ns, &table, &state)).await.unwrap_or_else(|e| {
            Err(TraceError::Io {
                op: "remove the trace table".into(),
                namespace: self.ns.name.clone(),
                source: io::Error::other(e),
            })
        });
        self.removed = r.is_ok();
        r
    }
}

/// Deletes the table (blocking). Already gone is success.
fn remove(ns: &Netns, table: &str, state: &Mutex<TableState>) -> Result<(), TraceError> {
    let mut guard = state.lock().unwrap_or_else(|e| e.into_inner());
    guard.cancelled = true;
    let name = table.to_string();
    let out = blocking_in(ns, move || nft(&["delete", "table", "inet", &name], None)).map_err(|source| {
        TraceError::Io { op: format!("remove table inet {table}"), namespace: ns.name.clone(), source }
    })?;
    match out {
        Ok(_) => Ok(()),
        Err(stderr) if stderr.contains("No such file or directory") => Ok(()),
        Err(stderr) => {
            Err(TraceError::Nft { op: format!("remove table inet {table}"), namespace: ns.name.clone(), stderr })
        }
    }
}

impl Drop for Tracer {
    fn drop(&mut self) {
        if !self.removed {
            let _ = remove(&self.ns, &self.table, &self.state);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::events::build::message;
    use super::*;
    use std::collections::BTreeMap;
    use std::net::Ipv4Addr;

    fn ip(proto: u8, src: [u8; 4], dst: [u8; 4]) -> Vec<u8> {
        let mut h = vec![0x45, 0, 0, 84, 0, 0, 0, 0, 64, proto, 0, 0];
        h.extend_from_slice(&src);
        h.extend_from_slice(&dst);
        h
    }

    #[test]
    fn the_table_marks_only_the_probe_in_both_directions() {
        let script = table_script("reachlab_trace_0000beef", &ProbeKey::Echo { ident: 4660, seq: 3 });
        assert_eq!(
            script,
            "table inet reachlab_trace_0000beef {\n\
             \tchain prerouting {\n\t\ttype filter hook prerouting priority -350; policy accept;\n\
             \t\ticmp type { echo-request, echo-reply } icmp id 4660 icmp sequence 3 meta nftrace set 1\n\t}\n\
             \tchain output {\n\t\ttype filter hook output priority -350; policy accept;\n\
             \t\ticmp type { echo-request, echo-reply } icmp id 4660 icmp sequence 3 meta nftrace set 1\n\t}\n}\n"
        );
        let udp = ProbeKey::Udp { src_port: 40000, dst_port: 53 };
        assert_eq!(udp.nft_matches(), ["udp sport 40000 udp dport 53", "udp sport 53 udp dport 40000"]);
    }

    #[test]
    fn legs_are_told_by_identifier_never_by_address() {
        let key = ProbeKey::Echo { ident: 0x1234, seq: 1 };
        let net = ip(1, [10, 1, 0, 2], [10, 2, 0, 2]);
        assert_eq!(key.leg(&net, &[8, 0, 0, 0, 0x12, 0x34, 0, 1]), Some(Leg::Request));
        assert_eq!(key.leg(&net, &[0, 0, 0, 0, 0x12, 0x34, 0, 1]), Some(Leg::Reply));
        assert_eq!(key.leg(&net, &[8, 0, 0, 0, 0x12, 0x35, 0, 1]), None, "another identifier");
        assert_eq!(key.leg(&net, &[8, 0, 0, 0, 0x12, 0x34, 0, 2]), None, "another sequence");
        assert_eq!(key.leg(&ip(17, [10, 1, 0, 2], [10, 2, 0, 2]), &[8, 0, 0, 0, 0x12, 0x34, 0, 1]), None);
        let udp = ProbeKey::Udp { src_port: 40000, dst_port: 53 };
        let u = ip(17, [1, 1, 1, 1], [2, 2, 2, 2]);
        assert_eq!(udp.leg(&u, &[0x9c, 0x40, 0, 53]), Some(Leg::Request));
        assert_eq!(udp.leg(&u, &[0, 53, 0x9c, 0x40]), Some(Leg::Reply));
        assert_eq!(udp.leg(&u, &[0, 53, 0, 53]), None);
    }

    #[test]
    fn verdict_codes() {
        assert_eq!(Verdict::from_code(0, None), Verdict::Drop);
        assert_eq!(Verdict::from_code(1, None), Verdict::Accept);
        assert_eq!(Verdict::from_code(-3, Some("X".into())), Verdict::Jump { chain: "X".into() });
        assert_eq!(Verdict::from_code(3 | (2 << 16), None), Verdict::Queue, "a queue number in the upper bits");
        assert_eq!(Verdict::from_code(-9, None), Verdict::Unknown { code: -9 });
    }

    /// A request through a jump to a dropping rule, the tracer's own events, and another packet's.
    #[test]
    fn steps_follow_the_probe_through_jumps_and_leave_out_the_rest() {
        let ruleset = {
            let mut r = Ruleset::parse_nft(
                "table ip filter { # handle 1\n\tchain FORWARD { # handle 1\n\t\ttype filter hook forward priority filter; policy accept;\n\t\tcounter packets 1 bytes 84 jump ISOLATE # handle 4\n\t}\n\tchain ISOLATE { # handle 3\n\t\tip daddr 10.2.0.2 counter packets 1 bytes 84 drop # handle 6\n\t}\n}\ntable ip nat { # handle 2\n\tchain POSTROUTING { # handle 1\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n\t\tip saddr 10.1.0.0/24 xt target \"MASQUERADE\" # handle 2\n\t}\n}\n",
            );
            r.attach_iptables_save("*filter\n-A FORWARD -j ISOLATE\n-A ISOLATE -d 10.2.0.2/32 -j DROP\nCOMMIT\n*nat\n-A POSTROUTING -s 10.1.0.0/24 -j MASQUERADE\nCOMMIT\n");
            r
        };
        let key = ProbeKey::Echo { ident: 0x1234, seq: 1 };
        let ours = ip(1, [10, 1, 0, 2], [10, 2, 0, 2]);
        let req = [8u8, 0, 0, 0, 0x12, 0x34, 0, 1];
        let other = [8u8, 0, 0, 0, 0x99, 0x99, 0, 1];
        let mut dgram = Vec::new();
        let own = "reachlab_trace_1";
        dgram.extend(message(1, 5, own, "prerouting", 3, Some(4), Some((-1, None)), Some((&ours, &req))));
        dgram.extend(message(1, 5, own, "prerouting", 1, None, Some((1, None)), None));
        dgram.extend(message(
            2,
            9,
            "filter",
            "FORWARD",
            3,
            Some(4),
            Some((-3, Some("ISOLATE"))),
            Some((&ours, &other)),
        ));
        dgram.extend(message(2, 5, "filter", "FORWARD", 3, Some(4), Some((-3, Some("ISOLATE"))), Some((&ours, &req))));
        dgram.extend(message(2, 5, "filter", "ISOLATE", 3, Some(6), Some((0, None)), None));
        let events = events::parse_datagram(&dgram);
        let names = BTreeMap::from([(3, "vma".to_string())]);
        let (arrivals, steps) = steps(&events, &key, own, &ruleset, &names);
        assert_eq!(steps.len(), 2, "{steps:#?}");
        assert_eq!(arrivals.len(), 1);
        assert_eq!(
            (arrivals[0].leg, arrivals[0].hook.as_str(), arrivals[0].iif.as_deref()),
            (Leg::Request, "prerouting", Some("vma"))
        );
        assert_eq!(steps[0].summary(), "FORWARD JUMP ISOLATE");
        let drop = &steps[1];
        assert_eq!((drop.base_chain.as_deref(), drop.hook.as_deref()), (Some("FORWARD"), Some("forward")));
        assert_eq!(drop.iif.as_deref(), Some("vma"));
        assert_eq!((drop.src, drop.dst), (Some(Ipv4Addr::new(10, 1, 0, 2)), Some(Ipv4Addr::new(10, 2, 0, 2))));
        assert_eq!(drop.summary(), "FORWARD ISOLATE DROP");
        let trace = Trace { namespace: "m".into(), key, arrivals, steps: steps.clone(), lost_events: false };
        assert_eq!(trace.dropped(Leg::Request), Some(drop));
        assert_eq!(trace.dropped(Leg::Reply), None);

        let nat = TraceStep {
            chain: "POSTROUTING".into(),
            base_chain: Some("POSTROUTING".into()),
            table: "nat".into(),
            decider: Decider::Rule {
                handle: 2,
                nft: None,
                iptables: ruleset.rule("ip", "nat", "POSTROUTING", 2).unwrap().iptables.clone(),
            },
            verdict: Verdict::Accept,
            ..drop.clone()
        };
        assert!(nat.is_nat());
        assert_eq!(nat.summary(), "POSTROUTING MASQUERADE 10.1.0.0/24");
    }
}
