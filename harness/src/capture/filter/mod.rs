//! Capture filters in a subset of tcpdump's language, parsed into an AST ([`parse`]), printed back canonically
//! (`Display`), then bound to addresses ([`Filter::bind`]) and matched against raw Ethernet frames
//! ([`BoundFilter::matches`]). Everything here is pure.
//!
//! Grammar, loosest binding first:
//!
//! ```text
//! expr      := and ( ("or" | "||") and )*
//! and       := unary ( ("and" | "&&") unary )*
//! unary     := ("not" | "!") unary | "(" expr ")" | primitive
//! primitive := "ip" | "arp" | "icmp" | "udp" | "tcp"
//!            | ["udp" | "tcp"] [dir] "port" N
//!            | ["ip" | "arp"] [dir] "host" HOST  |  ["ip" | "arp"] dir HOST
//!            | ["ip" | "arp"] [dir] "net" CIDR
//!            | "ether" ("host" | dir ["host"]) MAC
//! dir       := "src" | "dst"
//! HOST      := an IPv4 address, or a lab node name (`server1`), resolved later by `bind`
//! ```
//!
//! Precedence is the conventional `not` > `and` > `or`, both binary operators left-associative. (tcpdump itself
//! gives `and` and `or` equal precedence, left to right; the conventional rule is what people read into
//! `a or b and c`, and the canonical `Display` adds parentheses wherever the two could disagree.) The empty
//! expression matches every frame.
//!
//! Semantics follow tcpdump: `host`/`net` without `ip`/`arp` match IPv4 source/destination and ARP
//! sender/target addresses; `port` matches UDP or TCP, either direction, and only on first fragments (later
//! fragments carry no transport header); `icmp`/`udp`/`tcp` test the IPv4 protocol field.

mod eval;
mod parse;

pub use parse::{parse, FilterError};

use crate::suite::Cidr;
use std::fmt;
use std::net::Ipv4Addr;

/// A protocol named in a filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Proto {
    /// Ethertype IPv4.
    Ip,
    /// Ethertype ARP.
    Arp,
    /// IPv4 protocol 1.
    Icmp,
    /// IPv4 protocol 17.
    Udp,
    /// IPv4 protocol 6.
    Tcp,
}

impl Proto {
    /// The keyword, as written in filters.
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Ip => "ip",
            Proto::Arp => "arp",
            Proto::Icmp => "icmp",
            Proto::Udp => "udp",
            Proto::Tcp => "tcp",
        }
    }
}

/// Which side of a packet an address or port must be on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dir {
    /// Source or destination.
    Either,
    /// `src`.
    Src,
    /// `dst`.
    Dst,
}

/// A host as written: an address, or a lab node's name kept unresolved until [`Filter::bind`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Host {
    /// `10.0.0.1`.
    Addr(Ipv4Addr),
    /// `server1`.
    Name(String),
}

/// A filter expression, generic over how hosts are represented: [`Host`] as parsed, address sets once bound.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr<H> {
    /// The empty expression: every frame. Only ever the whole expression.
    All,
    /// `ip`, `arp`, `icmp`, `udp`, `tcp`.
    Proto(Proto),
    /// `[udp|tcp] [src|dst] port N`.
    Port {
        /// `udp` or `tcp` when qualified; `None` means either.
        proto: Option<Proto>,
        /// Which port.
        dir: Dir,
        /// The port number.
        port: u16,
    },
    /// `[ip|arp] [src|dst] host A`.
    Host {
        /// `ip` or `arp` when qualified; `None` means either.
        proto: Option<Proto>,
        /// Which address.
        dir: Dir,
        /// The host.
        host: H,
    },
    /// `[ip|arp] [src|dst] net CIDR` (host bits are always clear).
    Net {
        /// `ip` or `arp` when qualified; `None` means either.
        proto: Option<Proto>,
        /// Which address.
        dir: Dir,
        /// The network.
        net: Cidr,
    },
    /// `ether host|src|dst MAC`.
    Ether {
        /// Which MAC address.
        dir: Dir,
        /// The MAC address.
        mac: [u8; 6],
    },
    /// `not E`.
    Not(Box<Expr<H>>),
    /// `A and B`.
    And(Box<Expr<H>>, Box<Expr<H>>),
    /// `A or B`.
    Or(Box<Expr<H>>, Box<Expr<H>>),
}

