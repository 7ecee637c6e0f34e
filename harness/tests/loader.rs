//! The loader on the broken-suite corpus (`fixtures/broken/`), the bundled suites, and the published schema.

use reachlab::suite;
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn tomls(dir: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(repo().join(dir))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    v.sort();
    v
}

#[test]
fn every_broken_suite_is_rejected_with_a_located_hint() {
    let files = tomls("fixtures/broken");
    assert!(files.len() >= 15, "the corpus shrank");
    for f in files {
        let stem = f.file_stem().unwrap().to_string_lossy().into_owned();
        let label = format!("fixtures/broken/{stem}.toml");
        // Bytes, not text: some of the corpus is not UTF-8 on purpose.
        let src = std::fs::read(&f).unwrap();
        let err = suite::load_bytes(&src, &label).expect_err(&label).to_string();
        assert!(err.starts_with(&format!("{label}:")), "{err}");
        insta::assert_snapshot!(format!("broken__{stem}"), err);
    }
}

#[test]
fn bundled_suites_and_fixture_suites_load() {
    for f in tomls("test-suites").into_iter().chain(tomls("fixtures/suites")) {
        suite::load_file(&f).unwrap_or_else(|e| panic!("{e}"));
    }
}

#[test]
fn published_schema_is_current() {
    let committed = std::fs::read_to_string(repo().join("test-suites/suite.schema.json")).unwrap();
    assert_eq!(committed, suite::schema::json(), "regenerate with `reachlab schema > test-suites/suite.schema.json`");
}

fn validator() -> jsonschema::Validator {
    let schema: serde_json::Value = serde_json::from_str(&suite::schema::json()).unwrap();
    jsonschema::validator_for(&schema).unwrap()
}

#[test]
fn bundled_suites_validate_against_the_schema() {
    let v = validator();
    for f in tomls("test-suites").into_iter().chain(tomls("fixtures/suites")) {
        let value: serde_json::Value = toml::from_str(&std::fs::read_to_string(&f).unwrap()).unwrap();
        let errors: Vec<String> = v.iter_errors(&value).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{}: {errors:?}", f.display());
    }
}

#[test]
fn schema_rejects_what_the_loader_rejects_structurally() {
    let v = validator();
    for name in ["unknown-key", "unknown-table", "unknown-probe"] {
        let value: serde_json::Value =
            toml::from_str(&std::fs::read_to_string(repo().join(format!("fixtures/broken/{name}.toml"))).unwrap())
                .unwrap();
        assert!(!v.is_valid(&value), "{name} should not validate");
    }
}

/// `reachlab list` on broken suites: exit 2, every one reported at file:line:col, nothing built.
#[test]
fn broken_suites_exit_2_with_their_location() {
    let cases = [
        ("not-utf8", "2:19: invalid UTF-8: byte 0xe9 is not UTF-8"),
        ("name-escapes", "2:8: `../../x` is not a valid suite name"),
    ];
    for (stem, located) in cases {
        let file = format!("fixtures/broken/{stem}.toml");
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_reachlab"))
            .current_dir(repo())
            .args(["list", &file])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stem}: {stderr}");
        assert!(stderr.contains(&format!("{file}:{located}")), "{stem}: {stderr}");
    }
}

/// Without `name`, the file name makes the suite's name, and must make a valid one.
#[test]
fn a_file_name_that_makes_no_suite_name_is_refused() {
    let src = std::fs::read_to_string(repo().join("test-suites/netns.toml")).unwrap().replace("name = \"netns\"\n", "");
    assert_eq!(suite::load_str(&src, "dir/netns-copy.toml").unwrap().name, "netns-copy");
    let err = suite::load_str(&src, "dir/my suite.toml").unwrap_err().to_string();
    assert!(err.starts_with("dir/my suite.toml:1:1: the suite has no `name` and its file name `my suite`"), "{err}");
    assert!(err.contains("hint: add `name = \"…\"`"), "{err}");
}
