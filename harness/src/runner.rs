//! The runner: for each suite, plan → (skip | build → probe → judge) → teardown, emitting events.

use crate::check::{Action, Check, Observation, Outcome};
use crate::engine::EngineMode;
use crate::event::{EventKind, Reporters, SuiteWatch};
use crate::judge::judge;
use crate::kernel::features::{Decision, Features};
use crate::lab::live::LiveLab;
use crate::plan::{self, Plan};
use crate::probe::waves::probe_in_waves;
use crate::probe::{capture_checks, LabNeighbours, LabProber};
use crate::report::{RunReport, SuiteReport};
use crate::suite::Suite;
use crate::timings::{Timings, Watch};
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;

pub(crate) mod trace;
pub use trace::TraceMode;

/// How to run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Where ledgers are persisted.
    pub state_dir: PathBuf,
    /// Overrides every matrix's timeout.
    pub timeout_ms: Option<u64>,
    /// Overrides every matrix's attempts.
    pub attempts: Option<u32>,
    /// Where captures write their pcap files (the report directory).
    pub artifacts_dir: PathBuf,
    /// Which engine runs the containers.
    pub engine: EngineMode,
    /// After judging, observe again where the packets of failing matrix checks went (by default the first
    /// few; `run --trace`: all, `--no-trace`: none).
    pub trace: TraceMode,
}

/// The default state directory: on tmpfs, so it vanishes with the namespaces at reboot.
pub fn default_state_dir() -> PathBuf {
    std::env::var_os("REACHLAB_STATE_DIR").map_or_else(|| PathBuf::from("/run/reachlab"), PathBuf::from)
}

/// A fresh run id: six hex digits, part of every kernel name a run makes.
pub fn new_run_id() -> String {
    format!("{:06x}", rand::random::<u32>() & 0xff_ffff)
}

/// Applies command-line overrides to a suite.
pub fn apply_overrides(suite: &mut Suite, opts: &RunOptions) {
    for m in &mut suite.matrices {
        if let Some(t) = opts.timeout_ms {
            m.settings.timeout_ms = t;
        }
        if let Some(a) = opts.attempts {
            m.settings.attempts = a;
        }
    }
}

/// Whether a suite runs, is skipped or cannot be decided, from what it needs — before running anything.
pub fn decide(plan: &Plan, features: &Features) -> Decision {
    features.decide(&plan.requires)
}

/// Every feature some of `suites` need (so that only those are detected).
pub fn needed(suites: &[Suite]) -> std::collections::BTreeSet<crate::plan::Feature> {
    suites.iter().flat_map(|s| plan::resolve(s).requires).collect()
}

fn ms_since(t: Instant) -> u64 {
    t.elapsed().as_millis() as u64
}

/// Runs one suite end to end, emitting its events (its phases as they come, then each judged check and the
/// suite). Infrastructure problems become `error` verdicts and suite errors, never failures.
pub async fn run_suite(suite: &Suite, features: &Features, opts: &RunOptions, events: &Reporters) -> SuiteReport {
    let report = run_suite_unfinished(suite, features, opts, events).await;
    suite_finished(events, &report);
    report
}

/// Emits a judged suite: one [`EventKind::CheckFinished`] per check, then [`EventKind::SuiteFinished`].
pub fn suite_finished(events: &Reporters, report: &SuiteReport) {
    for check in &report.checks {
        let elapsed = check.duration_ms.map(std::time::Duration::from_millis);
        events.emit(EventKind::CheckFinished { suite: &report.name, check, elapsed });
    }
    events.emit(EventKind::SuiteFinished(report));
}

/// [`run_suite`] up to its judged report: the events of its phases, not those of its results.
async fn run_suite_unfinished(
    suite: &Suite,
    features: &Features,
    opts: &RunOptions,
    events: &Reporters,
) -> SuiteReport {
    let wall = std::time::SystemTime::now();
    let mut report = run_suite_from_start(suite, features, opts, events).await;
    report.started_at = Some(crate::report::junit_xml::utc(wall));
    report
}

