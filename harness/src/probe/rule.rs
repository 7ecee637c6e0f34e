//! Rule checks: read a node's nat table (`iptables-save -t nat`, run inside the node's namespace — the same
//! iptables the engine used) and look for the MASQUERADE rule of the lab's "Docker NAT" slide.

use super::nodes::Nodes;
use crate::check::{Observation, Outcome};
use crate::suite::Cidr;
use std::os::fd::AsRawFd;

/// The POSTROUTING rules that masquerade `subnet`, from `iptables-save` output.
pub fn masquerade_rules(save: &str, subnet: Cidr) -> Vec<String> {
    let source = format!("-s {}/{}", subnet.network(), subnet.prefix);
    save.lines()
        .filter(|l| l.starts_with("-A POSTROUTING") && l.contains(&source) && l.contains("-j MASQUERADE"))
        .map(str::to_string)
        .collect()
}

/// Whether `node`'s nat POSTROUTING chain masquerades `subnet`.
pub async fn masquerade(lab: &impl Nodes, node: &str, subnet: Cidr) -> Observation {
    let Some(ns) = lab.namespace(node) else {
        return Observation::error(format!("no namespace for {node}"));
    };
    let fd = ns.file().as_raw_fd();
    let mut cmd = tokio::process::Command::new("iptables-save");
    cmd.args(["-t", "nat"]);
    // SAFETY: only setns(2), async-signal-safe, runs between fork and exec; the fd outlives the call.
    unsafe {
        cmd.pre_exec(move || {
            if libc::setns(fd, libc::CLONE_NEWNET) == 0 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        });
    }
    let out = match cmd.output().await {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).into_owned(),
        Ok(o) => {
            return Observation::error(format!(
                "iptables-save failed in {node}: {}",
                String::from_utf8_lossy(&o.stderr).trim()
            ))
        }
        Err(e) => {
            return Observation::error(format!("failed to run iptables-save in {node} (is iptables installed?): {e}"))
        }
    };
    let rules = masquerade_rules(&out, subnet);
    let holds = !rules.is_empty();
    let seen = if holds { format!("MASQUERADE for {subnet} present") } else { format!("no MASQUERADE for {subnet}") };
    let detail = if holds {
        format!("nat table of {node}: {}", rules.join("; "))
    } else {
        let post: Vec<&str> = out.lines().filter(|l| l.starts_with("-A POSTROUTING")).collect();
        format!("nat POSTROUTING of {node} holds: {}", if post.is_empty() { "nothing".into() } else { post.join("; ") })
    };
    Observation::seen(Outcome::Assertion { holds, seen }, detail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_dockers_masquerade_rule() {
        let save = "*nat\n:POSTROUTING ACCEPT [0:0]\n-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE\n-A POSTROUTING -s 172.18.0.0/16 ! -o br-1 -j MASQUERADE\nCOMMIT\n";
        assert_eq!(masquerade_rules(save, "172.17.0.0/16".parse().unwrap()).len(), 1);
        assert!(masquerade_rules(save, "172.19.0.0/16".parse().unwrap()).is_empty());
        assert_eq!(masquerade_rules(save, "172.17.0.1/16".parse().unwrap()).len(), 1, "host bits are ignored");
    }
}
