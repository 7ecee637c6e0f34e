//! The independent oracle (issue 8): seeded random topologies built by `reachlab up`, probed by `reachlab probe
//! --json`, and every checked cell compared with what the system's own `ping -n -c1 -W1` says when run serially
//! with `ip netns exec` in the same standing lab. Then `reachlab down`, and the machine must be as it was.
//!
//! Fairness: the first `probe` runs right after `up`, as `reachlab run` would; ping runs only once the kernel
//! says the lab is ready (every veth whose two ends are up has its carrier, every bridge port is forwarding —
//! polled, never a fixed sleep), one request at a time. A second `probe` after the pings tells a verdict that
//! depends on timing (readiness, a neighbour table that was full) from one that is wrong every time. Each
//! mismatch is classified from evidence (reachlab's detail, ping's output, the kernel's neighbour-table
//! counters) and, where it is one of issue 8's defects, carries its number.
//!
//! Trials: `generated_suites_load` (pure: reachlab's loader accepts what the generator writes), one trial per CI
//! seed, one per fixture in `fixtures/oracle/`. Environment:
//! - `REACHLAB_ORACLE_SEEDS=N` runs seeds 1..=N (sizes and profiles drawn from each seed) instead of the CI
//!   seeds; `REACHLAB_ORACLE_FIRST=K` starts at K. `bench/oracle.sh N` does that and prints the summary.
//! - `REACHLAB_ORACLE_SEED=S` or `S:PROFILE:HOSTS` runs one seed.
//! - `REACHLAB_ORACLE_PRINT=1` prints the selected seeds' suites and builds nothing.
//! - `REACHLAB_ORACLE_KEEP=DIR` writes the suite of every seed with a mismatch into DIR (to make fixtures).

#[path = "../common/mod.rs"]
mod common;
mod gen;

use common::{machine_state, repo, serial, Scratch};
use gen::{Profile, Spec, Topology};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Seeds run in CI: (seed, profile, hosts) — each as `Spec::from_seed` draws it, except the 40-host star. Chosen
/// to cover the generator's constructs and sizes up to 40 hosts within about a minute together (the fixtures
/// add defects 7 and 10 and the smallest case of 8 and 9).
const CI_SEEDS: &[(u64, Profile, usize)] = &[
    (12, Profile::Mixed, 5),
    (29, Profile::Mixed, 7),
    (13, Profile::Routed, 6),
    (108, Profile::Routed, 11),
    (1, Profile::Routed, 24),
    (27, Profile::Routed, 34),
    (40, Profile::Star, 40),
];

