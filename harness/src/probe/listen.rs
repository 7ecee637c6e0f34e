//! Listeners reachlab opens in a destination's namespace for UDP and TCP probes. One listener per
//! (namespace, protocol, port), shared by every probe to it; each probe carries a unique token, so a probe is
//! delivered only when the listener received *its* token — nothing else in the lab can fake that.

use super::nodes::Nodes;
use crate::kernel::netns::{self, Netns};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::os::unix::fs::MetadataExt;
use std::sync::{Arc, Mutex};
use tokio::io::AsyncReadExt;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Transport protocol of a listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Proto {
    /// UDP.
    Udp,
    /// TCP.
    Tcp,
}

type Waiters = Arc<Mutex<HashMap<String, oneshot::Sender<SocketAddr>>>>;

/// One listening socket and the probes waiting for their tokens.
pub struct Listener {
    waiters: Waiters,
    task: JoinHandle<()>,
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Listener {
    /// Registers a token; the receiver fires with the sender's address when it arrives.
    pub fn expect(&self, token: &str) -> oneshot::Receiver<SocketAddr> {
        let (tx, rx) = oneshot::channel();
        self.waiters.lock().expect("waiters lock").insert(token.to_string(), tx);
        rx
    }
}

fn deliver(waiters: &Waiters, payload: &[u8], from: SocketAddr) {
    let text = String::from_utf8_lossy(payload);
    if let Some(token) = text.trim().strip_prefix("reachlab-") {
        if let Some(tx) = waiters.lock().expect("waiters lock").remove(token) {
            let _ = tx.send(from);
        }
    }
}

/// A fresh token for one probe.
pub fn token() -> String {
    format!("{:016x}", rand::random::<u64>())
}

/// The payload carrying a token.
pub fn payload(token: &str) -> String {
    format!("reachlab-{token}\n")
}

/// A namespace (device and inode of its file), a protocol and a port.
type Key = (u64, u64, Proto, u16);

/// Listeners of one run, by namespace, protocol and port.
#[derive(Default)]
pub struct Listeners {
    map: tokio::sync::Mutex<HashMap<Key, Arc<Listener>>>,
}

impl Listeners {
    /// The listener on `port` inside `ns`, opened on first use.
    pub async fn get(&self, ns: &Netns, proto: Proto, port: u16) -> std::io::Result<Arc<Listener>> {
        let meta = ns.file().metadata()?;
        let key = (meta.dev(), meta.ino(), proto, port);
        let mut map = self.map.lock().await;
        if let Some(l) = map.get(&key) {
            return Ok(l.clone());
        }
        let waiters: Waiters = Arc::default();
        let w = waiters.clone();
        let task = match proto {
            Proto::Udp => {
                let sock = netns::within(ns, move || {
                    let s = std::net::UdpSocket::bind(("0.0.0.0", port))?;
                    s.set_nonblocking(true)?;
                    tokio::net::UdpSocket::from_std(s)
                })
                .await?;
                tokio::spawn(async move {
                    let mut buf = [0u8; 512];
                    while let Ok((n, from)) = sock.recv_from(&mut buf).await {
                        deliver(&w, &buf[..n], from);
                    }
                })
            }
            Proto::Tcp => {
                let listener = netns::within(ns, move || {
                    let l = std::net::TcpListener::bind(("0.0.0.0", port))?;
                    l.set_nonblocking(true)?;
                    tokio::net::TcpListener::from_std(l)
                })
                .await?;
                tokio::spawn(async move {
                    while let Ok((mut stream, from)) = listener.accept().await {
                        let w = w.clone();
                        tokio::spawn(async move {
                            let mut buf = [0u8; 64];
                            let read =
                                tokio::time::timeout(std::time::Duration::from_secs(5), stream.read(&mut buf)).await;
                            if let Ok(Ok(n)) = read {
                                deliver(&w, &buf[..n], from);
                            }
                        });
                    }
                })
            }
        };
        let listener = Arc::new(Listener { waiters, task });
        map.insert(key, listener.clone());
        Ok(listener)
    }
}

/// Where a UDP or TCP probe goes.
#[derive(Debug, Clone, Copy)]
pub struct Dest<'a> {
    /// The destination node.
    pub node: &'a str,
    /// Its address.
    pub ip: std::net::Ipv4Addr,
    /// The port.
    pub port: u16,
    /// Whether reachlab listens there (false: a closed port).
    pub listen: bool,
}

