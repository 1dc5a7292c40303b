//! genesys-offboarding-operator: offboard Genesys Cloud users from Kubernetes, safely.
//!
//! The workspace shows the architecture; this crate is the operator and nothing else:
//! - [`crd`]: the `GenesysUserOffboarding` resource (spec, status, conditions, validation).
//! - [`reconcile`]: one offboarding pass, observe → plan → execute → verify → report.
//! - [`controller`]: the Kubernetes front end (`genesys-offboarding run`): the
//!   `kube_runtime::Controller`, Secrets, status, Events, leader election.
//! - [`oneshot`]: the file front end (`genesys-offboarding reconcile -f FILE`), no cluster.
//! - [`inspect`]: what a person reads: `genesys-offboarding plan -f FILE`, and the kubectl
//!   plugin `kubectl offboard` (`plan`, `status NAME`).
//! - [`telemetry`] and [`admin`]: metrics, logs, `/metrics`, `/livez`, `/readyz`.
//!
//! Beside it, in `crates/`: `genesys-cloud`, the Genesys Cloud API client (never imports kube);
//! `genesys-emulator`, an emulator of that API (depends on neither kube nor the client: an
//! independent oracle), linked in only with the default `emulator` feature for `sim` and
//! `reconcile --sim`; and `fake-apiserver`, an in-memory Kubernetes API server, a
//! dev-dependency only, never part of the operator's binary.

pub mod admin;
pub mod controller;
pub mod crd;
pub mod inspect;
pub mod oneshot;
pub mod reconcile;
pub mod telemetry;
