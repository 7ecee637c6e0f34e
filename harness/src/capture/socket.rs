//! Live capture on one interface of a lab namespace, like `tcpdump -p -i IFACE -w FILE EXPR`.
//!
//! The AF_PACKET socket is created, and the interface looked up, on a thread that entered the namespace
//! ([`netns::within`]): a socket belongs to the namespace it was created in, and an interface name means
//! something only inside its namespace. The filter libpcap compiled is attached to the socket
//! (`SO_ATTACH_FILTER`) before it is bound, so the kernel filters from the first frame on and queues only what
//! matches. The bound socket is then read by a dedicated thread (blocking reads with a short timeout, so it
//! notices when to stop), never by a tokio worker.
//!
//! Linux takes the 802.1Q tag out of a frame before packet sockets see it, and hands it over beside the frame
//! (`PACKET_AUXDATA`). Like libpcap, the reader puts the tag back, so the pcap holds the frame as it was on the
//! wire; and so that a filter means on the live link exactly what it means to `tcpdump -r` on that pcap, the
//! kernel passes every tagged frame and the reader runs the program (in libpcap) on the frame with its tag.
//!
//! When the capture stops, the kernel filter is swapped for one that passes nothing, the queue is drained, and
//! the socket's statistics (`PACKET_STATISTICS`) say how many matching frames the kernel dropped because the
//! receive buffer was full: those frames are in no count and no file, and the judge must know.

use super::packet::{summarize, PacketSummary};
use super::pcap::PcapWriter;
use crate::filter::{Program, SNAPLEN};
use crate::kernel::netns::{self, Netns};
use serde::Serialize;
use socket2::{Domain, SockFilter, Socket, Type};
use std::ffi::CString;
use std::io;
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::oneshot;

/// How long one read waits before the thread checks whether it should stop.
const POLL: Duration = Duration::from_millis(20);
/// After `stop`, reading goes on until the queue is empty (one quiet [`POLL`]); this bounds it if it never is.
const MAX_DRAIN: Duration = Duration::from_secs(2);
/// The receive buffer reachlab asks for: room for about 20,000 small frames queued at once while the thread
/// writes the file (the kernel charges each frame its buffer's true size, about 1 KiB for a ping), so that the
/// captures of a suite never drop.
pub const RECEIVE_BUFFER: usize = 8 << 20;
/// The kernel's limit on a classic BPF program's length (`BPF_MAXINSNS`).
const MAX_INSTRUCTIONS: usize = 4096;

/// How a capture's socket is set up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CaptureOptions {
    /// Requested receive buffer, in bytes (`SO_RCVBUFFORCE`; the kernel doubles it for its bookkeeping).
    pub receive_buffer: usize,
}

impl Default for CaptureOptions {
    fn default() -> Self {
        CaptureOptions { receive_buffer: RECEIVE_BUFFER }
    }
}

/// What a capture saw.
#[derive(Debug, Clone, Serialize)]
pub struct CaptureResult {
    /// The interface captured on.
    pub interface: String,
    /// The pcap file, holding exactly the frames in `packets`.
    pub pcap: PathBuf,
    /// When the capture started: each packet's `time` counts from here.
    #[serde(skip)]
    pub started: SystemTime,
    /// The frames that matched the filter, in order.
    pub packets: Vec<PacketSummary>,
    /// Frames that passed the kernel's filter and that the kernel dropped because the receive buffer was full
    /// (`tp_drops`): they are in no count and no file.
    pub dropped: u64,
    /// Frames that passed the kernel's filter but were still queued when the capture ended (only when draining
    /// took longer than its bound; normally 0).
    pub unread: u64,
}

impl CaptureResult {
    /// Frames that may have matched but were never read: what an assertion cannot see.
    pub fn lost(&self) -> u64 {
        self.dropped + self.unread
    }
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
    started: SystemTime,
    packets: Vec<PacketSummary>,
    dropped: u64,
    unread: u64,
}

fn context(what: String) -> impl FnOnce(io::Error) -> io::Error {
    move |e| io::Error::new(e.kind(), format!("{what}: {e}"))
}

