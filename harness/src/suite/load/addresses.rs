//! Duplicate addresses. The kernel keeps addresses per namespace, so two namespaces may hold the same address;
//! what decides whether that is a mistake is whether packets can pass between them. The lab's links — veth
//! pairs, macvlan/ipvlan/vlan children and their parent, vxlan tunnels and their underlay, the emulated LAN and
//! server1's Docker networks — join namespaces into *segments* (connected parts of the lab, through bridges and
//! routers alike). Within a segment, two nodes holding one address answer ARP and routes for it in turn: the
//! suite is refused. Across segments no link carries a packet, so reusing a subnet in separate, isolated parts
//! of the lab is allowed — except where a matrix probes a destination by an address that another node of the
//! source's segment holds (or the source itself): that node would answer, and the cell would be judged on the
//! wrong node's reply. Such a cell is refused too.

use super::*;

/// An interface address and where the suite says it.
pub(super) struct Held {
    /// The namespace holding it.
    pub node: String,
    /// The interface.
    pub iface: String,
    /// The address.
    pub addr: Ipv4Addr,
    /// Offset of its text in the file.
    pub at: usize,
}

/// A node that would answer for a destination: the address, the node and its interface.
pub(super) type Answerer<'a> = (Ipv4Addr, &'a str, &'a str);

/// The lab's segments and who holds each address in each.
#[derive(Default)]
pub(super) struct Segments {
    /// Node → segment (containers are in server1's).
    segment: HashMap<String, usize>,
    /// (address, segment) → the node holding it and its interface.
    holders: HashMap<(Ipv4Addr, usize), (String, String)>,
    /// Node → its addresses and their interfaces, in declaration order.
    addresses: HashMap<String, Vec<(String, Ipv4Addr)>>,
}

/// Union-find over node indexes.
struct Union(Vec<usize>);

impl Union {
    fn find(&mut self, mut i: usize) -> usize {
        while self.0[i] != i {
            self.0[i] = self.0[self.0[i]];
            i = self.0[i];
        }
        i
    }
    fn join(&mut self, a: usize, b: usize) {
        let (a, b) = (self.find(a), self.find(b));
        self.0[a] = b;
    }
}

impl Segments {
    /// The segment a node is in (none for a node without links).
    pub(super) fn segment_of(&self, node: &str) -> Option<usize> {
        self.segment.get(node).copied()
    }

    /// The node in `segment`, other than `dest`, that would answer a probe to `dest` — with the address and
    /// interface — if any. `None` also when the nodes' addresses are only known at run time (containers).
    pub(super) fn answered_in(&self, segment: usize, dest: &Endpoint) -> Option<Answerer<'_>> {
        let candidates = self.addresses.get(&dest.node)?;
        let pinned = dest.via.as_deref();
        candidates.iter().filter(|(iface, _)| pinned.is_none_or(|p| p == iface)).find_map(|(_, addr)| {
            let (node, iface) = self.holders.get(&(*addr, segment))?;
            (node != &dest.node).then_some((*addr, node.as_str(), iface.as_str()))
        })
    }
}

impl Cx<'_> {
    /// Builds the segments from the lab's links and refuses an address held by two nodes of one segment.
    pub(super) fn segments(
        &self,
        held: &[Held],
        veths: &[Veth],
        links: &[Link],
        containers: &[Container],
    ) -> Result<Segments, Diagnostic> {
        let mut index: HashMap<&str, usize> = HashMap::new();
        let names = held
            .iter()
            .map(|h| h.node.as_str())
            .chain(veths.iter().flat_map(|v| [&v.a.netns, &v.b.netns]).map(String::as_str));
        let names = names
            .chain(
                links
                    .iter()
                    .flat_map(|l| std::iter::once(&l.netns).chain(l.parent.as_ref().map(|p| &p.0)))
                    .map(String::as_str),
            )
            .chain(containers.iter().map(|c| c.name.as_str()))
            .chain((!containers.is_empty()).then_some(Lab::SERVER1));
        for n in names {
            let next = index.len();
            index.entry(n).or_insert(next);
        }
        let mut union = Union((0..index.len()).collect());
        let at = |n: &str| index[n];
        for v in veths {
            union.join(at(&v.a.netns), at(&v.b.netns));
        }
        let mut by_addr: HashMap<Ipv4Addr, Vec<&str>> = HashMap::new();
        for h in held {
            by_addr.entry(h.addr).or_default().push(&h.node);
        }
        for l in links {
            if let Some((parent_ns, _)) = &l.parent {
                union.join(at(&l.netns), at(parent_ns));
            }
            // A tunnel joins its namespace to whoever holds the far end.
            for far in l.remote.iter().flat_map(|r| by_addr.get(r)).flatten() {
                union.join(at(&l.netns), at(far));
            }
        }
        for c in containers {
            union.join(at(&c.name), at(Lab::SERVER1));
        }

        let mut out = Segments::default();
        for h in held {
            let segment = union.find(at(&h.node));
            match out.holders.get(&(h.addr, segment)) {
                Some((node, iface)) if node != &h.node => {
                    return Err(self.at(
                        h.at,
                        format!(
                            "{} is held by both `{node}` ({iface}) and `{}` ({}), which the lab's links join",
                            h.addr, h.node, h.iface
                        ),
                        Some(
                            "nodes that packets can pass between need their own addresses (both would answer ARP \
                             and routes for it); reuse an address only in parts of the lab that no link joins"
                                .into(),
                        ),
                    ))
                }
                Some(_) => {}
                None => {
                    out.holders.insert((h.addr, segment), (h.node.clone(), h.iface.clone()));
                }
            }
            out.addresses.entry(h.node.clone()).or_default().push((h.iface.clone(), h.addr));
        }
        for (name, i) in &index {
            out.segment.insert(name.to_string(), union.find(*i));
        }
        Ok(out)
    }
}
