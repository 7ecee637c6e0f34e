//! Scoring (pure): judged checks, missing endpoints and predictions → a [`SubmissionGrade`].

use super::model::{CheckStatus, GradeStatus, GradedCheck, SubmissionGrade, Visibility};
use crate::check::{Action, CheckResult, Verdict};
use crate::suite::{Cell, Scoring, Suite};
use std::collections::{BTreeMap, BTreeSet};

/// A student's predicted matrices (`answers.toml`): matrix name → grid of expected cells, by (row, column).
pub type Predictions = BTreeMap<String, BTreeMap<(String, String), char>>;

/// Parses `answers.toml`: `[[matrix]]` tables with `name` (a matrix of the suite) and `expect` (a grid).
pub fn parse_answers(text: &str) -> Result<Predictions, String> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Answers {
        #[serde(default)]
        matrix: Vec<Answer>,
    }
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Answer {
        name: String,
        expect: String,
    }
    let answers: Answers = toml::from_str(text).map_err(|e| format!("answers.toml: {}", e.message()))?;
    let mut out = Predictions::new();
    for a in answers.matrix {
        let grid =
            crate::suite::matrix::parse(&a.expect).map_err(|e| format!("answers.toml, matrix `{}`: {e}", a.name))?;
        let cells = out.entry(a.name).or_default();
        for row in &grid.rows {
            for ((cell, _), col) in row.cells.iter().zip(&grid.columns) {
                if *cell != Cell::Unchecked {
                    cells.insert((row.name.text.clone(), col.text.clone()), cell.symbol());
                }
            }
        }
    }
    Ok(out)
}

/// How a check counts (its matrix's, capture's or rule's scoring) and its hint, if any.
pub fn scoring_of<'a>(suite: &'a Suite, check: &crate::check::Check) -> (&'a Scoring, Option<&'a String>) {
    match (&check.action, check.cell) {
        (_, Some(c)) => {
            let m = &suite.matrices[c.matrix];
            (&m.scoring, m.hints.get(&(check.from.clone(), check.to.clone())))
        }
        (Action::Capture { capture, .. }, None) => {
            (&suite.captures[*capture].scoring, suite.captures[*capture].hint.as_ref())
        }
        (Action::Masquerade { subnet }, None) => {
            let nat = suite.nats.iter().find(|n| n.node == check.from && n.masquerade == *subnet);
            nat.map_or((&NO_SCORING, None), |n| (&n.scoring, n.hint.as_ref()))
        }
        (Action::InterfaceFlags { interface, .. }, None) => {
            let i = suite.interfaces.iter().find(|i| i.node == check.from && i.name == *interface);
            i.map_or((&NO_SCORING, None), |i| (&i.scoring, i.hint.as_ref()))
        }
        (_, None) => (&NO_SCORING, None),
    }
}

static NO_SCORING: Scoring = Scoring { points: None, hidden: false, given: false };

/// What a student reads for one check: observed words and the topology's reason, never timings (scores and
/// texts are identical across runs; the time a check took is its own field).
fn output(r: &CheckResult) -> String {
    // The reasons the lab gives, after the words (`… — why: REASON; REASON`), from the typed field.
    let why = crate::reason::joined("", &r.why);
    if let Some(crate::check::Outcome::NotApplicable { reason }) = &r.observed {
        return format!("{}: not applicable — {reason}", r.check.expected.label);
    }
    // Capture counts vary with timing (how many attempts went out before the first reply): grades say only
    // whether the assertion held.
    if let Some(crate::check::Outcome::Assertion { holds, .. }) = &r.observed {
        use crate::check::CheckKind;
        if matches!(r.check.kind, CheckKind::Capture | CheckKind::Rule | CheckKind::Interface) {
            let verb = if *holds { "holds" } else { "does not hold" };
            return format!("{}: {verb}{why}", r.check.expected.label);
        }
    }
    let observed = r.observed.as_ref().map(|o| o.label()).unwrap_or_else(|| "nothing".into());
    match r.verdict {
        Verdict::Pass => format!("observed {observed}, as expected"),
        Verdict::Fail => {
            let mut out = format!("expected {}, observed {observed}{why}", r.check.expected.label);
            // Where its packets went (the path probe after the matrix), and what that says of each reason.
            if let Some(path) = &r.path {
                out.push_str(&format!("\nwhere its packets went: {}", path.line));
                for t in &path.reasons {
                    out.push_str(&format!("\nthe reason, tested on that path: {} — {}", t.status.as_str(), t.evidence));
                }
            }
            out
        }
        Verdict::Error | Verdict::Skipped => r.detail.clone(),
    }
}

