//! By-name probes: resolve a container's name the way the source container would — through Docker's embedded
//! DNS at 127.0.0.11, from inside the source's namespace. Only user-defined networks give a container that
//! resolver; a container whose resolver is anything else (the default bridge copies the host's) gets
//! "unresolved" without a query being sent, since its resolver is outside the lab.

use super::icmp::ms;
use super::nodes::Nodes;
use crate::check::{Observation, Outcome};
use crate::kernel::netns;
use std::net::Ipv4Addr;
use std::time::Duration;

const DOCKER_DNS: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 11);

/// An A query for `name` with transaction `id`.
pub fn query(id: u16, name: &str) -> Vec<u8> {
    let mut q = Vec::with_capacity(32 + name.len());
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]); // recursion desired, one question
    for label in name.split('.').filter(|l| !l.is_empty()) {
        q.push(label.len().min(63) as u8);
        q.extend_from_slice(&label.as_bytes()[..label.len().min(63)]);
    }
    q.extend_from_slice(&[0, 0, 1, 0, 1]); // root, type A, class IN
    q
}

fn skip_name(msg: &[u8], mut at: usize) -> Option<usize> {
    loop {
        let len = *msg.get(at)? as usize;
        match len {
            0 => return Some(at + 1),
            l if l & 0xc0 == 0xc0 => return Some(at + 2),
            l => at += l + 1,
        }
    }
}

/// What an answer says: the A records, or the response code when there are none.
pub fn answer(msg: &[u8], id: u16) -> Result<Vec<Ipv4Addr>, String> {
    if msg.len() < 12 || u16::from_be_bytes([msg[0], msg[1]]) != id {
        return Err("malformed or foreign answer".into());
    }
    let rcode = msg[3] & 0x0f;
    let (qd, an) = (u16::from_be_bytes([msg[4], msg[5]]), u16::from_be_bytes([msg[6], msg[7]]));
    let mut at = 12;
    for _ in 0..qd {
        at = skip_name(msg, at).ok_or("truncated question")? + 4;
    }
    let mut out = Vec::new();
    for _ in 0..an {
        at = skip_name(msg, at).ok_or("truncated answer")?;
        let rr = msg.get(at..at + 10).ok_or("truncated answer")?;
        let (kind, len) = (u16::from_be_bytes([rr[0], rr[1]]), u16::from_be_bytes([rr[8], rr[9]]) as usize);
        let data = msg.get(at + 10..at + 10 + len).ok_or("truncated answer")?;
        if kind == 1 && len == 4 {
            out.push(Ipv4Addr::new(data[0], data[1], data[2], data[3]));
        }
        at += 10 + len;
    }
    match (out.is_empty(), rcode) {
        (false, _) => Ok(out),
        (true, 3) => Err("NXDOMAIN (no such name)".into()),
        (true, 0) => Err("no A record".into()),
        (true, c) => Err(format!("server failure (rcode {c})")),
    }
}

/// Resolves `name` from inside container `from`. `Err` is the observation to report instead of a probe.
pub async fn resolve(lab: &impl Nodes, from: &str, name: &str, timeout_ms: u64) -> Result<Ipv4Addr, Observation> {
    let unresolved = |why: String| {
        Err(Observation::unsent(Outcome::Unresolved, format!("`{name}` did not resolve in {from}: {why}")))
    };
    let (Some(pid), Some(ns)) = (lab.container_pid(from), lab.namespace(from)) else {
        return Err(Observation::error(format!("{from} is not a running container")));
    };
    // Which resolver the container uses is read from its own file system; failing to read it tells nothing
    // about the container, so it is an error, never "unresolved".
    let resolv = match std::fs::read_to_string(format!("/proc/{pid}/root/etc/resolv.conf")) {
        Ok(text) => text,
        Err(e) => return Err(Observation::error(format!("failed to read {from}'s /etc/resolv.conf: {e}"))),
    };
    let servers: Vec<&str> =
        resolv.lines().filter_map(|l| l.trim().strip_prefix("nameserver")).map(str::trim).collect();
    if !servers.contains(&"127.0.0.11") {
        let list = if servers.is_empty() { "none".to_string() } else { servers.join(", ") };
        return unresolved(format!(
            "no Docker DNS in {from} (its resolver is {list}: containers only on the default bridge do not get Docker's embedded DNS); nothing was sent"
        ));
    }
    let sock = netns::within(ns, || {
        let s = std::net::UdpSocket::bind(("127.0.0.1", 0))?;
        s.connect((DOCKER_DNS, 53))?;
        s.set_nonblocking(true)?;
        tokio::net::UdpSocket::from_std(s)
    })
    .await
    .map_err(|e| Observation::error(format!("failed to open a DNS socket in {from}: {e}")))?;
    let id: u16 = rand::random();
    let timeout = Duration::from_millis(timeout_ms);
    let exchange = async {
        sock.send(&query(id, name)).await?;
        let mut buf = [0u8; 512];
        loop {
            let n = sock.recv(&mut buf).await?;
            if n >= 2 && u16::from_be_bytes([buf[0], buf[1]]) == id {
                return Ok::<_, std::io::Error>(buf[..n].to_vec());
            }
        }
    };
    match tokio::time::timeout(timeout, exchange).await {
        Err(_) => unresolved(format!("no answer from Docker's DNS within {}", ms(timeout))),
        Ok(Err(e)) => Err(Observation::error(format!("failed to query Docker's DNS from {from}: {e}"))),
        Ok(Ok(msg)) => match answer(&msg, id) {
            Ok(addrs) => Ok(addrs[0]),
            Err(why) => unresolved(why),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_and_answer_round_trip() {
        let q = query(0x1234, "alpine3");
        assert_eq!(&q[12..21], b"\x07alpine3\x00");
        // The query echoed back with one answer: name pointer, A, IN, TTL, 4 bytes.
        let mut a = q.clone();
        a[2] = 0x81;
        a[3] = 0x80;
        a[7] = 1;
        a.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 2, 88, 0, 4, 172, 18, 0, 3]);
        assert_eq!(answer(&a, 0x1234).unwrap(), vec![Ipv4Addr::new(172, 18, 0, 3)]);
        let mut nx = q.clone();
        nx[3] = 0x83;
        assert!(answer(&nx, 0x1234).unwrap_err().contains("NXDOMAIN"));
        assert!(answer(&q, 0x9999).is_err());
    }
}