/// A parsed filter; host names not yet resolved.
pub type Filter = Expr<Host>;

impl<H> Expr<H> {
    /// Rebuilds the expression with each host replaced by `f(host)`, stopping at the first error.
    fn map_hosts<H2, E>(&self, f: &mut dyn FnMut(&H) -> Result<H2, E>) -> Result<Expr<H2>, E> {
        let boxed = |e: &Expr<H>, f: &mut dyn FnMut(&H) -> Result<H2, E>| e.map_hosts(f).map(Box::new);
        Ok(match self {
            Expr::All => Expr::All,
            Expr::Proto(p) => Expr::Proto(*p),
            Expr::Port { proto, dir, port } => Expr::Port { proto: *proto, dir: *dir, port: *port },
            Expr::Host { proto, dir, host } => Expr::Host { proto: *proto, dir: *dir, host: f(host)? },
            Expr::Net { proto, dir, net } => Expr::Net { proto: *proto, dir: *dir, net: *net },
            Expr::Ether { dir, mac } => Expr::Ether { dir: *dir, mac: *mac },
            Expr::Not(e) => Expr::Not(boxed(e, f)?),
            Expr::And(a, b) => Expr::And(boxed(a, f)?, boxed(b, f)?),
            Expr::Or(a, b) => Expr::Or(boxed(a, f)?, boxed(b, f)?),
        })
    }
}

impl Filter {
    /// The node names the filter uses, each once, in order of appearance (for the loader to validate).
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        let _ = self.map_hosts(&mut |h| {
            if let Host::Name(n) = h {
                if !names.contains(n) {
                    names.push(n.clone());
                }
            }
            Ok::<(), ()>(())
        });
        names
    }

    /// Replaces each name by the addresses `resolve` gives it. Fails naming the first unknown name (or a name
    /// with no address, which could never match).
    pub fn bind(&self, resolve: &dyn Fn(&str) -> Option<Vec<Ipv4Addr>>) -> Result<BoundFilter, String> {
        let expr = self.map_hosts(&mut |h| match h {
            Host::Addr(a) => Ok(vec![*a]),
            Host::Name(n) => match resolve(n) {
                None => Err(format!("unknown host `{n}` in filter `{self}`")),
                Some(addrs) if addrs.is_empty() => Err(format!("host `{n}` in filter `{self}` has no IPv4 address")),
                Some(addrs) => Ok(addrs),
            },
        })?;
        Ok(BoundFilter { source: self.clone(), expr })
    }
}

/// A filter whose hosts are address sets, ready to match frames.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoundFilter {
    source: Filter,
    expr: Expr<Vec<Ipv4Addr>>,
}

impl BoundFilter {
    /// The filter that matches every frame.
    pub fn all() -> BoundFilter {
        BoundFilter { source: Expr::All, expr: Expr::All }
    }

    /// The filter as written (before binding).
    pub fn source(&self) -> &Filter {
        &self.source
    }

    /// Whether the raw Ethernet frame `frame` passes the filter.
    pub fn matches(&self, frame: &[u8]) -> bool {
        eval::matches(&self.expr, frame)
    }
}

impl fmt::Display for BoundFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.source.fmt(f)
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Addr(a) => a.fmt(f),
            Host::Name(n) => f.write_str(n),
        }
    }
}

impl fmt::Display for Dir {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Dir::Either => "",
            Dir::Src => "src ",
            Dir::Dst => "dst ",
        })
    }
}

fn qualifier(proto: &Option<Proto>) -> String {
    proto.map(|p| format!("{} ", p.as_str())).unwrap_or_default()
}

