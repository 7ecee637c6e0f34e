//! `reachlab check`: a student checks their own submission against a grading suite, in the same sandbox and
//! lab as `grade`, and sees the matrix and the failing checks with their hints (not the `check` model of
//! `crate::check`, which every run uses).

use super::{exit, require_privileges, runtime, CliError};
use crate::event::Reporters;
use crate::grade::batch;
use crate::reporters::grading::CheckViewReporter;
use crate::reporters::progress::{Mode, ProgressReporter};
use std::path::{Path, PathBuf};

/// Arguments of `reachlab check`.
#[derive(clap::Args)]
pub struct Args {
    /// The grading suite.
    #[arg(long)]
    pub suite: PathBuf,
    /// Your submission directory (with setup.sh, and answers.toml if you predict).
    pub submission: PathBuf,
    /// Show where the packets of every failing check went (without it: the first 16).
    #[arg(long, conflicts_with = "no_trace")]
    pub trace: bool,
    /// Show no paths (no path probes after the checks).
    #[arg(long)]
    pub no_trace: bool,
}

pub fn check(args: Args, state_dir: &Path) -> Result<i32, CliError> {
    let suite = super::grade::load(&args.suite)?;
    let subs = batch::submissions(std::slice::from_ref(&args.submission), None).map_err(CliError::Usage)?;
    require_privileges()?;
    let scratch = std::env::temp_dir().join(format!("reachlab-check-{}", crate::runner::new_run_id()));
    let rt = runtime()?;
    let trace = crate::runner::trace::mode(args.trace, args.no_trace);
    let mut reporters = Reporters::default();
    let color = crate::reporters::use_color(std::io::IsTerminal::is_terminal(&std::io::stdout()));
    reporters.add(ProgressReporter::new(std::io::stderr(), Mode::for_stderr()));
    reporters.add(CheckViewReporter::new(std::io::stdout(), color));
    let graded = batch::grade_all(&suite, &args.suite, &subs, &scratch, state_dir, 1, false, trace, &reporters);
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
