//! Seeded random topologies for the differential test: namespaces, bridges (in switch, router or host
//! namespaces), veth pairs (host↔bridge ports, host↔host, host↔router), IPv4 addresses that share or don't
//! share subnets (/31, /30, /28, /24, /16, nested prefixes, narrower or wider prefixes than their neighbours',
//! addresses that are a neighbour's broadcast), routes with `via`, `dev` and both, default routes, routers with
//! forwarding on and off, links left down, multi-homed hosts.
//!
//! Pure: the same seed gives the same suite on every machine (our own SplitMix64, not `rand`, whose streams may
//! change between versions). Every suite it writes must be one that reachlab's loader accepts *and* that the
//! same `ip` commands would build ([`Topology::ip_script`] writes them): routes only over interfaces that are
//! up, gateways on-link through a connected subnet or an earlier `dev` route, no route twice, no route equal to
//! a connected subnet, network addresses as route destinations, unique addresses, names of at most 15
//! characters. Every address is inside 10.0.0.0/8 and no namespace has a link outside the lab.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt::Write as _;
use std::net::Ipv4Addr;

/// SplitMix64: tiny, fast, and stable forever (the seed is the reproduction recipe).
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x5eed_0fac_1e00_0001)
    }
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// 0..n (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    pub fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
    pub fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below(hi - lo + 1)
    }
}

/// An IPv4 prefix (or an address with its prefix length).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Net {
    pub addr: u32,
    pub prefix: u8,
}

impl Net {
    pub fn new(a: u8, b: u8, c: u8, d: u8, prefix: u8) -> Net {
        Net { addr: u32::from(Ipv4Addr::new(a, b, c, d)), prefix }
    }
    fn mask(self) -> u32 {
        if self.prefix == 0 {
            0
        } else {
            u32::MAX << (32 - self.prefix)
        }
    }
    pub fn network(self) -> Net {
        Net { addr: self.addr & self.mask(), prefix: self.prefix }
    }
    pub fn contains(self, ip: u32) -> bool {
        ip & self.mask() == self.addr & self.mask()
    }
    /// The `k`-th address of the subnet (`k` = 1 is the first host).
    pub fn host(self, k: u32) -> Net {
        Net { addr: self.network().addr + k, prefix: self.prefix }
    }
    pub fn ip(self) -> Ipv4Addr {
        Ipv4Addr::from(self.addr)
    }
    /// Usable host addresses.
    pub fn capacity(self) -> u32 {
        match self.prefix {
            31 => 2,
            32 => 1,
            p => (1u32 << (32 - p)) - 2,
        }
    }
}

impl std::fmt::Display for Net {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.ip(), self.prefix)
    }
}

/// A route as the suite writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// `None`: default.
    pub to: Option<Net>,
    pub via: Option<u32>,
    pub dev: Option<String>,
}

impl Route {
    fn to_net(&self) -> Net {
        self.to.unwrap_or(Net { addr: 0, prefix: 0 })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Host,
    Router,
    Switch,
}

#[derive(Debug, Clone)]
pub struct Namespace {
    pub name: String,
    pub role: Role,
    pub forwarding: bool,
    pub routes: Vec<Route>,
}

#[derive(Debug, Clone)]
pub struct Bridge {
    pub name: String,
    pub netns: String,
    pub address: Option<Net>,
    pub up: bool,
}

#[derive(Debug, Clone)]
pub struct End {
    pub name: String,
    pub netns: String,
    pub address: Option<Net>,
    pub master: Option<String>,
    pub up: bool,
}

#[derive(Debug, Clone)]
pub struct Veth {
    pub a: End,
    pub b: End,
}

/// The kinds of topology, by what they stress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// One switch, every host on it, everything reachable: all pairs at once at size.
    Star,
    /// LANs joined by routers, p2p links, routes; few faults.
    Routed,
    /// Everything, with faults: links down, forwarding off, odd prefixes, missing routes.
    Mixed,
}

impl Profile {
    pub fn as_str(self) -> &'static str {
        match self {
            Profile::Star => "star",
            Profile::Routed => "routed",
            Profile::Mixed => "mixed",
        }
    }
    pub fn parse(s: &str) -> Option<Profile> {
        [Profile::Star, Profile::Routed, Profile::Mixed].into_iter().find(|p| p.as_str() == s)
    }
}

/// What to generate.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    pub seed: u64,
    pub hosts: usize,
    pub profile: Profile,
}

