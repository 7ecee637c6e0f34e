//! The kernel side of a real lab: the namespace handles and netlink sockets of its nodes (suite namespaces and
//! containers, by the suite's names), and the netlink operations that build them ([`KernelOps`]).

use super::ops::{KernelOps, Started};
use super::ApplyError;
use crate::cidr::Cidr;
use crate::kernel::baseline;
use crate::kernel::netlink::Netlink;
use crate::kernel::netns::{self, Netns};
use crate::kernel::request::{LinkRequest, RouteRequest};
use crate::suite::Lab;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn io(op: impl Into<String>) -> impl FnOnce(std::io::Error) -> ApplyError {
    let op = op.into();
    move |source| ApplyError::Io { op, source }
}

/// A container's network namespace and first process.
pub struct ContainerNode {
    /// Its namespace (held: the PID could be reused, the namespace file cannot).
    pub netns: Netns,
    /// Its first process.
    pub pid: u32,
}

/// The namespaces and containers of a lab, with a netlink socket in each.
#[derive(Default)]
pub struct KernelSide {
    /// Suite namespaces (and server1 = the machine with `--engine system`).
    pub namespaces: BTreeMap<String, Netns>,
    /// Netlink inside each namespace and container.
    pub netlink: BTreeMap<String, Netlink>,
    /// Containers with a namespace of their own.
    pub containers: BTreeMap<String, ContainerNode>,
    /// Namespaces that already exist (a grading sandbox's user namespace owns them), named instead of created.
    pub provided: BTreeMap<String, std::fs::File>,
}

impl KernelSide {
    fn nl(&self, node: &str) -> Result<&Netlink, ApplyError> {
        self.netlink.get(node).ok_or_else(|| ApplyError::Io {
            op: format!("use namespace {node}"),
            source: std::io::Error::other("it was not created"),
        })
    }

    /// Takes in a namespace that exists (`reachlab probe` reopening a standing lab, grading adopting what a
    /// submission built): opens it and a netlink socket in it.
    pub async fn open_namespace(&mut self, node: &str, name: &str, path: &Path) -> Result<(), ApplyError> {
        let ns = Netns::open(name, path).map_err(io(format!("open namespace {name}")))?;
        let nl = Netlink::open(&ns).await.map_err(io(format!("open netlink in {name}")))?;
        self.namespaces.insert(node.into(), ns);
        self.netlink.insert(node.into(), nl);
        Ok(())
    }

    /// Closes every socket and handle (the namespaces can then go as soon as their mounts do).
    pub fn close(&mut self) {
        self.netlink.clear();
        self.containers.clear();
        self.namespaces.clear();
    }

    /// On server1 — a VM — a container's namespace copies server1's own IPv4 settings (the kernel copies the
    /// settings of the machine's first namespace). Here the machine's first namespace is not server1, so the
    /// kernel copied the machine's: reachlab writes server1's instead, except the keys the container was
    /// created with on purpose (`--sysctl`).
    async fn inherit_server1_conf(&self, ns: &Netns, name: &str, keep: Vec<String>) -> Result<(), ApplyError> {
        let server1 = self.namespace(Lab::SERVER1)?;
        let settings = netns::within(server1, baseline::read_here).await.map_err(io("read server1's IPv4 settings"))?;
        netns::within(ns, move || baseline::inherit_here(&settings, &keep))
            .await
            .map_err(io(format!("give {name} server1's IPv4 settings")))
    }
}

impl KernelOps for KernelSide {
    fn namespace_path(&self, node: &str) -> Result<PathBuf, ApplyError> {
        Ok(self.namespace(node)?.path.clone())
    }

    fn namespace(&self, node: &str) -> Result<&Netns, ApplyError> {
        self.namespaces.get(node).ok_or_else(|| ApplyError::Io {
            op: format!("use namespace {node}"),
            source: std::io::Error::other("it was not created"),
        })
    }

    async fn create_namespace(&mut self, node: &str, kernel_name: &str) -> Result<(), ApplyError> {
        self.create_namespaces(&[(node.to_string(), kernel_name.to_string())]).await
    }

