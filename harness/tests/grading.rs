//! Grading the fixture submissions for real (`fixtures/submissions/test1/`): every grade matches the one
//! reasoned in its `expected.toml`; grades are byte-identical across runs and across `--jobs`; a batch resumes;
//! shards partition the class; hostile scripts change nothing outside their sandbox; nothing of ours remains.
//! Listed as ignored without root or a Docker Engine.

mod common;

use common::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn main() {
    let tests: [(&'static str, fn()); 8] = [
        ("the_hostile_corpus_is_contained", the_hostile_corpus_is_contained),
        ("a_sample_of_mutants_is_killed", a_sample_of_mutants_is_killed),
        ("calibration_voids_what_the_environment_passes", calibration_voids_what_the_environment_passes),
        ("an_infrastructure_error_grades_nothing", an_infrastructure_error_grades_nothing),
        ("every_lab_test_has_submissions_with_reasoned_grades", every_lab_test_has_submissions_with_reasoned_grades),
        (
            "the_fixture_class_gets_its_reasoned_grades_reproducibly",
            the_fixture_class_gets_its_reasoned_grades_reproducibly,
        ),
        ("shards_partition_the_class", shards_partition_the_class),
        ("check_prints_student_feedback_without_hidden_checks", check_prints_student_feedback_without_hidden_checks),
    ];
    run_trials("grading", docker_skip(&[]), &tests);
}

const SUITE: &str = "test-suites/grading/test1.toml";
const CLASS: &str = "fixtures/submissions/test1";
const SENTINEL: &str = "/var/tmp/reachlab-sentinel";

fn grade(s: &Scratch, out: &Path, extra: &[&str]) -> String {
    let o =
        s.reachlab().args(["grade", "--suite", SUITE, CLASS, "--report-dir"]).arg(out).args(extra).output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(0), "{stderr}");
    consumers::check_grade_reports(out);
    stderr
}

/// Everything a batch wrote that must not change between runs: grades.csv, and each submission's student
/// feedback, JUnit and report (its wall time aside).
fn outputs(dir: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    out.insert("grades.csv".into(), std::fs::read_to_string(dir.join("grades.csv")).unwrap());
    for e in std::fs::read_dir(dir).unwrap().flatten().filter(|e| e.path().is_dir()) {
        let student = e.file_name().to_string_lossy().into_owned();
        for f in ["feedback.md", "report.json", "junit.xml"] {
            let text = std::fs::read_to_string(e.path().join(f)).unwrap();
            let text = text
                .lines()
                .filter(|l| !l.contains("duration_ms") && !l.contains("time="))
                .collect::<Vec<_>>()
                .join("\n");
            out.insert(format!("{student}/{f}"), text);
        }
    }
    out
}

/// A fixture's grade as reasoned in its `expected.toml`: the total, and every check's status.
#[derive(Debug, Clone, PartialEq)]
struct Reasoned {
    score: f64,
    max_score: f64,
    /// Check name → (status, why).
    checks: BTreeMap<String, (String, String)>,
}

fn expected() -> BTreeMap<String, Reasoned> {
    expected_in(CLASS)
}

fn expected_in(class: &str) -> BTreeMap<String, Reasoned> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct File {
        status: String,
        score: f64,
        max_score: f64,
        checks: BTreeMap<String, Check>,
        /// Hostile submissions: what their output must show (the engine front's refusals).
        #[allow(dead_code)]
        must_show: Option<Vec<String>>,
    }
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Check {
        status: String,
        why: String,
    }
    let mut out = BTreeMap::new();
    for e in std::fs::read_dir(repo().join(class)).unwrap().flatten().filter(|e| e.path().join("setup.sh").is_file()) {
        let path = e.path().join("expected.toml");
        let f: File =
            toml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap_or_else(|e| panic!("{path:?}: {e}"));
        assert_eq!(f.status, "graded");
        for (name, c) in &f.checks {
            assert!(["pass", "fail"].contains(&c.status.as_str()), "{path:?}: {name}: {}", c.status);
            assert!(!c.why.trim().is_empty() && !c.why.contains('\n'), "{path:?}: {name}: one line of why");
        }
        let checks = f.checks.into_iter().map(|(n, c)| (n, (c.status, c.why))).collect();
        out.insert(
            e.file_name().to_string_lossy().into_owned(),
            Reasoned { score: f.score, max_score: f.max_score, checks },
        );
    }
    out
}

