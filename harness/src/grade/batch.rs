//! Grading a class: find submissions, shard them, grade several at once, resume what is already graded, and
//! emit the grading events that the grading reporters (`reporters/grading.rs`) turn into every output.

use super::calibrate::{self, Calibration};
use super::model::{Batch, GradeStatus, SubmissionGrade};
use super::submission::{self, GradeOptions};
use crate::event::{EventKind, Reporters};
use crate::kernel::features::Features;
use crate::suite::Suite;
use futures::stream::{self, StreamExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub use crate::select::Shard;

/// Submissions named by the arguments: a directory holding `setup.sh` is one; any other directory holds one per
/// subdirectory that has a `setup.sh`. Sorted by name, then sharded.
pub fn submissions(paths: &[PathBuf], shard: Option<Shard>) -> Result<Vec<PathBuf>, String> {
    let mut out = Vec::new();
    for p in paths {
        if p.join("setup.sh").is_file() {
            out.push(p.clone());
        } else if p.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(p)
                .map_err(|e| format!("failed to read {}: {e}", p.display()))?
                .flatten()
                .map(|e| e.path())
                .filter(|d| d.join("setup.sh").is_file())
                .collect();
            if found.is_empty() {
                return Err(format!("{} holds no submission (a directory with a setup.sh)", p.display()));
            }
            out.append(&mut found);
        } else {
            return Err(format!("no submission at {}", p.display()));
        }
    }
    out.sort_by_key(|p| p.file_name().map(|n| n.to_os_string()));
    out.dedup();
    if let Some(Shard { k, n }) = shard {
        out = out.into_iter().enumerate().filter(|(i, _)| i % n == k - 1).map(|(_, p)| p).collect();
    }
    Ok(out)
}

/// A previous grade of the same submission content against the same suite version, if any.
fn previous(dir: &Path, suite_version: &str, submission: &Path) -> Option<SubmissionGrade> {
    let text = std::fs::read_to_string(dir.join("report.json")).ok()?;
    let g: SubmissionGrade = serde_json::from_str(&text).ok()?;
    let same = g.suite_version == suite_version && g.submission_version == submission::content_hash(submission);
    (same && g.status == GradeStatus::Graded).then_some(g)
}

/// What a batch run did.
pub struct BatchOutcome {
    /// Every submission of the shard, graded or reused.
    pub batch: Batch,
    /// How many were reused from an earlier run.
    pub reused: usize,
    /// What the empty submission got: the checks whose points were not awarded.
    pub calibration: Calibration,
}

/// Grades `subs` (at most `jobs` at once), each with its pcaps under `report_dir/<student>/`, emitting the
/// grading events (calibration, each submission as it starts and is graded, the batch); its reporters write every
/// output. A submission graded before with the same content and suite version (its `report.json` there) is
/// reused unless `force`.
#[allow(clippy::too_many_arguments)]
pub async fn grade_all(
    suite: &Suite,
    suite_file: &Path,
    subs: &[PathBuf],
    report_dir: &Path,
    state_dir: &Path,
    jobs: usize,
    force: bool,
    trace: crate::runner::TraceMode,
    events: &Reporters,
) -> BatchOutcome {
    let suite_version = submission::content_hash(suite_file);
    events.emit(EventKind::GradingStarted { suite: &suite.name, submissions: subs.len() });
    let features = Features::detect();
    // Which checks pass without any submission: their points are not awarded to anyone.
    let calibration = calibrate::get(suite, &suite_version, &features, state_dir, force).await;
    events.emit(EventKind::Calibrated(&calibration));
    let holes = calibration.hole_set();
    let uncalibrated = match &calibration.status {
        GradeStatus::Graded => None,
        GradeStatus::Error { reason } => {
            Some(format!("the empty submission (calibration) could not be graded, so no grade is fair: {reason}"))
        }
    };
    let graded: Vec<(SubmissionGrade, bool)> = stream::iter(subs.iter())
        .map(|sub| {
            let (suite_version, features, holes, uncalibrated) = (&suite_version, &features, &holes, &uncalibrated);
            async move {
                let student = sub.file_name().map_or_else(|| "submission".into(), |n| n.to_string_lossy().into_owned());
                let dir = report_dir.join(&student);
                if !force {
                    if let Some(g) = previous(&dir, suite_version, sub) {
                        events.emit(EventKind::SubmissionGraded { grade: &g, reused: true, elapsed: Duration::ZERO });
                        return (g, true);
                    }
                }
                events.emit(EventKind::SubmissionStarted { student: &student });
                let started = Instant::now();
                let opts = GradeOptions { state_dir: state_dir.to_path_buf(), out_dir: dir.clone(), trace };
                let g = match uncalibrated {
                    Some(reason) => submission::not_graded(suite, suite_version, sub, reason),
                    None => submission::grade(suite, suite_version, sub, features, &opts, holes).await,
                };
                events.emit(EventKind::SubmissionGraded { grade: &g, reused: false, elapsed: started.elapsed() });
                (g, false)
            }
        })
        .buffer_unordered(jobs.max(1))
        .collect()
        .await;
    let reused = graded.iter().filter(|(_, r)| *r).count();
    let mut submissions: Vec<SubmissionGrade> = graded.into_iter().map(|(g, _)| g).collect();
    submissions.sort_by(|a, b| a.student.cmp(&b.student));
    let batch = Batch { suite: suite.name.clone(), suite_version, submissions };
    events.emit(EventKind::GradingFinished { batch: &batch, reused });
    BatchOutcome { batch, reused, calibration }
}
