//! Loading: TOML text → [`Suite`], with every error placed at file:line:col and given a hint.

use super::matrix::{self, Cell};
use super::model::{
    By, CaptureSpec, ContainerSpec, LinkKind, LinkSpec, MatrixSpec, NetworkSpec, ProbeKind, Promiscuous, SuiteFile,
};
use super::{
    Attachment, Bridge, Capture, Cidr, Container, Endpoint, Grading, HostRef, Lab, Link, Matrix, Namespace, Nat,
    Network, ProbeSettings, Route, Scoring, Suite, Veth, VethEnd,
};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::Ipv4Addr;
use std::ops::Range;
use std::path::Path;
use toml::Spanned;

/// Why a suite could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("failed to read suite {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not a valid suite.
    #[error("{0}")]
    Invalid(Box<Diagnostic>),
}

/// A located problem in a suite file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file as given.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column (characters).
    pub col: usize,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub hint: Option<String>,
    /// The offending source line.
    pub source_line: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}:{}:{}: {}", self.file, self.line, self.col, self.message)?;
        let gutter = self.line.to_string().len();
        writeln!(f, "{:gutter$} |", "")?;
        writeln!(f, "{} | {}", self.line, self.source_line)?;
        write!(f, "{:gutter$} | {:>col$}", "", "^", col = self.col)?;
        if let Some(hint) = &self.hint {
            write!(f, "\n{:gutter$} = hint: {hint}", "")?;
        }
        Ok(())
    }
}

/// Reads and loads a suite file.
pub fn load_file(path: &Path) -> Result<Suite, LoadError> {
    let src =
        std::fs::read_to_string(path).map_err(|source| LoadError::Read { path: path.display().to_string(), source })?;
    load_str(&src, &path.display().to_string())
}

/// Loads a suite from text; `file` names it in errors and reports.
pub fn load_str(src: &str, file: &str) -> Result<Suite, LoadError> {
    let cx = Cx { src, file };
    let raw: SuiteFile = toml::from_str(src).map_err(|e| cx.toml_error(&e))?;
    cx.validate(raw).map_err(|d| LoadError::Invalid(Box::new(d)))
}

/// Interfaces (and their addresses) by namespace.
type Ifaces = BTreeMap<String, BTreeMap<String, Option<Cidr>>>;

/// What matrix and capture names can refer to.
struct Nodes<'a> {
    namespaces: &'a [String],
    ifaces: &'a BTreeMap<String, BTreeMap<String, Option<Cidr>>>,
    containers: &'a [Container],
    networks: &'a [Network],
}

impl Nodes<'_> {
    fn container(&self, name: &str) -> Option<&Container> {
        self.containers.iter().find(|c| c.name == name)
    }
    fn exists(&self, name: &str) -> bool {
        self.namespaces.iter().any(|n| n == name) || self.container(name).is_some()
    }
    fn names(&self) -> Vec<&str> {
        self.namespaces.iter().map(String::as_str).chain(self.containers.iter().map(|c| c.name.as_str())).collect()
    }
}

struct Cx<'a> {
    src: &'a str,
    file: &'a str,
}

/// A name bound to what it names in the suite, to say "known names are …" in hints.
fn known(names: impl IntoIterator<Item = impl AsRef<str>>) -> String {
    let list: Vec<String> = names.into_iter().map(|n| n.as_ref().to_string()).collect();
    if list.is_empty() {
        "none are declared".into()
    } else {
        list.join(", ")
    }
}

