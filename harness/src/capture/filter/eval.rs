//! Matching a bound filter against a raw Ethernet frame.

use super::{Dir, Expr, Proto};
use crate::capture::frame::{Frame, Network, ETHERTYPE_ARP, ETHERTYPE_IPV4, IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP};
use std::net::Ipv4Addr;

/// Whether `frame` passes `expr`. A frame too short for an Ethernet header passes only the empty filter.
pub(super) fn matches(expr: &Expr<Vec<Ipv4Addr>>, frame: &[u8]) -> bool {
    match Frame::parse(frame) {
        Some(f) => eval(expr, &f),
        None => matches!(expr, Expr::All),
    }
}

/// Whether `src`/`dst` satisfy `test` on the side(s) `dir` names.
fn sided<T: Copy>(dir: Dir, src: T, dst: T, test: impl Fn(T) -> bool) -> bool {
    match dir {
        Dir::Either => test(src) || test(dst),
        Dir::Src => test(src),
        Dir::Dst => test(dst),
    }
}

/// The (source, destination) protocol addresses `host`/`net` look at: IPv4 header addresses, or ARP
/// sender/target, as `proto` allows (tcpdump's `host` means `ip host or arp host`).
fn addresses(frame: &Frame, proto: Option<Proto>) -> Option<(Ipv4Addr, Ipv4Addr)> {
    match (&frame.network, proto) {
        (Network::Ipv4(ip), None | Some(Proto::Ip)) => Some((ip.src, ip.dst)),
        (Network::Arp(arp), None | Some(Proto::Arp)) => Some((arp.sender, arp.target)),
        _ => None,
    }
}

fn eval(expr: &Expr<Vec<Ipv4Addr>>, frame: &Frame) -> bool {
    let ip_protocol = frame.ipv4().map(|ip| ip.protocol);
    match expr {
        Expr::All => true,
        Expr::Proto(Proto::Ip) => frame.ethertype == ETHERTYPE_IPV4,
        Expr::Proto(Proto::Arp) => frame.ethertype == ETHERTYPE_ARP,
        Expr::Proto(Proto::Icmp) => ip_protocol == Some(IPPROTO_ICMP),
        Expr::Proto(Proto::Udp) => ip_protocol == Some(IPPROTO_UDP),
        Expr::Proto(Proto::Tcp) => ip_protocol == Some(IPPROTO_TCP),
        Expr::Port { proto, dir, port } => {
            let wanted = match proto {
                Some(Proto::Udp) => Some(IPPROTO_UDP),
                Some(Proto::Tcp) => Some(IPPROTO_TCP),
                _ => None,
            };
            let Some(ip) = frame.ipv4().filter(|ip| wanted.is_none_or(|w| w == ip.protocol)) else { return false };
            ip.ports().is_some_and(|(src, dst)| sided(*dir, src, dst, |p| p == *port))
        }
        Expr::Host { proto, dir, host } => {
            addresses(frame, *proto).is_some_and(|(src, dst)| sided(*dir, src, dst, |a| host.contains(&a)))
        }
        Expr::Net { proto, dir, net } => {
            addresses(frame, *proto).is_some_and(|(src, dst)| sided(*dir, src, dst, |a| net.contains(a)))
        }
        Expr::Ether { dir, mac } => sided(*dir, frame.src_mac, frame.dst_mac, |m| m == *mac),
        Expr::Not(e) => !eval(e, frame),
        Expr::And(a, b) => eval(a, frame) && eval(b, frame),
        Expr::Or(a, b) => eval(a, frame) || eval(b, frame),
    }
}

#[cfg(test)]
mod tests {
    use crate::capture::filter::{parse, BoundFilter};
    use crate::capture::frame::build::*;
    use std::net::Ipv4Addr;

    const A: [u8; 4] = [10, 0, 0, 1];
    const B: [u8; 4] = [10, 0, 0, 2];
    const C: [u8; 4] = [10, 1, 0, 3];

    fn bound(expr: &str) -> BoundFilter {
        let resolve = |n: &str| match n {
            "client" => Some(vec![Ipv4Addr::from(A)]),
            "router" => Some(vec![Ipv4Addr::from(B), Ipv4Addr::from(C)]),
            _ => None,
        };
        parse(expr).unwrap().bind(&resolve).unwrap()
    }

    /// Asserts which of the named frames `expr` matches.
    fn check(expr: &str, frames: &[(&str, Vec<u8>)], expected: &[&str]) {
        let f = bound(expr);
        let got: Vec<&str> = frames.iter().filter(|(_, fr)| f.matches(fr)).map(|(n, _)| *n).collect();
        assert_eq!(got, expected, "filter `{expr}`");
    }

