//! Where a probe's packets went: captures on interfaces of the lab along the path, each keeping only the
//! probe's own packets (its ICMP echo identifier and sequence, or its ports), and — in namespaces the lab
//! owns — a netfilter trace ([`crate::kernel::nftrace`]) naming the rule that dropped or rewrote them.
//!
//! The captures are [`crate::capture::Capture`]s (AF_PACKET sockets opened inside each interface's namespace,
//! filtered in the kernel by a program libpcap compiled), started before the probe is sent and stopped after
//! it ended, so a hop that saw nothing really saw nothing. What each saw is kept with the addresses as they
//! were on that wire, so NAT shows as a change of address from one hop to the next.
//!
//! The echo sent here is one request with an identifier chosen by the caller (the lab's own ICMP prober hands
//! out identifiers of its own, which a capture could not know in advance).

use super::wire;
use crate::capture::{Capture, CaptureOptions, PacketSummary, Protocol};
use crate::filter::Program;
use crate::kernel::netns::{self, Netns};
use crate::kernel::nftrace::{Leg, ProbeKey, Trace, TraceError, Tracer};
use serde::Serialize;
use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// An interface of the lab to watch: the node it belongs to, the namespace it is in, its name there.
#[derive(Debug, Clone)]
pub struct Point {
    /// The node (`alpine1`, `server1`, a switch, …).
    pub node: String,
    /// The namespace the interface is in.
    pub ns: Netns,
    /// The interface's name in that namespace.
    pub interface: String,
    /// Whether it is a bridge (in one namespace a frame passes a port, then its bridge, on the way in, and the
    /// other way round on the way out: this orders hops the kernel's timestamps cannot tell apart).
    pub bridge: bool,
}

/// The probe's packet as one interface saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Seen {
    /// IP source on this wire.
    pub src: Option<IpAddr>,
    /// IP destination on this wire.
    pub dst: Option<IpAddr>,
    /// How many copies (more than one: it went out and came back on the same interface, or was repeated).
    pub frames: usize,
    /// When the first copy was seen, on a clock common to the probe's captures (the kernel's timestamps).
    #[serde(skip)]
    pub at: Duration,
    /// Whether that copy was leaving the interface.
    #[serde(skip)]
    pub outgoing: bool,
}

/// One interface, one direction of the probe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Hop {
    /// The node.
    pub node: String,
    /// The interface.
    pub interface: String,
    /// Which of the probe's packets.
    pub leg: Leg,
    /// What the interface saw of it; `None`: not seen.
    pub seen: Option<Seen>,
    /// Whether the interface is a bridge.
    #[serde(skip)]
    pub bridge: bool,
}

impl Hop {
    /// Where this hop sits among the hops of its own namespace: arriving before leaving, a port before its
    /// bridge on the way in and after it on the way out.
    fn stage(&self) -> u8 {
        let outgoing = self.seen.as_ref().is_some_and(|s| s.outgoing);
        match (outgoing, self.bridge) {
            (false, false) => 0,
            (false, true) => 1,
            (true, true) => 2,
            (true, false) => 3,
        }
    }
}

/// The hops that saw the packet, in the order they saw it (pure). Namespaces come in the order the packet
/// reached them — the kernel's timestamp of its arrival on a plain interface there (a buffer is stamped anew
/// when it crosses into a namespace, but inside one a bridge may report a stamp from before the packet was
/// even sent), else its first stamp there; inside a namespace, by [`Hop::stage`], then in watched order.
pub fn in_path_order<'a>(hops: impl Iterator<Item = &'a Hop>) -> Vec<&'a Hop> {
    let mut seen: Vec<&Hop> = hops.filter(|h| h.seen.is_some()).collect();
    let (mut arrival, mut first): (HashMap<&str, Duration>, HashMap<&str, Duration>) = Default::default();
    for h in &seen {
        let s = h.seen.as_ref().expect("seen");
        let earliest = |m: &mut HashMap<&'a str, Duration>| {
            let at = m.entry(h.node.as_str()).or_insert(s.at);
            *at = (*at).min(s.at);
        };
        earliest(&mut first);
        if !s.outgoing && !h.bridge {
            earliest(&mut arrival);
        }
    }
    let reached: HashMap<&str, Duration> =
        first.into_iter().map(|(node, at)| (node, arrival.get(node).copied().unwrap_or(at))).collect();
    seen.sort_by_key(|h| (reached[h.node.as_str()], h.stage()));
    seen
}

/// An ICMP error about the probe (destination unreachable, time exceeded, …) seen on an interface.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ErrorSeen {
    /// The node.
    pub node: String,
    /// The interface.
    pub interface: String,
    /// ICMP type.
    pub kind: u8,
    /// ICMP code.
    pub code: u8,
    /// Who sent it.
    pub from: Option<IpAddr>,
}

