//! nftables trace events as the kernel sends them (pure): `NFT_MSG_TRACE` messages of the nfnetlink
//! subsystem `NFNL_SUBSYS_NFTABLES`, multicast to the group `NFNLGRP_NFTRACE` of the namespace the packet was
//! in (linux/netfilter/nf_tables.h, `enum nft_trace_attributes`; net/netfilter/nf_tables_trace.c).
//!
//! One event per rule a traced packet matched, per chain it returned from, per base-chain policy applied. The
//! first event of each base chain a packet enters also carries the packet's headers and interfaces; the rest
//! carry only the trace id, which is the same for every event of one packet in one namespace.

/// `NFNL_SUBSYS_NFTABLES << 8 | NFT_MSG_TRACE`.
pub const TRACE_MESSAGE: u16 = (10 << 8) | 17;
/// `NFNLGRP_NFTRACE`: the multicast group trace events go to.
pub const NFNLGRP_NFTRACE: u32 = 9;

const NLMSG_HDRLEN: usize = 16;
const NFGENMSG_LEN: usize = 4;
/// Attribute type bits that are flags, not the type (`NLA_F_NESTED`, `NLA_F_NET_BYTEORDER`).
const NLA_TYPE_MASK: u16 = !(0x8000 | 0x4000);

const NFTA_TRACE_TABLE: u16 = 1;
const NFTA_TRACE_CHAIN: u16 = 2;
const NFTA_TRACE_RULE_HANDLE: u16 = 3;
const NFTA_TRACE_TYPE: u16 = 4;
const NFTA_TRACE_VERDICT: u16 = 5;
const NFTA_TRACE_ID: u16 = 6;
const NFTA_TRACE_NETWORK_HEADER: u16 = 8;
const NFTA_TRACE_TRANSPORT_HEADER: u16 = 9;
const NFTA_TRACE_IIF: u16 = 10;
const NFTA_TRACE_OIF: u16 = 12;
const NFTA_TRACE_NFPROTO: u16 = 15;
const NFTA_TRACE_POLICY: u16 = 16;
const NFTA_VERDICT_CODE: u16 = 1;
const NFTA_VERDICT_CHAIN: u16 = 2;

/// What kind of event (`enum nft_trace_types`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// A chain's policy decided (`NFT_TRACETYPE_POLICY`).
    Policy,
    /// The packet fell off the end of a non-base chain and went back to the chain that jumped
    /// (`NFT_TRACETYPE_RETURN`).
    Return,
    /// A rule matched (`NFT_TRACETYPE_RULE`).
    Rule,
    /// Another type number.
    Other(u32),
}

/// One trace event, as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawEvent {
    /// Pseudo-id of the packet (the same for all its events in this namespace).
    pub id: u32,
    /// The table's family (`nfgen_family`: NFPROTO_INET 1, NFPROTO_IPV4 2, NFPROTO_BRIDGE 7, …).
    pub family: u8,
    /// Table name.
    pub table: String,
    /// Chain name.
    pub chain: String,
    /// Event kind.
    pub kind: EventKind,
    /// The rule's handle, for rule events.
    pub handle: Option<u64>,
    /// The verdict code (`NF_DROP` 0, `NF_ACCEPT` 1, `NFT_CONTINUE` -1, `NFT_JUMP` -3, …) and, for jumps and
    /// gotos, the target chain.
    pub verdict: Option<(i32, Option<String>)>,
    /// For policy events: the policy (`NF_DROP` 0, `NF_ACCEPT` 1).
    pub policy: Option<u32>,
    /// The packet's protocol family (NFPROTO_IPV4 2 for IPv4, also in an inet table).
    pub nfproto: Option<u32>,
    /// Input interface index.
    pub iif: Option<u32>,
    /// Output interface index.
    pub oif: Option<u32>,
    /// The network header (at most 40 bytes).
    pub network: Option<Vec<u8>>,
    /// The transport header (at most 20 bytes: for ICMP, the 8-byte header and 12 bytes of data).
    pub transport: Option<Vec<u8>>,
}

