//! `reachlab grade merge DIR… --report-dir OUT`, beside `reachlab grade`: combine the shards of a class.

use super::{exit, CliError};
use crate::grade::model::GradeStatus;
use std::path::PathBuf;

/// `reachlab grade`: grade submissions, or (`grade merge`) combine the report directories of shards.
#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct GradeCommand {
    #[command(subcommand)]
    pub sub: Option<GradeSub>,
    #[command(flatten)]
    pub grade: Option<super::grade::GradeArgs>,
}

/// Subcommands of `reachlab grade`.
#[derive(clap::Subcommand)]
pub enum GradeSub {
    /// Combine the report directories of `grade --shard K/N` runs into one (one grades.csv, every submission's
    /// files), refusing shards that overlap, are missing, or come from another suite version or class.
    Merge(MergeArgs),
}

/// Arguments of `reachlab grade merge`.
#[derive(clap::Args)]
pub struct MergeArgs {
    /// The shards' report directories (each `grade --shard K/N --report-dir DIR`).
    #[arg(required = true)]
    pub dirs: Vec<PathBuf>,
    /// Where to write the merged batch (a new or empty directory).
    #[arg(long)]
    pub report_dir: PathBuf,
}

pub fn merge(args: MergeArgs) -> Result<i32, CliError> {
    let batch = crate::grade::merge::merge(&args.dirs, &args.report_dir).map_err(CliError::Usage)?;
    let errors = batch.submissions.iter().filter(|g| g.status != GradeStatus::Graded).count();
    eprintln!(
        "merged {} shards: {} submissions ({errors} to rerun); grades: {}",
        args.dirs.len(),
        batch.submissions.len(),
        args.report_dir.join("grades.csv").display()
    );
    if batch.submissions.is_empty() {
        return Ok(exit::PASS);
    }
    Ok(exit::code(&exit::Statistics::of_batch(&batch, 0)))
}
