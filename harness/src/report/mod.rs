//! Reports: the [`RunReport`] model built from judged checks, the grading model ([`grade`], whose LMS renderers
//! are in `grade/formats/`), and one renderer per format (text, XML, JSON, Markdown, HTML, SVG). Pure: nothing
//! here reads the clock, the environment or the disk; the reporters (the `reporters` room) feed these renderers
//! from the event stream and write what they return.

pub mod grade;
pub mod graph;
pub mod html;
pub mod json;
pub mod junit;
pub mod junit_xml;
pub mod markdown;
pub mod model;
pub mod terminal;

pub use model::{CheckReport, MatrixReport, RunReport, SuiteReport};
