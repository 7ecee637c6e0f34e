//! One plan step, carried out: whatever the step creates is written to the ledger first, then made through the
//! kernel's or the engine's side ([`super::ops`]). The decisions live here, over traits, so they are tested with
//! recording fakes; the real lab ([`super::live::LiveLab`]) only holds what this builds.

use super::ledger::{Entry, Ledger};
use super::ops::{EngineOps, KernelOps};
use super::{requests, ApplyError};
use crate::engine::{labels, EngineError};
use crate::kernel::netns;
use crate::plan::Step;
use crate::suite::Promiscuous;
use std::path::Path;

/// The run a step belongs to: its kernel names and engine labels carry these.
#[derive(Debug, Clone, Copy)]
pub struct Run<'a> {
    /// Run id.
    pub id: &'a str,
    /// Suite name.
    pub suite: &'a str,
}

/// The run-scoped kernel name of a suite namespace: concurrent runs of one suite never collide.
pub fn kernel_name(run_id: &str, netns: &str) -> String {
    format!("rl-{run_id}-{netns}")
}

/// What a step did that the report mentions (the engine's start, an image's source, the switch's policy).
pub type Note = Option<String>;

fn record(ledger: &mut Ledger, entry: Entry) -> Result<(), ApplyError> {
    ledger.record(entry).map_err(|source| ApplyError::Io { op: "write the ledger".into(), source })
}

/// The machine's engine is not ours: reachlab refuses to create an object whose name it already uses.
async fn claim(engine: &impl EngineOps, kind: &str, name: &str) -> Result<(), ApplyError> {
    if !engine.private() && engine.name_taken(kind, name).await? {
        return Err(EngineError::Start(format!(
            "the machine's engine already has a {kind} named {name}; reachlab does not touch what it did not create (remove or rename it, or use the private engine)"
        ))
        .into());
    }
    Ok(())
}

/// Creates the namespaces of `nodes` at once: every one is recorded before any is made.
pub async fn apply_namespaces(
    ledger: &mut Ledger,
    kernel: &mut impl KernelOps,
    run: Run<'_>,
    nodes: &[String],
) -> Result<(), ApplyError> {
    let batch: Vec<(String, String)> = nodes.iter().map(|n| (n.clone(), kernel_name(run.id, n))).collect();
    for (_, name) in &batch {
        record(ledger, Entry::Namespace { name: name.clone(), path: Path::new(netns::NETNS_DIR).join(name) })?;
    }
    kernel.create_namespaces(&batch).await
}

/// Carries out `step`, recording in `ledger` everything it creates before creating it.
pub async fn apply(
    ledger: &mut Ledger,
    kernel: &mut impl KernelOps,
    engine: &mut impl EngineOps,
    run: Run<'_>,
    step: &Step,
) -> Result<Note, ApplyError> {
    match step {
        Step::CreateNamespace { netns } => apply_namespaces(ledger, kernel, run, std::slice::from_ref(netns)).await?,
        Step::EnableForwarding { netns } => kernel.enable_forwarding(netns).await?,
        Step::CreateBridge { netns, name } => {
            record(ledger, Entry::Link { netns_path: kernel.namespace_path(netns)?, name: name.clone() })?;
            kernel.create_bridge(netns, name).await?;
        }
        Step::CreateVeth { netns, name, peer_netns, peer_name } => {
            record(ledger, Entry::Link { netns_path: kernel.namespace_path(netns)?, name: name.clone() })?;
            kernel.create_veth(netns, name, peer_netns, peer_name).await?;
        }
        Step::CreateLink { link } => {
            let parent = link.parent.as_ref().map_or(&link.netns, |(ns, _)| ns);
            record(ledger, Entry::Link { netns_path: kernel.namespace_path(&link.netns)?, name: link.name.clone() })?;
            kernel.create_link(&link.netns, parent, &requests::link(link)).await?;
        }
        Step::SwitchPolicy { netns, port, policy, mac_of: (node, nic) } => {
            if *policy == Promiscuous::Deny {
                kernel.deny_promiscuous(netns, port, node, nic).await?;
            }
            return Ok(Some(format!("hypervisor switch: promiscuous mode {} for {node}'s adapter", policy.as_str())));
        }
        Step::SetPromisc { netns, dev } => {
            kernel.set_promisc(netns, dev).await?;
            return Ok(Some(format!("{netns}: ip link set {dev} promisc on")));
        }
        Step::SetMaster { netns, name, master } => kernel.set_master(netns, name, master).await?,
        Step::AddAddress { netns, dev, address } => kernel.add_address(netns, dev, *address).await?,
        Step::SetUp { netns, dev } => kernel.set_up(netns, dev).await?,
        Step::AddRoute { netns, route } => kernel.add_route(netns, &requests::route(route)).await?,
        Step::StartEngine { netns } => {
            if let Some(entry) = engine.start_entry() {
                record(ledger, entry)?;
            }
            let note = engine.start(kernel.namespace(netns)?).await?;
            return Ok(Some(note));
        }
        Step::EnsureImage { image } => {
            // In the machine's engine only an image reachlab imports is recorded (and later removed).
            if engine.private() || !engine.image_present(image).await? {
                record(ledger, engine.object_entry("image", image)?)?;
            }
            return Ok(Some(engine.ensure_image(image).await?));
        }
        Step::CreateNetwork { network } => {
            claim(engine, "network", &network.name).await?;
            record(ledger, engine.object_entry("network", &network.name)?)?;
            engine.create_network(network, &labels(run.id, run.suite)).await?;
        }
        Step::CreateContainer { container } => {
            claim(engine, "container", &container.name).await?;
            record(ledger, engine.object_entry("container", &container.name)?)?;
            engine.create_container(container, &labels(run.id, run.suite)).await?;
        }
        Step::ConnectContainer { container, network } => engine.connect(container, network).await?,
        Step::StartContainers { containers } => {
            let private = engine.private();
            for started in engine.start_containers(containers).await? {
                if !started.host {
                    kernel.add_container(&started, private).await?;
                }
            }
        }
    }
    Ok(None)
}
