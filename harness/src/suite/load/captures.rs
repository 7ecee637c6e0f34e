//! Loading captures and their assertions.

use super::*;
use crate::filter::Filter;

impl Cx<'_> {
    pub(super) fn host_ref(&self, s: &Spanned<String>, nodes: &Nodes) -> Result<HostRef, Diagnostic> {
        if let Ok(a) = s.get_ref().parse() {
            return Ok(HostRef::Address(a));
        }
        if nodes.exists(s.get_ref()) {
            return Ok(HostRef::Node(s.get_ref().clone()));
        }
        Err(self.span(
            s,
            format!("`{}` is neither a node nor an IPv4 address", s.get_ref()),
            format!("nodes in this suite: {}", known(nodes.names())),
        ))
    }

    pub(super) fn capture(&self, c: &CaptureSpec, nodes: &Nodes) -> Result<Capture, Diagnostic> {
        let name = c.name.get_ref();
        self.capture_name(&c.name)?;
        let points = self.points(&c.points)?;
        let Some((node, interface)) = c.on.get_ref().split_once(':') else {
            return Err(self.span(
                &c.on,
                format!("`{}` does not say NODE:INTERFACE", c.on.get_ref()),
                "e.g. `server1:enp0s3`, `alpine1:eth0`".to_string(),
            ));
        };
        if !nodes.exists(node) {
            return Err(self.span(
                &c.on,
                format!("unknown node `{node}`"),
                format!("nodes in this suite: {}", known(nodes.names())),
            ));
        }
        let iface_at = self.string_content_start(c.on.span()) + node.len() + 1;
        if let Some((message, hint)) = names::ifname_problem(interface).filter(|_| interface != "lo") {
            return Err(self.at(iface_at, message, Some(hint)));
        }
        if let Err((message, hint)) = capturable(node, interface, nodes) {
            return Err(self.at(iface_at, message, Some(hint)));
        }
        // Checked by libpcap now, with placeholder addresses for the nodes (their own are known once the lab is
        // built); the template is kept, so the filter is read once.
        let filter = match &c.filter {
            None => Filter::all(),
            Some(f) => {
                let start = self.string_content_start(f.span());
                Filter::parse(f.get_ref(), &|n| nodes.exists(n)).map_err(|e| {
                    let hint = match (&e.hint, e.message.starts_with("unknown host")) {
                        (_, true) => Some(format!("hosts are addresses or nodes: {}", known(nodes.names()))),
                        (hint, false) => hint.clone(),
                    };
                    self.at(start + e.offset, e.message.clone(), hint)
                })?
            }
        };
        if let (Some(min), Some(max)) = (c.min_packets, c.max_packets) {
            if min > max {
                return Err(self.span(
                    &c.name,
                    format!("min_packets = {min} is above max_packets = {max}"),
                    "swap them".to_string(),
                ));
            }
        }
        Ok(Capture {
            name: name.clone(),
            node: node.into(),
            interface: interface.into(),
            filter,
            min_packets: c.min_packets,
            max_packets: c.max_packets,
            src: c.src.as_ref().map(|s| self.host_ref(s, nodes)).transpose()?,
            dst: c.dst.as_ref().map(|s| self.host_ref(s, nodes)).transpose()?,
            scoring: Scoring { points, hidden: c.hidden, given: c.given },
            hint: c.hint.clone(),
        })
    }
}

/// Whether `interface` can exist on `node` once the lab is built. The suite's own namespaces have the interfaces
/// it declares; a container has `eth0`, `eth1`, … one per network in the order it joins them (a host-network
/// container has server1's); server1 has its declared ones and those its engine makes: `docker0`, a bridge per
/// network (`br-<network id>` or the `com.docker.network.bridge.name` option) and host-side veths (`veth<id>`).
pub(super) fn capturable(node: &str, interface: &str, nodes: &Nodes) -> Result<(), (String, String)> {
    let declared = |n: &str| nodes.ifaces.get(n).into_iter().flat_map(|i| i.keys().map(String::as_str));
    let on_server1 = match nodes.container(node).map(|c| &c.attachment) {
        Some(Attachment::Networks(list)) => {
            let k = interface.strip_prefix("eth").and_then(|k| k.parse::<usize>().ok());
            if k.is_some_and(|k| k < list.len() && interface == format!("eth{k}")) {
                return Ok(());
            }
            let have: Vec<String> = list.iter().enumerate().map(|(k, n)| format!("eth{k} ({n})")).collect();
            return Err((
                format!("container `{node}` will have no interface `{interface}`"),
                format!("a container has one interface per network, in order: {}", known(have)),
            ));
        }
        Some(Attachment::None) => {
            return Err((
                format!("container `{node}` has no network (network_mode = \"none\"): nothing to capture"),
                "capture on a node with a network".into(),
            ))
        }
        Some(Attachment::Host) => true,
        None => node == Lab::SERVER1,
    };
    if declared(if on_server1 { Lab::SERVER1 } else { node }).any(|i| i == interface) {
        return Ok(());
    }
    if !on_server1 {
        return Err((
            format!("`{node}` has no interface `{interface}`"),
            format!("interfaces of `{node}`: {}", known(declared(node))),
        ));
    }
    let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    let engine_made = interface == "docker0"
        || interface.strip_prefix("br-").is_some_and(|id| hex(id, 12))
        || interface.strip_prefix("veth").is_some_and(|id| hex(id, 7))
        || nodes
            .networks
            .iter()
            .any(|n| n.options.get("com.docker.network.bridge.name").is_some_and(|b| b == interface));
    if engine_made {
        return Ok(());
    }
    Err((
        format!("`{node}` will have no interface `{interface}`"),
        format!(
            "server1's interfaces: {}, and those its engine makes: docker0, br-<network id>, veth<id>",
            known(declared(Lab::SERVER1))
        ),
    ))
}
