//! reachlab: build container-networking labs from declarative suites, probe them with real packets from inside
//! each namespace, judge observed against expected reachability, and report.
//!
//! The data flows one way: [`suite`] (load) → [`plan`] (resolve) → [`lab`] (apply, ledger) → [`probe`] →
//! [`judge`] (pure) → [`event`]s → [`reporters`] (which render with [`report`]). Teardown always runs last.

pub mod capture;
pub mod check;
pub mod cidr;
pub mod cli;
pub mod engine;
pub mod event;
pub mod explain;
pub mod files;
pub mod filter;
pub mod grade;
pub mod inventory;
pub mod judge;
pub mod kernel;
pub mod lab;
pub mod plan;
pub mod probe;
pub mod reason;
pub mod report;
pub mod reporters;
pub mod runner;
pub mod select;
pub mod suite;
pub mod system;
pub mod timings;
pub mod words;