/// A probe about to be sent: the source's namespace, and the receiver that fires when the destination's
/// listener gets this probe's token.
pub struct Armed<'a> {
    /// Where the sender's socket must be created.
    pub src_ns: &'a Netns,
    /// The destination's namespace.
    pub dst_ns: &'a Netns,
    /// The token to send.
    pub token: String,
    /// Fires with the sender's address when the token arrives.
    pub arrived: oneshot::Receiver<SocketAddr>,
    /// For a closed port: the sender that never sends, so `arrived` stays pending.
    pub never: Option<oneshot::Sender<SocketAddr>>,
}

/// Opens (or reuses) the listener in `to`'s namespace and registers a fresh token; `Err` is the observation
/// to report instead of probing.
pub async fn arm<'a>(
    lab: &'a impl Nodes,
    listeners: &Listeners,
    from: &str,
    dest: Dest<'_>,
    proto: Proto,
) -> Result<Armed<'a>, crate::check::Observation> {
    use crate::check::Observation;
    let (to, port) = (dest.node, dest.port);
    let (Some(src_ns), Some(dst_ns)) = (lab.namespace(from), lab.namespace(to)) else {
        return Err(Observation::error(format!("no namespace for {from} or {to}")));
    };
    let token = token();
    if !dest.listen {
        let (never, arrived) = oneshot::channel();
        return Ok(Armed { src_ns, dst_ns, token, arrived, never: Some(never) });
    }
    let name = if proto == Proto::Udp { "UDP" } else { "TCP" };
    let listener = match listeners.get(dst_ns, proto, port).await {
        Ok(l) => l,
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
            let by =
                bound(dst_ns, proto, port, dest.ip).await.ok().flatten().unwrap_or_else(|| "another socket".into());
            return Err(Observation::error(format!(
                "cannot listen on {name} port {port} in {to}: it is in use by {by}; probe that service with `listen = false`"
            )));
        }
        Err(e) => return Err(Observation::error(format!("failed to listen on {name} port {port} in {to}: {e}"))),
    };
    let arrived = listener.expect(&token);
    Ok(Armed { src_ns, dst_ns, token, arrived, never: None })
}

/// A socket bound to a port, with the processes holding it (PID, command name).
#[derive(Debug, Clone)]
pub struct Holder {
    /// The socket, from the namespace's socket table.
    pub socket: crate::kernel::sockdiag::BoundSocket,
    /// Who holds it, from /proc/PID/fd.
    pub owners: Vec<(u32, String)>,
}

impl Holder {
    /// E.g. `0.0.0.0:2020 (nc, pid 4242)`.
    pub fn describe(&self) -> String {
        let owners: Vec<String> = self.owners.iter().map(|(pid, comm)| format!("{comm}, pid {pid}")).collect();
        let by = if owners.is_empty() { String::new() } else { format!(" ({})", owners.join("; ")) };
        format!("{}:{}{by}", self.socket.addr, self.socket.port)
    }
}

/// Several holders in words; `None` when there is none.
pub fn describe(holders: &[Holder]) -> Option<String> {
    (!holders.is_empty()).then(|| holders.iter().map(Holder::describe).collect::<Vec<_>>().join(", "))
}

/// The sockets of `ns` bound to `port` that a packet to `ip` would reach (UDP: bound; TCP: listening), read
/// over sock_diag, with their owners.
pub async fn holders(ns: &Netns, proto: Proto, port: u16, ip: std::net::Ipv4Addr) -> std::io::Result<Vec<Holder>> {
    use crate::kernel::sockdiag::{self, Transport};
    let transport = if proto == Proto::Udp { Transport::Udp } else { Transport::Tcp };
    let sockets = netns::within(ns, move || sockdiag::bound_here(transport, port)).await?;
    Ok(sockets
        .into_iter()
        .filter(|s| s.accepts(ip))
        .map(|socket| Holder { owners: sockdiag::owners(socket.inode), socket })
        .collect())
}

/// [`holders`] in words, e.g. `0.0.0.0:2020 (nc, pid 4242)`; `None` when there is none.
pub async fn bound(ns: &Netns, proto: Proto, port: u16, ip: std::net::Ipv4Addr) -> std::io::Result<Option<String>> {
    Ok(describe(&holders(ns, proto, port, ip).await?))
}

/// Whether process `pid` runs in the PID namespace of process `of` (a container's first process): a process
/// of that container (`docker run`'s command or anything `docker exec` started in it).
pub fn same_pid_namespace(pid: u32, of: u32) -> bool {
    let ns = |p: u32| std::fs::metadata(format!("/proc/{p}/ns/pid")).ok().map(|m| (m.dev(), m.ino()));
    matches!((ns(pid), ns(of)), (Some(a), Some(b)) if a == b)
}
