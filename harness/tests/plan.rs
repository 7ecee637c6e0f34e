//! Plans are pure: snapshot the steps and checks the bundled suites resolve to.

use reachlab::{plan, suite};
use std::path::Path;

fn load(rel: &str) -> suite::Suite {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(rel);
    suite::load_str(&std::fs::read_to_string(path).unwrap(), rel).unwrap()
}

#[test]
fn netns_plan() {
    insta::assert_json_snapshot!("plan__netns", plan::resolve(&load("test-suites/netns.toml")));
}

#[test]
fn routed_plan() {
    let p = plan::resolve(&load("fixtures/suites/routed.toml"));
    assert_eq!(p.checks.len(), 20);
    insta::assert_json_snapshot!("plan__routed", p);
}

#[test]
fn targets_prefer_a_shared_subnet_then_the_first_address() {
    let s = load("fixtures/suites/routed.toml");
    let p = plan::resolve(&s);
    let target = |from: &str, to: &str| {
        p.checks.iter().find(|c| c.from == from && c.to == to).unwrap().target.unwrap().to_string()
    };
    assert_eq!(target("h4", "r"), "10.2.0.254", "shared subnet");
    assert_eq!(target("h1", "r"), "10.1.0.254", "shared subnet");
    assert_eq!(target("h3", "h4"), "10.2.0.4", "only address");
}

#[test]
fn test1_plan_builds_the_lan_then_the_engine() {
    let p = plan::resolve(&load("test-suites/test1-custom-bridge.toml"));
    let names: Vec<String> =
        p.steps.iter().map(|s| serde_json::to_value(s).unwrap()["step"].as_str().unwrap().to_string()).collect();
    let engine = names.iter().position(|s| s == "start_engine").expect("engine step");
    assert!(names[..engine].iter().all(|s| !s.contains("container") && !s.contains("network")), "{names:?}");
    assert_eq!(names.last().map(String::as_str), Some("start_containers"));
    // 20 cells by address + 2 by name + 3 capture assertions + 1 NAT rule.
    assert_eq!(p.checks.len(), 26);
    insta::assert_json_snapshot!("plan__test1", p);
}
