//! `reachlab grade` and `reachlab check`.

use super::{exit, require_privileges, runtime, utc_stamp, CliError};
use crate::grade::batch::{self, Format, Shard};
use crate::grade::formats;
use crate::grade::model::GradeStatus;
use std::path::{Path, PathBuf};

/// Arguments of `reachlab grade`.
#[derive(clap::Args)]
pub struct GradeArgs {
    /// The grading suite.
    #[arg(long)]
    pub suite: PathBuf,
    /// Submissions: directories with a setup.sh, or directories of them.
    #[arg(required = true)]
    pub submissions: Vec<PathBuf>,
    /// Grade this many submissions at once (each in its own sandbox and lab).
    #[arg(long, default_value_t = 1)]
    pub jobs: usize,
    /// Grade only the K-th of N slices of the class (by sorted name), e.g. 2/3.
    #[arg(long)]
    pub shard: Option<Shard>,
    /// Grade again even what was already graded with the same content and suite version.
    #[arg(long)]
    pub force: bool,
    /// Where to write [default: reports/grade-<suite>-<timestamp>].
    #[arg(long)]
    pub report_dir: Option<PathBuf>,
    /// Extra LMS formats, per submission.
    #[arg(long, value_enum)]
    pub format: Vec<Format>,
    /// Show hidden checks in the students' feedback.md (release them).
    #[arg(long)]
    pub release_hidden: bool,
}

/// Arguments of `reachlab check`.
#[derive(clap::Args)]
pub struct CheckArgs {
    /// The grading suite.
    #[arg(long)]
    pub suite: PathBuf,
    /// Your submission directory (with setup.sh, and answers.toml if you predict).
    pub submission: PathBuf,
}

pub(super) fn load(suite: &Path) -> Result<crate::suite::Suite, CliError> {
    let s = crate::suite::load_file(suite).map_err(|e| CliError::Usage(e.to_string()))?;
    if s.grading.is_none() {
        return Err(CliError::Usage(format!("{} is not a grading suite: it has no [grading] table", suite.display())));
    }
    Ok(s)
}

pub fn grade(args: GradeArgs, state_dir: &Path) -> Result<i32, CliError> {
    let suite = load(&args.suite)?;
    let subs = batch::submissions(&args.submissions, args.shard).map_err(CliError::Usage)?;
    require_privileges()?;
    let report_dir =
        args.report_dir.unwrap_or_else(|| Path::new("reports").join(format!("grade-{}-{}", suite.name, utc_stamp())));
    let rt = runtime()?;
    let report = |g: &crate::grade::model::SubmissionGrade, reused: bool| {
        let how = if reused { " (unchanged since the last run: reused)" } else { "" };
        match &g.status {
            GradeStatus::Graded => eprintln!("{:<24} {:>6.1} / {:<6.1}{how}", g.student, g.score, g.max_score),
            GradeStatus::Error { reason } => eprintln!("{:<24} NOT GRADED (rerun): {reason}", g.student),
        }
    };
    let outputs = batch::Outputs { formats: args.format.clone(), release_hidden: args.release_hidden };
    let graded =
        batch::grade_all(&suite, &args.suite, &subs, &report_dir, state_dir, args.jobs, args.force, &outputs, &report);
    let outcome = rt.block_on(async {
        tokio::select! {
            biased;
            // Dropping the batch kills every sandbox and tears every lab down.
            _ = super::signals::interrupted() => None,
            o = graded => Some(o),
        }
    });
    let Some(outcome) = outcome else {
        let code = super::stopped(state_dir);
        if code == exit::INTERRUPTED {
            eprintln!(
                "reachlab: interrupted: stopped; sandboxes and labs were torn down (graded submissions are kept)"
            );
        }
        return Ok(code);
    };
    let outcome = outcome.map_err(|e| CliError::Infrastructure(format!("failed to write grades: {e}")))?;
    // What this run graded, for `grade merge` to check the shards add up to the class.
    let class = batch::submissions(&args.submissions, None).map_err(CliError::Usage)?.len();
    let manifest = crate::grade::merge::Manifest {
        suite: suite.name.clone(),
        suite_version: outcome.batch.suite_version.clone(),
        shard: args.shard.map(|s| [s.k, s.n]),
        class,
        students: outcome.batch.submissions.iter().map(|g| g.student.clone()).collect(),
    };
    crate::grade::merge::write_manifest(&report_dir, &manifest)
        .map_err(|e| CliError::Infrastructure(format!("failed to write grades: {e}")))?;
    for h in &outcome.calibration.holes {
        eprintln!(
            "reachlab: warning: `{h}` grades nothing: passes without any submission; its points were not awarded (mark it `given = true` in the suite if it is meant to pass in the bare environment)"
        );
    }
    let errors = outcome.batch.submissions.iter().filter(|g| g.status != GradeStatus::Graded).count();
    eprintln!(
        "graded {} submissions ({} reused, {errors} to rerun); grades: {}",
        outcome.batch.submissions.len(),
        outcome.reused,
        report_dir.join("grades.csv").display()
    );
    Ok(if errors > 0 { exit::INFRASTRUCTURE } else { exit::PASS })
}

pub fn check(args: CheckArgs, state_dir: &Path) -> Result<i32, CliError> {
    let suite = load(&args.suite)?;
    let subs = batch::submissions(std::slice::from_ref(&args.submission), None).map_err(CliError::Usage)?;
    require_privileges()?;
    let scratch = std::env::temp_dir().join(format!("reachlab-check-{}", crate::runner::new_run_id()));
    let rt = runtime()?;
    let outputs = batch::Outputs::default();
    let graded = batch::grade_all(&suite, &args.suite, &subs, &scratch, state_dir, 1, false, &outputs, &|_, _| {});
    let outcome = rt.block_on(async {
        tokio::select! {
            biased;
            _ = super::signals::interrupted() => None,
            o = graded => Some(o),
        }
    });
    let _ = std::fs::remove_dir_all(&scratch);
    let Some(outcome) = outcome else {
        return Ok(super::stopped(state_dir));
    };
    let outcome = outcome.map_err(|e| CliError::Infrastructure(format!("failed to grade: {e}")))?;
    let g = &outcome.batch.submissions[0];
    let color = crate::report::terminal::use_color(std::io::IsTerminal::is_terminal(&std::io::stdout()));
    print!("{}", formats::terminal::render(g, color));
    Ok(match &g.status {
        GradeStatus::Error { .. } => exit::INFRASTRUCTURE,
        GradeStatus::Graded if g.score < g.max_score => exit::FAIL,
        GradeStatus::Graded => exit::PASS,
    })
}
