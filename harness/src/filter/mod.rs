//! Capture filters in tcpdump's own language (pcap-filter(7)), compiled by libpcap itself.
//!
//! A suite's filter may name lab nodes where tcpdump takes a host (`src host server2`). Their addresses are
//! known only once the lab is built, so a [`Filter`] is kept as a template: the expression split at the node
//! names it mentions. [`Filter::parse`] checks it at load time by compiling it with placeholder addresses;
//! [`Filter::compile`] puts the real addresses in and compiles the program a capture attaches to its socket.
//!
//! A node with one address becomes that address; a node with several becomes `(a or b)`, which libpcap's
//! grammar takes wherever it takes one address after qualifiers (`src host (a or b)` means
//! `src host a or src host b`). Other names are not resolved: a word in a host's place that is not a node is an
//! error (no DNS or `/etc/hosts` lookup, whose answer would depend on the machine). Port and protocol names
//! (`port domain`, `ip proto \icmp`) are libpcap's, from the machine's services and protocols files.

mod lex;
pub(crate) mod libpcap;
mod program;

pub use program::{Instruction, Program, SNAPLEN};

use std::fmt;
use std::net::Ipv4Addr;
use std::ops::Range;

/// A filter that libpcap rejects, or that names a host reachlab does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct FilterError {
    /// Byte offset into the expression of what is wrong (0 when libpcap does not say where).
    pub offset: usize,
    /// What is wrong; libpcap's message when libpcap rejected it.
    pub message: String,
    /// How to fix it, when there is something useful to say.
    pub hint: Option<String>,
}

/// A filter as written, with the node names it mentions marked for substitution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    text: String,
    /// Where node names stand in `text` (a backslash before one included), in order.
    nodes: Vec<(Range<usize>, String)>,
}

/// Placeholders for load-time checks, from the documentation ranges (RFC 5737), which no lab address uses.
fn placeholder(range: u8, i: usize) -> Ipv4Addr {
    let [a, b, c] = [[192, 0, 2], [198, 51, 100], [203, 0, 113]][usize::from(range)];
    Ipv4Addr::new(a, b, c, (i % 254 + 1) as u8)
}

/// The address set of a node, as libpcap reads it in a host's place.
fn alternatives(addresses: &[Ipv4Addr]) -> String {
    match addresses {
        [one] => one.to_string(),
        many => format!("({})", many.iter().map(Ipv4Addr::to_string).collect::<Vec<_>>().join(" or ")),
    }
}

fn error(offset: usize, message: impl Into<String>, hint: Option<String>) -> FilterError {
    FilterError { offset, message: message.into(), hint }
}

impl Filter {
    /// The filter that keeps every frame (an empty expression).
    pub fn all() -> Filter {
        Filter { text: String::new(), nodes: Vec::new() }
    }

    /// Checks `text` with libpcap, taking every identifier for which `is_node` holds as that node. Fails with
    /// libpcap's message, or on a host name that is not a node.
    pub fn parse(text: &str, is_node: &dyn Fn(&str) -> bool) -> Result<Filter, FilterError> {
        let words = lex::words(text);
        let nodes = words.iter().filter(|w| is_node(&w.text)).map(|w| (w.range.clone(), w.text.clone())).collect();
        let filter = Filter { text: text.to_string(), nodes };
        filter.check(&words, is_node)?;
        Ok(filter)
    }

