//! Every LMS format, from one hand-built batch: alice (graded: passes, a failure with a hint, a skip, a check
//! shown after the due date, a hidden check) and a student whose submission hit an infrastructure error.
//! Snapshots pin the output; JSON Schemas transcribed from each consumer's documentation (tests/schemas/) check
//! the shape; grades.csv is parsed back and junit.xml checked for well-formedness.

use reachlab::grade::formats::{classroom, csv, feedback, gradescope, junit, not_graded_reason, prairielearn};
use reachlab::grade::model::{Batch, CheckStatus, GradeStatus, GradedCheck, SubmissionGrade, Visibility};
use serde_json::Value;

#[path = "common/consumers.rs"]
mod consumers;

const HIDDEN_NAME: &str = "prediction secret-q7";
const HIDDEN_OUTPUT: &str = "answer was: server2 never sees the frame";

fn check(name: &str, kind: &str, status: CheckStatus, points: (f64, f64), visibility: Visibility) -> GradedCheck {
    GradedCheck {
        name: name.into(),
        kind: kind.into(),
        score: points.0,
        max_score: points.1,
        status,
        visibility,
        output: String::new(),
        hint: None,
        not_scored: None,
        duration_ms: None,
    }
}

fn alice() -> SubmissionGrade {
    use CheckStatus::*;
    use Visibility::*;
    let mut pass = check("icmp alpine1 -> alpine2", "icmp", Pass, (2.0, 2.0), Visible);
    pass.output = "echo reply from 192.168.56.131 in 0.1 ms".into();
    let mut fail = check("icmp alpine1 -> server1", "icmp", Fail, (0.0, 3.0), Visible);
    fail.output = "expected unreachable, observed reachable: echo reply from 192.168.56.3 in 0.2 ms\n\
                   | route | via ``` enp0s3 |"
        .into();
    fail.hint = Some("macvlan children never reach their parent's host: check `parent = \"enp0s3\"`".into());
    let mut late = check("udp server2 -> server1:2020", "udp", Pass, (2.0, 2.0), AfterDueDate);
    late.output = "delivered: token received by the listener on server1".into();
    let mut skipped = check("capture port-2020-on-enp0s3", "capture", Skipped, (0.0, 1.0), Visible);
    skipped.output = "tcpdump is not installed on this machine".into();
    let mut hidden = check(HIDDEN_NAME, "prediction", Pass, (2.0, 2.0), Hidden);
    hidden.output = HIDDEN_OUTPUT.into();
    SubmissionGrade {
        student: "alice".into(),
        suite: "test3-macvlan".into(),
        suite_version: "sha256:3f2a9c".into(),
        submission_version: "sha256:a11ce0".into(),
        status: GradeStatus::Graded,
        score: 6.0,
        max_score: 10.0,
        checks: vec![pass, fail, late, skipped, hidden],
        output: "$ docker network create -d macvlan ...\nnetwork created\n".into(),
        duration_ms: 2140,
        phases: Vec::new(),
        setup_ended: None,
        matrices: Vec::new(),
    }
}

/// The name has a comma and quotes, to exercise CSV quoting.
const ERROR_STUDENT: &str = "o'neil, pat \"p\"";
const ERROR_REASON: &str = "dockerd did not become ready in server1's namespace within 30 s";

fn errored() -> SubmissionGrade {
    let mut checks: Vec<GradedCheck> = alice().checks;
    for c in &mut checks {
        c.status = CheckStatus::Error;
        c.score = 0.0;
        c.output = "not run: the lab could not be built".into();
        c.hint = None;
    }
    SubmissionGrade {
        student: ERROR_STUDENT.into(),
        suite: "test3-macvlan".into(),
        suite_version: "sha256:3f2a9c".into(),
        submission_version: "sha256:0e11e1".into(),
        status: GradeStatus::Error { reason: ERROR_REASON.into() },
        score: 0.0,
        max_score: 10.0,
        checks,
        output: "Cannot connect to the Docker daemon\n".into(),
        duration_ms: 30012,
        phases: Vec::new(),
        setup_ended: None,
        matrices: Vec::new(),
    }
}

fn batch() -> Batch {
    // Deliberately not sorted: grades.csv sorts by student itself.
    Batch {
        suite: "test3-macvlan".into(),
        suite_version: "sha256:3f2a9c".into(),
        submissions: vec![errored(), alice()],
    }
}