fn main() {
    if env("REACHLAB_ORACLE_PRINT").is_some() {
        // Print the suites of the selected seeds, build nothing.
        for spec in seeds() {
            println!("{}", gen::generate(spec).to_toml());
        }
        return;
    }
    let args = libtest_mimic::Arguments::from_args();
    let skip = reachlab::kernel::privilege::unprivileged_reason().or_else(|| {
        (!Command::new("ping").arg("-V").output().is_ok_and(|o| o.status.success()))
            .then(|| "the system's `ping` (iputils-ping) is not installed".to_string())
    });
    if let Some(why) = &skip {
        eprintln!("oracle: every lab trial will be skipped: {why}");
    }
    let mut trials =
        vec![libtest_mimic::Trial::test("generated_suites_load", || generated_suites_load().map_err(Into::into))];
    trials.push(
        libtest_mimic::Trial::test("probe_leaves_the_lab_and_refuses_a_changed_suite", || {
            probe_leaves_the_lab_and_refuses_a_changed_suite().map_err(Into::into)
        })
        .with_ignored_flag(skip.is_some()),
    );
    for spec in seeds() {
        let name = format!("seed_{}_{}_{}", spec.seed, spec.profile.as_str(), spec.hosts);
        trials.push(
            libtest_mimic::Trial::test(name.clone(), move || {
                let topo = gen::generate(spec);
                oracle(&name, &topo.to_toml(), Some(&topo)).map_err(Into::into)
            })
            .with_ignored_flag(skip.is_some()),
        );
    }
    for path in fixtures() {
        let name = format!("fixture_{}", path.file_stem().unwrap().to_string_lossy());
        trials.push(
            libtest_mimic::Trial::test(name.clone(), move || {
                let text = std::fs::read_to_string(&path).map_err(|e| e.to_string())?;
                oracle(&name, &text, None).map_err(Into::into)
            })
            .with_ignored_flag(skip.is_some()),
        );
    }
    let conclusion = libtest_mimic::run(&args, trials);
    print_summary();
    conclusion.exit()
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn seeds() -> Vec<Spec> {
    if let Some(one) = env("REACHLAB_ORACLE_SEED") {
        let mut parts = one.split(':');
        let seed: u64 = parts.next().and_then(|s| s.parse().ok()).expect("REACHLAB_ORACLE_SEED=SEED[:PROFILE:HOSTS]");
        let mut spec = Spec::from_seed(seed);
        if let (Some(p), Some(h)) = (parts.next(), parts.next()) {
            spec.profile = Profile::parse(p).expect("profile: star, routed or mixed");
            spec.hosts = h.parse().expect("hosts: a number");
        }
        return vec![spec];
    }
    if let Some(n) = env("REACHLAB_ORACLE_SEEDS") {
        let n: u64 = n.parse().expect("REACHLAB_ORACLE_SEEDS=N");
        let first: u64 = env("REACHLAB_ORACLE_FIRST").and_then(|f| f.parse().ok()).unwrap_or(1);
        return (first..first + n).map(Spec::from_seed).collect();
    }
    CI_SEEDS.iter().map(|&(seed, profile, hosts)| Spec { seed, profile, hosts }).collect()
}

/// `fixtures/oracle/*.toml`: seeds that once exposed a wrong verdict (each says which), kept as must-pass.
fn fixtures() -> Vec<PathBuf> {
    let dir = repo().join("fixtures/oracle");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    files
}

// ── The pure trial ──────────────────────────────────────────────────────────────────────────────────────────

/// Every suite the generator writes loads, keeps inside 10.0.0.0/8, and never repeats an address.
fn generated_suites_load() -> Result<(), String> {
    let mut specs: Vec<Spec> = (1..=400).map(Spec::from_seed).collect();
    specs.extend(seeds());
    for spec in specs {
        let topo = gen::generate(spec);
        let text = topo.to_toml();
        let suite = reachlab::suite::load_str(&text, &format!("seed {}", spec.seed)).map_err(|e| {
            format!("seed {} ({spec:?}): the loader refuses the generated suite:\n{e}\n{text}", spec.seed)
        })?;
        let mut seen = std::collections::BTreeSet::new();
        for (ns, dev, cidr) in suite.addresses() {
            if cidr.addr.octets()[0] != 10 {
                return Err(format!("seed {}: {ns}/{dev} has {cidr}, outside 10.0.0.0/8", spec.seed));
            }
            if !seen.insert(cidr.addr) {
                return Err(format!("seed {}: {} is used twice", spec.seed, cidr.addr));
            }
        }
        if topo.to_toml() != text {
            return Err(format!("seed {}: generating twice gave two suites", spec.seed));
        }
    }
    Ok(())
}

// ── `reachlab probe` itself ─────────────────────────────────────────────────────────────────────────────────

/// `probe` reports as `run` does and leaves the lab standing; a suite edited since `up` is refused (exit 2), as
/// are an unknown run id for `probe` and `down`; `down` then removes the lab and the machine is as it was.
fn probe_leaves_the_lab_and_refuses_a_changed_suite() -> Result<(), String> {
    let _g = serial();
    let before = machine_state();
    let s = Scratch::new();
    let netns = std::fs::read_to_string(repo().join("test-suites/netns.toml")).map_err(|e| e.to_string())?;
    let file = s.suite("netns.toml", &netns);
    let up = run(s.reachlab().arg("up").arg(&file));
    let out = String::from_utf8_lossy(&up.stdout).into_owned();
    let id =
        out.split("run id ").nth(1).and_then(|r| r.split('.').next()).ok_or(format!("no run id: {out}"))?.to_string();
    let mut standing = Standing { scratch: &s, run_id: id.clone(), down: false };
    let check = |cond: bool, what: &str| if cond { Ok(()) } else { Err(what.to_string()) };
    for round in 0..2 {
        let (code, cells, ()) = probe(&s, &id, &format!("r{round}"), || ())?;
        check(code == 0, &format!("probe exit {code}"))?;
        check(
            cells.len() == 2 && cells.iter().all(|c| c.observed.as_deref() == Some("reachable")),
            "two reachable cells",
        )?;
        check(
            machine_state().namespaces.iter().filter(|n| n.starts_with(&format!("rl-{id}-"))).count() == 2,
            "lab standing",
        )?;
    }
    let code = |o: Output| o.status.code().unwrap_or(-1);
    check(code(run(s.reachlab().args(["probe", "ffffff0"]))) == 2, "probe of an unknown id is exit 2")?;
    check(code(run(s.reachlab().args(["down", "ffffff0"]))) == 2, "down of an unknown id is exit 2")?;
    std::fs::write(&file, netns.replace("space1      -       Y", "space1      -       N"))
        .map_err(|e| e.to_string())?;
    let changed = run(s.reachlab().args(["probe", &id]));
    check(
        code(changed.clone()) == 2 && text(&changed).contains("changed since"),
        &format!("changed suite: {}", text(&changed)),
    )?;
    standing.down()?;
    check(machine_state() == before, "the machine is as it was")?;
    check(s.ledgers().is_empty(), "no ledger left")
}

// ── One lab, compared cell by cell ──────────────────────────────────────────────────────────────────────────

/// What the system's ping says about one cell.
#[derive(Debug, Clone, PartialEq)]
enum Ping {
    Reply,
    /// No reply within -W1 (with or without an ICMP error printed).
    NoReply,
    /// `connect: Network is unreachable`: no route.
    NoRoute,
    /// The target is a broadcast address for the source (`Do you want to ping broadcast? Then -b`).
    Broadcast,
    /// Anything else ping refused.
    Failed,
}

struct Cell {
    from: String,
    to: String,
    target: Option<String>,
    observed: Option<String>,
    detail: String,
}

#[derive(Default, Clone)]
struct Stats {
    seeds: usize,
    cells: usize,
    mismatches: BTreeMap<String, usize>,
    ping_s: f64,
    total_s: f64,
}

static SUMMARY: Mutex<Option<Stats>> = Mutex::new(None);

fn add_summary(s: &Stats) {
    let mut g = SUMMARY.lock().unwrap_or_else(|e| e.into_inner());
    let t = g.get_or_insert_with(Stats::default);
    t.seeds += s.seeds;
    t.cells += s.cells;
    t.ping_s += s.ping_s;
    t.total_s += s.total_s;
    for (k, v) in &s.mismatches {
        *t.mismatches.entry(k.clone()).or_default() += v;
    }
}

fn print_summary() {
    let g = SUMMARY.lock().unwrap_or_else(|e| e.into_inner());
    let Some(t) = g.as_ref() else { return };
    eprintln!(
        "\noracle summary: {} labs, {} cells compared, {} mismatches, {:.0} s (of which serial ping {:.0} s)",
        t.seeds,
        t.cells,
        t.mismatches.values().sum::<usize>(),
        t.total_s,
        t.ping_s
    );
    for (k, v) in &t.mismatches {
        eprintln!("  {v:>6}  {k}");
    }
}

fn run(cmd: &mut Command) -> Output {
    cmd.output().unwrap_or_else(|e| panic!("failed to run {cmd:?}: {e}"))
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// Tears the lab down even when the trial panics.
struct Standing<'a> {
    scratch: &'a Scratch,
    run_id: String,
    down: bool,
}

impl Standing<'_> {
    fn down(&mut self) -> Result<(), String> {
        self.down = true;
        let o = run(self.scratch.reachlab().args(["down", &self.run_id]));
        if o.status.success() {
            Ok(())
        } else {
            Err(format!("reachlab down {} failed: {}", self.run_id, text(&o)))
        }
    }
}