    /// Load-time checks: no unknown host names, and libpcap compiles the filter whether each node turns out to
    /// have one address or several.
    fn check(&self, words: &[lex::Word], is_node: &dyn Fn(&str) -> bool) -> Result<(), FilterError> {
        let names = self.names();
        let index = |n: &str| names.iter().position(|m| m == n).unwrap_or(0);
        let one = |n: &str| Some(vec![placeholder(0, index(n))]);
        let two = |n: &str| Some(vec![placeholder(0, index(n)), placeholder(1, index(n))]);
        // libpcap resolves a name in a host's place through the system resolver, and so would make the meaning
        // of a filter depend on the machine (and send DNS queries). So each other identifier is first tried as
        // an address, with the expression cut right after it (and earlier identifiers, which are not hosts,
        // as written): if an address fits there, the name is a host's, and it is not a node.
        for w in words.iter().filter(|w| !is_node(&w.text)) {
            let mut prefix = self.substitute_until(w.range.start, &one).expect("every node has a placeholder");
            prefix.push_str(&placeholder(2, 0).to_string());
            let open = prefix.matches('(').count().saturating_sub(prefix.matches(')').count());
            prefix.push_str(&")".repeat(open));
            let after_gateway = self.text[..w.range.start].split_whitespace().last() == Some("gateway");
            if after_gateway || Program::compile(&prefix).is_ok() {
                let hint =
                    format!("hosts in filters are addresses or nodes of this suite: {}", names_hint(words, is_node));
                return Err(error(w.range.start, format!("unknown host `{}` in filter", w.text), Some(hint)));
            }
        }
        let single = self.expression(&one).expect("every node has a placeholder");
        if let Err(m) = Program::compile(&single) {
            return Err(self.libpcap_error(&m, &names, &|n, i| placeholder(i, index(n)).to_string()));
        }
        let double = self.expression(&two).expect("every node has placeholders");
        if let Err(m) = Program::compile(&double) {
            let mut e = self.libpcap_error(&m, &names, &|n, i| placeholder(i, index(n)).to_string());
            e.hint = Some(format!(
                "a node with several addresses stands for `(a or b)` in the filter, and libpcap rejects that here: \
                 name its address instead of {}",
                names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
            ));
            return Err(e);
        }
        Ok(())
    }

    /// An error from libpcap, placeholders turned back into node names, pointing at the first token the
    /// message quotes (libpcap gives no position).
    fn libpcap_error(&self, message: &str, names: &[String], shown: &dyn Fn(&str, u8) -> String) -> FilterError {
        let mut message = message.to_string();
        for n in names {
            for range in [1, 0] {
                message = replace_token(&message, &shown(n, range), n);
            }
        }
        let quoted = ['\'', '"'].iter().find_map(|q| message.split(*q).nth(1).filter(|q| !q.is_empty()));
        let offset = quoted.and_then(|q| find_token(&self.text, q)).unwrap_or(0);
        let hint = "the filter language is tcpdump's (pcap-filter(7)); `tcpdump -d EXPR` checks an expression".into();
        error(offset, format!("invalid filter: {message}"), Some(hint))
    }

    /// The expression as written up to byte `end` (never inside a node's name), node names replaced by what
    /// `resolve` gives them; fails naming a node it gives no address.
    fn substitute_until(&self, end: usize, resolve: &dyn Fn(&str) -> Option<Vec<Ipv4Addr>>) -> Result<String, String> {
        let mut out = String::new();
        let mut at = 0;
        for (range, n) in self.nodes.iter().take_while(|(r, _)| r.start < end) {
            out.push_str(&self.text[at..range.start]);
            match resolve(n) {
                Some(a) if !a.is_empty() => out.push_str(&alternatives(&a)),
                _ => return Err(format!("node `{n}` in filter `{}` has no IPv4 address", self.text)),
            }
            at = range.end;
        }
        out.push_str(&self.text[at..end.max(at)]);
        Ok(out)
    }

    /// The expression with each node replaced by its addresses; fails naming a node `resolve` has no address for.
    pub fn expression(&self, resolve: &dyn Fn(&str) -> Option<Vec<Ipv4Addr>>) -> Result<String, String> {
        self.substitute_until(self.text.len(), resolve)
    }

    /// Compiles the filter for a built lab, each node replaced by the addresses `resolve` gives it.
    pub fn compile(&self, resolve: &dyn Fn(&str) -> Option<Vec<Ipv4Addr>>) -> Result<Program, String> {
        let expression = self.expression(resolve)?;
        Program::compile(&expression).map_err(|e| format!("libpcap rejects filter `{expression}`: {e}"))
    }

    /// The node names the filter mentions, each once, in order of appearance.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        for (_, n) in &self.nodes {
            if !names.contains(n) {
                names.push(n.clone());
            }
        }
        names
    }

    /// The expression as written.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Whether the filter keeps every frame.
    pub fn is_empty(&self) -> bool {
        self.text.trim().is_empty()
    }
}

fn names_hint(words: &[lex::Word], is_node: &dyn Fn(&str) -> bool) -> String {
    let mut nodes: Vec<&str> = words.iter().map(|w| w.text.as_str()).filter(|w| is_node(w)).collect();
    nodes.dedup();
    if nodes.is_empty() {
        "write a node's name or an address".into()
    } else {
        format!("this filter names {}", nodes.join(", "))
    }
}

