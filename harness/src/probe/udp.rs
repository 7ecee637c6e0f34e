//! UDP: datagrams carrying a unique token from a socket in the source's namespace.
//!
//! With reachlab's listener at the destination (`listen = true`): delivered = the listener got the token;
//! refused = the sender's connected socket got ICMP port unreachable; dropped = neither within the timeout.
//!
//! To a port reachlab does not listen on (`listen = false`), what is there decides, observed in the
//! destination's kernel: its socket table (sock_diag) says whether a socket of the lab is bound to the port,
//! and a packet socket in its namespace sees whether the token arrived. Bound, arrived and not refused =
//! open; refused = refused; anything else = dropped, with what was seen.

use super::arrival;
use super::icmp::ms;
use super::listen::{arm, describe, holders, payload, same_pid_namespace, Dest, Listeners, Proto};
use super::nodes::Nodes;
use crate::check::{Observation, Outcome};
use crate::kernel::netns;
use crate::suite::ProbeSettings;
use std::time::Duration;

/// What sending one datagram can tell.
enum Sent {
    Ok,
    /// ICMP port unreachable for an earlier datagram, reported on this send.
    Refused,
    /// The kernel did not send it (no route, the source's firewall): an observation.
    Unsent(String),
}

fn classify_send(r: std::io::Result<usize>) -> Result<Sent, std::io::Error> {
    match r {
        Ok(_) => Ok(Sent::Ok),
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => Ok(Sent::Refused),
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENETUNREACH | libc::EHOSTUNREACH)) => {
            Ok(Sent::Unsent(format!("no packet was sent: {e}")))
        }
        Err(e) if e.raw_os_error() == Some(libc::EPERM) => {
            Ok(Sent::Unsent(format!("no packet was sent: the source's firewall (netfilter OUTPUT) refused it ({e})")))
        }
        Err(e) => Err(e),
    }
}

/// Sends UDP probes from `from` to `target:port`.
pub async fn send(
    lab: &impl Nodes,
    listeners: &Listeners,
    from: &str,
    dest: Dest<'_>,
    settings: ProbeSettings,
) -> Observation {
    let Dest { node: to, ip: target, port, listen } = dest;
    let armed = match arm(lab, listeners, from, dest, Proto::Udp).await {
        Ok(a) => a,
        Err(o) => return o,
    };
    let (src_ns, dst_ns, token, mut arrived, _never) =
        (armed.src_ns, armed.dst_ns, armed.token, armed.arrived, armed.never);
    let data = payload(&token);
    // To a port reachlab does not listen on: what is bound there, and a watch for the datagram's arrival,
    // both set up before the first datagram leaves.
    let (owner, foreign, mut arrival) = if listen {
        (None, None, None)
    } else {
        let found = match holders(dst_ns, Proto::Udp, port, target).await {
            Ok(h) => h,
            Err(e) => return Observation::error(format!("failed to read the socket table of {to}: {e}")),
        };
        // A container's port is open only through a socket a process of that container holds: in a host-network
        // container's namespace (server1's), a socket of server1 itself is not the container's listener.
        let (mine, theirs): (Vec<_>, Vec<_>) = match lab.container_pid(to) {
            Some(init) => {
                found.into_iter().partition(|h| h.owners.iter().any(|(pid, _)| same_pid_namespace(*pid, init)))
            }
            None => (found, Vec::new()),
        };
        let (owner, foreign) = (describe(&mine), describe(&theirs));
        match arrival::watch(dst_ns, port, data.clone().into_bytes()).await {
            Ok(w) => (owner, foreign, Some(w)),
            Err(e) => return Observation::error(format!("failed to watch for arrivals in {to}: {e}")),
        }
    };
    let sock = netns::within(src_ns, move || {
        let s = std::net::UdpSocket::bind(("0.0.0.0", 0))?;
        s.connect((target, port))?;
        s.set_nonblocking(true)?;
        tokio::net::UdpSocket::from_std(s)
    })
    .await;
    let sock = match sock {
        Ok(s) => s,
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENETUNREACH | libc::EHOSTUNREACH)) => {
            return Observation::unsent(
                Outcome::Dropped,
                format!("no packet was sent: {from} cannot send to {target}: {e}"),
            )
        }
        Err(e) => return Observation::error(format!("failed to open a UDP socket in {from}: {e}")),
    };
    let timeout = Duration::from_millis(settings.timeout_ms);
    let attempts = settings.attempts.max(1);
    let sending = async {
        for k in 0..attempts {
            match classify_send(sock.send(data.as_bytes()).await) {
                Ok(Sent::Ok) => {}
                Ok(Sent::Refused) => return Ok(None),
                Ok(Sent::Unsent(why)) => return Ok(Some(why)),
                Err(e) => return Err(e),
            }
            if k + 1 < attempts {
                tokio::time::sleep(timeout / attempts).await;
            }
        }
        std::future::pending().await
    };
    // A connected UDP socket reports ICMP port unreachable as ECONNREFUSED on its next receive.
    let refused = async {
        let mut buf = [0u8; 16];
        loop {
            match sock.recv(&mut buf).await {
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => return,
                _ => continue,
            }
        }
    };
    let delivered = |src| {
        Observation::seen(Outcome::Delivered, format!("listener in {to} on port {port} received the token from {src}"))
    };
    let port_unreachable = || Observation::seen(Outcome::Refused, format!("ICMP port unreachable for {target}:{port}"));
    tokio::select! {
        got = &mut arrived => return match got {
            Ok(src) => delivered(src),
            Err(_) => Observation::error("the UDP listener stopped"),
        },
        () = refused => return port_unreachable(),
        sent = sending => return match sent {
            Ok(None) => port_unreachable(),
            Ok(Some(why)) => Observation::unsent(Outcome::Dropped, why),
            Err(e) => Observation::error(format!("failed to send a UDP datagram from {from} to {target}:{port}: {e}")),
        },
        () = tokio::time::sleep(timeout) => {}
    }
    // The token may still be in flight; give the listener a last look.
    if let Ok(src) = arrived.try_recv() {
        return delivered(src);
    }
    let within = format!("within {} ({attempts} datagrams)", ms(timeout));
    let Some(arrival) = arrival.as_mut() else {
        return Observation::seen(Outcome::Dropped, format!("no token at {to}:{port} and no refusal {within}"));
    };
    let seen_on = match arrival.seen_on() {
        Some(index) => Some(match lab.netlink(to).map(|nl| nl.name_of(index)) {
            Some(f) => f.await.ok().flatten().unwrap_or_else(|| format!("interface {index}")),
            None => format!("interface {index}"),
        }),
        None => None,
    };
    match (owner, seen_on) {
        (Some(owner), Some(iface)) => Observation::seen(
            Outcome::Open,
            format!("UDP port {port} in {to} is bound by {owner}; the datagram arrived on {iface} and was not refused"),
        ),
        (Some(owner), None) => Observation::seen(
            Outcome::Dropped,
            format!("UDP port {port} in {to} is bound by {owner}, but no datagram arrived in {to} {within}"),
        ),
        (None, Some(iface)) => match foreign {
            Some(other) => Observation::seen(
                Outcome::Dropped,
                format!("the datagram arrived on {iface}, but UDP port {port} there is bound by {other}, which is not a process of {to}: {to} itself does not listen"),
            ),
            None => Observation::seen(
                Outcome::Dropped,
                format!("the datagram arrived on {iface} in {to}, where nothing is bound to UDP port {port}, but no refusal came back {within}"),
            ),
        },
        (None, None) => Observation::seen(Outcome::Dropped, format!("no datagram arrived in {to} and no refusal came back {within}")),
    }
}