// ---------------------------------------------------------------- schemas

fn validate(schema_text: &str, instance: &Value) -> Vec<String> {
    let schema: Value = serde_json::from_str(schema_text).expect("schema is JSON");
    let validator = jsonschema::validator_for(&schema).expect("schema compiles");
    validator.iter_errors(instance).map(|e| format!("{} at {}", e, e.instance_path())).collect()
}

fn assert_valid(schema_text: &str, instance: &Value) {
    let errors = validate(schema_text, instance);
    assert!(errors.is_empty(), "{errors:#?}\n{instance:#}");
}

const GRADESCOPE: &str = include_str!("schemas/gradescope-results.schema.json");
const GRADESCOPE_SCORED: &str = include_str!("schemas/gradescope-scored.schema.json");
const CLASSROOM: &str = include_str!("schemas/classroom-result.schema.json");
const PRAIRIELEARN: &str = include_str!("schemas/prairielearn-results.schema.json");

#[test]
fn gradescope_results_follow_the_spec() {
    let graded = gradescope::render(&alice());
    assert_valid(GRADESCOPE, &graded);
    assert_valid(GRADESCOPE_SCORED, &graded);
    assert_eq!(graded["score"], 6.0);
    let tests = graded["tests"].as_array().unwrap();
    assert_eq!(tests.len(), 5, "Gradescope hides hidden tests itself: all are rendered");
    assert_eq!(tests[1]["status"], "failed");
    assert!(tests[1]["output"]
        .as_str()
        .unwrap()
        .ends_with("Hint: macvlan children never reach their parent's host: check `parent = \"enp0s3\"`"));
    assert_eq!(tests[2]["visibility"], "after_due_date");
    assert_eq!(tests[3]["status"], "failed", "a skip is never a pass");
    assert_eq!(tests[4]["visibility"], "hidden");
    // While checks are hidden Gradescope hides the total; the top-level output must not give it away: alice's
    // visible checks are worth 2 + 3 + 1 (of 10), she earned 2 of them.
    let output = graded["output"].as_str().unwrap();
    assert!(output.contains("2 / 6 points from 3 visible checks"), "{output}");
    assert!(!output.contains("/ 10") && !output.contains("6 /") && !output.contains(" 5 "), "{output}");
    assert_eq!(graded["visibility"], "visible", "tests carry their own visibility; the total is Gradescope's to hide");
    let mut shown = alice();
    shown.checks.retain(|c| c.visibility == Visibility::Visible);
    shown.score = 2.0;
    shown.max_score = 6.0;
    let all = gradescope::render(&shown);
    assert!(all["output"].as_str().unwrap().contains("2 / 6 points from 3 checks (1 failed, 1 skipped)."), "{all}");

    let error = gradescope::render(&errored());
    assert_valid(GRADESCOPE, &error);
    // No score anywhere: Gradescope cannot record one (and treats the run as an autograder failure).
    assert!(!validate(GRADESCOPE_SCORED, &error).is_empty(), "{error:#}");
    assert!(error["output"].as_str().unwrap().contains("rerun"));
    assert_eq!(error["extra_data"]["reason"], ERROR_REASON);
}

#[test]
fn classroom_results_are_what_the_reporter_reads() {
    let graded = classroom::render_json(&alice());
    assert_valid(CLASSROOM, &graded);
    assert_eq!(graded["status"], "fail");
    assert_eq!(graded["max_score"], 10.0);
    assert_eq!(reporter(&graded), (6.0, 6.0), "printed and sent");

    let error = classroom::render_json(&errored());
    assert_valid(CLASSROOM, &error);
    assert_eq!(error["status"], "error");
    // notify-classroom.js skips a runner without max_score: no points recorded.
    assert!(error.get("max_score").is_none());

    for g in [alice(), errored()] {
        let encoded = classroom::render_base64(&g);
        let decoded = String::from_utf8(decode_base64(&encoded)).unwrap();
        assert_eq!(decoded, classroom::render_json(&g).to_string());
    }
}

