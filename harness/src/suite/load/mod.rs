//! Loading: TOML text → [`Suite`], with every error placed at file:line:col and given a hint. One file per part
//! of the format: this one holds the diagnostics, the core checks and the order of validation.

mod addresses;
mod captures;
mod docker;
mod grid;
mod interfaces;
mod limits;
mod links;
mod names;
mod values;

use super::matrix::{self, Cell};
use super::model::{
    By, CaptureSpec, ContainerSpec, GradingSpec, LinkKind, LinkSpec, MatrixSpec, NetworkSpec, ProbeKind, Promiscuous,
    SuiteFile,
};
use super::{
    Attachment, Bridge, Capture, Cidr, Container, Endpoint, Grading, HostRef, Lab, Link, Matrix, Namespace, Nat,
    Network, ProbeSettings, Route, Scoring, Suite, Veth, VethEnd,
};
pub use limits::Limits;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
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
        let (shown, caret) = excerpt(&self.source_line, self.col);
        writeln!(f, "{} | {shown}", self.line)?;
        write!(f, "{:gutter$} | {:>caret$}", "", "^")?;
        if let Some(hint) = &self.hint {
            write!(f, "\n{:gutter$} = hint: {hint}", "")?;
        }
        Ok(())
    }
}

/// The part of a long source line around 1-based character column `col` (at most [`EXCERPT`] characters, cut
/// ends marked `…`), and the caret's column in it.
fn excerpt(line: &str, col: usize) -> (String, usize) {
    let chars: Vec<char> = line.chars().collect();
    if chars.len() <= EXCERPT {
        return (line.to_string(), col);
    }
    let start = col.saturating_sub(1 + EXCERPT / 2).min(chars.len() - EXCERPT);
    let end = start + EXCERPT;
    let mut shown: String = if start > 0 { "…".into() } else { String::new() };
    shown.extend(&chars[start..end]);
    if end < chars.len() {
        shown.push('…');
    }
    (shown, col - start + usize::from(start > 0))
}

/// How much of a long line a diagnostic shows.
const EXCERPT: usize = 100;

/// Reads and loads a suite file.
pub fn load_file(path: &Path) -> Result<Suite, LoadError> {
    load_bytes(&read_capped(path)?, &path.display().to_string())
}

/// Reads a suite file as text: bytes that are not UTF-8 are an error at the first bad byte's file:line:col.
/// For callers that keep the text (e.g. to record its digest) before loading it with [`load_str`].
pub fn read_source(path: &Path) -> Result<String, LoadError> {
    text(&read_capped(path)?, &path.display().to_string()).map(str::to_string)
}

/// The file's bytes, reading no more than one byte past the size limit (`/dev/zero` is not a suite).
fn read_capped(path: &Path) -> Result<Vec<u8>, LoadError> {
    use std::io::Read;
    let read = |path: &Path| -> std::io::Result<Vec<u8>> {
        let mut bytes = Vec::new();
        std::fs::File::open(path)?.take(Limits::DEFAULT.bytes as u64 + 1).read_to_end(&mut bytes)?;
        Ok(bytes)
    };
    let bytes = read(path).map_err(|source| LoadError::Read { path: path.display().to_string(), source })?;
    if bytes.len() > Limits::DEFAULT.bytes {
        let lossy = String::from_utf8_lossy(&bytes);
        let file = path.display().to_string();
        let cx = Cx { src: &lossy, file: &file };
        cx.size(&Limits::DEFAULT).map_err(|d| LoadError::Invalid(Box::new(d)))?;
    }
    Ok(bytes)
}

/// Loads a suite from the bytes of a file; `file` names it in errors and reports.
pub fn load_bytes(bytes: &[u8], file: &str) -> Result<Suite, LoadError> {
    load_str(text(bytes, file)?, file)
}

/// Loads a suite from text; `file` names it in errors and reports.
pub fn load_str(src: &str, file: &str) -> Result<Suite, LoadError> {
    load_str_with(src, file, &Limits::DEFAULT)
}

/// Loads a suite from text under other [`Limits`] than the default ones.
pub fn load_str_with(src: &str, file: &str, limits: &Limits) -> Result<Suite, LoadError> {
    let cx = Cx { src, file };
    cx.size(limits).map_err(|d| LoadError::Invalid(Box::new(d)))?;
    let raw: SuiteFile = toml::from_str(src).map_err(|e| cx.toml_error(&e))?;
    cx.counts(&raw, limits).map_err(|d| LoadError::Invalid(Box::new(d)))?;
    cx.validate(raw, limits).map_err(|d| LoadError::Invalid(Box::new(d)))
}

