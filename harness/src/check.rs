//! Checks and their outcomes: what the plan asks, what the probes saw, what the judge decided.

use crate::suite::{Endpoint, HostRef, ProbeKind, ProbeSettings};
use serde::Serialize;
use std::net::Ipv4Addr;

/// What a probe or an assertion can observe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// ICMP: an echo reply came back from the target.
    Reachable,
    /// ICMP: no echo reply came back.
    Unreachable,
    /// By name: the name did not resolve, so nothing was sent.
    Unresolved,
    /// UDP/TCP: the listener received this probe's token.
    Delivered,
    /// UDP/TCP: refused (ICMP port unreachable, TCP reset).
    Refused,
    /// UDP/TCP: nothing came back and nothing arrived.
    Dropped,
    /// UDP/TCP to a port reachlab does not listen on: a socket of the lab is there (TCP: it accepted the
    /// connection; UDP: it is bound, the datagram arrived and was not refused).
    Open,
    /// A capture bound that nothing tested: the probes whose packets it is about were never sent (a
    /// `max_packets` that holds only because nothing was sent would grade nothing). Never accepted.
    NotApplicable {
        /// Why, in words (which probes would have sent the packets, and why they did not).
        reason: String,
    },
    /// Capture or rule assertions: whether it holds, and what was seen (e.g. "3 packets").
    Assertion {
        /// Whether the assertion holds.
        holds: bool,
        /// What was seen, in words.
        seen: String,
    },
}

impl Outcome {
    /// The word used in reports (`observed`).
    pub fn label(&self) -> String {
        match self {
            Outcome::Reachable => "reachable".into(),
            Outcome::Unreachable => "unreachable".into(),
            Outcome::Unresolved => "unresolved".into(),
            Outcome::Delivered => "delivered".into(),
            Outcome::Refused => "refused".into(),
            Outcome::Dropped => "dropped".into(),
            Outcome::Open => "open".into(),
            Outcome::NotApplicable { .. } => "not applicable".into(),
            Outcome::Assertion { seen, .. } => seen.clone(),
        }
    }

    /// The matrix symbol.
    pub fn symbol(&self) -> char {
        match self {
            Outcome::Reachable | Outcome::Delivered => 'Y',
            Outcome::Unreachable => 'N',
            Outcome::Unresolved => 'U',
            Outcome::Refused => 'R',
            Outcome::Dropped => 'D',
            Outcome::Open => 'O',
            Outcome::NotApplicable { .. } => 'N',
            Outcome::Assertion { holds: true, .. } => 'Y',
            Outcome::Assertion { holds: false, .. } => 'N',
        }
    }
}

/// What a check expects: the outcomes it accepts, and how to say so.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Expected {
    /// Accepted outcomes (for assertions: any outcome that holds).
    pub accept: Vec<Outcome>,
    /// The word used in reports (`expected`).
    pub label: String,
}

impl Expected {
    /// Exactly one outcome.
    pub fn one(o: Outcome) -> Expected {
        Expected { label: o.label(), accept: vec![o] }
    }

    /// Any of several outcomes.
    pub fn any(accept: Vec<Outcome>, label: &str) -> Expected {
        Expected { accept, label: label.into() }
    }

    /// An assertion described in words.
    pub fn assertion(label: impl Into<String>) -> Expected {
        Expected { accept: Vec::new(), label: label.into() }
    }

    /// Whether `o` meets the expectation.
    pub fn accepts(&self, o: &Outcome) -> bool {
        match o {
            Outcome::Assertion { holds, .. } => *holds,
            other => self.accept.contains(other),
        }
    }
}

/// The kind of a check, as reports name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckKind {
    /// ICMP echo.
    Icmp,
    /// UDP datagram.
    Udp,
    /// TCP connect.
    Tcp,
    /// Capture assertion.
    Capture,
    /// NAT rule assertion.
    Rule,
    /// Interface flag assertion (read from the kernel).
    Interface,
}

impl CheckKind {
    /// The word used in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            CheckKind::Icmp => "icmp",
            CheckKind::Udp => "udp",
            CheckKind::Tcp => "tcp",
            CheckKind::Capture => "capture",
            CheckKind::Rule => "rule",
            CheckKind::Interface => "interface",
        }
    }
}

impl From<ProbeKind> for CheckKind {
    fn from(p: ProbeKind) -> Self {
        match p {
            ProbeKind::Icmp => CheckKind::Icmp,
            ProbeKind::Udp => CheckKind::Udp,
            ProbeKind::Tcp => CheckKind::Tcp,
        }
    }
}

/// Where a matrix check sits in its matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CellRef {
    /// Matrix index in the suite.
    pub matrix: usize,
    /// Row.
    pub row: usize,
    /// Column.
    pub column: usize,
}

