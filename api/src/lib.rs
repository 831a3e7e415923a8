//! Switchboard's HTTP side: Twilio's webhooks in, TwiML out, plus health,
//! readiness, metrics and the `switchboard` binary's pieces.
//!
//! A tour:
//! - [`twilio`]: the webhook dialect as pure functions — signatures, form
//!   parsing, TwiML rendering.
//! - [`server`]: [`app`] (the router, for tests and benches), [`run`] (serve
//!   until a shutdown signal, drain, flush the engine) and [`AppState`].
//! - `webhooks`: the handlers — verify the signature first, then parse, ask
//!   the [`Engine`](switchboard_engine::Engine), answer.
//! - `admin`: the admin API — accounts, sessions and API keys, the tenant's
//!   resources, the audit log, `/api/openapi.json` ([`openapi`]).
//! - `dni`: `POST /api/dni/track`, the public, CORS-enabled, rate-limited
//!   endpoint that leases a pool number to a web visitor.
//! - [`console`]: the admin console (`admin-ui/`, React) served from its built files.
//! - [`cluster`]: node-to-node capacity requests (`/internal/capacity/…`) and their client.
//! - `rtb`: the inbound RTB ping (`POST /api/rtb/webhook/{routerId}`).
//! - [`error`]: [`ApiError`](error::ApiError), one JSON error shape for every failure.
//! - `dni_script`: `GET /dni.js`, the DNI script sites embed (`api/assets/dni.js`).
//! - [`telemetry`]: the process-wide Prometheus recorder behind `/metrics`.
//! - [`demo`]: `serve --demo` seeding and its printed introduction.
//! - [`export`]: `calls export` as JSON lines or CSV.
//! - [`users`]: accounts made from the command line and by `--demo`.
//! - [`reconcile`]: asks Twilio's REST API about calls whose final status
//!   callback is overdue, for the engine's reconciler.

mod admin;
pub mod cluster;
pub mod console;
pub mod demo;
mod dni;
mod dni_script;
pub mod error;
pub mod export;
#[doc(hidden)]
pub mod fuzzing;
mod limit;
pub mod reconcile;
mod rtb;
pub mod server;
pub mod telemetry;
pub mod twilio;
pub mod users;
mod webhooks;

pub use admin::openapi;
pub use dni::DniLimits;
pub use server::{AppState, app, run};