impl Drop for Standing<'_> {
    fn drop(&mut self) {
        if !self.down {
            let _ = self.scratch.reachlab().args(["down", &self.run_id]).output();
        }
    }
}

/// The kernel's neighbour-table counters (the ARP table is one for all namespaces): (table_fulls,
/// forced_gc_runs), summed over CPUs.
fn arp_counters() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/net/stat/arp_cache").unwrap_or_default();
    let mut lines = stat.lines();
    let head: Vec<&str> = lines.next().unwrap_or("").split_whitespace().collect();
    let col = |name: &str| head.iter().position(|h| *h == name);
    let (full, gc) = (col("table_fulls"), col("forced_gc_runs"));
    let mut out = (0, 0);
    for l in lines {
        let v: Vec<u64> = l.split_whitespace().map(|x| u64::from_str_radix(x, 16).unwrap_or(0)).collect();
        out.0 += full.and_then(|i| v.get(i)).copied().unwrap_or(0);
        out.1 += gc.and_then(|i| v.get(i)).copied().unwrap_or(0);
    }
    out
}

fn kname(run_id: &str, ns: &str) -> String {
    format!("rl-{run_id}-{ns}")
}

/// Links of the lab that are not ready yet, as the kernel says: veth ends whose two ends are up but that have
/// no carrier or are not operationally up, and bridge ports (of a bridge that is up) not forwarding.
fn not_ready(topo: &Topology, run_id: &str) -> Vec<String> {
    let mut shown: BTreeMap<String, String> = BTreeMap::new();
    let mut out = Vec::new();
    for (end, both_up, bridge_up) in topo.ends() {
        if !both_up {
            continue;
        }
        let all = shown.entry(end.netns.clone()).or_insert_with(|| {
            text(&run(Command::new("ip").args(["-n", &kname(run_id, &end.netns), "-d", "-o", "link", "show"])))
        });
        let line = all.lines().find(|l| {
            l.split_once(": ").is_some_and(|(_, rest)| rest.split(['@', ':']).next() == Some(end.name.as_str()))
        });
        let Some(line) = line else {
            out.push(format!("{}:{} missing", end.netns, end.name));
            continue;
        };
        if !line.contains("LOWER_UP") || !line.contains(" state UP ") {
            out.push(format!("{}:{} not up", end.netns, end.name));
        } else if bridge_up == Some(true) && !line.contains("bridge_slave state forwarding") {
            out.push(format!("{}:{} not forwarding", end.netns, end.name));
        }
    }
    out
}

