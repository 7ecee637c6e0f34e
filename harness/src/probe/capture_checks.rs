//! Captures around the probes: started before the first probe, stopped after the last, each writing a pcap
//! into the report directory; their assertions are judged from the packets (pure: [`assess`], [`observe`]).

use super::nodes::Nodes;
use crate::capture::{Capture, CaptureOptions, CaptureResult, PacketSummary};
use crate::check::{Action, CaptureAssertion, Check, Observation, Outcome};
use crate::inventory::Inventory;
use crate::suite::{HostRef, Suite};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

/// Captures that were started (or why they could not be).
pub struct Running {
    captures: Vec<(usize, Result<Capture, String>)>,
}

fn addresses(inventory: &Inventory, host: &HostRef) -> Vec<Ipv4Addr> {
    match host {
        HostRef::Address(a) => vec![*a],
        HostRef::Node(n) => inventory.addresses_of(n),
    }
}

/// Starts every capture of the suite.
pub async fn start(lab: &impl Nodes, suite: &Suite, inventory: &Inventory, dir: &Path) -> Running {
    let mut captures = Vec::new();
    for (i, c) in suite.captures.iter().enumerate() {
        let started = async {
            let ns = lab.namespace(&c.node).ok_or_else(|| format!("no namespace for {}", c.node))?;
            let resolve = |name: &str| Some(inventory.addresses_of(name));
            let program = c.filter.compile(&resolve)?;
            std::fs::create_dir_all(dir).map_err(|e| format!("failed to create {}: {e}", dir.display()))?;
            let pcap: PathBuf = dir.join(format!("{}.{}.pcap", suite.name, c.name));
            Capture::start(ns, &c.interface, program, pcap, CaptureOptions::default())
                .await
                .map_err(|e| format!("failed to start capture on {}:{}: {e}", c.node, c.interface))
        };
        captures.push((i, started.await));
    }
    Running { captures }
}

/// What an assertion makes of a capture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Assessed {
    /// Decided: whatever the lost frames were, this is the outcome.
    Decided(Outcome),
    /// The lost frames could change the outcome; `seen` says what was seen.
    Undecidable {
        /// What was seen, in words.
        seen: String,
    },
}

/// Whether an assertion holds on a capture's matching `packets`, when `lost` more frames matched the kernel's
/// filter but were never read (a superset of the lost frames that match the filter: the true count of matching
/// frames lies between `packets.len()` and `packets.len() + lost`).
pub fn assess(assertion: &CaptureAssertion, packets: &[PacketSummary], lost: u64, inventory: &Inventory) -> Assessed {
    let n = packets.len();
    let count = format!("{n} packet{}", if n == 1 { "" } else { "s" });
    let side = |host: &HostRef, pick: fn(&PacketSummary) -> Option<IpAddr>, word: &str| {
        let want: Vec<IpAddr> = addresses(inventory, host).into_iter().map(IpAddr::V4).collect();
        let mut seen: Vec<IpAddr> = packets.iter().filter_map(pick).collect();
        seen.sort();
        seen.dedup();
        let all_match = packets.iter().all(|p| pick(p).is_some_and(|a| want.contains(&a)));
        let listed = seen.iter().map(|a| {
            match inventory.nodes.iter().find(|(_, i)| i.iter().any(|i| IpAddr::V4(i.cidr.addr) == *a)) {
                Some((node, _)) => format!("{a} ({node})"),
                None => a.to_string(),
            }
        });
        let seen_words = if n == 0 {
            "no packets".to_string()
        } else {
            format!("{count} {word} {}", listed.collect::<Vec<_>>().join(", "))
        };
        // A packet seen from (to) elsewhere fails the assertion whatever was lost. Otherwise a lost frame may
        // have come from (gone to) elsewhere — or, with nothing seen, be the one packet the assertion needs.
        match (all_match, n > 0, lost) {
            (false, _, _) => Assessed::Decided(Outcome::Assertion { holds: false, seen: seen_words }),
            (true, seen_any, 0) => Assessed::Decided(Outcome::Assertion { holds: seen_any, seen: seen_words }),
            (true, _, _) => Assessed::Undecidable { seen: seen_words },
        }
    };
    match assertion {
        CaptureAssertion::Count { min, max } => {
            let (low, high) = (n as u64, n as u64 + lost);
            // Each bound: decided when it holds (or fails) for every count in [low, high]. Lost frames can only
            // add to the count, so a minimum already met holds, and a maximum already exceeded fails.
            let at_least = min.map(|m| {
                if low >= m {
                    Some(true)
                } else if high < m {
                    Some(false)
                } else {
                    None
                }
            });
            let at_most = max.map(|m| {
                if high <= m {
                    Some(true)
                } else if low > m {
                    Some(false)
                } else {
                    None
                }
            });
            match (at_least.unwrap_or(Some(true)), at_most.unwrap_or(Some(true))) {
                (Some(false), _) | (_, Some(false)) => {
                    Assessed::Decided(Outcome::Assertion { holds: false, seen: count })
                }
                (Some(true), Some(true)) => Assessed::Decided(Outcome::Assertion { holds: true, seen: count }),
                _ => Assessed::Undecidable { seen: count },
            }
        }
        CaptureAssertion::Source { host } => side(host, |p| p.src, "from"),
        CaptureAssertion::Destination { host } => side(host, |p| p.dst, "to"),
    }
}

