//! `reachlab exec RUN NODE [-- CMD…]`: run a command inside a node of a lab left by `up` (as `containerlab exec`
//! does) — no `ip netns exec` or `nsenter` needed. A namespace node: the command runs in its network namespace
//! (the machine's filesystem). A container: in the container's network, UTS, IPC, PID and mount namespaces (its
//! own filesystem and hostname), found by its process id. The namespaces are opened here, then entered with
//! `setns` in the child between fork and exec, so reachlab itself never changes namespace.

use super::CliError;
use crate::lab::ledger::{runs_dir, Entry, Ledger};
use crate::lab::live::LiveLab;
use crate::probe::nodes::Nodes;
use std::fs::File;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};

/// Arguments of `reachlab exec`.
#[derive(clap::Args)]
pub struct Args {
    /// The run id `reachlab up` printed (`reachlab status` lists them).
    pub run_id: String,
    /// A node of the lab: a namespace (`space1`, `server1`) or a container (`alpine1`).
    pub node: String,
    /// The command and its arguments [default: $SHELL in a namespace, /bin/sh in a container].
    #[arg(last = true)]
    pub command: Vec<String>,
}

/// Where to go: the namespace files to enter, in order.
#[derive(Debug, PartialEq)]
enum Target {
    /// A named network namespace.
    Namespace(PathBuf),
    /// A container's process: its namespaces under /proc/PID/ns.
    Container(u32),
}

/// The namespace file of `node` in the ledger, if it is a namespace of the lab.
fn namespace_path(entries: &[Entry], run_id: &str, node: &str) -> Option<PathBuf> {
    let kname = LiveLab::kernel_name(run_id, node);
    entries.iter().find_map(|e| match e {
        Entry::Namespace { name, path } if *name == kname => Some(path.clone()),
        _ => None,
    })
}

fn target(run_id: &str, node: &str, state_dir: &Path) -> Result<Target, CliError> {
    let ledger = super::probe::ledger_path(run_id, state_dir)?;
    let record = Ledger::read(&ledger).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => {
            CliError::Usage(format!("no lab with run id {run_id} under {}", runs_dir(state_dir).display()))
        }
        _ => CliError::Infrastructure(format!("failed to read the ledger {}: {e}", ledger.display())),
    })?;
    if let Some(path) = namespace_path(&record.entries, run_id, node) {
        return Ok(Target::Namespace(path));
    }
    // A container (or a host-network container, which lives in server1's namespace): ask the lab's engine.
    let (ledger, suite) = super::probe::kept_lab(run_id, state_dir)?;
    if suite.containers.iter().any(|c| c.name == node && c.attachment == crate::suite::Attachment::Host) {
        let server1 = namespace_path(&record.entries, run_id, crate::suite::Lab::SERVER1)
            .ok_or_else(|| CliError::Usage(format!("lab {run_id} has no server1 namespace")))?;
        return Ok(Target::Namespace(server1));
    }
    if !suite.containers.iter().any(|c| c.name == node) {
        let mut nodes: Vec<String> = suite.namespaces.iter().map(|n| n.name.clone()).collect();
        nodes.extend(suite.containers.iter().map(|c| c.name.clone()));
        return Err(CliError::Usage(format!("lab {run_id} has no node {node}; its nodes: {}", nodes.join(", "))));
    }
    let rt = super::runtime()?;
    let pid = rt.block_on(async {
        let lab = LiveLab::reopen(state_dir, &ledger, &suite)
            .await
            .map_err(|e| CliError::Infrastructure(format!("failed to reopen lab {run_id}: {e}")))?;
        lab.container_pid(node)
            .ok_or_else(|| CliError::Infrastructure(format!("container {node} of lab {run_id} is not running")))
    })?;
    Ok(Target::Container(pid))
}

/// The namespace files to enter for `target`, with the kind of each (mount last: after it, paths are the
/// container's).
fn namespace_files(target: &Target) -> Vec<(PathBuf, nix::sched::CloneFlags)> {
    use nix::sched::CloneFlags as F;
    match target {
        Target::Namespace(path) => vec![(path.clone(), F::CLONE_NEWNET)],
        Target::Container(pid) => [
            ("net", F::CLONE_NEWNET),
            ("uts", F::CLONE_NEWUTS),
            ("ipc", F::CLONE_NEWIPC),
            ("pid", F::CLONE_NEWPID),
            ("mnt", F::CLONE_NEWNS),
        ]
        .into_iter()
        .map(|(ns, flag)| (PathBuf::from(format!("/proc/{pid}/ns/{ns}")), flag))
        .collect(),
    }
}

pub fn exec(args: Args, state_dir: &Path) -> Result<i32, CliError> {
    super::require_privileges()?;
    let target = target(&args.run_id, &args.node, state_dir)?;
    let mut files = Vec::new();
    for (path, flag) in namespace_files(&target) {
        let f = File::open(&path)
            .map_err(|e| CliError::Infrastructure(format!("failed to open {}: {e}", path.display())))?;
        files.push((f, flag));
    }
    let container = matches!(target, Target::Container(_));
    let mut argv = args.command.clone();
    if argv.is_empty() {
        let shell = std::env::var("SHELL").ok().filter(|s| !s.is_empty() && !container);
        argv.push(shell.unwrap_or_else(|| "/bin/sh".into()));
    }
    let mut cmd = std::process::Command::new(&argv[0]);
    cmd.args(&argv[1..]);
    // SAFETY: between fork and exec the child only makes system calls (setns, chdir, sigaction), which are
    // async-signal-safe; the files were opened before the fork.
    unsafe {
        cmd.pre_exec(move || {
            for (f, flag) in &files {
                nix::sched::setns(f, *flag).map_err(std::io::Error::from)?;
            }
            if container {
                nix::unistd::chdir("/").map_err(std::io::Error::from)?;
            }
            // The parent ignores the terminal's interrupts while the command runs; the command must not.
            for sig in [libc::SIGINT, libc::SIGQUIT] {
                libc::signal(sig, libc::SIG_DFL);
            }
            Ok(())
        });
    }
    // As system(3): Ctrl-C at the command's prompt is the command's, not a reason for reachlab to stop.
    // SAFETY: setting a signal to be ignored installs no handler.
    let previous = unsafe { [libc::SIGINT, libc::SIGQUIT].map(|s| (s, libc::signal(s, libc::SIG_IGN))) };
    let status = cmd.status();
    for (sig, old) in previous {
        // SAFETY: restores the disposition saved above.
        unsafe { libc::signal(sig, old) };
    }
    let status = status.map_err(|e| {
        CliError::Usage(format!("failed to run {} in {} of lab {}: {e}", argv[0], args.node, args.run_id))
    })?;
    Ok(status.code().unwrap_or_else(|| 128 + status.signal().unwrap_or(0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_namespace_node_is_found_in_the_ledger_and_a_container_enters_five_namespaces() {
        let entries = vec![Entry::Namespace { name: "rl-abc-space1".into(), path: "/run/netns/rl-abc-space1".into() }];
        assert_eq!(namespace_path(&entries, "abc", "space1"), Some(PathBuf::from("/run/netns/rl-abc-space1")));
        assert_eq!(namespace_path(&entries, "abc", "space2"), None);
        let files = namespace_files(&Target::Container(42));
        assert_eq!(files.first().unwrap().0, PathBuf::from("/proc/42/ns/net"));
        assert_eq!(files.last().unwrap().0, PathBuf::from("/proc/42/ns/mnt"), "mount last");
        assert_eq!(namespace_files(&Target::Namespace("/x".into())).len(), 1);
    }
}
