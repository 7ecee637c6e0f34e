//! Loading: TOML text → [`Suite`], with every error placed at file:line:col and given a hint.

use super::matrix::{self, Cell};
use super::model::{MatrixSpec, SuiteFile};
use super::{Bridge, Cidr, Endpoint, Matrix, Namespace, ProbeSettings, Route, Suite, Veth, VethEnd};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
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

        let mut namespaces: Vec<Namespace> = Vec::new();
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
        let mut claim =
            |netns: &str, name: &Spanned<String>, ifname: &str, addr: Option<Cidr>| -> Result<(), Diagnostic> {
                let slot = ifaces.entry(netns.to_string()).or_default();
                if slot.insert(ifname.to_string(), addr).is_some() {
                    return Err(self.span(
                        name,
                        format!("namespace `{netns}` already has an interface `{ifname}`"),
                        "interface names are unique within a namespace".to_string(),
                    ));
                }
                Ok(())
            };

        let mut bridges = Vec::new();
        for b in &raw.bridge {
            let ns = netns(&b.netns)?;
            let name = self.ifname(&b.name)?;
            let address = b.address.as_ref().map(|a| self.cidr(a)).transpose()?;
            claim(&ns, &b.name, &name, address)?;
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

        let mut veths = Vec::new();
        for v in &raw.veth {
            let a_ns = netns(&v.netns)?;
            let b_ns = netns(&v.peer.netns)?;
            let a_name = self.ifname(&v.name)?;
            let b_name = self.ifname(&v.peer.name)?;
            let a_addr = v.address.as_ref().map(|a| self.cidr(a)).transpose()?;
            let b_addr = v.peer.address.as_ref().map(|a| self.cidr(a)).transpose()?;
            claim(&a_ns, &v.name, &a_name, a_addr)?;
            claim(&b_ns, &v.peer.name, &b_name, b_addr)?;
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

        for (ns, spec) in namespaces.iter_mut().zip(&raw.namespace) {
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

        let mut matrices = Vec::new();
        for (i, m) in raw.matrix.iter().enumerate() {
            matrices.push(self.matrix(i, m, &settings, &ifaces, &ns_names)?);
        }
        if matrices.is_empty() {
            return Err(self.at(
                self.src.len(),
                "the suite has no `[[matrix]]`",
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
            matrices,
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

    fn matrix(
        &self,
        index: usize,
        m: &MatrixSpec,
        suite: &ProbeSettings,
        ifaces: &BTreeMap<String, BTreeMap<String, Option<Cidr>>>,
        ns_names: &[String],
    ) -> Result<Matrix, Diagnostic> {
        let settings = self.settings(&m.timeout_ms, &m.attempts, *suite)?;
        let content_start = self.string_content_start(m.expect.span());
        let line_offsets: Vec<usize> =
            std::iter::once(0).chain(m.expect.get_ref().match_indices('\n').map(|(i, _)| i + 1)).collect();
        let place = |line: usize, col: usize| content_start + line_offsets.get(line).copied().unwrap_or(0) + col;
        let grid =
            matrix::parse(m.expect.get_ref()).map_err(|e| self.at(place(e.line, e.col), e.message, Some(e.hint)))?;

        let endpoint = |t: &matrix::Token, role: &str| -> Result<Endpoint, Diagnostic> {
            let (node, via) = match t.text.split_once('@') {
                Some((n, v)) => (n, Some(v)),
                None => (t.text.as_str(), None),
            };
            if !ns_names.iter().any(|n| n == node) {
                return Err(self.at(
                    place(t.line, t.col),
                    format!("unknown {role} `{node}` in matrix"),
                    Some(format!("nodes in this suite: {}", known(ns_names))),
                ));
            }
            let here = ifaces.get(node);
            let addressed: BTreeSet<&str> =
                here.into_iter().flatten().filter(|(_, a)| a.is_some()).map(|(n, _)| n.as_str()).collect();
            if let Some(via) = via {
                if !addressed.contains(via) {
                    return Err(self.at(
                        place(t.line, t.col + node.len() + 1),
                        format!("`{node}` has no addressed interface `{via}`"),
                        Some(format!("addressed interfaces of `{node}`: {}", known(&addressed))),
                    ));
                }
            }
            if role == "destination" && addressed.is_empty() {
                return Err(self.at(
                    place(t.line, t.col),
                    format!("destination `{node}` has no address to probe"),
                    Some(format!("give one of `{node}`'s interfaces an `address`, or remove its column")),
                ));
            }
            Ok(Endpoint { node: node.to_string(), via: via.map(str::to_string) })
        };

        let columns = grid.columns.iter().map(|c| endpoint(c, "destination")).collect::<Result<Vec<_>, _>>()?;
        let mut rows = Vec::new();
        let mut cells = Vec::new();
        for row in &grid.rows {
            let source = endpoint(&row.name, "source")?;
            for ((cell, token), column) in row.cells.iter().zip(&columns) {
                if column.node == source.node && *cell != Cell::Unchecked {
                    return Err(self.at(
                        place(token.line, token.col),
                        format!("`{}` probes itself", source.node),
                        Some("put `-` on the diagonal: a node probing itself tests nothing in the lab".into()),
                    ));
                }
            }
            cells.push(row.cells.iter().map(|(c, _)| *c).collect());
            rows.push(source);
        }
        let name = m.name.clone().unwrap_or_else(|| {
            if index == 0 {
                m.probe.as_str().to_string()
            } else {
                format!("{} #{}", m.probe.as_str(), index + 1)
            }
        });
        Ok(Matrix { name, probe: m.probe, settings, rows, columns, cells })
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
