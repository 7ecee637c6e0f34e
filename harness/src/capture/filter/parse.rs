//! Text → [`Filter`]: a tokenizer and a recursive-descent parser. Errors carry the byte offset of the
//! offending token and a hint.

use super::{Dir, Expr, Filter, Host, Proto};
use crate::suite::Cidr;

/// A filter that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} (at byte {offset})")]
pub struct FilterError {
    /// Byte offset into the expression of the offending token (its length when the expression ended early).
    pub offset: usize,
    /// What is wrong, e.g. "expected a port number after `port`".
    pub message: String,
    /// How to fix it, when there is something useful to say.
    pub hint: Option<String>,
}

impl FilterError {
    /// The expression with a caret under the error, then the message and hint, for terminal output.
    pub fn render(&self, expr: &str) -> String {
        let column = expr.get(..self.offset).map_or(self.offset, |s| s.chars().count());
        let mut out = format!("{expr}\n{}^ {}", " ".repeat(column), self.message);
        if let Some(hint) = &self.hint {
            out.push_str(&format!("\n= hint: {hint}"));
        }
        out
    }
}

const KNOWN: &str = "known primitives: icmp, udp, tcp, arp, ip, [udp|tcp] [src|dst] port N, [src|dst] host A, \
                     src A, dst A, [src|dst] net CIDR, ether host|src|dst MAC; combine with and/&&, or/||, not/!, ( )";

const KEYWORDS: [&str; 14] =
    ["and", "or", "not", "ip", "arp", "icmp", "udp", "tcp", "port", "host", "net", "src", "dst", "ether"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok<'a> {
    Open,
    Close,
    Not,
    And,
    Or,
    Word(&'a str),
}

impl Tok<'_> {
    fn text(&self) -> &str {
        match self {
            Tok::Open => "(",
            Tok::Close => ")",
            Tok::Not => "!",
            Tok::And => "&&",
            Tok::Or => "||",
            Tok::Word(w) => w,
        }
    }
}

fn error(offset: usize, message: impl Into<String>, hint: Option<String>) -> FilterError {
    FilterError { offset, message: message.into(), hint }
}

fn tokenize(src: &str) -> Result<Vec<(usize, Tok<'_>)>, FilterError> {
    let mut tokens = Vec::new();
    let bytes = src.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let rest = &src[i..];
        let (tok, len) = match bytes[i] {
            b if b.is_ascii_whitespace() => {
                i += 1;
                continue;
            }
            b'(' => (Tok::Open, 1),
            b')' => (Tok::Close, 1),
            b'!' => (Tok::Not, 1),
            b'&' | b'|' if rest.len() >= 2 && bytes[i + 1] == bytes[i] => {
                (if bytes[i] == b'&' { Tok::And } else { Tok::Or }, 2)
            }
            b'&' | b'|' => {
                let op = &rest[..1];
                return Err(error(i, format!("unexpected `{op}`"), Some(format!("write `{op}{op}`, or the word"))));
            }
            _ => {
                let len = rest.find(|c: char| c.is_ascii_whitespace() || "()!&|".contains(c)).unwrap_or(rest.len());
                (Tok::Word(&rest[..len]), len)
            }
        };
        tokens.push((i, tok));
        i += len;
    }
    Ok(tokens)
}

/// Parses a tcpdump-style filter expression (see the module documentation). The empty expression is
/// [`Expr::All`].
pub fn parse(expr: &str) -> Result<Filter, FilterError> {
    let mut p = Parser { tokens: tokenize(expr)?, pos: 0, end: expr.len() };
    if p.tokens.is_empty() {
        return Ok(Expr::All);
    }
    let filter = p.or()?;
    match p.peek() {
        None => Ok(filter),
        Some((at, Tok::Close)) => Err(error(at, "unmatched `)`", None)),
        Some((at, tok)) => Err(error(
            at,
            format!("unexpected `{}` after a complete primitive", tok.text()),
            Some("combine primitives with `and` or `or`".into()),
        )),
    }
}