/// Polls until the lab is ready (bounded): returns what was not ready at the first look, and how long it took.
fn wait_ready(topo: &Topology, run_id: &str) -> Result<(Vec<String>, Duration), String> {
    let started = Instant::now();
    let first = not_ready(topo, run_id);
    let mut now = first.clone();
    while !now.is_empty() {
        if started.elapsed() > Duration::from_secs(10) {
            return Err(format!("the lab never became ready: {}", now.join(", ")));
        }
        std::thread::sleep(Duration::from_millis(20));
        now = not_ready(topo, run_id);
    }
    Ok((first, started.elapsed()))
}

/// Runs `reachlab probe RUN --json`; `during` runs while it probes (to look at the kernel's state then).
fn probe<T>(s: &Scratch, run_id: &str, dir: &str, during: impl FnOnce() -> T) -> Result<(i32, Vec<Cell>, T), String> {
    use std::process::Stdio;
    let child = s
        .reachlab()
        .args(["probe", run_id, "--json", "--report-dir"])
        .arg(s.dir.path().join(dir))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("failed to start reachlab probe: {e}"))?;
    let seen = during();
    let o = child.wait_with_output().map_err(|e| e.to_string())?;
    let json: serde_json::Value = serde_json::from_slice(&o.stdout)
        .map_err(|e| format!("reachlab probe printed no report ({e}): {}", text(&o)))?;
    let cells = json["suites"][0]["checks"]
        .as_array()
        .ok_or("no checks in the report")?
        .iter()
        .map(|c| Cell {
            from: c["from"].as_str().unwrap_or_default().into(),
            to: c["to"].as_str().unwrap_or_default().into(),
            target: c["target"].as_str().map(String::from),
            observed: c["observed"].as_str().map(String::from),
            detail: c["detail"].as_str().unwrap_or_default().into(),
        })
        .collect();
    Ok((o.status.code().unwrap_or(-1), cells, seen))
}

/// The kernel's forced-GC horizon for neighbour entries: younger ones cannot be evicted (`neigh_forced_gc`).
const NEIGH_GC_HORIZON: Duration = Duration::from_secs(5);

