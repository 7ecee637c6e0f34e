//! ICMP echo from inside the source's namespace. The raw socket is created on a thread that entered the
//! namespace and then driven by tokio. A reply counts only if it is an Echo Reply from the target address
//! carrying this probe's identifier and sequence (surge-ping also hands back ICMP errors: the type and source
//! are checked).

use crate::check::{Observation, Outcome};
use crate::kernel::netns;
use crate::lab::kernel::KernelLab;
use crate::suite::ProbeSettings;
use futures::stream::{FuturesUnordered, StreamExt};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;
use surge_ping::{Client, Config, IcmpPacket, PingIdentifier, PingSequence, SurgeError, ICMP};
use tokio::sync::Mutex;

const ECHO_REPLY: u8 = 0;
const DEST_UNREACHABLE: u8 = 3;
const TIME_EXCEEDED: u8 = 11;

/// ICMP clients, one per source node, and the identifiers handed out.
pub struct Icmp {
    clients: Mutex<HashMap<String, Client>>,
    next_ident: AtomicU16,
}

impl Default for Icmp {
    fn default() -> Self {
        Icmp { clients: Mutex::new(HashMap::new()), next_ident: AtomicU16::new(rand::random()) }
    }
}

/// What one attempt saw.
enum Attempt {
    Reply(Duration),
    IcmpError(String),
    NoReply,
    SendFailed(std::io::Error),
}

fn icmp_error_words(kind: u8, code: u8) -> String {
    match (kind, code) {
        (DEST_UNREACHABLE, 0) => "network unreachable".into(),
        (DEST_UNREACHABLE, 1) => "host unreachable".into(),
        (DEST_UNREACHABLE, 3) => "port unreachable".into(),
        (DEST_UNREACHABLE, 13) => "communication administratively prohibited".into(),
        (DEST_UNREACHABLE, c) => format!("destination unreachable (code {c})"),
        (TIME_EXCEEDED, _) => "time exceeded".into(),
        (t, c) => format!("ICMP type {t} code {c}"),
    }
}

/// Milliseconds for people.
pub fn ms(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms < 10.0 {
        format!("{ms:.1} ms")
    } else {
        format!("{ms:.0} ms")
    }
}

impl Icmp {
    async fn client(&self, lab: &KernelLab, from: &str) -> std::io::Result<Client> {
        let mut clients = self.clients.lock().await;
        if let Some(c) = clients.get(from) {
            return Ok(c.clone());
        }
        let ns = lab.namespace(from).ok_or_else(|| std::io::Error::other(format!("namespace of {from} is gone")))?;
        let config = Config::builder().kind(ICMP::V4).sock_type_hint(socket2::Type::RAW).build();
        let client = netns::within(ns, move || Client::new(&config)).await?;
        clients.insert(from.to_string(), client.clone());
        Ok(client)
    }

    async fn attempt(
        client: &Client,
        target: Ipv4Addr,
        ident: u16,
        seq: u16,
        delay: Duration,
        wait: Duration,
    ) -> Attempt {
        tokio::time::sleep(delay).await;
        let mut pinger = client.pinger(IpAddr::V4(target), PingIdentifier(ident)).await;
        pinger.timeout(wait);
        match pinger.ping(PingSequence(seq), format!("reachlab {ident:04x}:{seq}").as_bytes()).await {
            Ok((IcmpPacket::V4(p), rtt)) if p.get_icmp_type().0 == ECHO_REPLY && p.get_source() == target => {
                Attempt::Reply(rtt)
            }
            Ok((IcmpPacket::V4(p), _)) => Attempt::IcmpError(format!(
                "{} (ICMP from {})",
                icmp_error_words(p.get_icmp_type().0, p.get_icmp_code().0),
                p.get_source()
            )),
            Ok((IcmpPacket::V6(_), _)) => Attempt::NoReply,
            Err(SurgeError::Timeout { .. }) => Attempt::NoReply,
            Err(SurgeError::IOError(e)) => Attempt::SendFailed(e),
            Err(e) => Attempt::SendFailed(std::io::Error::other(e.to_string())),
        }
    }

    /// Echo requests from `from` to `target`, spread over the timeout; the first valid reply wins.
    pub async fn ping(&self, lab: &KernelLab, from: &str, target: Ipv4Addr, settings: ProbeSettings) -> Observation {
        let client = match self.client(lab, from).await {
            Ok(c) => c,
            Err(e) => return Observation::error(format!("failed to open an ICMP socket in {from}: {e}")),
        };
        let ident = self.next_ident.fetch_add(1, Ordering::Relaxed);
        let timeout = Duration::from_millis(settings.timeout_ms);
        let attempts = settings.attempts.max(1);
        let spacing = timeout / attempts;
        let mut pending: FuturesUnordered<_> = (0..attempts)
            .map(|k| Self::attempt(&client, target, ident, k as u16, spacing * k, timeout - spacing * k))
            .collect();
        let mut icmp_error = None;
        let mut send_error = None;
        while let Some(attempt) = pending.next().await {
            match attempt {
                Attempt::Reply(rtt) => {
                    return Observation::seen(Outcome::Reachable, format!("echo reply from {target} in {}", ms(rtt)))
                }
                Attempt::IcmpError(e) => icmp_error = Some(e),
                Attempt::SendFailed(e) => send_error = Some(e),
                Attempt::NoReply => {}
            }
        }
        let unreachable = |detail| Observation::seen(Outcome::Unreachable, detail);
        match (icmp_error, send_error) {
            (Some(e), _) => unreachable(e),
            (None, Some(e)) if matches!(e.raw_os_error(), Some(libc::ENETUNREACH | libc::EHOSTUNREACH)) => {
                unreachable(format!("sending failed: {e}"))
            }
            (None, Some(e)) => Observation::error(format!("failed to send an echo request from {from}: {e}")),
            (None, None) => {
                unreachable(format!("no echo reply from {target} within {} ({attempts} requests)", ms(timeout)))
            }
        }
    }
}