/// The attributes of one netlink attribute stream: (type without flags, payload).
fn attributes(mut b: &[u8]) -> Vec<(u16, &[u8])> {
    let mut out = Vec::new();
    while b.len() >= 4 {
        let len = usize::from(u16::from_ne_bytes([b[0], b[1]]));
        let kind = u16::from_ne_bytes([b[2], b[3]]) & NLA_TYPE_MASK;
        if len < 4 || len > b.len() {
            break;
        }
        out.push((kind, &b[4..len]));
        let padded = (len + 3) & !3;
        b = &b[padded.min(b.len())..];
    }
    out
}

fn be32(b: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(..4)?.try_into().ok()?))
}

fn be64(b: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(b.get(..8)?.try_into().ok()?))
}

fn string(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).into_owned()
}

/// The event of one `NFT_MSG_TRACE` payload (after the netlink header).
fn event(payload: &[u8]) -> Option<RawEvent> {
    let family = *payload.first()?;
    let mut e = RawEvent {
        id: 0,
        family,
        table: String::new(),
        chain: String::new(),
        kind: EventKind::Other(0),
        handle: None,
        verdict: None,
        policy: None,
        nfproto: None,
        iif: None,
        oif: None,
        network: None,
        transport: None,
    };
    let mut has_id = false;
    for (kind, data) in attributes(payload.get(NFGENMSG_LEN..)?) {
        match kind {
            NFTA_TRACE_TABLE => e.table = string(data),
            NFTA_TRACE_CHAIN => e.chain = string(data),
            NFTA_TRACE_RULE_HANDLE => e.handle = be64(data),
            NFTA_TRACE_TYPE => {
                e.kind = match be32(data)? {
                    1 => EventKind::Policy,
                    2 => EventKind::Return,
                    3 => EventKind::Rule,
                    n => EventKind::Other(n),
                }
            }
            NFTA_TRACE_VERDICT => {
                let (mut code, mut chain) = (None, None);
                for (k, d) in attributes(data) {
                    match k {
                        NFTA_VERDICT_CODE => code = be32(d).map(|c| c as i32),
                        NFTA_VERDICT_CHAIN => chain = Some(string(d)),
                        _ => {}
                    }
                }
                e.verdict = code.map(|c| (c, chain));
            }
            NFTA_TRACE_ID => {
                e.id = be32(data)?;
                has_id = true;
            }
            NFTA_TRACE_NETWORK_HEADER => e.network = Some(data.to_vec()),
            NFTA_TRACE_TRANSPORT_HEADER => e.transport = Some(data.to_vec()),
            NFTA_TRACE_IIF => e.iif = be32(data),
            NFTA_TRACE_OIF => e.oif = be32(data),
            NFTA_TRACE_NFPROTO => e.nfproto = be32(data),
            NFTA_TRACE_POLICY => e.policy = be32(data),
            _ => {}
        }
    }
    has_id.then_some(e)
}

/// The trace events in one datagram read from the trace socket; other messages are skipped.
pub fn parse_datagram(mut buf: &[u8]) -> Vec<RawEvent> {
    let mut out = Vec::new();
    while buf.len() >= NLMSG_HDRLEN {
        let len = u32::from_ne_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
        let kind = u16::from_ne_bytes([buf[4], buf[5]]);
        if len < NLMSG_HDRLEN || len > buf.len() {
            break;
        }
        if kind == TRACE_MESSAGE {
            out.extend(event(&buf[NLMSG_HDRLEN..len]));
        }
        let padded = (len + 3) & !3;
        buf = &buf[padded.min(buf.len())..];
    }
    out
}

/// Test support: builds datagrams the way the kernel does.
#[cfg(test)]
pub(crate) mod build {
    use super::*;

    /// One attribute, padded.
    pub fn attr(kind: u16, data: &[u8]) -> Vec<u8> {
        let len = 4 + data.len();
        let mut v = Vec::with_capacity((len + 3) & !3);
        v.extend_from_slice(&(len as u16).to_ne_bytes());
        v.extend_from_slice(&kind.to_ne_bytes());
        v.extend_from_slice(data);
        v.resize((len + 3) & !3, 0);
        v
    }

    fn cstr(s: &str) -> Vec<u8> {
        let mut v = s.as_bytes().to_vec();
        v.push(0);
        v
    }

