//! `--engine system`: drive the machine's own Docker engine (a student's VM), with server1 = the machine's own
//! network namespace. Nothing of the emulated LAN exists then (server2 is a real machine elsewhere), so reachlab
//! refuses, before building anything, every check whose traffic could leave the lab; what remains runs between
//! server1 and the containers reachlab creates. Pure: this file only decides.

use crate::check::{Action, Check, CheckKind};
use crate::engine::docker_bridge;
use crate::plan::{Plan, Touches};
use crate::suite::{Attachment, HostRef, Lab, Suite};

const LAN: [&str; 2] = [Lab::SERVER2, Lab::SWITCH];

fn host_mode(suite: &Suite, node: &str) -> bool {
    suite.container(node).is_some_and(|c| c.attachment == Attachment::Host)
}

/// Why each check could leave the lab in system mode (empty: the suite may run).
pub fn refusals(suite: &Suite, plan: &Plan) -> Vec<String> {
    let mut out = Vec::new();
    let touches_lan = |n: &str| LAN.contains(&n);
    for c in &plan.checks {
        let why = match &c.action {
            Action::Icmp { to, .. } | Action::Udp { to, .. } | Action::Tcp { to, .. }
                if touches_lan(&c.from) || touches_lan(&to.node) =>
            {
                Some("server2 and the host-only LAN are real machines outside this one".to_string())
            }
            Action::Udp { to, .. } | Action::Tcp { to, .. }
                if to.node == Lab::SERVER1 || host_mode(suite, &to.node) =>
            {
                Some("its listener would open a port on the machine itself".to_string())
            }
            Action::Capture { capture, .. } => {
                let cap = &suite.captures[*capture];
                let hosts = [cap.src.as_ref(), cap.dst.as_ref()];
                let lan_host = hosts.into_iter().flatten().any(|h| matches!(h, HostRef::Node(n) if touches_lan(n)));
                if touches_lan(&cap.node) || lan_host {
                    Some("it captures on or about the emulated LAN".to_string())
                } else if (cap.node == Lab::SERVER1 || host_mode(suite, &cap.node)) && !docker_bridge(&cap.interface) {
                    Some(format!("it would capture the machine's own traffic on {}", cap.interface))
                } else {
                    None
                }
            }
            _ => None,
        };
        if let Some(why) = why {
            out.push(format!("{}: {why}", check_name(c)));
        }
    }
    out
}

fn check_name(c: &Check) -> String {
    match c.kind {
        CheckKind::Capture | CheckKind::Rule | CheckKind::Interface => c.name.clone(),
        _ => format!("{} {} -> {}", c.kind.as_str(), c.from, c.to),
    }
}

/// Refusals for a whole suite, as the command line lists them before starting anything.
pub fn suite_refusals(suite: &Suite) -> Vec<String> {
    refusals(suite, &without_lan(crate::plan::resolve(suite)))
}

/// The plan without the emulated LAN: no server1/server2/switch namespaces, cables or switch policy (server1
/// is the machine; the others do not exist here).
pub fn without_lan(plan: Plan) -> Plan {
    let lan = |ns: &&str| Lab::ENVIRONMENT.contains(ns);
    plan.retain(|t| match t {
        Touches::Namespaces(ns) => !ns.iter().any(lan),
        Touches::Engine | Touches::DockerObjects => true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Step;

    fn load(rel: &str) -> Suite {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(rel);
        crate::suite::load_str(&std::fs::read_to_string(path).unwrap(), rel).unwrap()
    }

    #[test]
    fn test1_is_refused_for_every_server2_check() {
        let s = load("test-suites/test1-custom-bridge.toml");
        let plan = crate::plan::resolve(&s);
        let r = refusals(&s, &plan);
        // 4 containers/server1 -> server2 and server2 -> 4 others, plus both captures on server2 (3 assertions).
        assert_eq!(r.iter().filter(|l| l.contains("server2")).count(), 11, "{r:#?}");
        assert!(r.iter().all(|l| !l.contains("alpine1 -> alpine2")), "{r:#?}");
    }

    #[test]
    fn test2_opens_no_port_on_the_machine() {
        let s = load("test-suites/test2-host-network.toml");
        let r = refusals(&s, &crate::plan::resolve(&s));
        assert!(r.iter().any(|l| l.contains("udp server2 -> alpine1")), "{r:#?}");
    }

    #[test]
    fn the_lan_is_not_built() {
        let s = load("test-suites/test1-custom-bridge.toml");
        let plan = without_lan(crate::plan::resolve(&s));
        assert!(plan
            .steps
            .iter()
            .all(|s| !matches!(s, Step::CreateNamespace { .. } | Step::CreateVeth { .. } | Step::SwitchPolicy { .. })));
        assert!(plan.steps.iter().any(|s| matches!(s, Step::StartEngine { .. })));
    }
}
