//! LMS output formats (being written).
