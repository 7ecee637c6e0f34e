//! Every report format, from one synthetic run with all four verdicts (pure: no probes).

use reachlab::check::{Observation, Outcome};
use reachlab::judge::judge;
use reachlab::report::{json, junit, markdown, terminal, RunReport, SuiteReport};
use std::path::Path;

#[path = "common/consumers.rs"]
mod consumers;
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
    let results = judge(&p.checks, &obs, None);
    let mut first = SuiteReport::new(&s, &results, None, vec![]);
    let durations = results.iter().enumerate().map(|(i, r)| (r.check.id, 100 + i as u64)).collect();
    first.set_durations(&results, &durations);
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

/// The sample with a pcap under the report directory `reports/r1`, as a capture check has it.
fn with_pcap() -> RunReport {
    let mut r = sample();
    r.suites[0].checks[1].artifacts = vec!["reports/r1/sample.x.pcap".into()];
    r
}

#[test]
fn junit_in_a_report_dir_has_timestamps_a_host_and_relative_attachments() {
    let ctx = junit::Context {
        report_dir: Some(Path::new("reports/r1")),
        hostname: Some("lab-host".into()),
        started: vec!["2024-05-06T12:53:20Z".into(), "2024-05-06T12:53:21Z".into()],
    };
    let xml = junit::render_in(&with_pcap(), &ctx);
    assert!(xml.contains(r#"timestamp="2024-05-06T12:53:20Z" hostname="lab-host""#), "{xml}");
    assert!(xml.contains("[[ATTACHMENT|sample.x.pcap]]"), "{xml}");
    assert!(xml.contains("pcap: sample.x.pcap"), "{xml}");
    assert!(!xml.contains("reports/r1"), "{xml}");
    // Outside the report directory a path stays as it was.
    assert_eq!(junit::relative("/elsewhere/x.pcap", Some(Path::new("reports/r1"))), "/elsewhere/x.pcap");
}

#[test]
fn junit_satisfies_jenkins_junitparser_and_gitlab() {
    let dir = tempfile::tempdir().unwrap();
    let mut r = with_pcap();
    let pcap = dir.path().join("sample.x.pcap");
    std::fs::write(&pcap, b"").unwrap();
    r.suites[0].checks[1].artifacts = vec![pcap.display().to_string()];
    let mut files = reachlab::reporters::FilesReporter::new(dir.path().to_path_buf());
    use reachlab::event::{Event, EventKind, Reporter};
    for s in &r.suites {
        files.on_event(&Event::now(EventKind::SuiteStarted { name: &s.name, file: &s.file })).unwrap();
    }
    files.on_event(&Event::now(EventKind::RunFinished(&r))).unwrap();
    consumers::check_run_reports(dir.path());
    let xml = std::fs::read_to_string(dir.path().join("junit.xml")).unwrap();
    // GitLab shows a failure's body, GitHub's annotations its message: both say what was expected and seen.
    assert!(xml.contains(
        r#"<failure message="expected unreachable, observed reachable: echo reply from 10.0.1.3 in 0.1 ms" type="unexpected-reachability">expected unreachable, observed reachable: echo reply from 10.0.1.3 in 0.1 ms"#
    ), "{xml}");
    assert!(!xml.contains("<testsuites name=\"reachlab\" tests=\"12\" skipped"), "{xml}");
}

#[test]
fn junit_with_text_xml_cannot_hold_stays_valid() {
    let mut r = sample();
    r.suites[0].checks[1].detail =
        "escape \u{1b}[31m and NUL \0 and \"quotes\" <tags> & ampersands\nsecond line".into();
    let counted = consumers::check_junit_text(&junit::render(&r));
    assert_eq!((counted[0].failures, counted[0].errors, counted[1].skipped), (1, 1, 6));
}

/// The sample with a path on its failing cell (a -> c), as `run --trace` leaves it.
fn with_path() -> RunReport {
    use reachlab::check::{DroppedBy, PathHop, PathReport};
    use reachlab::kernel::nftrace::Leg;
    let hop = |node: &str, interface: &str, leg, seen: bool| PathHop {
        node: node.into(),
        interface: interface.into(),
        leg,
        seen,
        src: seen.then(|| "10.0.0.1".parse().unwrap()),
        dst: seen.then(|| "10.0.1.3".parse().unwrap()),
    };
    let mut r = sample();
    let failing = r.suites[0].checks.iter_mut().find(|c| c.verdict == reachlab::check::Verdict::Fail).unwrap();
    assert_eq!((failing.from.as_str(), failing.to.as_str()), ("a", "c"));
    failing.path = Some(PathReport {
        hops: vec![
            hop("a", "ab", Leg::Request, true),
            hop("b", "ba", Leg::Request, true),
            hop("b", "bc", Leg::Request, false),
            hop("c", "cb", Leg::Request, false),
        ],
        last_seen: Some(hop("b", "ba", Leg::Request, true)),
        arp: vec![],
        arp_for: None,
        dropped_by: Some(DroppedBy { node: "b".into(), rule: "FORWARD ISOLATE DROP".into() }),
        untraced: vec![],
        lost: 0,
        pcaps: vec!["reports/r1/paths/sample/icmp-a-c/path-00-a-ab.pcap".into()],
        line: "a ab → b ba → ✗ b: FORWARD ISOLATE DROP".into(),
        reasons: vec![],
    });
    r
}

#[test]
fn a_traced_failure_shows_its_path_in_the_terminal_junit_and_json() {
    let r = with_path();
    insta::assert_snapshot!("report__terminal_traced", terminal::render_suite(&r.suites[0], false));
    let xml = junit::render(&r);
    assert!(
        xml.contains("path: a ab → b ba → ✗ b: FORWARD ISOLATE DROP\ndropped-by: b: FORWARD ISOLATE DROP"),
        "{xml}"
    );
    let counted = consumers::check_junit_text(&xml);
    assert_eq!((counted[0].failures, counted[0].errors), (1, 1));
    let v: serde_json::Value = serde_json::from_str(&json::render(&r)).unwrap();
    let checks = v["suites"][0]["checks"].as_array().unwrap();
    let with: Vec<_> = checks.iter().filter(|c| c.get("path").is_some()).collect();
    assert_eq!(with.len(), 1);
    assert_eq!(with[0]["path"]["dropped_by"], serde_json::json!({"node": "b", "rule": "FORWARD ISOLATE DROP"}));
    assert_eq!(with[0]["path"]["last_seen"]["interface"], "ba");
    assert_eq!(
        with[0]["path"]["hops"][2],
        serde_json::json!({"node": "b", "interface": "bc", "leg": "request", "seen": false})
    );
    // Without a path, report.json is byte for byte what it was.
    assert!(!json::render(&sample()).contains("\"path\""));
    // report.html shows it under the failing check.
    let html = reachlab::report::html::render(&r, None);
    assert!(html.contains("<code class=\"path\">path: a ab → b ba → ✗ b: FORWARD ISOLATE DROP</code>"), "{html}");
    assert!(!reachlab::report::html::render(&sample(), None).contains("class=\"path\""));
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

#[test]
fn the_schema_check_can_fail() {
    // What reachlab wrote before: properties inside a testcase, `skipped` on testsuites.
    let old = r#"<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="reachlab" tests="1" skipped="0" failures="0" errors="0" time="0.1">
  <testsuite name="s" tests="1" skipped="0" errors="0" failures="0" time="0.1">
    <testcase name="icmp a -&gt; b" classname="s">
      <properties><property name="kind" value="icmp"/></properties>
    </testcase>
  </testsuite>
</testsuites>
"#;
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("junit.xml");
    std::fs::write(&p, old).unwrap();
    let errors = consumers::schema_errors(&p).expect("invalid");
    assert!(errors.contains("'skipped'") && errors.contains("'properties'"), "{errors}");
}

// ---------------------------------------------------------------- report.html in a real browser

/// Runs headless Chromium (Debian `chromium`, installed by `.ci/run`) on `page`: the DOM after loading, what it
/// logged to the console, and a screenshot.
fn chromium(page: &Path, shot: &Path) -> (String, Vec<String>) {
    let profile = tempfile::tempdir().unwrap();
    let run = |extra: &[&str]| {
        std::process::Command::new("chromium")
            .args(["--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run"])
            .args(["--enable-logging=stderr", "--v=0", "--window-size=1200,1600"])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .args(extra)
            .arg(format!("file://{}", page.display()))
            .env("HOME", profile.path())
            .output()
            .unwrap_or_else(|e| panic!("chromium (Debian `chromium`, installed by .ci/run) could not run: {e}"))
    };
    let dom = run(&["--dump-dom"]);
    assert!(dom.status.success(), "{dom:?}");
    let shot_arg = format!("--screenshot={}", shot.display());
    let taken = run(&[&shot_arg]);
    assert!(taken.status.success() && shot.exists(), "{taken:?}");
    let console = String::from_utf8_lossy(&dom.stderr)
        .lines()
        .chain(String::from_utf8_lossy(&taken.stderr).lines())
        .filter(|l| l.contains(":CONSOLE"))
        .map(str::to_string)
        .collect();
    (String::from_utf8_lossy(&dom.stdout).into_owned(), console)
}

/// How many pixels of the PNG at `path` are within a small distance of each color.
fn pixels_near(path: &Path, colors: &[[u8; 3]]) -> Vec<usize> {
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let step = info.color_type.samples();
    let mut counts = vec![0; colors.len()];
    for px in buf[..info.buffer_size()].chunks(step) {
        for (i, c) in colors.iter().enumerate() {
            if px.iter().zip(c).all(|(a, b)| a.abs_diff(*b) <= 6) {
                counts[i] += 1;
            }
        }
    }
    counts
}

#[test]
fn report_html_renders_in_chromium_with_the_picture_and_the_matrices() {
    let dir = tempfile::tempdir().unwrap();
    let mut r = with_pcap();
    let pcap = dir.path().join("sample.x.pcap");
    std::fs::write(&pcap, b"").unwrap();
    r.suites[0].checks[1].artifacts = vec![pcap.display().to_string()];
    use reachlab::event::{Event, EventKind, Reporter};
    let mut files = reachlab::reporters::FilesReporter::new(dir.path().to_path_buf());
    files.on_event(&Event::now(EventKind::RunFinished(&r))).unwrap();
    let page = dir.path().join("report.html");
    let shot = dir.path().join("shot.png");
    let (dom, console) = chromium(&page, &shot);
    assert!(console.is_empty(), "the page logged to the console: {console:#?}");
    assert_eq!(dom.matches("<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"topology\"").count(), 2, "{dom}");
    assert_eq!(dom.matches("<table class=\"matrix expected\"").count(), 2);
    assert_eq!(dom.matches("<table class=\"matrix observed\"").count(), 2);
    assert!(dom.contains("<a class=\"pcap\" href=\"sample.x.pcap\">"), "pcaps are linked relative to the report");
    assert!(dom.contains("expected unreachable, observed reachable"), "the failing cell's detail is shown");
    // What is on the screen: the failing cell (red) and passing cells (green) of the observed grid, and the red
    // arrow of the failing cell on the topology.
    let colors = [[0xfe, 0xca, 0xca], [0xdc, 0xfc, 0xe7], [0xdc, 0x26, 0x26], [0x1e, 0x29, 0x3b], [0x16, 0xa3, 0x4a]];
    let [bad, ok, arrow, node_border, reached] = pixels_near(&shot, &colors)[..] else { unreachable!() };
    assert!(bad > 200, "no red cell on the screenshot ({bad} pixels)");
    assert!(ok > 800, "no green cells on the screenshot ({ok} pixels)");
    assert!(arrow > 50, "no red arrow on the topology ({arrow} pixels)");
    assert!(node_border > 100, "no nodes drawn ({node_border} pixels)");
    // The observed reachability: the pairs that got through as expected, as green arrows.
    assert!(dom.contains("stroke=\"#16a34a\""), "no pair observed to reach is drawn");
    assert!(reached > 30, "no green arrow on the topology ({reached} pixels)");
}

#[test]
fn the_browser_check_sees_console_errors() {
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("bad.html");
    std::fs::write(&page, "<!DOCTYPE html><html><body><script>undefinedFunction();</script></body></html>").unwrap();
    let (_, console) = chromium(&page, &dir.path().join("shot.png"));
    assert!(console.iter().any(|l| l.contains("undefinedFunction")), "{console:?}");
}
