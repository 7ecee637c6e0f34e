//! Names that leave the suite: into paths (report directories, pcap files), kernel names (interfaces,
//! namespaces), the engine's names (containers, networks, images) and labels. Each is checked here, at load
//! time, against the rule of whoever receives it, so that nothing built later fails on a name — or escapes
//! the directory it was meant for.

use super::*;

/// Longest suite, capture or network name: they make file and directory names with a prefix and a timestamp.
const MAX_WORD: usize = 64;
/// Longest container name: it is a DNS label on user-defined networks (RFC 1035: 63 octets).
const MAX_CONTAINER: usize = 63;
/// Longest matrix title.
const MAX_TITLE: usize = 128;

/// `[A-Za-z0-9][A-Za-z0-9_.-]*` with `min..=max` characters: Docker's rule for names (`RestrictedNamePattern`),
/// and one that cannot make a path leave its directory (no `/`, not `.` or `..`, no leading `.` or `-`).
fn word(name: &str, min: usize, max: usize) -> bool {
    let mut chars = name.chars();
    (min..=max).contains(&name.len())
        && chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

/// What the kernel refuses as an interface name, or why a suite cannot create it.
pub(super) fn ifname_problem(name: &str) -> Option<(String, String)> {
    let charset = name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    if name.is_empty() || name.len() > 15 || !charset {
        return Some((
            format!("`{}` is not a valid interface name", name.escape_debug()),
            "interface names have 1 to 15 characters: letters, digits, `-`, `_`, `.`".into(),
        ));
    }
    match name {
        // dev_valid_name() refuses the first two; the others would collide with /proc/sys/net/ipv4/conf/{all,default}.
        "." | ".." | "all" | "default" => Some((
            format!("the kernel refuses `{name}` as an interface name"),
            "`.`, `..`, `all` and `default` are reserved by the kernel: pick another name".into(),
        )),
        "lo" => Some((
            "`lo` is the loopback interface every namespace already has".into(),
            "it cannot be created again: pick another name".into(),
        )),
        _ => None,
    }
}

impl Cx<'_> {
    /// A name the kernel accepts for an interface the suite creates.
    pub(super) fn ifname(&self, s: &Spanned<String>) -> Result<String, Diagnostic> {
        match ifname_problem(s.get_ref()) {
            None => Ok(s.get_ref().clone()),
            Some((message, hint)) => Err(self.span(s, message, hint)),
        }
    }

    /// The suite's name: it names the report directory, the pcap files and the engine's labels. Without `name`,
    /// the file name (without `.toml`) must make one.
    pub(super) fn suite_name(&self, name: Option<&Spanned<String>>) -> Result<String, Diagnostic> {
        let hint = format!(
            "1 to {MAX_WORD} letters, digits, `-`, `_` or `.`, starting with a letter or digit (it names the report \
             directory and the pcap files)"
        );
        match name {
            Some(n) if word(n.get_ref(), 1, MAX_WORD) => Ok(n.get_ref().clone()),
            Some(n) if n.get_ref().is_empty() => Err(self.span(n, "the suite name is empty", hint)),
            Some(n) => Err(self.span(n, format!("`{}` is not a valid suite name", n.get_ref().escape_debug()), hint)),
            None => {
                let stem = Path::new(self.file).file_stem().map(|s| s.to_string_lossy().into_owned());
                match stem {
                    Some(stem) if word(&stem, 1, MAX_WORD) => Ok(stem),
                    stem => Err(self.at(
                        0,
                        format!(
                            "the suite has no `name` and its file name `{}` does not make one",
                            stem.unwrap_or_default().escape_debug()
                        ),
                        Some(format!("add `name = \"…\"`: {hint}")),
                    )),
                }
            }
        }
    }

    /// A container name, as Docker accepts it (`[a-zA-Z0-9][a-zA-Z0-9_.-]+`) and short enough for DNS.
    pub(super) fn container_name(&self, s: &Spanned<String>) -> Result<(), Diagnostic> {
        if word(s.get_ref(), 2, MAX_CONTAINER) {
            return Ok(());
        }
        Err(self.span(
            s,
            format!("`{}` is not a valid container name", s.get_ref().escape_debug()),
            format!(
                "2 to {MAX_CONTAINER} letters, digits, `-`, `_` or `.`, starting with a letter or digit (Docker's rule)"
            ),
        ))
    }

    /// A Docker network name.
    pub(super) fn network_name(&self, s: &Spanned<String>) -> Result<(), Diagnostic> {
        if word(s.get_ref(), 1, MAX_WORD) {
            return Ok(());
        }
        Err(self.span(
            s,
            format!("`{}` is not a valid network name", s.get_ref().escape_debug()),
            format!("1 to {MAX_WORD} letters, digits, `-`, `_` or `.`, starting with a letter or digit"),
        ))
    }

    /// A capture name: it names the pcap file `<suite>.<capture>.pcap`.
    pub(super) fn capture_name(&self, s: &Spanned<String>) -> Result<(), Diagnostic> {
        let n = s.get_ref();
        let ok = (1..=MAX_WORD).contains(&n.len())
            && n.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
            && n != "."
            && n != "..";
        if ok {
            return Ok(());
        }
        Err(self.span(
            s,
            format!("`{}` is not a valid capture name", n.escape_debug()),
            format!("it names the pcap file: 1 to {MAX_WORD} letters, digits, `-`, `_` or `.`"),
        ))
    }

    /// A matrix title: free words, but one line of printable text (it heads tables and names checks).
    pub(super) fn title(&self, at: usize, name: &str) -> Result<(), Diagnostic> {
        if !name.trim().is_empty() && name.chars().count() <= MAX_TITLE && !name.chars().any(char::is_control) {
            return Ok(());
        }
        Err(self.at(
            at,
            format!("`{}` is not a valid matrix name", name.escape_debug()),
            Some(format!("one line of 1 to {MAX_TITLE} printable characters")),
        ))
    }

    /// An image reference as Docker parses it: `[HOST[:PORT]/]PATH[:TAG]`, the path's components lowercase.
    pub(super) fn image(&self, s: &Spanned<String>) -> Result<(), Diagnostic> {
        if image_ok(s.get_ref()) {
            return Ok(());
        }
        Err(self.span(
            s,
            format!("`{}` is not a valid image reference", s.get_ref().escape_debug()),
            "e.g. `alpine`, `alpine:3.19`, `registry.example:5000/team/alpine:3.19` (lowercase path components; \
             no digest: a stand-in image is built under this name when no registry has it)"
                .to_string(),
        ))
    }
}

