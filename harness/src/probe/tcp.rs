//! TCP: a connection from the source's namespace to a listener reachlab opened in the destination's, then a
//! unique token over it. Delivered = the listener got the token; refused = reset; dropped = no answer; open =
//! accepted by a socket that is not reachlab's listener (with `listen = false`, what a service of the lab does).

use super::icmp::ms;
use super::listen::{arm, bound, payload, Dest, Listeners, Proto};
use super::nodes::Nodes;
use crate::check::{Observation, Outcome};
use crate::kernel::netns;
use crate::suite::ProbeSettings;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::AsyncWriteExt;

/// Connects from `from` to `target:port`, listening in `to`'s namespace (unless `listen` is false).
pub async fn connect(
    lab: &impl Nodes,
    listeners: &Listeners,
    from: &str,
    dest: Dest<'_>,
    settings: ProbeSettings,
) -> Observation {
    let Dest { node: to, ip: target, port, listen } = dest;
    let armed = match arm(lab, listeners, from, dest, Proto::Tcp).await {
        Ok(a) => a,
        Err(o) => return o,
    };
    let (src_ns, dst_ns, token, arrived, _never) =
        (armed.src_ns, armed.dst_ns, armed.token, armed.arrived, armed.never);
    // The socket is created in the source's namespace; connecting it later from tokio keeps it there.
    let socket = match netns::within(src_ns, tokio::net::TcpSocket::new_v4).await {
        Ok(s) => s,
        Err(e) => return Observation::error(format!("failed to open a TCP socket in {from}: {e}")),
    };
    let timeout = Duration::from_millis(settings.timeout_ms);
    let mut stream = match tokio::time::timeout(timeout, socket.connect(SocketAddr::from((target, port)))).await {
        Err(_) => {
            return Observation::seen(
                Outcome::Dropped,
                format!("no answer to SYN for {target}:{port} within {}", ms(timeout)),
            )
        }
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
            return Observation::seen(Outcome::Refused, format!("connection to {target}:{port} refused (TCP reset)"))
        }
        Ok(Err(e)) if matches!(e.raw_os_error(), Some(libc::ENETUNREACH | libc::EHOSTUNREACH)) => {
            return Observation::seen(Outcome::Dropped, format!("connection to {target}:{port} failed: {e}"))
        }
        Ok(Err(e)) if e.raw_os_error() == Some(libc::EPERM) => {
            return Observation::unsent(
                Outcome::Dropped,
                format!("no packet was sent: {from}'s firewall (netfilter OUTPUT) refused the SYN ({e})"),
            )
        }
        Ok(Err(e)) => return Observation::error(format!("failed to connect from {from} to {target}:{port}: {e}")),
        Ok(Ok(stream)) => stream,
    };
    if !listen {
        // Accepted where reachlab listens not: a socket of the lab is open there. Say whose, if the
        // destination's socket table shows it (a DNAT may have sent the connection elsewhere).
        let by = match bound(dst_ns, Proto::Tcp, port, target).await {
            Ok(Some(owner)) => format!(": {owner} listens there"),
            Ok(None) => format!(" (nothing in {to} listens on {port}: something on the way answered)"),
            Err(e) => format!(" (the socket table of {to} could not be read: {e})"),
        };
        return Observation::seen(Outcome::Open, format!("connection to {target}:{port} accepted{by}"));
    }
    if let Err(e) = stream.write_all(payload(&token).as_bytes()).await {
        return Observation::error(format!("connected to {target}:{port}, but sending the token failed: {e}"));
    }
    match tokio::time::timeout(timeout, arrived).await {
        Ok(Ok(src)) => Observation::seen(
            Outcome::Delivered,
            format!("listener in {to} on port {port} accepted {src} and received the token"),
        ),
        Ok(Err(_)) => Observation::error("the TCP listener stopped"),
        // Something other than reachlab's listener accepted the connection (e.g. a DNAT elsewhere).
        Err(_) => Observation::seen(
            Outcome::Open,
            format!("connection to {target}:{port} accepted, but reachlab's listener in {to} never saw the token: something else accepted it"),
        ),
    }
}
