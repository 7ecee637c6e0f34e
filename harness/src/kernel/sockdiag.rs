//! The socket table of a namespace, read over netlink `sock_diag` (what `ss -ulpn` / `ss -tlpn` read): which
//! UDP and TCP sockets are bound to a port. An observation of the destination's kernel, not a guess — used to
//! tell "nothing there" from "a service of the lab is bound there".
//!
//! Call [`bound_here`] on a thread that entered the namespace (the netlink socket belongs to the namespace it
//! is created in).

use std::io;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

const SOCK_DIAG_BY_FAMILY: u16 = 20;
const NLMSG_DONE: u16 = 3;
const NLMSG_ERROR: u16 = 2;
/// TCP_LISTEN (10) as a state bit; UDP sockets are all in state 7 (TCP_CLOSE) unless connected (1).
const TCP_LISTEN_BIT: u32 = 1 << 10;
const ALL_STATES: u32 = u32::MAX;

/// A transport protocol whose sockets can be listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// UDP: every socket bound to the port (connected or not).
    Udp,
    /// TCP: listening sockets only.
    Tcp,
}

/// One socket of the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoundSocket {
    /// Local address (0.0.0.0 for a wildcard bind).
    pub addr: Ipv4Addr,
    /// Local port.
    pub port: u16,
    /// The socket's inode (`socket:[INODE]` in /proc/PID/fd), to find its owner.
    pub inode: u32,
    /// Owner uid.
    pub uid: u32,
}

impl BoundSocket {
    /// Whether a datagram or connection to `ip` would reach this socket by address.
    pub fn accepts(&self, ip: Ipv4Addr) -> bool {
        self.addr.is_unspecified() || self.addr == ip
    }
}

/// The request: `inet_diag_req_v2` after a netlink header (linux/inet_diag.h).
fn request(transport: Transport, seq: u32) -> Vec<u8> {
    let (protocol, states) = match transport {
        Transport::Udp => (libc::IPPROTO_UDP as u8, ALL_STATES),
        Transport::Tcp => (libc::IPPROTO_TCP as u8, TCP_LISTEN_BIT),
    };
    let mut body = vec![libc::AF_INET as u8, protocol, 0, 0];
    body.extend_from_slice(&states.to_ne_bytes());
    body.extend_from_slice(&[0u8; 48]); // inet_diag_sockid: no filter
    let len = 16 + body.len() as u32;
    let mut msg = Vec::with_capacity(len as usize);
    msg.extend_from_slice(&len.to_ne_bytes());
    msg.extend_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
    msg.extend_from_slice(&((libc::NLM_F_REQUEST | libc::NLM_F_DUMP) as u16).to_ne_bytes());
    msg.extend_from_slice(&seq.to_ne_bytes());
    msg.extend_from_slice(&0u32.to_ne_bytes());
    msg.extend_from_slice(&body);
    msg
}

/// Parses the dump's messages into sockets; `Ok(true)` when the dump is complete.
fn parse(buf: &[u8], out: &mut Vec<BoundSocket>) -> io::Result<bool> {
    let mut at = 0;
    while at + 16 <= buf.len() {
        let u32_at = |i: usize| u32::from_ne_bytes(buf[i..i + 4].try_into().expect("4 bytes"));
        let len = u32_at(at) as usize;
        let kind = u16::from_ne_bytes([buf[at + 4], buf[at + 5]]);
        if len < 16 || at + len > buf.len() {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "truncated sock_diag answer"));
        }
        let body = &buf[at + 16..at + len];
        match kind {
            NLMSG_DONE => return Ok(true),
            NLMSG_ERROR => {
                let errno = i32::from_ne_bytes(body.get(..4).unwrap_or(&[0; 4]).try_into().expect("4 bytes"));
                return Err(io::Error::from_raw_os_error(-errno));
            }
            SOCK_DIAG_BY_FAMILY if body.len() >= 72 => {
                // inet_diag_msg: family, state, timer, retrans, then the sockid (ports and addresses in
                // network order), expires, rqueue, wqueue, uid, inode.
                let port = u16::from_be_bytes([body[4], body[5]]);
                let addr = Ipv4Addr::new(body[8], body[9], body[10], body[11]);
                let word = |i: usize| u32::from_ne_bytes(body[i..i + 4].try_into().expect("4 bytes"));
                out.push(BoundSocket { addr, port, uid: word(64), inode: word(68) });
            }
            _ => {}
        }
        at += (len + 3) & !3;
    }
    Ok(false)
}

/// The sockets of the calling thread's namespace bound to `port` (UDP: all; TCP: listening).
pub fn bound_here(transport: Transport, port: u16) -> io::Result<Vec<BoundSocket>> {
    // SAFETY: socket(2) returns a new descriptor or -1; the OwnedFd takes ownership of a valid one.
    let fd = unsafe { libc::socket(libc::AF_NETLINK, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, libc::NETLINK_SOCK_DIAG) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let msg = request(transport, 1);
    // SAFETY: send(2) of a live buffer on a live descriptor.
    if unsafe { libc::send(fd.as_raw_fd(), msg.as_ptr().cast(), msg.len(), 0) } < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut all = Vec::new();
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        // SAFETY: recv(2) into a live buffer of the given length.
        let n = unsafe { libc::recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        if parse(&buf[..n as usize], &mut all)? || n == 0 {
            break;
        }
    }
    all.retain(|s| s.port == port);
    Ok(all)
}

/// The processes holding socket `inode` (their PIDs and command names, from /proc/PID/fd), as `ss -p` finds them.
pub fn owners(inode: u32) -> Vec<(u32, String)> {
    let want = format!("socket:[{inode}]");
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else { continue };
        let holds = std::fs::read_dir(e.path().join("fd"))
            .into_iter()
            .flatten()
            .flatten()
            .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|l| l.as_os_str() == want.as_str()));
        if holds {
            let comm = std::fs::read_to_string(e.path().join("comm")).unwrap_or_default().trim().to_string();
            out.push((pid, comm));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dump_answer_parses() {
        let mut msg = Vec::new();
        let mut body = vec![2u8, 7, 0, 0, 0x07, 0xe4, 0, 0, 10, 0, 0, 2];
        body.resize(64, 0);
        body.extend_from_slice(&0u32.to_ne_bytes()); // uid
        body.extend_from_slice(&4242u32.to_ne_bytes()); // inode
        msg.extend_from_slice(&(16 + body.len() as u32).to_ne_bytes());
        msg.extend_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
        msg.extend_from_slice(&[0; 10]);
        msg.extend_from_slice(&body);
        msg.extend_from_slice(&16u32.to_ne_bytes());
        msg.extend_from_slice(&NLMSG_DONE.to_ne_bytes());
        msg.extend_from_slice(&[0; 10]);
        let mut out = Vec::new();
        assert!(parse(&msg, &mut out).unwrap());
        assert_eq!(out, vec![BoundSocket { addr: Ipv4Addr::new(10, 0, 0, 2), port: 2020, inode: 4242, uid: 0 }]);
        assert!(out[0].accepts(Ipv4Addr::new(10, 0, 0, 2)) && !out[0].accepts(Ipv4Addr::new(10, 0, 0, 3)));
    }
}
