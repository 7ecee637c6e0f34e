//! Loading `NODE:INTERFACE` places (captures, interface assertions) and interface flag assertions.

use super::*;
use crate::suite::model::InterfaceSpec;
use crate::suite::Interface;

impl Cx<'_> {
    /// `on = "NODE:INTERFACE"`: the node must exist; an interface of the suite's own namespaces must too
    /// (Docker's — docker0, br-…, a container's eth0 — and server1's exist only at run time).
    pub(super) fn node_interface(&self, on: &Spanned<String>, nodes: &Nodes) -> Result<(String, String), Diagnostic> {
        let Some((node, interface)) = on.get_ref().split_once(':') else {
            return Err(self.span(
                on,
                format!("`{}` does not say NODE:INTERFACE", on.get_ref()),
                "e.g. `server1:enp0s3`, `alpine1:eth0`".to_string(),
            ));
        };
        if !nodes.exists(node) {
            return Err(self.span(
                on,
                format!("unknown node `{node}`"),
                format!("nodes in this suite: {}", known(nodes.names())),
            ));
        }
        let static_ns = nodes.container(node).is_none() && node != Lab::SERVER1;
        if static_ns && !nodes.ifaces.get(node).is_some_and(|i| i.contains_key(interface)) {
            let here = nodes.ifaces.get(node).into_iter().flat_map(|i| i.keys());
            return Err(self.span(
                on,
                format!("`{node}` has no interface `{interface}`"),
                format!("interfaces of `{node}`: {}", known(here)),
            ));
        }
        Ok((node.to_string(), interface.to_string()))
    }

    pub(super) fn interface(&self, i: &InterfaceSpec, nodes: &Nodes) -> Result<Interface, Diagnostic> {
        let (node, name) = self.node_interface(&i.on, nodes)?;
        Ok(Interface {
            node,
            name,
            promisc: i.promisc,
            scoring: Scoring { points: i.points, hidden: i.hidden, given: i.given },
            hint: i.hint.clone(),
        })
    }
}
