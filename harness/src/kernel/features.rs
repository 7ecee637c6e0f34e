//! Kernel feature detection: never assume, try. Each link kind is created in a throwaway anonymous namespace
//! that vanishes with its thread, so detection leaves nothing behind.

use super::netlink::Netlink;
use super::netns;
use super::privilege;
use crate::plan::Feature;
use std::collections::BTreeMap;

/// Whether a feature is usable here.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "status", content = "reason", rename_all = "lowercase")]
pub enum Availability {
    /// Created and removed successfully.
    Available,
    /// The kernel refused (reason given).
    Missing(String),
    /// Could not be tried (e.g. not root).
    Unknown(String),
}

/// What this machine offers.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Features(pub BTreeMap<Feature, Availability>);

impl Features {
    /// Detects every feature reachlab knows.
    pub fn detect() -> Features {
        if let Some(why) = privilege::unprivileged_reason() {
            return Features(Feature::ALL.iter().map(|f| (*f, Availability::Unknown(why.clone()))).collect());
        }
        let tried = netns::scratch(|| {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            rt.block_on(async {
                let nl = Netlink::open_here()?;
                let mut out = BTreeMap::new();
                for f in Feature::ALL.into_iter().filter(|f| *f != Feature::Docker) {
                    let availability = match nl.create_probe_link(f).await {
                        Ok(()) => Availability::Available,
                        Err(e) if e.errno() == Some(libc::EOPNOTSUPP) => Availability::Missing(format!(
                            "the kernel has no {} support (link kind unknown to it)",
                            f.as_str()
                        )),
                        Err(e) => Availability::Missing(e.to_string()),
                    };
                    out.insert(f, availability);
                }
                Ok::<_, std::io::Error>(out)
            })
        });
        let docker = docker_engine();
        match tried {
            Ok(mut map) => {
                map.insert(Feature::Docker, docker);
                Features(map)
            }
            Err(e) => Features(
                Feature::ALL
                    .iter()
                    .map(|f| (*f, Availability::Unknown(format!("failed to probe the kernel: {e}"))))
                    .collect(),
            ),
        }
    }

    /// A skip reason when any of `needed` is not available, decided before running.
    pub fn skip_reason<'a>(&self, needed: impl IntoIterator<Item = &'a Feature>) -> Option<String> {
        let mut reasons: Vec<String> = needed
            .into_iter()
            .filter_map(|f| match self.0.get(f) {
                Some(Availability::Available) => None,
                Some(Availability::Missing(why)) => Some(format!("kernel feature missing: {} ({why})", f.as_str())),
                Some(Availability::Unknown(why)) => Some(why.clone()),
                None => Some(format!("feature {} was not detected", f.as_str())),
            })
            .collect();
        reasons.dedup();
        (!reasons.is_empty()).then(|| reasons.join("; "))
    }
}

/// Whether a private Docker engine can be started here: dockerd and the iptables it programs must run.
fn docker_engine() -> Availability {
    let runs =
        |cmd: &str, arg: &str| std::process::Command::new(cmd).arg(arg).output().is_ok_and(|o| o.status.success());
    match (runs("dockerd", "--version"), runs("iptables", "--version")) {
        (true, true) => Availability::Available,
        (false, _) => Availability::Missing("dockerd not found: install Docker Engine (Debian: docker.io)".into()),
        (_, false) => Availability::Missing("iptables not found: install iptables".into()),
    }
}