/// The bytes as text, or an error at the first byte that is not UTF-8.
fn text<'a>(bytes: &'a [u8], file: &str) -> Result<&'a str, LoadError> {
    let e = match std::str::from_utf8(bytes) {
        Ok(src) => return Ok(src),
        Err(e) => e,
    };
    // The lossy text is the same as the input up to the first bad byte, so offsets before it agree.
    let lossy = String::from_utf8_lossy(bytes);
    let at = e.valid_up_to();
    let what = match e.error_len() {
        Some(_) => format!("byte 0x{:02x} is not UTF-8", bytes[at]),
        None => format!("the file ends inside a UTF-8 character (byte 0x{:02x})", bytes[at]),
    };
    let cx = Cx { src: &lossy, file };
    Err(LoadError::Invalid(Box::new(cx.at(
        at,
        format!("invalid UTF-8: {what}"),
        Some("suites are UTF-8 text: save the file as UTF-8 (e.g. `iconv -f latin1 -t utf-8`)".into()),
    ))))
}

/// Interfaces (and their addresses) by namespace.
type Ifaces = BTreeMap<String, BTreeMap<String, Option<Cidr>>>;

/// What matrix and capture names can refer to, indexed so that resolving a name costs the same in a suite of
/// ten nodes as in one of thousands.
struct Nodes<'a> {
    namespaces: &'a [String],
    namespace_set: HashSet<&'a str>,
    ifaces: &'a BTreeMap<String, BTreeMap<String, Option<Cidr>>>,
    containers: &'a [Container],
    container_index: HashMap<&'a str, usize>,
    networks: &'a [Network],
    segments: addresses::Segments,
}

impl<'a> Nodes<'a> {
    fn new(
        namespaces: &'a [String],
        ifaces: &'a Ifaces,
        containers: &'a [Container],
        networks: &'a [Network],
        segments: addresses::Segments,
    ) -> Nodes<'a> {
        Nodes {
            namespaces,
            namespace_set: namespaces.iter().map(String::as_str).collect(),
            ifaces,
            containers,
            container_index: containers.iter().enumerate().map(|(i, c)| (c.name.as_str(), i)).collect(),
            networks,
            segments,
        }
    }
    fn container(&self, name: &str) -> Option<&Container> {
        self.container_index.get(name).map(|&i| &self.containers[i])
    }
    fn exists(&self, name: &str) -> bool {
        self.namespace_set.contains(name) || self.container(name).is_some()
    }
    fn names(&self) -> Vec<&str> {
        self.namespaces.iter().map(String::as_str).chain(self.containers.iter().map(|c| c.name.as_str())).collect()
    }
}

struct Cx<'a> {
    src: &'a str,
    file: &'a str,
}

/// The names a hint lists ("known names are …"): the first few, and how many more there are.
fn known(names: impl IntoIterator<Item = impl AsRef<str>>) -> String {
    const SHOWN: usize = 20;
    let mut names = names.into_iter();
    let list: Vec<String> = names.by_ref().take(SHOWN).map(|n| n.as_ref().to_string()).collect();
    let more = names.count();
    match (list.is_empty(), more) {
        (true, _) => "none are declared".into(),
        (false, 0) => list.join(", "),
        (false, n) => format!("{} and {n} more", list.join(", ")),
    }
}

