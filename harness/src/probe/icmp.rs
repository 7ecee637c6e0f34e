//! ICMP echo from inside the source's namespace, as `ping` does it: one raw ICMP socket per source namespace
//! (created on a thread that entered the namespace, then driven by tokio), echo requests carrying this probe's
//! identifier and sequence, and a reader that hands every ICMP message quoting them to the attempt it answers.
//!
//! Only a **final** answer decides an attempt: an Echo Reply from the target, or a Destination Unreachable /
//! Time Exceeded / Parameter Problem quoting the request. A Redirect (a router telling the source of a shorter
//! path, sent *before* it forwards the request) is noted and the attempt keeps waiting, as `ping` does.

use super::wire::{self, Icmp as Message};
use crate::check::{Observation, Outcome};
use crate::kernel::netns::{self, Netns};
use crate::suite::ProbeSettings;
use socket2::{Domain, Protocol, Socket, Type};
use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::unix::AsyncFd;
use tokio::sync::mpsc;

/// Milliseconds for people.
pub fn ms(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms < 10.0 {
        format!("{ms:.1} ms")
    } else {
        format!("{ms:.0} ms")
    }
}

/// What came back for one echo request.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Answer {
    /// An Echo Reply from the target.
    Reply { at: Instant },
    /// A final ICMP error quoting the request.
    Error { kind: u8, code: u8, from: Ipv4Addr },
    /// A Redirect quoting the request: not final.
    Redirect { from: Ipv4Addr, gateway: Ipv4Addr },
}

type Waiters = Arc<Mutex<HashMap<(u16, u16), mpsc::UnboundedSender<Answer>>>>;

/// One raw ICMP socket in one namespace and the attempts waiting on it.
struct EchoSocket {
    fd: Arc<AsyncFd<Socket>>,
    waiters: Waiters,
    reader: tokio::task::JoinHandle<()>,
}

impl Drop for EchoSocket {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

/// ICMP types the socket wants; the kernel filters out the rest (`ICMP_FILTER`, a bit per type to *block*).
const WANTED: [u8; 5] =
    [wire::ECHO_REPLY, wire::DEST_UNREACHABLE, wire::REDIRECT, wire::TIME_EXCEEDED, wire::PARAMETER_PROBLEM];

fn open_raw() -> std::io::Result<Socket> {
    let s = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::ICMPV4))?;
    let block: u32 = !WANTED.iter().fold(0u32, |m, t| m | 1 << t);
    // SAFETY: setsockopt with a pointer to a live u32 and its size.
    let rc = unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_RAW,
            1, // ICMP_FILTER
            (&block as *const u32).cast(),
            std::mem::size_of::<u32>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    s.set_nonblocking(true)?;
    Ok(s)
}

impl EchoSocket {
    async fn open(ns: &Netns) -> std::io::Result<EchoSocket> {
        let socket = netns::within(ns, open_raw).await?;
        // SAFETY: the AsyncFd owns the socket, so its descriptor stays open and the same until it is dropped.
        let fd = Arc::new(unsafe { AsyncFd::register(socket) }.map_err(|e| e.into_parts().1)?);
        let waiters: Waiters = Arc::default();
        let reader = tokio::spawn(read_loop(fd.clone(), waiters.clone()));
        Ok(EchoSocket { fd, waiters, reader })
    }

    fn expect(&self, ident: u16, seq: u16) -> mpsc::UnboundedReceiver<Answer> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.waiters.lock().expect("waiters lock").insert((ident, seq), tx);
        rx
    }

    fn forget(&self, ident: u16, seq: u16) {
        self.waiters.lock().expect("waiters lock").remove(&(ident, seq));
    }

    async fn send(&self, target: Ipv4Addr, packet: &[u8]) -> std::io::Result<()> {
        let to = socket2::SockAddr::from(SocketAddrV4::new(target, 0));
        loop {
            let mut guard = self.fd.writable().await?;
            match guard.try_io(|fd| fd.get_ref().send_to(packet, &to)) {
                Ok(r) => return r.map(|_| ()),
                Err(_would_block) => continue,
            }
        }
    }
}