/// Serial pings from inside the lab's namespaces.
///
/// The neighbour table is one for all namespaces (`gc_thresh3`, 1024 entries by default) and an entry stays
/// unevictable for 5 s after every update (a REACHABLE → STALE transition counts), so the entries reachlab's
/// probe just made would keep ping's own from being created. ping therefore starts from the lab's neighbour
/// tables flushed (the lab's own state, nothing of the machine's), and each source's entries are flushed once
/// its targets are done: serial ping then needs about half the table a full mesh would.
struct Pinger {
    run_id: String,
}

impl Pinger {
    fn new(run_id: &str, namespaces: &[String]) -> Pinger {
        for ns in namespaces {
            let _ = run(Command::new("ip").args(["-n", &kname(run_id, ns), "neigh", "flush", "all"]));
        }
        Pinger { run_id: run_id.into() }
    }

    /// Pings every target from `src`, one `ping -n -c1 -W1` after the other inside one `ip netns exec`.
    fn ping(&mut self, src: &str, targets: &[&str], out: &mut BTreeMap<(String, String), (Ping, String)>) {
        let mut script: String =
            targets.iter().map(|t| format!("echo '@@ {t}'; ping -n -c1 -W1 {t} 2>&1; echo \"@@ rc $?\"\n")).collect();
        script.push_str("ip neigh flush all\n");
        let o = run(Command::new("ip").args(["netns", "exec", &kname(&self.run_id, src), "sh", "-c", &script]));
        let all = String::from_utf8_lossy(&o.stdout).into_owned();
        let mut current: Option<(String, String)> = None;
        for line in all.lines() {
            if let Some(rc) = line.strip_prefix("@@ rc ") {
                let Some((t, b)) = current.take() else { continue };
                let rc: i32 = rc.trim().parse().unwrap_or(-1);
                let verdict = if rc == 0 {
                    Ping::Reply
                } else if b.contains("ping broadcast") {
                    Ping::Broadcast
                } else if b.contains("Network is unreachable") {
                    Ping::NoRoute
                } else if rc == 1 {
                    Ping::NoReply
                } else {
                    Ping::Failed
                };
                out.insert((src.to_string(), t), (verdict, b));
            } else if let Some(t) = line.strip_prefix("@@ ") {
                current = Some((t.trim().to_string(), String::new()));
            } else if let Some((_, b)) = current.as_mut() {
                b.push_str(line);
                b.push('\n');
            }
        }
    }
}

/// Pings every (source, target) of `cells` serially.
fn ping_all(p: &mut Pinger, cells: &[Cell]) -> BTreeMap<(String, String), (Ping, String)> {
    let mut by_src: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for c in cells {
        if let Some(t) = &c.target {
            by_src.entry(&c.from).or_default().push(t);
        }
    }
    let mut out = BTreeMap::new();
    for (src, targets) in by_src {
        p.ping(src, &targets, &mut out);
    }
    out
}

/// What the oracle found about one cell that differs.
struct Mismatch {
    kind: String,
    defect: Option<u8>,
    text: String,
}

fn classify(
    c: &Cell,
    ping: &(Ping, String),
    again: Option<&Cell>,
    overflowed: bool,
    unready: bool,
) -> Option<(String, Option<u8>)> {
    let (p, out) = ping;
    let reach = c.observed.as_deref();
    let again_reach = again.and_then(|a| a.observed.as_deref());
    match (reach, p) {
        (Some("reachable"), Ping::Reply) => None,
        (Some("unreachable"), Ping::NoReply | Ping::NoRoute | Ping::Broadcast) => None,
        (None, Ping::Broadcast) if c.detail.contains("os error 13") || c.detail.contains("ermission denied") => {
            Some(("the target is the source's broadcast address: reported as an infrastructure error".into(), Some(10)))
        }
        (None, _) => Some((format!("probe error: {}", first_words(&c.detail, 8)), None)),
        (Some("unreachable"), Ping::Reply) if c.detail.contains("ICMP type 5") => {
            Some(("an ICMP redirect ended the probe (reported unreachable; ping got the reply)".into(), Some(9)))
        }
        (Some("unreachable"), Ping::Reply) if overflowed && c.detail.contains("no echo reply") => {
            Some(("neighbour table overflow during the probe (no echo reply; serial ping answered)".into(), Some(3)))
        }
        (Some("unreachable"), Ping::Reply) if unready && again_reach == Some("reachable") => {
            Some(("probed before the lab was ready (a later probe and ping are answered)".into(), Some(8)))
        }
        (Some("unreachable"), Ping::Reply) if again_reach == Some("reachable") => Some((
            format!("first probe unreachable, later probe and ping reachable: {}", first_words(&c.detail, 6)),
            None,
        )),
        (Some("unreachable"), Ping::Reply) => {
            Some((format!("reachlab unreachable, ping reachable: {}", first_words(&c.detail, 6)), None))
        }
        (Some("reachable"), _) => Some((format!("reachlab reachable, ping {p:?}: {}", first_words(out, 8)), None)),
        (o, p) => Some((format!("reachlab {o:?}, ping {p:?}"), None)),
    }
}