    fn corpus() -> Vec<(&'static str, Vec<u8>)> {
        vec![
            ("udp a:5000>b:53", udp(A, 5000, B, 53, b"q")),
            ("udp b:53>a:5000", udp(B, 53, A, 5000, b"r")),
            ("tcp a:40000>c:80 S", tcp(A, 40000, C, 80, 0x02)),
            ("icmp a>b echo", icmp(A, B, 8, 0)),
            ("icmp b>a reply", icmp(B, A, 0, 0)),
            ("arp who-has b tell a", arp(1, A, B)),
            ("arp c is-at", arp(2, C, A)),
            ("udp frag a>b", ipv4(A, B, 17, 185, &[0x13, 0x88, 0, 53])),
            ("ipv6", other(0x86dd)),
        ]
    }

    #[test]
    fn protocols() {
        let c = corpus();
        check("icmp", &c, &["icmp a>b echo", "icmp b>a reply"]);
        check("udp", &c, &["udp a:5000>b:53", "udp b:53>a:5000", "udp frag a>b"]);
        check("tcp", &c, &["tcp a:40000>c:80 S"]);
        check("arp", &c, &["arp who-has b tell a", "arp c is-at"]);
        check("not ip and not arp", &c, &["ipv6"]);
        check("", &c, &c.iter().map(|(n, _)| *n).collect::<Vec<_>>());
    }

    #[test]
    fn ports_match_either_direction_first_fragments_only() {
        let c = corpus();
        check("port 53", &c, &["udp a:5000>b:53", "udp b:53>a:5000"]);
        check("src port 53", &c, &["udp b:53>a:5000"]);
        check("dst port 53", &c, &["udp a:5000>b:53"]);
        check("tcp port 53", &c, &[]);
        check("udp port 80 or tcp port 80", &c, &["tcp a:40000>c:80 S"]);
        check("port 5000", &c, &["udp a:5000>b:53", "udp b:53>a:5000"]);
    }

    #[test]
    fn hosts_match_ip_and_arp_addresses() {
        let c = corpus();
        check(
            "host 10.0.0.2",
            &c,
            &[
                "udp a:5000>b:53",
                "udp b:53>a:5000",
                "icmp a>b echo",
                "icmp b>a reply",
                "arp who-has b tell a",
                "udp frag a>b",
            ],
        );
        check("ip dst host 10.0.0.2", &c, &["udp a:5000>b:53", "icmp a>b echo", "udp frag a>b"]);
        check("arp host 10.0.0.2", &c, &["arp who-has b tell a"]);
        check("src client and icmp", &c, &["icmp a>b echo"]);
        check(
            "dst router and not arp",
            &c,
            &["udp a:5000>b:53", "tcp a:40000>c:80 S", "icmp a>b echo", "udp frag a>b"],
        );
        check("arp src router", &c, &["arp c is-at"]);
    }

    #[test]
    fn nets() {
        let c = corpus();
        check("net 10.1.0.0/16", &c, &["tcp a:40000>c:80 S", "arp c is-at"]);
        check("dst net 10.1.0.0/16", &c, &["tcp a:40000>c:80 S"]);
        check("src net 10.1.0.0/16", &c, &["arp c is-at"]);
        check("net 0.0.0.0/0", &c, &c[..8].iter().map(|(n, _)| *n).collect::<Vec<_>>());
    }

    #[test]
    fn ether_addresses() {
        let c = corpus();
        let all_but =
            |skip: &[&str]| -> Vec<&str> { c.iter().map(|(n, _)| *n).filter(|n| !skip.contains(n)).collect() };
        check("ether src 02:00:00:00:00:0a", &c, &all_but(&[]));
        check("ether dst 02:00:00:00:00:0b", &c, &all_but(&["arp who-has b tell a"]));
        check("ether host ff:ff:ff:ff:ff:ff", &c, &["arp who-has b tell a"]);
        check("ether src 02:00:00:00:00:0b", &c, &[]);
    }

    #[test]
    fn combinators_and_precedence() {
        let c = corpus();
        // `or` binds looser than `and`: icmp OR (udp AND port 5000)…
        check("icmp or udp and src port 5000", &c, &["udp a:5000>b:53", "icmp a>b echo", "icmp b>a reply"]);
        // …unlike tcpdump's left-to-right reading, which would be (icmp or udp) and src port 5000.
        check("(icmp or udp) and src port 5000", &c, &["udp a:5000>b:53"]);
        check("!arp && !ip", &c, &["ipv6"]);
        check("not (icmp || udp || tcp || arp)", &c, &["ipv6"]);
    }

    #[test]
    fn short_frames_match_only_the_empty_filter() {
        assert!(bound("").matches(&[1, 2, 3]));
        assert!(!bound("not icmp").matches(&[1, 2, 3]));
    }
}