/// The path observed: the request's hops in the order the points were given (source first), then the
/// reply's in reverse order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ObservedPath {
    /// The probe.
    pub key: ProbeKey,
    /// Every point, for each leg.
    pub hops: Vec<Hop>,
    /// The source's neighbour resolution, when it was watched: who-has requests (`request`) and their answers
    /// (`reply`) per point, in the same order as `hops`.
    pub arp: Vec<Hop>,
    /// The address the source asked for (its next hop towards the target), when ARP was watched.
    pub arp_for: Option<Ipv4Addr>,
    /// ICMP errors about the probe.
    pub errors: Vec<ErrorSeen>,
    /// Frames the captures may have missed (their socket buffers overflowed): when non-zero, "not seen" is
    /// not certain.
    pub lost: u64,
    /// The captures' pcap files, one per point.
    pub pcaps: Vec<PathBuf>,
}

impl ObservedPath {
    /// The last hop (in path order, request then reply) that saw the probe.
    pub fn last_seen(&self) -> Option<&Hop> {
        let reply = in_path_order(self.leg(Leg::Reply));
        reply.last().copied().or_else(|| in_path_order(self.leg(Leg::Request)).last().copied())
    }

    /// The hops of `leg`, in the order that packet travels.
    pub fn leg(&self, leg: Leg) -> impl Iterator<Item = &Hop> {
        self.hops.iter().filter(move |h| h.leg == leg)
    }

    /// Whether the last point (the destination's interface) saw the request.
    pub fn reached(&self) -> bool {
        self.leg(Leg::Request).last().is_some_and(|h| h.seen.is_some())
    }

    /// Whether the first point (the source's interface) saw the reply.
    pub fn answered(&self) -> bool {
        self.leg(Leg::Reply).last().is_some_and(|h| h.seen.is_some())
    }

    /// Whether any point saw the request.
    pub fn request_seen(&self) -> bool {
        self.leg(Leg::Request).any(|h| h.seen.is_some())
    }
}

/// The source's neighbour resolution for one probe: its own address and the next hop it asks for. ARP has no
/// identifier, so only this pair is kept: a who-has from the source for the next hop, and its answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ArpKey {
    /// The source's address on its outgoing interface.
    pub sender: Ipv4Addr,
    /// The next hop it resolves (the target, or its gateway).
    pub next_hop: Ipv4Addr,
}

/// The capture filter for `key` and, when given, the source's neighbour resolution `arp` (who-has from the
/// source for its next hop, and the answer).
pub fn capture_expression_with(key: &ProbeKey, arp: Option<ArpKey>) -> String {
    let probe = capture_expression(key);
    let Some(a) = arp else { return probe };
    let (s, n) = (u32::from(a.sender), u32::from(a.next_hop));
    format!(
        "({probe}) or (arp and (((arp[6:2] = 1) and (arp[14:4] = {s}) and (arp[24:4] = {n})) or \
         ((arp[6:2] = 2) and (arp[14:4] = {n}) and (arp[24:4] = {s}))))"
    )
}

/// The capture filter for `key` (libpcap's language): the probe's packets both ways, and ICMP errors quoting
/// an echo request of the probe (the quote is assumed to start with a 20-byte IP header, as ours do).
pub fn capture_expression(key: &ProbeKey) -> String {
    match *key {
        ProbeKey::Echo { ident, seq } => format!(
            "icmp and ((((icmp[0] = 8) or (icmp[0] = 0)) and (icmp[4:2] = {ident}) and (icmp[6:2] = {seq})) or \
             (((icmp[0] = 3) or (icmp[0] = 11) or (icmp[0] = 12)) and (icmp[28] = 8) and (icmp[32:2] = {ident}) \
             and (icmp[34:2] = {seq})))"
        ),
        ProbeKey::Udp { src_port: s, dst_port: d } => format!(
            "(udp and ((src port {s} and dst port {d}) or (src port {d} and dst port {s}))) or {}",
            quoting(17, s, d)
        ),
        ProbeKey::Tcp { src_port: s, dst_port: d } => format!(
            "(tcp and ((src port {s} and dst port {d}) or (src port {d} and dst port {s}))) or {}",
            quoting(6, s, d)
        ),
    }
}

/// ICMP errors quoting a packet of `protocol` from port `s` to port `d` (a 20-byte quoted IP header assumed).
fn quoting(protocol: u8, s: u16, d: u16) -> String {
    format!(
        "(icmp and ((icmp[0] = 3) or (icmp[0] = 11) or (icmp[0] = 12)) and (icmp[17] = {protocol}) and \
         (icmp[28:2] = {s}) and (icmp[30:2] = {d}))"
    )
}

