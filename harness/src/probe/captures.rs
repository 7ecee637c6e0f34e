//! Captures around the probes: started before the first probe, stopped after the last, each writing a pcap
//! into the report directory; their assertions are judged from the packets (pure: [`assess`]).

use crate::capture::{self, Capture, PacketSummary};
use crate::check::{Action, CaptureAssertion, Check, Observation, Outcome};
use crate::inventory::Inventory;
use crate::lab::kernel::KernelLab;
use crate::suite::{HostRef, Suite};
use std::collections::HashMap;
use std::net::Ipv4Addr;
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
pub async fn start(lab: &KernelLab, suite: &Suite, inventory: &Inventory, dir: &Path) -> Running {
    let mut captures = Vec::new();
    for (i, c) in suite.captures.iter().enumerate() {
        let started = async {
            let ns = lab.namespace(&c.node).ok_or_else(|| format!("no namespace for {}", c.node))?;
            let filter = capture::parse(&c.filter).map_err(|e| format!("invalid filter: {e}"))?;
            let resolve = |name: &str| Some(inventory.addresses_of(name)).filter(|a| !a.is_empty());
            let bound = filter.bind(&resolve)?;
            std::fs::create_dir_all(dir).map_err(|e| format!("failed to create {}: {e}", dir.display()))?;
            let pcap: PathBuf = dir.join(format!("{}.{}.pcap", suite.name, c.name));
            Capture::start(ns, &c.interface, bound, pcap)
                .await
                .map_err(|e| format!("failed to start capture on {}:{}: {e}", c.node, c.interface))
        };
        captures.push((i, started.await));
    }
    Running { captures }
}

/// Whether an assertion holds on a capture's matching packets, and what was seen.
pub fn assess(assertion: &CaptureAssertion, packets: &[PacketSummary], inventory: &Inventory) -> Outcome {
    let n = packets.len();
    let count = format!("{n} packet{}", if n == 1 { "" } else { "s" });
    let side = |host: &HostRef, pick: fn(&PacketSummary) -> Option<Ipv4Addr>, word: &str| {
        let want = addresses(inventory, host);
        let mut seen: Vec<Ipv4Addr> = packets.iter().filter_map(pick).collect();
        seen.sort();
        seen.dedup();
        let all_match = n > 0 && packets.iter().all(|p| pick(p).is_some_and(|a| want.contains(&a)));
        let listed =
            seen.iter().map(|a| match inventory.nodes.iter().find(|(_, i)| i.iter().any(|i| i.cidr.addr == *a)) {
                Some((node, _)) => format!("{a} ({node})"),
                None => a.to_string(),
            });
        let seen_words = if n == 0 {
            "no packets".to_string()
        } else {
            format!("{count} {word} {}", listed.collect::<Vec<_>>().join(", "))
        };
        Outcome::Assertion { holds: all_match, seen: seen_words }
    };
    match assertion {
        CaptureAssertion::Count { min, max } => {
            let holds = min.is_none_or(|m| n as u64 >= m) && max.is_none_or(|m| n as u64 <= m);
            Outcome::Assertion { holds, seen: count }
        }
        CaptureAssertion::Source { host } => side(host, |p| p.src, "from"),
        CaptureAssertion::Destination { host } => side(host, |p| p.dst, "to"),
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
                Ok(r) => {
                    let first: Vec<String> = r.packets.iter().take(3).map(|p| p.to_string()).collect();
                    let detail = format!(
                        "{} of {} frames on {} matched{}",
                        r.packets.len(),
                        r.seen,
                        r.interface,
                        if first.is_empty() { String::new() } else { format!(": {}", first.join("; ")) }
                    );
                    Observation::Observed {
                        outcome: assess(assertion, &r.packets, inventory),
                        detail,
                        target: None,
                        artifacts: vec![r.pcap.display().to_string()],
                    }
                }
            };
            out.insert(check.id, observation);
        }
    }
    out
}