/// grades.csv, read with a CSV reader: student → (score, max_score); every row must be graded.
fn grades(dir: &Path) -> BTreeMap<String, (f64, f64)> {
    #[derive(serde::Deserialize)]
    struct Row {
        student: String,
        status: String,
        score: f64,
        max_score: f64,
    }
    let mut reader = csv::Reader::from_path(dir.join("grades.csv")).unwrap();
    let header: Vec<String> = reader.headers().unwrap().iter().map(str::to_string).collect();
    assert_eq!(header, reachlab::grade::formats::csv::COLUMNS);
    reader
        .deserialize::<Row>()
        .map(|r| {
            let r = r.unwrap();
            assert_eq!(r.status, "graded", "{}", r.student);
            (r.student, (r.score, r.max_score))
        })
        .collect()
}

/// Every check of every graded submission against its reasoning: same checks, same statuses, same totals.
fn assert_reasoned(dir: &Path, class: &str) {
    let reasoned = expected_in(class);
    let totals = grades(dir);
    assert_eq!(totals.keys().collect::<Vec<_>>(), reasoned.keys().collect::<Vec<_>>(), "{class}");
    let mut wrong = Vec::new();
    for (student, r) in &reasoned {
        let report: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join(student).join("report.json")).unwrap()).unwrap();
        let observed: BTreeMap<String, String> = report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| (c["name"].as_str().unwrap().to_string(), c["status"].as_str().unwrap().to_string()))
            .collect();
        for (name, (status, why)) in &r.checks {
            match observed.get(name) {
                Some(s) if s == status => {}
                Some(s) => wrong.push(format!("{student}: `{name}` is {s}, reasoned {status}: {why}")),
                None => wrong.push(format!("{student}: `{name}` was not graded (reasoned {status}: {why})")),
            }
        }
        for name in observed.keys().filter(|n| !r.checks.contains_key(*n)) {
            wrong.push(format!("{student}: `{name}` was graded but has no reasoned status"));
        }
        if totals[student] != (r.score, r.max_score) {
            wrong.push(format!("{student}: total {:?}, reasoned {:?}", totals[student], (r.score, r.max_score)));
        }
    }
    assert!(wrong.is_empty(), "{class}:\n{}", wrong.join("\n"));
    // The empty submission scored 0 (calibration): every point above depends on the submission.
    let calibration: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("calibration.json")).unwrap()).unwrap();
    assert_eq!(calibration["status"]["status"], "graded", "{calibration}");
    assert_eq!(calibration["holes"], serde_json::json!([]), "{class}: checks that grade nothing");
    assert_eq!(calibration["score"], 0.0, "{class}: the empty submission scores 0");
}