async fn read_loop(fd: Arc<AsyncFd<Socket>>, waiters: Waiters) {
    let mut buf = [std::mem::MaybeUninit::<u8>::uninit(); 2048];
    loop {
        let Ok(mut guard) = fd.readable().await else { return };
        let n = match guard.try_io(|fd| fd.get_ref().recv(&mut buf)) {
            Ok(Ok(n)) => n,
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            // The socket is unusable: its attempts end without an answer (and the probe reports none).
            Ok(Err(_)) => return,
            Err(_would_block) => continue,
        };
        // SAFETY: recv initialised the first n bytes.
        let bytes: &[u8] = unsafe { std::slice::from_raw_parts(buf.as_ptr().cast(), n) };
        let Some((from, message)) = wire::parse_icmp(bytes) else { continue };
        let (key, answer) = match message {
            Message::EchoReply { ident, seq } => ((ident, seq), Answer::Reply { at: Instant::now() }),
            Message::Quoting { kind, gateway, ident, seq, .. } if kind == wire::REDIRECT => {
                ((ident, seq), Answer::Redirect { from, gateway: gateway.unwrap_or(Ipv4Addr::UNSPECIFIED) })
            }
            Message::Quoting { kind, code, ident, seq, .. } => ((ident, seq), Answer::Error { kind, code, from }),
        };
        let tx = waiters.lock().expect("waiters lock").get(&key).cloned();
        if let Some(tx) = tx {
            let _ = tx.send(answer);
        }
    }
}

/// ICMP sockets, one per source node, and the identifiers handed out.
pub struct Icmp {
    sockets: tokio::sync::Mutex<HashMap<String, Arc<EchoSocket>>>,
    next_ident: AtomicU16,
}

impl Default for Icmp {
    fn default() -> Self {
        Icmp { sockets: tokio::sync::Mutex::new(HashMap::new()), next_ident: AtomicU16::new(rand::random()) }
    }
}

/// How one attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Ending {
    Reply(Duration),
    Error { kind: u8, code: u8, from: Ipv4Addr },
    NoAnswer,
    SendFailed(std::io::ErrorKind, Option<i32>, String),
}

/// Everything one attempt saw: how it ended, and the redirects on the way.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Attempt {
    ending: Ending,
    redirects: Vec<(Ipv4Addr, Ipv4Addr)>,
}

impl Icmp {
    async fn socket(&self, from: &str, ns: &Netns) -> std::io::Result<Arc<EchoSocket>> {
        let mut sockets = self.sockets.lock().await;
        if let Some(s) = sockets.get(from) {
            return Ok(s.clone());
        }
        let s = Arc::new(EchoSocket::open(ns).await?);
        sockets.insert(from.to_string(), s.clone());
        Ok(s)
    }

    async fn attempt(sock: &EchoSocket, target: Ipv4Addr, ident: u16, seq: u16, deadline: Instant) -> Attempt {
        let mut answers = sock.expect(ident, seq);
        let mut redirects = Vec::new();
        let sent = Instant::now();
        let payload = format!("reachlab {ident:04x}:{seq}");
        let ending = match sock.send(target, &wire::echo_request(ident, seq, payload.as_bytes())).await {
            Err(e) => Ending::SendFailed(e.kind(), e.raw_os_error(), e.to_string()),
            Ok(()) => loop {
                match tokio::time::timeout_at(deadline.into(), answers.recv()).await {
                    Err(_) | Ok(None) => break Ending::NoAnswer,
                    Ok(Some(Answer::Reply { at })) => break Ending::Reply(at - sent),
                    Ok(Some(Answer::Error { kind, code, from })) => break Ending::Error { kind, code, from },
                    Ok(Some(Answer::Redirect { from, gateway })) => redirects.push((from, gateway)),
                }
            },
        };
        sock.forget(ident, seq);
        Attempt { ending, redirects }
    }

    /// Echo requests from `from` (whose namespace is `ns`) to `target`, spread over the timeout; the first reply
    /// wins, otherwise the attempts' final answers say why.
    pub async fn ping(&self, from: &str, ns: &Netns, target: Ipv4Addr, settings: ProbeSettings) -> Observation {
        let sock = match self.socket(from, ns).await {
            Ok(s) => s,
            Err(e) => return Observation::error(format!("failed to open an ICMP socket in {from}: {e}")),
        };
        let ident = self.next_ident.fetch_add(1, Ordering::Relaxed);
        let timeout = Duration::from_millis(settings.timeout_ms);
        let attempts = settings.attempts.max(1);
        let spacing = timeout / attempts;
        let start = Instant::now();
        let deadline = start + timeout;
        let sock = &sock;
        let mut pending: futures::stream::FuturesUnordered<_> = (0..attempts)
            .map(|k| async move {
                // Not for the first: tokio rounds a deadline up to its next millisecond tick, so even a
                // deadline already past would hold the first echo request back by up to a millisecond.
                if k > 0 {
                    tokio::time::sleep_until((start + spacing * k).into()).await;
                }
                Self::attempt(sock, target, ident, k as u16, deadline).await
            })
            .collect();
        let mut seen = Vec::new();
        while let Some(a) = futures::StreamExt::next(&mut pending).await {
            if matches!(a.ending, Ending::Reply(_)) {
                seen.push(a);
                break;
            }
            seen.push(a);
        }
        decide(from, target, &seen, attempts, timeout)
    }
}

