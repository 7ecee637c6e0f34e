//! Grading one submission: reachlab builds the environment the lab assumes (server1 with its private engine,
//! the LAN, server2), the submission's `setup.sh` builds the rest inside its sandbox, reachlab adopts the
//! endpoints the suite names, probes them, and scores what it observes.

use super::model::SubmissionGrade;
use super::sandbox::{self, Sandbox, SetupOutcome};
use super::score::{self, Identity};
use crate::check::{Observation, Outcome};
use crate::engine::daemon::Confine;
use crate::judge::judge;
use crate::kernel::cgroup::{LabCgroup, Limits};
use crate::kernel::features::Features;
use crate::kernel::userns::{self, UserNs};
use crate::lab::live::LiveLab;
use crate::plan::{self, Plan, Touches};
use crate::probe::nodes::Nodes;
use crate::suite::{Lab, Suite};
use sha2::{Digest, Sha256};
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How to grade.
#[derive(Debug, Clone)]
pub struct GradeOptions {
    /// Ledgers and engines.
    pub state_dir: PathBuf,
    /// Where this submission's outputs (and pcaps) go (the sandbox sees none of the machine's directories).
    pub out_dir: PathBuf,
    /// Which failing cells get a path probe (their path goes into the check's output and the feedback).
    pub trace: crate::runner::TraceMode,
}

/// The plan for grading: only what the lab's environment provides (the LAN's namespaces, cables and switch,
/// server1's engine and images). The suite's own namespaces and Docker objects are the submission's to build.
pub fn environment_plan(plan: Plan) -> Plan {
    let ours = |ns: &&str| Lab::ENVIRONMENT.contains(ns);
    plan.retain(|t| match t {
        Touches::Namespaces(ns) => ns.iter().all(ours),
        Touches::Engine => true,
        Touches::DockerObjects => false,
    })
}

/// How long after `setup.sh` returns the lab is observed: what it started in the background binds its ports
/// within tens of milliseconds (measured: under 20 ms for a detached `docker exec`), so this leaves a wide margin
/// on a loaded machine.
pub const SETTLE: Duration = Duration::from_secs(1);

/// A short content hash (files by relative path, sorted), for resumable and reproducible grading.
pub fn content_hash(path: &Path) -> String {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir).into_iter().flatten().flatten().collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let p = e.path();
            if p.is_dir() {
                walk(base, &p, out);
            } else if let Ok(bytes) = std::fs::read(&p) {
                out.push((p.strip_prefix(base).unwrap_or(&p).display().to_string(), bytes));
            }
        }
    }
    let mut files = Vec::new();
    if path.is_dir() {
        walk(path, path, &mut files);
    } else if let Ok(bytes) = std::fs::read(path) {
        files.push((String::new(), bytes));
    }
    let mut h = Sha256::new();
    for (name, bytes) in files {
        h.update(name.as_bytes());
        h.update([0]);
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(&bytes);
    }
    h.finalize().iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// A submission that is not graded, for `reason` (an infrastructure problem): nothing observed, to rerun.
pub fn not_graded(suite: &Suite, suite_version: &str, submission: &Path, reason: &str) -> SubmissionGrade {
    let student = submission.file_name().map_or_else(|| "submission".into(), |n| n.to_string_lossy().into_owned());
    let hash = content_hash(submission);
    let id = Identity { student: &student, suite_version, submission_version: &hash };
    let checks = plan::resolve(suite).checks;
    let results = judge(&checks, &HashMap::new(), None);
    score::score(suite, &results, None, &[reason.to_string()], &id, "", &BTreeSet::new())
}