/// What one captured frame is to the probe (pure): a leg, an ICMP error about it, its source's ARP, or nothing.
enum Frame {
    Leg(Leg),
    Error { kind: u8, code: u8 },
    Arp(Leg),
    Other,
}

fn classify(key: &ProbeKey, arp: Option<ArpKey>, p: &PacketSummary) -> Frame {
    if let (Some(a), Protocol::Arp { op, sender, target }) = (arp, &p.protocol) {
        return match op {
            1 if (*sender, *target) == (a.sender, a.next_hop) => Frame::Arp(Leg::Request),
            2 if (*sender, *target) == (a.next_hop, a.sender) => Frame::Arp(Leg::Reply),
            _ => Frame::Other,
        };
    }
    match (*key, &p.protocol) {
        (ProbeKey::Echo { ident, seq }, Protocol::Icmp { kind, echo, .. }) if *echo == Some((ident, seq)) => match kind
        {
            8 => Frame::Leg(Leg::Request),
            0 => Frame::Leg(Leg::Reply),
            _ => Frame::Other,
        },
        (ProbeKey::Echo { .. }, Protocol::Icmp { kind, code, quoted: Some(_), .. }) => {
            Frame::Error { kind: *kind, code: *code }
        }
        // An error about the datagram or segment (port unreachable, …) is its answer: the way back.
        (ProbeKey::Udp { dst_port, .. }, Protocol::Icmp { quoted: Some((_, 17, Some(port))), .. })
        | (ProbeKey::Tcp { dst_port, .. }, Protocol::Icmp { quoted: Some((_, 6, Some(port))), .. })
            if *port == dst_port =>
        {
            Frame::Leg(Leg::Reply)
        }
        (ProbeKey::Udp { src_port, dst_port }, Protocol::Udp { src_port: s, dst_port: d })
        | (ProbeKey::Tcp { src_port, dst_port }, Protocol::Tcp { src_port: s, dst_port: d, .. }) => {
            if (*s, *d) == (src_port, dst_port) {
                Frame::Leg(Leg::Request)
            } else if (*s, *d) == (dst_port, src_port) {
                Frame::Leg(Leg::Reply)
            } else {
                Frame::Other
            }
        }
        _ => Frame::Other,
    }
}

/// The path from what each point's capture kept (pure): `captured[i]` holds point `i`'s frames.
pub fn assemble(
    key: ProbeKey,
    arp: Option<ArpKey>,
    points: &[(String, String, bool)],
    captured: &[Vec<PacketSummary>],
) -> ObservedPath {
    let mut request = Vec::new();
    let mut reply = Vec::new();
    let (mut arp_request, mut arp_reply) = (Vec::new(), Vec::new());
    let mut errors = Vec::new();
    let count = |slot: &mut Option<Seen>, p: &PacketSummary| match slot {
        Some(s) => s.frames += 1,
        None => *slot = Some(Seen { src: p.src, dst: p.dst, frames: 1, at: p.time, outgoing: p.outgoing }),
    };
    for ((node, interface, bridge), frames) in points.iter().zip(captured) {
        let mut seen: [Option<Seen>; 2] = [None, None];
        let mut arp_seen: [Option<Seen>; 2] = [None, None];
        for p in frames {
            match classify(&key, arp, p) {
                Frame::Leg(leg) => count(&mut seen[leg as usize], p),
                Frame::Arp(leg) => count(&mut arp_seen[leg as usize], p),
                Frame::Error { kind, code } => {
                    errors.push(ErrorSeen { node: node.clone(), interface: interface.clone(), kind, code, from: p.src })
                }
                Frame::Other => {}
            }
        }
        let [req, rep] = seen;
        let hop = |leg, seen| Hop { node: node.clone(), interface: interface.clone(), leg, seen, bridge: *bridge };
        request.push(hop(Leg::Request, req));
        reply.push(hop(Leg::Reply, rep));
        let [who_has, is_at] = arp_seen;
        arp_request.push(hop(Leg::Request, who_has));
        arp_reply.push(hop(Leg::Reply, is_at));
    }
    reply.reverse();
    request.extend(reply);
    arp_reply.reverse();
    arp_request.extend(arp_reply);
    let arp_hops = if arp.is_some() { arp_request } else { Vec::new() };
    ObservedPath {
        key,
        hops: request,
        arp: arp_hops,
        arp_for: arp.map(|a| a.next_hop),
        errors,
        lost: 0,
        pcaps: Vec::new(),
    }
}

/// Captures running on every point for one probe.
pub struct PathObserver {
    key: ProbeKey,
    arp: Option<ArpKey>,
    captures: Vec<((String, String, bool), Capture)>,
}