impl Spec {
    /// A spec drawn from the seed alone (the many-seeds run): mostly small, sometimes up to 40 hosts.
    pub fn from_seed(seed: u64) -> Spec {
        let mut r = Rng::new(seed ^ 0xa11);
        let profile = match r.below(10) {
            0 => Profile::Star,
            1..=4 => Profile::Routed,
            _ => Profile::Mixed,
        };
        let hosts = match r.below(10) {
            // Faults cost serial ping a second per cell they make unanswered: mixed labs stay small.
            0 if profile != Profile::Mixed => r.range(20, 40),
            0..=3 => r.range(9, if profile == Profile::Mixed { 14 } else { 19 }),
            _ => r.range(2, 8),
        };
        Spec { seed, hosts, profile }
    }
}

/// A generated topology.
#[derive(Debug, Clone)]
pub struct Topology {
    pub spec: Spec,
    pub namespaces: Vec<Namespace>,
    pub bridges: Vec<Bridge>,
    pub veths: Vec<Veth>,
    /// What the generator did, in words (written as comments at the top of the suite).
    pub notes: Vec<String>,
}

/// Where a LAN's bridge lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    Switch,
    Router(usize),
    Host(usize),
}

struct Lan {
    place: Place,
    bridge_ns: String,
    bridge: String,
    net: Net,
    up: bool,
    /// (namespace, interface, address) of every member that has an address on it (bridge holder included).
    members: Vec<(String, String, Net)>,
    next_host: u32,
}

/// A subnet some namespace can reach on-link, and the interface it is on.
#[derive(Debug, Clone)]
struct Attachment {
    netns: String,
    dev: String,
    addr: Net,
    up: bool,
}

struct Builder {
    r: Rng,
    spec: Spec,
    namespaces: Vec<Namespace>,
    bridges: Vec<Bridge>,
    veths: Vec<Veth>,
    notes: Vec<String>,
    used: BTreeSet<u32>,
    next_if: BTreeMap<String, usize>,
    attachments: Vec<Attachment>,
    /// Router adjacency for routes: (router a, router b, b's address on the shared subnet).
    p2p_block: u8,
}

fn host_name(i: usize) -> String {
    format!("h{}", i + 1)
}
fn router_name(i: usize) -> String {
    format!("r{}", i + 1)
}

impl Builder {
    fn ifname(&mut self, ns: &str) -> String {
        let n = self.next_if.entry(ns.to_string()).or_insert(0);
        *n += 1;
        format!("eth{}", *n - 1)
    }

    fn claim(&mut self, a: Net) -> bool {
        self.used.insert(a.addr)
    }

    fn next_free(&mut self, lan: &mut Lan) -> Option<Net> {
        loop {
            if lan.next_host > lan.net.capacity() {
                return None;
            }
            let a = lan.net.host(lan.next_host);
            lan.next_host += 1;
            if self.claim(a) {
                return Some(a);
            }
        }
    }

    /// Plugs `ns` into a LAN: a veth whose `ns` end is addressed and whose other end is a port of the bridge.
    fn plug(&mut self, lan: &mut Lan, ns: &str, address: Option<Net>) -> String {
        let dev = self.ifname(ns);
        // The port in the bridge's namespace: `h12-p0` (unique there, at most 15 characters).
        let k = self.next_if.entry(format!("port:{}", lan.bridge_ns)).or_insert(0);
        *k += 1;
        let port = format!("{ns}-p{}", *k - 1);
        self.veths.push(Veth {
            a: End { name: dev.clone(), netns: ns.into(), address, master: None, up: true },
            b: End {
                name: port,
                netns: lan.bridge_ns.clone(),
                address: None,
                master: Some(lan.bridge.clone()),
                up: true,
            },
        });
        if let Some(a) = address {
            lan.members.push((ns.into(), dev.clone(), a));
            self.attachments.push(Attachment { netns: ns.into(), dev: dev.clone(), addr: a, up: true });
        }
        dev
    }

    /// A p2p veth between two namespaces, both ends addressed on `net`.
    fn p2p(&mut self, a_ns: &str, b_ns: &str, net: Net) -> (Net, Net) {
        let (x, y) = if net.prefix == 31 { (net.host(0), net.host(1)) } else { (net.host(1), net.host(2)) };
        self.claim(x);
        self.claim(y);
        let (da, db) = (self.ifname(a_ns), self.ifname(b_ns));
        self.veths.push(Veth {
            a: End { name: da.clone(), netns: a_ns.into(), address: Some(x), master: None, up: true },
            b: End { name: db.clone(), netns: b_ns.into(), address: Some(y), master: None, up: true },
        });
        self.attachments.push(Attachment { netns: a_ns.into(), dev: da, addr: x, up: true });
        self.attachments.push(Attachment { netns: b_ns.into(), dev: db, addr: y, up: true });
        (x, y)
    }