fn the_fixture_class_gets_its_reasoned_grades_reproducibly() {
    let _g = serial();
    std::fs::write(SENTINEL, b"do not delete").unwrap();
    let before = machine_state();
    let s = Scratch::new();
    let (one, two): (PathBuf, PathBuf) = (s.dir.path().join("jobs1"), s.dir.path().join("jobs2"));
    grade(&s, &one, &["--jobs", "1"]);
    assert_reasoned(&one, CLASS);
    grade(&s, &two, &["--jobs", "2"]);
    let (a, b) = (outputs(&one), outputs(&two));
    for (k, v) in &a {
        if b.get(k) != Some(v) {
            let other = b.get(k).cloned().unwrap_or_default();
            let first = v.lines().zip(other.lines()).find(|(x, y)| x != y);
            panic!("{k} differs between --jobs 1 and --jobs 2: {first:?}");
        }
    }
    assert_eq!(a.len(), b.len());
    // Resumable: nothing changed, so nothing is graded again.
    let again = grade(&s, &two, &["--jobs", "2"]);
    assert!(again.contains("(9 reused, 0 to rerun)"), "{again}");
    // Shards merge back into the class: each shard reuses the grades above (no lab), then `grade merge`.
    let shards: Vec<PathBuf> = (1..=3).map(|k| s.dir.path().join(format!("shard-{k}"))).collect();
    for (k, dir) in shards.iter().enumerate() {
        let subs =
            reachlab::grade::batch::submissions(&[repo().join(CLASS)], Some(format!("{}/3", k + 1).parse().unwrap()))
                .unwrap();
        std::fs::create_dir_all(dir).unwrap();
        for sub in subs {
            let name = sub.file_name().unwrap();
            let cp = std::process::Command::new("cp").arg("-a").arg(one.join(name)).arg(dir.join(name)).status();
            assert!(cp.unwrap().success());
        }
        let out = grade(&s, dir, &["--shard", &format!("{}/3", k + 1)]);
        assert!(out.contains("(3 reused, 0 to rerun)"), "{out}");
    }
    let merged = s.dir.path().join("merged");
    let missing = s
        .reachlab()
        .args(["grade", "merge"])
        .arg(&shards[0])
        .arg(&shards[2])
        .arg("--report-dir")
        .arg(&merged)
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("missing shard: 2/3"), "{missing:?}");
    let o = s.reachlab().args(["grade", "merge"]).args(&shards).arg("--report-dir").arg(&merged).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    assert_eq!(std::fs::read(merged.join("grades.csv")).unwrap(), std::fs::read(one.join("grades.csv")).unwrap());
    consumers::check_grade_reports(&merged);
    // The hostile scripts changed nothing outside their sandboxes.
    assert_eq!(std::fs::read(SENTINEL).unwrap(), b"do not delete");
    assert!(!Path::new("/etc/reachlab-was-here").exists());
    let evil = std::process::Command::new("docker").args(["inspect", "evil"]).output().unwrap();
    assert!(!evil.status.success(), "a submission reached the machine's Docker engine");
    let fake = one.join("hostile-fake-reports");
    assert!(!one.join("fake").exists() && !fake.join("fake").exists(), "a submission wrote into the reports");
    // Feedback says why setup ended early, and a missing answers.toml is one line, not a failure per cell.
    let feedback = |student: &str| std::fs::read_to_string(one.join(student).join("feedback.md")).unwrap();
    assert!(feedback("exits-early").contains("setup.sh exited with status 1 at line 5"), "{}", feedback("exits-early"));
    let forever = feedback("hostile-runs-forever");
    assert!(forever.contains("setup.sh was still running after 20 s"), "{forever}");
    let unpredicted = feedback("not-connected");
    assert!(unpredicted.contains("no predictions submitted: 0 of 9 points"), "{unpredicted}");
    assert!(!unpredicted.contains("prediction ping by address"), "{unpredicted}");
    // Every output format validates elsewhere (grade_formats); here: the files exist.
    for f in ["junit.xml", "report.json", "feedback.md"] {
        assert!(one.join("correct").join(f).exists(), "{f}");
    }
    let _ = std::fs::remove_file(SENTINEL);
    assert_eq!(machine_state(), before);
    assert!(s.ledgers().is_empty(), "{:?}", s.ledgers());
}

fn shards_partition_the_class() {
    let _g = serial();
    let mut seen = Vec::new();
    for k in 1..=3 {
        // Sharding decides before any lab is built, so listing the shards is enough.
        let subs = reachlab::grade::batch::submissions(&[repo().join(CLASS)], Some(format!("{k}/3").parse().unwrap()))
            .unwrap();
        assert_eq!(subs.len(), 3, "shard {k}");
        seen.extend(subs.into_iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()));
    }
    seen.sort();
    let all: Vec<String> = expected().into_keys().collect();
    assert_eq!(seen, all);
}