/// The observation from what the attempts saw (pure).
fn decide(from: &str, target: Ipv4Addr, seen: &[Attempt], attempts: u32, timeout: Duration) -> Observation {
    let mut redirects: Vec<(Ipv4Addr, Ipv4Addr)> = seen.iter().flat_map(|a| a.redirects.iter().copied()).collect();
    redirects.sort();
    redirects.dedup();
    let noted = |detail: String| {
        if redirects.is_empty() {
            detail
        } else {
            let list: Vec<String> = redirects.iter().map(|(r, g)| format!("{r} (to {g})")).collect();
            format!("{detail}; ICMP redirect from {} on the way", list.join(", "))
        }
    };
    if let Some(rtt) = seen.iter().find_map(|a| match a.ending {
        Ending::Reply(rtt) => Some(rtt),
        _ => None,
    }) {
        return Observation::seen(Outcome::Reachable, noted(format!("echo reply from {target} in {}", ms(rtt))));
    }
    if let Some((kind, code, from_addr)) = seen.iter().find_map(|a| match a.ending {
        Ending::Error { kind, code, from } => Some((kind, code, from)),
        _ => None,
    }) {
        let words = wire::icmp_error_words(kind, code);
        return Observation::seen(Outcome::Unreachable, noted(format!("{words} (ICMP from {from_addr})")));
    }
    if let Some((kind, errno, text)) = seen.iter().find_map(|a| match &a.ending {
        Ending::SendFailed(k, e, t) => Some((*k, *e, t.clone())),
        _ => None,
    }) {
        return match errno {
            // The kernel's routing decided: nothing left the source.
            Some(libc::ENETUNREACH | libc::EHOSTUNREACH) => Observation::unsent(
                Outcome::Unreachable,
                format!("no packet was sent: {from} cannot send to {target}: {text}"),
            ),
            // The source's own firewall (netfilter OUTPUT) refused the request.
            Some(libc::EPERM) => Observation::unsent(
                Outcome::Unreachable,
                format!("no packet was sent: {from}'s firewall (netfilter OUTPUT) refused the echo request ({text})"),
            ),
            _ => {
                Observation::error(format!("failed to send an echo request from {from} to {target}: {text} ({kind:?})"))
            }
        };
    }
    Observation::seen(
        Outcome::Unreachable,
        noted(format!("no echo reply from {target} within {} ({attempts} requests)", ms(timeout))),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
    const R: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 254);

    fn a(ending: Ending, redirects: Vec<(Ipv4Addr, Ipv4Addr)>) -> Attempt {
        Attempt { ending, redirects }
    }

    fn decided(seen: &[Attempt]) -> (Option<Outcome>, String) {
        match decide("h1", T, seen, 3, Duration::from_millis(600)) {
            Observation::Observed { outcome, detail, .. } => (Some(outcome), detail),
            Observation::Error { detail, .. } => (None, detail),
        }
    }

    #[test]
    fn a_redirect_is_not_an_answer() {
        // A hairpinning router redirects before it forwards; the reply still comes.
        let (o, d) = decided(&[a(Ending::Reply(Duration::from_micros(300)), vec![(R, T)])]);
        assert_eq!(o, Some(Outcome::Reachable));
        assert_eq!(d, "echo reply from 10.0.0.2 in 0.3 ms; ICMP redirect from 10.0.0.254 (to 10.0.0.2) on the way");
        let (o, d) = decided(&[a(Ending::NoAnswer, vec![(R, T)])]);
        assert_eq!(o, Some(Outcome::Unreachable));
        assert!(d.starts_with("no echo reply from 10.0.0.2 within 600 ms"), "{d}");
    }

    #[test]
    fn final_errors_and_send_failures() {
        let err = Ending::Error { kind: wire::DEST_UNREACHABLE, code: 1, from: R };
        assert_eq!(decided(&[a(err, vec![])]).1, "host unreachable (ICMP from 10.0.0.254)");
        let unreach = Ending::SendFailed(std::io::ErrorKind::NetworkUnreachable, Some(libc::ENETUNREACH), "x".into());
        assert_eq!(decided(&[a(unreach, vec![])]).0, Some(Outcome::Unreachable));
        let nobufs = Ending::SendFailed(std::io::ErrorKind::Other, Some(libc::ENOBUFS), "No buffer space".into());
        assert_eq!(decided(&[a(nobufs, vec![])]).0, None, "a machine limit is an error, never unreachable");
    }
}