impl PathObserver {
    /// Starts a capture on every point, each keeping only `key`'s packets and writing them to a pcap file in
    /// `dir`. Returns once every socket is bound, so anything sent afterwards is seen.
    pub async fn start(points: &[Point], key: ProbeKey, arp: Option<ArpKey>, dir: &Path) -> io::Result<PathObserver> {
        let expression = capture_expression_with(&key, arp);
        let mut captures = Vec::with_capacity(points.len());
        for (i, p) in points.iter().enumerate() {
            let program = Program::compile(&expression)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("libpcap: {e}")))?;
            let file = dir.join(format!("path-{i:02}-{}-{}.pcap", p.node, p.interface));
            let capture = Capture::start(&p.ns, &p.interface, program, file, CaptureOptions::default()).await?;
            captures.push(((p.node.clone(), p.interface.clone(), p.bridge), capture));
        }
        Ok(PathObserver { key, arp, captures })
    }

    /// Stops every capture and returns the path.
    pub async fn finish(self) -> io::Result<ObservedPath> {
        let mut points = Vec::new();
        let mut captured = Vec::new();
        let (mut lost, mut pcaps) = (0, Vec::new());
        // Stopped together: each waits for a quiet moment on its socket, and those waits overlap.
        let (names, captures): (Vec<_>, Vec<_>) = self.captures.into_iter().unzip();
        let results = futures::future::join_all(captures.into_iter().map(Capture::stop)).await;
        let results: Vec<_> = results.into_iter().collect::<io::Result<_>>()?;
        // One clock for all: each capture counts from its own start.
        let base = results.iter().map(|r| r.started).min().unwrap_or(std::time::UNIX_EPOCH);
        for (point, mut result) in names.into_iter().zip(results) {
            let shift = result.started.duration_since(base).unwrap_or_default();
            result.packets.iter_mut().for_each(|p| p.time += shift);
            lost += result.lost();
            pcaps.push(result.pcap);
            captured.push(result.packets);
            points.push(point);
        }
        let mut path = assemble(self.key, self.arp, &points, &captured);
        path.lost = lost;
        path.pcaps = pcaps;
        Ok(path)
    }
}

/// How the echo of a path probe ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "answer", rename_all = "snake_case")]
pub enum EchoAnswer {
    /// An echo reply came back.
    Reply {
        /// From.
        from: Ipv4Addr,
    },
    /// An ICMP error quoting the request came back.
    Error {
        /// ICMP type.
        kind: u8,
        /// ICMP code.
        code: u8,
        /// From.
        from: Ipv4Addr,
    },
    /// Nothing came back in time.
    Nothing,
    /// The source's kernel refused to send (no route, its own firewall).
    NotSent {
        /// The errno.
        errno: i32,
    },
}

/// A send or connect the source's kernel refused: no route (or a `prohibit` or `blackhole` one), or its own
/// firewall — nothing left, which is an answer. Anything else is an error of the probe.
fn not_sent(e: io::Error) -> io::Result<EchoAnswer> {
    match e.raw_os_error() {
        Some(errno @ (libc::ENETUNREACH | libc::EHOSTUNREACH | libc::EPERM | libc::EACCES | libc::EINVAL)) => {
            Ok(EchoAnswer::NotSent { errno })
        }
        _ => Err(e),
    }
}

/// A refused (port unreachable, reset) or unanswered (timed out) attempt, as an answer; `None` for anything else.
fn refused_or_nothing(e: &io::Error, target: Ipv4Addr) -> Option<EchoAnswer> {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => Some(EchoAnswer::Error { kind: 3, code: 3, from: target }),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => Some(EchoAnswer::Nothing),
        _ => None,
    }
}

fn echo_here(target: Ipv4Addr, ident: u16, seq: u16, timeout: Duration) -> io::Result<EchoAnswer> {
    use socket2::{Domain, Protocol, SockAddr, Socket, Type};
    use std::io::Read;
    let mut socket = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::ICMPV4))?;
    socket.set_read_timeout(Some(Duration::from_millis(20)))?;
    let request = wire::echo_request(ident, seq, format!("reachlab path {ident:04x}:{seq}").as_bytes());
    if let Err(e) = socket.send_to(&request, &SockAddr::from(SocketAddrV4::new(target, 0))) {
        return not_sent(e);
    }
    let deadline = Instant::now() + timeout;
    let mut buf = [0u8; 2048];
    while Instant::now() < deadline {
        let n = match socket.read(&mut buf) {
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
                ) =>
            {
                continue
            }
            Err(e) => return Err(e),
        };
        match wire::parse_icmp(&buf[..n]) {
            Some((from, wire::Icmp::EchoReply { ident: i, seq: s })) if (i, s) == (ident, seq) => {
                return Ok(EchoAnswer::Reply { from })
            }
            Some((from, wire::Icmp::Quoting { kind, code, ident: i, seq: s, .. }))
                if (i, s) == (ident, seq) && kind != wire::REDIRECT =>
            {
                return Ok(EchoAnswer::Error { kind, code, from })
            }
            _ => {}
        }
    }
    Ok(EchoAnswer::Nothing)
}

