//! Judging: expected + observed → verdicts. Pure.

use crate::check::{Check, CheckResult, Observation, Verdict};
use std::collections::HashMap;

/// Judges every check. `skip` (decided before running) marks all checks skipped; a check without an
/// observation is an error (the probe never reported), never a pass.
pub fn judge(checks: &[Check], observations: &HashMap<usize, Observation>, skip: Option<&str>) -> Vec<CheckResult> {
    checks
        .iter()
        .map(|check| {
            let result = |observed, target, verdict, detail: String, artifacts, dropped| CheckResult {
                check: check.clone(),
                observed,
                target,
                verdict,
                detail,
                artifacts,
                dropped,
                why: Vec::new(),
                path: None,
            };
            match (skip, observations.get(&check.id)) {
                (Some(reason), _) => result(None, check.target, Verdict::Skipped, reason.to_string(), vec![], None),
                (None, None) => {
                    result(None, check.target, Verdict::Error, "the probe did not report".into(), vec![], None)
                }
                (None, Some(Observation::Error { detail, artifacts, dropped })) => {
                    result(None, check.target, Verdict::Error, detail.clone(), artifacts.clone(), *dropped)
                }
                (None, Some(Observation::Observed { outcome, detail, target, artifacts, dropped, why, .. })) => {
                    let target = target.or(check.target);
                    let (verdict, detail) = if check.expected.accepts(outcome) {
                        (Verdict::Pass, detail.clone())
                    } else {
                        let text = format!("expected {}, observed {}: {detail}", check.expected.label, outcome.label());
                        (Verdict::Fail, text)
                    };
                    CheckResult {
                        why: why.clone(),
                        ..result(Some(outcome.clone()), target, verdict, detail, artifacts.clone(), *dropped)
                    }
                }
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::{Action, CheckKind, Expected, Outcome};
    use crate::suite::{Endpoint, ProbeSettings};

    fn check(id: usize, expected: Expected) -> Check {
        let to = Endpoint { node: format!("b{id}"), via: None };
        Check {
            id,
            name: format!("icmp a -> b{id}"),
            kind: CheckKind::Icmp,
            cell: None,
            from: "a".into(),
            to: to.to_string(),
            action: Action::Icmp { to, by_name: false },
            target: Some("10.0.0.2".parse().unwrap()),
            expected,
            settings: ProbeSettings::default(),
        }
    }

    #[test]
    fn three_outcomes_and_no_silent_pass() {
        let reach = || Expected::one(Outcome::Reachable);
        let checks =
            [check(0, reach()), check(1, Expected::one(Outcome::Unreachable)), check(2, reach()), check(3, reach())];
        let obs = HashMap::from([
            (0, Observation::seen(Outcome::Reachable, "echo reply from 10.0.0.2 in 0.1 ms")),
            (1, Observation::seen(Outcome::Reachable, "echo reply from 10.0.0.2 in 0.1 ms")),
            (2, Observation::error("failed to open ICMP socket")),
        ]);
        let v: Vec<_> = judge(&checks, &obs, None).into_iter().map(|r| (r.verdict, r.detail)).collect();
        assert_eq!(v[0].0, Verdict::Pass);
        assert_eq!(
            v[1],
            (Verdict::Fail, "expected unreachable, observed reachable: echo reply from 10.0.0.2 in 0.1 ms".into())
        );
        assert_eq!(v[2].0, Verdict::Error);
        assert_eq!(v[3].0, Verdict::Error, "a missing observation is never a pass");
    }

    #[test]
    fn alternatives_and_assertions() {
        let not_delivered = Expected::any(vec![Outcome::Refused, Outcome::Dropped], "refused or dropped");
        let checks = [
            check(0, not_delivered.clone()),
            check(1, not_delivered),
            check(2, Expected::assertion("at least 1 packet")),
        ];
        let obs = HashMap::from([
            (0, Observation::seen(Outcome::Refused, "port unreachable")),
            (1, Observation::seen(Outcome::Delivered, "token received")),
            (2, Observation::seen(Outcome::Assertion { holds: false, seen: "0 packets".into() }, "capture on eth0")),
        ]);
        let r = judge(&checks, &obs, None);
        assert_eq!(r[0].verdict, Verdict::Pass);
        assert_eq!(r[1].detail, "expected refused or dropped, observed delivered: token received");
        assert_eq!(r[2].detail, "expected at least 1 packet, observed 0 packets: capture on eth0");
    }

    #[test]
    fn skip_wins_over_observations() {
        let obs = HashMap::from([(0, Observation::seen(Outcome::Reachable, ""))]);
        let r = judge(&[check(0, Expected::one(Outcome::Reachable))], &obs, Some("kernel lacks veth"));
        assert_eq!((r[0].verdict, r[0].detail.as_str()), (Verdict::Skipped, "kernel lacks veth"));
    }
}
