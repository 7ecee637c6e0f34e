//! The real [`Topology`]: named namespaces and links made over netlink, every one ledgered first.

use super::ledger::{Entry, Ledger, Record};
use super::teardown::{teardown, TeardownError};
use super::{ApplyError, Topology};
use crate::kernel::netlink::Netlink;
use crate::kernel::netns::{self, Netns};
use crate::plan::Step;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// A lab being built or standing: the suite's namespaces (by the suite's names), their netlink sockets, the
/// interfaces made in each, and the ledger. Dropping it tears everything down.
pub struct KernelLab {
    run_id: String,
    ledger: Ledger,
    namespaces: BTreeMap<String, Netns>,
    netlink: BTreeMap<String, Netlink>,
    links: BTreeMap<String, BTreeSet<String>>,
    done: bool,
}

fn io(op: impl Into<String>) -> impl FnOnce(std::io::Error) -> ApplyError {
    let op = op.into();
    move |source| ApplyError::Io { op, source }
}

impl KernelLab {
    /// Starts an empty lab whose ledger is persisted under `state_dir`.
    pub fn new(state_dir: &Path, run_id: &str, suite: &str) -> std::io::Result<KernelLab> {
        let ledger = Ledger::create(state_dir, run_id, suite)?;
        Ok(KernelLab {
            run_id: run_id.into(),
            ledger,
            namespaces: BTreeMap::new(),
            netlink: BTreeMap::new(),
            links: BTreeMap::new(),
            done: false,
        })
    }

    /// The run-scoped kernel name of a suite namespace: concurrent runs of one suite never collide.
    pub fn kernel_name(run_id: &str, netns: &str) -> String {
        format!("rl-{run_id}-{netns}")
    }

    /// The run id.
    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    /// A namespace, by the suite's name.
    pub fn namespace(&self, netns: &str) -> Option<&Netns> {
        self.namespaces.get(netns)
    }

    /// All namespaces, by the suite's names.
    pub fn namespaces(&self) -> &BTreeMap<String, Netns> {
        &self.namespaces
    }

    /// Netlink inside a namespace, by the suite's name.
    pub fn netlink(&self, netns: &str) -> Option<&Netlink> {
        self.netlink.get(netns)
    }

    /// Whether the lab made interface `name` in `netns`.
    pub fn made_link(&self, netns: &str, name: &str) -> bool {
        self.links.get(netns).is_some_and(|l| l.contains(name))
    }

    fn nl(&self, netns: &str) -> Result<&Netlink, ApplyError> {
        self.netlink.get(netns).ok_or_else(|| ApplyError::Io {
            op: format!("use namespace {netns}"),
            source: std::io::Error::other("it was not created"),
        })
    }

    fn ns(&self, netns: &str) -> Result<&Netns, ApplyError> {
        self.namespaces.get(netns).ok_or_else(|| ApplyError::Io {
            op: format!("use namespace {netns}"),
            source: std::io::Error::other("it was not created"),
        })
    }

    fn link_entry(&mut self, netns: &str, name: &str) -> Result<(), ApplyError> {
        let netns_path = self.ns(netns)?.path.clone();
        self.ledger.record(Entry::Link { netns_path, name: name.into() }).map_err(io("write the ledger"))?;
        self.links.entry(netns.into()).or_default().insert(name.into());
        Ok(())
    }

    /// Leaves the lab standing (for `reachlab up`) and returns its record.
    pub fn keep(mut self) -> std::io::Result<Record> {
        self.ledger.keep()?;
        self.done = true;
        Ok(self.ledger.record_ref().clone())
    }

    /// Removes everything the lab made; on success the ledger file goes too.
    pub fn teardown(mut self) -> Vec<TeardownError> {
        self.done = true;
        self.remove()
    }

    fn remove(&mut self) -> Vec<TeardownError> {
        // Close our sockets first so the namespaces can go as soon as their mounts do.
        self.netlink.clear();
        self.namespaces.clear();
        let errors = teardown(self.ledger.record_ref());
        if errors.is_empty() {
            let _ = std::fs::remove_file(self.ledger.path());
        }
        errors
    }
}

impl Drop for KernelLab {
    fn drop(&mut self) {
        if !self.done {
            for e in self.remove() {
                eprintln!("reachlab: teardown: {e}");
            }
        }
    }
}

impl Topology for KernelLab {
    async fn apply(&mut self, step: &Step) -> Result<(), ApplyError> {
        match step {
            Step::CreateNamespace { netns } => {
                let name = Self::kernel_name(&self.run_id, netns);
                let path = Path::new(netns::NETNS_DIR).join(&name);
                self.ledger.record(Entry::Namespace { name: name.clone(), path }).map_err(io("write the ledger"))?;
                let ns = netns::create(&name).map_err(io(format!("create namespace {name}")))?;
                let nl = Netlink::open(&ns).await.map_err(io(format!("open netlink in {name}")))?;
                nl.set_up("lo").await?;
                self.namespaces.insert(netns.clone(), ns);
                self.netlink.insert(netns.clone(), nl);
            }
            Step::EnableForwarding { netns } => {
                let ns = self.ns(netns)?;
                netns::within(ns, || std::fs::write("/proc/sys/net/ipv4/ip_forward", "1"))
                    .await
                    .map_err(io(format!("enable forwarding in {netns}")))?;
            }
            Step::CreateBridge { netns, name } => {
                self.link_entry(netns, name)?;
                self.nl(netns)?.create_bridge(name).await?;
            }
            Step::CreateVeth { netns, name, peer_netns, peer_name } => {
                self.link_entry(netns, name)?;
                self.links.entry(peer_netns.clone()).or_default().insert(peer_name.clone());
                let peer_ns = self.ns(peer_netns)?;
                self.nl(netns)?.create_veth(name, peer_name, peer_ns).await?;
            }
            Step::SetMaster { netns, name, master } => self.nl(netns)?.set_master(name, master).await?,
            Step::AddAddress { netns, dev, address } => self.nl(netns)?.add_address(dev, *address).await?,
            Step::SetUp { netns, dev } => self.nl(netns)?.set_up(dev).await?,
            Step::AddRoute { netns, route } => self.nl(netns)?.add_route(route).await?,
        }
        Ok(())
    }
}