    /// A trace message with the given fields.
    #[allow(clippy::too_many_arguments)]
    pub fn message(
        family: u8,
        id: u32,
        table: &str,
        chain: &str,
        kind: u32,
        handle: Option<u64>,
        verdict: Option<(i32, Option<&str>)>,
        headers: Option<(&[u8], &[u8])>,
    ) -> Vec<u8> {
        let mut body = vec![family, 0, 0, 0];
        body.extend(attr(NFTA_TRACE_ID, &id.to_be_bytes()));
        body.extend(attr(NFTA_TRACE_TABLE, &cstr(table)));
        body.extend(attr(NFTA_TRACE_CHAIN, &cstr(chain)));
        body.extend(attr(NFTA_TRACE_TYPE, &kind.to_be_bytes()));
        if let Some(h) = handle {
            body.extend(attr(17, &[])); // NFTA_TRACE_PAD, as the kernel puts before a u64
            body.extend(attr(NFTA_TRACE_RULE_HANDLE, &h.to_be_bytes()));
        }
        if let Some((code, chain)) = verdict {
            let mut nested = attr(NFTA_VERDICT_CODE, &code.to_be_bytes());
            if let Some(c) = chain {
                nested.extend(attr(NFTA_VERDICT_CHAIN, &cstr(c)));
            }
            body.extend(attr(NFTA_TRACE_VERDICT | 0x8000, &nested));
        }
        if kind == 1 {
            body.extend(attr(NFTA_TRACE_POLICY, &verdict.map_or(1, |v| v.0 as u32).to_be_bytes()));
        }
        if let Some((network, transport)) = headers {
            body.extend(attr(NFTA_TRACE_IIF, &3u32.to_be_bytes()));
            body.extend(attr(NFTA_TRACE_NETWORK_HEADER, network));
            body.extend(attr(NFTA_TRACE_TRANSPORT_HEADER, transport));
            body.extend(attr(NFTA_TRACE_NFPROTO, &2u32.to_be_bytes()));
        }
        let len = NLMSG_HDRLEN + body.len();
        let mut msg = Vec::new();
        msg.extend_from_slice(&(len as u32).to_ne_bytes());
        msg.extend_from_slice(&TRACE_MESSAGE.to_ne_bytes());
        msg.extend_from_slice(&0u16.to_ne_bytes());
        msg.extend_from_slice(&[0u8; 8]);
        msg.extend(body);
        msg
    }
}

#[cfg(test)]
mod tests {
    use super::build::message;
    use super::*;

    #[test]
    fn reads_every_trace_message_of_a_datagram_and_skips_others() {
        let ip = [0x45u8; 20];
        let icmp = [8u8, 0, 0, 0, 0x12, 0x34, 0, 1];
        let mut dgram = message(2, 7, "filter", "FORWARD", 3, Some(2), Some((0, None)), Some((&ip, &icmp)));
        // A message of another type in between (NLMSG_NOOP).
        dgram.extend_from_slice(&16u32.to_ne_bytes());
        dgram.extend_from_slice(&1u16.to_ne_bytes());
        dgram.extend_from_slice(&[0u8; 10]);
        dgram.extend(message(2, 7, "filter", "FORWARD", 3, Some(9), Some((-3, Some("ISOLATE"))), None));
        dgram.extend(message(2, 7, "filter", "FORWARD", 1, None, Some((1, None)), None));
        let events = parse_datagram(&dgram);
        assert_eq!(events.len(), 3);
        let first = &events[0];
        assert_eq!((first.id, first.family, first.table.as_str(), first.chain.as_str()), (7, 2, "filter", "FORWARD"));
        assert_eq!((first.kind, first.handle, first.verdict.clone()), (EventKind::Rule, Some(2), Some((0, None))));
        assert_eq!((first.iif, first.nfproto), (Some(3), Some(2)));
        assert_eq!(first.transport.as_deref(), Some(&icmp[..]));
        assert_eq!(events[1].verdict, Some((-3, Some("ISOLATE".into()))));
        assert_eq!(events[1].network, None);
        assert_eq!((events[2].kind, events[2].policy), (EventKind::Policy, Some(1)));
    }

    #[test]
    fn a_truncated_datagram_yields_what_is_whole() {
        let whole = message(1, 1, "t", "c", 3, Some(1), Some((-1, None)), None);
        let mut dgram = whole.clone();
        dgram.extend_from_slice(&whole[..whole.len() - 3]);
        assert_eq!(parse_datagram(&dgram).len(), 1);
        assert!(parse_datagram(&[0u8; 7]).is_empty());
    }
}