impl Capture {
    /// Starts capturing frames in and out of `interface` in namespace `ns`, writing those `program` keeps to a
    /// new pcap file at `pcap_path`. The interface is not put in promiscuous mode (like `tcpdump -p`): a capture
    /// must not change what the lab delivers.
    pub async fn start(
        ns: &Netns,
        interface: &str,
        program: Program,
        pcap_path: PathBuf,
        options: CaptureOptions,
    ) -> io::Result<Capture> {
        if program.instructions().len() + KERNEL_PREFIX > MAX_INSTRUCTIONS {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "the filter compiles to {} instructions, more than the kernel takes",
                    program.instructions().len()
                ),
            ));
        }
        let kernel = kernel_program(&program);
        let (name, ns_name) = (interface.to_string(), ns.name.clone());
        let socket = netns::within(ns, move || open_socket(&name, &ns_name, &kernel, options)).await?;

        let path = pcap_path.clone();
        let writer = tokio::task::spawn_blocking(move || PcapWriter::create(&path))
            .await
            .map_err(|e| io::Error::other(format!("failed to create the pcap file: {e}")))??;

        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = oneshot::channel();
        let reader = Reader { socket, writer, program, stop: stop.clone(), started: SystemTime::now() };
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
            started: collected.started,
            packets: collected.packets,
            dropped: collected.dropped,
            unread: collected.unread,
        })
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        // Without this, an abandoned capture's thread would read forever.
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Instructions put before libpcap's program in the kernel.
const KERNEL_PREFIX: usize = 3;

