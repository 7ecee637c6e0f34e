//! GitHub Classroom: a grading step's `result` output, as `classroom-resources/autograding-grading-reporter`
//! reads it.
//!
//! The shape is the one the official runners emit (`autograding-io-grader`, `autograding-command-grader`,
//! `autograding-python-grader`): base64 of the JSON
//! `{"version":1,"status":"pass"|"fail"|"error","max_score":N,"tests":[{"name","status","score","message",
//! "test_code","filename","line_no"}]}`. The reporter reads `RUNNER_RESULTS` (this base64) for each runner id,
//! prints every test's name and, when not passed, its `message`; it sums the tests' `score` against the
//! top-level `max_score` of every runner whose `max_score` is non-zero and posts "Points X/Y" to the
//! check run that GitHub Classroom records. So:
//!
//! - a graded submission: the reporter **prints** a runner's points as (tests passed / tests) × `max_score`
//!   (`getTestScore` in `src/helpers/test-helpers.js`) but **sends** the sum of the tests' `score`
//!   (`src/notify-classroom.js`, commit 43c2d9f). The two agree only when every test weighs the same, so each
//!   check is emitted as equal units of the grade's common unit of points (the largest that divides every
//!   check's points: 0.5 for a check of 1 point and a prediction of 0.5 gives a check of 2 units, `name (1/2)`,
//!   `name (2/2)`), each unit passed or failed with its check; checks worth no points (given by the environment,
//!   or voided by calibration) are left out. The job log is readable by the student, so hidden checks are folded
//!   into units of `hidden checks`, passed as many as their points earned, and nothing else.
//! - a submission that was not graded: `status: "error"`, one test with `status: "error"` and the reason, and
//!   **no `max_score` and no `score`** — the reporter skips runners without `max_score`, so no points (and no
//!   zero) are recorded, and the job fails with "Some tests errored."
//!
//! The runners also emit a per-test `duration`; we have no per-check time, so it is left out (the reporter
//! does not read it).

use super::{not_graded_reason, output_with_hint, NOT_GRADED};
use crate::grade::model::{CheckStatus, GradedCheck, SubmissionGrade, Visibility};
use serde_json::{json, Value};

/// The result JSON for `grade`, before encoding.
pub fn render_json(grade: &SubmissionGrade) -> Value {
    if let Some(reason) = not_graded_reason(grade) {
        let message = format!("{NOT_GRADED} Reason: {reason}");
        return json!({
            "version": 1,
            "status": "error",
            "message": message,
            "tests": [{
                "name": format!("{} (not graded)", grade.suite),
                "status": "error",
                "message": message,
                "test_code": format!("reachlab grade {}", grade.suite),
                "filename": "",
                "line_no": 0,
            }],
        });
    }
    let scored: Vec<&GradedCheck> = grade.checks.iter().filter(|c| c.max_score > 0.0).collect();
    let unit = common_unit(scored.iter().map(|c| c.max_score));
    let units = |x: f64| (x / unit).round() as usize;
    let mut tests: Vec<Value> = Vec::new();
    for c in scored.iter().filter(|c| c.visibility != Visibility::Hidden) {
        let n = units(c.max_score);
        for k in 1..=n {
            let name = if n == 1 { c.name.clone() } else { format!("{} ({k}/{n})", c.name) };
            tests.push(test(c, name, unit));
        }
    }
    let hidden: Vec<&&GradedCheck> = scored.iter().filter(|c| c.visibility == Visibility::Hidden).collect();
    let (earned, possible) =
        (units(hidden.iter().map(|c| c.score).sum::<f64>()), units(hidden.iter().map(|c| c.max_score).sum::<f64>()));
    for k in 1..=possible {
        tests.push(json!({
            "name": format!("hidden checks ({k}/{possible})"),
            "status": if k <= earned { "pass" } else { "fail" },
            "score": if k <= earned { unit } else { 0.0 },
            "message": "Hidden checks are not shown; their points count.",
            "test_code": "hidden",
            "filename": "",
            "line_no": 0,
        }));
    }
    let all_passed = grade.checks.iter().all(|c| c.status == CheckStatus::Pass);
    json!({
        "version": 1,
        "status": if all_passed { "pass" } else { "fail" },
        "max_score": grade.max_score,
        "tests": tests,
    })
}

/// The largest number of points (in hundredths, as grades are written) that divides every check's points.
fn common_unit(points: impl Iterator<Item = f64>) -> f64 {
    fn gcd(a: u64, b: u64) -> u64 {
        if b == 0 {
            a
        } else {
            gcd(b, a % b)
        }
    }
    let g = points.map(|p| (p * 100.0).round() as u64).filter(|&p| p > 0).fold(0, gcd);
    if g == 0 {
        1.0
    } else {
        g as f64 / 100.0
    }
}

/// The step's `result` output: [`render_json`] serialized compactly and base64-encoded (standard alphabet,
/// padded — what Node's `Buffer.from(s, "base64")` in the reporter decodes).
pub fn render_base64(grade: &SubmissionGrade) -> String {
    base64(render_json(grade).to_string().as_bytes())
}

/// One unit (`unit` points) of check `c`, passed when the check passed.
fn test(c: &GradedCheck, name: String, unit: f64) -> Value {
    let (status, message) = match c.status {
        CheckStatus::Pass => ("pass", c.output.clone()),
        // A skip earns nothing and is never shown as a pass.
        CheckStatus::Skipped => ("fail", format!("Skipped (no points): {}", c.output)),
        CheckStatus::Fail => ("fail", output_with_hint(&c.output, c.hint.as_deref())),
        // Unreachable: an error check makes the submission not graded.
        CheckStatus::Error => ("error", c.output.clone()),
    };
    json!({
        "name": name,
        "status": status,
        "score": if status == "pass" { unit } else { 0.0 },
        "message": message,
        "test_code": c.kind,
        "filename": "",
        "line_no": 0,
    })
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 (RFC 4648 §4) with `=` padding. Small enough not to need a crate.
pub fn base64(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::base64;

    #[test]
    fn base64_matches_rfc_4648_vectors() {
        for (plain, encoded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(plain.as_bytes()), encoded, "{plain:?}");
        }
    }

    #[test]
    fn base64_uses_the_whole_alphabet() {
        assert_eq!(base64(&[0xfb, 0xff, 0xbf]), "+/+/");
        assert_eq!(base64(&[0, 0x10, 0x83]), "ABCD");
    }
}
