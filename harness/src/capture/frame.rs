//! A borrowed, bounds-checked view of one Ethernet frame: the headers the filter and the summaries look at
//! (Ethernet, IPv4, ARP, and the first bytes of ICMP, UDP and TCP). Parsing never panics; a truncated header
//! simply yields less information.

use std::net::Ipv4Addr;

pub(crate) const ETHERTYPE_IPV4: u16 = 0x0800;
pub(crate) const ETHERTYPE_ARP: u16 = 0x0806;
pub(crate) const IPPROTO_ICMP: u8 = 1;
pub(crate) const IPPROTO_TCP: u8 = 6;
pub(crate) const IPPROTO_UDP: u8 = 17;

const ETHERNET_HEADER: usize = 14;

/// The parsed headers of a frame.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Frame<'a> {
    pub dst_mac: [u8; 6],
    pub src_mac: [u8; 6],
    pub ethertype: u16,
    pub network: Network<'a>,
}

/// What the Ethernet payload turned out to be.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Network<'a> {
    Ipv4(Ipv4<'a>),
    Arp(Arp),
    /// Another ethertype, or a header too short to read.
    Other,
}

/// An IPv4 header and what follows it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ipv4<'a> {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub protocol: u8,
    /// Fragment offset zero: only then does the payload start with the transport header.
    pub first_fragment: bool,
    /// The IP payload, cut to the header's total length (Ethernet may pad short frames).
    pub payload: &'a [u8],
}

/// An ARP packet for IPv4 over Ethernet.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Arp {
    pub op: u16,
    pub sender: Ipv4Addr,
    pub target: Ipv4Addr,
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn mac_at(b: &[u8], at: usize) -> Option<[u8; 6]> {
    b.get(at..at + 6)?.try_into().ok()
}

fn ipv4_at(b: &[u8], at: usize) -> Option<Ipv4Addr> {
    let octets: [u8; 4] = b.get(at..at + 4)?.try_into().ok()?;
    Some(Ipv4Addr::from(octets))
}

impl<'a> Frame<'a> {
    /// Parses `bytes`; `None` when they are shorter than an Ethernet header.
    pub fn parse(bytes: &'a [u8]) -> Option<Frame<'a>> {
        let dst_mac = mac_at(bytes, 0)?;
        let src_mac = mac_at(bytes, 6)?;
        let ethertype = u16_at(bytes, 12)?;
        let payload = &bytes[ETHERNET_HEADER..];
        let network = match ethertype {
            ETHERTYPE_IPV4 => Ipv4::parse(payload).map_or(Network::Other, Network::Ipv4),
            ETHERTYPE_ARP => Arp::parse(payload).map_or(Network::Other, Network::Arp),
            _ => Network::Other,
        };
        Some(Frame { dst_mac, src_mac, ethertype, network })
    }

    /// The IPv4 header, if the frame carries one.
    pub fn ipv4(&self) -> Option<&Ipv4<'a>> {
        match &self.network {
            Network::Ipv4(ip) => Some(ip),
            _ => None,
        }
    }
}

impl<'a> Ipv4<'a> {
    fn parse(b: &'a [u8]) -> Option<Ipv4<'a>> {
        let first = *b.first()?;
        let header_len = usize::from(first & 0x0f) * 4;
        if first >> 4 != 4 || header_len < 20 || b.len() < header_len {
            return None;
        }
        let total_len = usize::from(u16_at(b, 2)?);
        let fragment_offset = u16_at(b, 6)? & 0x1fff;
        let end = total_len.clamp(header_len, b.len());
        Some(Ipv4 {
            src: ipv4_at(b, 12)?,
            dst: ipv4_at(b, 16)?,
            protocol: *b.get(9)?,
            first_fragment: fragment_offset == 0,
            payload: b.get(header_len..end)?,
        })
    }

    /// The transport header, when this is the first fragment (later fragments carry only data).
    fn transport(&self, protocol: u8) -> Option<&'a [u8]> {
        (self.protocol == protocol && self.first_fragment).then_some(self.payload)
    }

    /// Source and destination port of a UDP or TCP packet.
    pub fn ports(&self) -> Option<(u16, u16)> {
        let t = self.transport(IPPROTO_UDP).or_else(|| self.transport(IPPROTO_TCP))?;
        Some((u16_at(t, 0)?, u16_at(t, 2)?))
    }

    /// ICMP type and code.
    pub fn icmp(&self) -> Option<(u8, u8)> {
        let t = self.transport(IPPROTO_ICMP)?;
        Some((*t.first()?, *t.get(1)?))
    }

    /// UDP payload length, from the UDP header's length field (as tcpdump reports it).
    pub fn udp_payload_len(&self) -> Option<usize> {
        let t = self.transport(IPPROTO_UDP)?;
        Some(usize::from(u16_at(t, 4)?).saturating_sub(8))
    }

    /// TCP flags and payload length.
    pub fn tcp(&self) -> Option<(u8, usize)> {
        let t = self.transport(IPPROTO_TCP)?;
        let header_len = usize::from(*t.get(12)? >> 4) * 4;
        Some((*t.get(13)?, t.len().saturating_sub(header_len)))
    }
}

impl Arp {
    fn parse(b: &[u8]) -> Option<Arp> {
        // Only Ethernet (1) hardware with IPv4 (0x0800) protocol addresses: 6-byte and 4-byte addresses.
        if u16_at(b, 0)? != 1 || u16_at(b, 2)? != ETHERTYPE_IPV4 || b.get(4..6)? != [6, 4] {
            return None;
        }
        Some(Arp { op: u16_at(b, 6)?, sender: ipv4_at(b, 14)?, target: ipv4_at(b, 24)? })
    }
}

