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

/// A suite of `n` namespaces joined in pairs by veth pairs (each pair its own /30), like `bench/gen-wide.py`.
fn wide(n: usize) -> String {
    let mut s = String::from("name = \"wide\"\n");
    for i in 0..n {
        s += &format!("[[namespace]]\nname = \"n{i}\"\n");
    }
    for k in 0..n / 2 {
        let net = (10u32 << 24) + 4 * k as u32;
        let (x, y) = (std::net::Ipv4Addr::from(net + 1), std::net::Ipv4Addr::from(net + 2));
        s += &format!(
            "[[veth]]\nname = \"eth0\"\nnetns = \"n{}\"\naddress = \"{x}/30\"\npeer = {{ name = \"eth0\", netns = \"n{}\", address = \"{y}/30\" }}\n",
            2 * k,
            2 * k + 1
        );
    }
    s + "[[matrix]]\nprobe = \"icmp\"\nexpect = \"\"\"\n    n0 n1\nn0  -  Y\nn1  Y  -\n\"\"\"\n"
}

/// Loading is linear: four times the namespaces take about four times as long (a quadratic loader took 16×).
/// A timing, so it lives with the benchmarks (`bench/load.sh`), not in the default test run, where a loaded
/// machine makes ratios of wall times lie: `cargo test --test loader -- --ignored loading_is_linear`.
#[test]
#[ignore = "a timing: run with the benchmarks (bench/load.sh)"]
fn loading_is_linear_in_the_suite_size() {
    let time = |n: usize| {
        let text = wide(n);
        (0..3)
            .map(|_| {
                let start = std::time::Instant::now();
                let s = suite::load_str_with(&text, "wide.toml", &suite::Limits::NONE).unwrap();
                assert_eq!(s.namespaces.len(), n);
                start.elapsed()
            })
            .min()
            .unwrap()
    };
    let (small, large) = (time(2_000), time(8_000));
    let ratio = large.as_secs_f64() / small.as_secs_f64();
    assert!(ratio < 8.0, "2,000 namespaces: {small:?}, 8,000: {large:?} (×{ratio:.1})");
}

/// What a suite may declare is capped, with the limit and the place it is crossed.
#[test]
fn suites_over_the_limits_are_refused_where_they_cross_them() {
    let limit = suite::Limits::DEFAULT.namespaces;
    let text = wide(limit + 2);
    let err = suite::load_str(&text, "wide.toml").unwrap_err().to_string();
    // The (limit + 1)-th namespace's name, on line 2 + 2 * limit + 1.
    let line = 2 * limit + 3;
    assert!(err.starts_with(&format!("wide.toml:{line}:8: the suite declares more than {limit} namespaces")), "{err}");
    assert!(err.contains("hint: a suite has at most 4096 namespaces"), "{err}");
    assert!(suite::load_str_with(&text, "wide.toml", &suite::Limits::NONE).is_ok());

    let mut big = std::fs::read_to_string(repo().join("test-suites/netns.toml")).unwrap();
    let pad = suite::Limits::DEFAULT.bytes + 1 - big.len();
    big += &format!("#{}\n", "x".repeat(pad));
    let err = suite::load_str(&big, "big.toml").unwrap_err().to_string();
    assert!(err.contains("the suite is longer than 8388608 bytes, the most a suite may have"), "{err}");
    // The line shown is an excerpt around the column, with the caret under the first byte over the limit.
    let lines: Vec<&str> = err.lines().collect();
    let caret = lines[3].find('^').unwrap();
    assert_eq!(lines[2][..caret + 3].chars().last(), Some('x'), "{err}");
    assert!(lines[2].chars().count() < 120, "{}", lines[2]);

    // A file that never ends is read only up to the limit.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_reachlab")).args(["list", "/dev/zero"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("/dev/zero:1:8388609: the suite is longer than 8388608 bytes"), "{stderr}");
}

/// Figures for the README (not a check): loading 40k, 80k and 160k namespaces with the limits lifted.
/// `cargo test --release --test loader -- --ignored loading_figures --nocapture`
#[test]
#[ignore]
fn loading_figures() {
    for n in [40_000, 80_000, 160_000] {
        let text = wide(n);
        let start = std::time::Instant::now();
        suite::load_str_with(&text, "wide.toml", &suite::Limits::NONE).unwrap();
        println!("{n} namespaces ({} bytes): {:.2} s", text.len(), start.elapsed().as_secs_f64());
    }
}

/// Every input the fuzzers found a crash with (`fixtures/fuzz/`) loads or is refused with a location.
#[test]
fn fuzz_regressions_load_without_panicking() {
    let files = |dir: &str| -> Vec<PathBuf> {
        // A directory without regressions yet is not in git.
        let Ok(entries) = std::fs::read_dir(repo().join(dir)) else { return Vec::new() };
        let mut v: Vec<PathBuf> = entries.map(|e| e.unwrap().path()).collect();
        v.sort();
        v
    };
    let located = |e: suite::LoadError, label: &str| match e {
        suite::LoadError::Invalid(d) => {
            assert!(d.to_string().starts_with(&format!("{label}:{}:{}: ", d.line, d.col)), "{d}");
        }
        other => panic!("{label}: not located: {other}"),
    };
    let loader = files("fixtures/fuzz/loader");
    assert!(!loader.is_empty());
    for f in loader {
        let label = f.display().to_string();
        if let Err(e) = suite::load_bytes(&std::fs::read(&f).unwrap(), &label) {
            located(e, &label);
        }
    }
    let netns = std::fs::read_to_string(repo().join("test-suites/netns.toml")).unwrap();
    let (head, _) = netns.split_once("expect = ").unwrap();
    for f in files("fixtures/fuzz/grid") {
        let Ok(text) = String::from_utf8(std::fs::read(&f).unwrap()) else { continue };
        let _ = suite::matrix::parse(&text);
        let label = f.display().to_string();
        let src = format!("{head}expect = {}\n", toml::Value::String(text));
        if let Err(e) = suite::load_str(&src, &label) {
            located(e, &label);
        }
    }
}