async fn run_suite_from_start(
    suite: &Suite,
    features: &Features,
    opts: &RunOptions,
    events: &Reporters,
) -> SuiteReport {
    let started = Instant::now();
    events.emit(EventKind::SuiteStarted { name: &suite.name, file: &suite.file });
    let mut plan = plan::resolve(suite);
    if opts.engine == EngineMode::System {
        plan = crate::system::without_lan(plan);
        let refused = crate::system::refusals(suite, &plan);
        // (The command line refuses these before starting; this keeps the library safe on its own.)
        if !refused.is_empty() {
            let why = format!("refused to start with --engine system: {}", refused.join("; "));
            let obs: HashMap<usize, Observation> =
                plan.checks.iter().map(|c| (c.id, Observation::error(why.clone()))).collect();
            let mut report = SuiteReport::new(suite, &judge(&plan.checks, &obs, None), None, vec![why]);
            report.duration_ms = ms_since(started);
            return report;
        }
    }
    match decide(&plan, features) {
        Decision::Run => {}
        Decision::Skip(why) => {
            let results = judge(&plan.checks, &HashMap::new(), Some(&why));
            let mut report = SuiteReport::new(suite, &results, Some(why), Vec::new());
            report.duration_ms = ms_since(started);
            return report;
        }
        Decision::Error(why) => {
            let why = format!("cannot tell whether this machine can build the suite: {why}");
            let obs: HashMap<usize, Observation> =
                plan.checks.iter().map(|c| (c.id, Observation::error(format!("not probed: {why}")))).collect();
            let mut report = SuiteReport::new(suite, &judge(&plan.checks, &obs, None), None, vec![why]);
            report.duration_ms = ms_since(started);
            return report;
        }
    }

    let mut errors = Vec::new();
    let mut notes = Vec::new();
    let mut setup_ms = 0;
    let mut paths = HashMap::new();
    let mut skipped = None;
    let watch = SuiteWatch { events, name: &suite.name };
    let mut timings = Timings::watched(&watch);
    let run_id = new_run_id();
    let lab = match opts.engine {
        EngineMode::Private => LiveLab::new(&opts.state_dir, &run_id, &suite.name),
        EngineMode::System => LiveLab::new_system(&opts.state_dir, &run_id, &suite.name).await,
    };
    let mut observations = match lab {
        Err(e) => {
            errors.push(format!("failed to write the ledger under {}: {e}", opts.state_dir.display()));
            HashMap::new()
        }
        Ok(mut lab) => {
            let built = crate::lab::build_timed(&mut lab, &plan, &mut timings).await;
            let inventory = match built {
                Ok(()) => lab.inventory().await,
                Err(e) => {
                    // The kernel lacks what the suite needs: a skip, as a detection before the build would say.
                    if let Some(why) = features.missing_after_failed_build(&plan.requires).await {
                        notes.push(format!("found while building the lab: {e}"));
                        skipped = Some(why);
                    }
                    Err(e)
                }
            };
            setup_ms = ms_since(started);
            notes.extend(lab.notes().iter().cloned());
            let observations = match inventory {
                Err(_) if skipped.is_some() => HashMap::new(),
                Err(e) => {
                    errors.push(e.to_string());
                    HashMap::new()
                }
                Ok(inventory) => {
                    events.emit(EventKind::TopologyReady { name: &suite.name, setup_ms });
                    let dir = &opts.artifacts_dir;
                    let observations = observe_timed(&lab, suite, &plan, inventory.clone(), dir, &mut timings).await;
                    if opts.trace != TraceMode::Off {
                        // Timed as part of explaining: it is help for failures, after the probes.
                        let none = Default::default();
                        let traced = trace::trace_failures(
                            &lab,
                            &plan,
                            &inventory,
                            &observations,
                            dir,
                            &suite.name,
                            opts.trace,
                            &none,
                        );
                        let traced = timings.time("explain", traced).await;
                        notes.extend(traced.note());
                        paths = traced.paths;
                    }
                    observations
                }
            };
            let started_teardown = Instant::now();
            watch.phase("teardown");
            errors.extend(lab.teardown_blocking().await.iter().map(|e| format!("teardown: {e}")));
            timings.add("teardown", ms_since(started_teardown));
            observations
        }
    };
    if let Some(first) = errors.first() {
        // Nothing was observed because the lab could not be built (or left): say why on every check.
        for c in &plan.checks {
            observations.entry(c.id).or_insert_with(|| Observation::error(format!("not probed: {first}")));
        }
    }
    // A skip stands only if tearing down went well (a lab left behind is an error, whatever else happened).
    let skip = skipped.filter(|_| errors.is_empty());
    let mut results = judge(&plan.checks, &observations, skip.as_deref());
    for r in &mut results {
        r.path = paths.remove(&r.check.id);
    }
    let mut report = SuiteReport::new(suite, &results, skip, errors);
    report.set_durations(&results, &timings.checks);
    report.notes = notes;
    report.setup_ms = setup_ms;
    report.duration_ms = ms_since(started);
    report.timings = timings.phases;
    report
}

