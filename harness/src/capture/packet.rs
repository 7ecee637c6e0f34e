//! One-line summaries of captured frames, shown the way `tcpdump -nn` shows them (with the 802.1Q tags that
//! `tcpdump -e` shows), and serialized for reports. Frames are parsed with etherparse; a truncated or unknown
//! header yields a shorter summary, never an error.

use etherparse::{LaxNetSlice, LaxSlicedPacket, LinkSlice, TransportSlice};
use serde::{Serialize, Serializer};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

/// The UDP port of VXLAN (RFC 7348), which tcpdump and Wireshark decode as VXLAN.
const VXLAN_PORT: u16 = 4789;

/// What a frame carries, as far as a summary needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Protocol {
    /// ICMP.
    Icmp {
        /// ICMP type (8 echo request, 0 echo reply, 3 destination unreachable, …).
        kind: u8,
        /// ICMP code.
        code: u8,
        /// Echo identifier and sequence number.
        echo: Option<(u16, u16)>,
        /// For errors: the destination, protocol and destination port of the packet quoted.
        quoted: Option<(Ipv4Addr, u8, Option<u16>)>,
    },
    /// ICMPv6.
    Icmp6 {
        /// ICMPv6 type (128 echo request, 135 neighbor solicitation, …).
        kind: u8,
        /// ICMPv6 code.
        code: u8,
        /// Echo identifier and sequence number.
        echo: Option<(u16, u16)>,
        /// Neighbor solicitations and advertisements: the target address.
        target: Option<Ipv6Addr>,
    },
    /// UDP.
    Udp {
        /// Source port.
        src_port: u16,
        /// Destination port.
        dst_port: u16,
    },
    /// TCP.
    Tcp {
        /// Source port.
        src_port: u16,
        /// Destination port.
        dst_port: u16,
        /// The flag byte (FIN 0x01, SYN 0x02, RST 0x04, PSH 0x08, ACK 0x10, URG 0x20, ECE 0x40, CWR 0x80).
        flags: u8,
    },
    /// ARP for IPv4 over Ethernet.
    Arp {
        /// 1 request, 2 reply.
        op: u16,
        /// Sender protocol address.
        sender: Ipv4Addr,
        /// Target protocol address.
        target: Ipv4Addr,
    },
    /// Another IP protocol — or ICMP, UDP, TCP in a non-first fragment, which carries no transport header.
    OtherIp(u8),
    /// Another ethertype (or an unreadable header), with the ethertype.
    Other(u16),
}

/// An 802.1Q (or 802.1ad) tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Vlan {
    /// VLAN identifier.
    pub id: u16,
    /// Priority code point.
    pub priority: u8,
}

/// A frame carried inside VXLAN.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Vxlan {
    /// The VXLAN flags byte (0x08: the VNI is valid).
    pub flags: u8,
    /// The VXLAN network identifier.
    pub vni: u32,
    /// The inner Ethernet frame.
    pub inner: PacketSummary,
}

/// A captured frame, summarized.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PacketSummary {
    /// Position among the frames the capture kept, from 1 as tcpdump and Wireshark count.
    pub index: usize,
    /// When the frame was seen, since the capture started.
    pub time: Duration,
    /// Whether it was leaving the interface (rather than arriving), as the kernel says (live captures only).
    #[serde(skip)]
    pub outgoing: bool,
    /// Length of the frame on the wire.
    pub len: usize,
    /// Ethernet source.
    #[serde(serialize_with = "serialize_mac")]
    pub src_mac: [u8; 6],
    /// Ethernet destination.
    #[serde(serialize_with = "serialize_mac")]
    pub dst_mac: [u8; 6],
    /// 802.1Q tags, outermost first.
    pub vlans: Vec<Vlan>,
    /// What it carries.
    pub protocol: Protocol,
    /// IP source (the outer one, for encapsulated frames), for IPv4 and IPv6 frames.
    pub src: Option<IpAddr>,
    /// IP destination, for IPv4 and IPv6 frames.
    pub dst: Option<IpAddr>,
    /// The length tcpdump reports: UDP/TCP payload, ICMP message, ARP packet, IP payload; the frame otherwise.
    pub payload_len: usize,
    /// IPv6: the packet has a hop-by-hop options header (MLD reports do).
    pub hop_by_hop: bool,
    /// A VXLAN frame's inner frame.
    pub vxlan: Option<Box<Vxlan>>,
}

/// `02:42:ac:11:00:02`.
pub fn mac_to_string(mac: &[u8; 6]) -> String {
    mac.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")
}