fn first_words(s: &str, n: usize) -> String {
    // Digits vary (addresses, times): keep the words, so kinds group.
    let words: Vec<String> = s
        .split_whitespace()
        .take(n)
        .map(|w| if w.chars().any(|c| c.is_ascii_digit()) { "…".to_string() } else { w.to_string() })
        .collect();
    words.join(" ")
}

/// Namespaces whose `ip_forward` is not what the suite says (`forwarding = true` or not).
fn forwarding_state(suite: &reachlab::suite::Suite, run_id: &str) -> Vec<String> {
    let mut bad = Vec::new();
    for ns in &suite.namespaces {
        let o = run(Command::new("ip").args([
            "netns",
            "exec",
            &kname(run_id, &ns.name),
            "cat",
            "/proc/sys/net/ipv4/ip_forward",
        ]));
        let v = String::from_utf8_lossy(&o.stdout).trim().to_string();
        let want = if ns.forwarding { "1" } else { "0" };
        if v != want {
            bad.push(format!("{} (forwarding = {}, ip_forward = {v})", ns.name, ns.forwarding));
        }
    }
    bad
}

/// Whether iproute2 builds `topo` (in namespaces of its own, removed afterwards): Ok, or the first refusal.
fn iproute2_builds(topo: &Topology) -> Result<(), String> {
    /// Removes the replay's namespaces however the replay ends (a SIGKILL aside: then `ip netns list | grep
    /// ^rlo` shows what is left).
    struct Replay<'a>(&'a Topology, String);
    impl Drop for Replay<'_> {
        fn drop(&mut self) {
            for ns in &self.0.namespaces {
                let _ = Command::new("ip").args(["netns", "del", &format!("{}-{}", self.1, ns.name)]).output();
            }
        }
    }
    let replay = Replay(topo, format!("rlo{}", std::process::id()));
    for cmd in topo.ip_script(&replay.1) {
        let o = run(Command::new(&cmd[0]).args(&cmd[1..]));
        if !o.status.success() {
            return Err(format!("`{}`: {}", cmd.join(" "), text(&o).trim()));
        }
    }
    Ok(())
}

fn keep_suite(label: &str, suite: &str) {
    if let Some(dir) = env("REACHLAB_ORACLE_KEEP") {
        let _ = std::fs::create_dir_all(&dir);
        let _ = std::fs::write(Path::new(&dir).join(format!("{label}.toml")), suite);
    }
}