    /// Each namespace is made on a thread of its own (`unshare` and the kernel's defaults take milliseconds
    /// each, and must not stall an async worker), a few at a time; every one made is held even when another
    /// fails, so the lab's view matches its ledger.
    async fn create_namespaces(&mut self, batch: &[(String, String)]) -> Result<(), ApplyError> {
        use futures::StreamExt;
        const AT_ONCE: usize = 8;
        let made: Vec<Result<(String, Netns, Netlink), ApplyError>> =
            futures::stream::iter(batch.iter().map(|(node, kernel_name)| {
                let source = self.provided.get(node).map(|f| f.try_clone());
                let (node, name) = (node.clone(), kernel_name.clone());
                async move {
                    // Counted until made, even if this future is dropped: teardown waits for it.
                    let making = super::inflight::CREATIONS.enter();
                    let made_as = name.clone();
                    let create = move || {
                        let _making = making;
                        match source {
                            Some(source) => netns::create_from(&made_as, &source?),
                            None => netns::create(&made_as),
                        }
                    };
                    let ns = tokio::task::spawn_blocking(create)
                        .await
                        .map_err(|e| std::io::Error::other(e.to_string()))
                        .and_then(|r| r)
                        .map_err(io(format!("create namespace {name}")))?;
                    let nl = Netlink::open(&ns).await.map_err(io(format!("open netlink in {name}")))?;
                    nl.set_up("lo").await?;
                    Ok((node, ns, nl))
                }
            }))
            .buffered(AT_ONCE)
            .collect()
            .await;
        let mut first_error = None;
        for r in made {
            match r {
                Ok((node, ns, nl)) => {
                    self.namespaces.insert(node.clone(), ns);
                    self.netlink.insert(node, nl);
                }
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    async fn enable_forwarding(&mut self, node: &str) -> Result<(), ApplyError> {
        netns::within(self.namespace(node)?, || std::fs::write("/proc/sys/net/ipv4/ip_forward", "1"))
            .await
            .map_err(io(format!("enable forwarding in {node}")))
    }

    async fn create_bridge(&mut self, node: &str, name: &str) -> Result<(), ApplyError> {
        Ok(self.nl(node)?.create_bridge(name).await?)
    }

    async fn create_veth(
        &mut self,
        node: &str,
        name: &str,
        peer_node: &str,
        peer_name: &str,
    ) -> Result<(), ApplyError> {
        let peer_ns = self.namespace(peer_node)?;
        // Distinct interface indexes for the two ends, so an index names one interface across the lab.
        let mine = self.nl(node)?.free_index().await?;
        let mut theirs = self.nl(peer_node)?.free_index().await?;
        if theirs == mine {
            theirs += 1;
        }
        Ok(self.nl(node)?.create_veth(name, peer_name, peer_ns, Some((mine, theirs))).await?)
    }

    async fn create_link(&mut self, node: &str, parent_node: &str, link: &LinkRequest) -> Result<(), ApplyError> {
        let into = (parent_node != node).then(|| self.namespace(node)).transpose()?;
        Ok(self.nl(parent_node)?.create_link(link, into).await?)
    }

    async fn deny_promiscuous(&mut self, switch: &str, port: &str, vm: &str, vm_nic: &str) -> Result<(), ApplyError> {
        // VirtualBox's "Deny": the VM's adapter gets frames for its own MAC, broadcast and multicast.
        let mac = self.nl(vm)?.mac_of(vm_nic).await?;
        let nl = self.nl(switch)?;
        nl.set_port_flags(port, false, false).await?;
        Ok(nl.add_static_fdb(port, mac).await?)
    }

    async fn set_promisc(&mut self, node: &str, dev: &str) -> Result<(), ApplyError> {
        Ok(self.nl(node)?.set_promisc(dev).await?)
    }

    async fn set_master(&mut self, node: &str, name: &str, master: &str) -> Result<(), ApplyError> {
        Ok(self.nl(node)?.set_master(name, master).await?)
    }

    async fn add_address(&mut self, node: &str, dev: &str, address: Cidr) -> Result<(), ApplyError> {
        Ok(self.nl(node)?.add_address(dev, address).await?)
    }

    async fn set_up(&mut self, node: &str, dev: &str) -> Result<(), ApplyError> {
        Ok(self.nl(node)?.set_up(dev).await?)
    }

    async fn add_route(&mut self, node: &str, route: &RouteRequest) -> Result<(), ApplyError> {
        Ok(self.nl(node)?.add_route(route).await?)
    }

    async fn add_container(&mut self, started: &Started, server1_conf: bool) -> Result<(), ApplyError> {
        let path = PathBuf::from(format!("/proc/{}/ns/net", started.pid));
        let name = &started.name;
        let ns =
            Netns::open(&format!("container {name}"), &path).map_err(io(format!("open the namespace of {name}")))?;
        if server1_conf {
            self.inherit_server1_conf(&ns, name, started.own_sysctls.clone()).await?;
        }
        let nl = Netlink::open(&ns).await.map_err(io(format!("open netlink in {name}")))?;
        self.netlink.insert(name.to_string(), nl);
        self.containers.insert(name.to_string(), ContainerNode { netns: ns, pid: started.pid });
        Ok(())
    }
}