/// Byte offset of `token` in `text` where it stands as a whole word.
fn find_token(text: &str, token: &str) -> Option<usize> {
    let word = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    text.match_indices(token)
        .map(|(i, _)| i)
        .find(|&i| !word(text[..i].chars().next_back()) && !word(text[i + token.len()..].chars().next()))
}

/// `text` with each whole-word `from` replaced by `to`.
fn replace_token(text: &str, from: &str, to: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = find_token(rest, from) {
        out.push_str(&rest[..i]);
        out.push_str(to);
        rest = &rest[i + from.len()..];
    }
    out.push_str(rest);
    out
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl serde::Serialize for Filter {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lab(n: &str) -> bool {
        ["server1", "server2", "alpine1", "gateway"].contains(&n)
    }

    fn addresses(n: &str) -> Option<Vec<Ipv4Addr>> {
        match n {
            "server1" => Some(vec![Ipv4Addr::new(192, 168, 56, 3), Ipv4Addr::new(172, 17, 0, 1)]),
            "server2" => Some(vec![Ipv4Addr::new(192, 168, 56, 4)]),
            _ => None,
        }
    }

    #[test]
    fn nodes_become_their_addresses() {
        let f = Filter::parse("icmp and dst host server2 and not src host server1", &lab).unwrap();
        assert_eq!(f.names(), ["server2", "server1"]);
        assert_eq!(
            f.expression(&addresses).unwrap(),
            "icmp and dst host 192.168.56.4 and not src host (192.168.56.3 or 172.17.0.1)"
        );
        assert_eq!(f.to_string(), "icmp and dst host server2 and not src host server1");
        let err = Filter::parse("host alpine1", &lab).unwrap().compile(&addresses).unwrap_err();
        assert_eq!(err, "node `alpine1` in filter `host alpine1` has no IPv4 address");
        assert!(Filter::parse("udp port 53", &lab).unwrap().names().is_empty());
        assert!(Filter::all().is_empty() && Filter::parse("", &lab).unwrap().is_empty());
    }

    #[test]
    fn several_addresses_keep_the_qualifiers_and_the_precedence() {
        // `src host server1 or server2`: the second name takes `src host` from the first, as in tcpdump.
        let f = Filter::parse("src host server1 or server2 and udp", &lab).unwrap();
        let e = f.expression(&addresses).unwrap();
        assert_eq!(e, "src host (192.168.56.3 or 172.17.0.1) or 192.168.56.4 and udp");
        let written = Program::compile("src host 192.168.56.3 or src host 172.17.0.1 or src host 192.168.56.4 and udp");
        assert_eq!(f.compile(&addresses).unwrap().instructions(), written.unwrap().instructions());
    }

    #[test]
    fn names_that_are_not_nodes_are_not_resolved() {
        for (text, word, at) in [
            ("icmp and dst host server3", "server3", 18),
            ("icmp and dst hots server2", "hots", 13),
            ("host localhost", "localhost", 5),
            ("port 53 or net mynet", "mynet", 15),
            ("(udp and (src host a.example", "a.example", 19),
        ] {
            let e = Filter::parse(text, &lab).unwrap_err();
            assert_eq!(
                (e.message.as_str(), e.offset),
                (format!("unknown host `{word}` in filter").as_str(), at),
                "{text}"
            );
        }
        // Service and protocol names are not hosts.
        Filter::parse("udp port domain or ip proto \\icmp", &lab).unwrap();
        // A node named like a keyword is a keyword unless escaped, as in tcpdump.
        assert!(Filter::parse("host gateway", &lab).is_err());
        assert_eq!(Filter::parse("host \\gateway", &lab).unwrap().names(), ["gateway"]);
    }

    #[test]
    fn libpcap_errors_name_nodes_not_placeholders() {
        let e = Filter::parse("ether host server2", &lab).unwrap_err();
        assert_eq!(e.message, "invalid filter: illegal link layer address");
        let e = Filter::parse("icmp and", &lab).unwrap_err();
        assert_eq!((e.message.as_str(), e.offset), ("invalid filter: can't parse filter expression: syntax error", 0));
        let e = Filter::parse("udp port 2020 or tcp port x1", &lab).unwrap_err();
        assert_eq!((e.message.as_str(), e.offset), ("invalid filter: unknown port 'x1'", 26));
        // One address is fine with a mask; a node might have several, and `(a or b)/24` is not.
        let e = Filter::parse("net server2/32", &lab).unwrap_err();
        assert!(e.hint.unwrap().contains("several addresses"));
    }
}
