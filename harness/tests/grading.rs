//! Grading the fixture submissions for real (`fixtures/submissions/test1/`): every grade matches the one
//! reasoned in its `expected.toml`; grades are byte-identical across runs and across `--jobs`; a batch resumes;
//! shards partition the class; hostile scripts change nothing outside their sandbox; nothing of ours remains.
//! Listed as ignored without root or a Docker Engine.

mod common;

use common::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn main() {
    let tests: [(&'static str, fn()); 6] = [
        ("the_hostile_corpus_is_contained", the_hostile_corpus_is_contained),
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

fn expected() -> BTreeMap<String, (f64, f64)> {
    expected_in(CLASS)
}

fn expected_in(class: &str) -> BTreeMap<String, (f64, f64)> {
    let mut out = BTreeMap::new();
    for e in std::fs::read_dir(repo().join(class)).unwrap().flatten().filter(|e| e.path().is_dir()) {
        let v: toml::Value = toml::from_str(&std::fs::read_to_string(e.path().join("expected.toml")).unwrap()).unwrap();
        assert_eq!(v["status"].as_str(), Some("graded"));
        out.insert(
            e.file_name().to_string_lossy().into_owned(),
            (v["score"].as_float().unwrap(), v["max_score"].as_float().unwrap()),
        );
    }
    out
}

fn grades(dir: &Path) -> BTreeMap<String, (f64, f64)> {
    let csv = std::fs::read_to_string(dir.join("grades.csv")).unwrap();
    csv.lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            assert_eq!(f[3], "graded", "{l}");
            (f[0].to_string(), (f[4].parse().unwrap(), f[5].parse().unwrap()))
        })
        .collect()
}

fn the_fixture_class_gets_its_reasoned_grades_reproducibly() {
    let _g = serial();
    std::fs::write(SENTINEL, b"do not delete").unwrap();
    let before = machine_state();
    let s = Scratch::new();
    let (one, two): (PathBuf, PathBuf) = (s.dir.path().join("jobs1"), s.dir.path().join("jobs2"));
    grade(&s, &one, &["--jobs", "1"]);
    assert_eq!(grades(&one), expected());
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
        assert_eq!(grades(&out), expected_in(&class), "{test}");
        assert!(expected_in(&class).contains_key("correct"), "{test} has a correct submission");
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
    let csv = std::fs::read_to_string(out.join("grades.csv")).unwrap();
    let row: Vec<&str> = csv.lines().nth(1).unwrap().split(',').collect();
    assert_eq!((row[0], row[3], row[4]), ("correct", "error", ""), "never a zero: {csv}");
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
    assert_eq!(grades(&out), expected_in(HOSTILE), "honest grades");
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
