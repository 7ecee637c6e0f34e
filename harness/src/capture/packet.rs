//! One-line summaries of captured frames, shown the way `tcpdump -nn` shows them and serialized for reports.

use super::frame::{Frame, Network, IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP};
use serde::{Serialize, Serializer};
use std::fmt;
use std::net::Ipv4Addr;
use std::time::Duration;

/// What a frame carries, as far as a summary needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Protocol {
    /// ICMP with its type and code.
    Icmp {
        /// ICMP type (8 echo request, 0 echo reply, 3 destination unreachable, …).
        kind: u8,
        /// ICMP code.
        code: u8,
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
    /// Another IPv4 protocol — or ICMP, UDP, TCP in a non-first fragment, which carries no transport header.
    OtherIp(u8),
    /// Another ethertype (or an unreadable header), with the ethertype.
    Other(u16),
}

/// A captured frame, summarized.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PacketSummary {
    /// Position among the frames the capture kept, from 1 as tcpdump and Wireshark count.
    pub index: usize,
    /// When the frame was seen, since the capture started.
    pub time: Duration,
    /// Length of the frame on the wire.
    pub len: usize,
    /// Ethernet source.
    #[serde(serialize_with = "serialize_mac")]
    pub src_mac: [u8; 6],
    /// Ethernet destination.
    #[serde(serialize_with = "serialize_mac")]
    pub dst_mac: [u8; 6],
    /// What it carries.
    pub protocol: Protocol,
    /// IPv4 source, for IPv4 frames.
    pub src: Option<Ipv4Addr>,
    /// IPv4 destination, for IPv4 frames.
    pub dst: Option<Ipv4Addr>,
    /// The length tcpdump reports: UDP/TCP payload, ICMP message, ARP packet, IP payload; the frame otherwise.
    pub payload_len: usize,
}

/// `02:42:ac:11:00:02`.
pub fn mac_to_string(mac: &[u8; 6]) -> String {
    mac.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")
}

fn serialize_mac<S: Serializer>(mac: &[u8; 6], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&mac_to_string(mac))
}

/// Summarizes the raw Ethernet frame `frame`, the `index`th kept, seen `time` after the capture started.
pub fn summarize(index: usize, time: Duration, frame: &[u8]) -> PacketSummary {
    let mut summary = PacketSummary {
        index,
        time,
        len: frame.len(),
        src_mac: [0; 6],
        dst_mac: [0; 6],
        protocol: Protocol::Other(0),
        src: None,
        dst: None,
        payload_len: frame.len(),
    };
    let Some(f) = Frame::parse(frame) else { return summary };
    summary.src_mac = f.src_mac;
    summary.dst_mac = f.dst_mac;
    summary.protocol = Protocol::Other(f.ethertype);
    match f.network {
        Network::Ipv4(ip) => {
            summary.src = Some(ip.src);
            summary.dst = Some(ip.dst);
            summary.payload_len = ip.payload.len();
            let ports = ip.ports();
            summary.protocol = match (ip.protocol, ports) {
                (IPPROTO_UDP, Some((src_port, dst_port))) => {
                    summary.payload_len = ip.udp_payload_len().unwrap_or(summary.payload_len);
                    Protocol::Udp { src_port, dst_port }
                }
                (IPPROTO_TCP, Some((src_port, dst_port))) => match ip.tcp() {
                    Some((flags, payload)) => {
                        summary.payload_len = payload;
                        Protocol::Tcp { src_port, dst_port, flags }
                    }
                    None => Protocol::OtherIp(IPPROTO_TCP),
                },
                (IPPROTO_ICMP, _) => match ip.icmp() {
                    Some((kind, code)) => Protocol::Icmp { kind, code },
                    None => Protocol::OtherIp(IPPROTO_ICMP),
                },
                (other, _) => Protocol::OtherIp(other),
            };
        }
        Network::Arp(arp) => {
            summary.payload_len = 28;
            summary.protocol = Protocol::Arp { op: arp.op, sender: arp.sender, target: arp.target };
        }
        Network::Other => {}
    }
    summary
}

fn icmp_words(kind: u8, code: u8) -> String {
    let unreachable = ["net", "host", "protocol", "port", "need to frag", "source route failed"];
    match (kind, code) {
        (0, _) => "echo reply".into(),
        (8, _) => "echo request".into(),
        (3, c) if usize::from(c) < unreachable.len() => format!("{} unreachable", unreachable[usize::from(c)]),
        (3, 13) => "administratively prohibited".into(),
        (3, c) => format!("unreachable, code {c}"),
        (5, _) => "redirect".into(),
        (11, 0) => "time exceeded in-transit".into(),
        (11, _) => "time exceeded".into(),
        (t, c) => format!("type {t}, code {c}"),
    }
}

/// tcpdump's flag letters, in its order: `S` SYN, `.` ACK, `F`, `R`, `P`, `U`, `E`, `W`.
fn tcp_flags(flags: u8) -> String {
    [(0x01, 'F'), (0x02, 'S'), (0x04, 'R'), (0x08, 'P'), (0x10, '.'), (0x20, 'U'), (0x40, 'E'), (0x80, 'W')]
        .iter()
        .filter(|(bit, _)| flags & bit != 0)
        .map(|(_, c)| c)
        .collect()
}