fn serialize_mac<S: Serializer>(mac: &[u8; 6], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&mac_to_string(mac))
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn ipv4_at(b: &[u8], at: usize) -> Option<Ipv4Addr> {
    Some(Ipv4Addr::from(<[u8; 4]>::try_from(b.get(at..at + 4)?).ok()?))
}

/// The destination, protocol and (UDP/TCP) destination port of the IPv4 packet an ICMP error quotes.
fn quoted(b: &[u8]) -> Option<(Ipv4Addr, u8, Option<u16>)> {
    let header_len = usize::from(b.first()? & 0x0f) * 4;
    let proto = *b.get(9)?;
    let port = matches!(proto, 6 | 17).then(|| u16_at(b, header_len + 2)).flatten();
    Some((ipv4_at(b, 16)?, proto, port))
}

/// Summarizes the raw Ethernet frame `frame`, the `index`th kept, seen `time` after the capture started.
pub fn summarize(index: usize, time: Duration, frame: &[u8]) -> PacketSummary {
    let mut s = PacketSummary {
        index,
        time,
        outgoing: false,
        len: frame.len(),
        src_mac: [0; 6],
        dst_mac: [0; 6],
        vlans: Vec::new(),
        protocol: Protocol::Other(0),
        src: None,
        dst: None,
        payload_len: frame.len(),
        hop_by_hop: false,
        vxlan: None,
    };
    let Ok(p) = LaxSlicedPacket::from_ethernet(frame) else { return s };
    let mut ethertype = 0;
    if let Some(LinkSlice::Ethernet2(eth)) = &p.link {
        s.src_mac = eth.source();
        s.dst_mac = eth.destination();
        ethertype = eth.ether_type().0;
    }
    for ext in &p.link_exts {
        if let etherparse::LaxLinkExtSlice::Vlan(v) = ext {
            s.vlans.push(Vlan { id: v.vlan_identifier().value(), priority: v.priority_code_point().value() });
            ethertype = v.ether_type().0;
        }
    }
    s.protocol = Protocol::Other(ethertype);
    let payload = match &p.net {
        Some(LaxNetSlice::Ipv4(ip)) => {
            let h = ip.header();
            s.src = Some(IpAddr::V4(h.source_addr()));
            s.dst = Some(IpAddr::V4(h.destination_addr()));
            ip.payload().clone()
        }
        Some(LaxNetSlice::Ipv6(ip)) => {
            let h = ip.header();
            s.src = Some(IpAddr::V6(h.source_addr()));
            s.dst = Some(IpAddr::V6(h.destination_addr()));
            s.hop_by_hop = h.next_header() == etherparse::IpNumber::IPV6_HEADER_HOP_BY_HOP;
            ip.payload().clone()
        }
        Some(LaxNetSlice::Arp(arp)) => {
            let b = arp.slice();
            if let (Some(op), Some(sender), Some(target)) = (u16_at(b, 6), ipv4_at(b, 14), ipv4_at(b, 24)) {
                s.protocol = Protocol::Arp { op, sender, target };
                s.payload_len = 28;
            }
            return s;
        }
        None => return s,
    };
    s.payload_len = payload.payload.len();
    s.protocol = Protocol::OtherIp(payload.ip_number.0);
    match &p.transport {
        Some(TransportSlice::Icmpv4(icmp)) => {
            let (kind, code) = (icmp.type_u8(), icmp.code_u8());
            let b = icmp.slice();
            let echo = matches!(kind, 0 | 8).then(|| Some((u16_at(b, 4)?, u16_at(b, 6)?))).flatten();
            let quoted = matches!(kind, 3 | 5 | 11).then(|| quoted(b.get(8..)?)).flatten();
            s.protocol = Protocol::Icmp { kind, code, echo, quoted };
        }
        Some(TransportSlice::Icmpv6(icmp)) => {
            let (kind, code) = (icmp.type_u8(), icmp.code_u8());
            let b = icmp.slice();
            let echo = matches!(kind, 128 | 129).then(|| Some((u16_at(b, 4)?, u16_at(b, 6)?))).flatten();
            let target = matches!(kind, 135 | 136)
                .then(|| b.get(8..24).and_then(|t| <[u8; 16]>::try_from(t).ok()).map(Ipv6Addr::from))
                .flatten();
            s.protocol = Protocol::Icmp6 { kind, code, echo, target };
        }
        Some(TransportSlice::Udp(udp)) => {
            let (src_port, dst_port) = (udp.source_port(), udp.destination_port());
            s.payload_len = usize::from(udp.length()).saturating_sub(8);
            s.protocol = Protocol::Udp { src_port, dst_port };
            let data = udp.payload();
            if dst_port == VXLAN_PORT && data.len() >= 8 {
                let vni = u32::from_be_bytes([0, data[4], data[5], data[6]]);
                let inner = summarize(index, time, &data[8..]);
                s.vxlan = Some(Box::new(Vxlan { flags: data[0], vni, inner }));
            }
        }
        Some(TransportSlice::Tcp(tcp)) => {
            let flags = tcp.slice().get(13).copied().unwrap_or(0);
            s.payload_len = tcp.payload().len();
            s.protocol = Protocol::Tcp { src_port: tcp.source_port(), dst_port: tcp.destination_port(), flags };
        }
        _ => {}
    }
    s
}

