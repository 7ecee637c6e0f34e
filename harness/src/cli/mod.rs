//! The `reachlab` command line: one file per subcommand; errors map to documented exit codes.

mod clean;
mod doctor;
mod exec;
mod grade;
mod grade_merge;
mod graph;
mod list;
mod manual;
mod mutate;
mod probe;
mod run;
mod self_check;
pub mod signals;
mod status;
mod up;

use clap::{CommandFactory, Parser, Subcommand};
use std::path::PathBuf;

/// Exit codes (documented in the README).
pub mod exit {
    /// All checks passed.
    pub const PASS: i32 = 0;
    /// A check failed.
    pub const FAIL: i32 = 1;
    /// Invalid suite or usage.
    pub const USAGE: i32 = 2;
    /// The environment is not usable (not root, kernel feature missing for every suite…).
    pub const ENVIRONMENT: i32 = 3;
    /// Harness or infrastructure error (a probe could not run, teardown failed…).
    pub const INFRASTRUCTURE: i32 = 4;
    /// Nothing was checked: every check was skipped (a kernel feature missing …). Not a pass.
    pub const NOTHING_CHECKED: i32 = 5;
    /// Interrupted by Ctrl-C or SIGTERM (after tearing down).
    pub const INTERRUPTED: i32 = 130;

    /// What a command checked, for its exit code: checks of a run (`run`, `probe`), submissions of a batch
    /// (`grade`, `grade merge`: a graded submission counts as passed, one to rerun as an error), or the one
    /// submission of `check` (full marks pass, fewer fail).
    #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
    pub struct Statistics {
        /// Passed.
        pub passed: usize,
        /// Failed.
        pub failed: usize,
        /// Could not be decided (a probe could not run, a submission must be rerun).
        pub errors: usize,
        /// Not run, for a reason decided before running.
        pub skipped: usize,
        /// Infrastructure problems beside the checks: a suite's lab could not be built or left, a report could
        /// not be written.
        pub infrastructure: usize,
    }

    impl Statistics {
        /// A run's checks, its suites' infrastructure errors and the reporters' `reporting_errors`.
        pub fn of_run(r: &crate::report::RunReport, reporting_errors: usize) -> Statistics {
            Statistics {
                passed: r.passed,
                failed: r.failed,
                errors: r.errors,
                skipped: r.skipped,
                infrastructure: r.suites.iter().filter(|s| !s.errors.is_empty()).count() + reporting_errors,
            }
        }

        /// A batch's submissions: graded ones pass (a class's grades are not a failure), the rest are errors.
        pub fn of_batch(b: &crate::grade::model::Batch, reporting_errors: usize) -> Statistics {
            let graded = b.submissions.iter().filter(|g| g.status == crate::grade::model::GradeStatus::Graded).count();
            Statistics {
                passed: graded,
                errors: b.submissions.len() - graded,
                infrastructure: reporting_errors,
                ..Statistics::default()
            }
        }

        /// One submission checked by its student: full marks pass, fewer fail.
        pub fn of_submission(g: &crate::grade::model::SubmissionGrade, reporting_errors: usize) -> Statistics {
            let mut s = Statistics { infrastructure: reporting_errors, ..Statistics::default() };
            match g.status {
                crate::grade::model::GradeStatus::Error { .. } => s.errors = 1,
                crate::grade::model::GradeStatus::Graded if g.score < g.max_score => s.failed = 1,
                crate::grade::model::GradeStatus::Graded => s.passed = 1,
            }
            s
        }
    }

