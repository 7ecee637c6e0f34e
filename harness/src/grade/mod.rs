//! Grading student submissions: running each in its own sandbox, scoring checks and predictions, and the LMS
//! formats (pure renderers of the grading model; the reporters write them).

pub mod adopt;
pub mod batch;
pub mod calibrate;
pub mod formats;
pub mod merge;
/// The grading model lives with the other report models (events carry it, below grading itself).
pub use crate::report::grade as model;
pub mod mutate;
pub mod sandbox;
pub mod score;
pub mod submission;