    fn p2p_net(&mut self) -> Net {
        // 10.200.0.0 and up: one /24 block per p2p link, never overlapping a LAN.
        let block = self.p2p_block;
        self.p2p_block += 1;
        let prefix = [31, 30, 30, 29, 24][self.r.below(5)];
        Net::new(10, 200 + block / 200, block % 200, 0, prefix)
    }

    fn ns_mut(&mut self, name: &str) -> &mut Namespace {
        self.namespaces.iter_mut().find(|n| n.name == name).expect("namespace exists")
    }
}

/// Generates the topology of `spec`.
pub fn generate(spec: Spec) -> Topology {
    let mut b = Builder {
        r: Rng::new(spec.seed),
        spec,
        namespaces: Vec::new(),
        bridges: Vec::new(),
        veths: Vec::new(),
        notes: Vec::new(),
        used: BTreeSet::new(),
        next_if: BTreeMap::new(),
        attachments: Vec::new(),
        p2p_block: 0,
    };
    let n = spec.hosts.max(2);
    let mixed = spec.profile == Profile::Mixed;
    let n_routers = match spec.profile {
        Profile::Star => usize::from(b.r.chance(0.5)),
        _ => (n / 6 + b.r.below(2)).max(1),
    };
    let n_lans = match spec.profile {
        Profile::Star => 1,
        _ => (n / 5 + b.r.below(2)).max(1).min(n_routers * 2 + 1),
    };
    for i in 0..n {
        b.namespaces.push(Namespace { name: host_name(i), role: Role::Host, forwarding: false, routes: Vec::new() });
    }
    for i in 0..n_routers {
        // A router that does not forward black-holes every cell through it (a second each for ping): small labs.
        let forwarding = !(mixed && n <= 12 && b.r.chance(0.25));
        if !forwarding {
            b.notes.push(format!("{} is a router with forwarding = false", router_name(i)));
        }
        b.namespaces.push(Namespace { name: router_name(i), role: Role::Router, forwarding, routes: Vec::new() });
    }

    // LANs: where the bridge lives, and its subnet (sometimes /16, sometimes nested in an earlier /16).
    let mut lans: Vec<Lan> = Vec::new();
    for l in 0..n_lans {
        let place = match b.r.below(20) {
            0..=11 => Place::Switch,
            12..=16 if n_routers > 0 => Place::Router(b.r.below(n_routers)),
            _ => Place::Host(b.r.below(n)),
        };
        let (bridge_ns, bridge) = match place {
            Place::Switch => {
                let name = format!("sw{}", l + 1);
                b.namespaces.push(Namespace {
                    name: name.clone(),
                    role: Role::Switch,
                    forwarding: false,
                    routes: Vec::new(),
                });
                (name, "br0".to_string())
            }
            Place::Router(r) => (router_name(r), format!("br{l}")),
            Place::Host(h) => (host_name(h), format!("br{l}")),
        };
        let wide_parent = (l > 0 && b.r.chance(if mixed { 0.2 } else { 0.1 })).then(|| b.r.below(l));
        let net = match wide_parent {
            Some(p) => {
                // Nested: a /24 inside an earlier LAN, whose prefix becomes /16.
                let parent = lans[p].net;
                lans[p].net = Net { addr: parent.network().addr & 0xffff_0000, prefix: 16 };
                b.notes.push(format!("LAN {l} ({}) is nested in LAN {p}'s {}", bridge, lans[p].net));
                Net::new(10, (parent.addr >> 16 & 0xff) as u8, 100 + l as u8, 0, 24)
            }
            None => {
                let prefix = match b.r.below(10) {
                    0 if n <= 10 => 28,
                    1 => 25,
                    2 => 16,
                    _ => 24,
                };
                Net::new(10, 1 + l as u8, 0, 0, prefix)
            }
        };
        let up = !(mixed && n <= 12 && b.r.chance(0.06));
        if !up {
            b.notes.push(format!("bridge {bridge} in {bridge_ns} is left down"));
        }
        b.bridges.push(Bridge { name: bridge.clone(), netns: bridge_ns.clone(), address: None, up });
        lans.push(Lan { place, bridge_ns, bridge, net, up, members: Vec::new(), next_host: 1 });
    }
    // The holder of a bridge in a router or host namespace is on the LAN through the bridge itself.
    for (l, lan) in lans.iter_mut().enumerate() {
        if lan.place == Place::Switch {
            continue;
        }
        let k = lan.net.capacity().min(254);
        let a = if lan.net.prefix == 16 { lan.net.host(0xfe00 + 254) } else { lan.net.host(k) };
        if b.claim(a) {
            b.bridges[l].address = Some(a);
            lan.members.push((lan.bridge_ns.clone(), lan.bridge.clone(), a));
            b.attachments.push(Attachment {
                netns: lan.bridge_ns.clone(),
                dev: lan.bridge.clone(),
                addr: a,
                up: lan.up,
            });
        }
    }

    // Routers: each on LAN i % n_lans and one more (or a p2p link to the previous router).
    let mut router_lans: Vec<Vec<usize>> = vec![Vec::new(); n_routers];
    for (i, rl) in router_lans.iter_mut().enumerate() {
        rl.extend(lans.iter().enumerate().filter(|(_, l)| l.place == Place::Router(i)).map(|(k, _)| k));
        let first = i % n_lans;
        if !rl.contains(&first) {
            rl.push(first);
        }
        if n_lans > 1 {
            let other = (first + 1 + b.r.below(n_lans - 1)) % n_lans;
            if !rl.contains(&other) {
                rl.push(other);
            }
        }
    }
    for (i, rl) in router_lans.iter().enumerate() {
        let rn = router_name(i);
        for &l in rl {
            if lans[l].place == Place::Router(i) {
                continue;
            }
            let lan = &mut lans[l];
            // Routers take addresses from the top of the subnet.
            let top = if lan.net.prefix == 16 {
                lan.net.host(0xfe00 + 250 - i as u32)
            } else {
                lan.net.host(lan.net.capacity() - 1 - i as u32)
            };
            let a = b.claim(top).then_some(top).or_else(|| b.next_free(lan));
            b.plug(lan, &rn, a);
        }
    }
    // Routers chained by p2p links, so LANs that share no router can still be joined.
    for i in 1..n_routers {
        if b.r.chance(0.5) {
            let net = b.p2p_net();
            b.p2p(&router_name(i - 1), &router_name(i), net);
        }
    }

    // Hosts: on one LAN (or, as a stub, on a p2p link to a router); some on a second LAN; some p2p to each other.
    for h in 0..n {
        let hn = host_name(h);
        let holds_bridge = lans.iter().position(|l| l.place == Place::Host(h));
        let stub = n_routers > 0 && spec.profile != Profile::Star && b.r.chance(0.12);
        if stub {
            let r = b.r.below(n_routers);
            let net = b.p2p_net();
            let (_, gw) = b.p2p(&hn, &router_name(r), net);
            b.ns_mut(&hn).routes.push(Route { to: None, via: Some(gw.addr), dev: None });
        } else if (holds_bridge.is_none() || b.r.chance(0.3))
            && holds_bridge != Some(if spec.profile == Profile::Star { 0 } else { h % n_lans })
        {
            let l = if spec.profile == Profile::Star { 0 } else { h % n_lans };
            let lan = &mut lans[l];
            let mut addr = b.next_free(lan);
            // Odd prefixes, now and then: a narrower one (some neighbours become off-link: traffic to them
            // goes through the router, which hairpins it), a wider one, or the neighbours' broadcast address.
            if let Some(a) = addr {
                if mixed || spec.profile == Profile::Routed {
                    match b.r.below(if mixed { 20 } else { 40 }) {
                        0 if lan.net.prefix == 24 => {
                            // Upper half of the /24, /25: the router (.2xx) stays on-link, .1-.127 do not.
                            let up_half = lan.net.host(128 + b.r.below(100) as u32 + 20);
                            if b.claim(up_half) {
                                b.used.remove(&a.addr);
                                addr = Some(Net { addr: up_half.addr, prefix: 25 });
                                b.notes.push(format!(
                                    "{hn} has a /25 inside its LAN's /24 (neighbours below .128 are off-link)"
                                ));
                            }
                        }
                        1 if lan.net.prefix == 24 => {
                            addr = Some(Net { addr: a.addr, prefix: 22 });
                            b.notes.push(format!("{hn} has a /22 where its LAN uses /24"));
                        }
                        2 if lan.net.prefix == 24 && (lan.net.addr >> 8 & 1) == 0 => {
                            // .255 with /23: a host address for it, the broadcast address for its /24 neighbours.
                            let bcast = lan.net.host(255);
                            if b.claim(bcast) {
                                b.used.remove(&a.addr);
                                addr = Some(Net { addr: bcast.addr, prefix: 23 });
                                b.notes.push(format!("{hn} is {} — its /24 neighbours' broadcast address", bcast.ip()));
                            }
                        }
                        3 if lan.net.prefix == 24 && a.addr & 0xff < 14 && b.r.chance(0.4) => {
                            // A /28 at the bottom of the /24: the router at the top is on-link only through a
                            // `dev` route to the /24 (added below with the default route).
                            addr = Some(Net { addr: a.addr, prefix: 28 });
                            b.notes.push(format!("{hn} has a /28 where its LAN uses /24"));
                        }
                        _ => {}
                    }
                }
            }
            b.plug(lan, &hn, addr);
        }
        if spec.profile != Profile::Star && n_lans > 1 && b.r.chance(0.15) {
            let l = b.r.below(n_lans);
            if lans[l].members.iter().all(|m| m.0 != hn) && holds_bridge != Some(l) {
                let lan = &mut lans[l];
                let addr = b.next_free(lan);
                b.plug(lan, &hn, addr);
                b.notes.push(format!("{hn} is on two LANs"));
            }
        }
        if spec.profile != Profile::Star && h > 0 && b.r.chance(0.1) {
            let other = host_name(b.r.below(h));
            let net = b.p2p_net();
            b.p2p(&hn, &other, net);
            b.notes.push(format!("{hn} and {other} share a p2p link {}", net.network()));
        }
    }

    // Faults: links left down (few, and on links whose loss costs few cells, in big topologies).
    if mixed {
        let budget = if n <= 12 { 2 } else { 1 };
        for _ in 0..budget {
            if !b.r.chance(0.5) || b.veths.is_empty() {
                continue;
            }
            let v = b.r.below(b.veths.len());
            // In bigger labs, only a host's own links: a router's would cut a whole LAN off.
            if n > 12 && [&b.veths[v].a, &b.veths[v].b].iter().any(|e| e.netns.starts_with('r')) {
                continue;
            }
            let end_b = b.r.chance(0.5);
            let end = if end_b { &mut b.veths[v].b } else { &mut b.veths[v].a };
            end.up = false;
            let (ns, dev) = (end.netns.clone(), end.name.clone());
            b.notes.push(format!("{dev} in {ns} is left down"));
            for at in b.attachments.iter_mut().filter(|a| a.netns == ns && a.dev == dev) {
                at.up = false;
            }
        }
    }
    for (l, lan) in lans.iter().enumerate() {
        if !lan.up {
            let (ns, dev) = (lan.bridge_ns.clone(), lan.bridge.clone());
            for at in b.attachments.iter_mut().filter(|a| a.netns == ns && a.dev == dev) {
                at.up = false;
            }
            let _ = l;
        }
    }

    routes(&mut b, &lans, n_routers);
    Topology { spec, namespaces: b.namespaces, bridges: b.bridges, veths: b.veths, notes: b.notes }
}

