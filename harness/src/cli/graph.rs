//! `reachlab graph SUITE`: the suite's topology as a picture, SVG (laid out by reachlab itself) or Graphviz DOT.

use super::{exit, CliError};
use crate::report::graph::Graph;
use std::path::PathBuf;

/// Picture formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// A self-contained SVG (no Graphviz needed).
    Svg,
    /// Graphviz DOT, for `dot -Tsvg` / `neato -Tpng`.
    Dot,
}

/// Arguments of `reachlab graph`.
#[derive(clap::Args)]
pub struct Args {
    /// The suite file.
    pub suite: PathBuf,
    /// What to print.
    #[arg(long, value_enum, default_value = "svg")]
    pub format: Format,
}

pub fn graph(args: Args) -> Result<i32, CliError> {
    let suite = crate::suite::load_file(&args.suite)?;
    let g = Graph::of(&suite);
    match args.format {
        Format::Svg => print!("{}", g.svg(&[])),
        Format::Dot => print!("{}", g.dot()),
    }
    Ok(exit::PASS)
}