fn check_prints_student_feedback_without_hidden_checks() {
    let _g = serial();
    let before = machine_state();
    let s = Scratch::new();
    let o =
        s.reachlab().args(["check", "--suite", SUITE]).arg(repo().join(CLASS).join("not-connected")).output().unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(stdout.contains("did you run docker network connect?"), "the hint is shown:\n{stdout}");
    assert!(!stdout.contains("by name"), "hidden checks are not shown:\n{stdout}");
    // The matrix view, as `run` draws it, with the failed cells marked; text for a terminal, not Markdown.
    assert!(
        stdout.contains("ping by address") && stdout.contains("expected") && stdout.contains("observed"),
        "{stdout}"
    );
    assert!(stdout.contains("N!"), "alpine2 -> alpine3 and back are marked failed:\n{stdout}");
    assert!(stdout.contains("FAIL icmp alpine2 -> alpine3: expected reachable, observed unreachable"), "{stdout}");
    assert!(!stdout.contains("**") && !stdout.contains("|---") && !stdout.contains("```"), "{stdout}");
    assert_eq!(machine_state(), before);
}

fn every_lab_test_has_submissions_with_reasoned_grades() {
    let _g = serial();
    let before = machine_state();
    let s = Scratch::new();
    for test in ["netns", "test2", "test3", "test4"] {
        let class = format!("fixtures/submissions/{test}");
        let out = s.dir.path().join(test);
        let o = s
            .reachlab()
            .args([
                "grade",
                "--suite",
                &format!("test-suites/grading/{test}.toml"),
                &class,
                "--jobs",
                "2",
                "--report-dir",
            ])
            .arg(&out)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(0), "{test}: {}", String::from_utf8_lossy(&o.stderr));
        assert_reasoned(&out, &class);
        assert!(expected_in(&class).contains_key("correct"), "{test} has a correct submission");
    }
    // The mutants kept from `reachlab mutate`, each with its reasoned grade.
    for test in ["netns", "test1", "test4"] {
        let class = format!("fixtures/mutants/{test}");
        let out = s.dir.path().join(format!("mutants-{test}"));
        let o = s
            .reachlab()
            .args(["grade", "--suite", &format!("test-suites/grading/{test}.toml"), &class, "--report-dir"])
            .arg(&out)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(0), "{test}: {}", String::from_utf8_lossy(&o.stderr));
        assert_reasoned(&out, &class);
    }
    assert_eq!(machine_state(), before);
}

fn an_infrastructure_error_grades_nothing() {
    let _g = serial();
    let before = machine_state();
    let s = Scratch::new();
    let out = s.dir.path().join("broken-infra");
    // A state directory nobody can write: the lab cannot even be ledgered.
    let o = s
        .reachlab()
        .env("REACHLAB_STATE_DIR", "/proc/reachlab-cannot-be-here")
        .args(["grade", "--suite", SUITE])
        .arg(repo().join(CLASS).join("correct"))
        .arg("--report-dir")
        .arg(&out)
        .args(["--format", "gradescope", "--format", "prairielearn", "--format", "classroom"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(4), "{stderr}");
    assert!(stderr.contains("NOT GRADED (rerun)"), "{stderr}");
    let mut reader = csv::Reader::from_path(out.join("grades.csv")).unwrap();
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 1);
    assert_eq!((&rows[0][0], &rows[0][3], &rows[0][4]), ("correct", "error", ""), "never a zero: {:?}", rows[0]);
    let gradescope: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("correct/results.json")).unwrap()).unwrap();
    assert!(gradescope.get("score").is_none(), "{gradescope}");
    let pl: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("correct/prairielearn.json")).unwrap()).unwrap();
    assert_eq!(pl["gradable"], false);
    let feedback = std::fs::read_to_string(out.join("correct/feedback.md")).unwrap();
    assert!(!feedback.contains("Score:"), "{feedback}");
    assert_eq!(machine_state(), before);
}