/// Routes: hosts get a default route (or specific routes) through a router on their LAN; routers get routes to
/// every subnet they are not on, through the next router on a shortest path; now and then one is missing, a
/// `dev` route makes a gateway on-link that the address alone would not, or a route names both `via` and `dev`.
fn routes(b: &mut Builder, lans: &[Lan], n_routers: usize) {
    let mixed = b.spec.profile == Profile::Mixed;
    let subnets: Vec<Net> = {
        let mut s: Vec<Net> = b.attachments.iter().map(|a| a.addr.network()).collect();
        s.sort();
        s.dedup();
        s
    };
    // Router graph: a -> (b, b's address on a subnet a is on, a's device there).
    let routers: Vec<String> = (0..n_routers).map(router_name).collect();
    let mut adj: BTreeMap<String, Vec<(String, u32, String)>> = BTreeMap::new();
    for x in b.attachments.iter().filter(|a| routers.contains(&a.netns) && a.up) {
        for y in b.attachments.iter().filter(|a| routers.contains(&a.netns) && a.up && a.netns != x.netns) {
            if x.addr.network() == y.addr.network() {
                adj.entry(x.netns.clone()).or_default().push((y.netns.clone(), y.addr.addr, x.dev.clone()));
            }
        }
    }
    for r in &routers {
        let on: BTreeSet<Net> = b.attachments.iter().filter(|a| &a.netns == r).map(|a| a.addr.network()).collect();
        // BFS: first hop towards every router.
        let mut first: BTreeMap<String, u32> = BTreeMap::new();
        let mut q = VecDeque::new();
        for (nb, gw, _) in adj.get(r).into_iter().flatten() {
            if !first.contains_key(nb) {
                first.insert(nb.clone(), *gw);
                q.push_back(nb.clone());
            }
        }
        while let Some(x) = q.pop_front() {
            let gw = first[&x];
            for (nb, _, _) in adj.get(&x).into_iter().flatten() {
                if nb != r && !first.contains_key(nb) {
                    first.insert(nb.clone(), gw);
                    q.push_back(nb.clone());
                }
            }
        }
        for s in &subnets {
            if on.iter().any(|o| o == s) {
                continue;
            }
            // The nearest router on that subnet.
            let owner = b.attachments.iter().find(|a| a.addr.network() == *s && first.contains_key(&a.netns) && a.up);
            if let Some(owner) = owner {
                if mixed && b.spec.hosts <= 12 && b.r.chance(0.08) {
                    b.notes.push(format!("{r} has no route to {s}"));
                    continue;
                }
                let gw = first[&owner.netns];
                b.ns_mut(r).routes.push(Route { to: Some(*s), via: Some(gw), dev: None });
            }
        }
    }
    // Hosts: through a router on one of their LANs.
    let hosts: Vec<String> = b.namespaces.iter().filter(|n| n.role == Role::Host).map(|n| n.name.clone()).collect();
    for h in &hosts {
        if b.ns_mut(h).routes.iter().any(|r| r.to.is_none()) {
            continue; // a stub: it has its default route already
        }
        let mine: Vec<Attachment> = b.attachments.iter().filter(|a| &a.netns == h).cloned().collect();
        let gateway = mine.iter().find_map(|m| {
            let lan = lans.iter().find(|l| l.members.iter().any(|x| x.0 == *h && x.1 == m.dev))?;
            let r = lan.members.iter().find(|x| routers.contains(&x.0))?;
            Some((m.clone(), r.2, lan.net))
        });
        let Some((at, gw, lan_net)) = gateway else { continue };
        let choice = b.r.below(30);
        if !at.addr.contains(gw.addr) {
            // A narrower prefix that left the router off-link: `dev` makes the LAN on-link again (defect 7's
            // shape in issue 8: `ip route add … dev` has scope link, so the default route through it is valid).
            b.ns_mut(h).routes.push(Route { to: Some(lan_net.network()), dev: Some(at.dev.clone()), via: None });
            b.ns_mut(h).routes.push(Route { to: None, via: Some(gw.addr), dev: None });
            b.notes.push(format!("{h}: `dev` route to {} makes its gateway {} on-link", lan_net.network(), gw.ip()));
            continue;
        }
        match choice {
            0 if mixed => b.notes.push(format!("{h} has no routes")),
            1..=3 => {
                for s in subnets.iter().filter(|s| !mine.iter().any(|m| m.addr.network() == **s)) {
                    b.ns_mut(h).routes.push(Route { to: Some(*s), via: Some(gw.addr), dev: None });
                }
            }
            4 => b.ns_mut(h).routes.push(Route { to: None, via: Some(gw.addr), dev: Some(at.dev.clone()) }),
            5 if mixed => {
                // The gateway's host route on-link by `dev`, then the default route through it.
                let gw32 = Net { addr: gw.addr, prefix: 32 };
                b.ns_mut(h).routes.push(Route { to: Some(gw32), dev: Some(at.dev.clone()), via: None });
                b.ns_mut(h).routes.push(Route { to: None, via: Some(gw.addr), dev: None });
            }
            _ => b.ns_mut(h).routes.push(Route { to: None, via: Some(gw.addr), dev: None }),
        }
    }
    // Keep only what `ip route add` accepts, in order (see the module doc).
    let atts = b.attachments.clone();
    for ns in &mut b.namespaces {
        let mine: Vec<&Attachment> = atts.iter().filter(|a| a.netns == ns.name).collect();
        let mut kept: Vec<Route> = Vec::new();
        for r in std::mem::take(&mut ns.routes) {
            let to = r.to_net();
            let dev_up = |d: &str| mine.iter().any(|a| a.dev == d && a.up);
            let dup = kept.iter().any(|k| k.to_net() == to)
                || mine.iter().any(|a| a.up && a.addr.network() == to && to.prefix > 0);
            let dev_ok = r.dev.as_deref().is_none_or(dev_up);
            let gw_ok = r.via.is_none_or(|gw| {
                let own = mine.iter().any(|a| a.addr.addr == gw);
                let connected =
                    mine.iter().any(|a| a.up && a.addr.contains(gw) && r.dev.as_deref().is_none_or(|d| d == a.dev));
                let by_dev = kept.iter().any(|k| {
                    k.via.is_none()
                        && k.to_net().contains(gw)
                        && r.dev.as_deref().is_none_or(|d| Some(d) == k.dev.as_deref())
                });
                !own && (connected || by_dev)
            });
            if !dup && dev_ok && gw_ok {
                kept.push(r);
            }
        }
        ns.routes = kept;
    }
}

