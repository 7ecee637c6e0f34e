//! Where libpcap's lexer would see identifiers (`ID` tokens) in a filter: the words that may be host names.
//!
//! This mirrors the rules of libpcap 1.10's `scanner.l` that decide what an `ID` is, and nothing more: the
//! grammar stays libpcap's. flex takes the longest match, and of equally long matches the rule listed first, so a
//! maximal run of `[-_.A-Za-z0-9]` is one token: a keyword when it spells one exactly (keywords come first), a
//! number or a dotted address when it spells one (those rules come before `ID` too), else an `ID` — which must
//! end in `[.A-Za-z0-9]`, so trailing `-`/`_` are tokens of their own. A backslash makes the following
//! characters an `ID` whatever they spell (`\icmp`). Runs touching a `:` belong to MAC or IPv6 addresses or
//! to byte offsets (`ip[2:2]`), never to names.

use std::ops::Range;

/// An identifier in a filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Word {
    /// Byte range in the expression, the backslash included when there is one.
    pub range: Range<usize>,
    /// The identifier as libpcap sees it (without the backslash).
    pub text: String,
}

/// libpcap 1.10's keywords (`scanner.l`), including the named constants that lex as numbers (`icmp-echo`,
/// `tcp-syn`, …). A node whose name is a keyword cannot be named bare (as in tcpdump): write `\name`.
#[rustfmt::skip]
const KEYWORDS: &[&str] = &[
    "dst", "src", "link", "ether", "ppp", "slip", "fddi", "tr", "wlan", "arp", "rarp", "ip", "sctp", "tcp", "udp",
    "icmp", "igmp", "igrp", "pim", "vrrp", "carp", "radio", "ip6", "icmp6", "ah", "esp", "atalk", "aarp", "decnet",
    "lat", "sca", "moprc", "mopdl", "iso", "esis", "es-is", "isis", "is-is", "l1", "l2", "iih", "lsp", "snp", "csnp",
    "psnp", "clnp", "stp", "ipx", "netbeui", "host", "net", "mask", "port", "portrange", "proto", "protochain",
    "gateway", "type", "subtype", "direction", "dir", "address1", "addr1", "address2", "addr2", "address3", "addr3",
    "address4", "addr4", "ra", "ta", "less", "greater", "byte", "broadcast", "multicast", "and", "or", "not", "len",
    "length", "inbound", "outbound", "ifindex", "vlan", "mpls", "pppoed", "pppoes", "geneve", "lane", "llc",
    "metac", "bcc", "oam", "oamf4", "oamf4ec", "oamf4sc", "sc", "ilmic", "vpi", "vci", "connectmsg",
    "metaconnect", "on", "ifname", "rset", "ruleset", "rnr", "rulenum", "srnr", "subrulenum", "reason", "action",
    "fisu", "lssu", "lsu", "msu", "hfisu", "hlssu", "hmsu", "sio", "opc", "dpc", "sls", "hsio", "hopc", "hdpc",
    "hsls", "icmptype", "icmpcode", "icmp-echoreply", "icmp-unreach", "icmp-sourcequench", "icmp-redirect",
    "icmp-echo", "icmp-routeradvert", "icmp-routersolicit", "icmp-timxceed", "icmp-paramprob", "icmp-tstamp",
    "icmp-tstampreply", "icmp-ireq", "icmp-ireqreply", "icmp-maskreq", "icmp-maskreply", "icmp6type", "icmp6code",
    "icmp6-destinationunreach", "icmp6-packettoobig", "icmp6-timeexceeded", "icmp6-parameterproblem",
    "icmp6-echo", "icmp6-echoreply", "icmp6-multicastlistenerquery", "icmp6-multicastlistenerreportv1",
    "icmp6-multicastlistenerdone", "icmp6-routersolicit", "icmp6-routeradvert", "icmp6-neighborsolicit",
    "icmp6-neighboradvert", "icmp6-redirect", "icmp6-routerrenum", "icmp6-nodeinformationquery",
    "icmp6-nodeinformationresponse", "icmp6-ineighbordiscoverysolicit", "icmp6-ineighbordiscoveryadvert",
    "icmp6-multicastlistenerreportv2", "icmp6-homeagentdiscoveryrequest", "icmp6-homeagentdiscoveryreply",
    "icmp6-mobileprefixsolicit", "icmp6-mobileprefixadvert", "icmp6-certpathsolicit", "icmp6-certpathadvert",
    "icmp6-multicastrouteradvert", "icmp6-multicastroutersolicit", "icmp6-multicastrouterterm", "tcpflags",
    "tcp-fin", "tcp-syn", "tcp-rst", "tcp-push", "tcp-ack", "tcp-urg", "tcp-ece", "tcp-cwr",
];

