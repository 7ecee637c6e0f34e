//! `reachlab mutate`: mutation testing of a grading suite (mutants derived by [`crate::grade::mutate`]).

use super::grade::load;
use super::{exit, require_privileges, runtime, utc_stamp, CliError};
use crate::grade::batch;
use crate::grade::formats;
use crate::grade::model::GradeStatus;
use std::path::{Path, PathBuf};

/// Arguments of `reachlab mutate`.
#[derive(clap::Args)]
pub struct MutateArgs {
    /// The grading suite.
    #[arg(long)]
    pub suite: PathBuf,
    /// Correct submissions to derive mutants from (each a directory with a setup.sh; an
    /// `equivalent-mutants.toml` beside it names mutants that build the same lab, with why).
    #[arg(required = true)]
    pub submissions: Vec<PathBuf>,
    /// Grade this many mutants at once.
    #[arg(long, default_value_t = 1)]
    pub jobs: usize,
    /// Grade only N mutants per submission, spread evenly over all of them (a quick sample).
    #[arg(long)]
    pub sample: Option<usize>,
    /// Where to write the mutants and their grades [default: reports/mutate-<suite>-<timestamp>].
    #[arg(long)]
    pub report_dir: Option<PathBuf>,
}

/// Mutants a submission declares equivalent: name → why.
fn equivalent(submission: &Path) -> Result<std::collections::BTreeMap<String, String>, CliError> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct File {
        mutants: std::collections::BTreeMap<String, String>,
    }
    let path = submission.join("equivalent-mutants.toml");
    match std::fs::read_to_string(&path) {
        Err(_) => Ok(Default::default()),
        Ok(text) => toml::from_str::<File>(&text)
            .map(|f| f.mutants)
            .map_err(|e| CliError::Usage(format!("{}: {}", path.display(), e.message()))),
    }
}

pub fn mutate(args: MutateArgs, state_dir: &Path) -> Result<i32, CliError> {
    use crate::grade::mutate::mutants;
    let suite = load(&args.suite)?;
    require_privileges()?;
    let report_dir =
        args.report_dir.unwrap_or_else(|| Path::new("reports").join(format!("mutate-{}-{}", suite.name, utc_stamp())));
    let tree = report_dir.join("mutants");
    let mut derived = Vec::new();
    for sub in &args.submissions {
        let script = std::fs::read_to_string(sub.join("setup.sh"))
            .map_err(|e| CliError::Usage(format!("{}: no setup.sh ({e})", sub.display())))?;
        let equivalent = equivalent(sub)?;
        let base = sub.file_name().map_or_else(|| "submission".into(), |n| n.to_string_lossy().into_owned());
        // A sample is of the mutants that can be killed; a full run lists the equivalent ones too.
        let all: Vec<_> = mutants(&script)
            .into_iter()
            .filter(|m| args.sample.is_none() || !equivalent.contains_key(&m.name))
            .collect();
        let picked: Vec<_> = match args.sample {
            Some(n) if n < all.len() => (0..n).map(|i| all[i * all.len() / n.max(1)].clone()).collect(),
            _ => all,
        };
        for m in picked {
            let dir = tree.join(format!("{base}.{}", m.name));
            std::fs::create_dir_all(&dir)
                .and_then(|()| std::fs::write(dir.join("setup.sh"), &m.script))
                .map_err(|e| CliError::Infrastructure(format!("failed to write {}: {e}", dir.display())))?;
            derived.push((dir, m.clone(), equivalent.get(&m.name).cloned()));
        }
    }
    let rt = runtime()?;
    let dirs: Vec<PathBuf> = derived.iter().map(|(d, _, _)| d.clone()).collect();
    crate::reporters::create_dir(&report_dir)
        .map_err(|e| CliError::Infrastructure(format!("failed to grade the mutants: {e}")))?;
    let mut reporters = crate::event::Reporters::default();
    reporters.add(crate::reporters::GradeFilesReporter::new(report_dir.clone()));
    let grading = batch::grade_all(
        &suite,
        &args.suite,
        &dirs,
        &report_dir,
        state_dir,
        args.jobs,
        false,
        crate::runner::TraceMode::Off,
        &reporters,
    );
    let Some(graded) = super::block_on_interruptible(&rt, grading) else {
        return Ok(super::stopped(state_dir));
    };
    if let Some(e) = reporters.errors().first() {
        return Err(CliError::Infrastructure(format!("failed to grade the mutants: {e}")));
    }
    let (mut killed, mut survived, mut equivalents, mut errors) = (0, Vec::new(), 0, 0);
    for (dir, m, eq) in &derived {
        let student = dir.file_name().expect("named").to_string_lossy().into_owned();
        let Some(g) = graded.batch.submissions.iter().find(|g| g.student == student) else { continue };
        // Killed: a scored check of the suite itself (predictions aside: mutants carry none) was lost.
        let lost = g
            .checks
            .iter()
            .any(|c| c.kind != "prediction" && c.max_score > 0.0 && c.status != crate::grade::model::CheckStatus::Pass);
        let verdict = match (&g.status, lost, eq) {
            (GradeStatus::Error { .. }, _, _) => {
                errors += 1;
                "NOT GRADED (rerun)".to_string()
            }
            (_, _, Some(why)) => {
                equivalents += 1;
                format!("equivalent: {why}")
            }
            (_, true, None) => {
                killed += 1;
                "killed".into()
            }
            (_, false, None) => {
                survived.push(student.clone());
                "SURVIVED: scores full marks".into()
            }
        };
        println!(
            "{student:<40} {:>5} / {:<5} {verdict}  ({})",
            formats::points(g.score),
            formats::points(g.max_score),
            m.what
        );
    }
    let scored = killed + survived.len();
    println!(
        "mutation score of {}: {killed} of {scored} non-equivalent mutants killed ({equivalents} equivalent, {errors} to rerun){}",
        suite.name,
        if survived.is_empty() { String::new() } else { format!("; survivors: {}", survived.join(", ")) }
    );
    Ok(if errors > 0 {
        exit::INFRASTRUCTURE
    } else if survived.is_empty() {
        exit::PASS
    } else {
        exit::FAIL
    })
}
