//! The topology as a picture: nodes (namespaces, bridges, the host-only switch, Docker networks, containers) and
//! what joins them (veth pairs, bridge ports, macvlan/vxlan parents, network attachments), as Graphviz DOT or as
//! a self-contained SVG laid out here (no Graphviz needed): nodes on a circle in suite order, so a picture is
//! the same every time. Pure.

use crate::suite::{Attachment, Lab, Suite};
use serde::Serialize;
use std::fmt::Write as _;

/// What a node is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeKind {
    /// A network namespace.
    Namespace,
    /// A Linux bridge (inside a namespace).
    Bridge,
    /// The hypervisor's host-only switch.
    Switch,
    /// A Docker network (in server1's engine).
    Network,
    /// A container.
    Container,
}

/// A node of the picture.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Node {
    /// Unique id (`ns:space1`, `br:lan/br0`, `net:alpine-net`, `ct:alpine1`).
    pub id: String,
    /// What is written on it.
    pub label: String,
    /// What it is.
    pub kind: NodeKind,
}

/// A line between two nodes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Edge {
    /// One node's id.
    pub a: String,
    /// The other's.
    pub b: String,
    /// What joins them (interface names and addresses).
    pub label: String,
    /// Drawn dashed: containment (a bridge in its namespace, a network in server1's engine).
    pub dashed: bool,
}

/// The topology of a suite.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Graph {
    /// Suite name.
    pub name: String,
    /// Nodes, in suite order.
    pub nodes: Vec<Node>,
    /// Edges.
    pub edges: Vec<Edge>,
}

/// An arrow drawn over the picture: a check between two nodes, e.g. a failing cell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arrow {
    /// Source node (as the suite names it).
    pub from: String,
    /// Destination node.
    pub to: String,
    /// Color (CSS).
    pub color: &'static str,
    /// Dashed (a cell that differs from the expectation) or solid (a pair observed to reach).
    pub dashed: bool,
    /// Tooltip.
    pub title: String,
}

fn ns(name: &str) -> String {
    format!("ns:{name}")
}

impl Graph {
    /// The picture of `suite`'s topology.
    pub fn of(suite: &Suite) -> Graph {
        let mut g = Graph { name: suite.name.clone(), ..Graph::default() };
        for n in &suite.namespaces {
            let kind =
                if suite.lab.is_some() && n.name == Lab::SWITCH { NodeKind::Switch } else { NodeKind::Namespace };
            g.nodes.push(Node { id: ns(&n.name), label: n.name.clone(), kind });
        }
        let bridge = |netns: &str, name: &str| format!("br:{netns}/{name}");
        for b in &suite.bridges {
            let label = match &b.address {
                Some(a) => format!("{} {a}", b.name),
                None => b.name.clone(),
            };
            g.nodes.push(Node { id: bridge(&b.netns, &b.name), label, kind: NodeKind::Bridge });
            g.edges.push(Edge { a: ns(&b.netns), b: bridge(&b.netns, &b.name), label: String::new(), dashed: true });
        }
        for v in &suite.veths {
            let end = |e: &crate::suite::VethEnd| match &e.master {
                Some(m) => bridge(&e.netns, m),
                None => ns(&e.netns),
            };
            let words = |e: &crate::suite::VethEnd| match &e.address {
                Some(a) => format!("{} {a}", e.name),
                None => e.name.clone(),
            };
            g.edges.push(Edge {
                a: end(&v.a),
                b: end(&v.b),
                label: format!("{} — {}", words(&v.a), words(&v.b)),
                dashed: false,
            });
        }
        for l in &suite.links {
            let name = match &l.address {
                Some(a) => format!("{} {} {a}", l.kind.as_str(), l.name),
                None => format!("{} {}", l.kind.as_str(), l.name),
            };
            match &l.parent {
                Some((parent, parent_ns)) if *parent_ns != l.netns => g.edges.push(Edge {
                    a: ns(&l.netns),
                    b: ns(parent_ns),
                    label: format!("{name} on {parent}"),
                    dashed: false,
                }),
                _ => {}
            }
        }
        if !suite.containers.is_empty() || !suite.networks.is_empty() {
            let mut networks: Vec<(String, String)> =
                suite.networks.iter().map(|n| (n.name.clone(), n.driver.clone())).collect();
            for c in &suite.containers {
                if let Attachment::Networks(list) = &c.attachment {
                    for n in list {
                        if !networks.iter().any(|(name, _)| name == n) {
                            networks.push((n.clone(), "bridge".into()));
                        }
                    }
                }
            }
            for (name, driver) in &networks {
                g.nodes.push(Node {
                    id: format!("net:{name}"),
                    label: format!("{name} ({driver})"),
                    kind: NodeKind::Network,
                });
                g.edges.push(Edge {
                    a: ns(Lab::SERVER1),
                    b: format!("net:{name}"),
                    label: String::new(),
                    dashed: true,
                });
            }
            for c in &suite.containers {
                g.nodes.push(Node { id: format!("ct:{}", c.name), label: c.name.clone(), kind: NodeKind::Container });
                match &c.attachment {
                    Attachment::Networks(list) => {
                        for n in list {
                            g.edges.push(Edge {
                                a: format!("ct:{}", c.name),
                                b: format!("net:{n}"),
                                label: String::new(),
                                dashed: false,
                            });
                        }
                    }
                    Attachment::Host => g.edges.push(Edge {
                        a: format!("ct:{}", c.name),
                        b: ns(Lab::SERVER1),
                        label: "host network".into(),
                        dashed: false,
                    }),
                    Attachment::None => {}
                }
            }
        }
        g
    }

