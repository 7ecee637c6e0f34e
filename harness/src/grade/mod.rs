//! Grading student submissions: running each in its own sandbox, scoring checks and predictions, and writing
//! LMS formats.

pub mod adopt;
pub mod batch;
pub mod calibrate;
pub mod formats;
pub mod merge;
pub mod model;
pub mod mutate;
pub mod sandbox;
pub mod score;
pub mod submission;
