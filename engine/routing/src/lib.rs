//! Pure routing policy: which buyers may take a call, and in what order.
//!
//! No I/O, no clocks, no actors: time (`DateTime<Utc>`) and randomness (a
//! `FnMut() -> f64` closure) are parameters, so every decision is repeatable
//! in tests. The actors own the state these functions read and update.
//!
//! - [`order`]: the campaign's candidate order — priority with weighted random
//!   within a level, or round-robin with a cursor.
//! - [`mod@admit`]: the buyer's decision for one attempt, by its
//!   [`Capacity`] profile (a buyer's or an RTB target's) — status, then
//!   [`schedule`], then [`geo`], then [`caps`].
//! - [`schedule`]: hours of operation in the buyer's time zone.
//! - [`geo`]: state and ZIP allow/deny lists.
//! - [`caps`]: concurrency and hourly/daily/monthly/total counters with
//!   reservations, periods in the buyer's local time, rebuild after restart.
//! - [`duplicate`]: the repeat-caller window, per campaign.
//! - [`blocklist`]: blocked callers, in O(1) per call.
//! - [`payout`]: what a call pays its publisher, booked once when it ends.
//!
//! A call, end to end: the campaign actor orders its [`Candidate`]s and, for
//! each in turn, asks that buyer's actor to [`admit()`] the attempt under a
//! [`ReservationKey`]; the first `Ok` is dialed. The status callback later
//! calls [`CapCounters::release`] (answered or not), and a timer calls
//! [`CapCounters::expire`] so a lost callback never leaks capacity.

pub mod admit;
pub mod blocklist;
pub mod caps;
pub mod duplicate;
pub mod geo;
pub mod order;
pub mod payout;
pub mod schedule;

pub use admit::{Capacity, admit};
pub use blocklist::Blocklist;
pub use caps::{CapCounters, CapSnapshot, PastAttempt, Refusal, ReservationKey};
pub use duplicate::DuplicateWindow;
pub use geo::geo_allows;
pub use order::{Candidate, next_cursor, order_priority, order_round_robin};
pub use schedule::is_open;
