//! Judging: expected + observed → verdicts. Pure.

use crate::check::{Check, CheckResult, Observation, Verdict};
use std::collections::HashMap;

/// Judges every check. `skip` (decided before running) marks all checks skipped; a check without an
/// observation is an error (the probe never reported), never a pass.
pub fn judge(checks: &[Check], observations: &HashMap<usize, Observation>, skip: Option<&str>) -> Vec<CheckResult> {
    checks
        .iter()
        .map(|check| {
            let (observed, verdict, detail) = match (skip, observations.get(&check.id)) {
                (Some(reason), _) => (None, Verdict::Skipped, reason.to_string()),
                (None, None) => (None, Verdict::Error, "the probe did not report".to_string()),
                (None, Some(Observation::Error { detail })) => (None, Verdict::Error, detail.clone()),
                (None, Some(Observation::Observed { reach, detail })) if *reach == check.expected => {
                    (Some(*reach), Verdict::Pass, detail.clone())
                }
                (None, Some(Observation::Observed { reach, detail })) => (
                    Some(*reach),
                    Verdict::Fail,
                    format!("expected {}, observed {}: {detail}", check.expected.as_str(), reach.as_str()),
                ),
            };
            CheckResult { check: check.clone(), observed, verdict, detail }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::Reach;
    use crate::suite::{Endpoint, ProbeKind, ProbeSettings};

    fn check(id: usize, expected: Reach) -> Check {
        Check {
            id,
            name: format!("icmp a -> b{id}"),
            kind: ProbeKind::Icmp,
            matrix: 0,
            row: 0,
            column: id,
            from: "a".into(),
            to: Endpoint { node: format!("b{id}"), via: None },
            target: "10.0.0.2".parse().unwrap(),
            expected,
            settings: ProbeSettings::default(),
        }
    }

    #[test]
    fn three_outcomes_and_no_silent_pass() {
        let checks = [
            check(0, Reach::Reachable),
            check(1, Reach::Unreachable),
            check(2, Reach::Reachable),
            check(3, Reach::Reachable),
        ];
        let seen = |reach, d: &str| Observation::Observed { reach, detail: d.into() };
        let obs = HashMap::from([
            (0, seen(Reach::Reachable, "echo reply from 10.0.0.2 in 0.1 ms")),
            (1, seen(Reach::Reachable, "echo reply from 10.0.0.2 in 0.1 ms")),
            (2, Observation::Error { detail: "failed to open ICMP socket".into() }),
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
    fn skip_wins_over_observations() {
        let obs = HashMap::from([(0, Observation::Observed { reach: Reach::Reachable, detail: String::new() })]);
        let r = judge(&[check(0, Reach::Reachable)], &obs, Some("kernel lacks veth"));
        assert_eq!((r[0].verdict, r[0].detail.as_str()), (Verdict::Skipped, "kernel lacks veth"));
    }
}
