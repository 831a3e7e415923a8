//! The rules of [`Store::claim_lease`](crate::Store::claim_lease), shared by
//! every backend so they decide alike; each backend makes the decision
//! atomic its own way (a write transaction, an LWT).
//!
//! Lease times are stored to the whole millisecond (ScyllaDB's `timestamp`),
//! rounded down: a lease may lapse up to 1 ms before the `until` it was
//! claimed with, never after.

use chrono::{DateTime, Utc};
use switchboard_model::Lease;

use crate::{Result, StoreError};

/// A lease time as stored: milliseconds since the epoch, rounded down.
pub(crate) fn to_millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

/// A stored lease time back as a time.
pub(crate) fn from_millis(name: &str, ms: i64) -> Result<DateTime<Utc>> {
    DateTime::from_timestamp_millis(ms)
        .ok_or_else(|| StoreError::Corrupt(format!("lease {name}: expiry {ms}ms out of range")))
}

/// A claim needs a name and a holder: an empty one is the caller's mistake.
pub(crate) fn check_claim(name: &str, holder: &str) -> Result<()> {
    if name.is_empty() {
        return Err(StoreError::InvalidArgument("a lease needs a name".into()));
    }
    if holder.is_empty() {
        return Err(StoreError::InvalidArgument(format!(
            "a claim on lease {name} needs a holder"
        )));
    }
    Ok(())
}

/// The outcome of a claim.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Claim {
    /// Granted: store this lease.
    Write(Lease),
    /// Refused: this live lease of another holder stays as it is.
    Refused(Lease),
}

/// What a claim by `holder` at `now` until `until` does to `current`.
pub(crate) fn claim(
    current: Option<Lease>,
    name: &str,
    holder: &str,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Claim {
    let epoch = match current {
        None => 1,
        // A renewal, even of a lapsed lease nobody took: the same holder, the same fence.
        Some(c) if c.holder == holder => c.epoch,
        Some(c) if c.expires <= now => c.epoch + 1,
        Some(c) => return Claim::Refused(c),
    };
    // Stored to the millisecond: return exactly what a read will give back.
    let expires = DateTime::from_timestamp_millis(to_millis(until)).unwrap_or(until);
    Claim::Write(Lease {
        name: name.to_owned(),
        holder: holder.to_owned(),
        expires,
        epoch,
    })
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;

    fn at(ms: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(1_800_000_000_000 + ms).unwrap()
    }

    fn lease(holder: &str, expires: DateTime<Utc>, epoch: u64) -> Lease {
        Lease {
            name: "shard/1".into(),
            holder: holder.into(),
            expires,
            epoch,
        }
    }

    #[test]
    fn the_rules_of_a_claim() {
        use Claim::{Refused, Write};
        assert_eq!(
            claim(None, "shard/1", "a", at(0), at(10)),
            Write(lease("a", at(10), 1)),
            "a new lease starts at 1"
        );
        let held = || Some(lease("a", at(10), 4));
        assert_eq!(
            claim(held(), "shard/1", "a", at(5), at(20)),
            Write(lease("a", at(20), 4)),
            "renewal keeps the epoch"
        );
        assert_eq!(
            claim(held(), "shard/1", "a", at(50), at(60)),
            Write(lease("a", at(60), 4)),
            "even once lapsed"
        );
        assert_eq!(
            claim(held(), "shard/1", "b", at(9), at(20)),
            Refused(lease("a", at(10), 4)),
            "live: refused"
        );
        assert_eq!(
            claim(held(), "shard/1", "b", at(10), at(20)),
            Write(lease("b", at(20), 5)),
            "lapsed at expires"
        );
        assert_eq!(
            claim(held(), "shard/1", "a", at(3), at(3)),
            Write(lease("a", at(3), 4)),
            "giving up"
        );
    }

    #[test]
    fn times_are_kept_to_the_millisecond_rounded_down() {
        let until = at(10) + Duration::microseconds(999);
        let Claim::Write(granted) = claim(None, "n", "a", at(0), until) else {
            panic!("a new lease is granted")
        };
        assert_eq!(granted.expires, at(10));
        let before_epoch = DateTime::UNIX_EPOCH - Duration::microseconds(1);
        assert_eq!(to_millis(before_epoch), -1);
        assert_eq!(from_millis("n", to_millis(at(7))).unwrap(), at(7));
        assert!(matches!(
            from_millis("n", i64::MAX),
            Err(StoreError::Corrupt(_))
        ));
    }

    #[test]
    fn a_claim_needs_a_name_and_a_holder() {
        assert!(matches!(
            check_claim("", "a"),
            Err(StoreError::InvalidArgument(_))
        ));
        assert!(matches!(
            check_claim("shard/1", ""),
            Err(StoreError::InvalidArgument(_))
        ));
        check_claim("shard/1", "a").unwrap();
    }
}
