//! A probe's trace, typed (pure): the steps of its packets through a namespace's rules, made from the kernel's
//! events and the namespace's ruleset listing.

use super::events::{EventKind, RawEvent};
use super::ruleset::Ruleset;
use super::{Leg, ProbeKey};
use serde::Serialize;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
/// What a rule, a policy or the end of a chain decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Verdict {
    /// Accepted: on to the next hook.
    Accept,
    /// Dropped: the packet ends here.
    Drop,
    /// The rule matched and evaluation went on (a counter, a log, a mark, …).
    Continue,
    /// The rule stopped matching part-way (`NFT_BREAK`).
    Break,
    /// Jumped to a chain, to come back.
    Jump {
        /// The chain jumped to.
        chain: String,
    },
    /// Went to a chain, not to come back.
    Goto {
        /// The chain gone to.
        chain: String,
    },
    /// Back to the calling chain.
    Return,
    /// Queued to user space.
    Queue,
    /// Taken by the rule (the packet's fate is no longer netfilter's).
    Stolen,
    /// `NF_REPEAT`.
    Repeat,
    /// `NF_STOP`.
    Stop,
    /// A code this build does not know.
    Unknown {
        /// The code.
        code: i32,
    },
}

impl Verdict {
    /// From a netlink verdict code and target chain.
    pub fn from_code(code: i32, chain: Option<String>) -> Verdict {
        let chain = || chain.clone().unwrap_or_default();
        match code {
            -1 => Verdict::Continue,
            -2 => Verdict::Break,
            -3 => Verdict::Jump { chain: chain() },
            -4 => Verdict::Goto { chain: chain() },
            -5 => Verdict::Return,
            // Non-negative codes carry a queue number or an errno in their upper bits.
            c if c >= 0 => match c & 0xff {
                0 => Verdict::Drop,
                1 => Verdict::Accept,
                2 => Verdict::Stolen,
                3 => Verdict::Queue,
                4 => Verdict::Repeat,
                5 => Verdict::Stop,
                _ => Verdict::Unknown { code },
            },
            _ => Verdict::Unknown { code },
        }
    }

    /// The verdict in iptables' words (`DROP`, `ACCEPT`, `JUMP ISOLATE`, …).
    pub fn word(&self) -> String {
        match self {
            Verdict::Accept => "ACCEPT".into(),
            Verdict::Drop => "DROP".into(),
            Verdict::Continue => "CONTINUE".into(),
            Verdict::Break => "BREAK".into(),
            Verdict::Jump { chain } => format!("JUMP {chain}"),
            Verdict::Goto { chain } => format!("GOTO {chain}"),
            Verdict::Return => "RETURN".into(),
            Verdict::Queue => "QUEUE".into(),
            Verdict::Stolen => "STOLEN".into(),
            Verdict::Repeat => "REPEAT".into(),
            Verdict::Stop => "STOP".into(),
            Verdict::Unknown { code } => format!("verdict {code}"),
        }
    }
}

/// What decided a step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Decider {
    /// A rule.
    Rule {
        /// Its handle.
        handle: u64,
        /// Its text as nft prints it (when the ruleset could be listed).
        nft: Option<String>,
        /// Its text as iptables-save prints it, for tables iptables-nft manages.
        iptables: Option<String>,
    },
    /// The base chain's policy.
    Policy,
    /// The end of a non-base chain.
    EndOfChain,
}

/// One step of a packet through the ruleset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TraceStep {
    /// Which of the probe's packets.
    pub leg: Leg,
    /// The kernel's pseudo-id of the packet (tells apart two packets of one leg, e.g. retransmissions).
    pub packet: u32,
    /// The table's family (`ip`, `ip6`, `inet`, `bridge`, `arp`, `netdev`).
    pub family: String,
    /// The table.
    pub table: String,
    /// The chain.
    pub chain: String,
    /// The base chain the packet was in (the chain itself, or the one that jumped here).
    pub base_chain: Option<String>,
    /// That base chain's hook.
    pub hook: Option<String>,
    /// What decided.
    pub decider: Decider,
    /// The decision.
    pub verdict: Verdict,
    /// The input interface, as the packet entered this base chain.
    pub iif: Option<String>,
    /// The output interface.
    pub oif: Option<String>,
    /// The IPv4 source, as the packet had it entering this base chain.
    pub src: Option<Ipv4Addr>,
    /// The IPv4 destination, likewise.
    pub dst: Option<Ipv4Addr>,
}

