//! Live capture on one interface of a lab namespace, like `tcpdump -p -i IFACE -w FILE FILTER`.
//!
//! The AF_PACKET socket is created, and the interface looked up, on a thread that entered the namespace
//! ([`netns::within`]): a socket belongs to the namespace it was created in, and an interface name means
//! something only inside its namespace. The bound socket is then read by a dedicated thread (blocking reads with
//! a short timeout, so it notices when to stop), never by a tokio worker.

use super::filter::BoundFilter;
use super::packet::{summarize, PacketSummary};
use super::pcap::{PcapWriter, SNAPLEN};
use crate::kernel::netns::{self, Netns};
use serde::Serialize;
use socket2::{Domain, Socket, Type};
use std::ffi::CString;
use std::fs::File;
use std::io::{self, BufWriter, Read};
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::oneshot;

/// How long one read waits before the thread checks whether it should stop.
const POLL: Duration = Duration::from_millis(20);
/// After `stop`, reading goes on until the link has been quiet for one [`POLL`], but no longer than this (a busy
/// link would otherwise never let the capture end).
const MAX_DRAIN: Duration = Duration::from_millis(250);
/// Requested socket receive buffer: room for bursts while the thread writes the file.
const RECEIVE_BUFFER: usize = 8 << 20;

/// What a capture saw.
#[derive(Debug, Clone, Serialize)]
pub struct CaptureResult {
    /// The interface captured on.
    pub interface: String,
    /// The pcap file, holding exactly the frames in `packets`.
    pub pcap: PathBuf,
    /// The frames that matched the filter, in order.
    pub packets: Vec<PacketSummary>,
    /// All frames read from the interface, matching or not.
    pub seen: usize,
    /// Frames the kernel dropped because the socket's buffer was full (they are in neither count).
    pub dropped: u32,
}

/// A running capture. Stop it with [`Capture::stop`]; dropping it stops the thread and discards the summaries
/// (the pcap file is still completed).
#[derive(Debug)]
pub struct Capture {
    interface: String,
    pcap: PathBuf,
    stop: Arc<AtomicBool>,
    done: Option<oneshot::Receiver<io::Result<Collected>>>,
}

#[derive(Debug)]
struct Collected {
    packets: Vec<PacketSummary>,
    seen: usize,
    dropped: u32,
}

fn context(what: String) -> impl FnOnce(io::Error) -> io::Error {
    move |e| io::Error::new(e.kind(), format!("{what}: {e}"))
}

impl Capture {
    /// Starts capturing frames in and out of `interface` in namespace `ns`, writing those that match `filter` to
    /// a new pcap file at `pcap_path`. The interface is not put in promiscuous mode (like `tcpdump -p`): a
    /// capture must not change what the lab delivers.
    pub async fn start(ns: &Netns, interface: &str, filter: BoundFilter, pcap_path: PathBuf) -> io::Result<Capture> {
        let (name, ns_name) = (interface.to_string(), ns.name.clone());
        let socket = netns::within(ns, move || open_socket(&name, &ns_name)).await?;

        let path = pcap_path.clone();
        let writer = tokio::task::spawn_blocking(move || {
            let file = File::create(&path).map_err(context(format!("failed to create {}", path.display())))?;
            PcapWriter::new(BufWriter::new(file)).map_err(context(format!("failed to write {}", path.display())))
        })
        .await
        .map_err(|e| io::Error::other(format!("failed to create the pcap file: {e}")))??;

        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = oneshot::channel();
        let reader = Reader { socket, writer, filter, stop: stop.clone(), started: SystemTime::now() };
        std::thread::Builder::new()
            .name(format!("capture-{interface}"))
            .spawn(move || {
                let _ = tx.send(reader.run());
            })
            .map_err(context(format!("failed to start the capture thread for {interface}")))?;
        Ok(Capture { interface: interface.to_string(), pcap: pcap_path, stop, done: Some(rx) })
    }

    /// Stops the capture after reading what is already queued, completes the pcap file, and returns what was
    /// seen.
    pub async fn stop(mut self) -> io::Result<CaptureResult> {
        self.stop.store(true, Ordering::Relaxed);
        let done = self.done.take().ok_or_else(|| io::Error::other("capture already stopped"))?;
        let collected = done
            .await
            .map_err(|_| io::Error::other(format!("capture thread for {} panicked", self.interface)))?
            .map_err(context(format!("failed to capture on {}", self.interface)))?;
        Ok(CaptureResult {
            interface: std::mem::take(&mut self.interface),
            pcap: std::mem::take(&mut self.pcap),
            packets: collected.packets,
            seen: collected.seen,
            dropped: collected.dropped,
        })
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        // Without this, an abandoned capture's thread would read forever.
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Opens an AF_PACKET socket bound to `interface`. Must run inside the interface's namespace.
fn open_socket(interface: &str, ns: &str) -> io::Result<Socket> {
    let c_name = CString::new(interface)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, format!("bad interface name {interface:?}")))?;
    // SAFETY: `c_name` is a valid NUL-terminated string for the duration of the call.
    let index = unsafe { libc::if_nametoindex(c_name.as_ptr()) };
    if index == 0 {
        return Err(io::Error::new(io::ErrorKind::NotFound, format!("no interface {interface} in namespace {ns}")));
    }
    let fail = |what: &str| context(format!("failed to {what} for a capture on {interface} in namespace {ns}"));
    // Protocol 0 receives nothing until `bind` sets ETH_P_ALL on this one interface, so no frame of another
    // interface can slip in between.
    let socket = Socket::new(Domain::PACKET, Type::RAW, None).map_err(fail("open a packet socket"))?;
    set_receive_buffer(&socket).map_err(fail("size the receive buffer"))?;
    socket.set_read_timeout(Some(POLL)).map_err(fail("set a read timeout"))?;
    bind(&socket, index).map_err(fail("bind the packet socket"))?;
    Ok(socket)
}