/// Identity of a graded submission.
pub struct Identity<'a> {
    /// Student (directory name).
    pub student: &'a str,
    /// Suite version (content hash).
    pub suite_version: &'a str,
    /// Submission version (content hash).
    pub submission_version: &'a str,
}

/// Why a check scores nothing, if it does not: the suite marks it as given, or calibration found it passes in
/// the bare environment (`holes`, by check name).
pub fn not_scored(scoring: &Scoring, name: &str, holes: &BTreeSet<String>) -> Option<String> {
    if scoring.given {
        Some("given: the environment provides it (the suite marks it so); shown, not scored".into())
    } else if holes.contains(name) {
        Some(GRADES_NOTHING.into())
    } else {
        None
    }
}

/// What calibration says of a scored check that the empty submission passes.
pub const GRADES_NOTHING: &str = "grades nothing: passes without any submission (its points are not awarded)";

/// Scores a judged submission. An infrastructure error anywhere grades nothing: the status says to rerun.
/// `holes` are the checks calibration found passing without any submission: they award no points.
#[allow(clippy::too_many_arguments)]
pub fn score(
    suite: &Suite,
    results: &[CheckResult],
    predictions: Option<&Predictions>,
    infra: &[String],
    id: &Identity,
    output_text: &str,
    holes: &BTreeSet<String>,
) -> SubmissionGrade {
    let default_points = suite.grading.map_or(1.0, |g| g.points);
    let mut checks = Vec::new();
    for r in results {
        let (scoring, hint) = scoring_of(suite, &r.check);
        let not_scored = not_scored(scoring, &r.check.name, holes);
        let max = if not_scored.is_some() { 0.0 } else { scoring.points.unwrap_or(default_points) };
        let status = match r.verdict {
            Verdict::Pass => CheckStatus::Pass,
            Verdict::Fail => CheckStatus::Fail,
            Verdict::Error => CheckStatus::Error,
            Verdict::Skipped => CheckStatus::Skipped,
        };
        checks.push(GradedCheck {
            name: r.check.name.clone(),
            kind: r.check.kind.as_str().into(),
            score: if status == CheckStatus::Pass { max } else { 0.0 },
            max_score: max,
            status,
            visibility: if scoring.hidden { Visibility::Hidden } else { Visibility::Visible },
            output: output(r),
            hint: (status == CheckStatus::Fail).then(|| hint.cloned()).flatten(),
            not_scored,
            duration_ms: None,
        });
    }
    let per_prediction = suite.grading.map_or(0.0, |g| g.prediction_points);
    if per_prediction > 0.0 {
        checks.extend(prediction_checks(suite, results, predictions, per_prediction));
    }
    // The first cause is the reason: checks that could not run because the lab never stood add nothing.
    let errors: Vec<String> = if infra.is_empty() {
        checks.iter().filter(|c| c.status == CheckStatus::Error).map(|c| format!("{}: {}", c.name, c.output)).collect()
    } else {
        infra.to_vec()
    };
    let status = if errors.is_empty() { GradeStatus::Graded } else { GradeStatus::Error { reason: errors.join("; ") } };
    let graded = status == GradeStatus::Graded;
    SubmissionGrade {
        student: id.student.into(),
        suite: suite.name.clone(),
        suite_version: id.suite_version.into(),
        submission_version: id.submission_version.into(),
        score: if graded { checks.iter().map(|c| c.score).sum() } else { 0.0 },
        max_score: checks.iter().map(|c| c.max_score).sum(),
        status,
        checks,
        output: output_text.into(),
        duration_ms: 0,
        phases: Vec::new(),
        setup_ended: None,
        matrices: Vec::new(),
    }
}

