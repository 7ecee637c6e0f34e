//! pcap files, written and read by libpcap itself (its dumper, as `tcpdump -w` writes them): Ethernet link type,
//! microsecond timestamps, snapshot length [`SNAPLEN`].

use crate::filter::libpcap::{self, Dumper, Handle, PacketHeader};
use crate::filter::SNAPLEN;
use std::io;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Writes frames to a pcap file.
pub struct PcapWriter {
    file: Dumper,
}

fn io_error(what: &str, path: &Path, e: impl std::fmt::Display) -> io::Error {
    io::Error::other(format!("failed to {what} {}: {e}", path.display()))
}

fn utf8(path: &Path) -> io::Result<&str> {
    path.to_str().ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, format!("{} is not UTF-8", path.display())))
}

impl PcapWriter {
    /// Creates (or truncates) `path` and writes the file header.
    pub fn create(path: &Path) -> io::Result<PcapWriter> {
        let dead = Handle::dead(libpcap::LINKTYPE_ETHERNET, SNAPLEN).map_err(|e| io_error("create", path, e))?;
        let file = dead.dump_open(utf8(path)?).map_err(|e| io_error("create", path, e))?;
        Ok(PcapWriter { file })
    }

    /// Appends one frame seen at `ts` whose length on the wire was `len`, cut to [`SNAPLEN`].
    pub fn write(&mut self, ts: SystemTime, frame: &[u8], len: usize) {
        let since = ts.duration_since(UNIX_EPOCH).unwrap_or_default();
        let kept = &frame[..frame.len().min(SNAPLEN as usize)];
        let header = PacketHeader {
            ts: libc::timeval {
                tv_sec: since.as_secs() as libc::time_t,
                tv_usec: libc::suseconds_t::from(since.subsec_micros() as i32),
            },
            caplen: kept.len() as u32,
            len: u32::try_from(len.max(kept.len())).unwrap_or(u32::MAX),
        };
        self.file.write(&header, kept);
    }

    /// Flushes the file; libpcap reports write errors only here.
    pub fn finish(mut self) -> io::Result<()> {
        self.file.flush().map_err(|e| io::Error::other(format!("failed to write the pcap file: {e}")))
    }
}

/// A frame read back from a pcap file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PcapFrame {
    /// When it was captured.
    pub time: SystemTime,
    /// The bytes captured.
    pub data: Vec<u8>,
    /// Its length on the wire.
    pub len: usize,
}

/// Reads every frame of the pcap file at `path` with libpcap (any byte order and timestamp precision).
pub fn read_pcap(path: &Path) -> io::Result<Vec<PcapFrame>> {
    let mut file = Handle::open_file(utf8(path)?).map_err(|e| io_error("open", path, e))?;
    if file.datalink() != libpcap::LINKTYPE_ETHERNET {
        return Err(io_error("read", path, format!("link type {} is not Ethernet", file.datalink())));
    }
    let mut frames = Vec::new();
    loop {
        match file.next_packet() {
            Ok(Some((header, data))) => {
                let ts = header.ts;
                let time = UNIX_EPOCH + Duration::new(ts.tv_sec as u64, 0) + Duration::from_micros(ts.tv_usec as u64);
                frames.push(PcapFrame { time, data: data.to_vec(), len: header.len as usize });
            }
            Ok(None) => return Ok(frames),
            Err(e) => return Err(io_error("read", path, e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_frames_lengths_and_microsecond_timestamps() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.pcap");
        let t1 = UNIX_EPOCH + Duration::new(1_700_000_000, 123_456_789);
        let mut w = PcapWriter::create(&path).unwrap();
        w.write(t1, &[1, 2, 3], 3);
        w.write(t1 + Duration::from_millis(1500), &vec![7; SNAPLEN as usize + 10], SNAPLEN as usize + 10);
        w.finish().unwrap();
        let frames = read_pcap(&path).unwrap();
        let t1_micros = UNIX_EPOCH + Duration::new(1_700_000_000, 123_456_000);
        assert_eq!(frames[0], PcapFrame { time: t1_micros, data: vec![1, 2, 3], len: 3 });
        assert_eq!(frames[1].time, t1_micros + Duration::from_millis(1500));
        assert_eq!((frames[1].data.len(), frames[1].len), (SNAPLEN as usize, SNAPLEN as usize + 10));
        let bytes = std::fs::read(&path).unwrap();
        let u32_at = |at: usize| u32::from_ne_bytes(bytes[at..at + 4].try_into().unwrap());
        assert_eq!((u32_at(0), u32_at(16), u32_at(20)), (0xa1b2_c3d4, SNAPLEN, 1), "magic, snaplen, Ethernet");
    }

    #[test]
    fn rejects_what_is_not_pcap() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.pcap");
        std::fs::write(&path, b"not a pcap file at all, not at all").unwrap();
        assert!(read_pcap(&path).unwrap_err().to_string().starts_with("failed to open"));
    }
}