/// The program the kernel runs: every frame whose 802.1Q tag the kernel took out passes (the reader decides
/// on it once the tag is back), every other frame goes through libpcap's program.
fn kernel_program(program: &Program) -> Vec<libc::sock_filter> {
    let (ld, jeq, ret) = (
        (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16,
        (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16,
        (libc::BPF_RET | libc::BPF_K) as u16,
    );
    let vlan_tag_present = (libc::SKF_AD_OFF + libc::SKF_AD_VLAN_TAG_PRESENT) as u32;
    // Jumps are relative and forward only, so libpcap's program runs unchanged after these three.
    let insn = |code, jt, jf, k| libc::sock_filter { code, jt, jf, k };
    let mut code = vec![insn(ld, 0, 0, vlan_tag_present), insn(jeq, 1, 0, 0), insn(ret, 0, 0, SNAPLEN)];
    code.extend(program.instructions().iter().map(|i| insn(i.code, i.jt, i.jf, i.k)));
    code
}

/// The program that passes nothing, attached when the capture stops.
fn nothing() -> [SockFilter; 1] {
    [SockFilter::new((libc::BPF_RET | libc::BPF_K) as u16, 0, 0, 0)]
}

fn set_int(socket: &Socket, level: libc::c_int, option: libc::c_int, value: libc::c_int) -> io::Result<()> {
    // SAFETY: the option value points to a c_int and the length passed is its size.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            level,
            option,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Opens an AF_PACKET socket filtered by `kernel` and bound to `interface`. Must run inside the interface's
/// namespace.
fn open_socket(interface: &str, ns: &str, kernel: &[libc::sock_filter], options: CaptureOptions) -> io::Result<Socket> {
    let c_name = CString::new(interface)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, format!("bad interface name {interface:?}")))?;
    // SAFETY: `c_name` is a valid NUL-terminated string for the duration of the call.
    let index = unsafe { libc::if_nametoindex(c_name.as_ptr()) };
    if index == 0 {
        return Err(io::Error::new(io::ErrorKind::NotFound, format!("no interface {interface} in namespace {ns}")));
    }
    let fail = |what: &str| context(format!("failed to {what} for a capture on {interface} in namespace {ns}"));
    // Protocol 0 receives nothing until `bind` sets ETH_P_ALL on this one interface, so no frame of another
    // interface, and none the filter would refuse, can slip in first.
    let socket = Socket::new(Domain::PACKET, Type::RAW, None).map_err(fail("open a packet socket"))?;
    // SO_RCVBUFFORCE may exceed net.core.rmem_max (it needs CAP_NET_ADMIN, which building labs needs anyway);
    // SO_RCVBUF is silently capped at rmem_max.
    let size = libc::c_int::try_from(options.receive_buffer).unwrap_or(libc::c_int::MAX);
    set_int(&socket, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, size)
        .or_else(|_| socket.set_recv_buffer_size(options.receive_buffer))
        .map_err(fail("size the receive buffer"))?;
    socket.set_read_timeout(Some(POLL)).map_err(fail("set a read timeout"))?;
    set_int(&socket, libc::SOL_PACKET, libc::PACKET_AUXDATA, 1).map_err(fail("ask for VLAN tags"))?;
    set_int(&socket, libc::SOL_SOCKET, libc::SO_TIMESTAMPNS, 1).map_err(fail("ask for timestamps"))?;
    let kernel: Vec<SockFilter> = kernel.iter().map(|f| SockFilter::new(f.code, f.jt, f.jf, f.k)).collect();
    socket.attach_filter(&kernel).map_err(fail("attach the filter"))?;
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

/// The socket's counters since they were last read (reading resets them): frames that passed the filter
/// (`tp_packets`, queued or dropped) and those dropped for lack of buffer space (`tp_drops`).
fn statistics(socket: &Socket) -> io::Result<(u64, u64)> {
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
        Ok((stats.tp_packets.into(), stats.tp_drops.into()))
    } else {
        Err(io::Error::last_os_error())
    }
}

/// One frame as read, with what the kernel said beside it.
struct Received {
    /// Bytes in the buffer (the frame, cut to the buffer).
    captured: usize,
    /// Length on the wire (without the tag the kernel took out).
    len: usize,
    /// The 802.1Q tag the kernel took out: TPID and TCI.
    tag: Option<(u16, u16)>,
    /// When the kernel saw it.
    time: Option<SystemTime>,
    /// Whether it was going out of the interface (`PACKET_OUTGOING`) rather than coming in.
    outgoing: bool,
}

/// Reads one frame into `buf`, with its `PACKET_AUXDATA` and `SCM_TIMESTAMPNS` control messages.
fn receive(socket: &Socket, buf: &mut [u8]) -> io::Result<Received> {
    let mut iov = libc::iovec { iov_base: buf.as_mut_ptr().cast(), iov_len: buf.len() };
    // u64s, for the alignment control messages need.
    let mut control = [0u64; 16];
    // SAFETY: an all-zero msghdr is valid; the pointers set below outlive the call.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    // SAFETY: an all-zero sockaddr_ll is valid; the kernel fills it in.
    let mut from: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    msg.msg_name = (&mut from as *mut libc::sockaddr_ll).cast();
    msg.msg_namelen = std::mem::size_of::<libc::sockaddr_ll>() as _;
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&control) as _;
    // SAFETY: `msg` describes valid, writable buffers. MSG_TRUNC makes the call return the frame's full length.
    let n = unsafe { libc::recvmsg(socket.as_raw_fd(), &mut msg, libc::MSG_TRUNC) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let outgoing = from.sll_pkttype == libc::PACKET_OUTGOING;
    let mut got = Received { captured: (n as usize).min(buf.len()), len: n as usize, tag: None, time: None, outgoing };
    // SAFETY: the kernel filled `msg.msg_control` with well-formed control messages, walked with the CMSG
    // macros; their payloads are read unaligned.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            let data = libc::CMSG_DATA(cmsg);
            match ((*cmsg).cmsg_level, (*cmsg).cmsg_type) {
                (libc::SOL_PACKET, libc::PACKET_AUXDATA) => {
                    let aux = std::ptr::read_unaligned(data as *const libc::tpacket_auxdata);
                    got.len = aux.tp_len as usize;
                    // libpcap's test (pcap-linux.c): a tag is there if its TCI is non-zero or the kernel says so.
                    if aux.tp_vlan_tci != 0 || aux.tp_status & libc::TP_STATUS_VLAN_VALID != 0 {
                        let tpid = if aux.tp_vlan_tpid != 0 || aux.tp_status & libc::TP_STATUS_VLAN_TPID_VALID != 0 {
                            aux.tp_vlan_tpid
                        } else {
                            libc::ETH_P_8021Q as u16
                        };
                        got.tag = Some((tpid, aux.tp_vlan_tci));
                    }
                }
                (libc::SOL_SOCKET, libc::SCM_TIMESTAMPNS) => {
                    let ts = std::ptr::read_unaligned(data as *const libc::timespec);
                    got.time = Some(UNIX_EPOCH + Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32));
                }
                _ => {}
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
    }
    Ok(got)
}

