//! `reachlab list`: suites and checks, without building anything.

use super::{exit, load_all, CliError};
use crate::kernel::features::{Decision, Features};
use crate::plan;
use crate::runner::{decide, needed};
use std::path::PathBuf;

/// Arguments of `reachlab list` and `reachlab doctor`.
#[derive(clap::Args)]
pub struct Args {
    /// Suite files or directories of suites.
    #[arg(default_value = "test-suites")]
    pub paths: Vec<PathBuf>,
}

pub fn list(args: Args) -> Result<i32, CliError> {
    let suites = load_all(&args.paths)?;
    let features = Features::detect_for(needed(&suites));
    for s in &suites {
        let plan = plan::resolve(s);
        let status = match decide(&plan, &features) {
            Decision::Skip(why) => format!("skipped: {why}"),
            Decision::Error(why) => format!("error: {why}"),
            Decision::Run => "runs".into(),
        };
        println!("{}  {}  ({} checks; {status})", s.name, s.file, plan.checks.len());
        for c in &plan.checks {
            let target = c.target.map_or_else(|| "address found at run time".to_string(), |t| t.to_string());
            println!("    {}  [{target}, expect {}]", c.name, c.expected.label);
        }
    }
    Ok(exit::PASS)
}
