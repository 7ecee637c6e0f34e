//! The published JSON Schema of suite files (`test-suites/suite.schema.json`), generated from the serde types
//! so it cannot drift from what the loader accepts.

/// The JSON Schema for suite files, pretty-printed.
pub fn json() -> String {
    let schema = schemars::schema_for!(super::model::SuiteFile);
    let mut text = serde_json::to_string_pretty(&schema).expect("schema serializes");
    text.push('\n');
    text
}