/// Like `tcpdump -nn` without the timestamp: `10.0.0.1.40000 > 10.0.0.2.2020: UDP, length 9`.
impl fmt::Display for PacketSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.payload_len;
        let (src, dst) = (self.src.unwrap_or(Ipv4Addr::UNSPECIFIED), self.dst.unwrap_or(Ipv4Addr::UNSPECIFIED));
        match self.protocol {
            Protocol::Udp { src_port, dst_port } => write!(f, "{src}.{src_port} > {dst}.{dst_port}: UDP, length {n}"),
            Protocol::Tcp { src_port, dst_port, flags } => {
                write!(f, "{src}.{src_port} > {dst}.{dst_port}: Flags [{}], length {n}", tcp_flags(flags))
            }
            Protocol::Icmp { kind, code } => write!(f, "{src} > {dst}: ICMP {}, length {n}", icmp_words(kind, code)),
            Protocol::Arp { op: 1, sender, target } => {
                write!(f, "ARP, Request who-has {target} tell {sender}, length {n}")
            }
            Protocol::Arp { op: 2, sender, .. } => {
                write!(f, "ARP, Reply {sender} is-at {}, length {n}", mac_to_string(&self.src_mac))
            }
            Protocol::Arp { op, .. } => write!(f, "ARP, op {op}, length {n}"),
            Protocol::OtherIp(p) => write!(f, "{src} > {dst}: ip-proto-{p}, length {n}"),
            Protocol::Other(ethertype) => write!(f, "ethertype 0x{ethertype:04x}, length {n}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::frame::build::*;

    const A: [u8; 4] = [192, 168, 56, 4];
    const B: [u8; 4] = [192, 168, 56, 3];

    fn line(frame: &[u8]) -> String {
        summarize(1, Duration::ZERO, frame).to_string()
    }

    #[test]
    fn lines_read_like_tcpdump() {
        assert_eq!(
            line(&udp(A, 40000, B, 2020, b"hello you")),
            "192.168.56.4.40000 > 192.168.56.3.2020: UDP, length 9"
        );
        assert_eq!(line(&tcp(A, 40000, B, 80, 0x12)), "192.168.56.4.40000 > 192.168.56.3.80: Flags [S.], length 0");
        assert_eq!(line(&tcp(A, 40000, B, 80, 0x18)), "192.168.56.4.40000 > 192.168.56.3.80: Flags [P.], length 0");
        assert_eq!(line(&icmp(A, B, 8, 0)), "192.168.56.4 > 192.168.56.3: ICMP echo request, length 10");
        assert_eq!(line(&icmp(B, A, 0, 0)), "192.168.56.3 > 192.168.56.4: ICMP echo reply, length 10");
        assert_eq!(line(&icmp(B, A, 3, 3)), "192.168.56.3 > 192.168.56.4: ICMP port unreachable, length 10");
        assert_eq!(
            line(&icmp(B, A, 3, 13)),
            "192.168.56.3 > 192.168.56.4: ICMP administratively prohibited, length 10"
        );
        assert_eq!(line(&icmp(B, A, 42, 1)), "192.168.56.3 > 192.168.56.4: ICMP type 42, code 1, length 10");
        assert_eq!(line(&arp(1, A, B)), "ARP, Request who-has 192.168.56.3 tell 192.168.56.4, length 28");
        assert_eq!(line(&arp(2, B, A)), "ARP, Reply 192.168.56.3 is-at 02:00:00:00:00:0a, length 28");
        assert_eq!(line(&ipv4(A, B, 47, 0, &[0; 4])), "192.168.56.4 > 192.168.56.3: ip-proto-47, length 4");
        assert_eq!(line(&ipv4(A, B, 17, 185, &[0; 4])), "192.168.56.4 > 192.168.56.3: ip-proto-17, length 4");
        assert_eq!(line(&other(0x86dd)), "ethertype 0x86dd, length 54");
    }

    #[test]
    fn fields_and_json() {
        let s = summarize(3, Duration::from_millis(5), &udp(A, 1, B, 2, b"x"));
        assert_eq!((s.index, s.len, s.src, s.dst), (3, 43, Some(A.into()), Some(B.into())));
        assert_eq!(s.protocol, Protocol::Udp { src_port: 1, dst_port: 2 });
        let json = serde_json::to_value(&s).unwrap();
        assert_eq!(json["src_mac"], "02:00:00:00:00:0a");
        assert_eq!(json["protocol"], serde_json::json!({ "udp": { "src_port": 1, "dst_port": 2 } }));
        assert_eq!(json["src"], "192.168.56.4");
        let other = serde_json::to_value(summarize(1, Duration::ZERO, &other(0x86dd))).unwrap();
        assert_eq!(other["protocol"], serde_json::json!({ "other": 0x86dd }));
    }

    #[test]
    fn garbage_is_summarized_not_rejected() {
        let s = summarize(1, Duration::ZERO, &[0xff; 5]);
        assert_eq!((s.protocol, s.len, s.src), (Protocol::Other(0), 5, None));
        assert_eq!(mac_to_string(&[0x02, 0x42, 0xac, 0x11, 0, 2]), "02:42:ac:11:00:02");
    }
}
