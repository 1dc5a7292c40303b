//! The Genesys Cloud emulator ("the sim"). Its one job: stand in for Genesys Cloud, as unkind
//! as the real service, in tests and demos. It never depends on the client crate
//! (`genesys-cloud`), `kube` or `k8s-openapi`, so it stays an independent oracle of the API.
//!
//! It is an axum server that speaks the Genesys Cloud
//! Platform API v2 for every operation in `contract/genesys-contract.json` (79 of them), plus
//! `POST /oauth/token`, against an in-memory organization loaded from a [`fixture::Fixture`].
//!
//! Where to start reading: [`ops`] (the route table: op id, method, path, permissions,
//! handler), then [`server`] (the request pipeline), then the handlers in [`users`],
//! [`search`], [`routing`], [`org`], [`analytics`] and [`aggregates`]. [`state`] holds the
//! organization and the lifecycle rules; [`render`] the JSON shapes; [`sim`] starts it all.
//!
//! Modules depend on each other one way only: each uses only modules of the rows below it, or
//! to its right in its own row (`tests/layers.rs` checks that no import closes a circle).
//!
//! | layer | modules |
//! |---|---|
//! | front end | [`cli`] |
//! | the running server | [`sim`], [`control`], [`server`], [`auth`], [`ratelimit`] |
//! | the route table | [`ops`] |
//! | handlers | [`aggregates`], [`analytics`]; [`users`], [`search`], [`routing`], [`org`], [`impact`], [`settings`] |
//! | shapes and queries | [`render`], [`filters`], [`call`] |
//! | the organization | [`state`] |
//! | foundations | [`fixture`], [`faults`], [`errors`], [`time`] |
//!
//! This file only declares the modules and re-exports the public face.
//!
//! ```no_run
//! # async fn demo() -> Result<(), genesys_emulator::SimError> {
//! use genesys_emulator::{Fault, Sim, fixture::Fixture};
//! let sim = Sim::start(Fixture::demo()).await?;
//! let base = sim.base_url(); // serves /oauth/token and /api/v2/...
//! sim.inject(Fault::new("PATCH", "/api/v2/users/*").status(503));
//! // ... run a client against `base` ...
//! let patched = sim.requests().iter().filter(|r| r.method == "PATCH").count();
//! sim.shutdown().await;
//! # let _ = (base, patched); Ok(()) }
//! ```
//!
//! # Behaviour
//! Semantics follow docs/genesys-api.md §2–§9; points the reference marks unverified, and the
//! ways the real service is unkind to clients (asynchronous changes, best-effort expands, roles
//! that leave on deactivation, memberships through teams and skill groups, ...), are switches
//! in `behavior` (see [`fixture::Behavior`]). A fixture's `profile` picks a set: `default`, the
//! emulator as it always was, or `realistic`, every unkind switch on with small delays. Every error is an `ErrorBody` with `message`,
//! `code`, `status`, `messageWithParams`, `messageParams`, `contextId`, `details`, `errors`.
//! Tokens expire per client (`tokenLifetimeSeconds`); each token has a sliding 60-second
//! window of `requestsPerMinute` requests (0 = off), past which the answer is 429
//! `too.many.requests` with `Retry-After`. A client with a `permissions` list gets 403
//! `missing.permissions` naming what an operation needs. `latencyMs` delays every answer.
//!
//! # Control API (`/__sim`, no token, not recorded)
//! - `GET /__sim/requests`: every `/oauth` and `/api/v2` request, oldest first:
//!   `{method, path, query (raw string), body (JSON or null), status, responseBody (JSON or
//!   null), time, operation (contract op id or null)}`. `DELETE` clears it.
//! - `POST /__sim/faults`: `{"method":"PATCH","path":"/api/v2/users/*","count":1,"status":503,
//!   "body":{...},"retryAfter":2,"delayMs":0}` (or an array). The next `count` matching
//!   requests get that status (default body: an `ErrorBody` for the status), `Retry-After`
//!   and/or delay; with `delayMs` and no `status` the request is delayed then served. `*`
//!   matches one path segment, `**` the rest. `rawBody` (+ `contentType`) sends a non-JSON
//!   body. `"reset": true` closes the connection, `"afterServe": true` serves the request
//!   first, `"ignoreWrite": true` leaves it unapplied and answers with what a `GET` of the same
//!   path answers (a `PATCH` of a user's state answered `200` with `state: active`; see
//!   [`faults`]). `GET` lists pending faults, `DELETE` disarms them.
//! - `GET /__sim/users/{id}`: the stored user (state, version, roles with their group, grants
//!   through groups waiting for a reactivation, queues with `joined`/`direct`/`viaGroup`,
//!   station, presence, `hasSessions`, history), as of now (due asynchronous changes applied).
//! - `POST /__sim/reset`: back to the fixture (same epoch), log, faults and jobs cleared.
//!
//! The same operations are methods on [`SimHandle`].

pub mod aggregates;
pub mod analytics;
pub mod auth;
pub mod call;
pub mod cli;
pub mod control;
pub mod errors;
pub mod faults;
pub mod filters;
pub mod fixture;
pub mod handoff;
pub mod impact;
pub mod ops;
pub mod org;
pub mod quality;
pub mod ratelimit;
pub mod render;
pub mod routing;
pub mod search;
pub mod server;
pub mod settings;
pub mod sim;
pub mod state;
pub mod time;
pub mod users;

pub use faults::Fault;
pub use server::RecordedRequest;
pub use sim::{Sim, SimError, SimHandle};
