//! `reachlab run`.

use super::{exit, load_all, require_privileges, runtime, signals, utc_stamp, CliError};
use crate::engine::EngineMode;
use crate::event::Reporters;
use crate::kernel::features::Features;
use crate::reporters::{progress, use_color, FilesReporter, JsonReporter, ProgressReporter, TerminalReporter};
use crate::runner::{apply_overrides, run_suites, RunOptions};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

/// Arguments of `reachlab run`.
#[derive(clap::Args)]
pub struct Args {
    /// Suite files or directories of suites.
    #[arg(default_value = "test-suites")]
    pub paths: Vec<PathBuf>,
    /// Print the report JSON on stdout (and nothing else there); the terminal view goes to stderr.
    #[arg(long)]
    pub json: bool,
    /// Where to write junit.xml, report.json, summary.md and report.html [default: reports/<suite>-<timestamp>].
    #[arg(long)]
    pub report_dir: Option<PathBuf>,
    /// Probe timeout in milliseconds, for every matrix (overrides the suites).
    #[arg(long)]
    pub timeout_ms: Option<u64>,
    /// Requests per probe, for every matrix (overrides the suites).
    #[arg(long)]
    pub attempts: Option<u32>,
    /// Which Docker engine runs the containers: a private one per run (hermetic), or the machine's own
    /// (`DOCKER_HOST` or the default socket; server1 is then this machine, and checks that could leave the lab
    /// are refused before anything starts).
    #[arg(long, value_enum, default_value = "private")]
    pub engine: EngineMode,
    /// Only the checks a pattern selects: `SUITE[/MATRIX][:FROM->TO][#KIND]`, globs, `!` to exclude
    /// (repeatable; see the README, *Picking checks*).
    #[arg(long, value_name = "PATTERN")]
    pub filter: Vec<String>,
    /// Run only the K-th of N shares of the suites (whole suites, round-robin), e.g. 2/3.
    #[arg(long, value_name = "K/N")]
    pub partition: Option<crate::select::Partition>,
    /// Suites run at once (each is a lab of its own; output stays grouped per suite, in order)
    /// [default: what the machine holds: 6 per CPU, at most one per 256 MiB of available memory].
    #[arg(long, short = 'j')]
    pub jobs: Option<usize>,
    /// After each suite, print where its time went (namespaces, links, engine, image, networks, containers,
    /// settle, probes, captures, teardown).
    #[arg(long)]
    pub timings: bool,
    /// Trace every failing matrix cell (ICMP, UDP, TCP). Without this flag the first 16 are traced: after
    /// judging, each is probed once more with captures on the lab's interfaces and netfilter traces in the lab's
    /// own namespaces, and the path its packets took is reported (pcaps under REPORT-DIR/paths/). A passing cell
    /// costs nothing.
    #[arg(long, conflicts_with = "no_trace")]
    pub trace: bool,
    /// Trace no failing cell (no path probes, no paths in the reports).
    #[arg(long)]
    pub no_trace: bool,
}

pub fn run(args: Args, state_dir: &Path) -> Result<i32, CliError> {
    let filter = crate::select::Filter::parse(&args.filter).map_err(CliError::Usage)?;
    let selected = crate::select::select(load_all(&args.paths)?, &filter, None);
    if selected.is_empty() {
        return Err(CliError::Usage("--filter selected no check".into()));
    }
    let mut suites = crate::select::select(selected, &Default::default(), args.partition);
    if let (true, Some(p)) = (suites.is_empty(), args.partition) {
        // An empty share of a split run is not an error: the other shares have the suites.
        eprintln!("partition {}/{}: no suite falls into it", p.k, p.n);
        return Ok(exit::PASS);
    }
    require_privileges()?;
    let mut opts = RunOptions {
        state_dir: state_dir.to_path_buf(),
        timeout_ms: args.timeout_ms,
        attempts: args.attempts,
        artifacts_dir: PathBuf::new(),
        engine: args.engine,
        trace: crate::runner::trace::mode(args.trace, args.no_trace),
    };
    if args.engine == EngineMode::System {
        let refused: Vec<String> = suites
            .iter()
            .flat_map(|s| crate::system::suite_refusals(s).into_iter().map(move |r| format!("  {}: {r}", s.name)))
            .collect();
        if !refused.is_empty() {
            return Err(CliError::Environment(format!(
                "--engine system: refusing to start, these checks could leave the lab (server2 and the LAN are real machines there, and server1 is this machine):\n{}\nremove them from the suite, or run with the private engine (the default)",
                refused.join("\n")
            )));
        }
    }
    if opts.timeout_ms == Some(0) || opts.attempts == Some(0) {
        return Err(CliError::Usage("--timeout-ms and --attempts must be at least 1".into()));
    }
    for s in &mut suites {
        apply_overrides(s, &opts);
    }
    let report_dir = args.report_dir.clone().unwrap_or_else(|| {
        let stem = if suites.len() == 1 { suites[0].name.clone() } else { "run".into() };
        Path::new("reports").join(format!("{stem}-{}", utc_stamp()))
    });
    opts.artifacts_dir = report_dir.clone();

    let reporters = reporters(args.json, &report_dir, args.timings);
    let jobs = args.jobs.unwrap_or_else(crate::runner::default_jobs);
    if jobs == 0 {
        return Err(CliError::Usage("--jobs must be at least 1".into()));
    }

    let rt = runtime()?;
    let outcome = rt.block_on(async {
        // Link kinds are tried by the builds themselves (a kernel without one refuses to create it; the
        // runner then detects it and skips the suite): no scratch namespace for a run whose suites build.
        let features = Features::at_build(crate::runner::needed(&suites));
        tokio::select! {
            biased;
            // Dropping the run tears the lab down (its guard runs on drop).
            sig = signals::interrupted() => Err(sig),
            report = run_suites(&suites, &features, &opts, &reporters, jobs) => Ok(report),
        }
    });
    let report = match outcome {
        Ok(r) => r,
        Err(sig) => {
            let code = super::stopped(state_dir);
            if code == exit::INTERRUPTED {
                eprintln!("reachlab: {}: stopped; the lab was torn down", signals::describe(sig));
            }
            return Ok(code);
        }
    };
    Ok(finish(&report, &reporters, &report_dir))
}

/// The reporters of `run` (and `probe`): progress on stderr, the terminal view (on stderr with `--json`, which
/// puts the report on stdout), and the report directory.
pub(super) fn reporters(json: bool, report_dir: &Path, timings: bool) -> Reporters {
    let mut reporters = Reporters::default();
    // First: its lines are erased before the terminal view writes a suite where they stood.
    reporters.add(ProgressReporter::new(std::io::stderr(), progress::Mode::for_stderr()));
    if json {
        let terminal = TerminalReporter::new(std::io::stderr(), use_color(std::io::stderr().is_terminal()));
        reporters.add(terminal.timings(timings));
        reporters.add(JsonReporter::new(std::io::stdout()));
    } else {
        let terminal = TerminalReporter::new(std::io::stdout(), use_color(std::io::stdout().is_terminal()));
        reporters.add(terminal.timings(timings));
    }
    reporters.add(FilesReporter::new(report_dir.to_path_buf()));
    reporters
}

/// Says where the reports went and maps the run's statistics to the exit code (`run` and `probe` alike).
pub(super) fn finish(report: &crate::report::RunReport, reporters: &Reporters, report_dir: &Path) -> i32 {
    let errors = reporters.errors();
    for e in &errors {
        eprintln!("reachlab: failed to write a report: {e}");
    }
    eprintln!("reports: {}", report_dir.display());
    exit::code(&exit::Statistics::of_run(report, errors.len()))
}