fn q(s: &str) -> String {
    format!("\"{s}\"")
}

impl Topology {
    /// Namespaces holding at least one address (the matrix's columns).
    pub fn addressed(&self) -> Vec<String> {
        let mut with: BTreeSet<&str> = BTreeSet::new();
        for br in &self.bridges {
            if br.address.is_some() {
                with.insert(&br.netns);
            }
        }
        for v in &self.veths {
            for e in [&v.a, &v.b] {
                if e.address.is_some() {
                    with.insert(&e.netns);
                }
            }
        }
        self.namespaces.iter().filter(|n| with.contains(n.name.as_str())).map(|n| n.name.clone()).collect()
    }

    /// The suite file: the topology and an all-pairs ICMP matrix (`Y` off the diagonal: the oracle compares
    /// observed with observed, not with expected).
    pub fn to_toml(&self) -> String {
        let mut t = String::new();
        let s = &self.spec;
        let _ = writeln!(t, "# Generated by the oracle's topology generator (harness/tests/oracle/gen.rs).");
        let _ = writeln!(t, "# seed {} · profile {} · {} hosts", s.seed, s.profile.as_str(), s.hosts);
        for n in &self.notes {
            let _ = writeln!(t, "# - {n}");
        }
        let _ = writeln!(t, "name = \"oracle-{}\"", s.seed);
        let _ = writeln!(
            t,
            "description = \"seeded random topology {} ({} hosts, {})\"\n",
            s.seed,
            s.hosts,
            s.profile.as_str()
        );
        for ns in &self.namespaces {
            let _ = writeln!(t, "[[namespace]]\nname = {}", q(&ns.name));
            if ns.forwarding || ns.role == Role::Router {
                let _ = writeln!(t, "forwarding = {}", ns.forwarding);
            }
            if !ns.routes.is_empty() {
                let rs: Vec<String> = ns
                    .routes
                    .iter()
                    .map(|r| {
                        let mut parts = vec![format!("to = {}", q(&r.to.map_or("default".into(), |n| n.to_string())))];
                        if let Some(v) = r.via {
                            parts.push(format!("via = {}", q(&Ipv4Addr::from(v).to_string())));
                        }
                        if let Some(d) = &r.dev {
                            parts.push(format!("dev = {}", q(d)));
                        }
                        format!("{{ {} }}", parts.join(", "))
                    })
                    .collect();
                let _ = writeln!(t, "routes = [{}]", rs.join(", "));
            }
            t.push('\n');
        }
        for br in &self.bridges {
            let _ = writeln!(t, "[[bridge]]\nname = {}\nnetns = {}", q(&br.name), q(&br.netns));
            if let Some(a) = br.address {
                let _ = writeln!(t, "address = {}", q(&a.to_string()));
            }
            if !br.up {
                let _ = writeln!(t, "up = false");
            }
            t.push('\n');
        }
        for v in &self.veths {
            let end = |e: &End| {
                let mut parts = vec![format!("name = {}", q(&e.name)), format!("netns = {}", q(&e.netns))];
                if let Some(a) = e.address {
                    parts.push(format!("address = {}", q(&a.to_string())));
                }
                if let Some(m) = &e.master {
                    parts.push(format!("master = {}", q(m)));
                }
                if !e.up {
                    parts.push("up = false".into());
                }
                parts
            };
            let _ = writeln!(t, "[[veth]]\n{}\npeer = {{ {} }}\n", end(&v.a).join("\n"), end(&v.b).join(", "));
        }
        let cols = self.addressed();
        let rows: Vec<&str> = self.namespaces.iter().map(|n| n.name.as_str()).collect();
        let w = rows
            .iter()
            .chain(cols.iter().map(|c| c.as_str()).collect::<Vec<_>>().iter())
            .map(|s| s.len())
            .max()
            .unwrap_or(1);
        let _ = writeln!(t, "[[matrix]]\nprobe = \"icmp\"\nexpect = \"\"\"");
        let _ = write!(t, "{:w$}", "");
        for c in &cols {
            let _ = write!(t, " {c:>w$}");
        }
        t.push('\n');
        for r in &rows {
            let _ = write!(t, "{r:w$}");
            for c in &cols {
                let _ = write!(t, " {:>w$}", if c == r { "-" } else { "Y" });
            }
            t.push('\n');
        }
        t.push_str("\"\"\"\n");
        t
    }

