//! Merging the report directories of a class graded in shards (`grade --shard K/N` on several runners) into one:
//! one `grades.csv` and every submission's files (JUnit, feedback, LMS formats, pcaps) side by side.
//!
//! Each `grade` run writes `shard.json` beside its `grades.csv`: the suite version, which shard it graded, how
//! many submissions the whole class has and which of them it graded. A merge refuses anything that would not
//! add up to exactly one grade per student of that class: two directories of the same shard, a shard missing,
//! a student in two shards or in none, shards of different suite versions or class listings, a submission
//! whose grade is not there.

use super::formats;
use super::model::{Batch, SubmissionGrade};
use crate::files::write_atomic;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// `shard.json`: what one `grade` run graded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Suite name.
    pub suite: String,
    /// Content hash of the suite file.
    pub suite_version: String,
    /// `[K, N]` for `--shard K/N`; absent for the whole class.
    pub shard: Option<[usize; 2]>,
    /// How many submissions the whole class has.
    pub class: usize,
    /// The submissions this run graded (directory names), sorted.
    pub students: Vec<String>,
}

/// The file name of the manifest.
pub const MANIFEST: &str = "shard.json";

/// Writes `dir/shard.json`.
pub fn write_manifest(dir: &Path, m: &Manifest) -> std::io::Result<()> {
    write_atomic(&dir.join(MANIFEST), serde_json::to_string_pretty(m).expect("manifest serializes") + "\n")
}

fn read_manifest(dir: &Path) -> Result<Manifest, String> {
    let p = dir.join(MANIFEST);
    let text = std::fs::read_to_string(&p).map_err(|e| {
        format!("{} is not the report directory of a `reachlab grade` run ({}: {e})", dir.display(), p.display())
    })?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", p.display()))
}

/// Checks that `shards` (directory, manifest) are the N shards of one class, each once. Pure.
pub fn check(shards: &[(PathBuf, Manifest)]) -> Result<(), String> {
    let Some((first_dir, first)) = shards.first() else { return Err("nothing to merge".into()) };
    let mut problems = Vec::new();
    for (dir, m) in shards {
        if m.suite_version != first.suite_version {
            problems.push(format!(
                "{} was graded with suite {} version {}, {} with {} version {}",
                dir.display(),
                m.suite,
                m.suite_version,
                first_dir.display(),
                first.suite,
                first.suite_version
            ));
        }
        if m.class != first.class {
            problems.push(format!(
                "{} counts {} submissions in the class, {} counts {}: they were graded from different class directories",
                dir.display(),
                m.class,
                first_dir.display(),
                first.class
            ));
        }
    }
    let n = match first.shard {
        Some([_, n]) => n,
        None if shards.len() == 1 => 1,
        None => {
            return Err(format!(
                "{} graded the whole class (no --shard): there is nothing to merge it with",
                first_dir.display()
            ))
        }
    };
    let mut by_k: BTreeMap<usize, &PathBuf> = BTreeMap::new();
    for (dir, m) in shards {
        match m.shard {
            Some([k, nn]) if nn == n => {
                if let Some(other) = by_k.insert(k, dir) {
                    problems.push(format!("shard {k}/{n} is given twice: {} and {}", other.display(), dir.display()));
                }
            }
            Some([k, nn]) => problems.push(format!("{} is shard {k}/{nn}, the others are of /{n}", dir.display())),
            None if n == 1 => {
                by_k.insert(1, dir);
            }
            None => problems.push(format!("{} graded the whole class (no --shard)", dir.display())),
        }
    }
    let missing: Vec<String> = (1..=n).filter(|k| !by_k.contains_key(k)).map(|k| format!("{k}/{n}")).collect();
    if !missing.is_empty() {
        problems.push(format!("missing shard{}: {}", if missing.len() > 1 { "s" } else { "" }, missing.join(", ")));
    }
    let mut owner: BTreeMap<&str, &PathBuf> = BTreeMap::new();
    for (dir, m) in shards {
        for s in &m.students {
            if let Some(other) = owner.insert(s.as_str(), dir) {
                if other != dir {
                    problems.push(format!("{s} was graded in two shards: {} and {}", other.display(), dir.display()));
                }
            }
        }
    }
    if problems.is_empty() && owner.len() != first.class {
        problems.push(format!("the shards hold {} submissions, the class has {}", owner.len(), first.class));
    }
    // Each shard holds every N-th submission by sorted name: a student in the wrong shard means the shards were
    // cut from different listings.
    if problems.is_empty() {
        for (i, (s, dir)) in owner.iter().enumerate() {
            let k = i % n + 1;
            if by_k.get(&k) != Some(dir) {
                problems.push(format!("{s} belongs to shard {k}/{n} but was graded in {}", dir.display()));
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!("refusing to merge:\n  {}", problems.join("\n  ")))
    }
}

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        let target = to.join(e.file_name());
        if e.file_type()?.is_dir() {
            copy_dir(&e.path(), &target)?;
        } else {
            std::fs::copy(e.path(), &target)?;
        }
    }
    Ok(())
}

