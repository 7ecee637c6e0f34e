//! `reachlab clean`: remove what dead runs left behind, using their persisted ledgers — and nothing else.

use super::up::ledger_files;
use super::{exit, CliError};
use crate::lab::ledger::{owner_alive, Ledger};
use crate::lab::teardown::teardown;
use std::path::Path;

/// Arguments of `reachlab clean`.
#[derive(clap::Args)]
pub struct Args {
    /// Also remove labs kept by `reachlab up`.
    #[arg(long)]
    pub all: bool,
}

pub fn clean(args: Args, state_dir: &Path) -> Result<i32, CliError> {
    let mut failures = Vec::new();
    let mut removed = 0;
    for path in ledger_files(state_dir) {
        let record = match Ledger::read(&path) {
            Ok(r) => r,
            Err(e) => {
                failures.push(format!("unreadable ledger {}: {e}", path.display()));
                continue;
            }
        };
        if (record.kept && !args.all) || (!record.kept && owner_alive(&record)) {
            continue;
        }
        let errors = teardown(&record);
        if errors.is_empty() {
            crate::lab::ledger::remove(&path);
            removed += 1;
            println!("removed {} (suite {}, {} resources)", record.run_id, record.suite, record.entries.len());
        }
        failures.extend(errors.into_iter().map(|e| e.to_string()));
    }
    println!("clean: {removed} runs removed");
    if failures.is_empty() {
        Ok(exit::PASS)
    } else {
        Err(CliError::Infrastructure(failures.join("\n")))
    }
}
