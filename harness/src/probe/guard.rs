//! Safety: traffic stays inside the lab. A probe may leave only from a namespace the lab made (a suite
//! namespace or a container of the lab's private engine), towards an address the lab's nodes hold, along a
//! route the kernel has. Anything else is refused before a packet is sent.

use crate::check::{Observation, Outcome};
use crate::lab::kernel::KernelLab;
use crate::system::EngineMode;
use std::collections::BTreeSet;
use std::net::Ipv4Addr;

/// Whether an interface of the machine is one of Docker's bridges (docker0, or br-<network id>).
pub fn docker_bridge(name: &str) -> bool {
    name == "docker0" || name.starts_with("br-")
}

/// Checks a probe from `from` to `target` before it is sent. `Err` is the observation to report instead.
pub async fn clear(
    lab: &KernelLab,
    lab_addresses: &BTreeSet<Ipv4Addr>,
    from: &str,
    target: Ipv4Addr,
) -> Result<(), Observation> {
    let refuse = |why: String| Err(Observation::error(format!("refused to probe: {why}")));
    let Some(ns) = lab.namespace(from) else {
        return refuse(format!("`{from}` is not a node this lab made"));
    };
    // Only with `--engine system` is server1 the machine itself; then its probes may only leave through a
    // Docker bridge (towards a container the lab made, which the address check below also requires).
    let machine = match ns.is_machine_root() {
        Ok(false) => false,
        Ok(true) if lab.mode() == EngineMode::System => true,
        Ok(true) => return refuse(format!("`{from}` is the machine's own network namespace")),
        Err(e) => return refuse(format!("failed to inspect namespace {}: {e}", ns.name)),
    };
    if !lab_addresses.contains(&target) {
        return refuse(format!("{target} is not an address of the lab"));
    }
    let Some(nl) = lab.netlink(from) else {
        return refuse(format!("no netlink socket in `{from}`"));
    };
    match nl.route_oif(target).await {
        Ok(Some(oif)) if machine => match nl.name_of(oif).await {
            Ok(Some(name)) if docker_bridge(&name) => Ok(()),
            Ok(name) => refuse(format!(
                "from this machine, {target} is routed through {}, not a Docker bridge",
                name.unwrap_or_else(|| format!("interface {oif}"))
            )),
            Err(e) => Err(Observation::error(e.to_string())),
        },
        Ok(Some(_)) => Ok(()),
        Ok(None) => Err(Observation::seen(Outcome::Unreachable, format!("{from} has no route to {target}")).at(target)),
        Err(e) => Err(Observation::error(e.to_string())),
    }
}
