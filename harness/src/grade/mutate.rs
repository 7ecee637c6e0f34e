//! Mutation testing of grading suites: derive plausible mistakes from a correct `setup.sh` and grade them. A
//! mutant that still scores full marks is a hole in the suite — unless it is *equivalent* (it builds the same
//! lab), which the suite's fixtures say explicitly. Deriving mutants is pure; grading them is `grade_all`.
//!
//! Operators, each a mistake a student makes:
//! - `drop`: leave out one command (`docker network connect …`, `ip link set enp0s3 promisc on`, …);
//! - `network`: put a container on another network (`--network alpine-net` → the default bridge, `--network
//!   host` → the default bridge, `network connect alpine-net` → `network connect bridge`);
//! - `swap`: swap two names the script uses (containers, networks, namespaces);
//! - `subnet`: change a subnet, an address or a gateway (the third octet + 1);
//! - `parent`: change a macvlan parent (`parent=enp0s3` → `parent=eth0`);
//! - `promisc`: `promisc on` → `promisc off`.

use std::collections::BTreeSet;

/// One derived mistake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mutant {
    /// Stable name: operator and where, e.g. `drop-3`, `swap-alpine1-alpine2`.
    pub name: String,
    /// What changed, in words.
    pub what: String,
    /// The mutated script.
    pub script: String,
}

/// The script's commands: (first line number, text), continuation lines joined, comments and blanks left out.
fn commands(script: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (i, line) in script.lines().enumerate() {
        let trimmed = line.trim();
        match current.as_mut() {
            Some((_, text)) => text.push_str(&format!("\n{line}")),
            None if trimmed.is_empty() || trimmed.starts_with('#') || trimmed == "set -e" => continue,
            None => current = Some((i + 1, line.to_string())),
        }
        if !line.trim_end().ends_with('\\') {
            out.extend(current.take());
        }
    }
    out.extend(current);
    out
}

/// Names a script creates: `--name X`, `network create … X`, `ip netns add X`.
fn names(script: &str) -> Vec<String> {
    let words: Vec<&str> = script.split_whitespace().collect();
    let mut out = Vec::new();
    for (i, w) in words.iter().enumerate() {
        let next = words.get(i + 1).map(|s| s.to_string());
        if *w == "--name" || (*w == "add" && i > 0 && words[i - 1] == "netns") {
            out.extend(next);
        }
    }
    for cmd in commands(script) {
        let text = cmd.1.replace("\\\n", " ");
        if text.contains("network create") {
            out.extend(text.split_whitespace().last().map(str::to_string));
        }
    }
    let mut seen = BTreeSet::new();
    out.retain(|n| seen.insert(n.clone()));
    out
}

/// Replaces whole words `a` and `b` with each other.
fn swap_words(text: &str, a: &str, b: &str) -> String {
    let is_word = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    crate::words::map_words(text, is_word, |w| {
        if w == a {
            Some(b)
        } else if w == b {
            Some(a)
        } else {
            None
        }
    })
}

/// The third octet of each dotted quad in `text` plus one (10.0.0.12/24 → 10.0.1.12/24).
fn shift_addresses(text: &str) -> Option<String> {
    let mut changed = false;
    let out: Vec<String> = text
        .split_inclusive(|c: char| !(c.is_ascii_digit() || c == '.'))
        .map(|piece| {
            let (quad, rest) =
                piece.split_at(piece.trim_end_matches(|c: char| !(c.is_ascii_digit() || c == '.')).len());
            let parts: Vec<&str> = quad.split('.').collect();
            if parts.len() == 4 && parts.iter().all(|p| p.parse::<u8>().is_ok()) {
                let third: u8 = parts[2].parse().expect("checked");
                changed = true;
                format!("{}.{}.{}.{}{rest}", parts[0], parts[1], third.wrapping_add(1), parts[3])
            } else {
                piece.to_string()
            }
        })
        .collect();
    changed.then(|| out.concat())
}

