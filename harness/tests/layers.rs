//! The architecture, checked: every room of `harness/src` has a layer, and a room may only use rooms of lower
//! layers. So there is no import circle, and no arrow from a lower layer (the kernel wrapper, the suite format)
//! up to a higher one (the lab, the runner, the command line). A new room must be given its layer here.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Lowest first. Rooms on one line may not use each other.
const LAYERS: &[&[&str]] = &[
    // Pure leaves: addresses, the capture-filter language, phase timings, atomic file writes, reasons as data,
    // whole-word rewriting.
    &["cidr", "filter", "timings", "files", "reason", "words"],
    // The suite format; the kernel wrapper (netlink, namespaces), which never learns the suite format.
    &["suite", "kernel"],
    // The engine (every Engine API call); checks and observations; addresses read back; packet capture.
    &["engine", "check", "inventory", "capture"],
    // Pure middle: resolving a suite into a plan, judging, explaining from the lab's facts.
    &["plan", "judge", "explain"],
    // Deciding what `--engine system` may run; picking checks; report models and renderers; probes.
    &["system", "select", "report", "probe"],
    // Applying plans (implements the probes' seam); events.
    &["lab", "event"],
    // Running suites.
    &["runner"],
    // Grading (emits events).
    &["grade"],
    // Reporters (consume events; render with report and grade's formats).
    &["reporters"],
    // The command line.
    &["cli"],
];

/// Arrows against the layering that are being removed, as `(room, used)`. The test fails when one of them is
/// gone, so the list only shrinks.
const PENDING: &[(&str, &str)] = &[];

fn layer_of(room: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&room))
}

/// `crate::ROOM` uses in a file, outside its `#[cfg(test)]` module.
fn uses(src: &str) -> BTreeSet<String> {
    let code = src.split("#[cfg(test)]").next().unwrap_or(src);
    let mut out = BTreeSet::new();
    let mut push_ident = |s: &str| {
        let id: String = s.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
        if !id.is_empty() && id != "self" && id.chars().next().is_some_and(|c| c.is_ascii_lowercase()) {
            out.insert(id);
        }
    };
    for (i, _) in code.match_indices("crate::") {
        let rest = &code[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let group = &group[..group.find('}').unwrap_or(group.len())];
            // `crate::{a, b::C, c::{..}}`: each top-level segment's first identifier.
            let mut depth = 0;
            let mut start = true;
            for (j, ch) in group.char_indices() {
                match ch {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 0 => start = true,
                    c if start && !c.is_whitespace() => {
                        push_ident(&group[j..]);
                        start = false;
                    }
                    _ => {}
                }
            }
        } else {
            push_ident(rest);
        }
    }
    out
}

fn rooms() -> BTreeMap<String, BTreeMap<String, BTreeSet<String>>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut rooms: BTreeMap<String, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    let mut stack = vec![src.clone()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            if p.extension().is_none_or(|x| x != "rs") {
                continue;
            }
            let rel = p.strip_prefix(&src).unwrap().to_string_lossy().into_owned();
            let room = rel.split('/').next().unwrap().trim_end_matches(".rs").to_string();
            if room == "main" || room == "lib" {
                continue;
            }
            let text = std::fs::read_to_string(&p).unwrap();
            for used in uses(&text) {
                if used != room {
                    rooms.entry(room.clone()).or_default().entry(used).or_default().insert(rel.clone());
                }
            }
            rooms.entry(room.clone()).or_default();
        }
    }
    rooms
}

fn take(pending: &mut BTreeSet<(&'static str, &'static str)>, room: &str, used: &str) -> bool {
    let found = pending.iter().find(|(r, u)| *r == room && *u == used).copied();
    found.is_some_and(|k| pending.remove(&k))
}

#[test]
fn every_room_uses_only_lower_layers() {
    let mut wrong = Vec::new();
    let mut pending: BTreeSet<(&str, &str)> = PENDING.iter().copied().collect();
    for (room, used) in rooms() {
        let Some(mine) = layer_of(&room) else {
            wrong.push(format!("{room} has no layer: add it to LAYERS in harness/tests/layers.rs"));
            continue;
        };
        for (target, files) in used {
            match layer_of(&target) {
                Some(theirs) if theirs < mine => {}
                Some(_) if take(&mut pending, &room, &target) => {}
                Some(_) => wrong.push(format!("{room} uses {target} (same or higher layer) in {files:?}")),
                None => wrong.push(format!("{room} uses {target}, which has no layer, in {files:?}")),
            }
        }
    }
    assert!(wrong.is_empty(), "arrows against the layering:\n{}", wrong.join("\n"));
    assert!(pending.is_empty(), "these arrows are gone: remove them from PENDING: {pending:?}");
}

#[test]
fn the_check_sees_an_upward_arrow() {
    // The parser itself must find what the layering forbids.
    let found = uses("use crate::{lab::live::LiveLab, probe::{self, Nodes}};\nfn f() { crate::cli::main(); }");
    assert_eq!(found, BTreeSet::from(["cli".to_string(), "lab".to_string(), "probe".to_string()]));
}

#[test]
fn no_probe_file_names_the_concrete_lab() {
    let probe = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/probe");
    for e in std::fs::read_dir(probe).unwrap().flatten() {
        let text = std::fs::read_to_string(e.path()).unwrap();
        assert!(!text.contains("LiveLab"), "{} names the concrete lab", e.path().display());
    }
}