/// The capture thread's state.
struct Reader {
    socket: Socket,
    writer: PcapWriter,
    program: Program,
    stop: Arc<AtomicBool>,
    started: SystemTime,
}

impl Reader {
    fn run(mut self) -> io::Result<Collected> {
        // Room for a whole frame the filter keeps, and for the tag put back.
        let mut buf = vec![0u8; SNAPLEN as usize + 4];
        let mut frame = Vec::with_capacity(buf.len());
        let mut packets = Vec::new();
        let mut read = 0u64;
        let mut stopping_since: Option<Instant> = None;
        loop {
            if stopping_since.is_none() && self.stop.load(Ordering::Relaxed) {
                // From now on nothing more is queued; what is queued is read below.
                self.socket.attach_filter(&nothing()).map_err(context("failed to stop the kernel filter".into()))?;
                stopping_since = Some(Instant::now());
            }
            if stopping_since.is_some_and(|t| t.elapsed() > MAX_DRAIN) {
                break;
            }
            match receive(&self.socket, &mut buf[4..]) {
                Ok(got) => {
                    read += 1;
                    let now = got.time.unwrap_or_else(SystemTime::now);
                    frame.clear();
                    let data = &buf[4..4 + got.captured];
                    let len = match got.tag {
                        // Put the tag back after the MAC addresses, where it was on the wire.
                        Some((tpid, tci)) if data.len() >= 12 => {
                            frame.extend_from_slice(&data[..12]);
                            frame.extend_from_slice(&tpid.to_be_bytes());
                            frame.extend_from_slice(&tci.to_be_bytes());
                            frame.extend_from_slice(&data[12..]);
                            frame.truncate(SNAPLEN as usize);
                            if !self.program.matches(&frame) {
                                continue;
                            }
                            got.len + 4
                        }
                        _ => {
                            frame.extend_from_slice(data);
                            got.len
                        }
                    };
                    self.writer.write(now, &frame, len);
                    let time = now.duration_since(self.started).unwrap_or_default();
                    let mut summary = summarize(packets.len() + 1, time, &frame);
                    summary.len = len;
                    summary.outgoing = got.outgoing;
                    packets.push(summary);
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
        self.writer.finish()?;
        let (passed, dropped) = statistics(&self.socket).map_err(context("failed to read the drop count".into()))?;
        let unread = passed.saturating_sub(dropped).saturating_sub(read);
        Ok(Collected { started: self.started, packets, dropped, unread })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kernel_program_passes_tagged_frames_then_runs_libpcap_s() {
        let program = Program::compile("udp port 53").unwrap();
        let kernel = kernel_program(&program);
        assert_eq!(kernel.len(), program.instructions().len() + KERNEL_PREFIX);
        let raw = kernel;
        assert_eq!((raw[0].code, raw[0].k), (0x20, 0xffff_f000 + 48), "ld vlan_tag_present");
        assert_eq!((raw[1].code, raw[1].jt, raw[1].jf, raw[1].k), (0x15, 1, 0, 0), "jeq #0: untagged skip ahead");
        assert_eq!((raw[2].code, raw[2].k), (0x06, SNAPLEN), "tagged: pass");
        for (r, i) in raw[3..].iter().zip(program.instructions()) {
            assert_eq!((r.code, r.jt, r.jf, r.k), (i.code, i.jt, i.jf, i.k));
        }
    }
}