/// Sends one echo request with `ident` and `seq` from namespace `from` to `target` and waits up to `timeout`
/// for its answer (on a thread inside the namespace).
pub async fn send_echo(
    from: &Netns,
    target: Ipv4Addr,
    ident: u16,
    seq: u16,
    timeout: Duration,
) -> io::Result<EchoAnswer> {
    netns::within(from, move || echo_here(target, ident, seq, timeout)).await
}

/// What a path probe sends: one echo request, one UDP datagram, or one TCP connection attempt (a SYN).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathProbe {
    /// An echo request with this identifier and sequence.
    Echo {
        /// Identifier.
        ident: u16,
        /// Sequence.
        seq: u16,
    },
    /// A datagram to this port (no listener waits for it: a port unreachable back shows it arrived).
    Udp {
        /// Destination port.
        port: u16,
    },
    /// A connection attempt to this port (its SYN-ACK or RST is the way back).
    Tcp {
        /// Destination port.
        port: u16,
    },
}

/// A socket made in the source's namespace and bound to a port of its choosing, so the probe's key is known
/// before anything is sent.
fn bound(kind: socket2::Type, protocol: socket2::Protocol) -> io::Result<(socket2::Socket, u16)> {
    use socket2::{Domain, SockAddr, Socket};
    let socket = Socket::new(Domain::IPV4, kind, Some(protocol))?;
    socket.bind(&SockAddr::from(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0)))?;
    let port = socket.local_addr()?.as_socket().map_or(0, |a| a.port());
    Ok((socket, port))
}

/// Sends the datagram from `socket` to `target:port` and waits for an answer or an error about it.
fn udp_here(socket: socket2::Socket, target: Ipv4Addr, port: u16, timeout: Duration) -> io::Result<EchoAnswer> {
    use socket2::SockAddr;
    // A datagram socket's connect is the route lookup: no route, nothing is sent.
    if let Err(e) = socket.connect(&SockAddr::from(SocketAddrV4::new(target, port))) {
        return not_sent(e);
    }
    socket.set_read_timeout(Some(timeout))?;
    if let Err(e) = socket.send(b"reachlab path") {
        return not_sent(e);
    }
    let mut buf = [std::mem::MaybeUninit::<u8>::uninit(); 64];
    match socket.recv(&mut buf) {
        Ok(_) => Ok(EchoAnswer::Reply { from: target }),
        Err(e) => match (refused_or_nothing(&e, target), e.raw_os_error()) {
            (Some(answer), _) => Ok(answer),
            // A host unreachable came back for the datagram.
            (None, Some(libc::EHOSTUNREACH | libc::ENETUNREACH)) => {
                Ok(EchoAnswer::Error { kind: 3, code: 1, from: target })
            }
            (None, _) => Err(e),
        },
    }
}

/// Attempts the connection from `socket` to `target:port`: accepted (SYN-ACK) is a reply, refused (RST) an
/// error back, nothing in `timeout` nothing.
fn tcp_here(socket: socket2::Socket, target: Ipv4Addr, port: u16, timeout: Duration) -> io::Result<EchoAnswer> {
    use socket2::SockAddr;
    match socket.connect_timeout(&SockAddr::from(SocketAddrV4::new(target, port)), timeout) {
        Ok(()) => Ok(EchoAnswer::Reply { from: target }),
        Err(e) => refused_or_nothing(&e, target).map_or_else(|| not_sent(e), Ok),
    }
}

/// The trace of one node, or why there is none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum NodeTrace {
    /// Traced.
    Traced {
        /// The node.
        node: String,
        /// What the trace saw.
        trace: Trace,
    },
    /// Not traced.
    Failed {
        /// The node.
        node: String,
        /// Why.
        reason: String,
    },
}

impl NodeTrace {
    /// The node.
    pub fn node(&self) -> &str {
        match self {
            NodeTrace::Traced { node, .. } | NodeTrace::Failed { node, .. } => node,
        }
    }

    /// The trace, if there is one.
    pub fn trace(&self) -> Option<&Trace> {
        match self {
            NodeTrace::Traced { trace, .. } => Some(trace),
            NodeTrace::Failed { .. } => None,
        }
    }
}

/// One echo, observed: how it ended, where it was seen, what the rulesets did with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EchoPath {
    /// How it ended at the source.
    pub answer: EchoAnswer,
    /// Where it was seen.
    pub path: ObservedPath,
    /// The traces of the nodes asked for.
    pub traces: Vec<NodeTrace>,
}