/// A grading suite with holes: the namespace slides plus server1 <-> server2 cells, which the LAN provides. The
/// empty submission passes those, so `list` names them, `grade` warns and awards nothing for them, and the
/// correct submission's score counts only what it built.
fn calibration_voids_what_the_environment_passes() {
    let _g = serial();
    let before = machine_state();
    let s = Scratch::new();
    let text = std::fs::read_to_string(repo().join("test-suites/grading/netns.toml")).unwrap();
    let text = format!(
        "{text}\n[[matrix]]\nname = \"lan\"\nprobe = \"icmp\"\nexpect = \"\"\"\n         server1 server2\nserver1     -       Y\nserver2     Y       -\n\"\"\"\n"
    );
    let suite = s.suite("holes.toml", &text);
    let out = s.dir.path().join("holes");
    let o = s
        .reachlab()
        .args(["grade", "--suite"])
        .arg(&suite)
        .arg(repo().join("fixtures/submissions/netns/correct"))
        .arg("--report-dir")
        .arg(&out)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{stderr}");
    for cell in ["icmp server1 -> server2", "icmp server2 -> server1"] {
        assert!(stderr.contains(&format!("`{cell}` grades nothing: passes without any submission")), "{stderr}");
    }
    assert_eq!(grades(&out)["correct"], (2.0, 2.0), "only the namespace cells are worth points");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("correct/report.json")).unwrap()).unwrap();
    let lan: Vec<&serde_json::Value> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["name"].as_str().unwrap().contains("server"))
        .collect();
    assert_eq!(lan.len(), 2);
    for c in lan {
        assert_eq!((c["status"].as_str(), c["max_score"].as_f64()), (Some("pass"), Some(0.0)), "{c}");
        assert!(c["not_scored"].as_str().unwrap().starts_with("grades nothing"), "{c}");
    }
    // `list` shows what the kept calibration found, without building anything.
    let l = s.reachlab().arg("list").arg(&suite).output().unwrap();
    let listed = String::from_utf8_lossy(&l.stdout);
    assert!(listed.contains("2 scored checks GRADE NOTHING"), "{listed}");
    assert!(listed.contains("icmp server2 -> server1  [192.168.56.3, expect reachable]  GRADES NOTHING"), "{listed}");
    assert_eq!(machine_state(), before);
}

/// Mutation testing, a short sample (the full run is `reachlab mutate --suite SUITE fixtures/submissions/TEST/correct`
/// per suite, see the README): every sampled mutant of a correct submission loses points.
fn a_sample_of_mutants_is_killed() {
    let _g = serial();
    let before = machine_state();
    let s = Scratch::new();
    for test in ["netns", "test4"] {
        let out = s.dir.path().join(format!("mutate-{test}"));
        let o = s
            .reachlab()
            .args(["mutate", "--suite", &format!("test-suites/grading/{test}.toml")])
            .arg(repo().join(format!("fixtures/submissions/{test}/correct")))
            .args(["--sample", "2", "--jobs", "2", "--report-dir"])
            .arg(&out)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&o.stdout);
        assert_eq!(o.status.code(), Some(0), "{test}: {stdout}\n{}", String::from_utf8_lossy(&o.stderr));
        assert!(stdout.contains("2 of 2 non-equivalent mutants killed"), "{test}: {stdout}");
    }
    assert_eq!(machine_state(), before);
}

const HOSTILE: &str = "fixtures/submissions/hostile";

/// What a hostile submission could change on the machine beyond [`machine_state`]: every mount, the root
/// namespace's iptables (counters aside), sysctls, hostname and domainname.
#[derive(Debug, PartialEq, Eq)]
struct Machine {
    mounts: Vec<String>,
    iptables: String,
    sysctls: Vec<(String, String)>,
}

fn machine() -> Machine {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let mut mounts: Vec<String> = mountinfo
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            // mount point, options, file system type and source (ids and peer groups vary)
            let sep = f.iter().position(|x| *x == "-").unwrap_or(f.len());
            format!("{} {} {}", f[4], f[5], f[sep + 1..].join(" "))
        })
        .collect();
    mounts.sort();
    let save = std::process::Command::new("iptables-save").output().map(|o| o.stdout).unwrap_or_default();
    let iptables = String::from_utf8_lossy(&save)
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.split(" [").next().unwrap_or(l).to_string())
        .collect::<Vec<_>>()
        .join("\n");
    let keys = [
        "kernel/hostname",
        "kernel/domainname",
        "kernel/panic",
        "kernel/core_pattern",
        "kernel/sysrq",
        "kernel/printk",
        "vm/swappiness",
        "vm/overcommit_memory",
        "net/core/somaxconn",
        "net/ipv4/ip_forward",
        "net/ipv4/conf/all/forwarding",
    ];
    let sysctls = keys
        .iter()
        .map(|k| (k.to_string(), std::fs::read_to_string(format!("/proc/sys/{k}")).unwrap_or_default()))
        .collect();
    Machine { mounts, iptables, sysctls }
}