/// Hand-built frames for tests.
#[cfg(test)]
pub(crate) mod build {
    use super::*;

    pub const MAC_A: [u8; 6] = [0x02, 0, 0, 0, 0, 0x0a];
    pub const MAC_B: [u8; 6] = [0x02, 0, 0, 0, 0, 0x0b];

    fn ethernet(src: [u8; 6], dst: [u8; 6], ethertype: u16, payload: &[u8]) -> Vec<u8> {
        let mut f = Vec::with_capacity(ETHERNET_HEADER + payload.len());
        f.extend_from_slice(&dst);
        f.extend_from_slice(&src);
        f.extend_from_slice(&ethertype.to_be_bytes());
        f.extend_from_slice(payload);
        f
    }

    /// An IPv4 packet in an Ethernet frame from MAC_A to MAC_B; `fragment_offset` in 8-byte units.
    pub fn ipv4(src: [u8; 4], dst: [u8; 4], protocol: u8, fragment_offset: u16, payload: &[u8]) -> Vec<u8> {
        let total = (20 + payload.len()) as u16;
        let mut ip = vec![0x45, 0];
        ip.extend_from_slice(&total.to_be_bytes());
        ip.extend_from_slice(&[0, 1]);
        ip.extend_from_slice(&fragment_offset.to_be_bytes());
        ip.extend_from_slice(&[64, protocol, 0, 0]);
        ip.extend_from_slice(&src);
        ip.extend_from_slice(&dst);
        ip.extend_from_slice(payload);
        ethernet(MAC_A, MAC_B, ETHERTYPE_IPV4, &ip)
    }

    pub fn udp(src: [u8; 4], sport: u16, dst: [u8; 4], dport: u16, data: &[u8]) -> Vec<u8> {
        let mut u = Vec::new();
        u.extend_from_slice(&sport.to_be_bytes());
        u.extend_from_slice(&dport.to_be_bytes());
        u.extend_from_slice(&((8 + data.len()) as u16).to_be_bytes());
        u.extend_from_slice(&[0, 0]);
        u.extend_from_slice(data);
        ipv4(src, dst, IPPROTO_UDP, 0, &u)
    }

    pub fn tcp(src: [u8; 4], sport: u16, dst: [u8; 4], dport: u16, flags: u8) -> Vec<u8> {
        let mut t = Vec::new();
        t.extend_from_slice(&sport.to_be_bytes());
        t.extend_from_slice(&dport.to_be_bytes());
        t.extend_from_slice(&[0; 8]);
        t.extend_from_slice(&[5 << 4, flags, 0xff, 0xff, 0, 0, 0, 0]);
        ipv4(src, dst, IPPROTO_TCP, 0, &t)
    }

    pub fn icmp(src: [u8; 4], dst: [u8; 4], kind: u8, code: u8) -> Vec<u8> {
        ipv4(src, dst, IPPROTO_ICMP, 0, &[kind, code, 0, 0, 0, 1, 0, 1, 0xaa, 0xbb])
    }

    /// An ARP request (op 1) or reply (op 2) from MAC_A.
    pub fn arp(op: u16, sender: [u8; 4], target: [u8; 4]) -> Vec<u8> {
        let mut a = vec![0, 1, 0x08, 0, 6, 4];
        a.extend_from_slice(&op.to_be_bytes());
        a.extend_from_slice(&MAC_A);
        a.extend_from_slice(&sender);
        a.extend_from_slice(&[0; 6]);
        a.extend_from_slice(&target);
        let dst = if op == 1 { [0xff; 6] } else { MAC_B };
        ethernet(MAC_A, dst, ETHERTYPE_ARP, &a)
    }

    pub fn other(ethertype: u16) -> Vec<u8> {
        ethernet(MAC_A, MAC_B, ethertype, &[0; 40])
    }
}

#[cfg(test)]
mod tests {
    use super::build::*;
    use super::*;

    #[test]
    fn reads_udp_ports_only_on_first_fragments() {
        let f = udp([10, 0, 0, 1], 4000, [10, 0, 0, 2], 53, b"abc");
        let frame = Frame::parse(&f).unwrap();
        let ip = frame.ipv4().unwrap();
        assert_eq!(
            (ip.src, ip.dst, ip.ports(), ip.udp_payload_len()),
            (Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2), Some((4000, 53)), Some(3))
        );
        let later = ipv4([10, 0, 0, 1], [10, 0, 0, 2], IPPROTO_UDP, 185, &[0x0f, 0xa0, 0, 53]);
        assert_eq!(Frame::parse(&later).unwrap().ipv4().unwrap().ports(), None);
    }

    #[test]
    fn tolerates_truncation_and_padding() {
        assert!(Frame::parse(&[0; 13]).is_none());
        let mut f = icmp([10, 0, 0, 1], [10, 0, 0, 2], 8, 0);
        f.extend_from_slice(&[0; 20]); // Ethernet padding must not count as IP payload
        assert_eq!(Frame::parse(&f).unwrap().ipv4().unwrap().payload.len(), 10);
        let cut = &f[..14 + 12];
        assert!(matches!(Frame::parse(cut).unwrap().network, Network::Other));
    }

    #[test]
    fn reads_arp() {
        let f = arp(1, [10, 0, 0, 1], [10, 0, 0, 2]);
        let Network::Arp(a) = Frame::parse(&f).unwrap().network else { panic!("not arp") };
        assert_eq!((a.op, a.sender, a.target), (1, Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2)));
    }
}