/// What tcpdump says of an ICMP message (print-icmp.c).
fn icmp_words(kind: u8, code: u8, echo: Option<(u16, u16)>, quoted: Option<(Ipv4Addr, u8, Option<u16>)>) -> String {
    let unreachable = |dst: Ipv4Addr| match code {
        0 => format!("net {dst} unreachable"),
        1 => format!("host {dst} unreachable"),
        2 => format!("{dst} protocol {} unreachable", quoted.map_or(0, |q| q.1)),
        3 => match quoted {
            Some((_, 6, Some(port))) => format!("{dst} tcp port {port} unreachable"),
            Some((_, 17, Some(port))) => format!("{dst} udp port {port} unreachable"),
            _ => format!("{dst} port unreachable"),
        },
        4 => format!("{dst} unreachable - need to frag"),
        9 => format!("net {dst} unreachable - admin prohibited"),
        10 => format!("host {dst} unreachable - admin prohibited"),
        13 => format!("host {dst} unreachable - admin prohibited filter"),
        c => format!("{dst} unreachable - #{c}"),
    };
    match (kind, echo, quoted) {
        (0 | 8, Some((id, seq)), _) => {
            format!("echo {}, id {id}, seq {seq}", if kind == 8 { "request" } else { "reply" })
        }
        (3, _, Some((dst, ..))) => unreachable(dst),
        (11, _, _) => format!("time exceeded {}", if code == 0 { "in-transit" } else { "reassembly" }),
        (t, ..) => format!("type-#{t}"),
    }
}

/// What tcpdump says of an ICMPv6 message (print-icmp6.c).
fn icmp6_words(kind: u8, echo: Option<(u16, u16)>, target: Option<Ipv6Addr>) -> String {
    let name = match kind {
        1 => "destination unreachable",
        2 => "packet too big",
        3 => "time exceeded in-transit",
        4 => "parameter problem",
        128 => "echo request",
        129 => "echo reply",
        130 => "multicast listener query",
        131 => "multicast listener report",
        132 => "multicast listener done",
        133 => "router solicitation",
        134 => "router advertisement",
        135 => "neighbor solicitation",
        136 => "neighbor advertisement",
        137 => "redirect",
        143 => "multicast listener report v2",
        _ => return format!("type-#{kind}"),
    };
    match (echo, target) {
        (Some((id, seq)), _) => format!("{name}, id {id}, seq {seq}"),
        (_, Some(t)) if kind == 135 => format!("{name}, who has {t}"),
        (_, Some(t)) => format!("{name}, tgt is {t}"),
        _ => name.to_string(),
    }
}

/// tcpdump's flag letters, in its order (print-tcp.c): `F`, `S`, `R`, `P`, `.` ACK, `U`, `E`, `W`.
fn tcp_flags(flags: u8) -> String {
    let letters =
        [(0x01, 'F'), (0x02, 'S'), (0x04, 'R'), (0x08, 'P'), (0x10, '.'), (0x20, 'U'), (0x40, 'E'), (0x80, 'W')];
    let out: String = letters.iter().filter(|(bit, _)| flags & bit != 0).map(|(_, c)| c).collect();
    if out.is_empty() {
        "none".into()
    } else {
        out
    }
}

/// An address and port as tcpdump joins them: `10.0.0.1.53`, `2001:db8::1.53`.
fn endpoint(a: Option<IpAddr>, port: u16) -> String {
    format!("{}.{port}", a.map_or("?".to_string(), |a| a.to_string()))
}