/// What classroom-resources/autograding-grading-reporter (commit 43c2d9f) makes of one runner's result:
/// (the points it **prints**, `getTestScore` in src/helpers/test-helpers.js: tests passed / tests × max_score;
/// the points it **sends**, src/notify-classroom.js: the sum of the tests' `score`).
fn reporter(result: &serde_json::Value) -> (f64, f64) {
    let tests = result["tests"].as_array().unwrap();
    let max = result["max_score"].as_f64().unwrap_or(0.0);
    let passed = tests.iter().filter(|t| t["status"] == "pass").count() as f64;
    let printed = passed / tests.len() as f64 * max;
    let sent = tests.iter().map(|t| t["score"].as_f64().unwrap_or(0.0)).sum();
    (printed, sent)
}

#[test]
fn the_classroom_reporter_prints_the_score_it_sends() {
    use CheckStatus::*;
    use Visibility::*;
    // Checks of different weights (a prediction is worth half a point), a check worth nothing (given), a
    // hidden one: the reporter weighs every test alike when it prints, so each point unit is one test.
    let mut given = check("rule server1: nat POSTROUTING masquerades 172.17.0.0/16", "rule", Pass, (0.0, 0.0), Visible);
    given.not_scored = Some("given".into());
    let checks = vec![
        check("icmp alpine1 -> alpine2", "icmp", Pass, (1.0, 1.0), Visible),
        check("prediction ping: alpine1 -> alpine2", "prediction", Pass, (0.5, 0.5), Visible),
        check("prediction ping: alpine1 -> alpine3", "prediction", Fail, (0.0, 0.5), Visible),
        given,
        check("icmp alpine2 -> alpine3 by name", "icmp", Fail, (0.0, 2.0), Hidden),
        check("icmp alpine3 -> alpine2 by name", "icmp", Pass, (2.0, 2.0), Hidden),
    ];
    let mut g = alice();
    g.score = checks.iter().map(|c| c.score).sum();
    g.max_score = checks.iter().map(|c| c.max_score).sum();
    g.checks = checks;
    let result = classroom::render_json(&g);
    assert_valid(CLASSROOM, &result);
    let (printed, sent) = reporter(&result);
    assert_eq!((printed, sent), (3.5, 3.5), "{result:#}");
    for g in [alice(), g] {
        let (printed, sent) = reporter(&classroom::render_json(&g));
        assert!((printed - g.score).abs() < 1e-9 && (sent - g.score).abs() < 1e-9, "{printed} {sent} {}", g.score);
    }
    // Nothing of the hidden checks but their points: no names.
    assert!(!result.to_string().contains("by name"), "{result}");
}

#[test]
fn prairielearn_results_follow_the_docs() {
    let graded = prairielearn::render(&alice());
    assert_valid(PRAIRIELEARN, &graded);
    assert_eq!(graded["gradable"], true);
    assert_eq!(graded["score"], 0.6);
    let error = prairielearn::render(&errored());
    assert_valid(PRAIRIELEARN, &error);
    assert_eq!(error["gradable"], false);
    assert!(error["format_errors"][0].as_str().unwrap().contains(ERROR_REASON));
}

#[test]
fn the_schemas_can_fail() {
    // A schema that accepts anything proves nothing: each rejects a plausible mistake.
    let mut g = gradescope::render(&alice());
    g["tests"][0]["status"] = "error".into();
    assert!(!validate(GRADESCOPE, &g).is_empty());
    let mut c = classroom::render_json(&alice());
    c["status"] = "passed".into();
    assert!(!validate(CLASSROOM, &c).is_empty());
    let mut p = prairielearn::render(&alice());
    p["score"] = 6.0.into();
    assert!(!validate(PRAIRIELEARN, &p).is_empty());
    p.as_object_mut().unwrap().remove("score");
    assert!(!validate(PRAIRIELEARN, &p).is_empty(), "a gradable result needs a score");
}

// ---------------------------------------------------------------- csv

/// RFC 4180: CRLF records, quoted fields may hold commas, quotes (doubled) and line breaks.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut rows = vec![];
    let mut row = vec![];
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') if field.is_empty() => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut field)),
            (false, '\r') => {
                assert_eq!(chars.next(), Some('\n'), "CR without LF");
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            (false, '\n') => panic!("bare LF ends a record"),
            (false, c) => field.push(c),
        }
    }
    assert!(!quoted && field.is_empty() && row.is_empty(), "the last record ends with CRLF");
    rows
}