/// The observation of one assertion on a stopped capture: its outcome, or an error when the frames the kernel
/// dropped could change it.
pub fn observe(assertion: &CaptureAssertion, r: &CaptureResult, inventory: &Inventory) -> Observation {
    let first: Vec<String> = r.packets.iter().take(3).map(|p| p.to_string()).collect();
    let lost = r.lost();
    let losses = match (r.dropped, r.unread) {
        (0, 0) => String::new(),
        (d, 0) => format!("the kernel dropped {d} frame{}", if d == 1 { "" } else { "s" }),
        (d, u) => format!("{} frames were lost (the kernel dropped {d}, {u} were still queued when it ended)", d + u),
    };
    let detail = format!(
        "{} frame{} on {} matched{}{}",
        r.packets.len(),
        if r.packets.len() == 1 { "" } else { "s" },
        r.interface,
        if losses.is_empty() { String::new() } else { format!(" ({losses})") },
        if first.is_empty() { String::new() } else { format!(": {}", first.join("; ")) }
    );
    let artifacts = vec![r.pcap.display().to_string()];
    match assess(assertion, &r.packets, lost, inventory) {
        Assessed::Decided(outcome) => Observation::Observed {
            outcome,
            detail,
            target: None,
            artifacts,
            dropped: Some(lost),
            why: Vec::new(),
            sent: true,
        },
        Assessed::Undecidable { seen } => Observation::Error {
            detail: format!("{losses}; this assertion cannot be judged (saw {seen}): {detail}"),
            artifacts,
            dropped: Some(lost),
        },
    }
}

/// Stops every capture and judges its assertions' checks.
pub async fn finish(running: Running, checks: &[Check], inventory: &Inventory) -> HashMap<usize, Observation> {
    let mut out = HashMap::new();
    for (index, started) in running.captures {
        let mine: Vec<&Check> =
            checks.iter().filter(|c| matches!(c.action, Action::Capture { capture, .. } if capture == index)).collect();
        let result = match started {
            Ok(c) => c.stop().await.map_err(|e| format!("failed to stop the capture: {e}")),
            Err(e) => Err(e),
        };
        for check in mine {
            let Action::Capture { assertion, .. } = &check.action else { continue };
            let observation = match &result {
                Err(e) => Observation::error(e.clone()),
                Ok(r) => observe(assertion, r, inventory),
            };
            out.insert(check.id, observation);
        }
    }
    out
}

/// Whether an assertion holds when nothing matches: a `max_packets` without a positive `min_packets`. Such a
/// bound says something only when packets it is about were sent; see [`require_sent`].
pub fn holds_when_silent(a: &CaptureAssertion) -> bool {
    matches!(a, CaptureAssertion::Count { min: None | Some(0), max: Some(_) })
}

/// A frame as `check`'s probe sends it from `src` to `dst` (Ethernet, IPv4, then an echo request, a UDP
/// datagram or a TCP SYN), to run a capture's filter program on.
fn probe_frame(action: &Action, src: Ipv4Addr, dst: Ipv4Addr) -> Option<Vec<u8>> {
    let (protocol, l4): (u8, Vec<u8>) = match action {
        Action::Icmp { .. } => (1, vec![8, 0, 0, 0, 0, 1, 0, 1]),
        Action::Udp { port, .. } => {
            let mut d = vec![0x9c, 0x40];
            d.extend_from_slice(&port.to_be_bytes());
            d.extend_from_slice(&[0, 8, 0, 0]);
            (17, d)
        }
        Action::Tcp { port, .. } => {
            let mut d = vec![0x9c, 0x40];
            d.extend_from_slice(&port.to_be_bytes());
            d.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0]);
            (6, d)
        }
        _ => return None,
    };
    let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00];
    let total = (20 + l4.len()) as u16;
    f.extend_from_slice(&[0x45, 0]);
    f.extend_from_slice(&total.to_be_bytes());
    f.extend_from_slice(&[0, 1, 0x40, 0, 64, protocol, 0, 0]);
    f.extend_from_slice(&src.octets());
    f.extend_from_slice(&dst.octets());
    f.extend_from_slice(&l4);
    Some(f)
}