/// Like `tcpdump -nn` without the timestamp, 802.1Q tags first as `tcpdump -e` shows them:
/// `IP 10.0.0.1.40000 > 10.0.0.2.2020: UDP, length 9`, `vlan 100, p 0, IP 10.1.0.1 > 10.1.0.2: ICMP …`.
impl fmt::Display for PacketSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for v in &self.vlans {
            write!(f, "vlan {}, p {}, ", v.id, v.priority)?;
        }
        let n = self.payload_len;
        let layer = match self.src {
            Some(IpAddr::V6(_)) => "IP6",
            _ => "IP",
        };
        let (src, dst) =
            (self.src.map_or("?".to_string(), |a| a.to_string()), self.dst.map_or("?".to_string(), |a| a.to_string()));
        let hbh = if self.hop_by_hop { "HBH " } else { "" };
        match &self.protocol {
            Protocol::Udp { src_port, dst_port } => {
                write!(f, "{layer} {} > {}: ", endpoint(self.src, *src_port), endpoint(self.dst, *dst_port))?;
                match &self.vxlan {
                    Some(v) => write!(f, "VXLAN, flags [I] (0x{:02x}), vni {} {}", v.flags, v.vni, v.inner),
                    None => write!(f, "{hbh}UDP, length {n}"),
                }
            }
            Protocol::Tcp { src_port, dst_port, flags } => write!(
                f,
                "{layer} {} > {}: {hbh}Flags [{}], length {n}",
                endpoint(self.src, *src_port),
                endpoint(self.dst, *dst_port),
                tcp_flags(*flags)
            ),
            Protocol::Icmp { kind, code, echo, quoted } => {
                write!(f, "{layer} {src} > {dst}: ICMP {}, length {n}", icmp_words(*kind, *code, *echo, *quoted))
            }
            Protocol::Icmp6 { kind, echo, target, .. } => {
                write!(f, "{layer} {src} > {dst}: {hbh}ICMP6, {}, length {n}", icmp6_words(*kind, *echo, *target))
            }
            Protocol::Arp { op: 1, sender, target } => {
                write!(f, "ARP, Request who-has {target} tell {sender}, length {n}")
            }
            Protocol::Arp { op: 2, sender, .. } => {
                write!(f, "ARP, Reply {sender} is-at {}, length {n}", mac_to_string(&self.src_mac))
            }
            Protocol::Arp { op, .. } => write!(f, "ARP, op {op}, length {n}"),
            Protocol::OtherIp(p) => write!(f, "{layer} {src} > {dst}: {hbh}ip-proto-{p} {n}"),
            Protocol::Other(ethertype) => write!(f, "ethertype 0x{ethertype:04x}, length {}", self.len),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ipv4_udp(sport: u16, dport: u16, data: &[u8]) -> Vec<u8> {
        let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00, 0x45, 0];
        f.extend_from_slice(&((28 + data.len()) as u16).to_be_bytes());
        f.extend_from_slice(&[0, 1, 0x40, 0, 64, 17, 0, 0, 192, 168, 56, 4, 192, 168, 56, 3]);
        f.extend_from_slice(&sport.to_be_bytes());
        f.extend_from_slice(&dport.to_be_bytes());
        f.extend_from_slice(&((8 + data.len()) as u16).to_be_bytes());
        f.extend_from_slice(&[0, 0]);
        f.extend_from_slice(data);
        f
    }

    #[test]
    fn udp_lines_read_like_tcpdump() {
        let s = summarize(3, Duration::from_millis(5), &ipv4_udp(40000, 2020, b"hello you"));
        assert_eq!(s.to_string(), "IP 192.168.56.4.40000 > 192.168.56.3.2020: UDP, length 9");
        assert_eq!((s.index, s.len, s.src), (3, 51, Some(IpAddr::V4(Ipv4Addr::new(192, 168, 56, 4)))));
        let json = serde_json::to_value(&s).unwrap();
        assert_eq!(json["src_mac"], "02:00:00:00:00:01");
        assert_eq!(json["protocol"], serde_json::json!({ "udp": { "src_port": 40000, "dst_port": 2020 } }));
    }

    #[test]
    fn garbage_is_summarized_not_rejected() {
        let s = summarize(1, Duration::ZERO, &[0xff; 5]);
        assert_eq!((s.protocol.clone(), s.len, s.src), (Protocol::Other(0), 5, None));
        assert_eq!(s.to_string(), "ethertype 0x0000, length 5");
        assert_eq!(tcp_flags(0x12), "S.");
        assert_eq!(mac_to_string(&[0x02, 0x42, 0xac, 0x11, 0, 2]), "02:42:ac:11:00:02");
    }
}