/// The differential test of one suite: every mismatch fails it.
fn oracle(label: &str, suite_text: &str, topo: Option<&Topology>) -> Result<(), String> {
    let _g = serial();
    let started = Instant::now();
    let before = machine_state();
    let s = Scratch::new();
    let file = s.suite(&format!("{label}.toml"), suite_text);
    let suite = reachlab::suite::load_file(&file).map_err(|e| e.to_string())?;
    let regenerated;
    let topo = match topo {
        Some(t) => t,
        None => {
            regenerated = topology_of(&suite);
            &regenerated
        }
    };
    let mut stats = Stats { seeds: 1, ..Stats::default() };
    let mut mismatches: Vec<Mismatch> = Vec::new();

    let up = run(s.reachlab().arg("up").arg(&file));
    if !up.status.success() {
        let why = text(&up);
        let verdict = iproute2_builds(topo);
        let _ = s.reachlab().args(["clean", "--all"]).output();
        assert_eq!(machine_state(), before, "the machine is not as it was after a failed up");
        return match verdict {
            Ok(()) => {
                let defect = (why.contains("add route") && suite_text.contains("dev = ")).then_some(7);
                let kind = "reachlab up refused a suite that iproute2 builds".to_string();
                *stats
                    .mismatches
                    .entry(format!("{kind}{}", defect.map_or(String::new(), |d| format!(" (defect {d})"))))
                    .or_default() += 1;
                stats.total_s = started.elapsed().as_secs_f64();
                add_summary(&stats);
                keep_suite(label, suite_text);
                Err(format!(
                    "{label}: {kind}: exit {:?}\n{}\n\nsuite {}:\n{suite_text}",
                    up.status.code(),
                    why.trim(),
                    file.display()
                ))
            }
            Err(ip) => Err(format!(
                "{label}: the generator wrote a suite iproute2 refuses too ({ip}); reachlab: {}",
                why.trim()
            )),
        };
    }
    let stdout = String::from_utf8_lossy(&up.stdout);
    let run_id = stdout
        .split("run id ")
        .nth(1)
        .and_then(|r| r.split(|c: char| !c.is_ascii_alphanumeric()).next())
        .ok_or_else(|| format!("no run id in `reachlab up` output: {stdout}"))?
        .to_string();
    let mut standing = Standing { scratch: &s, run_id: run_id.clone(), down: false };

    // 1. reachlab, right after up (as `run` would probe).
    // What was not ready is looked at while it probes.
    let (full0, _) = arp_counters();
    let (code, cells, unready) = probe(&s, &run_id, "probe1", || not_ready(topo, &run_id))?;
    let (full1, _) = arp_counters();
    let overflowed = full1 > full0;
    // 2. The kernel's readiness, then ping, one request at a time.
    let (_, waited) = wait_ready(topo, &run_id)?;
    let forwarding = forwarding_state(&suite, &run_id);
    let ping_started = Instant::now();
    let names: Vec<String> = suite.namespaces.iter().map(|n| n.name.clone()).collect();
    let mut pinger = Pinger::new(&run_id, &names);
    let mut pings = ping_all(&mut pinger, &cells);
    let (full2, _) = arp_counters();
    let ping_overflowed = full2 > full1;
    if ping_overflowed {
        // The table overflowed while ping ran (something else filled it): what ping could not answer is asked
        // again once the kernel can evict (the GC horizon), so ping's answer is the kernel's, not the machine's
        // limit.
        std::thread::sleep(NEIGH_GC_HORIZON);
        let again: Vec<Cell> = cells
            .iter()
            .filter(|c| {
                c.target
                    .as_ref()
                    .is_some_and(|t| pings.get(&(c.from.clone(), t.clone())).is_some_and(|p| p.0 == Ping::NoReply))
            })
            .map(|c| Cell {
                from: c.from.clone(),
                to: c.to.clone(),
                target: c.target.clone(),
                observed: None,
                detail: String::new(),
            })
            .collect();
        pings.extend(ping_all(&mut Pinger::new(&run_id, &names), &again));
    }
    let (full3, _) = arp_counters();
    stats.ping_s = ping_started.elapsed().as_secs_f64();
    // 3. reachlab again, once everything has settled: tells timing from wrong-every-time.
    let (_, again, ()) = probe(&s, &run_id, "probe2", || ())?;
    let again: BTreeMap<(String, String), &Cell> = again.iter().map(|c| ((c.from.clone(), c.to.clone()), c)).collect();
    standing.down()?;
    drop(standing);
    let after = machine_state();

    for c in &cells {
        stats.cells += 1;
        let Some(target) = &c.target else {
            mismatches.push(Mismatch {
                kind: "no target reported".into(),
                defect: None,
                text: format!("{} -> {}: {}", c.from, c.to, c.detail),
            });
            continue;
        };
        let ping = pings.get(&(c.from.clone(), target.clone())).cloned().unwrap_or((Ping::Failed, "not pinged".into()));
        let later = again.get(&(c.from.clone(), c.to.clone())).copied();
        if let Some((kind, defect)) = classify(c, &ping, later, overflowed, !unready.is_empty()) {
            let text = format!(
                "{} -> {} ({target}): reachlab {}: {} | later probe: {} | ping {:?}:\n      {}",
                c.from,
                c.to,
                c.observed.as_deref().unwrap_or("error"),
                c.detail,
                later.map_or("-".into(), |l| format!("{} ({})", l.observed.as_deref().unwrap_or("error"), l.detail)),
                ping.0,
                ping.1.trim().replace('\n', "\n      ")
            );
            mismatches.push(Mismatch { kind, defect, text });
        }
    }
    if !forwarding.is_empty() {
        mismatches.push(Mismatch {
            kind: "forwarding is not what the suite says (inherited from the machine)".into(),
            defect: Some(1),
            text: format!(
                "{}{}",
                forwarding.iter().take(4).cloned().collect::<Vec<_>>().join(", "),
                if forwarding.len() > 4 { format!(" and {} more", forwarding.len() - 4) } else { String::new() }
            ),
        });
    }
    if code != 0 && code != 1 && !mismatches.iter().any(|m| m.defect.is_some()) {
        mismatches.push(Mismatch { kind: format!("reachlab probe exit {code}"), defect: None, text: String::new() });
    }
    if after != before {
        mismatches.push(Mismatch {
            kind: "the machine is not as it was".into(),
            defect: None,
            text: format!("before: {before:?}\nafter:  {after:?}"),
        });
    }

    // Report.
    let mut by_kind: BTreeMap<(String, Option<u8>), Vec<&Mismatch>> = BTreeMap::new();
    for m in &mismatches {
        by_kind.entry((m.kind.clone(), m.defect)).or_default().push(m);
    }
    let mut report = String::new();
    let _ = writeln!(
        report,
        "{label}: {} cells; lab ready {} ms after the first probe{}; probe exit {code}; neighbour table full during the probe: {overflowed}; serial ping {:.1} s{}{}",
        cells.len(),
        waited.as_millis(),
        if unready.is_empty() { String::new() } else { format!(" (not ready while it probed: {})", unready.iter().take(4).cloned().collect::<Vec<_>>().join(", ")) },
        stats.ping_s,
        if ping_overflowed { " (the table overflowed during ping too: unanswered cells pinged again)" } else { "" },
        if full3 > full2 { "; and again during the second round" } else { "" }
    );
    let unexpected = !by_kind.is_empty();
    for ((kind, defect), ms) in &by_kind {
        let tag = defect.map_or(String::new(), |d| format!(" (defect {d})"));
        *stats.mismatches.entry(format!("{kind}{tag}")).or_default() += ms.len();
        let _ = writeln!(report, "  {} × {kind}{tag}", ms.len());
        for m in ms.iter().take(4) {
            let _ = writeln!(report, "    {}", m.text);
        }
    }
    stats.total_s = started.elapsed().as_secs_f64();
    add_summary(&stats);
    if !mismatches.is_empty() {
        keep_suite(label, suite_text);
    }
    if unexpected {
        Err(format!(
            "{report}\nsuite {} (reproduce: REACHLAB_ORACLE_SEED=… or the fixture):\n{suite_text}",
            file.display()
        ))
    } else {
        print!("{report}");
        Ok(())
    }
}

