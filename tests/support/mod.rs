//! Helpers shared by the integration tests. Include with `mod support;`.
//!
//! - [`contract`]: validates Genesys Cloud API traffic against `contract/genesys-contract.json`.

// Each test binary compiles this module on its own and uses only part of it.
#![allow(dead_code)]

pub mod contract;