struct Parser<'a> {
    tokens: Vec<(usize, Tok<'a>)>,
    pos: usize,
    end: usize,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<(usize, Tok<'a>)> {
        self.tokens.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<(usize, Tok<'a>)> {
        let t = self.peek();
        self.pos += usize::from(t.is_some());
        t
    }

    /// The next token if it is the keyword `word`.
    fn eat(&mut self, word: &str) -> bool {
        let hit = matches!(self.peek(), Some((_, Tok::Word(w))) if w == word);
        self.pos += usize::from(hit);
        hit
    }

    /// The offset where a missing token should have been.
    fn here(&self) -> usize {
        self.peek().map_or(self.end, |(at, _)| at)
    }

    /// The next token as a word, or an error saying `what` was expected after `after`.
    fn word(&mut self, what: &str, after: &str) -> Result<(usize, &'a str), FilterError> {
        match self.next() {
            Some((at, Tok::Word(w))) if !KEYWORDS.contains(&w) => Ok((at, w)),
            Some((at, tok)) => Err(error(at, format!("expected {what} after `{after}`, found `{}`", tok.text()), None)),
            None => Err(error(self.end, format!("expected {what} after `{after}`"), None)),
        }
    }

    /// Consumes the next token if it is the operator `symbol` or its spelling `word`.
    fn eat_operator(&mut self, symbol: Tok<'_>, word: &str) -> bool {
        let hit = self.peek().is_some_and(|(_, t)| t == symbol || t == Tok::Word(word));
        self.pos += usize::from(hit);
        hit
    }

    fn or(&mut self) -> Result<Filter, FilterError> {
        let mut left = self.and()?;
        while self.eat_operator(Tok::Or, "or") {
            left = Expr::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Filter, FilterError> {
        let mut left = self.unary()?;
        while self.eat_operator(Tok::And, "and") {
            left = Expr::And(Box::new(left), Box::new(self.unary()?));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Filter, FilterError> {
        let previous = self.pos.checked_sub(1).and_then(|i| self.tokens.get(i)).map(|(_, t)| t.text().to_string());
        match self.next() {
            Some((_, Tok::Not)) | Some((_, Tok::Word("not"))) => Ok(Expr::Not(Box::new(self.unary()?))),
            Some((open, Tok::Open)) => {
                let inner = self.or()?;
                match self.next() {
                    Some((_, Tok::Close)) => Ok(inner),
                    other => Err(error(
                        other.map_or(self.end, |(at, _)| at),
                        "expected `)`",
                        Some(format!("the `(` at byte {open} is not closed")),
                    )),
                }
            }
            Some((at, Tok::Word(w))) => self.primitive(at, w),
            Some((at, tok)) => {
                Err(error(at, format!("expected a primitive, found `{}`", tok.text()), Some(KNOWN.into())))
            }
            None => {
                let message = match previous {
                    Some(op) => format!("expected a primitive after `{op}`"),
                    None => "expected a primitive".into(),
                };
                Err(error(self.end, message, Some(KNOWN.into())))
            }
        }
    }

    fn primitive(&mut self, at: usize, word: &'a str) -> Result<Filter, FilterError> {
        let proto = match word {
            "ip" => Some(Proto::Ip),
            "arp" => Some(Proto::Arp),
            "icmp" => Some(Proto::Icmp),
            "udp" => Some(Proto::Udp),
            "tcp" => Some(Proto::Tcp),
            _ => None,
        };
        let Some(proto) = proto else { return self.qualified(None, at, word) };
        match self.peek() {
            Some((next_at, Tok::Word(w @ ("src" | "dst" | "port" | "host" | "net")))) => {
                self.pos += 1;
                self.qualified(Some((at, proto)), next_at, w)
            }
            _ => Ok(Expr::Proto(proto)),
        }
    }

    /// A primitive starting at keyword `word`, optionally qualified by a protocol written before it.
    fn qualified(&mut self, proto: Option<(usize, Proto)>, at: usize, word: &'a str) -> Result<Filter, FilterError> {
        let (dir, kind) = match word {
            "src" | "dst" => {
                let dir = if word == "src" { Dir::Src } else { Dir::Dst };
                match self.peek() {
                    Some((_, Tok::Word(k @ ("port" | "host" | "net")))) => {
                        self.pos += 1;
                        (dir, k)
                    }
                    // `src A` is shorthand for `src host A`.
                    _ => (dir, ""),
                }
            }
            "port" | "host" | "net" => (Dir::Either, word),
            "ether" => return self.ether(),
            "and" | "or" => return Err(error(at, format!("expected a primitive before `{word}`"), Some(KNOWN.into()))),
            _ => {
                // Often a node name missing its `host`: say so.
                let hint = if looks_like_host(word) {
                    format!("{KNOWN}; to match a host named `{word}`, write `host {word}`")
                } else {
                    KNOWN.into()
                };
                return Err(error(at, format!("unknown primitive `{word}`"), Some(hint)));
            }
        };
        let allowed: &[Proto] = if kind == "port" { &[Proto::Udp, Proto::Tcp] } else { &[Proto::Ip, Proto::Arp] };
        if let Some((p_at, p)) = proto.filter(|(_, p)| !allowed.contains(p)) {
            let names: Vec<&str> = allowed.iter().map(|p| p.as_str()).collect();
            let what = if kind.is_empty() { "host" } else { kind };
            return Err(error(
                p_at,
                format!("`{}` cannot qualify `{what}`", p.as_str()),
                Some(format!("only {} can; or combine: `{} and {word} …`", names.join(" or "), p.as_str())),
            ));
        }
        let proto = proto.map(|(_, p)| p);
        let after = if kind.is_empty() { word } else { kind };
        match kind {
            "port" => {
                let (at, w) = self.word("a port number", after)?;
                let port = w.parse().map_err(|_| {
                    error(at, format!("`{w}` is not a port number"), Some("ports are numbers 0-65535".into()))
                })?;
                Ok(Expr::Port { proto, dir, port })
            }
            "net" => {
                let (at, w) = self.word("a network (CIDR)", after)?;
                Ok(Expr::Net { proto, dir, net: network(at, w)? })
            }
            _ => {
                let (at, w) = self.word("a host (an address or a node name)", after)?;
                Ok(Expr::Host { proto, dir, host: host(at, w)? })
            }
        }
    }

    fn ether(&mut self) -> Result<Filter, FilterError> {
        let dir = if self.eat("src") {
            Dir::Src
        } else if self.eat("dst") {
            Dir::Dst
        } else if self.eat("host") {
            Dir::Either
        } else {
            return Err(error(self.here(), "expected `host`, `src` or `dst` after `ether`", None));
        };
        let after = match dir {
            Dir::Src if !self.eat("host") => "src",
            Dir::Dst if !self.eat("host") => "dst",
            _ => "host",
        };
        let (at, w) = self.word("a MAC address", after)?;
        Ok(Expr::Ether { dir, mac: mac(at, w)? })
    }
}

fn looks_like_host(w: &str) -> bool {
    w.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
}

fn host(at: usize, w: &str) -> Result<Host, FilterError> {
    if w.contains('/') {
        return Err(error(at, format!("`{w}` is a network, not a host"), Some(format!("write `net {w}`"))));
    }
    if w.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return w.parse().map(Host::Addr).map_err(|_| error(at, format!("`{w}` is not an IPv4 address"), None));
    }
    if w.starts_with(|c: char| c.is_ascii_alphanumeric()) && looks_like_host(w) {
        return Ok(Host::Name(w.to_string()));
    }
    Err(error(
        at,
        format!("`{w}` is neither an IPv4 address nor a node name"),
        Some("node names are letters, digits, `-`, `_` and `.`".into()),
    ))
}

fn network(at: usize, w: &str) -> Result<Cidr, FilterError> {
    let cidr: Cidr = w.parse().map_err(|e: String| {
        error(at, e, Some("write a network as ADDRESS/PREFIX, e.g. `net 10.0.0.0/24` (one address: `host A`)".into()))
    })?;
    let net = Cidr { addr: cidr.network(), prefix: cidr.prefix };
    if net.addr != cidr.addr {
        return Err(error(at, format!("`{w}` has host bits set"), Some(format!("did you mean `{net}`?"))));
    }
    Ok(net)
}

fn mac(at: usize, w: &str) -> Result<[u8; 6], FilterError> {
    let bad =
        || error(at, format!("`{w}` is not a MAC address"), Some("write six hex bytes: `02:42:ac:11:00:02`".into()));
    let parts: Vec<&str> = w.split(':').collect();
    if parts.len() != 6 {
        return Err(bad());
    }
    let mut mac = [0; 6];
    for (byte, part) in mac.iter_mut().zip(parts) {
        if part.is_empty() || part.len() > 2 {
            return Err(bad());
        }
        *byte = u8::from_str_radix(part, 16).map_err(|_| bad())?;
    }
    Ok(mac)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host_prim(dir: Dir, h: &str) -> Filter {
        let host = h.parse().map(Host::Addr).unwrap_or_else(|_| Host::Name(h.into()));
        Expr::Host { proto: None, dir, host }
    }

    fn err(expr: &str) -> FilterError {
        parse(expr).expect_err(expr)
    }

    #[test]
    fn parses_every_primitive() {
        let cases: Vec<(&str, Filter)> = vec![
            ("ip", Expr::Proto(Proto::Ip)),
            ("arp", Expr::Proto(Proto::Arp)),
            ("icmp", Expr::Proto(Proto::Icmp)),
            ("udp", Expr::Proto(Proto::Udp)),
            ("tcp", Expr::Proto(Proto::Tcp)),
            ("port 53", Expr::Port { proto: None, dir: Dir::Either, port: 53 }),
            ("src port 1", Expr::Port { proto: None, dir: Dir::Src, port: 1 }),
            ("dst port 65535", Expr::Port { proto: None, dir: Dir::Dst, port: 65535 }),
            ("udp port 2020", Expr::Port { proto: Some(Proto::Udp), dir: Dir::Either, port: 2020 }),
            ("tcp dst port 80", Expr::Port { proto: Some(Proto::Tcp), dir: Dir::Dst, port: 80 }),
            ("host 10.0.0.1", host_prim(Dir::Either, "10.0.0.1")),
            ("host server1", host_prim(Dir::Either, "server1")),
            ("src host alpine2", host_prim(Dir::Src, "alpine2")),
            ("dst host 10.0.0.2", host_prim(Dir::Dst, "10.0.0.2")),
            ("src 10.0.0.1", host_prim(Dir::Src, "10.0.0.1")),
            ("dst rl-x.y_z", host_prim(Dir::Dst, "rl-x.y_z")),
            (
                "arp host 10.0.0.1",
                Expr::Host { proto: Some(Proto::Arp), dir: Dir::Either, host: Host::Addr([10, 0, 0, 1].into()) },
            ),
            (
                "ip src server1",
                Expr::Host { proto: Some(Proto::Ip), dir: Dir::Src, host: Host::Name("server1".into()) },
            ),
            ("net 10.0.0.0/8", Expr::Net { proto: None, dir: Dir::Either, net: "10.0.0.0/8".parse().unwrap() }),
            ("src net 10.1.0.0/16", Expr::Net { proto: None, dir: Dir::Src, net: "10.1.0.0/16".parse().unwrap() }),
            (
                "ip dst net 0.0.0.0/0",
                Expr::Net { proto: Some(Proto::Ip), dir: Dir::Dst, net: "0.0.0.0/0".parse().unwrap() },
            ),
            ("ether host 02:00:00:00:00:0a", Expr::Ether { dir: Dir::Either, mac: [2, 0, 0, 0, 0, 10] }),
            ("ether src aa:bb:cc:dd:ee:ff", Expr::Ether { dir: Dir::Src, mac: [0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff] }),
            ("ether dst host 1:2:3:4:5:6", Expr::Ether { dir: Dir::Dst, mac: [1, 2, 3, 4, 5, 6] }),
        ];
        for (text, expected) in cases {
            assert_eq!(parse(text), Ok(expected), "{text}");
        }
        assert_eq!(parse("  "), Ok(Expr::All));
    }

    #[test]
    fn not_binds_tighter_than_and_tighter_than_or() {
        let (a, b, c) = (Expr::Proto(Proto::Icmp), Expr::Proto(Proto::Udp), Expr::Proto(Proto::Tcp));
        let bx = |e: &Filter| Box::new(e.clone());
        assert_eq!(parse("icmp or udp and tcp"), Ok(Expr::Or(bx(&a), Box::new(Expr::And(bx(&b), bx(&c))))));
        assert_eq!(parse("icmp && udp || tcp"), Ok(Expr::Or(Box::new(Expr::And(bx(&a), bx(&b))), bx(&c))));
        assert_eq!(parse("!icmp and udp"), Ok(Expr::And(Box::new(Expr::Not(bx(&a))), bx(&b))));
        assert_eq!(parse("not (icmp or udp)"), Ok(Expr::Not(Box::new(Expr::Or(bx(&a), bx(&b))))));
        // Left-associative.
        assert_eq!(parse("icmp or udp or tcp"), Ok(Expr::Or(Box::new(Expr::Or(bx(&a), bx(&b))), bx(&c))));
        assert_eq!(parse("(icmp)&&(udp)"), Ok(Expr::And(bx(&a), bx(&b))));
    }

    #[test]
    fn errors_point_at_the_offending_token() {
        let cases = [
            ("port", 4, "expected a port number after `port`"),
            ("udp port x", 9, "`x` is not a port number"),
            ("port 65536", 5, "`65536` is not a port number"),
            ("src port and udp", 9, "expected a port number after `port`, found `and`"),
            ("icmpp", 0, "unknown primitive `icmpp`"),
            ("server1", 0, "unknown primitive `server1`"),
            ("host server1 and server2", 17, "unknown primitive `server2`"),
            ("icmp and", 8, "expected a primitive after `and`"),
            ("icmp ||", 7, "expected a primitive after `||`"),
            ("and icmp", 0, "expected a primitive before `and`"),
            ("(icmp or udp", 12, "expected `)`"),
            ("icmp)", 4, "unmatched `)`"),
            ("icmp udp", 5, "unexpected `udp` after a complete primitive"),
            ("icmp & udp", 5, "unexpected `&`"),
            ("host 10.0.0.256", 5, "`10.0.0.256` is not an IPv4 address"),
            ("host 10.0.0.0/24", 5, "`10.0.0.0/24` is a network, not a host"),
            ("host a:b", 5, "`a:b` is neither an IPv4 address nor a node name"),
            ("host port", 5, "expected a host (an address or a node name) after `host`, found `port`"),
            ("net 10.0.0.1/24", 4, "`10.0.0.1/24` has host bits set"),
            ("net 10.0.0.0", 4, "`10.0.0.0` has no prefix length"),
            ("icmp port 1", 0, "`icmp` cannot qualify `port`"),
            ("udp host a", 0, "`udp` cannot qualify `host`"),
            ("ether 02:00:00:00:00:01", 6, "expected `host`, `src` or `dst` after `ether`"),
            ("ether src 02:00:00:00:01", 10, "`02:00:00:00:01` is not a MAC address"),
            ("ether host 02:00:00:00:00:100", 11, "`02:00:00:00:00:100` is not a MAC address"),
        ];
        for (expr, offset, message) in cases {
            let e = err(expr);
            assert_eq!((e.offset, e.message.as_str()), (offset, message), "{expr}");
        }
    }

    #[test]
    fn errors_carry_hints() {
        assert!(err("icmpp").hint.unwrap().starts_with("known primitives: icmp, udp, tcp, arp, ip"));
        assert_eq!(err("host 10.0.0.0/24").hint.as_deref(), Some("write `net 10.0.0.0/24`"));
        assert_eq!(err("net 10.0.0.1/24").hint.as_deref(), Some("did you mean `10.0.0.0/24`?"));
        assert!(err("server1").hint.unwrap().ends_with("to match a host named `server1`, write `host server1`"));
        assert_eq!(err("(icmp").hint.as_deref(), Some("the `(` at byte 0 is not closed"));
        let e = err("udp port x");
        assert_eq!(e.to_string(), "`x` is not a port number (at byte 9)");
        assert_eq!(
            e.render("udp port x"),
            "udp port x\n         ^ `x` is not a port number\n= hint: ports are numbers 0-65535"
        );
    }
}
