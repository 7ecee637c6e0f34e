//! Picking and splitting checks: `--filter` patterns and `--partition K/N` (pure).
//!
//! A pattern is `SUITE[/MATRIX][:FROM->TO][#KIND]`, each part a glob (`*` any run of characters, `?` one); a
//! part left out matches everything. SUITE matches the suite's name or its file's stem; MATRIX the matrix's
//! name (a capture or rule, which is in no matrix, matches only `*` or an omitted MATRIX); FROM and TO the
//! check's source and destination as reports show them (a capture: its node and interface); KIND is `icmp`,
//! `udp`, `tcp`, `capture` or `rule`. A check is selected when some pattern selects it and no pattern written
//! `!PATTERN` does; with only `!` patterns, everything else is selected.
//!
//! Selecting keeps each suite's whole topology and turns the cells not selected into `-` (not checked);
//! captures and NAT rules not selected are left out (a capture's assertions go together). Suites with nothing
//! selected are not run at all.

use crate::check::{Action, Check};
use crate::suite::{Cell, Suite};

/// A shard: the K-th of N slices (of a class's submissions by sorted name, or of a run's checks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// 1-based index.
    pub k: usize,
    /// Number of shards.
    pub n: usize,
}

impl std::str::FromStr for Shard {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (k, n) = s.split_once('/').ok_or("write the shard as K/N, e.g. 2/3")?;
        let (k, n): (usize, usize) =
            (k.parse().map_err(|_| "K is not a number")?, n.parse().map_err(|_| "N is not a number")?);
        if n == 0 || k == 0 || k > n {
            return Err(format!("shard {k}/{n}: K must be between 1 and N"));
        }
        Ok(Shard { k, n })
    }
}

/// One `--filter` pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Pattern {
    exclude: bool,
    suite: String,
    matrix: Option<String>,
    from: String,
    to: String,
    kind: String,
}

/// Every `--filter` of a command.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    patterns: Vec<Pattern>,
}

