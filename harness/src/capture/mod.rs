//! Packet captures on lab interfaces, like `tcpdump -p -i IFACE -w FILE FILTER` run inside a namespace.
//!
//! - [`filter`]: a tcpdump-style filter language (pure): parse, print, bind node names, match frames;
//! - [`packet`]: one-line, tcpdump-like summaries of frames (pure);
//! - [`pcap`]: the classic pcap file format, written and read (pure);
//! - [`socket`]: the live capture, an AF_PACKET socket created inside the lab namespace.

pub mod filter;
mod frame;
pub mod packet;
pub mod pcap;
pub mod socket;

pub use filter::{parse, BoundFilter, Filter, FilterError};
pub use packet::{mac_to_string, summarize, PacketSummary, Protocol};
pub use pcap::{read_pcap, PcapWriter};
pub use socket::{Capture, CaptureResult};