/// One assertion of a capture.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "assert", rename_all = "snake_case")]
pub enum CaptureAssertion {
    /// Matching packet count within bounds.
    Count {
        /// Lower bound.
        min: Option<u64>,
        /// Upper bound.
        max: Option<u64>,
    },
    /// Every matching packet comes from this host (and there is at least one).
    Source {
        /// Host.
        host: HostRef,
    },
    /// Every matching packet goes to this host (and there is at least one).
    Destination {
        /// Host.
        host: HostRef,
    },
}

/// What to do to observe a check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "probe", rename_all = "snake_case")]
pub enum Action {
    /// Echo request from `from` to `to`.
    Icmp {
        /// Destination.
        to: Endpoint,
        /// Resolve `to` by name through Docker's DNS from inside the source.
        by_name: bool,
    },
    /// UDP datagram to a listener in `to` (or to a closed port when `listen` is false).
    Udp {
        /// Destination.
        to: Endpoint,
        /// Port.
        port: u16,
        /// Whether reachlab listens there.
        listen: bool,
    },
    /// TCP connection to a listener in `to` (or to a closed port when `listen` is false).
    Tcp {
        /// Destination.
        to: Endpoint,
        /// Port.
        port: u16,
        /// Whether reachlab listens there.
        listen: bool,
    },
    /// An assertion on a capture's packets.
    Capture {
        /// Index of the capture in the suite.
        capture: usize,
        /// The assertion.
        assertion: CaptureAssertion,
    },
    /// An interface's flags as the kernel reports them (netlink `ifi_flags`).
    InterfaceFlags {
        /// Interface name in the node's namespace.
        interface: String,
        /// Whether `IFF_PROMISC` must be set.
        promisc: bool,
    },
    /// A MASQUERADE rule for `subnet` in the node's nat POSTROUTING chain.
    Masquerade {
        /// Source subnet.
        subnet: crate::suite::Cidr,
    },
}

/// One thing to check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// Index among the suite's checks.
    pub id: usize,
    /// Human name, e.g. `icmp space1 -> space2`.
    pub name: String,
    /// Kind.
    pub kind: CheckKind,
    /// Matrix cell, for matrix checks.
    pub cell: Option<CellRef>,
    /// Source node (for captures and rules: the node observed).
    pub from: String,
    /// Destination as written (captures: the interface; rules: the chain).
    pub to: String,
    /// What to do.
    pub action: Action,
    /// The address probed, when known before running (by-name and container targets are found at run time).
    pub target: Option<Ipv4Addr>,
    /// What the suite expects.
    pub expected: Expected,
    /// Timing.
    pub settings: ProbeSettings,
}

/// What a probe saw.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum Observation {
    /// The probe ran and saw this.
    Observed {
        /// The outcome.
        outcome: Outcome,
        /// Evidence, e.g. "echo reply from 10.0.0.12 in 0.1 ms".
        detail: String,
        /// The address actually probed, when it was found at run time.
        target: Option<Ipv4Addr>,
        /// Files that back the observation (pcap).
        artifacts: Vec<String>,
        /// Captures: frames that matched the filter but were lost (the kernel dropped them).
        dropped: Option<u64>,
        /// Why it did not get through, from the lab as built (empty when it did, or nothing explains it).
        why: Vec<crate::reason::Why>,
        /// Whether the probe put a packet on its way (false: decided without sending — no route, the source's
        /// firewall, an endpoint that does not exist). Captures about a probe's packets need it sent.
        sent: bool,
    },
    /// The probe could not run, or what it saw cannot decide the check: an infrastructure problem, never the
    /// student's failure.
    Error {
        /// Why.
        detail: String,
        /// Files that back what was seen (a capture's pcap).
        artifacts: Vec<String>,
        /// Captures: frames that matched the filter but were lost (the kernel dropped them).
        dropped: Option<u64>,
    },
}

impl Observation {
    /// An observation without a run-time target or artifacts.
    pub fn seen(outcome: Outcome, detail: impl Into<String>) -> Observation {
        Observation::Observed {
            outcome,
            detail: detail.into(),
            target: None,
            artifacts: Vec::new(),
            dropped: None,
            why: Vec::new(),
            sent: true,
        }
    }

    /// An observation made without sending anything ("no packet was sent: …").
    pub fn unsent(outcome: Outcome, detail: impl Into<String>) -> Observation {
        match Observation::seen(outcome, detail) {
            Observation::Observed { outcome, detail, target, artifacts, dropped, why, .. } => {
                Observation::Observed { outcome, detail, target, artifacts, dropped, why, sent: false }
            }
            other => other,
        }
    }

    /// Whether a packet went out for this observation.
    pub fn was_sent(&self) -> bool {
        matches!(self, Observation::Observed { sent: true, .. })
    }

