//! TCP: a connection from the source's namespace to a listener reachlab opened in the destination's, then a
//! unique token over it. Delivered = the listener got the token; refused = reset; dropped = no answer.

use super::icmp::ms;
use super::listen::{arm, payload, Dest, Listeners, Proto};
use crate::check::{Observation, Outcome};
use crate::kernel::netns;
use crate::lab::kernel::KernelLab;
use crate::suite::ProbeSettings;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::AsyncWriteExt;

/// Connects from `from` to `target:port`, listening in `to`'s namespace.
pub async fn connect(
    lab: &KernelLab,
    listeners: &Listeners,
    from: &str,
    dest: Dest<'_>,
    settings: ProbeSettings,
) -> Observation {
    let Dest { node: to, ip: target, port, .. } = dest;
    let armed = match arm(lab, listeners, from, dest, Proto::Tcp).await {
        Ok(a) => a,
        Err(o) => return o,
    };
    let (src_ns, token, arrived, _never) = (armed.src_ns, armed.token, armed.arrived, armed.never);
    // The socket is created in the source's namespace; connecting it later from tokio keeps it there.
    let socket = match netns::within(src_ns, tokio::net::TcpSocket::new_v4).await {
        Ok(s) => s,
        Err(e) => return Observation::error(format!("failed to open a TCP socket in {from}: {e}")),
    };
    let timeout = Duration::from_millis(settings.timeout_ms);
    match tokio::time::timeout(timeout, socket.connect(SocketAddr::from((target, port)))).await {
        Err(_) => {
            Observation::seen(Outcome::Dropped, format!("no answer to SYN for {target}:{port} within {}", ms(timeout)))
        }
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
            Observation::seen(Outcome::Refused, format!("connection to {target}:{port} refused"))
        }
        Ok(Err(e)) if matches!(e.raw_os_error(), Some(libc::ENETUNREACH | libc::EHOSTUNREACH)) => {
            Observation::seen(Outcome::Dropped, format!("connection to {target}:{port} failed: {e}"))
        }
        Ok(Err(e)) => Observation::error(format!("failed to connect from {from} to {target}:{port}: {e}")),
        Ok(Ok(mut stream)) => {
            let _ = stream.write_all(payload(&token).as_bytes()).await;
            match tokio::time::timeout(timeout, arrived).await {
                Ok(Ok(src)) => Observation::seen(Outcome::Delivered, format!("listener in {to} on port {port} accepted {src} and received the token")),
                _ => Observation::seen(Outcome::Dropped, format!("connected to {target}:{port}, but reachlab's listener in {to} never saw the token (something else answered)")),
            }
        }
    }
}
