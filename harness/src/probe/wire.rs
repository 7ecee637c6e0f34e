//! ICMP on the wire, as the probes read and write it (pure): echo requests, and the messages a raw ICMP socket
//! receives — an Echo Reply, or an error or redirect quoting the request that caused it.

use std::net::Ipv4Addr;

/// Echo Reply.
pub const ECHO_REPLY: u8 = 0;
/// Destination Unreachable.
pub const DEST_UNREACHABLE: u8 = 3;
/// Redirect.
pub const REDIRECT: u8 = 5;
/// Echo Request.
pub const ECHO_REQUEST: u8 = 8;
/// Time Exceeded.
pub const TIME_EXCEEDED: u8 = 11;
/// Parameter Problem.
pub const PARAMETER_PROBLEM: u8 = 12;

/// An ICMP message about one of our echo requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Icmp {
    /// An Echo Reply with its identifier and sequence.
    EchoReply {
        /// Identifier.
        ident: u16,
        /// Sequence.
        seq: u16,
    },
    /// An error or redirect quoting an echo request (identifier and sequence of the quoted request).
    Quoting {
        /// ICMP type (3, 5, 11, 12).
        kind: u8,
        /// ICMP code.
        code: u8,
        /// For a redirect: the gateway it points to.
        gateway: Option<Ipv4Addr>,
        /// Identifier of the quoted request.
        ident: u16,
        /// Sequence of the quoted request.
        seq: u16,
    },
}

/// The Internet checksum (RFC 1071).
pub fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = data.chunks(2).map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]))).sum();
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An Echo Request (ICMP header and payload; the kernel adds the IP header). Padded to ping's 56 data bytes.
pub fn echo_request(ident: u16, seq: u16, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![ECHO_REQUEST, 0, 0, 0];
    p.extend_from_slice(&ident.to_be_bytes());
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(payload);
    p.resize(p.len().max(8 + 56), 0);
    let sum = checksum(&p);
    p[2..4].copy_from_slice(&sum.to_be_bytes());
    p
}

/// An IPv4 header's source and payload, when `ip` is IPv4 carrying `protocol`.
fn ipv4(ip: &[u8], protocol: u8) -> Option<(Ipv4Addr, Ipv4Addr, &[u8])> {
    let ihl = usize::from(*ip.first()? & 0x0f) * 4;
    if *ip.first()? >> 4 != 4 || ihl < 20 || *ip.get(9)? != protocol {
        return None;
    }
    let src = Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]);
    let dst = Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]);
    Some((src, dst, ip.get(ihl..)?))
}

/// Reads what a raw ICMP socket received (IP header included): who sent it and what it says about an echo
/// request, or `None` for anything else (other ICMP, truncated, an error quoting something not ours).
pub fn parse_icmp(packet: &[u8]) -> Option<(Ipv4Addr, Icmp)> {
    let (from, _, icmp) = ipv4(packet, 1)?;
    let (kind, code) = (*icmp.first()?, *icmp.get(1)?);
    let be = |b: &[u8], at: usize| Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]));
    match kind {
        ECHO_REPLY => Some((from, Icmp::EchoReply { ident: be(icmp, 4)?, seq: be(icmp, 6)? })),
        DEST_UNREACHABLE | REDIRECT | TIME_EXCEEDED | PARAMETER_PROBLEM => {
            let (_, _, quoted) = ipv4(icmp.get(8..)?, 1)?;
            if *quoted.first()? != ECHO_REQUEST {
                return None;
            }
            let gateway = (kind == REDIRECT).then(|| Ipv4Addr::new(icmp[4], icmp[5], icmp[6], icmp[7]));
            Some((from, Icmp::Quoting { kind, code, gateway, ident: be(quoted, 4)?, seq: be(quoted, 6)? }))
        }
        _ => None,
    }
}

/// An ICMP error in words.
pub fn icmp_error_words(kind: u8, code: u8) -> String {
    match (kind, code) {
        (DEST_UNREACHABLE, 0) => "network unreachable".into(),
        (DEST_UNREACHABLE, 1) => "host unreachable".into(),
        (DEST_UNREACHABLE, 2) => "protocol unreachable".into(),
        (DEST_UNREACHABLE, 3) => "port unreachable".into(),
        (DEST_UNREACHABLE, 4) => "fragmentation needed".into(),
        (DEST_UNREACHABLE, 9 | 10 | 13) => "communication administratively prohibited".into(),
        (DEST_UNREACHABLE, c) => format!("destination unreachable (code {c})"),
        (TIME_EXCEEDED, 0) => "time to live exceeded".into(),
        (TIME_EXCEEDED, _) => "time exceeded".into(),
        (PARAMETER_PROBLEM, _) => "parameter problem".into(),
        (t, c) => format!("ICMP type {t} code {c}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(src: [u8; 4], dst: [u8; 4], payload: &[u8]) -> Vec<u8> {
        let mut h = vec![0x45, 0, 0, 0, 0, 0, 0, 0, 64, 1, 0, 0];
        h.extend_from_slice(&src);
        h.extend_from_slice(&dst);
        h.extend_from_slice(payload);
        h
    }

    #[test]
    fn echo_request_has_a_valid_checksum() {
        let p = echo_request(0x1234, 7, b"reachlab");
        assert_eq!(p.len(), 64);
        assert_eq!(checksum(&p), 0, "a packet including its checksum sums to zero");
        assert_eq!(&p[4..8], &[0x12, 0x34, 0, 7]);
    }

    #[test]
    fn replies_errors_and_redirects_quote_the_request() {
        let req = echo_request(0xbeef, 2, b"x");
        let reply = ip([10, 0, 0, 2], [10, 0, 0, 1], &[0, 0, 0, 0, 0xbe, 0xef, 0, 2]);
        assert_eq!(parse_icmp(&reply), Some((Ipv4Addr::new(10, 0, 0, 2), Icmp::EchoReply { ident: 0xbeef, seq: 2 })));
        let quoted = ip([10, 0, 0, 1], [10, 0, 0, 2], &req[..8]);
        let mut redirect = vec![REDIRECT, 1, 0, 0, 10, 0, 0, 2];
        redirect.extend_from_slice(&quoted);
        let (from, m) = parse_icmp(&ip([10, 0, 0, 254], [10, 0, 0, 1], &redirect)).unwrap();
        assert_eq!(from, Ipv4Addr::new(10, 0, 0, 254));
        assert_eq!(
            m,
            Icmp::Quoting { kind: REDIRECT, code: 1, gateway: Some(Ipv4Addr::new(10, 0, 0, 2)), ident: 0xbeef, seq: 2 }
        );
        let mut unreachable = vec![DEST_UNREACHABLE, 1, 0, 0, 0, 0, 0, 0];
        unreachable.extend_from_slice(&quoted);
        assert!(matches!(
            parse_icmp(&ip([10, 0, 0, 1], [10, 0, 0, 1], &unreachable)),
            Some((_, Icmp::Quoting { kind: DEST_UNREACHABLE, code: 1, gateway: None, ident: 0xbeef, seq: 2 }))
        ));
        // An error about a UDP datagram is not about an echo request.
        let mut udp_quoted = ip([10, 0, 0, 1], [10, 0, 0, 2], &[0; 8]);
        udp_quoted[9] = 17;
        let mut port = vec![DEST_UNREACHABLE, 3, 0, 0, 0, 0, 0, 0];
        port.extend_from_slice(&udp_quoted);
        assert_eq!(parse_icmp(&ip([10, 0, 0, 2], [10, 0, 0, 1], &port)), None);
        assert_eq!(parse_icmp(&[0x45, 0]), None);
    }
}
