//! Login attempt limits: failures are counted per username and per client
//! address in fixed windows, in memory (a restart forgets them, which only
//! helps the legitimate user). Once a key has used up its failures, further
//! attempts are refused with 429 before the password is even checked.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failed logins allowed per username in a window.
pub(crate) const USER_FAILURES: u32 = 10;
/// Failed logins allowed per client address in a window: higher, since
/// several people may sit behind one address.
pub(crate) const IP_FAILURES: u32 = 30;
/// How long failures count.
pub(crate) const WINDOW: Duration = Duration::from_secs(15 * 60);

/// Past this many tracked keys, expired windows are swept on the next failure.
const SWEEP_AT: usize = 10_000;
/// At most this many keys are tracked, so that guessing endless made-up
/// names cannot grow memory without bound; past it, only keys already
/// tracked (and every address) are counted, and the address limit still holds.
const MAX_KEYS: usize = 200_000;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    User(String),
    Ip(IpAddr),
}

#[derive(Debug, Clone, Copy)]
struct Window {
    started: Instant,
    failures: u32,
}

/// Counts failed logins per username and per address.
#[derive(Debug, Default)]
pub(crate) struct LoginLimiter {
    windows: Mutex<HashMap<Key, Window>>,
}

impl LoginLimiter {
    /// `Err(seconds to wait)` when `username` or `ip` has no attempts left.
    pub(crate) fn check(&self, username: &str, ip: Option<IpAddr>) -> Result<(), u64> {
        self.check_at(username, ip, Instant::now())
    }

    /// Counts a failed attempt against both keys.
    pub(crate) fn failed(&self, username: &str, ip: Option<IpAddr>) {
        self.failed_at(username, ip, Instant::now());
    }

    /// A successful login clears the username's failures (not the address's:
    /// one good password must not reset a guesser's budget for other names).
    pub(crate) fn succeeded(&self, username: &str) {
        self.lock().remove(&user_key(username));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Window>> {
        // A poisoned map is still a valid map of counters.
        self.windows.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn check_at(&self, username: &str, ip: Option<IpAddr>, now: Instant) -> Result<(), u64> {
        let map = self.lock();
        let blocked = |key: &Key, limit: u32| {
            map.get(key)
                .filter(|w| now.duration_since(w.started) < WINDOW && w.failures >= limit)
                .map(|w| (WINDOW - now.duration_since(w.started)).as_secs().max(1))
        };
        let user = blocked(&user_key(username), USER_FAILURES);
        let ip = ip.and_then(|ip| blocked(&Key::Ip(ip), IP_FAILURES));
        match user.max(ip) {
            Some(secs) => Err(secs),
            None => Ok(()),
        }
    }

    fn failed_at(&self, username: &str, ip: Option<IpAddr>, now: Instant) {
        let mut map = self.lock();
        if map.len() >= SWEEP_AT {
            map.retain(|_, w| now.duration_since(w.started) < WINDOW);
        }
        for key in std::iter::once(user_key(username)).chain(ip.map(Key::Ip)) {
            if map.len() >= MAX_KEYS && matches!(key, Key::User(_)) && !map.contains_key(&key) {
                continue;
            }
            let w = map.entry(key).or_insert(Window { started: now, failures: 0 });
            if now.duration_since(w.started) >= WINDOW {
                *w = Window { started: now, failures: 0 };
            }
            w.failures += 1;
        }
    }
}

fn user_key(username: &str) -> Key {
    Key::User(username.trim().to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_a_user_after_its_failures_until_the_window_ends() {
        let l = LoginLimiter::default();
        let t0 = Instant::now();
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        for _ in 0..USER_FAILURES {
            assert_eq!(l.check_at("Alice", Some(ip), t0), Ok(()));
            l.failed_at("Alice", Some(ip), t0);
        }
        assert_eq!(l.check_at("alice", None, t0), Err(WINDOW.as_secs()));
        // Another name from the same address still may try.
        assert_eq!(l.check_at("bob", Some(ip), t0), Ok(()));
        let later = t0 + WINDOW - Duration::from_secs(10);
        assert_eq!(l.check_at("alice", None, later), Err(10));
        assert_eq!(l.check_at("alice", None, t0 + WINDOW), Ok(()));
        l.succeeded("ALICE");
        assert_eq!(l.check_at("alice", None, t0), Ok(()));
    }

    #[test]
    fn blocks_an_address_trying_many_names() {
        let l = LoginLimiter::default();
        let t0 = Instant::now();
        let ip: IpAddr = "10.0.0.2".parse().unwrap();
        for i in 0..IP_FAILURES {
            l.failed_at(&format!("user{i}"), Some(ip), t0);
        }
        assert!(l.check_at("someone-new", Some(ip), t0).is_err());
        assert_eq!(l.check_at("someone-new", Some("10.0.0.3".parse().unwrap()), t0), Ok(()));
        // A good login for one name does not reset the address.
        l.succeeded("user0");
        assert!(l.check_at("user0", Some(ip), t0).is_err());
    }
}