/// Binding strength, for deciding where parentheses are needed.
fn strength<H>(e: &Expr<H>) -> u8 {
    match e {
        Expr::Or(..) => 1,
        Expr::And(..) => 2,
        _ => 3,
    }
}

fn write_at_least<H: fmt::Display>(e: &Expr<H>, min: u8, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    if strength(e) < min {
        write!(f, "({e})")
    } else {
        write!(f, "{e}")
    }
}

/// Canonical form: keywords spelled out (`and`, `or`, `not`), `src A` written `src host A`, parentheses only
/// where needed, so that `parse(&f.to_string()) == Ok(f)`.
impl<H: fmt::Display> fmt::Display for Expr<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::All => Ok(()),
            Expr::Proto(p) => f.write_str(p.as_str()),
            Expr::Port { proto, dir, port } => write!(f, "{}{dir}port {port}", qualifier(proto)),
            Expr::Host { proto, dir, host } => write!(f, "{}{dir}host {host}", qualifier(proto)),
            Expr::Net { proto, dir, net } => write!(f, "{}{dir}net {net}", qualifier(proto)),
            Expr::Ether { dir, mac } => {
                let dir = if *dir == Dir::Either { "host " } else { &dir.to_string() };
                write!(f, "ether {dir}{}", crate::capture::packet::mac_to_string(mac))
            }
            Expr::Not(e) => {
                f.write_str("not ")?;
                write_at_least(e, 3, f)
            }
            // Left-associative: a left child of the same operator needs no parentheses, a right one does.
            Expr::And(a, b) => {
                write_at_least(a, 2, f)?;
                f.write_str(" and ")?;
                write_at_least(b, 3, f)
            }
            Expr::Or(a, b) => {
                write_at_least(a, 1, f)?;
                f.write_str(" or ")?;
                write_at_least(b, 2, f)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_listed_once_in_order() {
        let f = parse("host server1 or (src alpine2 and not dst host server1) or host 10.0.0.1").unwrap();
        assert_eq!(f.names(), ["server1", "alpine2"]);
        assert!(parse("udp port 53").unwrap().names().is_empty());
    }

    #[test]
    fn binding_replaces_names_and_reports_unknown_ones() {
        let f = parse("src server1 and udp").unwrap();
        let resolve = |n: &str| (n == "server1").then(|| vec![Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 1, 0, 1)]);
        let bound = f.bind(&resolve).unwrap();
        assert_eq!(bound.to_string(), "src host server1 and udp");
        let err = parse("host server1 or host server9").unwrap().bind(&resolve).unwrap_err();
        assert!(err.contains("unknown host `server9`"), "{err}");
        let err = f.bind(&|_| Some(vec![])).unwrap_err();
        assert!(err.contains("has no IPv4 address"), "{err}");
    }

    #[test]
    fn display_is_canonical_and_round_trips() {
        for (input, canonical) in [
            ("", ""),
            ("icmp", "icmp"),
            ("src 10.0.0.1 && !dst server2", "src host 10.0.0.1 and not dst host server2"),
            ("host a or host b and host c", "host a or host b and host c"),
            ("(host a or host b) and host c", "(host a or host b) and host c"),
            ("host a and (host b and host c)", "host a and (host b and host c)"),
            ("((host a and host b)) and host c", "host a and host b and host c"),
            ("not (udp or tcp)", "not (udp or tcp)"),
            ("not not icmp", "not not icmp"),
            ("udp dst port 2020", "udp dst port 2020"),
            ("arp src net 10.1.0.0/16", "arp src net 10.1.0.0/16"),
            (
                "ether src 02:00:00:00:00:0A or ether host 2:0:0:0:0:b",
                "ether src 02:00:00:00:00:0a or ether host 02:00:00:00:00:0b",
            ),
            ("ether dst host ff:ff:ff:ff:ff:ff", "ether dst ff:ff:ff:ff:ff:ff"),
        ] {
            let f = parse(input).unwrap();
            assert_eq!(f.to_string(), canonical, "{input}");
            assert_eq!(parse(&f.to_string()), Ok(f.clone()), "{input}");
        }
    }
}
