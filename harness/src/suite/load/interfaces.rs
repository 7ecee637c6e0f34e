//! Loading interface flag assertions (`[[interface]]`).

use super::*;
use crate::suite::model::InterfaceSpec;
use crate::suite::Interface;

impl Cx<'_> {
    /// `on = "NODE:INTERFACE"` of an interface assertion: the node must exist and the interface be one that can
    /// exist there once the lab is built (as for captures).
    fn node_interface(&self, on: &Spanned<String>, nodes: &Nodes) -> Result<(String, String), Diagnostic> {
        let Some((node, interface)) = on.get_ref().split_once(':') else {
            return Err(self.span(
                on,
                format!("`{}` does not say NODE:INTERFACE", on.get_ref()),
                "e.g. `server1:enp0s3`".to_string(),
            ));
        };
        if !nodes.exists(node) {
            return Err(self.span(
                on,
                format!("unknown node `{node}`"),
                format!("nodes in this suite: {}", known(nodes.names())),
            ));
        }
        let iface_at = self.string_content_start(on.span()) + node.len() + 1;
        if let Some((message, hint)) = names::ifname_problem(interface) {
            return Err(self.at(iface_at, message, Some(hint)));
        }
        if let Err((message, hint)) = super::captures::capturable(node, interface, nodes) {
            return Err(self.at(iface_at, message, Some(hint)));
        }
        Ok((node.to_string(), interface.to_string()))
    }

    pub(super) fn interface(&self, i: &InterfaceSpec, nodes: &Nodes) -> Result<Interface, Diagnostic> {
        let (node, name) = self.node_interface(&i.on, nodes)?;
        Ok(Interface {
            node,
            name,
            promisc: i.promisc,
            scoring: Scoring { points: self.points(&i.points)?, hidden: i.hidden, given: i.given },
            hint: i.hint.clone(),
        })
    }
}
