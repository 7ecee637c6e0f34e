//! The command line as a user meets it, without privileges: `list --json` and `--filter`, shell completions,
//! the manual page, and `run`'s selection errors (decided before anything is built).

use std::process::{Command, Output};

fn reachlab(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_reachlab"))
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .args(args)
        .output()
        .unwrap()
}

fn json(args: &[&str]) -> serde_json::Value {
    let out = reachlab(args);
    assert!(out.status.success(), "{out:?}");
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

#[test]
fn list_json_holds_what_list_prints() {
    let listed = json(&["list", "--json"]);
    let plain = String::from_utf8(reachlab(&["list"]).stdout).unwrap();
    let suites = listed.as_array().unwrap();
    assert!(suites.len() >= 10, "{listed}");
    for s in suites {
        let header = format!(
            "{}  {}  ({} checks; ",
            s["name"].as_str().unwrap(),
            s["file"].as_str().unwrap(),
            s["checks"].as_array().unwrap().len()
        );
        assert!(plain.contains(&header), "{header} not in\n{plain}");
        assert!(["runs", "skipped", "error"].contains(&s["status"].as_str().unwrap()));
        for c in s["checks"].as_array().unwrap() {
            for key in ["name", "kind", "from", "to", "target", "expected", "matrix"] {
                assert!(c.get(key).is_some(), "{key} in {c}");
            }
        }
    }
}

#[test]
fn filters_pick_checks_by_suite_matrix_pair_and_kind() {
    let picked = json(&["list", "--json", "--filter", "test1*/*:alpine1->*"]);
    let suites = picked.as_array().unwrap();
    assert_eq!(suites.len(), 1, "{picked}");
    assert_eq!(suites[0]["name"], "test1-custom-bridge");
    let checks = suites[0]["checks"].as_array().unwrap();
    assert!(!checks.is_empty());
    assert!(checks.iter().all(|c| c["from"] == "alpine1" && c["matrix"].is_string()), "{picked}");
    let captures = json(&["list", "--json", "--filter", "*#capture"]);
    let all: Vec<&serde_json::Value> =
        captures.as_array().unwrap().iter().flat_map(|s| s["checks"].as_array().unwrap()).collect();
    assert!(!all.is_empty() && all.iter().all(|c| c["kind"] == "capture"));
}

#[test]
fn run_refuses_a_bad_or_empty_selection_before_building_anything() {
    let out = reachlab(&["run", "--filter", "test1:alpine1"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("FROM->TO"), "{out:?}");
    let out = reachlab(&["run", "--filter", "no-such-suite"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    // A share with no suite is not a failure of the split run.
    let out = reachlab(&["run", "--partition", "99/99"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("no suite falls into it"));
    assert_eq!(reachlab(&["run", "--partition", "3/2"]).status.code(), Some(2));
}

#[test]
fn completions_for_every_shell_name_the_subcommands() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = reachlab(&["completions", shell]);
        assert!(out.status.success(), "{shell}: {out:?}");
        let text = String::from_utf8_lossy(&out.stdout);
        for sub in ["run", "status", "exec", "completions"] {
            assert!(text.contains(sub), "{shell} completion lacks {sub}");
        }
    }
    // bash accepts the script.
    let script = reachlab(&["completions", "bash"]).stdout;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("reachlab.bash");
    std::fs::write(&file, script).unwrap();
    let ok = Command::new("bash").arg("-c").arg(format!(". {} && complete -p reachlab", file.display())).output();
    assert!(ok.unwrap().status.success());
}

#[test]
fn the_manual_page_has_every_subcommand_and_man_reads_it() {
    let out = reachlab(&["man"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(text.starts_with(".ie") || text.contains(".TH reachlab"), "{}", &text[..200.min(text.len())]);
    for sub in ["RUN", "LIST", "STATUS", "EXEC", "GRADE", "COMPLETIONS"] {
        assert!(text.contains(&format!(".SH \"REACHLAB {sub}\"")), "no section for {sub}");
    }
    assert!(text.contains("\\-\\-filter") || text.contains("--filter"));
    // When man(1) is there, it renders the page without warnings.
    if Command::new("man").arg("--version").output().is_ok_and(|o| o.status.success()) {
        let dir = tempfile::tempdir().unwrap();
        let page = dir.path().join("reachlab.1");
        std::fs::write(&page, &text).unwrap();
        let out = Command::new("man")
            .arg("-l")
            .arg(&page)
            .env("MANWIDTH", "100")
            .env("MAN_KEEP_STDERR", "1")
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        assert!(String::from_utf8_lossy(&out.stdout).contains("REACHLAB EXEC"));
    }
}

#[test]
fn graph_draws_every_bundled_suite_as_svg_and_dot() {
    let dir = tempfile::tempdir().unwrap();
    let suites = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../test-suites")).unwrap();
    for p in suites.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "toml")) {
        let path = p.display().to_string();
        let svg = reachlab(&["graph", &path]);
        assert!(svg.status.success(), "{path}: {svg:?}");
        let file = dir.path().join("g.svg");
        std::fs::write(&file, &svg.stdout).unwrap();
        let lint = Command::new("xmllint").arg("--noout").arg(&file).output().expect("xmllint (libxml2-utils)");
        assert!(lint.status.success(), "{path}: {}", String::from_utf8_lossy(&lint.stderr));
        let dot = String::from_utf8(reachlab(&["graph", "--format", "dot", &path]).stdout).unwrap();
        assert!(dot.starts_with("graph ") && dot.trim_end().ends_with('}'), "{path}: {dot}");
    }
    let dot = String::from_utf8(reachlab(&["graph", "--format", "dot", "test-suites/test1-custom-bridge.toml"]).stdout)
        .unwrap();
    for edge in ["\"ct:alpine3\" -- \"net:alpine-net\"", "\"ns:server1\" -- \"net:bridge\""] {
        assert!(dot.contains(edge), "{edge} in {dot}");
    }
}