/// The generator's view of a loaded suite (fixtures): what readiness and the iproute2 replay need.
fn topology_of(suite: &reachlab::suite::Suite) -> Topology {
    use gen::{Bridge, End, Namespace, Net, Role, Route, Veth};
    let net = |c: reachlab::suite::Cidr| Net { addr: u32::from(c.addr), prefix: c.prefix };
    let end = |e: &reachlab::suite::VethEnd| End {
        name: e.name.clone(),
        netns: e.netns.clone(),
        address: e.address.map(net),
        master: e.master.clone(),
        up: e.up,
    };
    Topology {
        spec: Spec { seed: 0, hosts: 0, profile: Profile::Mixed },
        namespaces: suite
            .namespaces
            .iter()
            .map(|n| Namespace {
                name: n.name.clone(),
                role: if n.forwarding { Role::Router } else { Role::Host },
                forwarding: n.forwarding,
                routes: n
                    .routes
                    .iter()
                    .map(|r| Route {
                        to: (r.to.prefix > 0).then(|| net(r.to)),
                        via: r.via.map(u32::from),
                        dev: r.dev.clone(),
                    })
                    .collect(),
            })
            .collect(),
        bridges: suite
            .bridges
            .iter()
            .map(|b| Bridge { name: b.name.clone(), netns: b.netns.clone(), address: b.address.map(net), up: b.up })
            .collect(),
        veths: suite.veths.iter().map(|v| Veth { a: end(&v.a), b: end(&v.b) }).collect(),
        notes: Vec::new(),
    }
}
