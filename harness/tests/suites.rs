//! Every suite in `test-suites/` as a test (libtest-mimic, `harness = false`), so `cargo nextest run` and
//! `cargo test` run them. Listing builds nothing and needs no root; skips (no privileges, kernel feature
//! missing) are decided at list time and show as ignored, never as passes. A failing suite prints its matrix
//! diff.

use libtest_mimic::{Arguments, Failed, Trial};
use reachlab::event::{Event, EventKind, Reporter, Reporters};
use reachlab::kernel::features::Decision;
use reachlab::kernel::features::Features;
use reachlab::report::terminal;
use reachlab::reporters::FilesReporter;
use reachlab::runner::{decide, default_state_dir, run_suite, RunOptions};
use reachlab::{plan, suite};
use std::path::Path;

#[path = "common/consumers.rs"]
mod consumers;

fn main() {
    let args = Arguments::from_args();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../test-suites");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("test-suites/")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    let features = Features::detect();
    let trials = files
        .into_iter()
        .map(|file| {
            let name = file.file_stem().unwrap().to_string_lossy().into_owned();
            let shown = format!("test-suites/{}", file.file_name().unwrap().to_string_lossy());
            let loaded = std::fs::read_to_string(&file)
                .map_err(|e| e.to_string())
                .and_then(|src| suite::load_str(&src, &shown).map_err(|e| e.to_string()));
            match loaded {
                Err(e) => Trial::test(name, move || Err(Failed::from(e))),
                Ok(s) => {
                    // Only a missing feature skips; a detection that failed runs (and fails) the suite.
                    let skip = match decide(&plan::resolve(&s), &features) {
                        Decision::Skip(why) => Some(why),
                        Decision::Run | Decision::Error(_) => None,
                    };
                    if let Some(why) = &skip {
                        eprintln!("suites: {name} will be skipped: {why}");
                    }
                    let features = features.clone();
                    Trial::test(name, move || run(&s, &features)).with_ignored_flag(skip.is_some())
                }
            }
        })
        .collect();
    libtest_mimic::run(&args, trials).exit();
}

fn run(s: &suite::Suite, features: &Features) -> Result<(), Failed> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    // Captures write their pcaps next to the other test outputs.
    let artifacts_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("suites").join(&s.name);
    let opts = RunOptions {
        state_dir: default_state_dir(),
        timeout_ms: None,
        attempts: None,
        artifacts_dir,
        engine: reachlab::engine::EngineMode::Private,
        trace: reachlab::runner::TraceMode::DEFAULT,
    };
    let before = ours();
    let report = rt.block_on(run_suite(s, features, &opts, &Reporters::default()));
    // The reports a run of this suite writes, read by their consumers (Jenkins' schema, junitparser).
    let run = reachlab::report::RunReport::new(vec![report.clone()], report.duration_ms);
    let mut files = FilesReporter::new(opts.artifacts_dir.clone());
    files.on_event(&Event::now(EventKind::SuiteStarted { name: &s.name, file: &s.file })).map_err(|e| e.to_string())?;
    files.on_event(&Event::now(EventKind::RunFinished(&run))).map_err(|e| e.to_string())?;
    consumers::check_run_reports(&opts.artifacts_dir);
    let text = terminal::render_suite(&report, false);
    let left: Vec<String> = ours().into_iter().filter(|n| !before.contains(n)).collect();
    if !left.is_empty() {
        return Err(Failed::from(format!("namespaces left behind: {left:?}\n{text}")));
    }
    if report.skipped.is_some()
        || report.checks.iter().any(|c| c.verdict != reachlab::check::Verdict::Pass)
        || !report.errors.is_empty()
    {
        return Err(Failed::from(text));
    }
    print!("{text}");
    Ok(())
}

/// The run-scoped namespaces on the machine (machine tests run one at a time, so new ones are this suite's).
fn ours() -> Vec<String> {
    std::fs::read_dir("/run/netns")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("rl-"))
        .collect()
}
