//! Every report format, from one synthetic run with all four verdicts (pure: no probes).

use reachlab::check::{Observation, Outcome};
use reachlab::judge::judge;
use reachlab::report::{json, junit, markdown, terminal, RunReport, SuiteReport};
use reachlab::{plan, suite};
use std::collections::HashMap;

const SUITE: &str = r#"
name = "sample"
[[namespace]]
name = "a"
[[namespace]]
name = "b"
[[namespace]]
name = "c"
[[veth]]
name = "ab"
netns = "a"
address = "10.0.0.1/24"
peer = { name = "ba", netns = "b", address = "10.0.0.2/24" }
[[veth]]
name = "bc"
netns = "b"
address = "10.0.1.2/24"
peer = { name = "cb", netns = "c", address = "10.0.1.3/24" }
[[matrix]]
probe = "icmp"
expect = """
    a  b  c
a   -  Y  N
b   Y  -  Y
c   N  Y  -
"""
"#;

fn sample() -> RunReport {
    let s = suite::load_str(SUITE, "fixtures/sample.toml").unwrap();
    let p = plan::resolve(&s);
    let seen = |o, d: &str| Observation::seen(o, d);
    let mut obs = HashMap::new();
    for c in &p.checks {
        let target = c.target.unwrap();
        let o = match (c.from.as_str(), c.to.as_str()) {
            // a -> c observed reachable although expected not: a failure.
            ("a", "c") => seen(Outcome::Reachable, "echo reply from 10.0.1.3 in 0.1 ms"),
            // c -> b could not be probed: an error, not a failure.
            ("c", "b") => Observation::error("failed to open an ICMP socket in c: Operation not permitted"),
            (_, _) if c.expected.label == "reachable" => {
                seen(Outcome::Reachable, &format!("echo reply from {target} in 0.1 ms"))
            }
            _ => seen(Outcome::Unreachable, &format!("no echo reply from {target} within 1000 ms (3 requests)")),
        };
        obs.insert(c.id, o);
    }
    let mut first = SuiteReport::new(&s, &judge(&p.checks, &obs, None), None, vec![]);
    first.setup_ms = 12;
    first.duration_ms = 1034;
    let mut skipped = SuiteReport::new(
        &s,
        &judge(&p.checks, &HashMap::new(), Some("kernel feature missing: veth")),
        Some("kernel feature missing: veth".into()),
        vec![],
    );
    skipped.name = "sample-skipped".into();
    RunReport::new(vec![first, skipped], 1100)
}

#[test]
fn counts_all_four_verdicts() {
    let r = sample();
    assert_eq!((r.passed, r.failed, r.errors, r.skipped), (4, 1, 1, 6));
}

#[test]
fn terminal_plain() {
    let r = sample();
    let text: String =
        r.suites.iter().map(|s| terminal::render_suite(s, false)).collect::<String>() + &terminal::summary_line(&r);
    insta::assert_snapshot!("report__terminal", text);
}

#[test]
fn terminal_color_marks_the_mismatch_red() {
    let text = terminal::render_suite(&sample().suites[0], true);
    assert!(text.contains("\x1b[1;31m"), "{text}");
    assert!(!terminal::render_suite(&sample().suites[0], false).contains('\x1b'));
}

#[test]
fn junit() {
    insta::assert_snapshot!("report__junit", junit::render(&sample()));
}

#[test]
fn json_contract() {
    let r = sample();
    let v: serde_json::Value = serde_json::from_str(&json::render(&r)).unwrap();
    for key in ["suites", "passed", "failed", "errors", "skipped"] {
        assert!(v.get(key).is_some(), "{key}");
    }
    let check = &v["suites"][0]["checks"][0];
    for key in ["name", "kind", "from", "to", "target", "expected", "observed", "verdict", "detail"] {
        assert!(check.get(key).is_some(), "{key}");
    }
    insta::assert_json_snapshot!("report__json", r, { ".version" => "[version]", ".duration_ms" => "[ms]", ".suites[].duration_ms" => "[ms]", ".suites[].setup_ms" => "[ms]" });
}

#[test]
fn markdown() {
    insta::assert_snapshot!("report__markdown", markdown::render(&sample()));
}