    /// The node a check's source or destination names (a namespace or a container).
    pub fn node_of(&self, name: &str) -> Option<&Node> {
        let name = name.split('@').next().unwrap_or(name);
        self.nodes.iter().find(|n| n.id == ns(name) || n.id == format!("ct:{name}"))
    }

    /// Graphviz DOT (`dot -Tsvg`).
    pub fn dot(&self) -> String {
        let q = |s: &str| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""));
        let mut out = format!(
            "graph {} {{\n  layout=neato; overlap=false; splines=true;\n  node [fontname=\"sans-serif\"];\n",
            q(&self.name)
        );
        for n in &self.nodes {
            let shape = match n.kind {
                NodeKind::Namespace => "box, style=rounded",
                NodeKind::Bridge => "box, style=\"rounded,filled\", fillcolor=\"#fff3c4\"",
                NodeKind::Switch => "box, style=filled, fillcolor=\"#ddd\"",
                NodeKind::Network => "ellipse, style=filled, fillcolor=\"#dbeafe\"",
                NodeKind::Container => "box, style=filled, fillcolor=\"#dcfce7\"",
            };
            let _ = writeln!(out, "  {} [label={}, shape={shape}];", q(&n.id), q(&n.label));
        }
        for e in &self.edges {
            let style = if e.dashed { ", style=dashed" } else { "" };
            let _ = writeln!(out, "  {} -- {} [label={}{style}];", q(&e.a), q(&e.b), q(&e.label));
        }
        out.push_str("}\n");
        out
    }

    /// Where each node is drawn: on a circle, in order; and the picture's size.
    fn layout(&self) -> (Vec<(f64, f64)>, f64, f64) {
        let n = self.nodes.len().max(1) as f64;
        let widest = self.nodes.iter().map(|n| box_width(&n.label)).fold(80.0, f64::max);
        let r = (n * (widest + 30.0) / std::f64::consts::TAU).max(110.0);
        let (w, h) = (2.0 * r + widest + 40.0, 2.0 * r + 80.0);
        let pos = (0..self.nodes.len())
            .map(|i| {
                let a = -std::f64::consts::FRAC_PI_2 + std::f64::consts::TAU * i as f64 / n;
                (w / 2.0 + r * a.cos(), h / 2.0 + r * a.sin())
            })
            .collect();
        (pos, w, h)
    }

    /// A self-contained SVG of the topology, with `arrows` drawn over it.
    pub fn svg(&self, arrows: &[Arrow]) -> String {
        let (pos, w, h) = self.layout();
        let at = |id: &str| self.nodes.iter().position(|n| n.id == id).map(|i| pos[i]);
        let mut out = format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"topology\" viewBox=\"0 0 {w:.0} {h:.0}\" width=\"{w:.0}\" height=\"{h:.0}\" font-family=\"sans-serif\" font-size=\"12\">\n<title>{}</title>\n<defs><marker id=\"head\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto-start-reverse\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"context-stroke\"/></marker></defs>\n",
            esc(&format!("topology of {}", self.name))
        );
        for e in &self.edges {
            let (Some((x1, y1)), Some((x2, y2))) = (at(&e.a), at(&e.b)) else { continue };
            let dash = if e.dashed { " stroke-dasharray=\"4 3\"" } else { "" };
            let _ = writeln!(
                out,
                "<line class=\"edge\" x1=\"{x1:.1}\" y1=\"{y1:.1}\" x2=\"{x2:.1}\" y2=\"{y2:.1}\" stroke=\"#64748b\" stroke-width=\"1.5\"{dash}><title>{}</title></line>",
                esc(&e.label)
            );
            if !e.label.is_empty() {
                let _ = writeln!(
                    out,
                    "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-size=\"10\" fill=\"#334155\">{}</text>",
                    (x1 + x2) / 2.0,
                    (y1 + y2) / 2.0 - 4.0,
                    esc(&e.label)
                );
            }
        }
        for a in arrows {
            let (Some(f), Some(t)) = (self.node_of(&a.from), self.node_of(&a.to)) else { continue };
            let (Some((x1, y1)), Some((x2, y2))) = (at(&f.id), at(&t.id)) else { continue };
            // Bowed, so the arrows of a pair in both directions do not overlap.
            let (mx, my) = ((x1 + x2) / 2.0 - (y2 - y1) * 0.15, (y1 + y2) / 2.0 + (x2 - x1) * 0.15);
            let (width, dash) = if a.dashed { ("2", " stroke-dasharray=\"6 3\"") } else { ("1.5", "") };
            let _ = writeln!(
                out,
                "<path class=\"arrow\" d=\"M{x1:.1},{y1:.1} Q{mx:.1},{my:.1} {x2:.1},{y2:.1}\" fill=\"none\" stroke=\"{}\" stroke-width=\"{width}\"{dash} marker-end=\"url(#head)\"><title>{}</title></path>",
                a.color,
                esc(&a.title)
            );
        }
        for (n, (x, y)) in self.nodes.iter().zip(&pos) {
            let (fill, rx) = match n.kind {
                NodeKind::Namespace => ("#ffffff", 8),
                NodeKind::Bridge => ("#fff3c4", 8),
                NodeKind::Switch => ("#e5e7eb", 2),
                NodeKind::Network => ("#dbeafe", 16),
                NodeKind::Container => ("#dcfce7", 4),
            };
            let bw = box_width(&n.label);
            let _ = writeln!(
                out,
                "<g class=\"node\" data-id=\"{}\"><rect x=\"{:.1}\" y=\"{:.1}\" width=\"{bw:.0}\" height=\"26\" rx=\"{rx}\" fill=\"{fill}\" stroke=\"#1e293b\"/><text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text></g>",
                esc(&n.id),
                x - bw / 2.0,
                y - 13.0,
                y + 4.0,
                esc(&n.label)
            );
        }
        out.push_str("</svg>\n");
        out
    }
}