fn bind(socket: &Socket, index: u32) -> io::Result<()> {
    let addr = libc::sockaddr_ll {
        sll_family: libc::AF_PACKET as u16,
        sll_protocol: (libc::ETH_P_ALL as u16).to_be(),
        sll_ifindex: i32::try_from(index).map_err(io::Error::other)?,
        sll_hatype: 0,
        sll_pkttype: 0,
        sll_halen: 0,
        sll_addr: [0; 8],
    };
    // SAFETY: `addr` is a fully initialized sockaddr_ll and the length passed is its size.
    let rc = unsafe {
        libc::bind(
            socket.as_raw_fd(),
            (&addr as *const libc::sockaddr_ll).cast(),
            std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn set_receive_buffer(socket: &Socket) -> io::Result<()> {
    let size = RECEIVE_BUFFER as libc::c_int;
    // SO_RCVBUFFORCE may exceed net.core.rmem_max (it needs CAP_NET_ADMIN, which building labs needs anyway);
    // without it, SO_RCVBUF is silently capped at rmem_max.
    // SAFETY: the option value points to a c_int and the length passed is its size.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUFFORCE,
            (&size as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        socket.set_recv_buffer_size(RECEIVE_BUFFER)
    }
}

/// Frames the kernel dropped for lack of buffer space since the socket was bound (reading resets the count).
fn dropped(socket: &Socket) -> io::Result<u32> {
    let mut stats = libc::tpacket_stats { tp_packets: 0, tp_drops: 0 };
    let mut len = std::mem::size_of::<libc::tpacket_stats>() as libc::socklen_t;
    // SAFETY: `stats` is a writable tpacket_stats and `len` holds its size.
    let rc = unsafe {
        libc::getsockopt(
            socket.as_raw_fd(),
            libc::SOL_PACKET,
            libc::PACKET_STATISTICS,
            (&mut stats as *mut libc::tpacket_stats).cast(),
            &mut len,
        )
    };
    if rc == 0 {
        Ok(stats.tp_drops)
    } else {
        Err(io::Error::last_os_error())
    }
}

/// The capture thread's state.
struct Reader {
    socket: Socket,
    writer: PcapWriter<BufWriter<File>>,
    filter: BoundFilter,
    stop: Arc<AtomicBool>,
    started: SystemTime,
}

impl Reader {
    fn run(mut self) -> io::Result<Collected> {
        let mut buf = vec![0u8; SNAPLEN as usize];
        let mut packets = Vec::new();
        let mut seen = 0;
        let mut stopping_since: Option<Instant> = None;
        loop {
            if stopping_since.is_none() && self.stop.load(Ordering::Relaxed) {
                stopping_since = Some(Instant::now());
            }
            if stopping_since.is_some_and(|t| t.elapsed() > MAX_DRAIN) {
                break;
            }
            match (&self.socket).read(&mut buf) {
                Ok(len) => {
                    // Timestamped on reception by this thread, which is blocked in `read` whenever the queue is
                    // empty: within scheduling latency of the kernel's own time.
                    let now = SystemTime::now();
                    seen += 1;
                    let frame = &buf[..len];
                    if self.filter.matches(frame) {
                        self.writer.write_packet(now, frame)?;
                        let time = now.duration_since(self.started).unwrap_or_default();
                        packets.push(summarize(packets.len() + 1, time, frame));
                    }
                }
                // A quiet poll interval: once stopping, the queue is drained.
                Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
                    if stopping_since.is_some() {
                        break;
                    }
                }
                // Interrupted, or the interface went down (reported once; the socket stays usable).
                Err(e) if e.kind() == io::ErrorKind::Interrupted || e.raw_os_error() == Some(libc::ENETDOWN) => {}
                Err(e) => return Err(context("failed to read a frame".into())(e)),
            }
        }
        self.writer.finish().map_err(context("failed to complete the pcap file".into()))?;
        let dropped = dropped(&self.socket).map_err(context("failed to read the drop count".into()))?;
        Ok(Collected { packets, seen, dropped })
    }
}
