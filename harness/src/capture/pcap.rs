//! The classic libpcap file format (what `tcpdump -w` writes and every tool reads): a 24-byte global header,
//! then per frame a 16-byte record header and the frame. Written in native byte order, as libpcap does; the
//! magic number tells readers which.

use std::io::{self, Write};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Microsecond-resolution pcap.
const MAGIC_MICROS: u32 = 0xa1b2_c3d4;
/// Nanosecond-resolution pcap (read only).
const MAGIC_NANOS: u32 = 0xa1b2_3c4d;
/// The largest frame kept whole, as tcpdump's default `-s 0`.
pub const SNAPLEN: u32 = 262_144;
/// Ethernet frames.
const LINKTYPE_ETHERNET: u32 = 1;

/// Writes frames to a pcap stream. Wrap files in a `BufWriter`: each frame is several small writes.
pub struct PcapWriter<W: Write> {
    out: W,
}

impl<W: Write> PcapWriter<W> {
    /// Writes the global header.
    pub fn new(mut out: W) -> io::Result<Self> {
        let mut header = Vec::with_capacity(24);
        header.extend_from_slice(&MAGIC_MICROS.to_ne_bytes());
        header.extend_from_slice(&2u16.to_ne_bytes());
        header.extend_from_slice(&4u16.to_ne_bytes());
        header.extend_from_slice(&0i32.to_ne_bytes()); // thiszone: timestamps are UTC
        header.extend_from_slice(&0u32.to_ne_bytes()); // sigfigs
        header.extend_from_slice(&SNAPLEN.to_ne_bytes());
        header.extend_from_slice(&LINKTYPE_ETHERNET.to_ne_bytes());
        out.write_all(&header)?;
        Ok(PcapWriter { out })
    }

    /// Appends one frame seen at `ts`, cut to [`SNAPLEN`] (the record keeps the original length).
    pub fn write_packet(&mut self, ts: SystemTime, frame: &[u8]) -> io::Result<()> {
        let since = ts.duration_since(UNIX_EPOCH).unwrap_or_default();
        // The format's seconds are 32 bits; good until 2106.
        let secs = u32::try_from(since.as_secs()).unwrap_or(u32::MAX);
        let kept = &frame[..frame.len().min(SNAPLEN as usize)];
        let mut record = Vec::with_capacity(16);
        record.extend_from_slice(&secs.to_ne_bytes());
        record.extend_from_slice(&since.subsec_micros().to_ne_bytes());
        record.extend_from_slice(&(kept.len() as u32).to_ne_bytes());
        record.extend_from_slice(&u32::try_from(frame.len()).unwrap_or(u32::MAX).to_ne_bytes());
        self.out.write_all(&record)?;
        self.out.write_all(kept)
    }