    /// The documented exit code of what a command checked: 4 when anything could not be decided or an
    /// infrastructure problem happened, else 1 when something failed, else 5 when nothing passed (everything was
    /// skipped: not a pass, as nextest's "no tests run"), else 0.
    pub fn code(s: &Statistics) -> i32 {
        if s.errors > 0 || s.infrastructure > 0 {
            INFRASTRUCTURE
        } else if s.failed > 0 {
            FAIL
        } else if s.passed == 0 {
            NOTHING_CHECKED
        } else {
            PASS
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn infrastructure_beats_failure_beats_nothing_checked_beats_pass() {
            let s = |passed, failed, errors, skipped, infrastructure| Statistics {
                passed,
                failed,
                errors,
                skipped,
                infrastructure,
            };
            assert_eq!(code(&s(3, 0, 0, 1, 0)), PASS);
            assert_eq!(code(&s(3, 1, 0, 0, 0)), FAIL);
            assert_eq!(code(&s(3, 1, 1, 0, 0)), INFRASTRUCTURE);
            assert_eq!(code(&s(3, 1, 0, 0, 1)), INFRASTRUCTURE, "a report that could not be written");
            assert_eq!(code(&s(0, 0, 0, 4, 0)), NOTHING_CHECKED, "every check skipped is not a pass");
            assert_eq!(code(&s(0, 2, 0, 4, 0)), FAIL);
            assert_eq!(code(&s(0, 0, 1, 4, 0)), INFRASTRUCTURE);
        }

        #[test]
        fn a_class_with_low_grades_passes_and_one_to_rerun_does_not() {
            use crate::grade::model::{Batch, GradeStatus, SubmissionGrade};
            let grade = |student: &str, status: GradeStatus, score: f64| SubmissionGrade {
                student: student.into(),
                suite: "netns".into(),
                suite_version: "v".into(),
                submission_version: "w".into(),
                status,
                score,
                max_score: 10.0,
                checks: Vec::new(),
                output: String::new(),
                duration_ms: 0,
                phases: Vec::new(),
                setup_ended: None,
                matrices: Vec::new(),
            };
            let low = grade("a", GradeStatus::Graded, 2.0);
            let full = grade("b", GradeStatus::Graded, 10.0);
            let rerun = grade("c", GradeStatus::Error { reason: "dockerd did not start".into() }, 0.0);
            let batch = |subs: Vec<SubmissionGrade>| Batch {
                suite: "netns".into(),
                suite_version: "v".into(),
                submissions: subs,
            };
            assert_eq!(code(&Statistics::of_batch(&batch(vec![low.clone(), full.clone()]), 0)), PASS);
            assert_eq!(code(&Statistics::of_batch(&batch(vec![low.clone(), rerun.clone()]), 0)), INFRASTRUCTURE);
            assert_eq!(code(&Statistics::of_batch(&batch(vec![full.clone()]), 1)), INFRASTRUCTURE);
            assert_eq!(code(&Statistics::of_submission(&low, 0)), FAIL);
            assert_eq!(code(&Statistics::of_submission(&full, 0)), PASS);
            assert_eq!(code(&Statistics::of_submission(&rerun, 0)), INFRASTRUCTURE);
        }
    }
}

/// A command-line failure, mapped to an exit code.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Bad input.
    #[error("{0}")]
    Usage(String),
    /// The machine cannot run labs.
    #[error("{0}")]
    Environment(String),
    /// Something broke that is not the suite's fault.
    #[error("{0}")]
    Infrastructure(String),
    /// A suite file that does not load (kept typed to here: the located diagnostic is rendered only now).
    #[error(transparent)]
    Suite(#[from] crate::suite::LoadError),
    /// Suite files that do not load: every one of them, not only the first.
    #[error("invalid suite:\n{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n\n"))]
    Suites(Vec<crate::suite::LoadError>),
}

impl CliError {
    /// The process exit code.
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::Usage(_) | CliError::Suite(_) | CliError::Suites(_) => exit::USAGE,
            CliError::Environment(_) => exit::ENVIRONMENT,
            CliError::Infrastructure(_) => exit::INFRASTRUCTURE,
        }
    }
}

#[derive(Parser)]
#[command(
    name = "reachlab",
    version,
    about = "Build container-networking labs from declarative suites, probe them with real packets, grade the matrices."
)]
struct Cli {
    /// Where run ledgers are kept (for teardown after a crash).
    #[arg(long, global = true, env = "REACHLAB_STATE_DIR", default_value = "/run/reachlab")]
    state_dir: PathBuf,
    /// When to color the terminal view: `auto` colors a terminal unless NO_COLOR is set, or any output when
    /// CLICOLOR_FORCE is set (not 0).
    #[arg(long, global = true, value_enum, default_value = "auto", value_name = "WHEN")]
    color: crate::report::terminal::ColorChoice,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Build each suite's topology, probe it, judge it, tear it down, and write reports.
    Run(run::Args),
    /// List suites and their checks without building anything.
    List(list::Args),
    /// Check privileges, kernel features and the container engine; say what would be skipped.
    Doctor(list::Paths),
    /// Build a suite's topology and leave it standing to explore.
    Up(up::UpArgs),
    /// Probe a lab left standing by `reachlab up` again, judge and report as `run` does; it stays standing.
    Probe(probe::Args),
    /// Tear down labs left standing by `reachlab up`.
    Down(up::DownArgs),
    /// List the labs on this machine: left by `reachlab up`, running, or left by a stopped run.
    Status(status::Args),
    /// Run a command inside a node (namespace or container) of a lab left by `reachlab up`.
    Exec(exec::Args),
    /// Remove what crashed or killed runs left behind (only what their ledgers name).
    Clean(clean::Args),
    /// Grade student submissions (each in its own sandboxed lab) and write LMS formats.
    Grade(grade_merge::GradeCommand),
    /// Check your own submission against a grading suite and print the feedback.
    Check(self_check::Args),
    /// Mutation testing of a grading suite: grade mistakes derived from correct submissions; report survivors.
    Mutate(mutate::MutateArgs),
    /// Print the JSON Schema of suite files.
    Schema,
    /// Print a suite's topology as SVG (or Graphviz DOT with --format dot); builds nothing.
    Graph(graph::Args),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(manual::CompletionsArgs),
    /// Print the manual page (roff; `reachlab man | man -l -`).
    Man,
}

