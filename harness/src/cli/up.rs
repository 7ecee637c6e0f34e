//! `reachlab up` / `reachlab down`: build a lab and leave it standing to explore; tear kept labs down.

use super::{exit, require_privileges, runtime, CliError};
use crate::lab::ledger::{runs_dir, suite_digest, Ledger};
use crate::lab::live::LiveLab;
use crate::lab::teardown::teardown;
use crate::probe::nodes::Nodes;
use crate::runner::new_run_id;
use std::path::{Path, PathBuf};

/// Arguments of `reachlab up`.
#[derive(clap::Args)]
pub struct UpArgs {
    /// The suite whose topology to build.
    pub suite: PathBuf,
}

/// Arguments of `reachlab down`.
#[derive(clap::Args)]
pub struct DownArgs {
    /// Run ids to tear down (default: every kept lab).
    pub run_ids: Vec<String>,
}

pub fn up(args: UpArgs, state_dir: &Path) -> Result<i32, CliError> {
    // Read once: the suite that is built is exactly the text whose digest the ledger keeps for `probe`.
    // Not UTF-8, too large or unreadable: located like any other mistake in the suite.
    let text = crate::suite::read_source(&args.suite)?;
    let suite = crate::suite::load_str(&text, &args.suite.display().to_string())?;
    let source = std::fs::canonicalize(&args.suite)
        .map_err(|e| CliError::Usage(format!("failed to resolve {}: {e}", args.suite.display())))?;
    require_privileges()?;
    let plan = crate::plan::resolve(&suite);
    let run_id = new_run_id();
    let rt = runtime()?;
    let built = async {
        let mut lab = LiveLab::new(state_dir, &run_id, &suite.name)
            .map_err(|e| CliError::Infrastructure(format!("failed to write the ledger: {e}")))?;
        lab.record_source(&source, &suite_digest(&text))
            .map_err(|e| CliError::Infrastructure(format!("failed to write the ledger: {e}")))?;
        crate::lab::build(&mut lab, &plan).await.map_err(|e| CliError::Infrastructure(e.to_string()))?;
        let containers: Vec<(String, Option<u32>)> = suite
            .containers
            .iter()
            .map(|c| {
                let own_namespace = c.attachment != crate::suite::Attachment::Host;
                (c.name.clone(), lab.container_pid(&c.name).filter(|_| own_namespace))
            })
            .collect();
        let socket = lab.engine_socket();
        let record = lab.keep().map_err(|e| CliError::Infrastructure(format!("failed to write the ledger: {e}")))?;
        Ok::<_, CliError>((record, containers, socket))
    };
    let outcome = rt.block_on(async {
        tokio::select! {
            biased;
            // Dropping the half-built lab tears it down: nothing is kept after an interrupt.
            sig = super::signals::interrupted() => Err(sig),
            built = built => Ok(built),
        }
    });
    let (record, containers, socket) = match outcome {
        Ok(built) => built?,
        Err(sig) => {
            let code = super::stopped(state_dir);
            if code == exit::INTERRUPTED {
                eprintln!("reachlab: {}: stopped; the half-built lab was torn down", super::signals::describe(sig));
            }
            return Ok(code);
        }
    };
    let me = invocation(state_dir);
    let root = sudo_prefix();
    println!("lab {} is up (suite {}), run id {run_id}. Enter a node:", suite.name, suite.file);
    for ns in &suite.namespaces {
        let kname = LiveLab::kernel_name(&run_id, &ns.name);
        println!("  {:<12} {me} exec {run_id} {}      (or: {root}ip netns exec {kname} sh)", ns.name, ns.name);
    }
    for (name, pid) in containers {
        match pid {
            Some(pid) => println!("  {name:<12} {me} exec {run_id} {name}      (or, its network namespace only: {root}nsenter --net=/proc/{pid}/ns/net sh)"),
            None => println!("  {name:<12} shares server1's network namespace: {me} exec {run_id} {name}"),
        }
    }
    if let Some(socket) = socket {
        println!("server1's Docker engine: {root}docker -H unix://{} ps", socket.display());
    }
    println!("what is standing: {me} status");
    println!("probe it again: {me} probe {}", record.run_id);
    println!("when done: {me} down {}", record.run_id);
    Ok(exit::PASS)
}