/// Docker's reference grammar (distribution/reference), without digests.
fn image_ok(image: &str) -> bool {
    if image.is_empty() || image.len() > 255 {
        return false;
    }
    // A tag follows the last `:` that comes after the last `/`.
    let (name, tag) = match image.rsplit_once(':') {
        Some((n, t)) if !t.contains('/') => (n, Some(t)),
        _ => (image, None),
    };
    let tag_ok = tag.is_none_or(|t| {
        let mut c = t.chars();
        (1..=128).contains(&t.len())
            && c.next().is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
            && c.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
    });
    let mut parts: Vec<&str> = name.split('/').collect();
    // The first part is a registry host when it has a `.` or a `:`, or is `localhost`.
    if parts.len() > 1 && (parts[0].contains(['.', ':']) || parts[0] == "localhost") {
        let host = parts.remove(0);
        let (h, port) = match host.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (host, None),
        };
        let host_ok = !h.is_empty()
            && h.split('.').all(|l| {
                !l.is_empty()
                    && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                    && !l.starts_with('-')
                    && !l.ends_with('-')
            });
        let port_ok = port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.chars().all(|c| c.is_ascii_digit()));
        if !host_ok || !port_ok {
            return false;
        }
    }
    // path-component: [a-z0-9]+ ((\.|_|__|-+)[a-z0-9]+)*
    let component_ok = |c: &str| {
        let b = c.as_bytes();
        let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
        if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
            return false;
        }
        let mut i = 0;
        while i < b.len() {
            if alnum(b[i]) {
                i += 1;
                continue;
            }
            let start = i;
            while i < b.len() && !alnum(b[i]) {
                i += 1;
            }
            let sep = &c[start..i];
            if !(sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-')) {
                return false;
            }
        }
        true
    };
    tag_ok && !parts.is_empty() && parts.iter().all(|p| component_ok(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_references() {
        for ok in ["alpine", "alpine:3.19", "library/alpine", "localhost:5000/alpine", "a.b/c/d__e-f:v1.2-x", "x--y"] {
            assert!(image_ok(ok), "{ok}");
        }
        for bad in ["", "Alpine", "../x", "/x", "a//b", "a:", "a:-x", "a b", "a@sha256:00", "a$(id)", "a.", "_a", "a\n"]
        {
            assert!(!image_ok(bad), "{bad:?}");
        }
    }

    #[test]
    fn words_cannot_leave_a_directory() {
        for bad in ["", ".", "..", "../../x", "/etc", "a/b", "-x", ".hidden", "$(id)", "a\nb", "a b", "é"] {
            assert!(!word(bad, 1, 64), "{bad:?}");
        }
        assert!(word("test1-custom-bridge", 1, 64));
        assert!(!word(&"a".repeat(65), 1, 64));
        assert!(!word("a", 2, 63), "Docker wants two characters");
    }

    #[test]
    fn interface_names_the_kernel_refuses() {
        for bad in ["", ".", "..", "all", "default", "lo", "a/b", "a:b", "a b", "sixteen-chars-xx"] {
            assert!(ifname_problem(bad).is_some(), "{bad:?}");
        }
        assert!(ifname_problem("veth-s1").is_none());
        assert!(ifname_problem("fifteen-chars-x").is_none());
    }
}
