//! Grading student submissions: running each in its own sandbox, scoring checks and predictions, and writing
//! LMS formats.

pub mod formats;
pub mod model;