/// How long a built lab may take to settle before it counts as broken (the kernel's link watcher delays
/// non-urgent carrier changes by up to a second).
const READY_LIMIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Probes a built lab: waits until it settles, probes every check (captures around them), and adds the time of
/// each phase (settle, probes, captures) and of each check to `timings`.
pub(crate) async fn observe_timed(
    lab: &LiveLab,
    suite: &Suite,
    plan: &Plan,
    inventory: crate::inventory::Inventory,
    dir: &std::path::Path,
    timings: &mut Timings<'_>,
) -> HashMap<usize, Observation> {
    // Probing before the links settle would see frames dropped that a moment later pass.
    if let Err(e) = timings.time("settle", lab.wait_ready(READY_LIMIT)).await {
        let why = format!("not probed: {e}");
        return plan.checks.iter().map(|c| (c.id, Observation::error(why.clone()))).collect();
    }
    if let Some(o) = lab_changed(lab, plan).await {
        return o;
    }
    let running = timings.time("captures", capture_checks::start(lab, suite, &inventory, dir)).await;
    let capturing = Instant::now();
    let prober = LabProber::new(lab, inventory.clone());
    let timed = crate::probe::timing::Timed::new(&prober);
    let probes: Vec<&Check> = plan.checks.iter().filter(|c| !matches!(c.action, Action::Capture { .. })).collect();
    let counted = Counted::new(&timed, probes.len(), timings.watch());
    let mut observations = timings.time("probes", probe_in_waves(&counted, &LabNeighbours(lab), &probes)).await;
    observations.extend(timings.time("captures", capture_checks::finish(running, &plan.checks, &inventory)).await);
    // Each check's own time (the reports' per-check `time`); a capture's is how long it ran.
    drop(counted);
    timings.checks.extend(timed.into_times());
    let captured = ms_since(capturing);
    for c in plan.checks.iter().filter(|c| matches!(c.action, Action::Capture { .. })) {
        timings.checks.insert(c.id, captured);
    }
    // A bound that holds when nothing is sent says nothing unless the packets it is about were sent.
    capture_checks::require_sent(suite, &plan.checks, &mut observations, &inventory);
    // What was observed in a lab that changed meanwhile says nothing about the lab the suite describes.
    if let Some(o) = lab_changed(lab, plan).await {
        return o;
    }
    timings.time("explain", explain(lab, plan, &inventory, &mut observations)).await;
    observations
}

/// Every check as an error when the lab changed under the run (see [`LiveLab::changed`]).
async fn lab_changed(lab: &LiveLab, plan: &Plan) -> Option<HashMap<usize, Observation>> {
    let changes = lab.changed().await;
    if changes.is_empty() {
        return None;
    }
    let why = format!("the lab changed under the run: {}", changes.join("; "));
    Some(plan.checks.iter().map(|c| (c.id, Observation::error(why.clone()))).collect())
}