    /// An infrastructure error.
    pub fn error(detail: impl Into<String>) -> Observation {
        Observation::Error { detail: detail.into(), artifacts: Vec::new(), dropped: None }
    }

    /// Records the address that was probed.
    pub fn at(mut self, ip: Ipv4Addr) -> Observation {
        if let Observation::Observed { target, .. } = &mut self {
            *target = Some(ip);
        }
        self
    }
}

/// The judge's decision on one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Observed as expected.
    Pass,
    /// Observed otherwise than expected.
    Fail,
    /// The probe could not run.
    Error,
    /// Not run, for a reason decided before running.
    Skipped,
}

impl Verdict {
    /// The word used in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::Error => "error",
            Verdict::Skipped => "skipped",
        }
    }
}

/// A judged check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckResult {
    /// The check.
    pub check: Check,
    /// What was observed, if the probe ran.
    pub observed: Option<Outcome>,
    /// The address probed, if known.
    pub target: Option<Ipv4Addr>,
    /// The verdict.
    pub verdict: Verdict,
    /// Why, in words: the failure message or the evidence.
    pub detail: String,
    /// Files backing the observation.
    pub artifacts: Vec<String>,
    /// Captures: frames that matched the filter but were lost.
    pub dropped: Option<u64>,
    /// Why it did not get through, from the lab as built.
    pub why: Vec<crate::reason::Why>,
    /// Where its packets went, observed again after judging (failing matrix cells only; see `runner::trace`).
    pub path: Option<PathReport>,
}

/// Where a failing probe's packets went, observed once more with captures along the lab and netfilter traces
/// in the lab's own namespaces (paths of failing cells).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PathReport {
    /// Every watched interface, for the request (in the order watched), then for the reply (in reverse).
    pub hops: Vec<PathHop>,
    /// The source's neighbour resolution where it was seen: its who-has requests for `arp_for` (`request`, in
    /// the order watched) and their answers (`reply`, in reverse); only hops that saw one.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub arp: Vec<PathHop>,
    /// The address the source resolved (its next hop towards the target), when ARP was watched.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arp_for: Option<std::net::Ipv4Addr>,
    /// The last hop, in that order, that saw the probe's packet.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<PathHop>,
    /// The rule that dropped it (the request's first, else the reply's), when a trace saw one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dropped_by: Option<DroppedBy>,
    /// Nodes whose ruleset could not be traced, and why.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub untraced: Vec<Untraced>,
    /// Frames the captures may have missed (non-zero: "not seen" is not certain).
    pub lost: u64,
    /// The captures' pcap files.
    pub pcaps: Vec<String>,
    /// The path in one line, e.g. `alpine1 eth0 → server1 docker0 → ✗ server1: FORWARD DOCKER-ISOLATION-STAGE-2 DROP`.
    pub line: String,
    /// The reasons the lab as built gives for the failure, each confirmed or contradicted by this path (or left
    /// open when the path says nothing either way).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<TestedReason>,
}

/// One reason the lab as built gives, tested against the observed path: the reason is a hypothesis, the path
/// the evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TestedReason {
    /// The reason, as the reports word it.
    pub reason: String,
    /// What the path says of it.
    pub status: ReasonStatus,
    /// What in the path says so.
    pub evidence: String,
}

/// What an observed path says of a reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ReasonStatus {
    /// The packets stopped where and how the reason says.
    Confirmed,
    /// They went where the reason says they could not.
    Contradicted,
    /// The path neither confirms nor contradicts it.
    Open,
}

impl ReasonStatus {
    /// The word reports use.
    pub fn as_str(self) -> &'static str {
        match self {
            ReasonStatus::Confirmed => "confirmed",
            ReasonStatus::Contradicted => "contradicted",
            ReasonStatus::Open => "open",
        }
    }
}

/// One interface, one leg of the probe, as the path's capture saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PathHop {
    /// The node.
    pub node: String,
    /// The interface.
    pub interface: String,
    /// `request` or `reply`.
    pub leg: crate::kernel::nftrace::Leg,
    /// Whether the packet was seen there.
    pub seen: bool,
    /// Its IP source on that wire, when seen.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub src: Option<std::net::IpAddr>,
    /// Its IP destination on that wire, when seen.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dst: Option<std::net::IpAddr>,
}

/// A node whose ruleset could not be traced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Untraced {
    /// The node.
    pub node: String,
    /// Why (the tracer's error).
    pub reason: String,
}

/// A rule that dropped a probe's packet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DroppedBy {
    /// The node whose ruleset holds it.
    pub node: String,
    /// Hook, chain and verdict, e.g. `FORWARD DOCKER-ISOLATION-STAGE-2 DROP`.
    pub rule: String,
}
