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
        if name.is_empty() || !name.chars().all(|ch| ch.is_ascii_alphanumeric() || "-_.".contains(ch)) {
            return Err(self.span(
                &c.name,
                format!("`{name}` is not a valid capture name"),
                "it names the pcap file: use letters, digits, `-`, `_` or `.`".to_string(),
            ));
        }
        let (node, interface) = self.node_interface(&c.on, nodes)?;
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
            node,
            interface,
            filter,
            min_packets: c.min_packets,
            max_packets: c.max_packets,
            src: c.src.as_ref().map(|s| self.host_ref(s, nodes)).transpose()?,
            dst: c.dst.as_ref().map(|s| self.host_ref(s, nodes)).transpose()?,
            scoring: Scoring { points: c.points, hidden: c.hidden, given: c.given },
            hint: c.hint.clone(),
        })
    }
}
