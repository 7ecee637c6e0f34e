//! Kernel feature detection: never assume, try. Each link kind is created in a throwaway anonymous namespace
//! that vanishes with its thread, so detection leaves nothing behind.

use super::netlink::Netlink;
use super::netns;
use super::privilege;
use std::collections::BTreeMap;

/// A capability of the machine a suite may need (link kinds, a Docker Engine).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Feature {
    /// veth pairs.
    Veth,
    /// Linux bridges.
    Bridge,
    /// A Docker Engine (`dockerd`) that reachlab can start privately in server1's namespace.
    Docker,
    /// macvlan interfaces.
    Macvlan,
    /// ipvlan interfaces.
    Ipvlan,
    /// 802.1Q VLAN interfaces.
    Vlan,
    /// VXLAN interfaces.
    Vxlan,
    /// dummy interfaces.
    Dummy,
}

impl Feature {
    /// Every feature reachlab knows how to detect.
    pub const ALL: [Feature; 8] = [
        Feature::Veth,
        Feature::Bridge,
        Feature::Docker,
        Feature::Macvlan,
        Feature::Ipvlan,
        Feature::Vlan,
        Feature::Vxlan,
        Feature::Dummy,
    ];

    /// The name used in reports (the kernel's link kind, for link features).
    pub fn as_str(self) -> &'static str {
        match self {
            Feature::Veth => "veth",
            Feature::Bridge => "bridge",
            Feature::Docker => "docker",
            Feature::Macvlan => "macvlan",
            Feature::Ipvlan => "ipvlan",
            Feature::Vlan => "vlan",
            Feature::Vxlan => "vxlan",
            Feature::Dummy => "dummy",
        }
    }
}

/// Whether a feature is usable here.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "status", content = "reason", rename_all = "lowercase")]
pub enum Availability {
    /// Created and removed successfully.
    Available,
    /// The kernel refused (reason given).
    Missing(String),
    /// Could not be tried (e.g. not root): suites that need it are skipped, saying why.
    Unknown(String),
    /// Trying it failed for another reason than the kernel lacking it: reachlab cannot know, so suites that
    /// need it are errors, never skipped as if the feature were missing.
    Failed(String),
    /// Not tried beforehand: building the lab tries it (a run's link kinds, see [`Features::at_build`]). A
    /// suite that needs it runs; if its build fails, the kind is detected then, and a kernel without it makes
    /// the suite skipped, as an earlier detection would have.
    AtBuild,
}

/// What to do with a suite, given the features it needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Everything it needs is here.
    Run,
    /// Skip it, for this reason (a feature is missing, or it cannot be tried without root).
    Skip(String),
    /// Detecting what it needs failed: an infrastructure error.
    Error(String),
}

/// What this machine offers.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Features(pub BTreeMap<Feature, Availability>);

impl Features {
    /// Detects every feature reachlab knows (`reachlab doctor`).
    pub fn detect() -> Features {
        Features::detect_for(Feature::ALL)
    }

    /// Detects the features in `needed`, and only those: a suite without containers spawns no `dockerd`.
    pub fn detect_for(needed: impl IntoIterator<Item = Feature>) -> Features {
        Features::gather(needed, Features::try_links)
    }

    /// For a run: a Docker Engine (if `needed`) is detected now, but link kinds are left to the build
    /// ([`Availability::AtBuild`]). A kernel that lacks a kind refuses to create it, so building the lab
    /// detects it anyway, and a run whose suites all build pays for no scratch namespace of its own.
    pub fn at_build(needed: impl IntoIterator<Item = Feature>) -> Features {
        Features::gather(needed, |links| links.into_iter().map(|f| (f, Availability::AtBuild)).collect())
    }

    /// The features of `needed`: link kinds as `links` finds them, a Docker Engine by trying it; unknown for
    /// all without privileges.
    fn gather(
        needed: impl IntoIterator<Item = Feature>,
        links: impl FnOnce(Vec<Feature>) -> BTreeMap<Feature, Availability>,
    ) -> Features {
        let needed: std::collections::BTreeSet<Feature> = needed.into_iter().collect();
        if let Some(why) = privilege::unprivileged_reason() {
            return Features(needed.iter().map(|f| (*f, Availability::Unknown(why.clone()))).collect());
        }
        let mut map = links(needed.iter().copied().filter(|f| *f != Feature::Docker).collect());
        if needed.contains(&Feature::Docker) {
            map.insert(Feature::Docker, docker_engine());
        }
        Features(map)
    }