impl EchoPath {
    /// The first rule (in the nodes' order) that dropped the request, else the reply: node and step.
    pub fn dropped_by(&self) -> Option<(&str, &crate::kernel::nftrace::TraceStep)> {
        for leg in [Leg::Request, Leg::Reply] {
            for t in &self.traces {
                if let Some(step) = t.trace().and_then(|tr| tr.dropped(leg)) {
                    return Some((t.node(), step));
                }
            }
        }
        None
    }

    /// A one-line rendering for a terminal: the hops that saw the request, then where it stopped, e.g.
    /// `a va → m vma → ✗ m: FORWARD ISOLATE DROP`. Reporters may make their own from the fields.
    pub fn line(&self) -> String {
        self.line_named(&|_, interface| interface.to_string())
    }

    /// [`Self::line`] with interfaces named by `name(node, interface)` (labels for random kernel names). When
    /// the request was seen nowhere but the source's neighbour resolution was, the line is that resolution's:
    /// `ARP who-has 10.0.0.1: a va → s p1 → s p2 → b vb → back: b vb → s p2 → ✗ no ARP reply at a`.
    pub fn line_named(&self, name: &dyn Fn(&str, &str) -> String) -> String {
        let seen_in = |hops: &mut dyn Iterator<Item = &Hop>| -> Vec<String> {
            in_path_order(hops).into_iter().map(|h| format!("{} {}", h.node, name(&h.node, &h.interface))).collect()
        };
        let seen = |leg| seen_in(&mut self.path.leg(leg));
        let dropped = self.dropped_by().map(|(node, step)| format!("✗ {node}: {}", step.summary()));
        let arp_asked = self.path.arp.iter().any(|h| h.leg == Leg::Request && h.seen.is_some());
        let arp_answered = self.path.arp.last().is_some_and(|h| h.seen.is_some());
        if let (false, true, false, Some(next)) = (self.path.request_seen(), arp_asked, arp_answered, self.path.arp_for)
        {
            // The request never left: the source was still asking who has its next hop.
            let asked = seen_in(&mut self.path.arp.iter().filter(|h| h.leg == Leg::Request));
            let answers = seen_in(&mut self.path.arp.iter().filter(|h| h.leg == Leg::Reply));
            let source = self.path.arp.first().map_or("the source", |h| h.node.as_str());
            let tail = if answers.is_empty() {
                "✗ no ARP reply seen".to_string()
            } else {
                format!("back: {} → ✗ no ARP reply at {source}", answers.join(" → "))
            };
            return format!("ARP who-has {next}: {} → {tail}", asked.join(" → "));
        }
        let mut parts = seen(Leg::Request);
        if let (EchoAnswer::NotSent { errno }, true) = (&self.answer, parts.is_empty()) {
            let why = match *errno {
                libc::EPERM => "its own firewall (netfilter OUTPUT) refused it".to_string(),
                e => crate::kernel::netlink::RouteTo::no_route_words(e).to_string(),
            };
            return format!("✗ not sent: {why}");
        }
        if !self.path.reached() {
            parts.push(dropped.unwrap_or_else(|| "✗ not seen further".into()));
            return parts.join(" → ");
        }
        let back = seen(Leg::Reply);
        if self.path.answered() {
            parts.push(format!("back: {}", back.join(" → ")));
        } else {
            let mut tail = if back.is_empty() { "no reply seen".to_string() } else { back.join(" → ") };
            tail = format!("back: {tail} → {}", dropped.unwrap_or_else(|| "✗ not seen further".into()));
            parts.push(tail);
        }
        parts.join(" → ")
    }
}

impl EchoPath {
    /// The path as a check result carries it (paths; see `runner::trace`).
    pub fn report(&self) -> crate::check::PathReport {
        self.report_named(&|_, interface| interface.to_string())
    }

    /// [`Self::report`], its line naming interfaces by `name` (the hops keep the kernel's names).
    pub fn report_named(&self, name: &dyn Fn(&str, &str) -> String) -> crate::check::PathReport {
        use crate::check::{DroppedBy, PathHop, PathReport, Untraced};
        let hop = |h: &Hop| PathHop {
            node: h.node.clone(),
            interface: h.interface.clone(),
            leg: h.leg,
            seen: h.seen.is_some(),
            src: h.seen.as_ref().and_then(|s| s.src),
            dst: h.seen.as_ref().and_then(|s| s.dst),
        };
        PathReport {
            hops: self.path.hops.iter().map(hop).collect(),
            arp: self.path.arp.iter().filter(|h| h.seen.is_some()).map(hop).collect(),
            arp_for: self.path.arp_for,
            last_seen: self.path.last_seen().map(hop),
            dropped_by: self.dropped_by().map(|(node, step)| DroppedBy { node: node.into(), rule: step.summary() }),
            untraced: self
                .traces
                .iter()
                .filter_map(|t| match t {
                    NodeTrace::Failed { node, reason } => Some(Untraced { node: node.clone(), reason: reason.clone() }),
                    NodeTrace::Traced { .. } => None,
                })
                .collect(),
            lost: self.path.lost,
            pcaps: self.path.pcaps.iter().map(|p| p.display().to_string()).collect(),
            line: self.line_named(name),
            reasons: Vec::new(),
        }
    }
}