/// Gives every probe that did not get through the reasons the lab as built shows (read back only when some
/// probe needs them).
async fn explain(
    lab: &LiveLab,
    plan: &Plan,
    inventory: &crate::inventory::Inventory,
    observations: &mut HashMap<usize, Observation>,
) {
    let negative = |o: &Observation| {
        matches!(o, Observation::Observed { outcome: Outcome::Unreachable | Outcome::Dropped | Outcome::Refused, .. })
    };
    if !observations.values().any(negative) {
        return;
    }
    // Explanations are help, not evidence: a lab that cannot be read back just gets none.
    let Ok(facts) = lab.facts(inventory).await else { return };
    for check in &plan.checks {
        let Some(to) = crate::plan::probe_destination(&check.action) else { continue };
        let Some(o @ Observation::Observed { .. }) = observations.get_mut(&check.id) else { continue };
        if !negative(o) {
            continue;
        }
        let Observation::Observed { outcome, target, why, .. } = o else { continue };
        let target = target.or(check.target);
        let path = match target {
            Some(ip) => lab.path_facts(&check.from, &to.node, ip).await,
            None => crate::explain::PathFacts::default(),
        };
        *why = crate::explain::why(&facts, &path, &check.from, &to.node, target, outcome);
    }
}

/// Counts the probes of `inner` as they answer, telling a [`Watch`] (each check once, however often a wave is
/// probed again).
struct Counted<'p, P> {
    inner: &'p P,
    total: usize,
    done: std::sync::Mutex<std::collections::HashSet<usize>>,
    watch: Option<&'p dyn Watch>,
}

impl<'p, P: crate::probe::Prober> Counted<'p, P> {
    fn new(inner: &'p P, total: usize, watch: Option<&'p dyn Watch>) -> Self {
        if let Some(w) = watch {
            w.probed(0, total);
        }
        Counted { inner, total, done: Default::default(), watch }
    }
}

impl<P: crate::probe::Prober> crate::probe::Prober for Counted<'_, P> {
    async fn probe(&self, check: &Check) -> Observation {
        let o = self.inner.probe(check).await;
        let done = {
            let mut done = self.done.lock().unwrap_or_else(|e| e.into_inner());
            done.insert(check.id).then_some(done.len())
        };
        if let (Some(w), Some(done)) = (self.watch, done) {
            w.probed(done, self.total);
        }
        o
    }
}

/// Labs run at once per CPU by default: a suite's lab mostly waits (probe timeouts, its engine starting, the
/// kernel), so on 2 CPUs 12 suites at once still finish sooner than fewer, with the same verdicts (measured:
/// bench/results.md).
pub const LABS_PER_CPU: usize = 6;

/// Memory one lab may take, for the default number at once: a private engine (dockerd, containerd, its
/// containers) with room to spare.
pub const LAB_MEMORY: u64 = 256 << 20;

/// How many suites `run` runs at once by default: what the machine holds, [`LABS_PER_CPU`] per CPU and no more
/// than its available memory holds at [`LAB_MEMORY`] each (at least 1).
pub fn default_jobs() -> usize {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let available = std::fs::read_to_string("/proc/meminfo").ok().and_then(|m| mem_available(&m));
    jobs_for(cpus, available)
}

/// [`default_jobs`] for `cpus` CPUs and `available` bytes of memory (unknown: no memory bound). Pure.
pub fn jobs_for(cpus: usize, available: Option<u64>) -> usize {
    let by_memory = available.map_or(usize::MAX, |m| usize::try_from(m / LAB_MEMORY).unwrap_or(usize::MAX));
    cpus.saturating_mul(LABS_PER_CPU).min(by_memory).max(1)
}

