//! ICMP echo from inside the source namespace. The raw socket is created on a thread that entered the namespace
//! and then driven by tokio. A reply counts only if it is an Echo Reply from the target address carrying this
//! probe's identifier and sequence (surge-ping also hands back ICMP errors: the type and source are checked).

use super::guard::{self, Verdict};
use super::Prober;
use crate::check::{Check, Observation, Reach};
use crate::kernel::netns;
use crate::lab::kernel::KernelLab;
use futures::stream::{FuturesUnordered, StreamExt};
use std::collections::{BTreeSet, HashMap};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;
use surge_ping::{Client, Config, IcmpPacket, PingIdentifier, PingSequence, SurgeError, ICMP};
use tokio::sync::Mutex;

const ECHO_REPLY: u8 = 0;
const DEST_UNREACHABLE: u8 = 3;
const TIME_EXCEEDED: u8 = 11;

/// The real ICMP prober for a lab.
pub struct IcmpProber<'a> {
    lab: &'a KernelLab,
    lab_addresses: BTreeSet<Ipv4Addr>,
    clients: Mutex<HashMap<String, Client>>,
    next_ident: AtomicU16,
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

impl<'a> IcmpProber<'a> {
    /// A prober for `lab`, allowed to target only `lab_addresses`.
    pub fn new(lab: &'a KernelLab, lab_addresses: BTreeSet<Ipv4Addr>) -> Self {
        IcmpProber {
            lab,
            lab_addresses,
            clients: Mutex::new(HashMap::new()),
            next_ident: AtomicU16::new(rand::random()),
        }
    }

    async fn client(&self, from: &str) -> std::io::Result<Client> {
        let mut clients = self.clients.lock().await;
        if let Some(c) = clients.get(from) {
            return Ok(c.clone());
        }
        let ns = self.lab.namespace(from).ok_or_else(|| std::io::Error::other(format!("namespace {from} is gone")))?;
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
}

fn ms(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms < 10.0 {
        format!("{ms:.1} ms")
    } else {
        format!("{ms:.0} ms")
    }
}

impl Prober for IcmpProber<'_> {
    async fn probe(&self, check: &Check) -> Observation {
        if let Verdict::Stop(observation) = guard::clear(self.lab, &self.lab_addresses, check).await {
            return observation;
        }
        let client = match self.client(&check.from).await {
            Ok(c) => c,
            Err(e) => {
                return Observation::Error { detail: format!("failed to open an ICMP socket in {}: {e}", check.from) }
            }
        };
        let ident = self.next_ident.fetch_add(1, Ordering::Relaxed);
        let timeout = Duration::from_millis(check.settings.timeout_ms);
        let attempts = check.settings.attempts.max(1);
        let spacing = timeout / attempts;
        let mut pending: FuturesUnordered<_> = (0..attempts)
            .map(|k| Self::attempt(&client, check.target, ident, k as u16, spacing * k, timeout - spacing * k))
            .collect();
        let mut icmp_error = None;
        let mut send_error = None;
        while let Some(attempt) = pending.next().await {
            match attempt {
                Attempt::Reply(rtt) => {
                    return Observation::Observed {
                        reach: Reach::Reachable,
                        detail: format!("echo reply from {} in {}", check.target, ms(rtt)),
                    };
                }
                Attempt::IcmpError(e) => icmp_error = Some(e),
                Attempt::SendFailed(e) => send_error = Some(e),
                Attempt::NoReply => {}
            }
        }
        let unreachable = |detail| Observation::Observed { reach: Reach::Unreachable, detail };
        match (icmp_error, send_error) {
            (Some(e), _) => unreachable(e),
            (None, Some(e)) if matches!(e.raw_os_error(), Some(libc::ENETUNREACH | libc::EHOSTUNREACH)) => {
                unreachable(format!("sending failed: {e}"))
            }
            (None, Some(e)) => {
                Observation::Error { detail: format!("failed to send an echo request from {}: {e}", check.from) }
            }
            (None, None) => {
                unreachable(format!("no echo reply from {} within {} ({attempts} requests)", check.target, ms(timeout)))
            }
        }
    }
}
