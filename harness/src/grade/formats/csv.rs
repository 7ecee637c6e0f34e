//! `grades.csv` for a batch: one row per student, for an instructor's gradebook import.
//!
//! Columns: `student,suite,suite_version,status,score,max_score,percent,failed_checks,error`. `status` is
//! `graded` or `error`. An error row leaves `score` and `percent` empty — never `0`, which a gradebook would
//! record as a grade — and says why in `error`. `failed_checks` names the checks that failed (hidden ones too:
//! this file is the instructor's), joined with `; `. RFC 4180: CRLF line ends, fields quoted when they hold a
//! comma, a quote or a line break, quotes doubled.

use super::{not_graded_reason, percent, points};
use crate::grade::model::{Batch, CheckStatus};

/// The header row's column names, in order.
pub const COLUMNS: [&str; 9] =
    ["student", "suite", "suite_version", "status", "score", "max_score", "percent", "failed_checks", "error"];

/// Renders `grades.csv` for `batch`, sorted by student (whatever order the batch holds them in).
pub fn render(batch: &Batch) -> String {
    let mut subs: Vec<_> = batch.submissions.iter().collect();
    // Stable, so two submissions of one student keep the batch's order.
    subs.sort_by(|a, b| a.student.cmp(&b.student));
    let mut out = String::new();
    push_record(&mut out, COLUMNS.iter().map(|c| c.to_string()));
    for s in subs {
        let row = match not_graded_reason(s) {
            Some(reason) => [
                s.student.clone(),
                s.suite.clone(),
                s.suite_version.clone(),
                "error".into(),
                String::new(),
                points(s.max_score),
                String::new(),
                String::new(),
                reason,
            ],
            None => [
                s.student.clone(),
                s.suite.clone(),
                s.suite_version.clone(),
                "graded".into(),
                points(s.score),
                points(s.max_score),
                percent(s.score, s.max_score).unwrap_or_default(),
                s.checks
                    .iter()
                    .filter(|c| c.status == CheckStatus::Fail)
                    .map(|c| c.name.as_str())
                    .collect::<Vec<_>>()
                    .join("; "),
                String::new(),
            ],
        };
        push_record(&mut out, row.into_iter());
    }
    out
}

fn push_record(out: &mut String, fields: impl Iterator<Item = String>) {
    for (i, f) in fields.enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&quote(&f));
    }
    out.push_str("\r\n");
}

/// One field, quoted only when RFC 4180 requires it.
fn quote(field: &str) -> String {
    if field.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::quote;

    #[test]
    fn quotes_only_when_needed() {
        assert_eq!(quote("alice"), "alice");
        assert_eq!(quote("o'neil, pat"), "\"o'neil, pat\"");
        assert_eq!(quote("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(quote("two\nlines"), "\"two\nlines\"");
        assert_eq!(quote(""), "");
    }
}
