//! Load tools for Switchboard, driven from the outside like a carrier would.
//!
//! The binaries are thin; the parts live here so they are unit-tested:
//!
//! - [`signature`]: `X-Twilio-Signature` exactly as Twilio computes it.
//! - [`twiml`]: a small, strict XML reader and the TwiML verbs callsim follows
//!   (`<Dial>` with `<Number>`, `<Say>`, `<Hangup>`, `<Reject>`).
//! - [`caller`]: realistic US callers (number, state, ZIP) and Twilio-style SIDs
//!   from a seeded [`switchboard_model::prng::SplitMix64`], so a run can be replayed with `--seed`.
//! - [`sim`]: the call simulator behind `callsim`: voice webhook, the dialed
//!   leg's status callbacks in Twilio's order (optionally duplicated or
//!   reordered), the `<Dial action>`, fall-through until hang-up; per
//!   destination concurrency as callsim itself observes it.
//! - [`stats`]: latency percentiles.
//! - [`export`]: reads `switchboard calls export --format jsonl` and checks that
//!   every call that got a `<Dial>` is stored, in the state callsim left it in.
//! - [`invariants`]: turns a run's [`report::Summary`] into pass/fail lines.
//! - [`report`]: the human table, the progress line and the JSON document.
//!
//! Binaries: `callsim` (`src/bin/callsim.rs`) and `baseline`
//! (`src/bin/baseline.rs`); k6 scripts in `k6/`; `smoke.sh` is the CI smoke.

pub mod caller;
pub mod export;
pub mod invariants;
pub mod report;
pub mod signature;
pub mod sim;
pub mod stats;
pub mod twiml;
