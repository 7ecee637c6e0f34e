//! The suite loader on arbitrary bytes: it never panics, and every rejection is located (file:line:col).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match reachlab::suite::load_bytes(data, "fuzz.toml") {
        Ok(suite) => {
            // What loads is resolvable: planning it must not panic either.
            let _ = reachlab::plan::resolve(&suite);
        }
        Err(reachlab::suite::LoadError::Invalid(d)) => {
            assert!(d.line >= 1 && d.col >= 1, "{d}");
            assert!(d.to_string().starts_with(&format!("fuzz.toml:{}:{}: ", d.line, d.col)), "{d}");
        }
        Err(e) => panic!("not a located error: {e}"),
    }
});
