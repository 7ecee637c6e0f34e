//! `reachlab grade`: a class's submissions, each in its own sandboxed lab.

use super::{exit, require_privileges, runtime, utc_stamp, CliError};
use crate::event::Reporters;
use crate::grade::batch::{self, Shard};
use crate::reporters::grading::{Format, GradeFilesReporter, GradeLinesReporter, ShardOf};
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
    /// Give every failing matrix cell the path its packets took (without it: the first 16 per submission). The
    /// path goes into the check's output and the feedback; pcaps under <student>/paths/. Rules are added only
    /// in namespaces reachlab made (server1, server2, the switch), never in the submission's own.
    #[arg(long, conflicts_with = "no_trace")]
    pub trace: bool,
    /// No path probes (outputs as without tracing).
    #[arg(long)]
    pub no_trace: bool,
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
    let graded = batch::grade_all(
        &suite,
        &args.suite,
        &subs,
        &report_dir,
        state_dir,
        args.jobs,
        args.force,
        crate::runner::trace::mode(args.trace, args.no_trace),
        &reporters,
    );
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