/// Sends one probe from `from` to `target` with the observers and tracers running: captures on `points` (in
/// path order, the source's interface first), netfilter traces in `traced` (namespaces the lab owns, by
/// node). An echo carries the caller's identifier; a UDP datagram or TCP SYN goes from a port the source's
/// kernel picks (bound before the captures start, so they keep that port's packets only). A tracer that cannot
/// start is reported in its [`NodeTrace`], not as an error of the whole probe.
#[allow(clippy::too_many_arguments)]
pub async fn observe_probe(
    from: &Netns,
    target: Ipv4Addr,
    probe: PathProbe,
    arp: Option<ArpKey>,
    timeout: Duration,
    points: &[Point],
    traced: &[(String, Netns)],
    dir: &Path,
) -> io::Result<EchoPath> {
    use socket2::{Protocol as P, Type};
    let (key, socket) = match probe {
        PathProbe::Echo { ident, seq } => (ProbeKey::Echo { ident, seq }, None),
        PathProbe::Udp { port } => {
            let (socket, src_port) = netns::within(from, || bound(Type::DGRAM, P::UDP)).await?;
            (ProbeKey::Udp { src_port, dst_port: port }, Some(socket))
        }
        PathProbe::Tcp { port } => {
            let (socket, src_port) = netns::within(from, || bound(Type::STREAM, P::TCP)).await?;
            (ProbeKey::Tcp { src_port, dst_port: port }, Some(socket))
        }
    };
    let tracers: Vec<Result<Tracer, TraceError>> =
        futures::future::join_all(traced.iter().map(|(_, ns)| Tracer::start(ns, key))).await;
    let observer = PathObserver::start(points, key, arp, dir).await?;
    let answer = match (probe, socket) {
        (PathProbe::Echo { ident, seq }, _) => send_echo(from, target, ident, seq, timeout).await,
        (PathProbe::Udp { port }, Some(socket)) => {
            tokio::task::spawn_blocking(move || udp_here(socket, target, port, timeout))
                .await
                .map_err(io::Error::other)?
        }
        (PathProbe::Tcp { port }, Some(socket)) => {
            tokio::task::spawn_blocking(move || tcp_here(socket, target, port, timeout))
                .await
                .map_err(io::Error::other)?
        }
        _ => Err(io::Error::other("no socket for the probe")),
    };
    let path = observer.finish().await?;
    let finished = futures::future::join_all(tracers.into_iter().map(|tracer| async move {
        match tracer {
            Ok(t) => t.finish().await,
            Err(e) => Err(e),
        }
    }))
    .await;
    let traces = traced
        .iter()
        .zip(finished)
        .map(|((node, _), finished)| match finished {
            Ok(trace) => NodeTrace::Traced { node: node.clone(), trace },
            Err(e) => NodeTrace::Failed { node: node.clone(), reason: e.to_string() },
        })
        .collect();
    Ok(EchoPath { answer: answer?, path, traces })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::summarize;

    /// An Ethernet + IPv4 + ICMP frame.
    fn icmp_frame(src: [u8; 4], dst: [u8; 4], icmp: &[u8]) -> Vec<u8> {
        let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00];
        let total = (20 + icmp.len()) as u16;
        let mut ip = vec![0x45, 0];
        ip.extend_from_slice(&total.to_be_bytes());
        ip.extend_from_slice(&[0, 0, 0, 0, 64, 1, 0, 0]);
        ip.extend_from_slice(&src);
        ip.extend_from_slice(&dst);
        let sum = wire::checksum(&ip);
        ip[10..12].copy_from_slice(&sum.to_be_bytes());
        f.extend(ip);
        f.extend_from_slice(icmp);
        f
    }

    fn echo(kind: u8, ident: u16, seq: u16) -> Vec<u8> {
        let mut m = wire::echo_request(ident, seq, b"x");
        m[0] = kind;
        m
    }

    #[test]
    fn the_capture_filter_keeps_the_probe_and_its_errors_only() {
        let key = ProbeKey::Echo { ident: 0x1234, seq: 7 };
        let program = Program::compile(&capture_expression(&key)).unwrap();
        let a = [10, 1, 0, 2];
        let b = [10, 2, 0, 2];
        assert!(program.matches(&icmp_frame(a, b, &echo(8, 0x1234, 7))));
        assert!(program.matches(&icmp_frame(b, a, &echo(0, 0x1234, 7))));
        assert!(!program.matches(&icmp_frame(a, b, &echo(8, 0x1235, 7))), "another identifier");
        assert!(!program.matches(&icmp_frame(a, b, &echo(8, 0x1234, 8))), "another sequence");
        // Host unreachable from the router, quoting the request.
        let quoted = icmp_frame(a, b, &echo(8, 0x1234, 7));
        let mut error = vec![3, 1, 0, 0, 0, 0, 0, 0];
        error.extend_from_slice(&quoted[14..14 + 28]);
        assert!(program.matches(&icmp_frame([10, 1, 0, 1], a, &error)));
        let other = icmp_frame(a, b, &echo(8, 0x4321, 7));
        let mut error = vec![3, 1, 0, 0, 0, 0, 0, 0];
        error.extend_from_slice(&other[14..14 + 28]);
        assert!(!program.matches(&icmp_frame([10, 1, 0, 1], a, &error)));
    }

    #[test]
    fn the_path_is_the_request_out_then_the_reply_back_with_addresses_as_seen() {
        let key = ProbeKey::Echo { ident: 1, seq: 1 };
        let s = |i, f: Vec<u8>| summarize(i, Duration::ZERO, &f);
        let (a, m, b) = ([10, 1, 0, 2], [10, 2, 0, 1], [10, 2, 0, 2]);
        let points: Vec<(String, String, bool)> = [("a", "va"), ("m", "vma"), ("m", "vmb"), ("b", "vb")]
            .iter()
            .map(|(n, i)| (n.to_string(), i.to_string(), false))
            .collect();
        // Masqueraded at m: b sees m's address.
        let captured = vec![
            vec![s(1, icmp_frame(a, b, &echo(8, 1, 1)))],
            vec![s(1, icmp_frame(a, b, &echo(8, 1, 1)))],
            vec![s(1, icmp_frame(m, b, &echo(8, 1, 1)))],
            vec![s(1, icmp_frame(m, b, &echo(8, 1, 1))), s(2, icmp_frame(b, m, &echo(0, 1, 1)))],
        ];
        let path = assemble(key, None, &points, &captured);
        let order: Vec<(String, Leg, bool)> =
            path.hops.iter().map(|h| (format!("{} {}", h.node, h.interface), h.leg, h.seen.is_some())).collect();
        assert_eq!(
            order,
            vec![
                ("a va".into(), Leg::Request, true),
                ("m vma".into(), Leg::Request, true),
                ("m vmb".into(), Leg::Request, true),
                ("b vb".into(), Leg::Request, true),
                ("b vb".into(), Leg::Reply, true),
                ("m vmb".into(), Leg::Reply, false),
                ("m vma".into(), Leg::Reply, false),
                ("a va".into(), Leg::Reply, false),
            ]
        );
        assert!(path.reached() && !path.answered());
        let last = path.last_seen().unwrap();
        assert_eq!((last.node.as_str(), last.leg), ("b", Leg::Reply));
        let at_b = path.hops[3].seen.as_ref().unwrap();
        assert_eq!(at_b.src, Some(IpAddr::V4(Ipv4Addr::from(m))), "the rewritten source, as b saw it");

        let line = EchoPath { answer: EchoAnswer::Nothing, path, traces: vec![] }.line();
        assert_eq!(line, "a va → m vma → m vmb → b vb → back: b vb → ✗ not seen further");
    }

    #[test]
    fn hops_are_ordered_by_the_namespace_they_reached_then_in_and_out() {
        // As seen on a real Test1 lab (alpine2 -> alpine3 on another network): server1's bridge reported a stamp
        // from before alpine2 sent the request; server1 was reached when its veth port saw it arrive.
        let hop = |node: &str, interface: &str, bridge: bool, at_us: u64, outgoing: bool| Hop {
            node: node.into(),
            interface: interface.into(),
            leg: Leg::Request,
            seen: Some(Seen { src: None, dst: None, frames: 1, at: Duration::from_micros(at_us), outgoing }),
            bridge,
        };
        let hops = [
            hop("alpine2", "eth0", false, 743, true),
            hop("server1", "docker0", true, 672, false),
            hop("server1", "vethout", false, 800, true),
            hop("server1", "vethin", false, 767, false),
            hop("server1", "br-net", true, 790, true),
            hop("alpine3", "eth0", false, 850, false),
        ];
        let order: Vec<String> =
            in_path_order(hops.iter()).into_iter().map(|h| format!("{} {}", h.node, h.interface)).collect();
        assert_eq!(
            order,
            ["alpine2 eth0", "server1 vethin", "server1 docker0", "server1 br-net", "server1 vethout", "alpine3 eth0"]
        );
    }
}