impl Cx<'_> {
    fn at(&self, offset: usize, message: impl Into<String>, hint: Option<String>) -> Diagnostic {
        let mut offset = offset.min(self.src.len());
        while !self.src.is_char_boundary(offset) {
            offset -= 1;
        }
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

    fn validate(&self, raw: SuiteFile, limits: &Limits) -> Result<Suite, Diagnostic> {
        let name = self.suite_name(raw.name.as_ref())?;
        let settings = self.settings(&raw.settings.timeout_ms, &raw.settings.attempts, ProbeSettings::default())?;
        let grading = raw.grading.as_ref().map(|g| self.grading(g)).transpose()?;

        let lab = self.lab(&raw)?;
        let mut namespaces: Vec<Namespace> = Vec::new();
        if lab.is_some() {
            for name in Lab::ENVIRONMENT {
                namespaces.push(Namespace { name: name.into(), routes: Vec::new(), forwarding: false });
            }
        }
        let mut seen: HashSet<String> = namespaces.iter().map(|n| n.name.clone()).collect();
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
            if lab.is_some() && Lab::ENVIRONMENT.contains(&n.as_str()) {
                return Err(self.span(
                    &ns.name,
                    format!("`{n}` is part of the emulated LAN"),
                    "server1, server2 and hostonly are made by the [lab] (implied by containers); pick another name"
                        .to_string(),
                ));
            }
            if !seen.insert(n.clone()) {
                return Err(self.span(
                    &ns.name,
                    format!("namespace `{n}` is declared twice"),
                    "give each namespace its own name".to_string(),
                ));
            }
            namespaces.push(Namespace { name: n.clone(), routes: Vec::new(), forwarding: ns.forwarding });
        }
        let ns_names: Vec<String> = namespaces.iter().map(|n| n.name.clone()).collect();
        let ns_set: HashSet<&str> = ns_names.iter().map(String::as_str).collect();
        let netns = |s: &Spanned<String>| -> Result<String, Diagnostic> {
            if ns_set.contains(s.get_ref().as_str()) {
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
        // Every interface address and where the suite says it, for the duplicate check.
        let mut addressed: Vec<addresses::Held> = Vec::new();
        let held = |netns: &str, iface: &str, cidr: Option<Cidr>, at: Option<&Spanned<String>>, default: usize| {
            cidr.map(|cidr| addresses::Held {
                node: netns.to_string(),
                iface: iface.to_string(),
                addr: cidr.addr,
                at: at.map_or(default, |s| s.span().start),
            })
        };
        if let Some(lab) = &lab {
            let spec = raw.lab.as_ref();
            // The LAN's addresses come first, so a duplicate is always reported at the suite's other holder.
            let lab_at = 0;
            addressed.extend(held(
                Lab::SERVER1,
                &lab.nic,
                Some(lab.server1),
                spec.and_then(|s| s.server1.as_ref()),
                lab_at,
            ));
            addressed.extend(held(
                Lab::SERVER2,
                &lab.server2_nic,
                Some(lab.server2),
                spec.and_then(|s| s.server2.as_ref()),
                lab_at,
            ));
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
            let address = b.address.as_ref().map(|a| self.iface_cidr(a)).transpose()?;
            self.claim(&mut ifaces, &ns, &b.name, &name, address)?;
            addressed.extend(held(&ns, &name, address, b.address.as_ref(), 0));
            bridges.push(Bridge { name, netns: ns, address, up: b.up.unwrap_or(true) });
        }
        let bridge_set: HashSet<(&str, &str)> = bridges.iter().map(|b| (b.netns.as_str(), b.name.as_str())).collect();
        let bridge_in = |ns: &str, m: &Spanned<String>| -> Result<String, Diagnostic> {
            if bridge_set.contains(&(ns, m.get_ref().as_str())) {
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
            let a_addr = v.address.as_ref().map(|a| self.iface_cidr(a)).transpose()?;
            let b_addr = v.peer.address.as_ref().map(|a| self.iface_cidr(a)).transpose()?;
            self.claim(&mut ifaces, &a_ns, &v.name, &a_name, a_addr)?;
            self.claim(&mut ifaces, &b_ns, &v.peer.name, &b_name, b_addr)?;
            addressed.extend(held(&a_ns, &a_name, a_addr, v.address.as_ref(), 0));
            addressed.extend(held(&b_ns, &b_name, b_addr, v.peer.address.as_ref(), 0));
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
            addressed.extend(held(&link.netns, &link.name, link.address, l.address.as_ref(), 0));
            links.push(link);
        }

        // The LAN's namespaces come first; the suite's own follow in the order written.
        let lab_namespaces = namespaces.len() - raw.namespace.len();
        for (ns, spec) in namespaces.iter_mut().skip(lab_namespaces).zip(&raw.namespace) {
            for r in &spec.routes {
                let to =
                    if r.to.get_ref() == "default" { "0.0.0.0/0".parse().expect("valid") } else { self.prefix(&r.to)? };
                let via = r.via.as_ref().map(|v| self.unicast(v, "gateway")).transpose()?;
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
        let containers = self.containers(&raw.container, &networks, &ns_set)?;
        let segments = self.segments(&addressed, &veths, &links, &containers)?;
        let nodes = Nodes::new(&ns_names, &ifaces, &containers, &networks, segments);

        let mut matrices: Vec<Matrix> = Vec::new();
        let mut cells = 0usize;
        for (i, m) in raw.matrix.iter().enumerate() {
            let matrix = self.matrix(i, m, &settings, &nodes)?;
            cells += matrix.rows.len() * matrix.columns.len();
            if cells > limits.cells {
                return Err(self.span(
                    &m.expect,
                    format!("the suite's matrices have more than {} cells", limits.cells),
                    format!("a suite has at most {} cells: split it into several suites", limits.cells),
                ));
            }
            matrices.push(matrix);
        }
        self.listen_conflicts(&raw.matrix, &matrices, &nodes)?;
        let captures = raw.capture.iter().map(|c| self.capture(c, &nodes)).collect::<Result<Vec<_>, _>>()?;
        let mut capture_names = HashSet::new();
        for (i, c) in captures.iter().enumerate() {
            if !capture_names.insert(c.name.as_str()) {
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
                Some(on) if ns_set.contains(on.get_ref().as_str()) => on.get_ref().clone(),
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
                scoring: Scoring { points: self.points(&n.points)?, hidden: n.hidden, given: n.given },
                hint: n.hint.clone(),
            });
        }
        let interfaces = raw.interface.iter().map(|i| self.interface(i, &nodes)).collect::<Result<Vec<_>, _>>()?;
        if matrices.is_empty() && captures.is_empty() && nats.is_empty() && interfaces.is_empty() {
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
            interfaces,
            grading,
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