    /// Flushes and returns the underlying writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}

/// Reads a classic pcap file (either byte order, micro- or nanosecond timestamps, Ethernet link type): each
/// frame as captured, with its timestamp.
pub fn read_pcap(bytes: &[u8]) -> Result<Vec<(SystemTime, Vec<u8>)>, String> {
    let header = bytes.get(..24).ok_or("not a pcap file: shorter than its 24-byte header")?;
    let magic = u32::from_ne_bytes([header[0], header[1], header[2], header[3]]);
    // A file written on a machine of the other byte order has its magic (and every field) swapped.
    let (swap, nanos) = match magic {
        MAGIC_MICROS => (false, false),
        MAGIC_NANOS => (false, true),
        m if m.swap_bytes() == MAGIC_MICROS => (true, false),
        m if m.swap_bytes() == MAGIC_NANOS => (true, true),
        m => return Err(format!("not a pcap file: magic number {m:#010x}")),
    };
    let u32_at = |b: &[u8], at: usize| {
        let v = u32::from_ne_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
        if swap {
            v.swap_bytes()
        } else {
            v
        }
    };
    let u16_at = |at: usize| {
        let v = u16::from_ne_bytes([header[at], header[at + 1]]);
        if swap {
            v.swap_bytes()
        } else {
            v
        }
    };
    if (u16_at(4), u16_at(6)) != (2, 4) {
        return Err(format!("unsupported pcap version {}.{}", u16_at(4), u16_at(6)));
    }
    if u32_at(header, 20) != LINKTYPE_ETHERNET {
        return Err(format!("unsupported pcap link type {} (only Ethernet, 1)", u32_at(header, 20)));
    }
    let mut frames = Vec::new();
    let mut at = 24;
    while at < bytes.len() {
        let record = bytes.get(at..at + 16).ok_or_else(|| format!("truncated record header at byte {at}"))?;
        let (secs, frac, caplen) = (u32_at(record, 0), u32_at(record, 4), u32_at(record, 8) as usize);
        let data = bytes
            .get(at + 16..at + 16 + caplen)
            .ok_or_else(|| format!("truncated frame at byte {}: {caplen} bytes announced", at + 16))?;
        let frac = if nanos { Duration::from_nanos(frac.into()) } else { Duration::from_micros(frac.into()) };
        frames.push((UNIX_EPOCH + Duration::from_secs(secs.into()) + frac, data.to_vec()));
        at += 16 + caplen;
    }
    Ok(frames)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_frames_and_microsecond_timestamps() {
        let t1 = UNIX_EPOCH + Duration::new(1_700_000_000, 123_456_789);
        let t2 = t1 + Duration::from_millis(1500);
        let mut w = PcapWriter::new(Vec::new()).unwrap();
        w.write_packet(t1, &[1, 2, 3]).unwrap();
        w.write_packet(t2, &[]).unwrap();
        let bytes = w.finish().unwrap();
        assert_eq!(bytes.len(), 24 + 16 + 3 + 16);
        assert_eq!(&bytes[..4], &MAGIC_MICROS.to_ne_bytes());
        let frames = read_pcap(&bytes).unwrap();
        let t1_micros = UNIX_EPOCH + Duration::new(1_700_000_000, 123_456_000);
        assert_eq!(frames, vec![(t1_micros, vec![1, 2, 3]), (t1_micros + Duration::from_millis(1500), vec![])]);
    }

    #[test]
    fn header_fields() {
        let bytes = PcapWriter::new(Vec::new()).unwrap().finish().unwrap();
        let u32_at = |at: usize| u32::from_ne_bytes(bytes[at..at + 4].try_into().unwrap());
        assert_eq!((u32_at(16), u32_at(20)), (262_144, 1));
        assert_eq!(u16::from_ne_bytes([bytes[4], bytes[5]]), 2);
        assert_eq!(u16::from_ne_bytes([bytes[6], bytes[7]]), 4);
        assert_eq!(read_pcap(&bytes), Ok(vec![]));
    }

    #[test]
    fn long_frames_keep_their_original_length() {
        let mut w = PcapWriter::new(Vec::new()).unwrap();
        w.write_packet(UNIX_EPOCH, &vec![7; SNAPLEN as usize + 10]).unwrap();
        let bytes = w.finish().unwrap();
        assert_eq!(u32::from_ne_bytes(bytes[36..40].try_into().unwrap()), SNAPLEN + 10);
        assert_eq!(read_pcap(&bytes).unwrap()[0].1.len(), SNAPLEN as usize);
    }

    #[test]
    fn reads_the_other_byte_order_and_nanoseconds() {
        let mut bytes = Vec::new();
        for v in [MAGIC_NANOS.to_be_bytes(), [0, 2, 0, 4], [0; 4], [0; 4], SNAPLEN.to_be_bytes(), 1u32.to_be_bytes()] {
            bytes.extend_from_slice(&v);
        }
        for v in [5u32, 7, 1, 1] {
            bytes.extend_from_slice(&v.to_be_bytes());
        }
        bytes.push(9);
        assert_eq!(read_pcap(&bytes), Ok(vec![(UNIX_EPOCH + Duration::new(5, 7), vec![9])]));
    }

    #[test]
    fn rejects_what_is_not_pcap() {
        assert!(read_pcap(b"short").unwrap_err().contains("shorter than"));
        assert!(read_pcap(&[0u8; 24]).unwrap_err().contains("magic number 0x00000000"));
        let mut w = PcapWriter::new(Vec::new()).unwrap();
        w.write_packet(UNIX_EPOCH, &[1, 2, 3]).unwrap();
        let bytes = w.finish().unwrap();
        assert!(read_pcap(&bytes[..bytes.len() - 1]).unwrap_err().contains("truncated frame"));
    }
}