/// `sudo ` when this process was started through sudo, so printed commands that need root say it the same way;
/// nothing otherwise (already root, or privileges given another way).
pub fn sudo_prefix() -> &'static str {
    if std::env::var_os("SUDO_USER").is_some() && nix::unistd::geteuid().is_root() {
        "sudo "
    } else {
        ""
    }
}

/// How to run reachlab again as this process was run: through sudo if it was, by the path it was started with
/// (argv[0]), with `--state-dir` when it is not the default (sudo drops `REACHLAB_STATE_DIR`).
pub fn invocation(state_dir: &Path) -> String {
    let argv0 = std::env::args_os().next().map_or_else(|| "reachlab".into(), |a| a.to_string_lossy().into_owned());
    invocation_of(sudo_prefix(), &argv0, state_dir)
}

fn invocation_of(sudo: &str, argv0: &str, state_dir: &Path) -> String {
    let quote = |s: &str| {
        if s.chars().all(|c| c.is_ascii_alphanumeric() || "/._-+=:,@".contains(c)) {
            s.to_string()
        } else {
            format!("'{}'", s.replace('\'', r"'\''"))
        }
    };
    let mut out = format!("{sudo}{}", quote(argv0));
    if state_dir != Path::new(DEFAULT_STATE_DIR) {
        out.push_str(&format!(" --state-dir {}", quote(&state_dir.display().to_string())));
    }
    out
}

/// `--state-dir`'s default.
pub const DEFAULT_STATE_DIR: &str = "/run/reachlab";

pub fn down(args: DownArgs, state_dir: &Path) -> Result<i32, CliError> {
    let mut failures = Vec::new();
    let mut removed = 0;
    let mut unknown: Vec<&String> = args.run_ids.iter().collect();
    for path in ledger_files(state_dir) {
        let Ok(record) = Ledger::read(&path) else { continue };
        let wanted = if args.run_ids.is_empty() { record.kept } else { args.run_ids.contains(&record.run_id) };
        if !wanted {
            continue;
        }
        unknown.retain(|id| **id != record.run_id);
        let errors = teardown(&record);
        if errors.is_empty() {
            let _ = std::fs::remove_file(&path);
            removed += 1;
            println!("removed lab {} ({})", record.run_id, record.suite);
        }
        failures.extend(errors.into_iter().map(|e| e.to_string()));
    }
    if removed == 0 && failures.is_empty() && args.run_ids.is_empty() {
        println!("no kept labs");
    }
    if !unknown.is_empty() {
        // A typo must not read as "torn down" (and never removes anything else).
        let ids: Vec<&str> = unknown.iter().map(|s| s.as_str()).collect();
        failures.insert(0, format!("no lab with run id {} under {}", ids.join(", "), runs_dir(state_dir).display()));
        return Err(CliError::Usage(failures.join("\n")));
    }
    if failures.is_empty() {
        Ok(exit::PASS)
    } else {
        Err(CliError::Infrastructure(failures.join("\n")))
    }
}

/// Ledger files under the state directory.
pub fn ledger_files(state_dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(runs_dir(state_dir))
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printed_commands_are_the_invocation_itself() {
        let default = Path::new(DEFAULT_STATE_DIR);
        assert_eq!(invocation_of("", "reachlab", default), "reachlab");
        assert_eq!(invocation_of("sudo ", "./target/release/reachlab", default), "sudo ./target/release/reachlab");
        assert_eq!(
            invocation_of("", "/opt/my tools/reachlab", Path::new("/tmp/st")),
            "'/opt/my tools/reachlab' --state-dir /tmp/st"
        );
    }
}