/// Files under `dir` (not below `skip`) modified since `since`.
fn changed_since(dir: &Path, since: std::time::SystemTime, skip: &[&str], out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if skip.iter().any(|s| p.starts_with(s)) {
            continue;
        }
        let Ok(m) = e.metadata() else { continue };
        if m.modified().is_ok_and(|t| t > since) {
            out.push(p.clone());
        }
        if m.is_dir() {
            changed_since(&p, since, skip, out);
        }
    }
}

fn the_hostile_corpus_is_contained() {
    let _g = serial();
    std::fs::write(SENTINEL, b"do not delete").unwrap();
    let s = Scratch::new();
    let initial = machine_state();
    // Another lab stands while the corpus is graded (the submissions look for it).
    let up = s.reachlab().args(["up", "test-suites/netns.toml"]).output().unwrap();
    assert!(up.status.success(), "{}", String::from_utf8_lossy(&up.stderr));
    let other = machine_state().namespaces.into_iter().find(|n| n.ends_with("-space1")).expect("space1 is up");
    let before = (machine_state(), machine());
    let since = std::time::SystemTime::now();
    let out = s.dir.path().join("hostile");
    let o = s
        .reachlab()
        .args(["grade", "--suite", SUITE, HOSTILE, "--jobs", "2", "--report-dir"])
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "the batch finishes: {}", String::from_utf8_lossy(&o.stderr));
    assert_reasoned(&out, HOSTILE);
    for e in std::fs::read_dir(repo().join(HOSTILE)).unwrap().flatten().filter(|e| e.path().is_dir()) {
        let name = e.file_name().to_string_lossy().into_owned();
        let report: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join(&name).join("report.json")).unwrap()).unwrap();
        let output = report["output"].as_str().unwrap_or_default();
        assert!(!output.contains("ESCAPED"), "{name} escaped:\n{output}");
        let expected: toml::Value =
            toml::from_str(&std::fs::read_to_string(e.path().join("expected.toml")).unwrap()).unwrap();
        for m in expected.get("must_show").and_then(|m| m.as_array()).into_iter().flatten() {
            assert!(output.contains(m.as_str().unwrap()), "{name} must show {m}:\n{output}");
        }
        assert!(output.len() < 80 * 1024, "{name}: output is capped ({} bytes)", output.len());
    }
    assert_eq!((machine_state(), machine()), before, "the machine is as it was");
    let mut changed = Vec::new();
    for d in ["/etc", "/usr", "/opt", "/var/lib", "/var/tmp"] {
        changed_since(
            Path::new(d),
            since,
            &["/var/lib/docker", "/var/lib/containerd", "/var/lib/apt", "/var/lib/dpkg"],
            &mut changed,
        );
    }
    assert!(changed.is_empty(), "files changed outside the report directory: {changed:?}");
    assert_eq!(std::fs::read(SENTINEL).unwrap(), b"do not delete");
    // The other lab is untouched.
    let link =
        std::process::Command::new("ip").args(["-n", &other, "-br", "link", "show", "veth-s1"]).output().unwrap();
    assert!(String::from_utf8_lossy(&link.stdout).contains("UP"), "{}", String::from_utf8_lossy(&link.stdout));
    assert!(s.reachlab().arg("down").status().unwrap().success());
    let _ = std::fs::remove_file(SENTINEL);
    assert_eq!(machine_state(), initial);
    assert!(s.ledgers().is_empty(), "{:?}", s.ledgers());
}