fn iptables_target(rule: &str) -> Option<&str> {
    let mut words = rule.split_whitespace();
    while let Some(w) = words.next() {
        if w == "-j" || w == "-g" {
            return words.next();
        }
    }
    None
}

fn iptables_source(rule: &str) -> Option<&str> {
    let words: Vec<&str> = rule.split_whitespace().collect();
    words.windows(2).find(|w| w[0] == "-s").map(|w| w[1])
}

impl TraceStep {
    /// Whether this step rewrote addresses (a NAT rule that matched).
    pub fn is_nat(&self) -> bool {
        let Decider::Rule { nft, iptables, .. } = &self.decider else { return false };
        if let Some(t) = iptables.as_deref().and_then(iptables_target) {
            return ["MASQUERADE", "SNAT", "DNAT", "REDIRECT", "NETMAP"].contains(&t);
        }
        nft.as_deref().is_some_and(|t| {
            t.split_whitespace().any(|w| ["masquerade", "snat", "dnat", "redirect", "\"MASQUERADE\""].contains(&w))
        })
    }

    /// A short line: base chain, chain and what was done, e.g. `FORWARD DOCKER-ISOLATION-STAGE-2 DROP` or
    /// `POSTROUTING MASQUERADE 172.17.0.0/16`. Reporters may make their own from the fields.
    pub fn summary(&self) -> String {
        let mut parts: Vec<String> = Vec::new();
        if let Some(base) = self.base_chain.as_ref().filter(|b| **b != self.chain) {
            parts.push(base.clone());
        }
        parts.push(self.chain.clone());
        match &self.decider {
            Decider::Policy => parts.push(format!("policy {}", self.verdict.word())),
            Decider::EndOfChain => parts.push("RETURN".into()),
            Decider::Rule { .. } if matches!(self.verdict, Verdict::Jump { .. } | Verdict::Goto { .. }) => {
                parts.push(self.verdict.word())
            }
            Decider::Rule { iptables: Some(rule), .. } => match iptables_target(rule) {
                Some(t) if self.is_nat() => {
                    parts.push(t.to_string());
                    parts.extend(iptables_source(rule).map(str::to_string));
                }
                Some(t) => parts.push(t.to_string()),
                None => parts.push(self.verdict.word()),
            },
            Decider::Rule { nft: Some(rule), .. } if self.is_nat() => parts.push(rule.clone()),
            Decider::Rule { .. } => parts.push(self.verdict.word()),
        }
        parts.join(" ")
    }
}

/// The probe's packet arriving at one of the tracer's own hooks: it reached this namespace's netfilter (also
/// where the namespace has no rules of its own).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Arrival {
    /// Which of the probe's packets.
    pub leg: Leg,
    /// `prerouting` (it came in) or `output` (the namespace sent it).
    pub hook: String,
    /// The input interface.
    pub iif: Option<String>,
    /// The output interface.
    pub oif: Option<String>,
    /// The IPv4 source, as it came (before any NAT of this namespace).
    pub src: Option<Ipv4Addr>,
    /// The IPv4 destination, likewise.
    pub dst: Option<Ipv4Addr>,
}

/// What a tracer saw in one namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Trace {
    /// The namespace.
    pub namespace: String,
    /// The probe traced.
    pub key: ProbeKey,
    /// Where the probe's packets entered this namespace's netfilter (the tracer's own hooks).
    pub arrivals: Vec<Arrival>,
    /// The steps of the probe's packets through the namespace's own rules, in the order the kernel reported
    /// them (the tracer's table left out).
    pub steps: Vec<TraceStep>,
    /// Whether the kernel dropped events because the socket's buffer was full (the steps are incomplete).
    pub lost_events: bool,
}

impl Trace {
    /// The step that dropped the probe's packet of `leg`, if one did.
    pub fn dropped(&self, leg: Leg) -> Option<&TraceStep> {
        self.steps.iter().find(|s| s.leg == leg && s.verdict == Verdict::Drop)
    }

    /// The steps that rewrote the packet's addresses.
    pub fn rewrites(&self) -> impl Iterator<Item = &TraceStep> {
        self.steps.iter().filter(|s| s.is_nat())
    }

    /// Whether the packet of `leg` reached this namespace's netfilter at all.
    pub fn saw(&self, leg: Leg) -> bool {
        self.arrivals.iter().any(|a| a.leg == leg) || self.steps.iter().any(|s| s.leg == leg)
    }
}