/// Grades one submission directory against a grading suite. `holes` are the checks calibration found passing
/// without any submission (they award no points).
pub async fn grade(
    suite: &Suite,
    suite_version: &str,
    submission: &Path,
    features: &Features,
    opts: &GradeOptions,
    holes: &BTreeSet<String>,
) -> SubmissionGrade {
    let started = Instant::now();
    let student = submission.file_name().map_or_else(|| "submission".into(), |n| n.to_string_lossy().into_owned());
    let id_hash = content_hash(submission);
    let id = Identity { student: &student, suite_version, submission_version: &id_hash };
    let full = plan::resolve(suite);
    let checks = full.checks.clone();
    let env = environment_plan(full);
    let mut infra = Vec::new();
    // A broken answers file is the student's mistake: no prediction points, and the output says why.
    let (predictions, answers_note) = match std::fs::read_to_string(submission.join("answers.toml")) {
        Ok(text) => match score::parse_answers(&text) {
            Ok(p) => (Some(p), String::new()),
            Err(e) => (None, format!("[reachlab] {e}: predictions not scored\n")),
        },
        Err(_) => (None, String::new()),
    };
    let mut times = HashMap::new();
    let mut phases = crate::timings::Timings::default();
    let (results, (output, setup_ended)) =
        run(suite, &env, &checks, submission, features, opts, &mut infra, &mut times, &mut phases).await;
    let mut graded =
        score::score(suite, &results, predictions.as_ref(), &infra, &id, &format!("{answers_note}{output}"), holes);
    // Each probed check's own time (JUnit's testcase `time`); the suite's checks come first, in order.
    for (c, r) in graded.checks.iter_mut().zip(&results) {
        c.duration_ms = times.get(&r.check.id).copied();
    }
    graded.duration_ms = started.elapsed().as_millis() as u64;
    graded.phases =
        phases.phases.into_iter().map(|p| super::model::GradePhase { phase: p.phase, duration_ms: p.ms }).collect();
    graded.setup_ended = setup_ended;
    let grids = crate::report::SuiteReport::new(suite, &results, None, Vec::new()).matrices;
    graded.matrices = suite
        .matrices
        .iter()
        .zip(grids)
        .map(|(m, grid)| super::model::GradedMatrix { hidden: m.scoring.hidden, grid })
        .collect();
    graded
}

/// Replaces the engine's random 64-hex object ids in the script's output, so grades of the same submission are
/// byte-identical across runs.
pub fn normalize_ids(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut run = String::new();
    for ch in text.chars().chain(std::iter::once('\n')) {
        if ch.is_ascii_digit() || matches!(ch, 'a'..='f') {
            run.push(ch);
            continue;
        }
        out.push_str(if run.len() == 64 { "<id>" } else { &run });
        run.clear();
        out.push(ch);
    }
    out.pop();
    out
}

/// The script's output with how it ended, and — when it did not run to the end with status 0 — why, for the
/// student: "setup.sh exited with status 1 at line 4", "setup.sh was still running after 20 s".
fn describe_setup(o: &SetupOutcome, limit: u64) -> (String, Option<String>) {
    let at = o.line.map(|n| format!(" at line {n}")).unwrap_or_default();
    let early = match (o.exit, o.timed_out) {
        (_, true) => Some(format!("setup.sh was still running after {limit} s; graded what existed then")),
        (Some(0), _) => None,
        (Some(c), _) => Some(format!("setup.sh exited with status {c}{at}")),
        (None, false) => Some("setup.sh ended without reporting a status".to_string()),
    };
    let end = early.clone().unwrap_or_else(|| "setup.sh exited with status 0".to_string());
    let text = normalize_ids(&o.output);
    let mut out = format!("{text}{}", if text.ends_with('\n') || text.is_empty() { "" } else { "\n" });
    if o.truncated {
        out.push_str(&format!("[reachlab] output beyond {} KiB was not kept\n", sandbox::OUTPUT_CAP / 1024));
    }
    for r in &o.refusals {
        out.push_str(&format!("[reachlab] the lab's engine refused {r}\n"));
    }
    (format!("{out}[reachlab] {end}\n"), early)
}

