//! Packet captures on lab interfaces, like `tcpdump -p -i IFACE -w FILE EXPR` run inside a namespace. The
//! filter language and its compiler (libpcap) live in [`crate::filter`].
//!
//! - [`packet`]: one-line, tcpdump-like summaries of frames (pure);
//! - [`pcap`]: pcap files, written and read by libpcap;
//! - [`socket`]: the live capture, an AF_PACKET socket created inside the lab namespace, filtered in the kernel.

pub mod packet;
pub mod pcap;
pub mod socket;

pub use packet::{mac_to_string, summarize, PacketSummary, Protocol, Vlan, Vxlan};
pub use pcap::{read_pcap, PcapFrame, PcapWriter};
pub use socket::{Capture, CaptureOptions, CaptureResult, RECEIVE_BUFFER};
