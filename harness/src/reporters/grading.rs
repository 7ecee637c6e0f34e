//! The reporters of grading: each submission's files (JUnit, feedback, LMS formats, its report), the class's
//! `grades.csv`, `calibration.json` and `shard.json`; the line per submission on stderr; and `reachlab check`'s
//! view of one submission. All fed the grading events ([`EventKind::SubmissionGraded`] and friends).

use super::create_dir;
use crate::event::{Event, EventKind, Reporter};
use crate::files::write_atomic;
use crate::grade::formats;
use crate::grade::model::{Calibration, GradeStatus, SubmissionGrade, Visibility};
use crate::report::junit_xml;
use std::io::Write;
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

/// What `grade merge` needs to know of a shard's run (written as `shard.json` when grading finishes).
#[derive(Debug, Clone, Copy)]
pub struct ShardOf {
    /// Which shard, `[k, n]`, if the class was sharded.
    pub shard: Option<[usize; 2]>,
    /// How many submissions the whole class has.
    pub class: usize,
}

/// Writes a batch's files: `DIR/<student>/` per submission as it is graded (`junit.xml`, `feedback.md`,
/// `feedback-instructor.md`, the LMS formats asked for, and last `report.json`), `DIR/calibration.json`, and when
/// the batch is done `DIR/grades.csv` (and `DIR/shard.json`).
pub struct GradeFilesReporter {
    dir: PathBuf,
    formats: Vec<Format>,
    release_hidden: bool,
    shard: Option<ShardOf>,
    hostname: Option<String>,
}

impl GradeFilesReporter {
    /// Writes into `dir` (which must exist).
    pub fn new(dir: PathBuf) -> Self {
        GradeFilesReporter { dir, formats: Vec::new(), release_hidden: false, shard: None, hostname: super::hostname() }
    }

    /// Also writes these LMS formats per submission.
    pub fn formats(mut self, formats: &[Format]) -> Self {
        self.formats = formats.to_vec();
        self
    }

    /// Shows hidden checks in the students' `feedback.md` (the instructor released them).
    pub fn release_hidden(mut self, on: bool) -> Self {
        self.release_hidden = on;
        self
    }

    /// Writes `shard.json` for `grade merge`.
    pub fn shard(mut self, shard: ShardOf) -> Self {
        self.shard = Some(shard);
        self
    }
}

impl Reporter for GradeFilesReporter {
    fn on_event(&mut self, event: &Event<'_>) -> std::io::Result<()> {
        match &event.kind {
            EventKind::Calibrated(c) => write_calibration(&self.dir, c),
            EventKind::SubmissionGraded { grade, reused: false, elapsed } => {
                let started = event.at.checked_sub(*elapsed).unwrap_or(event.at);
                let junit = formats::junit::Context {
                    timestamp: Some(junit_xml::utc(started)),
                    hostname: self.hostname.clone(),
                };
                let outputs = Outputs { formats: &self.formats, release_hidden: self.release_hidden, junit };
                write_submission(&self.dir.join(&grade.student), grade, &outputs)
            }
            EventKind::GradingFinished { batch, .. } => {
                write_atomic(&self.dir.join("grades.csv"), formats::csv::render(batch))?;
                if let Some(s) = self.shard {
                    let manifest = crate::grade::merge::Manifest {
                        suite: batch.suite.clone(),
                        suite_version: batch.suite_version.clone(),
                        shard: s.shard,
                        class: s.class,
                        students: batch.submissions.iter().map(|g| g.student.clone()).collect(),
                    };
                    crate::grade::merge::write_manifest(&self.dir, &manifest)?;
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

fn write_calibration(dir: &Path, c: &Calibration) -> std::io::Result<()> {
    write_atomic(&dir.join("calibration.json"), serde_json::to_string_pretty(c).expect("calibration serializes") + "\n")
}

/// What to write of one submission.
struct Outputs<'a> {
    formats: &'a [Format],
    release_hidden: bool,
    junit: formats::junit::Context,
}

/// Writes one submission's outputs into `dir`.
fn write_submission(dir: &Path, grade: &SubmissionGrade, outputs: &Outputs<'_>) -> std::io::Result<()> {
    create_dir(dir)?;
    write_atomic(&dir.join("junit.xml"), formats::junit::render_in(grade, &outputs.junit))?;
    let mut student_view = grade.clone();
    if outputs.release_hidden {
        for c in &mut student_view.checks {
            c.visibility = Visibility::Visible;
        }
    }
    write_atomic(&dir.join("feedback.md"), formats::feedback::render(&student_view))?;
    write_atomic(&dir.join("feedback-instructor.md"), formats::feedback::render_instructor(grade))?;
    for f in outputs.formats {
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

/// `grade`'s lines on stderr: one per submission as it is graded, then the calibration's warnings and where the
/// grades are.
pub struct GradeLinesReporter<W: Write> {
    out: W,
    grades: PathBuf,
    holes: Vec<String>,
}

impl<W: Write> GradeLinesReporter<W> {
    /// Writes to `out`; the batch's grades are in `report_dir`.
    pub fn new(out: W, report_dir: &Path) -> Self {
        GradeLinesReporter { out, grades: report_dir.join("grades.csv"), holes: Vec::new() }
    }
}

impl<W: Write> Reporter for GradeLinesReporter<W> {
    fn on_event(&mut self, event: &Event<'_>) -> std::io::Result<()> {
        match &event.kind {
            EventKind::Calibrated(c) => self.holes = c.holes.clone(),
            EventKind::SubmissionGraded { grade: g, reused, .. } => {
                let how = if *reused { " (unchanged since the last run: reused)" } else { "" };
                match &g.status {
                    GradeStatus::Graded => {
                        writeln!(self.out, "{:<24} {:>6.1} / {:<6.1}{how}", g.student, g.score, g.max_score)?
                    }
                    GradeStatus::Error { reason } => {
                        writeln!(self.out, "{:<24} NOT GRADED (rerun): {reason}", g.student)?
                    }
                }
            }
            EventKind::GradingFinished { batch, reused } => {
                for h in &self.holes {
                    writeln!(
                        self.out,
                        "reachlab: warning: `{h}` grades nothing: passes without any submission; its points were not awarded (mark it `given = true` in the suite if it is meant to pass in the bare environment)"
                    )?;
                }
                let errors = batch.submissions.iter().filter(|g| g.status != GradeStatus::Graded).count();
                writeln!(
                    self.out,
                    "graded {} submissions ({reused} reused, {errors} to rerun); grades: {}",
                    batch.submissions.len(),
                    self.grades.display()
                )?;
            }
            _ => {}
        }
        Ok(())
    }
}

/// `reachlab check`: the student's view of their graded submission (score, matrices, failing checks, hints).
pub struct CheckViewReporter<W: Write> {
    out: W,
    color: bool,
}

impl<W: Write> CheckViewReporter<W> {
    /// Writes to `out`, colored when `color`.
    pub fn new(out: W, color: bool) -> Self {
        CheckViewReporter { out, color }
    }
}

impl<W: Write> Reporter for CheckViewReporter<W> {
    fn on_event(&mut self, event: &Event<'_>) -> std::io::Result<()> {
        if let EventKind::SubmissionGraded { grade, .. } = &event.kind {
            write!(self.out, "{}", formats::terminal::render(grade, self.color))?;
            self.out.flush()?;
        }
        Ok(())
    }
}