/// Every mutant of `script`, in a stable order.
pub fn mutants(script: &str) -> Vec<Mutant> {
    let cmds = commands(script);
    let lines: Vec<&str> = script.lines().collect();
    let mut out = Vec::new();
    // The script with command `k` (starting at line `at`, spanning its continuation lines) replaced.
    let with = |at: usize, old: &str, new: Option<&str>| -> String {
        let span = old.lines().count();
        let mut v: Vec<String> = lines[..at - 1].iter().map(|s| s.to_string()).collect();
        if let Some(n) = new {
            v.push(n.to_string());
        }
        v.extend(lines[at - 1 + span..].iter().map(|s| s.to_string()));
        v.join("\n") + "\n"
    };
    for (at, cmd) in &cmds {
        let first = cmd.lines().next().unwrap_or_default().trim();
        out.push(Mutant {
            name: format!("drop-{at}"),
            what: format!("without line {at}: {first}"),
            script: with(*at, cmd, None),
        });
    }
    for (at, cmd) in &cmds {
        let net = if cmd.contains("--network host") {
            Some(cmd.replace("--network host", ""))
        } else if let Some(i) = cmd.find("--network ") {
            let rest = &cmd[i + "--network ".len()..];
            let name = rest.split_whitespace().next().unwrap_or_default();
            (name != "bridge").then(|| cmd.replacen(&format!("--network {name}"), "", 1))
        } else if cmd.contains("network connect ") {
            let words: Vec<&str> = cmd.split_whitespace().collect();
            let pos = words.iter().position(|w| *w == "connect").map(|p| p + 1);
            pos.and_then(|p| words.get(p))
                .filter(|n| **n != "bridge")
                .map(|n| cmd.replacen(&format!("connect {n}"), "connect bridge", 1))
        } else {
            None
        };
        if let Some(new) = net {
            out.push(Mutant {
                name: format!("network-{at}"),
                what: format!("line {at} on the wrong network: {}", new.trim()),
                script: with(*at, cmd, Some(&new)),
            });
        }
    }
    let ns = names(script);
    for (i, a) in ns.iter().enumerate() {
        for b in &ns[i + 1..] {
            let s = swap_words(script, a, b);
            if s != script {
                out.push(Mutant { name: format!("swap-{a}-{b}"), what: format!("{a} and {b} swapped"), script: s });
            }
        }
    }
    for (at, cmd) in &cmds {
        if cmd.contains("--subnet") || cmd.contains("--gateway") || cmd.contains("address add") {
            if let Some(new) = shift_addresses(cmd) {
                out.push(Mutant {
                    name: format!("subnet-{at}"),
                    what: format!("line {at} with another subnet: {}", new.lines().next().unwrap_or_default().trim()),
                    script: with(*at, cmd, Some(&new)),
                });
            }
        }
        if let Some(i) = cmd.find("parent=") {
            let old: String = cmd[i..].chars().take_while(|c| !c.is_whitespace()).collect();
            if old != "parent=eth0" {
                let new = cmd.replacen(&old, "parent=eth0", 1);
                out.push(Mutant {
                    name: format!("parent-{at}"),
                    what: format!("line {at} with `{old}` → `parent=eth0`"),
                    script: with(*at, cmd, Some(&new)),
                });
            }
        }
        if cmd.contains("promisc on") {
            let new = cmd.replace("promisc on", "promisc off");
            out.push(Mutant {
                name: format!("promisc-{at}"),
                what: format!("line {at}: promisc off"),
                script: with(*at, cmd, Some(&new)),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEST1: &str = "#!/bin/bash\n# Test1\nset -e\ndocker network create --driver bridge alpine-net\ndocker run -dit --name alpine1 alpine\ndocker run -dit --name alpine2 alpine\ndocker network connect alpine-net alpine2\ndocker run -dit --name alpine3 --network alpine-net alpine\n";

    #[test]
    fn mutants_are_the_lab_s_mistakes() {
        let m = mutants(TEST1);
        let names: Vec<&str> = m.iter().map(|m| m.name.as_str()).collect();
        for want in ["drop-4", "drop-7", "network-7", "network-8", "swap-alpine1-alpine3", "swap-alpine2-alpine-net"] {
            assert!(names.contains(&want), "{want} in {names:?}");
        }
        let dropped = &m.iter().find(|m| m.name == "drop-7").unwrap().script;
        assert!(!dropped.contains("network connect") && dropped.contains("--name alpine3"), "{dropped}");
        let wrong = &m.iter().find(|m| m.name == "network-7").unwrap().script;
        assert!(wrong.contains("docker network connect bridge alpine2"), "{wrong}");
        let swapped = &m.iter().find(|m| m.name == "swap-alpine1-alpine3").unwrap().script;
        assert!(
            swapped.contains("--name alpine3 alpine\n") && swapped.contains("--name alpine1 --network"),
            "{swapped}"
        );
    }

    #[test]
    fn continuation_lines_are_one_command() {
        let s = "docker network create -d macvlan --subnet=192.168.56.0/24 \\\n    -o parent=enp0s3 macv\nip link set enp0s3 promisc on\n";
        let m = mutants(s);
        let subnet = &m.iter().find(|m| m.name == "subnet-1").unwrap().script;
        assert!(subnet.contains("--subnet=192.168.57.0/24 \\\n    -o parent=enp0s3 macv\n"), "{subnet}");
        let parent = &m.iter().find(|m| m.name == "parent-1").unwrap().script;
        assert!(parent.contains("parent=eth0 macv"), "{parent}");
        assert_eq!(m.iter().find(|m| m.name == "drop-1").unwrap().script, "ip link set enp0s3 promisc on\n");
        assert!(m.iter().any(|m| m.name == "promisc-3" && m.script.contains("promisc off")));
    }
}
