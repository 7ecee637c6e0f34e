//! `reachlab grade merge` on shard directories made by hand (pure: no grading, no privileges): one grades.csv
//! for the class and every submission's files, or a refusal naming what does not add up.

use reachlab::grade::merge::{write_manifest, Manifest};
use reachlab::grade::model::{GradeStatus, SubmissionGrade};
use std::path::Path;
use std::process::Command;

const CLASS: [&str; 4] = ["ann", "bob", "cy", "dee"];

fn grade(student: &str, score: f64) -> SubmissionGrade {
    SubmissionGrade {
        student: student.into(),
        suite: "netns".into(),
        suite_version: "sha256:v1".into(),
        submission_version: format!("sha256:{student}"),
        status: GradeStatus::Graded,
        score,
        max_score: 2.0,
        checks: vec![],
        output: String::new(),
        duration_ms: 1,
        phases: Vec::new(),
        setup_ended: None,
        matrices: Vec::new(),
    }
}

/// Shard `k` of `n` of the class, as `grade --shard k/n` would leave it.
fn shard(root: &Path, k: usize, n: usize) -> std::path::PathBuf {
    let dir = root.join(format!("shard-{k}"));
    let students: Vec<String> =
        CLASS.iter().enumerate().filter(|(i, _)| i % n == k - 1).map(|(_, s)| s.to_string()).collect();
    for (i, s) in students.iter().enumerate() {
        std::fs::create_dir_all(dir.join(s)).unwrap();
        let g = grade(s, i as f64);
        std::fs::write(dir.join(s).join("report.json"), serde_json::to_string(&g).unwrap()).unwrap();
        std::fs::write(dir.join(s).join("feedback.md"), format!("# {s}\n")).unwrap();
    }
    let m = Manifest {
        suite: "netns".into(),
        suite_version: "sha256:v1".into(),
        shard: Some([k, n]),
        class: CLASS.len(),
        students,
    };
    write_manifest(&dir, &m).unwrap();
    dir
}

fn merge(dirs: &[&Path], out: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_reachlab"))
        .args(["grade", "merge"])
        .args(dirs)
        .arg("--report-dir")
        .arg(out)
        .output()
        .unwrap()
}

#[test]
fn shards_merge_into_one_class() {
    let t = tempfile::tempdir().unwrap();
    let (a, b) = (shard(t.path(), 1, 2), shard(t.path(), 2, 2));
    let out = t.path().join("merged");
    let o = merge(&[&b, &a], &out);
    assert!(o.status.success(), "{o:?}");
    let csv = std::fs::read_to_string(out.join("grades.csv")).unwrap();
    let students: Vec<&str> = csv.lines().skip(1).map(|l| l.split(',').next().unwrap()).collect();
    assert_eq!(students, CLASS);
    for s in CLASS {
        assert!(out.join(s).join("feedback.md").exists(), "{s}'s files are copied");
    }
    let m: Manifest = serde_json::from_str(&std::fs::read_to_string(out.join("shard.json")).unwrap()).unwrap();
    assert_eq!((m.shard, m.class, m.students.len()), (None, 4, 4));
    // Merging again into the same directory is refused (it is not empty).
    assert_eq!(merge(&[&a, &b], &out).status.code(), Some(2));
}

#[test]
fn missing_and_overlapping_shards_are_refused() {
    let t = tempfile::tempdir().unwrap();
    let (a, _b, c) = (shard(t.path(), 1, 3), shard(t.path(), 2, 3), shard(t.path(), 3, 3));
    let out = t.path().join("merged");
    let o = merge(&[&a, &c], &out);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("missing shard: 2/3"), "{o:?}");
    let o = merge(&[&a, &a, &c], &out);
    assert!(String::from_utf8_lossy(&o.stderr).contains("given twice"), "{o:?}");
    assert!(!out.exists(), "a refused merge writes nothing");
    // A submission whose grade is missing (an interrupted shard).
    std::fs::remove_file(c.join("cy").join("report.json")).unwrap();
    let o = merge(&[&a, &t.path().join("shard-2"), &c], &out);
    assert!(String::from_utf8_lossy(&o.stderr).contains("no grade for cy"), "{o:?}");
}