/// The probes whose packets a capture's filter keeps: a frame as the probe sends it, from any address of its
/// source to its target (or, when the target was never chosen, any address of its destination), kept by the
/// compiled filter. Packets seen after NAT may differ; the filter decides about the packet as it was sent.
pub fn producers<'a>(
    program: &crate::filter::Program,
    checks: &'a [Check],
    observations: &HashMap<usize, Observation>,
    inventory: &Inventory,
) -> Vec<&'a Check> {
    checks
        .iter()
        .filter(|c| {
            let Some(to) = crate::plan::probe_destination(&c.action) else { return false };
            let observed = match observations.get(&c.id) {
                Some(Observation::Observed { target: Some(t), .. }) => Some(*t),
                _ => c.target,
            };
            let targets = observed.map_or_else(|| inventory.addresses_of(&to.node), |t| vec![t]);
            inventory.addresses_of(&c.from).iter().any(|src| {
                targets.iter().any(|dst| probe_frame(&c.action, *src, *dst).is_some_and(|f| program.matches(&f)))
            })
        })
        .collect()
}

/// A capture bound that holds when nothing matches ([`holds_when_silent`]) is not applicable unless a probe
/// whose packets its filter keeps was sent: otherwise "no packets" proves nothing, and grading would award it to
/// a submission that built nothing. Such an observation becomes [`Outcome::NotApplicable`], with the reason.
pub fn require_sent(
    suite: &Suite,
    checks: &[Check],
    observations: &mut HashMap<usize, Observation>,
    inventory: &Inventory,
) {
    for check in checks {
        let Action::Capture { capture, assertion } = &check.action else { continue };
        if !holds_when_silent(assertion) {
            continue;
        }
        if !matches!(observations.get(&check.id), Some(Observation::Observed { .. })) {
            continue;
        }
        let resolve = |name: &str| Some(inventory.addresses_of(name));
        let Ok(program) = suite.captures[*capture].filter.compile(&resolve) else { continue };
        let producers = producers(&program, checks, observations, inventory);
        if producers.iter().any(|p| observations.get(&p.id).is_some_and(Observation::was_sent)) {
            continue;
        }
        let reason = if producers.is_empty() {
            "no probe sent a packet this capture's filter keeps, so seeing none proves nothing".to_string()
        } else {
            let names: Vec<&str> = producers.iter().take(3).map(|p| p.name.as_str()).collect();
            let more = if producers.len() > 3 { format!(" and {} more", producers.len() - 3) } else { String::new() };
            format!(
                "the probes whose packets this capture is about were never sent ({}{more}), so seeing none proves nothing",
                names.join(", ")
            )
        };
        let detail = format!("not applicable: {reason}");
        observations.insert(check.id, Observation::unsent(Outcome::NotApplicable { reason }, detail));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::summarize;
    use std::time::Duration;

    fn udp_from(src: [u8; 4]) -> PacketSummary {
        let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00, 0x45, 0, 0, 28, 0, 1, 0x40, 0, 64, 17, 0, 0];
        f.extend_from_slice(&src);
        f.extend_from_slice(&[10, 0, 0, 9, 0, 1, 0, 2, 0, 8, 0, 0]);
        summarize(1, Duration::ZERO, &f)
    }

    fn holds(a: &Assessed) -> Option<bool> {
        match a {
            Assessed::Decided(Outcome::Assertion { holds, .. }) => Some(*holds),
            _ => None,
        }
    }

    /// Two namespaces, a ping from a to b, and a capture on b that no packet from a may reach.
    fn silent_suite(filter: &str) -> (Suite, Vec<Check>, Inventory) {
        let text = format!(
            r#"
[[namespace]]
name = "a"
[[namespace]]
name = "b"
[[veth]]
name = "va"
netns = "a"
address = "10.0.0.1/24"
peer = {{ name = "vb", netns = "b", address = "10.0.0.2/24" }}
[[matrix]]
probe = "icmp"
expect = """
   a b
a  - Y
b  - -
"""
[[capture]]
name = "quiet"
on = "b:vb"
filter = "{filter}"
max_packets = 0
"#
        );
        let suite = crate::suite::load_str(&text, "silent.toml").unwrap();
        let checks = crate::plan::resolve(&suite).checks;
        let inventory = Inventory::from_suite(&suite);
        (suite, checks, inventory)
    }

    fn after(filter: &str, ping: Observation) -> Observation {
        let (suite, checks, inventory) = silent_suite(filter);
        let silent = Observation::seen(Outcome::Assertion { holds: true, seen: "0 packets".into() }, "0 frames");
        let mut obs = HashMap::from([(0, ping), (1, silent)]);
        require_sent(&suite, &checks, &mut obs, &inventory);
        obs.remove(&1).unwrap()
    }

    fn not_applicable(o: &Observation) -> bool {
        matches!(o, Observation::Observed { outcome: Outcome::NotApplicable { .. }, sent: false, .. })
    }

    #[test]
    fn a_bound_that_holds_when_silent_needs_the_packets_it_is_about_sent() {
        let reply = || Observation::seen(Outcome::Reachable, "echo reply");
        let unsent = || Observation::unsent(Outcome::Unreachable, "no packet was sent: a has no route");
        // The ping from a is what the filter is about: sent, the bound is judged; not sent, it proves nothing.
        assert!(!not_applicable(&after("icmp and src host a", reply())));
        let o = after("icmp and src host a", unsent());
        assert!(not_applicable(&o), "{o:?}");
        let Observation::Observed { detail, .. } = &o else { unreachable!() };
        assert!(detail.contains("icmp a -> b"), "{detail}");
        // No probe sends what the filter keeps (UDP; ICMP from b): nothing tested the bound.
        assert!(not_applicable(&after("udp", reply())));
        assert!(not_applicable(&after("icmp and src host b", reply())));
    }

    #[test]
    fn lost_frames_leave_undecided_only_what_they_could_change() {
        let inv = Inventory::default();
        let three = vec![udp_from([10, 0, 0, 1]); 3];
        let count = |min, max, lost| holds(&assess(&CaptureAssertion::Count { min, max }, &three, lost, &inv));
        // Nothing lost: as seen.
        assert_eq!((count(Some(1), None, 0), count(None, Some(2), 0)), (Some(true), Some(false)));
        // A minimum already met stays met; one that even every lost frame could not reach stays failed.
        assert_eq!(
            (count(Some(3), None, 5), count(Some(9), None, 5), count(Some(5), None, 5)),
            (Some(true), Some(false), None)
        );
        // A maximum already exceeded stays exceeded; one the lost frames could exceed is undecided.
        assert_eq!(
            (count(None, Some(2), 5), count(None, Some(0), 1), count(None, Some(4), 5)),
            (Some(false), Some(false), None)
        );
        assert_eq!(count(None, Some(8), 5), Some(true), "3 seen + 5 lost cannot exceed 8");
        assert_eq!(count(Some(3), Some(4), 5), None);

        let from = |host: [u8; 4], packets: &[PacketSummary], lost| {
            let host = HostRef::Address(Ipv4Addr::from(host));
            holds(&assess(&CaptureAssertion::Source { host }, packets, lost, &inv))
        };
        assert_eq!(from([10, 0, 0, 1], &three, 0), Some(true));
        assert_eq!(from([10, 0, 0, 1], &three, 1), None, "a lost frame may come from elsewhere");
        assert_eq!(from([10, 0, 0, 2], &three, 1), Some(false), "a frame seen from elsewhere fails it anyway");
        assert_eq!((from([10, 0, 0, 1], &[], 0), from([10, 0, 0, 1], &[], 4)), (Some(false), None));
    }

    #[test]
    fn an_undecidable_assertion_is_an_error_with_the_drop_count() {
        let r = CaptureResult {
            started: std::time::UNIX_EPOCH,
            interface: "eth0".into(),
            pcap: "r/x.pcap".into(),
            packets: vec![udp_from([10, 0, 0, 1])],
            dropped: 7,
            unread: 0,
        };
        let max = CaptureAssertion::Count { min: None, max: Some(1) };
        match observe(&max, &r, &Inventory::default()) {
            Observation::Error { detail, artifacts, dropped } => {
                assert!(detail.starts_with("the kernel dropped 7 frames; this assertion cannot be judged"), "{detail}");
                assert_eq!((artifacts, dropped), (vec!["r/x.pcap".to_string()], Some(7)));
            }
            other => panic!("{other:?}"),
        }
        let min = CaptureAssertion::Count { min: Some(1), max: None };
        let Observation::Observed { outcome, detail, dropped, .. } = observe(&min, &r, &Inventory::default()) else {
            panic!("a minimum already met is decided")
        };
        assert_eq!((outcome, dropped), (Outcome::Assertion { holds: true, seen: "1 packet".into() }, Some(7)));
        assert!(
            detail.starts_with("1 frame on eth0 matched (the kernel dropped 7 frames): IP 10.0.0.1.1 > "),
            "{detail}"
        );
    }
}