#[test]
fn grades_csv_parses_back() {
    let rows = parse_csv(&csv::render(&batch()));
    assert_eq!(rows[0], csv::COLUMNS);
    assert_eq!(rows.len(), 3);
    assert!(rows.iter().all(|r| r.len() == csv::COLUMNS.len()));
    assert_eq!(
        rows[1],
        ["alice", "test3-macvlan", "sha256:3f2a9c", "graded", "6", "10", "60", "icmp alpine1 -> server1", ""]
    );
    assert_eq!(rows[2], [ERROR_STUDENT, "test3-macvlan", "sha256:3f2a9c", "error", "", "10", "", "", ERROR_REASON]);
}

// ---------------------------------------------------------------- junit

/// Well-formedness, minimally: every element closes in order, attributes are quoted, text holds no raw `<`
/// or stray `&`.
fn assert_well_formed(xml: &str) {
    let body = xml.strip_prefix("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n").expect("XML declaration");
    let mut stack: Vec<String> = vec![];
    let mut rest = body;
    let mut roots = 0;
    while let Some(open) = rest.find('<') {
        check_text(&rest[..open]);
        let close = rest[open..].find('>').expect("unterminated tag") + open;
        let tag = &rest[open + 1..close];
        rest = &rest[close + 1..];
        if let Some(name) = tag.strip_prefix('/') {
            assert_eq!(stack.pop().as_deref(), Some(name), "mismatched </{name}>");
            continue;
        }
        let self_closing = tag.ends_with('/');
        let tag = tag.trim_end_matches('/');
        let name = tag.split_whitespace().next().expect("tag name").to_string();
        assert_eq!(tag[name.len()..].matches('"').count() % 2, 0, "unbalanced quotes in <{tag}>");
        check_text(&tag[name.len()..].replace("=\"", "\""));
        if stack.is_empty() {
            roots += 1;
        }
        if !self_closing {
            stack.push(name);
        }
    }
    check_text(rest);
    assert!(stack.is_empty(), "unclosed: {stack:?}");
    assert_eq!(roots, 1, "one root element");
}

fn check_text(text: &str) {
    assert!(!text.contains('<'), "raw < in {text:?}");
    for (i, _) in text.match_indices('&') {
        let entity = &text[i..text[i..].find(';').map_or(text.len(), |e| i + e + 1)];
        assert!(
            ["&amp;", "&lt;", "&gt;", "&quot;", "&apos;"].contains(&entity) || entity.starts_with("&#"),
            "stray & in {text:?}"
        );
    }
}

