//! genesys-offboarding-operator: offboard Genesys Cloud users from Kubernetes, safely.
//!
//! Where to start reading:
//! - [`genesys`]: the Genesys Cloud Platform API v2 client (auth, rate limit, retries, typed
//!   calls). It never imports kube and has no method that deletes a user.
//! - [`sim`]: an emulator of the same API (axum), used by tests, demos and the README quick start.

pub mod admin;
pub mod controller;
pub mod crd;
pub mod fake_apiserver;
pub mod genesys;
pub mod reconcile;
pub mod sim;
pub mod telemetry;