/// Merges the shard directories `dirs` into `out` (which must not exist or be empty): every submission's
/// directory, one `grades.csv` and a `shard.json` for the whole class.
pub fn merge(dirs: &[PathBuf], out: &Path) -> Result<Batch, String> {
    let shards: Vec<(PathBuf, Manifest)> =
        dirs.iter().map(|d| read_manifest(d).map(|m| (d.clone(), m))).collect::<Result<_, _>>()?;
    check(&shards)?;
    if std::fs::read_dir(out).is_ok_and(|mut d| d.next().is_some()) {
        return Err(format!("{} is not empty: merge into a new directory", out.display()));
    }
    let mut submissions: Vec<SubmissionGrade> = Vec::new();
    for (dir, m) in &shards {
        for s in &m.students {
            let report = dir.join(s).join("report.json");
            let text = std::fs::read_to_string(&report)
                .map_err(|e| format!("refusing to merge: no grade for {s} in {} ({e})", dir.display()))?;
            let g: SubmissionGrade =
                serde_json::from_str(&text).map_err(|e| format!("refusing to merge: {}: {e}", report.display()))?;
            submissions.push(g);
        }
    }
    submissions.sort_by(|a, b| a.student.cmp(&b.student));
    let first = &shards[0].1;
    let batch = Batch { suite: first.suite.clone(), suite_version: first.suite_version.clone(), submissions };
    let failed = |e: std::io::Error| format!("failed to write {}: {e}", out.display());
    crate::files::create_dir(out).map_err(failed)?;
    for (dir, m) in &shards {
        for s in &m.students {
            copy_dir(&dir.join(s), &out.join(s)).map_err(|e| format!("failed to copy {s}: {e}"))?;
        }
    }
    write_atomic(&out.join("grades.csv"), formats::csv::render(&batch)).map_err(failed)?;
    let students = batch.submissions.iter().map(|g| g.student.clone()).collect();
    let whole = Manifest { shard: None, students, ..first.clone() };
    write_manifest(out, &whole).map_err(failed)?;
    Ok(batch)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shard(k: usize, n: usize, class: &[&str]) -> (PathBuf, Manifest) {
        let students = class.iter().enumerate().filter(|(i, _)| i % n == k - 1).map(|(_, s)| s.to_string()).collect();
        let m = Manifest {
            suite: "test1".into(),
            suite_version: "v1".into(),
            shard: Some([k, n]),
            class: class.len(),
            students,
        };
        (PathBuf::from(format!("shard-{k}")), m)
    }

    const CLASS: [&str; 5] = ["ann", "bob", "cy", "dee", "eve"];

    #[test]
    fn the_n_shards_of_a_class_merge() {
        assert_eq!(check(&[shard(1, 3, &CLASS), shard(2, 3, &CLASS), shard(3, 3, &CLASS)]), Ok(()));
        assert_eq!(check(&[shard(2, 2, &CLASS), shard(1, 2, &CLASS)]), Ok(()), "in any order");
    }

    #[test]
    fn a_missing_shard_is_refused() {
        let e = check(&[shard(1, 3, &CLASS), shard(3, 3, &CLASS)]).unwrap_err();
        assert!(e.contains("missing shard: 2/3"), "{e}");
    }

    #[test]
    fn a_shard_given_twice_is_refused() {
        let mut again = shard(1, 2, &CLASS);
        again.0 = "elsewhere".into();
        let e = check(&[shard(1, 2, &CLASS), again, shard(2, 2, &CLASS)]).unwrap_err();
        assert!(e.contains("shard 1/2 is given twice"), "{e}");
        assert!(e.contains("was graded in two shards"), "{e}");
    }

    #[test]
    fn shards_that_do_not_add_up_are_refused() {
        let e = check(&[shard(1, 2, &CLASS), shard(2, 3, &CLASS)]).unwrap_err();
        assert!(e.contains("the others are of /2"), "{e}");
        let mut other_version = shard(2, 2, &CLASS);
        other_version.1.suite_version = "v2".into();
        assert!(check(&[shard(1, 2, &CLASS), other_version]).unwrap_err().contains("version v2"));
        // Cut from a different listing: the same counts, the wrong students.
        let mut wrong = shard(2, 2, &CLASS);
        wrong.1.students = vec!["ann".into(), "cy".into()];
        let mut first = shard(1, 2, &CLASS);
        first.1.students = vec!["bob".into(), "dee".into(), "eve".into()];
        assert!(check(&[first, wrong]).unwrap_err().contains("belongs to shard"));
        let mut whole = shard(1, 1, &CLASS);
        whole.1.shard = None;
        assert_eq!(check(std::slice::from_ref(&whole)), Ok(()));
        assert!(check(&[whole, shard(1, 2, &CLASS)]).is_err());
    }
}
