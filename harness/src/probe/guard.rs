//! Safety: traffic stays inside the lab. A probe may leave only from a namespace the lab made (a suite
//! namespace or a container of the lab's private engine), towards an address the lab's nodes hold, along a
//! route the kernel has. Anything else is refused before a packet is sent.
//!
//! The guard also reports what the kernel's routing says about the target, because some answers decide the
//! cell without a packet: no route, a target that is a broadcast address for the source, or one of the
//! source's own addresses.

use super::nodes::Nodes;
use crate::check::Observation;
use crate::engine::{docker_bridge, EngineMode};
use crate::kernel::netlink::RouteTo;
use std::collections::BTreeSet;
use std::net::Ipv4Addr;

/// What the kernel of the source would do with a probe to the target, once the guard let it through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clearance {
    /// A unicast route: the probe may be sent.
    Send,
    /// No route (`errno` from the kernel): nothing would be sent.
    NoRoute {
        /// The kernel's answer.
        errno: i32,
    },
    /// The target is a broadcast address for the source (its subnet's broadcast): a unicast probe cannot be
    /// sent there (ping refuses without `-b`, a raw socket gets EACCES).
    Broadcast,
    /// The target is one of the source's own addresses: a probe would answer itself.
    Local,
}

/// Checks a probe from `from` to `target` before it is sent. `Err` is the observation to report instead.
pub async fn clear(
    lab: &impl Nodes,
    lab_addresses: &BTreeSet<Ipv4Addr>,
    from: &str,
    target: Ipv4Addr,
) -> Result<Clearance, Observation> {
    let refuse = |why: String| Err(Observation::error(format!("refused to probe: {why}")));
    let Some(is_machine) = lab.is_machine(from) else {
        return refuse(format!("`{from}` is not a node this lab made"));
    };
    // Only with `--engine system` is server1 the machine itself; then its probes may only leave through a
    // Docker bridge (towards a container the lab made, which the address check below also requires).
    let machine = match is_machine {
        Ok(false) => false,
        Ok(true) if lab.mode() == EngineMode::System => true,
        Ok(true) => return refuse(format!("`{from}` is the machine's own network namespace")),
        Err(e) => return refuse(format!("failed to inspect the namespace of {from}: {e}")),
    };
    if !lab_addresses.contains(&target) {
        return refuse(format!("{target} is not an address of the lab"));
    }
    let Some(route) = lab.route_to(from, target).await else {
        return refuse(format!("no netlink socket in `{from}`"));
    };
    match route {
        Ok(RouteTo::Unicast { oif, .. }) if machine => match lab.interface_name(from, oif).await {
            Some(Ok(Some(name))) if docker_bridge(&name) => Ok(Clearance::Send),
            Some(Ok(name)) => refuse(format!(
                "from this machine, {target} is routed through {}, not a Docker bridge",
                name.unwrap_or_else(|| format!("interface {oif}"))
            )),
            Some(Err(e)) => Err(Observation::error(e.to_string())),
            None => refuse(format!("no netlink socket in `{from}`")),
        },
        Ok(RouteTo::Unicast { .. }) => Ok(Clearance::Send),
        // From the machine itself, only unicast through a Docker bridge is ever sent.
        Ok(_) if machine => refuse(format!("from this machine, {target} is not routed through a Docker bridge")),
        Ok(RouteTo::Unreachable { errno }) => Ok(Clearance::NoRoute { errno }),
        Ok(RouteTo::Broadcast) => Ok(Clearance::Broadcast),
        Ok(RouteTo::Local) => Ok(Clearance::Local),
        Ok(RouteTo::Multicast) => refuse(format!("{target} is a multicast address")),
        Err(e) => Err(Observation::error(e.to_string())),
    }
}
