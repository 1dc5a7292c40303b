//! The integration tests of the operator, one module per subject, in one test binary: each test
//! binary links the whole operator and its dependencies, so one link replaces seventeen (see
//! docs/performance.md, "Build and binary"). `cargo test --test integration reconcile::` runs
//! one module.
//!
//! `tests/crash.rs` stays a binary of its own: its one test kills and restarts the real operator
//! binary at points drawn from request counts and short delays, and runs alone so that no other
//! test competes with its operator processes for the two cores. `tests/sim_api.rs` belongs to
//! the emulator.

#[path = "../support/mod.rs"]
mod support;

// The Genesys side, without Kubernetes.
mod bad_input;
mod client_api;
mod contract;
mod faults;
mod handoff;
mod hostile;
mod impact;
mod oneshot;
mod reconcile;
mod restore;
mod sdk;

// The Kubernetes side: the fake API server, the controller in this process, a real cluster.
mod cluster;
mod controller;
mod drift;
mod fairness;
mod fake_apiserver;
mod guardrails;
mod k8s_faults;

// What ships besides the code, checked offline: CRD, chart, health checks, crate borders, docs;
// the chart's dashboard and alert rules with the real Prometheus tools.
mod borders;
mod chart;
// The command-line companion as a person uses it: `plan`, and the kubectl plugin.
mod cli;
mod crd;
mod docs;
mod gitops;
mod prometheus;