    /// Tries each link kind of `links` in a scratch namespace.
    fn try_links(links: Vec<Feature>) -> BTreeMap<Feature, Availability> {
        if links.is_empty() {
            return BTreeMap::new();
        }
        let kinds = links.clone();
        let tried = netns::scratch(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            rt.block_on(async {
                let nl = Netlink::open_here()?;
                let mut out = BTreeMap::new();
                for f in links {
                    let availability = match nl.create_probe_link(f).await {
                        Ok(()) => Availability::Available,
                        // The kernel does not know the link kind: the one answer that means "missing".
                        Err(e) if e.errno() == Some(libc::EOPNOTSUPP) => Availability::Missing(format!(
                            "the kernel has no {} support (link kind unknown to it)",
                            f.as_str()
                        )),
                        Err(e) => Availability::Failed(format!("failed to try {}: {e}", f.as_str())),
                    };
                    out.insert(f, availability);
                }
                Ok::<_, std::io::Error>(out)
            })
        });
        tried.unwrap_or_else(|e| {
            kinds.into_iter().map(|f| (f, Availability::Failed(format!("failed to probe the kernel: {e}")))).collect()
        })
    }

    /// After a suite's build failed: the features of `needed` that were left to the build, detected now (in a
    /// scratch namespace, off the async runtime). Returns why the suite is skipped if the kernel lacks one of
    /// them: the build could not have succeeded, and a missing feature is a skip, never an error. `None` when
    /// every one is here (the failure is then the build's own) or none was left to the build.
    pub async fn missing_after_failed_build<'a>(
        &self,
        needed: impl IntoIterator<Item = &'a Feature>,
    ) -> Option<String> {
        let deferred: Vec<Feature> =
            needed.into_iter().copied().filter(|f| self.0.get(f) == Some(&Availability::AtBuild)).collect();
        if deferred.is_empty() {
            return None;
        }
        let detected = tokio::task::spawn_blocking(move || Features::detect_for(deferred)).await.ok()?;
        match detected.decide(detected.0.keys()) {
            Decision::Skip(why) => Some(why),
            Decision::Run | Decision::Error(_) => None,
        }
    }

    /// Whether a suite needing `needed` runs, is skipped, or cannot be decided, decided before running.
    pub fn decide<'a>(&self, needed: impl IntoIterator<Item = &'a Feature>) -> Decision {
        let mut skips = Vec::new();
        let mut errors = Vec::new();
        for f in needed {
            match self.0.get(f) {
                Some(Availability::Available | Availability::AtBuild) => {}
                Some(Availability::Missing(why)) => {
                    skips.push(format!("kernel feature missing: {} ({why})", f.as_str()))
                }
                Some(Availability::Unknown(why)) => skips.push(why.clone()),
                Some(Availability::Failed(why)) => errors.push(why.clone()),
                None => errors.push(format!("feature {} was not detected", f.as_str())),
            }
        }
        skips.dedup();
        if !errors.is_empty() {
            Decision::Error(errors.join("; "))
        } else if !skips.is_empty() {
            Decision::Skip(skips.join("; "))
        } else {
            Decision::Run
        }
    }
}

/// Whether a private Docker engine can be started here: dockerd and the iptables it programs must run. Not
/// installed is "missing"; installed but failing is a failure, never a skip.
fn docker_engine() -> Availability {
    let runs = |cmd: &str| match std::process::Command::new(cmd).arg("--version").output() {
        Ok(o) if o.status.success() => Ok(()),
        Ok(o) => {
            Err(Some(format!("`{cmd} --version` failed ({}): {}", o.status, String::from_utf8_lossy(&o.stderr).trim())))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(None),
        Err(e) => Err(Some(format!("failed to run {cmd}: {e}"))),
    };
    match (runs("dockerd"), runs("iptables")) {
        (Ok(()), Ok(())) => Availability::Available,
        (Err(None), _) => Availability::Missing("dockerd not found: install Docker Engine (Debian: docker.io)".into()),
        (_, Err(None)) => Availability::Missing("iptables not found: install iptables".into()),
        (Err(Some(why)), _) | (_, Err(Some(why))) => Availability::Failed(why),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_detection_is_an_error_not_a_skip() {
        let f = Features(BTreeMap::from([
            (Feature::Veth, Availability::Available),
            (Feature::Dummy, Availability::Missing("no dummy".into())),
            (Feature::Vxlan, Availability::Failed("failed to try vxlan: Cannot allocate memory".into())),
        ]));
        assert_eq!(f.decide(&[Feature::Veth]), Decision::Run);
        assert!(matches!(f.decide(&[Feature::Veth, Feature::Dummy]), Decision::Skip(w) if w.contains("no dummy")));
        assert!(matches!(f.decide(&[Feature::Dummy, Feature::Vxlan]), Decision::Error(w) if w.contains("vxlan")));
        assert!(matches!(f.decide(&[Feature::Bridge]), Decision::Error(_)), "undetected is never a skip");
    }

    #[tokio::test]
    async fn a_feature_left_to_the_build_lets_the_suite_run() {
        let f = Features(BTreeMap::from([
            (Feature::Veth, Availability::AtBuild),
            (Feature::Docker, Availability::Available),
        ]));
        assert_eq!(f.decide(&[Feature::Veth, Feature::Docker]), Decision::Run);
        // Nothing was left to the build: nothing to detect, and the build's failure stands. (A kind the kernel
        // lacks, detected after a failed build, is the fidelity trial a_run_where_everything_is_skipped_is_not_a_pass.)
        assert_eq!(f.missing_after_failed_build(&[Feature::Docker]).await, None);
    }
}
