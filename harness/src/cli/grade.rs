//! `reachlab grade` and `reachlab check`.

use super::{exit, require_privileges, runtime, utc_stamp, CliError};
use crate::event::Reporters;
use crate::grade::batch::{self, Shard};
use crate::reporters::grading::{CheckViewReporter, Format, GradeFilesReporter, GradeLinesReporter, ShardOf};
use crate::reporters::progress::{Mode, ProgressReporter};
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
    let s = crate::suite::load_file(suite)?;
    if s.grading.is_none() {
        return Err(CliError::Usage(format!("{} is not a grading suite: it has no [grading] table", suite.display())));
    }
    Ok(s)
}

pub fn grade(args: GradeArgs, state_dir: &Path) -> Result<i32, CliError> {
    let suite = load(&args.suite)?;
    let subs = batch::submissions(&args.submissions, args.shard).map_err(CliError::Usage)?;
    // What this run grades of the class, for `grade merge` to check the shards add up to the class.
    let class = batch::submissions(&args.submissions, None).map_err(CliError::Usage)?.len();
    require_privileges()?;
    let report_dir =
        args.report_dir.unwrap_or_else(|| Path::new("reports").join(format!("grade-{}-{}", suite.name, utc_stamp())));
    crate::reporters::create_dir(&report_dir)
        .map_err(|e| CliError::Infrastructure(format!("failed to write grades: {e}")))?;
    let mut reporters = Reporters::default();
    let shard = ShardOf { shard: args.shard.map(|s| [s.k, s.n]), class };
    reporters.add(
        GradeFilesReporter::new(report_dir.clone())
            .formats(&args.format)
            .release_hidden(args.release_hidden)
            .shard(shard),
    );
    reporters.add(ProgressReporter::new(std::io::stderr(), Mode::for_stderr()));
    reporters.add(GradeLinesReporter::new(std::io::stderr(), &report_dir));
    let rt = runtime()?;
    let graded =
        batch::grade_all(&suite, &args.suite, &subs, &report_dir, state_dir, args.jobs, args.force, &reporters);
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
    let errors = reporters.errors();
    for e in &errors {
        eprintln!("reachlab: failed to write grades: {e}");
    }
    if let (true, Some(s), true) = (outcome.batch.submissions.is_empty(), args.shard, errors.is_empty()) {
        // An empty shard of a class is not an error: the other shards have the submissions.
        eprintln!("shard {}/{}: no submission falls into it", s.k, s.n);
        return Ok(exit::PASS);
    }
    Ok(exit::code(&exit::Statistics::of_batch(&outcome.batch, errors.len())))
}

pub fn check(args: CheckArgs, state_dir: &Path) -> Result<i32, CliError> {
    let suite = load(&args.suite)?;
    let subs = batch::submissions(std::slice::from_ref(&args.submission), None).map_err(CliError::Usage)?;
    require_privileges()?;
    let scratch = std::env::temp_dir().join(format!("reachlab-check-{}", crate::runner::new_run_id()));
    let rt = runtime()?;
    let mut reporters = Reporters::default();
    let color = crate::reporters::use_color(std::io::IsTerminal::is_terminal(&std::io::stdout()));
    reporters.add(ProgressReporter::new(std::io::stderr(), Mode::for_stderr()));
    reporters.add(CheckViewReporter::new(std::io::stdout(), color));
    let graded = batch::grade_all(&suite, &args.suite, &subs, &scratch, state_dir, 1, false, &reporters);
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
    let errors = reporters.errors();
    for e in &errors {
        eprintln!("reachlab: failed to show the grade: {e}");
    }
    Ok(exit::code(&exit::Statistics::of_submission(&outcome.batch.submissions[0], errors.len())))
}
