//! Grading a class: find submissions, shard them, grade several at once, resume what is already graded, and
//! write every output.

use super::calibrate::{self, Calibration};
use super::formats;
use super::model::{Batch, GradeStatus, SubmissionGrade};
use super::submission::{self, GradeOptions};
use crate::files::write_atomic;
use crate::kernel::features::Features;
use crate::suite::Suite;
use futures::stream::{self, StreamExt};
use std::path::{Path, PathBuf};

/// Output formats beyond the ones always written (junit.xml, report.json, feedback.md, grades.csv).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Gradescope's autograder `results.json`, per submission.
    Gradescope,
    /// GitHub Classroom's grader result (`classroom.json` and its base64 `classroom.b64`), per submission.
    Classroom,
    /// PrairieLearn's external grader `results.json` (`prairielearn.json`), per submission.
    Prairielearn,
}

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

/// What to write besides the outputs every run writes.
#[derive(Debug, Clone, Default)]
pub struct Outputs {
    /// Extra LMS formats.
    pub formats: Vec<Format>,
    /// Show hidden checks in the students' feedback (the instructor released them).
    pub release_hidden: bool,
}

/// Writes one submission's outputs into `dir`.
pub fn write_submission(dir: &Path, grade: &SubmissionGrade, outputs: &Outputs) -> std::io::Result<()> {
    crate::report::reporters::create_dir(dir)?;
    write_atomic(&dir.join("junit.xml"), formats::junit::render(grade))?;
    let mut student_view = grade.clone();
    if outputs.release_hidden {
        for c in &mut student_view.checks {
            c.visibility = super::model::Visibility::Visible;
        }
    }
    write_atomic(&dir.join("feedback.md"), formats::feedback::render(&student_view))?;
    write_atomic(&dir.join("feedback-instructor.md"), formats::feedback::render_instructor(grade))?;
    for f in &outputs.formats {
        match f {
            Format::Gradescope => write_atomic(&dir.join("results.json"), pretty(&formats::gradescope::render(grade)))?,
            Format::Classroom => {
                write_atomic(&dir.join("classroom.json"), pretty(&formats::classroom::render_json(grade)))?;
                write_atomic(&dir.join("classroom.b64"), formats::classroom::render_base64(grade) + "\n")?;
            }
            Format::Prairielearn => {
                write_atomic(&dir.join("prairielearn.json"), pretty(&formats::prairielearn::render(grade)))?
            }
        }
    }
    // Last: a later run reuses a submission whose report.json is there, so it is there only when every other
    // output is.
    write_atomic(&dir.join("report.json"), serde_json::to_string_pretty(grade).expect("grade serializes") + "\n")
}

fn pretty(v: &serde_json::Value) -> String {
    serde_json::to_string_pretty(v).expect("json") + "\n"
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

/// Grades `subs` (at most `jobs` at once) into `report_dir/<student>/`, and writes `report_dir/grades.csv`.
#[allow(clippy::too_many_arguments)]
pub async fn grade_all(
    suite: &Suite,
    suite_file: &Path,
    subs: &[PathBuf],
    report_dir: &Path,
    state_dir: &Path,
    jobs: usize,
    force: bool,
    outputs: &Outputs,
    on_done: &(dyn Fn(&SubmissionGrade, bool) + Sync),
) -> std::io::Result<BatchOutcome> {
    let suite_version = submission::content_hash(suite_file);
    let features = Features::detect();
    // Which checks pass without any submission: their points are not awarded to anyone.
    let calibration = calibrate::get(suite, &suite_version, &features, state_dir, force).await;
    crate::report::reporters::create_dir(report_dir)?;
    write_atomic(
        &report_dir.join("calibration.json"),
        serde_json::to_string_pretty(&calibration).expect("calibration serializes") + "\n",
    )?;
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
                        on_done(&g, true);
                        return Ok::<_, std::io::Error>((g, true));
                    }
                }
                let opts = GradeOptions { state_dir: state_dir.to_path_buf(), out_dir: dir.clone() };
                let g = match uncalibrated {
                    Some(reason) => submission::not_graded(suite, suite_version, sub, reason),
                    None => submission::grade(suite, suite_version, sub, features, &opts, holes).await,
                };
                write_submission(&dir, &g, outputs)?;
                on_done(&g, false);
                Ok((g, false))
            }
        })
        .buffer_unordered(jobs.max(1))
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_, _>>()?;
    let reused = graded.iter().filter(|(_, r)| *r).count();
    let mut submissions: Vec<SubmissionGrade> = graded.into_iter().map(|(g, _)| g).collect();
    submissions.sort_by(|a, b| a.student.cmp(&b.student));
    let batch = Batch { suite: suite.name.clone(), suite_version, submissions };
    crate::report::reporters::create_dir(report_dir)?;
    write_atomic(&report_dir.join("grades.csv"), formats::csv::render(&batch))?;
    Ok(BatchOutcome { batch, reused, calibration })
}