impl Cx<'_> {
    fn at(&self, offset: usize, message: impl Into<String>, hint: Option<String>) -> Diagnostic {
        let offset = offset.min(self.src.len());
        let before = &self.src[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let col = self.src[line_start..offset].chars().count() + 1;
        let source_line = self.src[line_start..].lines().next().unwrap_or("").to_string();
        Diagnostic { file: self.file.to_string(), line, col, message: message.into(), hint, source_line }
    }

    fn span<T>(&self, s: &Spanned<T>, message: impl Into<String>, hint: impl Into<Option<String>>) -> Diagnostic {
        self.at(s.span().start, message, hint.into())
    }

    fn toml_error(&self, e: &toml::de::Error) -> LoadError {
        let msg = e.message().trim().to_string();
        let (message, hint) = match msg.split_once(", expected ") {
            Some((head, allowed)) if head.starts_with("unknown field") => (
                head.replacen("unknown field", "unknown key", 1),
                Some(format!("allowed keys here: {}", allowed.trim_start_matches("one of "))),
            ),
            Some((head, allowed)) if head.starts_with("unknown variant") => (
                head.replacen("unknown variant", "unknown value", 1),
                Some(format!("expected {}", allowed.trim_start_matches("one of "))),
            ),
            _ => (msg.clone(), None),
        };
        let offset = e.span().map_or(0, |s: Range<usize>| s.start);
        LoadError::Invalid(Box::new(self.at(offset, message, hint)))
    }

    fn cidr(&self, s: &Spanned<String>) -> Result<Cidr, Diagnostic> {
        s.get_ref().parse().map_err(|why: String| {
            self.span(
                s,
                format!("invalid address: {why}"),
                "write an IPv4 address with its prefix length, e.g. `10.0.0.11/24`".to_string(),
            )
        })
    }

    fn ifname(&self, s: &Spanned<String>) -> Result<String, Diagnostic> {
        let name = s.get_ref();
        let ok = !name.is_empty()
            && name.len() <= 15
            && name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
        if ok {
            Ok(name.clone())
        } else {
            Err(self.span(
                s,
                format!("`{name}` is not a valid interface name"),
                "interface names have 1 to 15 characters: letters, digits, `-`, `_`, `.`".to_string(),
            ))
        }
    }

    fn validate(&self, raw: SuiteFile) -> Result<Suite, Diagnostic> {
        let name = raw.name.clone().unwrap_or_else(|| {
            Path::new(self.file).file_stem().map_or_else(|| "suite".into(), |s| s.to_string_lossy().into_owned())
        });
        let settings = self.settings(&raw.settings.timeout_ms, &raw.settings.attempts, ProbeSettings::default())?;

        let lab = self.lab(&raw)?;
        let mut namespaces: Vec<Namespace> = Vec::new();
        if lab.is_some() {
            for name in [Lab::SERVER1, Lab::SERVER2, Lab::SWITCH] {
                namespaces.push(Namespace { name: name.into(), routes: Vec::new(), forwarding: false });
            }
        }
        for ns in &raw.namespace {
            let n = ns.name.get_ref();
            let ok = !n.is_empty() && n.len() <= 32 && n.chars().all(|c| c.is_ascii_alphanumeric() || "-_".contains(c));
            if !ok {
                return Err(self.span(
                    &ns.name,
                    format!("`{n}` is not a valid namespace name"),
                    "use 1 to 32 letters, digits, `-` or `_`".to_string(),
                ));
            }
            if lab.is_some() && [Lab::SERVER1, Lab::SERVER2, Lab::SWITCH].contains(&n.as_str()) {
                return Err(self.span(
                    &ns.name,
                    format!("`{n}` is part of the emulated LAN"),
                    "server1, server2 and hostonly are made by the [lab] (implied by containers); pick another name"
                        .to_string(),
                ));
            }
            if namespaces.iter().any(|x| &x.name == n) {
                return Err(self.span(
                    &ns.name,
                    format!("namespace `{n}` is declared twice"),
                    "give each namespace its own name".to_string(),
                ));
            }
            namespaces.push(Namespace { name: n.clone(), routes: Vec::new(), forwarding: ns.forwarding });
        }
        let ns_names: Vec<String> = namespaces.iter().map(|n| n.name.clone()).collect();
        let netns = |s: &Spanned<String>| -> Result<String, Diagnostic> {
            if ns_names.contains(s.get_ref()) {
                Ok(s.get_ref().clone())
            } else {
                Err(self.span(
                    s,
                    format!("unknown namespace `{}`", s.get_ref()),
                    format!("namespaces in this suite: {}", known(&ns_names)),
                ))
            }
        };

        // Interfaces per namespace, to catch duplicates and resolve `master`, `dev` and `node@iface`.
        let mut ifaces: BTreeMap<String, BTreeMap<String, Option<Cidr>>> = BTreeMap::new();
        let mut bridges = Vec::new();
        let mut veths = Vec::new();
        if let Some(lab) = &lab {
            bridges.push(Bridge { name: Lab::BRIDGE.into(), netns: Lab::SWITCH.into(), address: None, up: true });
            ifaces.entry(Lab::SWITCH.to_string()).or_default().insert(Lab::BRIDGE.into(), None);
            for (node, nic, addr) in
                [(Lab::SERVER1, &lab.nic, lab.server1), (Lab::SERVER2, &lab.server2_nic, lab.server2)]
            {
                let port = format!("port-{node}");
                ifaces.entry(node.to_string()).or_default().insert(nic.clone(), Some(addr));
                ifaces.entry(Lab::SWITCH.to_string()).or_default().insert(port.clone(), None);
                veths.push(Veth {
                    a: VethEnd { name: nic.clone(), netns: node.into(), address: Some(addr), master: None, up: true },
                    b: VethEnd {
                        name: port,
                        netns: Lab::SWITCH.into(),
                        address: None,
                        master: Some(Lab::BRIDGE.into()),
                        up: true,
                    },
                });
            }
        }

        for b in &raw.bridge {
            let ns = netns(&b.netns)?;
            let name = self.ifname(&b.name)?;
            let address = b.address.as_ref().map(|a| self.cidr(a)).transpose()?;
            self.claim(&mut ifaces, &ns, &b.name, &name, address)?;
            bridges.push(Bridge { name, netns: ns, address, up: b.up.unwrap_or(true) });
        }
        let bridge_in = |ns: &str, m: &Spanned<String>| -> Result<String, Diagnostic> {
            if bridges.iter().any(|b: &Bridge| b.netns == ns && &b.name == m.get_ref()) {
                Ok(m.get_ref().clone())
            } else {
                let here = bridges.iter().filter(|b| b.netns == ns).map(|b| b.name.as_str());
                Err(self.span(
                    m,
                    format!("no bridge `{}` in namespace `{ns}`", m.get_ref()),
                    format!("bridges in `{ns}`: {}", known(here)),
                ))
            }
        };

        for v in &raw.veth {
            let a_ns = netns(&v.netns)?;
            let b_ns = netns(&v.peer.netns)?;
            let a_name = self.ifname(&v.name)?;
            let b_name = self.ifname(&v.peer.name)?;
            let a_addr = v.address.as_ref().map(|a| self.cidr(a)).transpose()?;
            let b_addr = v.peer.address.as_ref().map(|a| self.cidr(a)).transpose()?;
            self.claim(&mut ifaces, &a_ns, &v.name, &a_name, a_addr)?;
            self.claim(&mut ifaces, &b_ns, &v.peer.name, &b_name, b_addr)?;
            let a_master = v.master.as_ref().map(|m| bridge_in(&a_ns, m)).transpose()?;
            let b_master = v.peer.master.as_ref().map(|m| bridge_in(&b_ns, m)).transpose()?;
            veths.push(Veth {
                a: VethEnd { name: a_name, netns: a_ns, address: a_addr, master: a_master, up: v.up.unwrap_or(true) },
                b: VethEnd {
                    name: b_name,
                    netns: b_ns,
                    address: b_addr,
                    master: b_master,
                    up: v.peer.up.unwrap_or(true),
                },
            });
        }

        let mut links = Vec::new();
        for l in &raw.link {
            let link = self.link(l, &netns, &ifaces)?;
            self.claim(&mut ifaces, &link.netns, &l.name, &link.name, link.address)?;
            links.push(link);
        }

        // The LAN's namespaces come first; the suite's own follow in the order written.
        let lab_namespaces = namespaces.len() - raw.namespace.len();
        for (ns, spec) in namespaces.iter_mut().skip(lab_namespaces).zip(&raw.namespace) {
            for r in &spec.routes {
                let to =
                    if r.to.get_ref() == "default" { "0.0.0.0/0".parse().expect("valid") } else { self.cidr(&r.to)? };
                let via = match &r.via {
                    Some(v) => Some(v.get_ref().parse().map_err(|_| {
                        self.span(
                            v,
                            format!("`{}` is not an IPv4 address", v.get_ref()),
                            "a gateway is a plain address such as `10.0.0.1`".to_string(),
                        )
                    })?),
                    None => None,
                };
                let here = ifaces.get(&ns.name);
                let dev = match &r.dev {
                    Some(d) if here.is_some_and(|i| i.contains_key(d.get_ref())) => Some(d.get_ref().clone()),
                    Some(d) => {
                        return Err(self.span(
                            d,
                            format!("no interface `{}` in namespace `{}`", d.get_ref(), ns.name),
                            format!("interfaces in `{}`: {}", ns.name, known(here.into_iter().flat_map(|i| i.keys()))),
                        ))
                    }
                    None => None,
                };
                if via.is_none() && dev.is_none() {
                    return Err(self.span(
                        &r.to,
                        "a route needs `via` or `dev`".to_string(),
                        "e.g. `{ to = \"default\", via = \"10.0.0.1\" }`".to_string(),
                    ));
                }
                ns.routes.push(Route { to, via, dev });
            }
        }

        let networks = self.networks(&raw.network, &ifaces)?;
        let containers = self.containers(&raw.container, &networks, &ns_names)?;
        let nodes = Nodes { namespaces: &ns_names, ifaces: &ifaces, containers: &containers, networks: &networks };

        let mut matrices = Vec::new();
        for (i, m) in raw.matrix.iter().enumerate() {
            matrices.push(self.matrix(i, m, &settings, &nodes)?);
        }
        let captures = raw.capture.iter().map(|c| self.capture(c, &nodes)).collect::<Result<Vec<_>, _>>()?;
        for (i, c) in captures.iter().enumerate() {
            if captures[..i].iter().any(|o| o.name == c.name) {
                return Err(self.span(
                    &raw.capture[i].name,
                    format!("capture `{}` is declared twice", c.name),
                    "give each capture its own name".to_string(),
                ));
            }
        }
        let mut nats = Vec::new();
        for n in &raw.nat {
            let node = match &n.on {
                Some(on) if ns_names.contains(on.get_ref()) => on.get_ref().clone(),
                Some(on) => {
                    return Err(self.span(
                        on,
                        format!("unknown namespace `{}`", on.get_ref()),
                        format!("namespaces in this suite: {}", known(&ns_names)),
                    ))
                }
                None if lab.is_some() => Lab::SERVER1.to_string(),
                None => {
                    return Err(self.span(
                        &n.masquerade,
                        "`[[nat]]` needs `on` when the suite has no [lab]",
                        "name the namespace whose nat table to read: `on = \"…\"`".to_string(),
                    ))
                }
            };
            nats.push(Nat {
                node,
                masquerade: self.cidr(&n.masquerade)?,
                scoring: Scoring { points: n.points, hidden: n.hidden },
                hint: n.hint.clone(),
            });
        }
        if matrices.is_empty() && captures.is_empty() && nats.is_empty() {
            return Err(self.at(
                self.src.len(),
                "the suite checks nothing",
                Some("add an expected matrix, e.g. [[matrix]] probe = \"icmp\" expect = \"\"\"…\"\"\"".into()),
            ));
        }

        Ok(Suite {
            name,
            file: self.file.to_string(),
            description: raw.description,
            settings,
            namespaces,
            bridges,
            veths,
            links,
            matrices,
            lab,
            networks,
            containers,
            captures,
            nats,
            grading: raw.grading.as_ref().map(|g| Grading {
                points: g.points.unwrap_or(1.0),
                prediction_points: g.prediction_points.unwrap_or(0.0),
                setup_timeout_s: g.setup_timeout_s.unwrap_or(60),
            }),
        })
    }

    fn settings(
        &self,
        timeout_ms: &Option<Spanned<u64>>,
        attempts: &Option<Spanned<u32>>,
        base: ProbeSettings,
    ) -> Result<ProbeSettings, Diagnostic> {
        if let Some(t) = timeout_ms.as_ref().filter(|t| !(1..=60_000).contains(t.get_ref())) {
            return Err(self.span(
                t,
                format!("timeout_ms = {} is out of range", t.get_ref()),
                "use 1 to 60000 milliseconds".to_string(),
            ));
        }
        if let Some(a) = attempts.as_ref().filter(|a| !(1..=20).contains(a.get_ref())) {
            return Err(self.span(a, format!("attempts = {} is out of range", a.get_ref()), "use 1 to 20".to_string()));
        }
        Ok(ProbeSettings {
            timeout_ms: timeout_ms.as_ref().map_or(base.timeout_ms, |t| *t.get_ref()),
            attempts: attempts.as_ref().map_or(base.attempts, |a| *a.get_ref()),
        })
    }

    fn lab(&self, raw: &SuiteFile) -> Result<Option<Lab>, Diagnostic> {
        let implied = !raw.container.is_empty() || !raw.network.is_empty();
        let spec = match (&raw.lab, implied) {
            (Some(spec), _) => spec,
            (None, true) => &Default::default(),
            (None, false) => return Ok(None),
        };
        let addr = |s: &Option<Spanned<String>>, default: &str| match s {
            Some(s) => self.cidr(s),
            None => Ok(default.parse().expect("valid default")),
        };
        let nic = |s: &Option<Spanned<String>>| s.as_ref().map_or(Ok("enp0s3".to_string()), |s| self.ifname(s));
        let lab = Lab {
            server1: addr(&spec.server1, "192.168.56.3/24")?,
            server2: addr(&spec.server2, "192.168.56.4/24")?,
            nic: nic(&spec.nic)?,
            server2_nic: nic(&spec.server2_nic)?,
            promiscuous: spec.promiscuous.unwrap_or(Promiscuous::Deny),
            nic_promisc: spec.nic_promisc,
        };
        if lab.server1.addr == lab.server2.addr {
            let at = spec.server2.as_ref().or(spec.server1.as_ref()).map_or(0, |s| s.span().start);
            return Err(self.at(
                at,
                "server1 and server2 have the same address",
                Some("give each its own address on the LAN".into()),
            ));
        }
        Ok(Some(lab))
    }

    fn networks(&self, specs: &[NetworkSpec], ifaces: &Ifaces) -> Result<Vec<Network>, Diagnostic> {
        let mut out: Vec<Network> = Vec::new();
        for n in specs {
            let name = n.name.get_ref();
            if ["bridge", "host", "none"].contains(&name.as_str()) {
                return Err(self.span(
                    &n.name,
                    format!("`{name}` is one of Docker's predefined networks"),
                    "declare only user-defined networks; containers can join `bridge` without declaring it".to_string(),
                ));
            }
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
                return Err(self.span(
                    &n.name,
                    format!("`{name}` is not a valid network name"),
                    "use letters, digits, `-`, `_` or `.`".to_string(),
                ));
            }
            if out.iter().any(|o| &o.name == name) {
                return Err(self.span(
                    &n.name,
                    format!("network `{name}` is declared twice"),
                    "give each network its own name".to_string(),
                ));
            }
            let driver = n.driver.as_ref().map_or("bridge", |d| d.get_ref().as_str());
            if !["bridge", "macvlan"].contains(&driver) {
                let d = n.driver.as_ref().expect("non-default driver was written");
                return Err(self.span(
                    d,
                    format!("unsupported network driver `{driver}`"),
                    "use `bridge` or `macvlan`".to_string(),
                ));
            }
            let subnet = n.subnet.as_ref().map(|x| self.cidr(x)).transpose()?;
            let ip_range = n.ip_range.as_ref().map(|x| self.cidr(x)).transpose()?;
            let gateway = match &n.gateway {
                Some(g) => Some(g.get_ref().parse().map_err(|_| {
                    self.span(
                        g,
                        format!("`{}` is not an IPv4 address", g.get_ref()),
                        "a gateway is a plain address such as `172.18.0.1`".to_string(),
                    )
                })?),
                None => None,
            };
            if (gateway.is_some() || ip_range.is_some()) && subnet.is_none() {
                return Err(self.span(
                    &n.name,
                    format!("network `{name}` sets a gateway or ip_range without a subnet"),
                    "add `subnet = \"…\"`, as `docker network create` requires".to_string(),
                ));
            }
            if driver == "macvlan" {
                let server1: Vec<&String> = ifaces.get(Lab::SERVER1).into_iter().flat_map(|i| i.keys()).collect();
                match n.options.get("parent") {
                    None => {
                        return Err(self.span(
                            &n.name,
                            format!("macvlan network `{name}` has no parent"),
                            format!(
                                "add `options = {{ parent = \"…\" }}`: one of server1's interfaces ({})",
                                known(&server1)
                            ),
                        ))
                    }
                    Some(p) if !server1.contains(&p) => {
                        return Err(self.span(
                            &n.name,
                            format!("macvlan parent `{p}` is not an interface of server1"),
                            format!("server1's interfaces: {}", known(&server1)),
                        ))
                    }
                    Some(_) => {}
                }
                if let Some(mode) = n
                    .options
                    .get("macvlan_mode")
                    .filter(|m| !["bridge", "private", "vepa", "passthru"].contains(&m.as_str()))
                {
                    return Err(self.span(
                        &n.name,
                        format!("unknown macvlan_mode `{mode}`"),
                        "use bridge, private, vepa or passthru".to_string(),
                    ));
                }
            }
            out.push(Network {
                name: name.clone(),
                driver: driver.into(),
                subnet,
                gateway,
                ip_range,
                options: n.options.clone(),
            });
        }
        Ok(out)
    }

    /// Registers an interface, refusing a second one of the same name in a namespace.
    fn claim(
        &self,
        ifaces: &mut Ifaces,
        netns: &str,
        name: &Spanned<String>,
        ifname: &str,
        addr: Option<Cidr>,
    ) -> Result<(), Diagnostic> {
        let slot = ifaces.entry(netns.to_string()).or_default();
        if slot.insert(ifname.to_string(), addr).is_some() {
            return Err(self.span(
                name,
                format!("namespace `{netns}` already has an interface `{ifname}`"),
                "interface names are unique within a namespace".to_string(),
            ));
        }
        Ok(())
    }

    fn link(
        &self,
        l: &LinkSpec,
        netns: &dyn Fn(&Spanned<String>) -> Result<String, Diagnostic>,
        ifaces: &Ifaces,
    ) -> Result<Link, Diagnostic> {
        let kind = *l.kind.get_ref();
        let ns = netns(&l.netns)?;
        let name = self.ifname(&l.name)?;
        let parent_ns = l.parent_netns.as_ref().map(netns).transpose()?.unwrap_or_else(|| ns.clone());
        let needs_parent = matches!(kind, LinkKind::Macvlan | LinkKind::Ipvlan | LinkKind::Vlan);
        let parent = match (&l.parent, needs_parent) {
            (None, true) => {
                return Err(self.span(
                    &l.kind,
                    format!("a {} link needs a `parent`", kind.as_str()),
                    "name its lower device, e.g. `parent = \"eth0\"`".to_string(),
                ))
            }
            (None, false) => None,
            (Some(p), _) if kind == LinkKind::Dummy => {
                return Err(self.span(p, "a dummy link has no parent", "remove `parent`".to_string()))
            }
            (Some(p), _) => {
                let here = ifaces.get(&parent_ns);
                if !here.is_some_and(|i| i.contains_key(p.get_ref())) {
                    return Err(self.span(
                        p,
                        format!("no interface `{}` in namespace `{parent_ns}`", p.get_ref()),
                        format!(
                            "interfaces in `{parent_ns}` declared before this link: {}",
                            known(here.into_iter().flat_map(|i| i.keys()))
                        ),
                    ));
                }
                Some((parent_ns.clone(), p.get_ref().clone()))
            }
        };
        let modes: &[&str] = match kind {
            LinkKind::Macvlan => &["bridge", "private", "vepa", "passthru"],
            LinkKind::Ipvlan => &["l2", "l3", "l3s"],
            _ => &[],
        };
        let mode = match &l.mode {
            Some(m) if modes.contains(&m.get_ref().as_str()) => Some(m.get_ref().clone()),
            Some(m) if modes.is_empty() => {
                return Err(self.span(m, format!("a {} link has no mode", kind.as_str()), "remove `mode`".to_string()))
            }
            Some(m) => {
                return Err(self.span(
                    m,
                    format!("unknown {} mode `{}`", kind.as_str(), m.get_ref()),
                    format!("use one of: {}", modes.join(", ")),
                ))
            }
            None => modes.first().map(|m| m.to_string()),
        };
        let ip = |s: &Option<Spanned<String>>| -> Result<Option<Ipv4Addr>, Diagnostic> {
            s.as_ref()
                .map(|v| {
                    v.get_ref().parse().map_err(|_| {
                        self.span(
                            v,
                            format!("`{}` is not an IPv4 address", v.get_ref()),
                            "a plain address such as `10.0.0.2`".to_string(),
                        )
                    })
                })
                .transpose()
        };
        let (remote, local) = (ip(&l.remote)?, ip(&l.local)?);
        match kind {
            LinkKind::Vlan if !l.id.is_some_and(|i| (1..4095).contains(&i)) => {
                return Err(self.span(
                    &l.kind,
                    "a vlan link needs an `id` from 1 to 4094",
                    "e.g. `id = 10`".to_string(),
                ))
            }
            LinkKind::Vxlan if l.id.is_none() || remote.is_none() => {
                return Err(self.span(
                    &l.kind,
                    "a vxlan link needs an `id` (the VNI) and a `remote`",
                    "e.g. `id = 42`, `remote = \"10.0.0.2\"`".to_string(),
                ))
            }
            _ => {}
        }
        let address = l.address.as_ref().map(|a| self.cidr(a)).transpose()?;
        Ok(Link {
            kind,
            name,
            netns: ns,
            parent,
            mode,
            id: l.id,
            remote,
            local,
            dstport: l.dstport,
            address,
            up: l.up.unwrap_or(true),
        })
    }

    fn containers(
        &self,
        specs: &[ContainerSpec],
        networks: &[Network],
        ns_names: &[String],
    ) -> Result<Vec<Container>, Diagnostic> {
        let mut out: Vec<Container> = Vec::new();
        for c in specs {
            let name = c.name.get_ref();
            if name.is_empty() || !name.chars().all(|ch| ch.is_ascii_alphanumeric() || "-_.".contains(ch)) {
                return Err(self.span(
                    &c.name,
                    format!("`{name}` is not a valid container name"),
                    "use letters, digits, `-`, `_` or `.`".to_string(),
                ));
            }
            if out.iter().any(|o| &o.name == name) || ns_names.contains(name) {
                return Err(self.span(
                    &c.name,
                    format!("node `{name}` is declared twice"),
                    "containers and namespaces share one set of names".to_string(),
                ));
            }
            let attachment = match (&c.network_mode, &c.networks) {
                (Some(m), Some(_)) => {
                    return Err(self.span(
                        m,
                        "`network_mode` and `networks` exclude each other",
                        "a host-network or network-less container joins no networks".to_string(),
                    ))
                }
                (Some(m), None) => match m.get_ref().as_str() {
                    "host" => Attachment::Host,
                    "none" => Attachment::None,
                    other => {
                        return Err(self.span(
                            m,
                            format!("unknown network_mode `{other}`"),
                            "use `host` or `none` (or list `networks`)".to_string(),
                        ))
                    }
                },
                (None, None) => Attachment::Networks(vec!["bridge".into()]),
                (None, Some(list)) => {
                    if list.is_empty() {
                        return Err(self.at(
                            c.name.span().start,
                            format!("container `{name}` has an empty `networks` list"),
                            Some("list at least one network, or use network_mode = \"none\"".into()),
                        ));
                    }
                    let mut names: Vec<String> = Vec::new();
                    for n in list {
                        if n.get_ref() != "bridge" && !networks.iter().any(|x| &x.name == n.get_ref()) {
                            return Err(self.span(
                                n,
                                format!("unknown network `{}`", n.get_ref()),
                                format!(
                                    "networks: bridge (Docker's default){}",
                                    networks.iter().map(|x| format!(", {}", x.name)).collect::<String>()
                                ),
                            ));
                        }
                        if names.contains(n.get_ref()) {
                            return Err(self.span(
                                n,
                                format!("`{}` is listed twice", n.get_ref()),
                                "list each network once".to_string(),
                            ));
                        }
                        names.push(n.get_ref().clone());
                    }
                    Attachment::Networks(names)
                }
            };
            out.push(Container {
                name: name.clone(),
                image: c.image.clone().unwrap_or_else(|| "alpine".into()),
                attachment,
                command: c.command.clone(),
            });
        }
        Ok(out)
    }

    fn matrix(&self, index: usize, m: &MatrixSpec, suite: &ProbeSettings, nodes: &Nodes) -> Result<Matrix, Diagnostic> {
        let settings = self.settings(&m.timeout_ms, &m.attempts, *suite)?;
        let content_start = self.string_content_start(m.expect.span());
        let line_offsets: Vec<usize> =
            std::iter::once(0).chain(m.expect.get_ref().match_indices('\n').map(|(i, _)| i + 1)).collect();
        let place = |line: usize, col: usize| content_start + line_offsets.get(line).copied().unwrap_or(0) + col;
        let grid =
            matrix::parse(m.expect.get_ref()).map_err(|e| self.at(place(e.line, e.col), e.message, Some(e.hint)))?;
        let by = m.by.unwrap_or(By::Address);
        let expect_at = m.expect.span().start;
        match (m.probe, m.port, by) {
            (ProbeKind::Icmp, Some(_), _) => {
                return Err(self.at(
                    expect_at,
                    "an ICMP matrix has no `port`",
                    Some("remove `port`, or use probe = \"udp\" / \"tcp\"".into()),
                ))
            }
            (ProbeKind::Udp | ProbeKind::Tcp, None, _) => {
                return Err(self.at(
                    expect_at,
                    format!("a {} matrix needs a `port`", m.probe.as_str()),
                    Some("e.g. `port = 2020`".into()),
                ))
            }
            (ProbeKind::Udp | ProbeKind::Tcp, _, By::Name) => {
                return Err(self.at(
                    expect_at,
                    "`by = \"name\"` is for ICMP matrices",
                    Some("UDP and TCP probes go to addresses".into()),
                ))
            }
            _ => {}
        }
        if m.listen.is_some() && m.probe == ProbeKind::Icmp {
            return Err(self.at(
                expect_at,
                "an ICMP matrix has no `listen`",
                Some("`listen` is for UDP and TCP matrices".into()),
            ));
        }
        let allowed: &[Cell] = match (m.probe, by) {
            (ProbeKind::Icmp, By::Address) => &[Cell::Reach, Cell::NoReach, Cell::Unchecked],
            (ProbeKind::Icmp, By::Name) => &[Cell::Reach, Cell::NoReach, Cell::Unresolved, Cell::Unchecked],
            // A closed port can refuse or drop, never deliver.
            _ if m.listen == Some(false) => &[Cell::NoReach, Cell::Refused, Cell::Dropped, Cell::Unchecked],
            _ => &[Cell::Reach, Cell::NoReach, Cell::Refused, Cell::Dropped, Cell::Unchecked],
        };

        let endpoint = |t: &matrix::Token, role: &str| -> Result<Endpoint, Diagnostic> {
            let (node, via) = match t.text.split_once('@') {
                Some((n, v)) => (n, Some(v)),
                None => (t.text.as_str(), None),
            };
            let err = |col: usize, message: String, hint: String| {
                Err(self.at(place(t.line, t.col + col), message, Some(hint)))
            };
            if !nodes.exists(node) {
                return err(
                    0,
                    format!("unknown {role} `{node}` in matrix"),
                    format!("nodes in this suite: {}", known(nodes.names())),
                );
            }
            if by == By::Name && nodes.container(node).is_none() {
                return err(0, format!("`{node}` is not a container"), "`by = \"name\"` resolves container names through Docker's DNS from inside containers; use containers as rows and columns".into());
            }
            if let Some(c) = nodes.container(node) {
                if role == "destination" && c.attachment == Attachment::None {
                    return err(
                        0,
                        format!("destination `{node}` has no network (network_mode = \"none\")"),
                        "remove its column".into(),
                    );
                }
                if let Some(via) = via {
                    let on = match &c.attachment {
                        Attachment::Networks(n) => n.iter().any(|n| n == via),
                        _ => false,
                    };
                    if !on {
                        return err(
                            node.len() + 1,
                            format!("`{node}` is not on network `{via}`"),
                            format!("`{node}@NETWORK` names one of the container's networks"),
                        );
                    }
                }
                return Ok(Endpoint { node: node.to_string(), via: via.map(str::to_string) });
            }
            let here = nodes.ifaces.get(node);
            let addressed: BTreeSet<&str> =
                here.into_iter().flatten().filter(|(_, a)| a.is_some()).map(|(n, _)| n.as_str()).collect();
            // server1's Docker networks are also its networks: `server1@alpine-net` is the bridge's gateway.
            let on_network = node == Lab::SERVER1
                && via.is_some_and(|v| v == "bridge" || nodes.networks.iter().any(|n| n.name == v));
            if let Some(via) = via {
                if !addressed.contains(via) && !on_network {
                    return err(
                        node.len() + 1,
                        format!("`{node}` has no addressed interface `{via}`"),
                        format!("addressed interfaces of `{node}`: {}", known(&addressed)),
                    );
                }
            }
            if role == "destination" && addressed.is_empty() {
                return err(
                    0,
                    format!("destination `{node}` has no address to probe"),
                    format!("give one of `{node}`'s interfaces an `address`, or remove its column"),
                );
            }
            Ok(Endpoint { node: node.to_string(), via: via.map(str::to_string) })
        };

        let columns = grid.columns.iter().map(|c| endpoint(c, "destination")).collect::<Result<Vec<_>, _>>()?;
        let mut rows = Vec::new();
        let mut cells: Vec<Vec<Cell>> = Vec::new();
        for row in &grid.rows {
            let source = endpoint(&row.name, "source")?;
            if by == By::Name && nodes.container(&source.node).is_some_and(|c| c.attachment == Attachment::Host) {
                return Err(self.at(
                    place(row.name.line, row.name.col),
                    format!("`{}` shares server1's network stack and has no Docker DNS", source.node),
                    Some("probe by name from containers on user-defined networks".into()),
                ));
            }
            for ((cell, token), column) in row.cells.iter().zip(&columns) {
                if column.node == source.node && *cell != Cell::Unchecked {
                    return Err(self.at(
                        place(token.line, token.col),
                        format!("`{}` probes itself", source.node),
                        Some("put `-` on the diagonal: a node probing itself tests nothing in the lab".into()),
                    ));
                }
                if !allowed.contains(cell) {
                    let list: String = allowed.iter().map(|c| format!("`{}` ", c.symbol())).collect();
                    return Err(self.at(
                        place(token.line, token.col),
                        format!(
                            "`{}` is not a cell of a {} matrix{}",
                            cell.symbol(),
                            m.probe.as_str(),
                            if by == By::Name { " by name" } else { "" }
                        ),
                        Some(format!("use {}", list.trim_end())),
                    ));
                }
            }
            cells.push(row.cells.iter().map(|(c, _)| *c).collect());
            rows.push(source);
        }
        let name = m.name.clone().unwrap_or_else(|| {
            let base = match (m.probe, by, m.port) {
                (ProbeKind::Icmp, By::Name, _) => "icmp by name".to_string(),
                (p, _, Some(port)) => format!("{} port {port}", p.as_str()),
                (p, _, None) => p.as_str().to_string(),
            };
            if index == 0 {
                base
            } else {
                format!("{base} #{}", index + 1)
            }
        });
        let mut hints = BTreeMap::new();
        for (key, hint) in &m.hints {
            let pair = key.get_ref().split_once("->").map(|(a, b)| (a.trim().to_string(), b.trim().to_string()));
            let Some((from, to)) = pair else {
                return Err(self.span(
                    key,
                    format!("hint key `{}` is not `FROM -> TO`", key.get_ref()),
                    "e.g. `\"alpine1 -> alpine3\" = \"…\"`".to_string(),
                ));
            };
            let cell =
                rows.iter().position(|r| r.to_string() == from).zip(columns.iter().position(|c| c.to_string() == to));
            match cell {
                Some((r, c)) if cells[r][c] != Cell::Unchecked => {}
                _ => {
                    return Err(self.span(
                        key,
                        format!("the hint for `{from} -> {to}` names no checked cell of this matrix"),
                        "use a row name, `->`, and a column name of a cell that is not `-`".to_string(),
                    ))
                }
            }
            hints.insert((from, to), hint.clone());
        }
        Ok(Matrix {
            name,
            probe: m.probe,
            settings,
            rows,
            columns,
            cells,
            by,
            port: m.port,
            listen: m.listen.unwrap_or(true),
            scoring: Scoring { points: m.points, hidden: m.hidden },
            hints,
        })
    }

    fn host_ref(&self, s: &Spanned<String>, nodes: &Nodes) -> Result<HostRef, Diagnostic> {
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

    fn capture(&self, c: &CaptureSpec, nodes: &Nodes) -> Result<Capture, Diagnostic> {
        let name = c.name.get_ref();
        if name.is_empty() || !name.chars().all(|ch| ch.is_ascii_alphanumeric() || "-_.".contains(ch)) {
            return Err(self.span(
                &c.name,
                format!("`{name}` is not a valid capture name"),
                "it names the pcap file: use letters, digits, `-`, `_` or `.`".to_string(),
            ));
        }
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
        // Interfaces Docker makes (docker0, br-…, a container's eth0) exist only at run time; interfaces of the
        // suite's own namespaces are known now.
        let static_ns = nodes.container(node).is_none() && node != Lab::SERVER1;
        if static_ns && !nodes.ifaces.get(node).is_some_and(|i| i.contains_key(interface)) {
            let here = nodes.ifaces.get(node).into_iter().flat_map(|i| i.keys());
            return Err(self.span(
                &c.on,
                format!("`{node}` has no interface `{interface}`"),
                format!("interfaces of `{node}`: {}", known(here)),
            ));
        }
        let filter = c.filter.as_ref().map_or(String::new(), |f| f.get_ref().clone());
        if let Some(f) = &c.filter {
            let start = self.string_content_start(f.span());
            let parsed = crate::capture::filter::parse(f.get_ref())
                .map_err(|e| self.at(start + e.offset, format!("invalid filter: {}", e.message), e.hint.clone()))?;
            for n in parsed.names() {
                if !nodes.exists(&n) {
                    let at = f.get_ref().find(&n).map_or(start, |i| start + i);
                    return Err(self.at(
                        at,
                        format!("unknown host `{n}` in filter"),
                        Some(format!("hosts are addresses or nodes: {}", known(nodes.names()))),
                    ));
                }
            }
        }
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
            scoring: Scoring { points: c.points, hidden: c.hidden },
            hint: c.hint.clone(),
        })
    }

    /// Where a string value's content starts in the source, given the span of the whole string token.
    fn string_content_start(&self, span: Range<usize>) -> usize {
        let raw = &self.src[span.clone()];
        let mut start = span.start;
        if raw.starts_with("\"\"\"") || raw.starts_with("'''") {
            start += 3;
            let rest = &self.src[start..];
            if rest.starts_with("\r\n") {
                start += 2;
            } else if rest.starts_with('\n') {
                start += 1;
            }
        } else if raw.starts_with('"') || raw.starts_with('\'') {
            start += 1;
        }
        start
    }
}
