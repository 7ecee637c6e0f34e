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
        let src = std::fs::read_to_string(&f).unwrap();
        let err = suite::load_str(&src, &label).expect_err(&label).to_string();
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
