//! The consumers of `junit.xml`, asked directly: xmllint against the Jenkins schema (`schemas/jenkins-junit-10.xsd`,
//! vendored) and junitparser (the Python library many CI tools build on), plus what GitLab's parser reads (a
//! failure's body text, `[[ATTACHMENT|…]]` in `system-out`). Both tools come from `.ci/run`; a test that needs
//! them fails (never passes quietly) where they are missing.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// What junitparser counted in one `<testsuite>`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct Counted {
    pub name: String,
    pub tests: usize,
    pub failures: usize,
    pub errors: usize,
    pub skipped: usize,
}

fn xsd() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/schemas/jenkins-junit-10.xsd")
}

const PARSE: &str = r#"
import json, sys
from junitparser import JUnitXml, Failure, Error, Skipped
xml = JUnitXml.fromfile(sys.argv[1])
out = []
problems = []
for s in xml:
    c = {"name": s.name, "tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for case in s:
        c["tests"] += 1
        if case.time is None:
            problems.append(f"{s.name}/{case.name}: no time")
        for r in case.result:
            key = {Failure: "failures", Error: "errors", Skipped: "skipped"}[type(r)]
            c[key] += 1
            if key != "skipped" and not (r.message and (r.text or "").strip()):
                problems.append(f"{s.name}/{case.name}: {key[:-1]} without message and text")
    declared = (s.tests, s.failures, s.errors, s.skipped)
    counted = (c["tests"], c["failures"], c["errors"], c["skipped"])
    if declared != counted:
        problems.append(f"{s.name}: declares {declared}, holds {counted}")
    out.append(c)
print(json.dumps({"suites": out, "problems": problems}))
"#;

/// Validates `path` with xmllint against the Jenkins schema and parses it with junitparser; panics with what
/// either said. Returns junitparser's counts per testsuite.
pub fn check_junit(path: &Path) -> Vec<Counted> {
    if let Some(e) = schema_errors(path) {
        panic!("{} is not valid against the Jenkins junit-10.xsd:\n{e}", path.display());
    }
    let out = Command::new("python3")
        .args(["-c", PARSE])
        .arg(path)
        .output()
        .unwrap_or_else(|e| panic!("python3 (for junitparser, installed by .ci/run) could not run: {e}"));
    assert!(
        out.status.success(),
        "junitparser could not read {} (pip install junitparser):\n{}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    #[derive(serde::Deserialize)]
    struct Parsed {
        suites: Vec<Counted>,
        problems: Vec<String>,
    }
    let parsed: Parsed = serde_json::from_slice(&out.stdout).expect("the parse script prints JSON");
    assert!(parsed.problems.is_empty(), "{}: {:#?}", path.display(), parsed.problems);
    parsed.suites
}

/// What xmllint says is wrong with `path` against the Jenkins schema, or `None` when it is valid.
pub fn schema_errors(path: &Path) -> Option<String> {
    let out = Command::new("xmllint")
        .args(["--noout", "--schema"])
        .arg(xsd())
        .arg(path)
        .output()
        .unwrap_or_else(|e| panic!("xmllint (Debian libxml2-utils, installed by .ci/run) could not run: {e}"));
    (!out.status.success()).then(|| String::from_utf8_lossy(&out.stderr).into_owned())
}

/// [`check_junit`] on text (written to a temporary file).
pub fn check_junit_text(xml: &str) -> Vec<Counted> {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("junit.xml");
    std::fs::write(&p, xml).unwrap();
    check_junit(&p)
}

/// Checks a run's `junit.xml` beside its `report.json`: valid, parsed, and counting exactly what the report
/// counts, suite by suite; every pcap attachment is a path relative to the report directory that exists there.
pub fn check_run_reports(dir: &Path) {
    let junit = dir.join("junit.xml");
    let counted = check_junit(&junit);
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap()).unwrap();
    let suites = report["suites"].as_array().unwrap();
    assert_eq!(counted.len(), suites.len());
    for (c, s) in counted.iter().zip(suites) {
        let n = |v: &str| s["checks"].as_array().unwrap().iter().filter(|c| c["verdict"] == v).count();
        assert_eq!(c.name, s["name"].as_str().unwrap());
        assert_eq!(
            (c.tests, c.failures, c.errors, c.skipped),
            (s["checks"].as_array().unwrap().len(), n("fail"), n("error"), n("skipped")),
            "{}: junit.xml and report.json disagree",
            c.name
        );
    }
    let total = |k: &str| counted.iter().map(|c| c.tests_of(k)).sum::<usize>() as u64;
    for k in ["failed", "errors", "skipped"] {
        assert_eq!(Some(total(k)), report[k].as_u64(), "{k}");
    }
    let text = std::fs::read_to_string(&junit).unwrap();
    for a in text.split("[[ATTACHMENT|").skip(1) {
        let path = &a[..a.find("]]").expect("attachment closed")];
        assert!(Path::new(path).is_relative(), "attachment {path} is not relative to the report directory");
        assert!(dir.join(path).exists(), "attachment {path} is not in {}", dir.display());
    }
}

impl Counted {
    fn tests_of(&self, report_key: &str) -> usize {
        match report_key {
            "failed" => self.failures,
            "errors" => self.errors,
            "skipped" => self.skipped,
            _ => self.tests,
        }
    }
}

/// Checks every submission's `junit.xml` under a grading report directory against its `report.json`: valid,
/// parsed, counting what the grade holds (a submission not graded: every case an error).
pub fn check_grade_reports(dir: &Path) {
    for e in std::fs::read_dir(dir).unwrap().flatten().filter(|e| e.path().join("junit.xml").exists()) {
        let counted = check_junit(&e.path().join("junit.xml"));
        let g: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(e.path().join("report.json")).unwrap()).unwrap();
        let checks = g["checks"].as_array().unwrap();
        let n = |v: &str| checks.iter().filter(|c| c["status"] == v).count();
        // `status` is `{"status": "graded"}` or `{"status": "error", "reason": …}` (an internally tagged enum).
        let status = g["status"].get("status").unwrap_or(&g["status"]);
        let graded = status == "graded" && n("error") == 0;
        let want = if graded {
            (checks.len(), n("fail"), 0, n("skipped"))
        } else {
            (checks.len().max(1), 0, checks.len().max(1), 0)
        };
        let c = &counted[0];
        assert_eq!((c.tests, c.failures, c.errors, c.skipped), want, "{}", e.path().display());
    }
}
