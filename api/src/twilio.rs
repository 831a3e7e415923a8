//! Twilio: its webhook dialect as pure functions (no I/O, no clocks), and a
//! small REST client.
//!
//! - [`signature`]: `X-Twilio-Signature` — sign and verify (HMAC-SHA1, base64).
//! - [`form`]: the form-encoded bodies, first as ordered pairs (what the
//!   signature covers), then as typed parameters per webhook.
//! - [`twiml`]: an engine [`Decision`](switchboard_engine::Decision) rendered as TwiML.
//! - [`rest`]: the one part with I/O: a small client of Twilio's REST API for
//!   number provisioning (search, buy, release).

pub mod form;
pub mod rest;
pub mod signature;
pub mod twiml;
