//! Safety: traffic stays inside the lab. A probe may leave only from a namespace the lab made, towards an
//! address the lab assigned, along a route whose output interface the lab made. Anything else is refused
//! before a packet is sent.

use crate::check::{Check, Observation, Reach};
use crate::lab::kernel::KernelLab;
use std::collections::BTreeSet;
use std::net::Ipv4Addr;

/// Why a probe may not be sent, or what the route lookup already shows.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Send it.
    Clear,
    /// Do not send: this is the observation to report instead.
    Stop(Observation),
}

/// Checks a probe against the lab before it is sent.
pub async fn clear(lab: &KernelLab, lab_addresses: &BTreeSet<Ipv4Addr>, check: &Check) -> Verdict {
    let refuse = |why: String| Verdict::Stop(Observation::Error { detail: format!("refused to probe: {why}") });
    let Some(ns) = lab.namespace(&check.from) else {
        return refuse(format!("`{}` is not a namespace this lab made", check.from));
    };
    match ns.is_machine_root() {
        Ok(false) => {}
        Ok(true) => return refuse(format!("`{}` is the machine's own network namespace", check.from)),
        Err(e) => return refuse(format!("failed to inspect namespace {}: {e}", ns.name)),
    }
    if !lab_addresses.contains(&check.target) {
        return refuse(format!("{} is not an address the lab assigned", check.target));
    }
    let Some(nl) = lab.netlink(&check.from) else {
        return refuse(format!("no netlink socket in `{}`", check.from));
    };
    let oif = match nl.route_oif(check.target).await {
        Ok(Some(oif)) => oif,
        Ok(None) => {
            return Verdict::Stop(Observation::Observed {
                reach: Reach::Unreachable,
                detail: format!("{} has no route to {}", check.from, check.target),
            })
        }
        Err(e) => return Verdict::Stop(Observation::Error { detail: e.to_string() }),
    };
    match nl.name_of(oif).await {
        Ok(Some(name)) if name == "lo" || lab.made_link(&check.from, &name) => Verdict::Clear,
        Ok(Some(name)) => refuse(format!(
            "the route from {} to {} leaves the lab via {name}, which the lab did not make",
            check.from, check.target
        )),
        Ok(None) => {
            refuse(format!("the route from {} to {} uses an interface that vanished", check.from, check.target))
        }
        Err(e) => Verdict::Stop(Observation::Error { detail: e.to_string() }),
    }
}