    /// The same topology as `ip` commands, in reachlab's order (namespaces, forwarding, bridges, veths,
    /// masters, addresses, up, routes), with namespaces named `PREFIX-<name>`: to tell whether iproute2
    /// accepts a suite reachlab refused.
    pub fn ip_script(&self, prefix: &str) -> Vec<Vec<String>> {
        let ns = |n: &str| format!("{prefix}-{n}");
        let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let mut out = Vec::new();
        for n in &self.namespaces {
            out.push(v(&["ip", "netns", "add", &ns(&n.name)]));
            out.push(v(&["ip", "-n", &ns(&n.name), "link", "set", "lo", "up"]));
            if n.forwarding {
                out.push(v(&["ip", "netns", "exec", &ns(&n.name), "sysctl", "-qw", "net.ipv4.ip_forward=1"]));
            }
        }
        for br in &self.bridges {
            out.push(v(&["ip", "-n", &ns(&br.netns), "link", "add", &br.name, "type", "bridge"]));
        }
        for e in &self.veths {
            out.push(v(&[
                "ip",
                "-n",
                &ns(&e.a.netns),
                "link",
                "add",
                &e.a.name,
                "type",
                "veth",
                "peer",
                "name",
                &e.b.name,
                "netns",
                &ns(&e.b.netns),
            ]));
        }
        for e in self.veths.iter().flat_map(|v| [&v.a, &v.b]) {
            if let Some(m) = &e.master {
                out.push(v(&["ip", "-n", &ns(&e.netns), "link", "set", &e.name, "master", m]));
            }
        }
        for br in &self.bridges {
            if let Some(a) = br.address {
                out.push(v(&["ip", "-n", &ns(&br.netns), "addr", "add", &a.to_string(), "dev", &br.name]));
            }
        }
        for e in self.veths.iter().flat_map(|v| [&v.a, &v.b]) {
            if let Some(a) = e.address {
                out.push(v(&["ip", "-n", &ns(&e.netns), "addr", "add", &a.to_string(), "dev", &e.name]));
            }
        }
        for br in self.bridges.iter().filter(|b| b.up) {
            out.push(v(&["ip", "-n", &ns(&br.netns), "link", "set", &br.name, "up"]));
        }
        for e in self.veths.iter().flat_map(|v| [&v.a, &v.b]).filter(|e| e.up) {
            out.push(v(&["ip", "-n", &ns(&e.netns), "link", "set", &e.name, "up"]));
        }
        for n in &self.namespaces {
            for r in &n.routes {
                let mut c =
                    v(&["ip", "-n", &ns(&n.name), "route", "add", &r.to.map_or("default".into(), |t| t.to_string())]);
                if let Some(g) = r.via {
                    c.extend(v(&["via", &Ipv4Addr::from(g).to_string()]));
                }
                if let Some(d) = &r.dev {
                    c.extend(v(&["dev", d]));
                }
                out.push(c);
            }
        }
        out
    }

    /// Every veth end with the namespace it is in, whether it and its peer are up, and its bridge (if it is a
    /// port) and whether that bridge is up: what readiness means for this lab.
    pub fn ends(&self) -> Vec<(&End, bool, Option<bool>)> {
        let bridge_up = |ns: &str, m: &str| self.bridges.iter().find(|b| b.netns == ns && b.name == m).map(|b| b.up);
        self.veths
            .iter()
            .flat_map(|v| [(&v.a, &v.b), (&v.b, &v.a)])
            .map(|(e, peer)| (e, e.up && peer.up, e.master.as_deref().and_then(|m| bridge_up(&e.netns, m))))
            .collect()
    }
}
