//! `report.json` and `--json`: the report model, pretty-printed.

use super::RunReport;

/// Renders the run as JSON.
pub fn render(report: &RunReport) -> String {
    let mut s = serde_json::to_string_pretty(report).expect("report serializes");
    s.push('\n');
    s
}
