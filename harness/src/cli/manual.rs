//! `reachlab completions SHELL` and `reachlab man`: generated from the command line's own definition, so they
//! cannot drift from it.

use super::{exit, CliError};
use std::io::Write;

/// Arguments of `reachlab completions`.
#[derive(clap::Args)]
pub struct CompletionsArgs {
    /// The shell: bash, zsh, fish, elvish or powershell.
    pub shell: clap_complete::Shell,
}

pub fn completions(args: CompletionsArgs, mut cmd: clap::Command) -> Result<i32, CliError> {
    clap_complete::generate(args.shell, &mut cmd, "reachlab", &mut std::io::stdout());
    Ok(exit::PASS)
}

pub fn man(cmd: clap::Command) -> Result<i32, CliError> {
    let failed = |e: std::io::Error| CliError::Infrastructure(format!("failed to render the manual: {e}"));
    let mut out = Vec::new();
    clap_mangen::Man::new(cmd.clone()).render(&mut out).map_err(failed)?;
    // One page: after the main sections, one section per subcommand (its synopsis, description and options),
    // their headings one level down.
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set() && s.get_name() != "help") {
        let man = clap_mangen::Man::new(sub.clone().bin_name(format!("reachlab {}", sub.get_name())));
        let mut section = Vec::new();
        man.render_synopsis_section(&mut section).map_err(failed)?;
        man.render_description_section(&mut section).map_err(failed)?;
        man.render_options_section(&mut section).map_err(failed)?;
        out.extend_from_slice(format!(".SH \"REACHLAB {}\"\n", sub.get_name().to_uppercase()).as_bytes());
        for line in String::from_utf8_lossy(&section).lines() {
            let line = line.strip_prefix(".SH ").map_or_else(|| line.to_string(), |h| format!(".SS {h}"));
            out.extend_from_slice(line.as_bytes());
            out.push(b'\n');
        }
    }
    std::io::stdout().write_all(&out).map_err(failed)?;
    Ok(exit::PASS)
}
