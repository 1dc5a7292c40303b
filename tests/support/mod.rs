//! Helpers shared by the integration test binaries, one copy each. A binary in a folder of its
//! own (`tests/integration/main.rs`) includes it with `#[path = "../support/mod.rs"] mod support;`,
//! a single-file one (`tests/crash.rs`) with `mod support;`.
//!
//! - [`invariants`]: the safety invariants every offboarding test ends with (no user deleted,
//!   no GDPR call, every state PATCH carries exactly `{state, version}`, the snapshot persisted
//!   before the first Genesys write);
//! - [`genesys`]: the emulator's demo org, client builders and request-log helpers;
//! - [`k8s`]: a world of the fake Kubernetes API server and the emulator, and the checks read
//!   from both request logs;
//! - [`hanging`]: a Genesys endpoint that never answers;
//! - [`kubectl`]: the one way to run the real `kubectl`;
//! - [`org`]: the bulk-like organization of N agents (`examples/support/org.rs`);
//! - [`soak`]: the chaos soak (`tests/soak.rs`, `examples/soak.rs`);
//! - [`contract`]: validates Genesys Cloud API traffic against `contract/genesys-contract.json`.

// Each test binary compiles this module on its own and uses only part of it.
#![allow(dead_code)]

pub mod contract;
pub mod genesys;
pub mod hanging;
pub mod invariants;
pub mod k8s;
pub mod kubectl;
#[path = "../../examples/support/org.rs"]
pub mod org;
pub mod soak;
