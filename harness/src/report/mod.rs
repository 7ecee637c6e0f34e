//! Reports: the [`RunReport`] model built from judged checks (pure), and one renderer per format. Reporters
//! (terminal, files, JSON on stdout) consume [`crate::event::Event`]s and call these renderers.

pub mod graph;
pub mod html;
pub mod json;
pub mod junit;
pub mod junit_xml;
pub mod markdown;
pub mod model;
pub mod reporters;
pub mod terminal;

pub use model::{CheckReport, MatrixReport, RunReport, SuiteReport};