#[allow(clippy::too_many_arguments)]
async fn run(
    suite: &Suite,
    env: &Plan,
    checks: &[crate::check::Check],
    submission: &Path,
    features: &Features,
    opts: &GradeOptions,
    infra: &mut Vec<String>,
    times: &mut HashMap<usize, u64>,
    phases: &mut crate::timings::Timings<'_>,
) -> (Vec<crate::check::CheckResult>, (String, Option<String>)) {
    if let crate::kernel::features::Decision::Skip(why) | crate::kernel::features::Decision::Error(why) =
        features.decide(&env.requires)
    {
        infra.push(format!("this machine cannot grade the suite: {why}"));
        return (judge(checks, &HashMap::new(), None), Default::default());
    }
    let run_id = crate::runner::new_run_id();
    let mut lab = match LiveLab::new(&opts.state_dir, &run_id, &suite.name) {
        Ok(l) => l,
        Err(e) => {
            infra.push(format!("failed to write the ledger: {e}"));
            return (judge(checks, &HashMap::new(), None), Default::default());
        }
    };
    let confining = Instant::now();
    let confined = confine(&mut lab, &run_id);
    phases.add("confine", confining.elapsed().as_millis() as u64);
    let confined = match confined {
        Ok(c) => c,
        Err(e) => {
            infra.push(format!("failed to confine the lab: {e}"));
            let errors = phases.time("teardown", lab.teardown_blocking()).await;
            infra.extend(errors.iter().map(|e| format!("teardown: {e}")));
            return (judge(checks, &HashMap::new(), None), Default::default());
        }
    };
    // The environment's phases are named as `run --timings` names them (namespaces, links, engine, image, …).
    if let Err(e) = crate::lab::build_timed(&mut lab, env, phases).await {
        infra.push(e.to_string());
        let errors = phases.time("teardown", lab.teardown_blocking()).await;
        infra.extend(errors.iter().map(|e| format!("teardown: {e}")));
        return (judge(checks, &HashMap::new(), None), Default::default());
    }
    let limit = suite.grading.map_or(60, |g| g.setup_timeout_s);
    let server1 = lab.namespace(Lab::SERVER1).cloned();
    let socket = lab.engine_socket();
    let mut paths = HashMap::new();
    let (observations, output, sandbox) = match server1 {
        None => {
            infra.push("grading needs the lab's server1 (add a [lab] table to the suite)".into());
            (HashMap::new(), Default::default(), None)
        }
        Some(server1) => {
            let marker = content_hash(submission);
            if let Err(e) = lab.record_scratch_dir(&sandbox::workdir_of(&run_id)) {
                infra.push(format!("failed to write the ledger: {e}"));
            }
            let setup = sandbox::run_setup(sandbox::SandboxSpec {
                server1: &server1,
                userns: &confined.userns,
                engine_socket: socket.as_deref(),
                submission,
                cgroup: Some(&confined.cgroup),
                limit: Duration::from_secs(limit),
                id: &run_id,
                marker: &marker,
            });
            let setup = phases.time("setup", setup).await;
            match setup {
                Err(e) => {
                    infra.push(format!("failed to start the submission's sandbox: {e}"));
                    (HashMap::new(), Default::default(), None)
                }
                Ok((sandbox, outcome)) => {
                    let output = describe_setup(&outcome, limit);
                    // What the script started in the background (`docker exec -d alpine1 nc -u -l -p 2020`)
                    // comes up a moment after it returns, as a student typing the next command would see.
                    phases.time("settle", tokio::time::sleep(SETTLE)).await;
                    // Observing includes the paths of failing cells (the pass after the probes).
                    let observing = observe(&mut lab, suite, checks, &sandbox, opts, infra, times, &mut paths);
                    let observations = phases.time("observe", observing).await;
                    (observations, output, Some(sandbox))
                }
            }
        }
    };
    // The sandbox goes first: its processes hold the namespaces the submission made.
    let tearing = Instant::now();
    drop(sandbox);
    let errors = lab.teardown_blocking().await;
    phases.add("teardown", tearing.elapsed().as_millis() as u64);
    infra.extend(errors.iter().map(|e| format!("teardown: {e}")));
    let mut results = judge(checks, &observations, None);
    for r in &mut results {
        r.path = paths.remove(&r.check.id);
    }
    (results, output)
}

/// What confines a grading lab: the user namespace that owns server1 and the lab's cgroup.
struct Confined {
    userns: UserNs,
    cgroup: LabCgroup,
}

/// Limits of a grading lab as a whole (script, engine, containers).
pub const LAB_LIMITS: Limits = Limits { memory: 1 << 30, pids: 4096, cpu_weight: 50 };
/// Limits of the script's own processes within it.
pub const SANDBOX_LIMITS: Limits = Limits { memory: 512 << 20, pids: 512, cpu_weight: 50 };
/// The size of the private engine's data root (a tmpfs: images, layers, logs).
pub const ENGINE_DATA_MIB: u64 = 512;

/// Prepares the lab's confinement before anything is built: server1 will be the network namespace of a fresh
/// user namespace, and the lab's cgroup (ledgered first) holds the engine.
fn confine(lab: &mut LiveLab, run_id: &str) -> std::io::Result<Confined> {
    let slot = u32::from_str_radix(&content_hash_str(run_id)[..4], 16).unwrap_or(0);
    let userns = UserNs::create(userns::base_for(slot))?;
    lab.provide_namespace(Lab::SERVER1, userns.net.try_clone()?);
    let name = crate::engine::daemon::cgroup_name(run_id);
    lab.record_cgroup(&name)?;
    let cgroup = LabCgroup::create(&name, LAB_LIMITS, SANDBOX_LIMITS)?;
    lab.confine_engine(Confine { procs: cgroup.procs_files("engine"), data_mib: Some(ENGINE_DATA_MIB) });
    Ok(Confined { userns, cgroup })
}

fn content_hash_str(text: &str) -> String {
    Sha256::digest(text.as_bytes()).iter().take(4).map(|b| format!("{b:02x}")).collect()
}