/// Whether libpcap reads `word` as a keyword.
pub(super) fn is_keyword(word: &str) -> bool {
    KEYWORDS.contains(&word)
}

fn id_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.'
}

/// `{N}`: decimal, or hexadecimal with `0x`.
fn is_number(s: &str) -> bool {
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit()),
        None => !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()),
    }
}

/// `HID`: two to four numbers joined by dots.
fn is_dotted_number(s: &str) -> bool {
    let parts: Vec<&str> = s.split('.').collect();
    (2..=4).contains(&parts.len()) && parts.iter().all(|p| is_number(p))
}

/// The `{MAC}` forms without colons: `a-b-c-d-e-f`, `a.b.c.d.e.f` (one or two hex digits each), `aabb.ccdd.eeff`
/// and `aabbccddeeff`.
fn is_mac(s: &str) -> bool {
    let hex = |p: &str, lens: &[usize]| lens.contains(&p.len()) && p.bytes().all(|b| b.is_ascii_hexdigit());
    let six = |sep: char| {
        let parts: Vec<&str> = s.split(sep).collect();
        parts.len() == 6 && parts.iter().all(|p| hex(p, &[1, 2]))
    };
    let dotted_words = {
        let parts: Vec<&str> = s.split('.').collect();
        parts.len() == 3 && parts.iter().all(|p| hex(p, &[4]))
    };
    six('-') || six('.') || dotted_words || hex(s, &[12])
}

/// The identifiers of `expr`, in order.
pub(super) fn words(expr: &str) -> Vec<Word> {
    let b = expr.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' {
            // `"\\"[^ !()\n\t]+`: everything up to a separator is one identifier.
            let end = (i + 1..b.len()).find(|&j| b" !()\n\t".contains(&b[j])).unwrap_or(b.len());
            if end > i + 1 {
                out.push(Word { range: i..end, text: expr[i + 1..end].to_string() });
            }
            i = end.max(i + 1);
            continue;
        }
        if !b[i].is_ascii_alphanumeric() {
            i += 1;
            continue;
        }
        let run_end = (i..b.len()).find(|&j| !id_char(b[j])).unwrap_or(b.len());
        // An identifier ends in a letter, digit or dot; what follows (`-`, `_`) lexes on its own.
        let end = (i..run_end).rev().find(|&j| b[j].is_ascii_alphanumeric() || b[j] == b'.').map_or(i + 1, |j| j + 1);
        let token = &expr[i..end];
        let touches_colon = (i > 0 && b[i - 1] == b':') || b.get(run_end) == Some(&b':');
        let not_id = touches_colon
            || is_keyword(token)
            || is_number(token)
            || is_dotted_number(token)
            || is_mac(token)
            || (i > 0 && b[i - 1] == b'$');
        if !not_id {
            out.push(Word { range: i..end, text: token.to_string() });
        }
        i = end;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(expr: &str) -> Vec<String> {
        words(expr).into_iter().map(|w| w.text).collect()
    }

    #[test]
    fn finds_identifiers_and_skips_keywords_numbers_and_addresses() {
        assert_eq!(ids("icmp and dst host server2 and not src host server1"), ["server2", "server1"]);
        assert_eq!(ids("icmp[icmptype] == icmp-echo or tcp[tcpflags] & tcp-syn != 0"), Vec::<String>::new());
        assert_eq!(ids("host 10.0.0.1 or net 10.0 or ip[2:2] > 0x40 or ether host 02:42:ac:11:00:02"), [""; 0]);
        assert_eq!(ids("ip6 host fe80::1 or ether src 0242.ac11.0002 or ether dst 02-42-ac-11-00-02"), [""; 0]);
        assert_eq!(ids("udp port domain or tcp port http"), ["domain", "http"]);
        assert_eq!(ids("ip proto \\icmp or host \\gateway"), ["icmp", "gateway"]);
        assert_eq!(ids("(host alpine-net.x)"), ["alpine-net.x"]);
    }

    #[test]
    fn identifiers_end_in_a_letter_digit_or_dot_like_libpcap_s() {
        let w = words("host h1- and h_2_");
        assert_eq!(
            w.iter().map(|w| (w.text.as_str(), w.range.clone())).collect::<Vec<_>>(),
            [("h1", 5..7), ("h_2", 13..16)]
        );
        // Longest match: `10a` is not a number, `14-2` not arithmetic.
        assert_eq!(ids("len > 14-2 or host 10a"), ["14-2", "10a"]);
    }
}