fn family_name(family: u8) -> String {
    match family {
        1 => "inet".into(),
        2 => "ip".into(),
        3 => "arp".into(),
        5 => "netdev".into(),
        7 => "bridge".into(),
        10 => "ip6".into(),
        n => format!("family {n}"),
    }
}

fn ipv4_addresses(network: &[u8]) -> Option<(Ipv4Addr, Ipv4Addr)> {
    if network.len() < 20 || network[0] >> 4 != 4 {
        return None;
    }
    let a = |i: usize| Ipv4Addr::new(network[i], network[i + 1], network[i + 2], network[i + 3]);
    Some((a(12), a(16)))
}

/// The probe's arrivals and steps from the events read (pure): events of packets that are not the probe's
/// are left out, told apart by the headers the kernel sends with a packet's first event in each base chain
/// (the pseudo-id may change from one base chain to the next, so each is matched on its own); the events of
/// the tracer's own table `own_table` become arrivals.
pub fn steps(
    events: &[RawEvent],
    key: &ProbeKey,
    own_table: &str,
    ruleset: &Ruleset,
    names: &BTreeMap<u32, String>,
) -> (Vec<Arrival>, Vec<TraceStep>) {
    let mut legs: BTreeMap<u32, Leg> = BTreeMap::new();
    for e in events {
        if let (Some(n), Some(t)) = (&e.network, &e.transport) {
            if let Some(leg) = key.leg(n, t) {
                legs.entry(e.id).or_insert(leg);
            }
        }
    }
    #[derive(Default, Clone)]
    struct State {
        base: Option<(String, Option<String>)>,
        iif: Option<String>,
        oif: Option<String>,
        addresses: Option<(Ipv4Addr, Ipv4Addr)>,
    }
    let mut states: BTreeMap<u32, State> = BTreeMap::new();
    let (mut arrivals, mut out) = (Vec::new(), Vec::new());
    for e in events {
        let Some(&leg) = legs.get(&e.id) else { continue };
        let family = family_name(e.family);
        let state = states.entry(e.id).or_default();
        if e.network.is_some() {
            let name =
                |i: Option<u32>| i.filter(|&i| i != 0).map(|i| names.get(&i).cloned().unwrap_or(format!("if{i}")));
            state.iif = name(e.iif);
            state.oif = name(e.oif);
            state.addresses = e.network.as_deref().and_then(ipv4_addresses);
        }
        let chain = ruleset.chain(&family, &e.table, &e.chain);
        if let Some(hook) = chain.and_then(|c| c.hook.clone()) {
            state.base = Some((e.chain.clone(), Some(hook)));
        } else if e.network.is_some() || state.base.is_none() {
            // The first event in a base chain the listing does not know (it changed, or could not be read).
            state.base = Some((e.chain.clone(), None));
        }
        if e.family == 1 && e.table == own_table {
            if e.network.is_some() {
                arrivals.push(Arrival {
                    leg,
                    hook: e.chain.clone(),
                    iif: state.iif.clone(),
                    oif: state.oif.clone(),
                    src: state.addresses.map(|a| a.0),
                    dst: state.addresses.map(|a| a.1),
                });
            }
            continue;
        }
        let (decider, verdict) = match e.kind {
            EventKind::Policy => (Decider::Policy, Verdict::from_code(e.policy.map_or(1, |p| p as i32), None)),
            EventKind::Return => (Decider::EndOfChain, Verdict::Return),
            EventKind::Rule | EventKind::Other(_) => {
                let rule = e.handle.and_then(|h| ruleset.rule(&family, &e.table, &e.chain, h));
                let decider = Decider::Rule {
                    handle: e.handle.unwrap_or(0),
                    nft: rule.map(|r| r.nft.clone()),
                    iptables: rule.and_then(|r| r.iptables.clone()),
                };
                let verdict = e.verdict.clone().map_or(Verdict::Continue, |(c, t)| Verdict::from_code(c, t));
                (decider, verdict)
            }
        };
        let (base_chain, hook) = state.base.clone().map_or((None, None), |(b, h)| (Some(b), h));
        out.push(TraceStep {
            leg,
            packet: e.id,
            family,
            table: e.table.clone(),
            chain: e.chain.clone(),
            base_chain,
            hook,
            decider,
            verdict,
            iif: state.iif.clone(),
            oif: state.oif.clone(),
            src: state.addresses.map(|a| a.0),
            dst: state.addresses.map(|a| a.1),
        });
    }
    (arrivals, out)
}