fn box_width(label: &str) -> f64 {
    label.chars().count() as f64 * 7.0 + 18.0
}

/// Escapes text for XML and HTML.
pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    const SUITE: &str = r#"
name = "routed"
[[namespace]]
name = "lan"
[[namespace]]
name = "h1"
[[namespace]]
name = "h2"
[[bridge]]
name = "br0"
netns = "lan"
[[veth]]
name = "eth0"
netns = "h1"
address = "10.0.0.1/24"
peer = { name = "p1", netns = "lan", master = "br0" }
[[veth]]
name = "eth0"
netns = "h2"
address = "10.0.0.2/24"
peer = { name = "p2", netns = "lan", master = "br0" }
[[matrix]]
probe = "icmp"
expect = """
    h1  h2
h1  -   Y
h2  Y   -
"""
"#;

    #[test]
    fn a_bridged_lab_is_hosts_joined_to_the_bridge() {
        let g = Graph::of(&crate::suite::load_str(SUITE, "routed.toml").unwrap());
        let ids: Vec<&str> = g.nodes.iter().map(|n| n.id.as_str()).collect();
        assert_eq!(ids, ["ns:lan", "ns:h1", "ns:h2", "br:lan/br0"]);
        assert!(g.edges.iter().any(|e| e.a == "ns:h1" && e.b == "br:lan/br0" && e.label == "eth0 10.0.0.1/24 — p1"));
        let dot = g.dot();
        assert!(dot.starts_with("graph \"routed\" {") && dot.contains("\"ns:h1\" -- \"br:lan/br0\""), "{dot}");
        let svg =
            g.svg(&[Arrow { from: "h1".into(), to: "h2".into(), color: "#dc2626", dashed: true, title: "x".into() }]);
        assert_eq!(svg.matches("<g class=\"node\"").count(), 4);
        assert_eq!(svg.matches("class=\"arrow\"").count(), 1);
    }
}