/// Whether `glob` (`*`, `?`) matches all of `text`.
pub fn glob(glob: &str, text: &str) -> bool {
    let (g, t): (Vec<char>, Vec<char>) = (glob.chars().collect(), text.chars().collect());
    // Iterative matching with one backtrack point (the last `*`), linear in practice.
    let (mut gi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if gi < g.len() && (g[gi] == '?' || g[gi] == t[ti]) {
            gi += 1;
            ti += 1;
        } else if gi < g.len() && g[gi] == '*' {
            star = Some(gi);
            mark = ti;
            gi += 1;
        } else if let Some(s) = star {
            gi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    g[gi..].iter().all(|c| *c == '*')
}

impl Pattern {
    fn parse(text: &str) -> Result<Pattern, String> {
        let (exclude, rest) = match text.strip_prefix('!') {
            Some(r) => (true, r),
            None => (false, text),
        };
        let (rest, kind) = match rest.rsplit_once('#') {
            Some((r, k)) => (r, k.to_string()),
            None => (rest, "*".to_string()),
        };
        let (head, pair) = match rest.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (rest, None),
        };
        let (suite, matrix) = match head.split_once('/') {
            Some((s, m)) => (s.to_string(), Some(m.to_string())),
            None => (head.to_string(), None),
        };
        let (from, to) = match pair {
            None => ("*".to_string(), "*".to_string()),
            Some(p) => {
                let (f, t) = p.split_once("->").ok_or_else(|| {
                    format!("--filter {text:?}: after `:` write FROM->TO (globs), e.g. `test1*:alpine1->*`")
                })?;
                (f.trim().to_string(), t.trim().to_string())
            }
        };
        let known = ["icmp", "udp", "tcp", "capture", "rule"];
        if !known.iter().any(|k| glob(&kind, k)) {
            return Err(format!("--filter {text:?}: kind {kind:?} matches none of {}", known.join(", ")));
        }
        let empty = |s: &str| if s.is_empty() { "*".to_string() } else { s.to_string() };
        Ok(Pattern { exclude, suite: empty(&suite), matrix: matrix.map(|m| empty(&m)), from, to, kind })
    }

    fn selects(&self, suite: &Suite, check: &Check) -> bool {
        let stem = std::path::Path::new(&suite.file).file_stem().map(|s| s.to_string_lossy().into_owned());
        let suite_ok = glob(&self.suite, &suite.name) || stem.is_some_and(|s| glob(&self.suite, &s));
        let matrix_ok = match (&self.matrix, check.cell) {
            (None, _) => true,
            (Some(m), Some(cell)) => glob(m, &suite.matrices[cell.matrix].name),
            (Some(m), None) => m.chars().all(|c| c == '*'),
        };
        suite_ok
            && matrix_ok
            && glob(&self.from, &check.from)
            && glob(&self.to, &check.to)
            && glob(&self.kind, check.kind.as_str())
    }
}

impl Filter {
    /// Parses every `--filter` value.
    pub fn parse(patterns: &[String]) -> Result<Filter, String> {
        Ok(Filter { patterns: patterns.iter().map(|p| Pattern::parse(p)).collect::<Result<_, _>>()? })
    }

    /// Whether there are no patterns (everything is selected).
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// Whether `check` of `suite` is selected.
    pub fn selects(&self, suite: &Suite, check: &Check) -> bool {
        let mut includes = self.patterns.iter().filter(|p| !p.exclude).peekable();
        let included = includes.peek().is_none() || includes.any(|p| p.selects(suite, check));
        included && !self.patterns.iter().any(|p| p.exclude && p.selects(suite, check))
    }
}

/// `--partition K/N`: the K-th of N shares of the suites (1-based, round-robin in the order given, which is
/// sorted by file name for directories). Whole suites, because a suite's lab is built once for all its checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Partition {
    /// 1-based share.
    pub k: usize,
    /// Number of shares.
    pub n: usize,
}

impl std::str::FromStr for Partition {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let shard: Shard = s.strip_prefix("count:").unwrap_or(s).parse()?;
        Ok(Partition { k: shard.k, n: shard.n })
    }
}

/// `suite` with only what `keep` selects checked: cells not selected become `-`, captures and NAT rules not
/// selected are removed, matrices left without a checked cell are removed. `None` when nothing is left.
pub fn restrict(suite: &Suite, keep: impl Fn(&Check) -> bool) -> Option<Suite> {
    let plan = crate::plan::resolve(suite);
    let mut out = suite.clone();
    let mut captures = vec![false; suite.captures.len()];
    let mut any = false;
    for check in &plan.checks {
        let kept = keep(check);
        any |= kept;
        match (&check.action, check.cell) {
            (_, Some(cell)) if !kept => out.matrices[cell.matrix].cells[cell.row][cell.column] = Cell::Unchecked,
            (Action::Capture { capture, .. }, _) if kept => captures[*capture] = true,
            (Action::Masquerade { subnet }, _) if !kept => {
                out.nats.retain(|n| !(n.node == check.from && n.masquerade == *subnet));
            }
            _ => {}
        }
    }
    if !any {
        return None;
    }
    let mut i = 0;
    out.captures.retain(|_| {
        i += 1;
        captures[i - 1]
    });
    out.matrices.retain(|m| m.cells.iter().flatten().any(|c| *c != Cell::Unchecked));
    Some(out)
}

/// The suites a run with `filter` and `partition` probes, restricted to the checks selected.
pub fn select(suites: Vec<Suite>, filter: &Filter, partition: Option<Partition>) -> Vec<Suite> {
    suites
        .into_iter()
        .enumerate()
        .filter(|(i, _)| partition.is_none_or(|p| i % p.n == p.k - 1))
        .filter_map(|(_, s)| if filter.is_empty() { Some(s) } else { restrict(&s, |c| filter.selects(&s, c)) })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob("*", ""));
        assert!(glob("test1*", "test1-custom-bridge"));
        assert!(glob("a?c", "abc"));
        assert!(!glob("a?c", "abbc"));
        assert!(glob("*->*", "x->y"));
        assert!(glob("*b*b", "abab"));
        assert!(!glob("alpine1", "alpine10"));
    }

    const SUITE: &str = r#"
