//! UDP: a datagram carrying a unique token from a socket in the source's namespace to a listener reachlab
//! opened in the destination's. Delivered = the listener got the token; refused = the sender's connected
//! socket got ICMP port unreachable; dropped = neither.

use super::icmp::ms;
use super::listen::{arm, payload, Dest, Listeners, Proto};
use crate::check::{Observation, Outcome};
use crate::kernel::netns;
use crate::lab::kernel::KernelLab;
use crate::suite::ProbeSettings;
use std::time::Duration;

/// Sends UDP probes from `from` to `target:port`, listening in `to`'s namespace.
pub async fn send(
    lab: &KernelLab,
    listeners: &Listeners,
    from: &str,
    dest: Dest<'_>,
    settings: ProbeSettings,
) -> Observation {
    let Dest { node: to, ip: target, port, .. } = dest;
    let armed = match arm(lab, listeners, from, dest, Proto::Udp).await {
        Ok(a) => a,
        Err(o) => return o,
    };
    let (src_ns, token, mut arrived, _never) = (armed.src_ns, armed.token, armed.arrived, armed.never);
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
            return Observation::seen(Outcome::Dropped, format!("{from} cannot send to {target}: {e}"))
        }
        Err(e) => return Observation::error(format!("failed to open a UDP socket in {from}: {e}")),
    };
    let timeout = Duration::from_millis(settings.timeout_ms);
    let attempts = settings.attempts.max(1);
    let data = payload(&token);
    let sending = async {
        for k in 0..attempts {
            let _ = sock.send(data.as_bytes()).await;
            if k + 1 < attempts {
                tokio::time::sleep(timeout / attempts).await;
            }
        }
        std::future::pending::<()>().await
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
    tokio::select! {
        got = &mut arrived => match got {
            Ok(src) => Observation::seen(Outcome::Delivered, format!("listener in {to} on port {port} received the token from {src}")),
            Err(_) => Observation::error("the UDP listener stopped"),
        },
        () = refused => Observation::seen(Outcome::Refused, format!("ICMP port unreachable for {target}:{port}")),
        () = sending => unreachable!(),
        () = tokio::time::sleep(timeout) => {
            // The token may still be in flight; give the listener a last look.
            match arrived.try_recv() {
                Ok(src) => Observation::seen(Outcome::Delivered, format!("listener in {to} on port {port} received the token from {src}")),
                Err(_) => Observation::seen(Outcome::Dropped, format!("no token at {to}:{port} and no refusal within {} ({attempts} datagrams)", ms(timeout))),
            }
        }
    }
}