/// `MemAvailable` of /proc/meminfo, in bytes.
fn mem_available(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Runs suites and totals them: up to `jobs` at once (each suite is a lab of its own, with its own run id,
/// namespaces and engine). Every suite's phases reach the reporters as they happen; its results (its checks and
/// the suite) reach them whole and in the suites' order, whatever order they finish in, so output stays
/// grouped per suite and deterministic.
pub async fn run_suites(
    suites: &[Suite],
    features: &Features,
    opts: &RunOptions,
    events: &Reporters,
    jobs: usize,
) -> RunReport {
    use futures::stream::{self, StreamExt};
    let started = Instant::now();
    events.emit(EventKind::RunStarted { suites: suites.len() });
    let mut reports = Vec::new();
    let mut finished =
        stream::iter(suites).map(|suite| run_suite_unfinished(suite, features, opts, events)).buffered(jobs.max(1));
    while let Some(report) = finished.next().await {
        suite_finished(events, &report);
        reports.push(report);
    }
    let report = RunReport::new(reports, ms_since(started));
    events.emit(EventKind::RunFinished(&report));
    report
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Event, Reporter, SuitePhase};
    use std::sync::{Arc, Mutex};

    /// Records what each event was about.
    struct Record(Arc<Mutex<Vec<String>>>);

    impl Reporter for Record {
        fn on_event(&mut self, e: &Event<'_>) -> std::io::Result<()> {
            let what = match &e.kind {
                EventKind::CheckFinished { check, .. } => format!("check {}", check.name),
                EventKind::SuiteFinished(s) => format!("suite {}", s.name),
                EventKind::SuitePhase { phase, .. } => phase.label(),
                other => format!("{other:?}"),
            };
            self.0.lock().unwrap().push(what);
            Ok(())
        }
    }

    fn recorded() -> (Reporters, Arc<Mutex<Vec<String>>>) {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let mut events = Reporters::default();
        events.add(Record(seen.clone()));
        (events, seen)
    }

    fn netns() -> Suite {
        crate::suite::load_file(std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../test-suites/netns.toml")))
            .unwrap()
    }

    #[test]
    fn a_finished_suite_is_one_event_per_check_then_the_suite() {
        let suite = netns();
        let plan = plan::resolve(&suite);
        let report = SuiteReport::new(&suite, &judge(&plan.checks, &HashMap::new(), None), None, Vec::new());
        let (events, seen) = recorded();
        suite_finished(&events, &report);
        let seen = seen.lock().unwrap().clone();
        let mut expected: Vec<String> = plan.checks.iter().map(|c| format!("check {}", c.name)).collect();
        expected.push(format!("suite {}", suite.name));
        assert_eq!(seen, expected);
    }

    #[test]
    fn the_default_jobs_are_what_cpus_and_memory_hold() {
        let meminfo = "MemTotal:       24684032 kB\nMemFree:        23250000 kB\nMemAvailable:   24045000 kB\n";
        let available = mem_available(meminfo);
        assert_eq!(available, Some(24_045_000 * 1024));
        assert_eq!(jobs_for(2, available), 2 * LABS_PER_CPU, "CPUs bound it when memory is plenty");
        assert_eq!(jobs_for(64, Some(1 << 30)), 4, "1 GiB holds 4 labs, however many CPUs");
        assert_eq!(jobs_for(2, Some(100 << 20)), 1, "at least one");
        assert_eq!(jobs_for(1, None), LABS_PER_CPU, "no memory bound when it is unknown");
        assert_eq!(mem_available("MemTotal: 1 kB\n"), None);
    }

    /// A prober that answers every check at once.
    struct Answers;

    impl crate::probe::Prober for Answers {
        async fn probe(&self, _check: &Check) -> Observation {
            Observation::seen(Outcome::Reachable, "echo reply")
        }
    }

    #[test]
    fn probes_are_counted_once_each_as_they_answer() {
        let suite = netns();
        let plan = plan::resolve(&suite);
        let (events, seen) = recorded();
        let watch = SuiteWatch { events: &events, name: &suite.name };
        let counted = Counted::new(&Answers, 2, Some(&watch));
        futures::executor::block_on(async {
            use crate::probe::Prober;
            counted.probe(&plan.checks[0]).await;
            // Probed again (a spoiled wave): still one.
            counted.probe(&plan.checks[0]).await;
            counted.probe(&plan.checks[1]).await;
        });
        assert_eq!(*seen.lock().unwrap(), ["probes 0/2", "probes 1/2", "probes 2/2"]);
        assert_eq!(SuitePhase::of_timing("engine"), Some(SuitePhase::Engine));
        assert_eq!(SuitePhase::of_timing("links"), Some(SuitePhase::Topology));
        assert_eq!(SuitePhase::of_timing("probes"), None, "probes are counted, not announced");
    }
}
