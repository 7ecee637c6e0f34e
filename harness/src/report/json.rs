//! `report.json` and `--json`: the report model, pretty-printed. A check's `detail` there is its evidence
//! followed by ` — why: …` when the lab as built explains a probe that did not get through; `why` carries the
//! same reasons typed (the contract in the README).

use super::{CheckReport, RunReport};
use crate::check::Verdict;
use serde::Serialize;

/// A check as report.json has it.
#[derive(Serialize)]
pub struct CheckJson {
    name: String,
    kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    by: Option<String>,
    from: String,
    to: String,
    target: Option<String>,
    expected: String,
    observed: Option<String>,
    verdict: Verdict,
    /// Evidence or failure message, followed by ` — why: …` when the lab as built explains it.
    detail: String,
    /// Those explanations, typed (`reason` and its fields).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    why: Vec<crate::reason::Why>,
    matrix: Option<String>,
    artifacts: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dropped: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    duration_ms: Option<u64>,
    /// Where a failing matrix cell's packets went (paths).
    #[serde(skip_serializing_if = "Option::is_none")]
    path: Option<crate::check::PathReport>,
}

impl From<CheckReport> for CheckJson {
    fn from(c: CheckReport) -> Self {
        CheckJson {
            detail: c.detail_and_why(),
            name: c.name,
            kind: c.kind,
            by: c.by,
            from: c.from,
            to: c.to,
            target: c.target,
            expected: c.expected,
            observed: c.observed,
            verdict: c.verdict,
            why: c.why,
            matrix: c.matrix,
            artifacts: c.artifacts,
            dropped: c.dropped,
            duration_ms: c.duration_ms,
            path: c.path,
        }
    }
}

/// Renders the run as JSON.
pub fn render(report: &RunReport) -> String {
    let mut s = serde_json::to_string_pretty(report).expect("report serializes");
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reason::Why;

    #[test]
    fn detail_and_why_are_separate_in_the_model_and_joined_in_report_json() {
        let c = CheckReport {
            name: "icmp h1 -> h4".into(),
            kind: "icmp".into(),
            by: None,
            from: "h1".into(),
            to: "h4".into(),
            target: Some("10.2.0.4".into()),
            expected: "reachable".into(),
            observed: Some("unreachable".into()),
            verdict: Verdict::Fail,
            detail: "expected reachable, observed unreachable: no echo reply".into(),
            why: vec![Why::NotForwarding { router: "r".into(), gateway: "10.1.0.254".parse().unwrap() }],
            matrix: None,
            artifacts: Vec::new(),
            dropped: None,
            duration_ms: Some(1002),
            path: None,
        };
        let v = serde_json::to_value(&c).unwrap();
        assert_eq!(
            v["detail"],
            "expected reachable, observed unreachable: no echo reply — why: r (10.1.0.254), the next hop, does not forward packets (net.ipv4.ip_forward = 0)"
        );
        assert_eq!(v["why"], serde_json::json!([{"reason": "not-forwarding", "router": "r", "gateway": "10.1.0.254"}]));
        assert_eq!(v["duration_ms"], 1002);
        assert!(
            v.get("by").is_none() && v.get("dropped").is_none() && v.get("path").is_none(),
            "absent fields stay absent: {v}"
        );
        let bare = CheckReport { why: Vec::new(), ..c };
        assert_eq!(serde_json::to_value(&bare).unwrap()["detail"], bare.detail.as_str());
        assert!(serde_json::to_value(&bare).unwrap().get("why").is_none());
    }
}