name = "sample"
[[namespace]]
name = "a"
[[namespace]]
name = "b"
[[veth]]
name = "ab"
netns = "a"
address = "10.0.0.1/24"
peer = { name = "ba", netns = "b", address = "10.0.0.2/24" }
[[matrix]]
name = "ping"
probe = "icmp"
expect = """
    a  b
a   -  Y
b   Y  -
"""
[[matrix]]
probe = "udp"
port = 53
expect = """
    a  b
a   -  Y
b   N  -
"""
[[capture]]
name = "pings"
on = "b:ba"
filter = "icmp"
min_packets = 1
"#;

    fn suite() -> Suite {
        crate::suite::load_str(SUITE, "fixtures/sample.toml").unwrap()
    }

    fn picked(patterns: &[&str]) -> Vec<String> {
        let f = Filter::parse(&patterns.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
        let s = suite();
        crate::plan::resolve(&s).checks.iter().filter(|c| f.selects(&s, c)).map(|c| c.name.clone()).collect()
    }

    #[test]
    fn patterns_select_by_suite_matrix_pair_and_kind() {
        let all = picked(&[]);
        assert_eq!(all.len(), 5, "{all:?}");
        assert_eq!(picked(&["sample"]), all);
        assert_eq!(picked(&["samp*/*"]), all, "`*` as MATRIX takes the capture too");
        assert_eq!(picked(&["sample/ping"]).len(), 2);
        assert_eq!(picked(&["*:a->*"]).len(), 2, "a's two cells (the capture is on b)");
        assert_eq!(picked(&["*#udp"]).len(), 2);
        assert_eq!(picked(&["*#capture"]), vec![all[4].clone()]);
        assert_eq!(picked(&["sample/ping", "*#udp"]).len(), 4, "patterns add up");
        assert_eq!(picked(&["!*#udp"]).len(), 3, "only exclusions: everything else");
        assert_eq!(picked(&["sample/*", "!*:b->*"]).len(), 2, "b's cells and the capture on b are out");
        assert!(picked(&["other"]).is_empty());
    }

    #[test]
    fn bad_patterns_say_what_to_write() {
        assert!(Filter::parse(&["x:a".into()]).unwrap_err().contains("FROM->TO"));
        assert!(Filter::parse(&["x#ping".into()]).unwrap_err().contains("kind"));
    }

    #[test]
    fn restricting_unchecks_cells_drops_empty_matrices_and_unselected_captures() {
        let s = suite();
        let f = Filter::parse(&["*/ping:a->b".into()]).unwrap();
        let r = restrict(&s, |c| f.selects(&s, c)).unwrap();
        assert_eq!(r.matrices.len(), 1);
        assert_eq!(r.matrices[0].cells[1][0], Cell::Unchecked);
        assert!(r.captures.is_empty());
        let checks = crate::plan::resolve(&r).checks;
        assert_eq!(checks.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), vec!["icmp a -> b"]);
        assert!(restrict(&s, |_| false).is_none());
    }

    #[test]
    fn partitions_share_whole_suites_round_robin() {
        let mut b = suite();
        b.name = "b".into();
        let p: Partition = "2/2".parse().unwrap();
        let got = select(vec![suite(), b.clone(), suite()], &Filter::default(), Some(p));
        assert_eq!(got.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), vec!["b"]);
        assert_eq!("count:1/3".parse::<Partition>().unwrap(), Partition { k: 1, n: 3 });
        assert!("3/2".parse::<Partition>().is_err());
    }
}