/// Runs the command line and returns the exit code.
pub fn main() -> i32 {
    // Before anything else: a signal from here on stops the run cleanly instead of killing it mid-build.
    signals::install();
    let cli = Cli::parse();
    crate::reporters::set_color_choice(cli.color);
    let state_dir = cli.state_dir.clone();
    let result = match cli.command {
        Command::Run(a) => run::run(a, &cli.state_dir),
        Command::List(a) => list::list(a, &cli.state_dir),
        Command::Doctor(a) => doctor::doctor(a, &cli.state_dir),
        Command::Up(a) => up::up(a, &cli.state_dir),
        Command::Probe(a) => probe::probe(a, &cli.state_dir),
        Command::Down(a) => up::down(a, &cli.state_dir),
        Command::Status(a) => status::status(a, &cli.state_dir),
        Command::Exec(a) => exec::exec(a, &cli.state_dir),
        Command::Clean(a) => clean::clean(a, &cli.state_dir),
        Command::Grade(a) => match (a.sub, a.grade) {
            (Some(grade_merge::GradeSub::Merge(m)), _) => grade_merge::merge(m),
            (None, Some(g)) => grade::grade(g, &cli.state_dir),
            (None, None) => Err(CliError::Usage("grade: give --suite SUITE and submissions (see --help)".into())),
        },
        Command::Check(a) => self_check::check(a, &cli.state_dir),
        Command::Mutate(a) => mutate::mutate(a, &cli.state_dir),
        Command::Schema => {
            print!("{}", crate::suite::schema::json());
            Ok(exit::PASS)
        }
        Command::Graph(a) => graph::graph(a),
        Command::Completions(a) => manual::completions(a, Cli::command()),
        Command::Man => manual::man(Cli::command()),
    };
    let code = match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("reachlab: {e}");
            e.exit_code()
        }
    };
    match signals::received() {
        // A signal that arrived while the command was finishing (its teardown, say) was honoured by letting it
        // finish; the exit status still says the command was interrupted, unless something worse happened.
        Some(sig) if code != exit::INFRASTRUCTURE && code != exit::INTERRUPTED => {
            eprintln!("reachlab: {}: received while finishing; finished first", signals::describe(sig));
            stopped(&state_dir)
        }
        _ => code,
    }
}

/// Runs `fut` on `rt` unless an interrupt comes first: then `None`, and dropping `fut` tears down whatever
/// it built (its labs' guards run on drop).
pub(crate) fn block_on_interruptible<T>(
    rt: &tokio::runtime::Runtime,
    fut: impl std::future::Future<Output = T>,
) -> Option<T> {
    rt.block_on(async {
        tokio::select! {
            biased;
            _ = signals::interrupted() => None,
            v = fut => Some(v),
        }
    })
}

/// The exit code after an interrupt: 130 when everything this process built is gone, 4 (with what is left and
/// how to remove it) when a teardown did not finish.
pub(crate) fn stopped(state_dir: &std::path::Path) -> i32 {
    // A teardown under way on a blocking thread is finished first (the interrupted future is gone, its thread
    // is not); what remains after it is what did not come down.
    crate::lab::inflight::TEARDOWNS.wait_idle(std::time::Duration::from_secs(60));
    let left = crate::lab::ledger::left_by_this_process(state_dir);
    if left.is_empty() {
        return exit::INTERRUPTED;
    }
    for record in &left {
        eprintln!("reachlab: teardown of run {} (suite {}) did not finish; left:", record.run_id, record.suite);
        for line in crate::lab::ledger::describe_left(record) {
            eprintln!("  {line}");
        }
    }
    eprintln!("remove what is left with `reachlab clean` (its ledger is kept under {})", state_dir.display());
    exit::INFRASTRUCTURE
}

/// Suite files named by the arguments: files as given, directories' `*.toml` sorted by name.
pub fn suite_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, CliError> {
    let mut files = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(p)
                .map_err(|e| CliError::Usage(format!("failed to read {}: {e}", p.display())))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| f.extension().is_some_and(|x| x == "toml"))
                .collect();
            found.sort();
            files.extend(found);
        } else if p.exists() {
            files.push(p.clone());
        } else {
            return Err(CliError::Usage(format!("no suite at {}", p.display())));
        }
    }
    if files.is_empty() {
        return Err(CliError::Usage("no suites found (looked for *.toml)".into()));
    }
    Ok(files)
}

/// Loads every suite, reporting every broken one (not only the first) before giving up.
pub fn load_all(paths: &[PathBuf]) -> Result<Vec<crate::suite::Suite>, CliError> {
    let mut suites = Vec::new();
    let mut broken = Vec::new();
    for f in suite_files(paths)? {
        match crate::suite::load_file(&f) {
            Ok(s) => suites.push(s),
            Err(e) => broken.push(e),
        }
    }
    if broken.is_empty() {
        Ok(suites)
    } else {
        Err(CliError::Suites(broken))
    }
}

/// A tokio runtime for a command.
pub fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| CliError::Infrastructure(format!("failed to start the async runtime: {e}")))
}

/// Fails with exit code 3 unless this process may build labs.
pub fn require_privileges() -> Result<(), CliError> {
    match crate::kernel::privilege::unprivileged_reason() {
        Some(why) => Err(CliError::Environment(format!("cannot build labs: {why} (see `reachlab doctor`)"))),
        None => Ok(()),
    }
}

/// `YYYYMMDDTHHMMSSZ` for report directory names.
pub fn utc_stamp() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}