/// One check per predicted cell; without predictions (no `answers.toml`, or one that does not parse), one line
/// per visibility saying so, not a failure per cell.
fn prediction_checks(
    suite: &Suite,
    results: &[CheckResult],
    predictions: Option<&Predictions>,
    per_prediction: f64,
) -> Vec<GradedCheck> {
    let cells: Vec<&CheckResult> =
        results.iter().filter(|r| r.verdict != Verdict::Error && r.check.cell.is_some()).collect();
    let hidden_of = |r: &CheckResult| r.check.cell.is_some_and(|c| suite.matrices[c.matrix].scoring.hidden);
    let Some(predictions) = predictions else {
        let mut out = Vec::new();
        for (hidden, visibility) in [(false, Visibility::Visible), (true, Visibility::Hidden)] {
            let n = cells.iter().filter(|r| hidden_of(r) == hidden).count();
            if n == 0 {
                continue;
            }
            let max = n as f64 * per_prediction;
            let what = if hidden { "hidden predictions" } else { "predictions" };
            out.push(GradedCheck {
                name: what.into(),
                kind: "prediction".into(),
                score: 0.0,
                max_score: max,
                status: CheckStatus::Fail,
                visibility,
                output: format!(
                    "no predictions submitted: 0 of {} points (add answers.toml with your predicted matrices)",
                    super::formats::points(max)
                ),
                hint: None,
                not_scored: None,
                duration_ms: None,
            });
        }
        return out;
    };
    cells
        .into_iter()
        .map(|r| {
            let m = &suite.matrices[r.check.cell.expect("cells only").matrix];
            let predicted = predictions.get(&m.name).and_then(|g| g.get(&(r.check.from.clone(), r.check.to.clone())));
            let observed = r.observed.as_ref().map(|o| o.symbol());
            let right = predicted.is_some() && predicted.copied() == observed;
            let said = predicted.map_or("no prediction".to_string(), |p| format!("predicted {p}"));
            GradedCheck {
                name: format!("prediction {}: {} -> {}", m.name, r.check.from, r.check.to),
                kind: "prediction".into(),
                score: if right { per_prediction } else { 0.0 },
                max_score: per_prediction,
                status: if right { CheckStatus::Pass } else { CheckStatus::Fail },
                visibility: if m.scoring.hidden { Visibility::Hidden } else { Visibility::Visible },
                output: format!("{said}, observed {}", observed.map_or("nothing".to_string(), |o| o.to_string())),
                hint: None,
                not_scored: None,
                duration_ms: None,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_student_reads_the_reasons_from_the_typed_field() {
        use crate::check::{Action, Check, CheckKind, Expected, Observation, Outcome};
        use crate::reason::Why;
        let to = crate::suite::Endpoint { node: "alpine3".into(), via: None };
        let check = Check {
            id: 0,
            name: "icmp alpine1 -> alpine3".into(),
            kind: CheckKind::Icmp,
            cell: None,
            from: "alpine1".into(),
            to: to.to_string(),
            action: Action::Icmp { to, by_name: false },
            target: None,
            expected: Expected::one(Outcome::Reachable),
            settings: Default::default(),
        };
        let why = Why::NoSharedNetwork {
            from: ("alpine1".into(), vec!["bridge".into()]),
            to: ("alpine3".into(), vec!["alpine-net".into()]),
        };
        let seen = match Observation::seen(Outcome::Unreachable, "no echo reply") {
            Observation::Observed { outcome, detail, target, artifacts, dropped, sent, .. } => {
                Observation::Observed { outcome, detail, target, artifacts, dropped, why: vec![why], sent }
            }
            other => other,
        };
        let observed = std::collections::HashMap::from([(0, seen)]);
        let r = &crate::judge::judge(std::slice::from_ref(&check), &observed, None)[0];
        assert_eq!(r.detail, "expected reachable, observed unreachable: no echo reply", "the detail holds no reasons");
        assert_eq!(
            output(r),
            "expected reachable, observed unreachable — why: alpine1 (bridge) and alpine3 (alpine-net) share no Docker network: Docker isolates bridge networks from each other"
        );
    }

    #[test]
    fn answers_parse_into_cells() {
        let p =
            parse_answers("[[matrix]]\nname = \"ping\"\nexpect = \"\"\"\n   a b\na  - Y\nb  N -\n\"\"\"\n").unwrap();
        assert_eq!(p["ping"][&("a".to_string(), "b".to_string())], 'Y');
        assert_eq!(p["ping"][&("b".to_string(), "a".to_string())], 'N');
        assert!(parse_answers("[[matrix]]\nname = \"x\"\nexpect = \"a\\na X\"").is_err());
        assert!(parse_answers("[[matrix]]\nnam = \"x\"").unwrap_err().contains("answers.toml"));
    }
}