#[test]
fn junit_is_well_formed_and_carries_points() {
    let graded = junit::render(&alice());
    assert_well_formed(&graded);
    assert!(graded.contains(r#"<testsuite name="alice" tests="5" failures="1" errors="0" skipped="1""#), "{graded}");
    assert!(graded.contains(r#"<property name="score" value="6"/>"#));
    assert!(graded.contains(r#"<testcase name="icmp alpine1 -&gt; server1" classname="test3-macvlan" time="0.000">"#));
    assert!(graded.contains("Hint: macvlan children never reach"));
    assert!(graded.contains("score: 0 / 3"), "each check's points are in its system-out: {graded}");

    let error = junit::render(&errored());
    assert_well_formed(&error);
    assert!(error.contains(r#"failures="0" errors="5""#), "every testcase is an <error>: {error}");
    assert_eq!(error.matches(r#"type="infrastructure">"#).count(), 5);
}

#[test]
fn junit_satisfies_jenkins_and_junitparser() {
    let counted = consumers::check_junit_text(&junit::render(&alice()));
    assert_eq!(
        counted.iter().map(|c| (c.name.as_str(), c.tests, c.failures, c.errors, c.skipped)).collect::<Vec<_>>(),
        vec![("alice", 5, 1, 0, 1)]
    );
    let counted = consumers::check_junit_text(&junit::render(&errored()));
    assert_eq!((counted[0].tests, counted[0].errors, counted[0].failures), (5, 5, 0));
    let mut empty = errored();
    empty.checks.clear();
    let counted = consumers::check_junit_text(&junit::render(&empty));
    assert_eq!((counted[0].tests, counted[0].errors), (1, 1), "an ungraded submission with no checks still errors");
}

// ---------------------------------------------------------------- cross-format rules

/// Every format of one submission, as text.
fn all_formats(g: &SubmissionGrade) -> Vec<(&'static str, String)> {
    vec![
        ("gradescope", gradescope::render(g).to_string()),
        ("classroom", classroom::render_json(g).to_string()),
        ("classroom-base64", classroom::render_base64(g)),
        ("prairielearn", prairielearn::render(g).to_string()),
        ("feedback", feedback::render(g)),
        ("feedback-instructor", feedback::render_instructor(g)),
        ("junit", junit::render(g)),
        (
            "csv",
            csv::render(&Batch {
                suite: g.suite.clone(),
                suite_version: g.suite_version.clone(),
                submissions: vec![g.clone()],
            }),
        ),
    ]
}

fn keys_named(v: &Value, names: &[&str], found: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                if names.contains(&k.as_str()) {
                    found.push(format!("{k}: {v}"));
                }
                keys_named(v, names, found);
            }
        }
        Value::Array(a) => a.iter().for_each(|v| keys_named(v, names, found)),
        _ => {}
    }
}

#[test]
fn an_error_is_never_a_zero() {
    let g = errored();
    assert!(not_graded_reason(&g).is_some());
    // The JSON formats carry no earned-points field at all.
    for (name, v) in [
        ("gradescope", gradescope::render(&g)),
        ("classroom", classroom::render_json(&g)),
        ("prairielearn", prairielearn::render(&g)),
    ] {
        let mut found = vec![];
        keys_named(&v, &["score", "points"], &mut found);
        assert!(found.is_empty(), "{name} renders a score for an error: {found:?}");
    }
    let rows = parse_csv(&csv::render(&batch()));
    let row = rows.iter().find(|r| r[0] == ERROR_STUDENT).unwrap();
    assert_eq!((row[4].as_str(), row[6].as_str()), ("", ""), "score and percent stay empty");
    let student = feedback::render(&g);
    assert!(!student.contains("Score") && !student.contains(" / "), "{student}");
    assert!(student.contains("will rerun it"));
    assert!(!junit::render(&g).contains(r#"name="score""#));
}

#[test]
fn a_graded_submission_with_an_error_check_is_not_graded() {
    // The model says an unobservable check makes the whole submission an error; renderers hold to it even
    // when the grade says Graded.
    let mut g = alice();
    g.checks[0].status = CheckStatus::Error;
    assert!(gradescope::render(&g).get("score").is_none());
    assert_eq!(prairielearn::render(&g)["gradable"], false);
    assert_eq!(classroom::render_json(&g)["status"], "error");
}

#[test]
fn hidden_checks_stay_hidden_from_students() {
    let g = alice();
    for (name, text) in [
        ("feedback", feedback::render(&g)),
        ("classroom", classroom::render_json(&g).to_string()),
        ("prairielearn", prairielearn::render(&g).to_string()),
    ] {
        assert!(!text.contains(HIDDEN_NAME) && !text.contains(HIDDEN_OUTPUT), "{name} shows a hidden check:\n{text}");
    }
    assert!(feedback::render(&g).contains("1 hidden check was not shown"));
    // The instructor sees it.
    assert!(feedback::render_instructor(&g).contains(HIDDEN_NAME));
}

#[test]
fn output_is_deterministic() {
    for g in [alice(), errored()] {
        assert_eq!(all_formats(&g), all_formats(&g.clone()));
    }
    assert_eq!(csv::render(&batch()), csv::render(&batch()));
}

// ---------------------------------------------------------------- snapshots

#[test]
fn snapshots() {
    let (a, e) = (alice(), errored());
    insta::assert_snapshot!("grades_csv", csv::render(&batch()));
    insta::assert_json_snapshot!("gradescope_graded", gradescope::render(&a));
    insta::assert_json_snapshot!("gradescope_error", gradescope::render(&e));
    insta::assert_json_snapshot!("classroom_graded", classroom::render_json(&a));
    insta::assert_json_snapshot!("classroom_error", classroom::render_json(&e));
    insta::assert_snapshot!("classroom_error_base64", classroom::render_base64(&e));
    insta::assert_json_snapshot!("prairielearn_graded", prairielearn::render(&a));
    insta::assert_json_snapshot!("prairielearn_error", prairielearn::render(&e));
    insta::assert_snapshot!("feedback_graded", feedback::render(&a));
    insta::assert_snapshot!("feedback_error", feedback::render(&e));
    insta::assert_snapshot!("feedback_instructor_graded", feedback::render_instructor(&a));
    insta::assert_snapshot!("feedback_instructor_error", feedback::render_instructor(&e));
    insta::assert_snapshot!("junit_graded", junit::render(&a));
    insta::assert_snapshot!("junit_error", junit::render(&e));
}

// ---------------------------------------------------------------- helpers

fn decode_base64(s: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    assert_eq!(s.len() % 4, 0, "padded");
    let mut out = vec![];
    for quad in s.as_bytes().chunks(4) {
        let mut n = 0u32;
        let mut len = 0;
        for (i, &b) in quad.iter().enumerate() {
            let v = if b == b'=' { 0 } else { ALPHABET.iter().position(|&a| a == b).expect("base64 digit") as u32 };
            if b != b'=' {
                len = i;
            }
            n |= v << (18 - 6 * i);
        }
        out.extend_from_slice(&n.to_be_bytes()[1..1 + len]);
    }
    out
}

// ---------------------------------------------------------------- the grading reporters

/// The grading reporters are fed the same events as every other reporter; what they write is what the renderers
/// render, the per-submission junit.xml adds when and where it was graded (valid for Jenkins and junitparser),
/// and a reused submission is not written again.
#[test]
fn the_grade_files_reporter_writes_what_the_renderers_render() {
    use reachlab::event::{EventKind, Reporters};
    use reachlab::reporters::grading::{Format, GradeFilesReporter, ShardOf};
    let dir = tempfile::tempdir().unwrap();
    let mut events = Reporters::default();
    let files = GradeFilesReporter::new(dir.path().to_path_buf())
        .formats(&[Format::Gradescope, Format::Classroom, Format::Prairielearn])
        .shard(ShardOf { shard: Some([1, 2]), class: 4 });
    events.add(files);
    let (mut a, e) = (alice(), errored());
    a.checks[0].duration_ms = Some(1234);
    let elapsed = std::time::Duration::from_secs(3);
    events.emit(EventKind::SubmissionStarted { student: &a.student });
    events.emit(EventKind::SubmissionGraded { grade: &a, reused: false, elapsed });
    events.emit(EventKind::SubmissionGraded { grade: &e, reused: true, elapsed: std::time::Duration::ZERO });
    let b = batch();
    events.emit(EventKind::GradingFinished { batch: &b, reused: 1 });
    assert!(events.errors().is_empty(), "{:?}", events.errors());
    let read = |p: &str| std::fs::read_to_string(dir.path().join(p)).unwrap();
    let json = |v: Value| serde_json::to_string_pretty(&v).unwrap() + "\n";
    assert_eq!(read("alice/feedback.md"), feedback::render(&a));
    assert_eq!(read("alice/feedback-instructor.md"), feedback::render_instructor(&a));
    assert_eq!(read("alice/results.json"), json(gradescope::render(&a)));
    assert_eq!(read("alice/classroom.json"), json(classroom::render_json(&a)));
    assert_eq!(read("alice/classroom.b64"), classroom::render_base64(&a) + "\n");
    assert_eq!(read("alice/prairielearn.json"), json(prairielearn::render(&a)));
    assert_eq!(read("alice/report.json"), serde_json::to_string_pretty(&a).unwrap() + "\n");
    assert_eq!(read("grades.csv"), csv::render(&b));
    assert!(read("shard.json").contains("\"class\": 4"), "{}", read("shard.json"));
    assert!(!dir.path().join(&e.student).exists(), "a reused submission is not written again");
    let xml = read("alice/junit.xml");
    let timestamp = xml.split("timestamp=\"").nth(1).and_then(|t| t.split('"').next()).unwrap_or_default();
    assert_eq!(timestamp.len(), "2024-05-06T12:53:20Z".len(), "the testsuite says when grading started: {xml}");
    assert!(xml.contains(" hostname=\""), "and where: {xml}");
    assert!(xml.contains(r#"classname="test3-macvlan" time="1.234">"#), "a probed check says how long it took: {xml}");
    // Without the time and host, the same text as the pure renderer.
    let strip = |x: &str| {
        let mut x = x.replace(&format!(" timestamp=\"{timestamp}\""), "");
        if let Some(h) = x.split(" hostname=\"").nth(1).and_then(|h| h.split('"').next()).map(str::to_string) {
            x = x.replace(&format!(" hostname=\"{h}\""), "");
        }
        x
    };
    assert_eq!(strip(&xml), junit::render(&a));
    let counted = consumers::check_junit(&dir.path().join("alice/junit.xml"));
    assert_eq!((counted[0].tests, counted[0].failures, counted[0].skipped), (5, 1, 1));
}
