//! The grid (matrix) parser on arbitrary text, alone and inside a suite: it never panics, what it accepts is
//! rectangular, and its errors stand inside the text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use reachlab::suite::matrix;

const SUITE: &str = r#"
[[namespace]]
name = "space1"

[[namespace]]
name = "space2"

[[veth]]
name = "veth-s1"
netns = "space1"
address = "10.0.0.11/24"
peer = { name = "veth-s2", netns = "space2", address = "10.0.0.12/24" }

[[matrix]]
probe = "icmp"
"#;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match matrix::parse(text) {
        Ok(grid) => {
            assert!(!grid.rows.is_empty());
            for row in &grid.rows {
                assert_eq!(row.cells.len(), grid.columns.len());
            }
        }
        Err(e) => {
            let lines = text.lines().count().max(1);
            assert!(e.line < lines, "line {} of {lines}", e.line);
            let line = text.lines().nth(e.line).unwrap_or("");
            assert!(e.col <= line.len(), "col {} of {}", e.col, line.len());
        }
    }
    // The same grid as a suite's `expect`, in each of TOML's string forms: the loader places grid errors in the
    // file, and must do so for any text.
    let basic = toml::Value::String(text.to_string()).to_string();
    for expect in [basic, format!("\"\"\"\n{text}\"\"\""), format!("'''{text}'''")] {
        let src = format!("{SUITE}expect = {expect}\n");
        if let Err(reachlab::suite::LoadError::Invalid(d)) = reachlab::suite::load_str(&src, "grid.toml") {
            assert!(d.to_string().starts_with(&format!("grid.toml:{}:{}: ", d.line, d.col)), "{d}");
        }
    }
});