/// Adopts the suite's endpoints from what the submission built, then probes them; `paths` gets the paths of
/// failing cells the trace mode asks for.
#[allow(clippy::too_many_arguments)]
async fn observe(
    lab: &mut LiveLab,
    suite: &Suite,
    checks: &[crate::check::Check],
    sandbox: &Sandbox,
    opts: &GradeOptions,
    infra: &mut Vec<String>,
    times: &mut HashMap<usize, u64>,
    paths: &mut HashMap<usize, crate::check::PathReport>,
) -> HashMap<usize, Observation> {
    let lan = Lab::ENVIRONMENT;
    let mut missing = BTreeSet::new();
    for ns in suite.namespaces.iter().filter(|n| !lan.contains(&n.name.as_str())) {
        match sandbox.netns_path(&ns.name) {
            Some(path) => {
                if let Err(e) = super::adopt::namespace(lab, &ns.name, &path).await {
                    infra.push(e.to_string());
                }
            }
            None => {
                missing.insert(ns.name.clone());
            }
        }
    }
    for c in &suite.containers {
        match super::adopt::container(lab, &c.name).await {
            Ok(true) => {}
            Ok(false) => {
                missing.insert(c.name.clone());
            }
            Err(e) => infra.push(e.to_string()),
        }
    }
    let inventory = match lab.inventory().await {
        Ok(i) => i,
        Err(e) => {
            infra.push(e.to_string());
            return HashMap::new();
        }
    };
    // The endpoints a check depends on: source and destination, and for captures the node captured on and the
    // hosts its filter and assertions name.
    let involves = |c: &crate::check::Check| {
        let mut nodes: Vec<String> = vec![c.from.clone()];
        nodes.extend(plan::probe_destination(&c.action).map(|e| e.node.clone()));
        if let crate::check::Action::Capture { capture, .. } = &c.action {
            let cap = &suite.captures[*capture];
            nodes.extend(cap.filter.names());
            for h in [&cap.src, &cap.dst].into_iter().flatten() {
                if let crate::suite::HostRef::Node(n) = h {
                    nodes.push(n.clone());
                }
            }
        }
        nodes.into_iter().find(|n| missing.contains(n))
    };
    // A destination the submission gave no address (on the pinned interface) cannot be probed: that is the
    // submission's doing, not the lab's, so it fails like a missing endpoint instead of being an error.
    let addressless = |c: &crate::check::Check| match &c.action {
        crate::check::Action::Icmp { to, by_name: false }
        | crate::check::Action::Udp { to, .. }
        | crate::check::Action::Tcp { to, .. } => inventory.candidates(&c.from, to).err(),
        _ => None,
    };
    let mut absent = HashMap::new();
    let mut probed = Vec::new();
    for c in checks {
        match (involves(c), addressless(c)) {
            (Some(node), _) => {
                let what = if suite.container(&node).is_some() { "container" } else { "namespace" };
                let outcome = Outcome::Assertion { holds: false, seen: format!("{node} missing") };
                let why = format!("there is no running {what} {node}: setup.sh did not create it");
                absent.insert(c.id, Observation::unsent(outcome, why));
            }
            (None, Some(why)) => {
                let outcome = Outcome::Assertion { holds: false, seen: why.clone() };
                absent.insert(c.id, Observation::unsent(outcome, format!("no packet was sent: {why}")));
            }
            (None, None) => probed.push(c.clone()),
        }
    }
    let plan = Plan { steps: Vec::new(), checks: probed, requires: Default::default() };
    let mut timings = crate::timings::Timings::default();
    let mut observations =
        crate::runner::observe_timed(lab, suite, &plan, inventory.clone(), &opts.out_dir, &mut timings).await;
    times.extend(timings.checks);
    // Where the failing cells' packets went: watched everywhere, traced only in namespaces reachlab made
    // (server1, server2, the switch), never in the submission's own.
    let foreign: BTreeSet<String> =
        suite.namespaces.iter().map(|n| n.name.clone()).filter(|n| !lan.contains(&n.as_str())).collect();
    let traced = crate::runner::trace::trace_failures(
        lab,
        &plan,
        &inventory,
        &observations,
        &opts.out_dir,
        &suite.name,
        opts.trace,
        &foreign,
    )
    .await;
    paths.extend(traced.paths);
    // Captures about missing endpoints could not even start: their checks fail as missing, not as errors.
    observations.extend(absent);
    observations
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_ids_are_normalized_and_nothing_else() {
        let id = "d2a2fa3459e026306cb8193f93c8ad28c31f67e6478bcdc7c86e7657c76f0271";
        assert_eq!(normalize_ids(&format!("{id}\nalpine3 cafe {id}x")), "<id>\nalpine3 cafe <id>x");
        assert_eq!(normalize_ids("no ids here"), "no ids here");
    }
}
