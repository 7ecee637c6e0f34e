//! Whether a probe's datagram arrived in the destination's namespace: a packet socket opened there before the
//! probe is sent (on a thread that entered the namespace), a kernel filter for UDP to the probe's port, and a
//! look for the probe's own token in what it lets through — so no other traffic is ever taken for the probe.

use crate::kernel::netns::{self, Netns};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use tokio::io::unix::AsyncFd;
use tokio::sync::oneshot;

/// A watch for one token; fires once when a frame carrying it is seen.
pub struct Arrival {
    seen: oneshot::Receiver<u32>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Arrival {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Arrival {
    /// The index of the interface (in the destination's namespace) the token was seen on, if it was by now.
    pub fn seen_on(&mut self) -> Option<u32> {
        self.seen.try_recv().ok()
    }
}

/// `ip and udp dst port PORT` over Ethernet (what `tcpdump -dd` prints for it): IPv4, protocol 17, first
/// fragment, destination port at the transport header's offset 2.
fn udp_dst_port(port: u16) -> Vec<libc::sock_filter> {
    let op = |code: u16, jt: u8, jf: u8, k: u32| libc::sock_filter { code, jt, jf, k };
    vec![
        op(0x28, 0, 0, 12),              // ldh [12]
        op(0x15, 0, 8, 0x0800),          // jeq #IPv4
        op(0x30, 0, 0, 23),              // ldb [23]
        op(0x15, 0, 6, 17),              // jeq #UDP
        op(0x28, 0, 0, 20),              // ldh [20]
        op(0x45, 4, 0, 0x1fff),          // jset #fragment offset -> drop
        op(0xb1, 0, 0, 14),              // ldxb 4*([14]&0xf)
        op(0x48, 0, 0, 16),              // ldh [x + 16]
        op(0x15, 0, 1, u32::from(port)), // jeq #port
        op(0x06, 0, 0, 262_144),         // ret: keep
        op(0x06, 0, 0, 0),               // ret: drop
    ]
}

fn open(port: u16) -> io::Result<OwnedFd> {
    let proto = (libc::ETH_P_ALL as u16).to_be();
    // SAFETY: socket(2); ownership of a valid descriptor goes to the OwnedFd.
    let fd = unsafe {
        libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC, proto.into())
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut program = udp_dst_port(port);
    let prog = libc::sock_fprog { len: program.len() as u16, filter: program.as_mut_ptr() };
    // SAFETY: setsockopt with a pointer to a live sock_fprog whose filter outlives the call.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_ATTACH_FILTER,
            (&prog as *const libc::sock_fprog).cast(),
            std::mem::size_of::<libc::sock_fprog>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(fd)
}

/// Starts watching `ns` for a UDP datagram to `port` carrying `payload`.
pub async fn watch(ns: &Netns, port: u16, payload: Vec<u8>) -> io::Result<Arrival> {
    let fd = netns::within(ns, move || open(port)).await?;
    // SAFETY: the AsyncFd owns the descriptor until it is dropped.
    let fd = unsafe { AsyncFd::register(fd) }.map_err(|e| e.into_parts().1)?;
    let (tx, seen) = oneshot::channel();
    let task = tokio::spawn(async move {
        let mut buf = vec![0u8; 65_536];
        loop {
            let Ok(mut guard) = fd.readable().await else { return };
            let mut from: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
            let mut len = std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
            let got = guard.try_io(|fd| {
                // SAFETY: recvfrom(2) into live buffers of the given lengths.
                let n = unsafe {
                    libc::recvfrom(
                        fd.get_ref().as_raw_fd(),
                        buf.as_mut_ptr().cast(),
                        buf.len(),
                        0,
                        (&mut from as *mut libc::sockaddr_ll).cast(),
                        &mut len,
                    )
                };
                if n < 0 {
                    Err(io::Error::last_os_error())
                } else {
                    Ok(n as usize)
                }
            });
            match got {
                Ok(Ok(n)) if buf[..n].windows(payload.len()).any(|w| w == payload.as_slice()) => {
                    let _ = tx.send(from.sll_ifindex as u32);
                    return;
                }
                Ok(Ok(_)) | Err(_) => continue,
                Ok(Err(e)) if e.kind() == io::ErrorKind::Interrupted => continue,
                Ok(Err(_)) => return,
            }
        }
    });
    Ok(Arrival { seen, task })
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_filter_is_what_tcpdump_compiles() {
        // `tcpdump -y EN10MB -dd 'ip and udp dst port 2020'`, transcribed.
        let tcpdump: [(u16, u8, u8, u32); 11] = [
            (0x28, 0, 0, 0x0c),
            (0x15, 0, 8, 0x800),
            (0x30, 0, 0, 0x17),
            (0x15, 0, 6, 0x11),
            (0x28, 0, 0, 0x14),
            (0x45, 4, 0, 0x1fff),
            (0xb1, 0, 0, 0x0e),
            (0x48, 0, 0, 0x10),
            (0x15, 0, 1, 0x7e4),
            (0x6, 0, 0, 0x40000),
            (0x6, 0, 0, 0),
        ];
        let ours: Vec<(u16, u8, u8, u32)> =
            super::udp_dst_port(2020).iter().map(|i| (i.code, i.jt, i.jf, i.k)).collect();
        assert_eq!(ours, tcpdump);
    }
}
