//! Attempt limits of logins and signups, counted in fixed windows, in memory
//! (a restart forgets them, which only helps the legitimate user).
//!
//! A login attempt is counted per username and per client address *before*
//! its password is checked, so that a burst of concurrent guesses gets no
//! more checks than the limit: of 40 wrong passwords sent at once for one
//! user, 10 are checked and 30 refused with 429. A correct password gives
//! its attempt back. Signups are counted per address: each one hashes a
//! password, so an address may make only a few an hour.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Login attempts allowed per username in a window.
pub(crate) const USER_ATTEMPTS: u32 = 10;
/// Login attempts allowed per client address in a window: higher, since
/// several people may sit behind one address.
pub(crate) const IP_ATTEMPTS: u32 = 30;
/// How long login attempts count.
pub(crate) const WINDOW: Duration = Duration::from_secs(15 * 60);
/// Signups allowed per client address in a [`SIGNUP_WINDOW`].
pub(crate) const SIGNUPS: u32 = 10;
/// How long signups count.
pub(crate) const SIGNUP_WINDOW: Duration = Duration::from_secs(60 * 60);

/// Past this many tracked keys, expired windows are swept on the next attempt.
const SWEEP_AT: usize = 10_000;
/// At most this many keys are tracked, so that guessing endless made-up
/// names cannot grow memory without bound; past it, only keys already
/// tracked (and every address) are counted, and the address limit still holds.
const MAX_KEYS: usize = 200_000;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    User(String),
    Ip(IpAddr),
    Signup(IpAddr),
}

impl Key {
    /// Attempts allowed in a window, and the window.
    fn limit(&self) -> (u32, Duration) {
        match self {
            Key::User(_) => (USER_ATTEMPTS, WINDOW),
            Key::Ip(_) => (IP_ATTEMPTS, WINDOW),
            Key::Signup(_) => (SIGNUPS, SIGNUP_WINDOW),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Window {
    started: Instant,
    attempts: u32,
}

/// Counts login attempts per username and per address, and signups per address.
#[derive(Debug, Default)]
pub(crate) struct LoginLimiter {
    windows: Mutex<HashMap<Key, Window>>,
}

impl LoginLimiter {
    /// Counts a login attempt for `username` from `ip`, or refuses it with
    /// `Err(seconds to wait)` (counting nothing) when either has none left.
    pub(crate) fn begin(&self, username: &str, ip: Option<IpAddr>) -> Result<(), u64> {
        self.take_at(&login_keys(username, ip), Instant::now())
    }

    /// Gives back an attempt [`begin`](Self::begin) counted whose password
    /// was never checked, or was right but must not reset the user's count.
    pub(crate) fn refund(&self, username: &str, ip: Option<IpAddr>) {
        self.refund_at(&login_keys(username, ip), Instant::now());
    }

    /// A successful login clears the username's count and gives the
    /// address its attempt back (but does not clear the address: one good
    /// password must not reset a guesser's budget for other names).
    pub(crate) fn succeeded(&self, username: &str, ip: Option<IpAddr>) {
        let now = Instant::now();
        self.refund_at(&login_keys(username, ip), now);
        self.lock().remove(&user_key(username));
    }

    /// Counts a signup from `ip`, or refuses it with `Err(seconds to wait)`.
    /// Without an address (no socket, as in `oneshot` tests) nothing is counted.
    pub(crate) fn begin_signup(&self, ip: Option<IpAddr>) -> Result<(), u64> {
        match ip {
            Some(ip) => self.take_at(&[Key::Signup(ip)], Instant::now()),
            None => Ok(()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Window>> {
        // A poisoned map is still a valid map of counters.
        self.windows
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Checks every key and counts an attempt against each, atomically: two
    /// concurrent attempts never both take the last one.
    fn take_at(&self, keys: &[Key], now: Instant) -> Result<(), u64> {
        let mut map = self.lock();
        let wait = keys
            .iter()
            .filter_map(|key| {
                let (limit, window) = key.limit();
                map.get(key)
                    .filter(|w| now.duration_since(w.started) < window && w.attempts >= limit)
                    .map(|w| (window - now.duration_since(w.started)).as_secs().max(1))
            })
            .max();
        if let Some(secs) = wait {
            return Err(secs);
        }
        if map.len() >= SWEEP_AT {
            map.retain(|k, w| now.duration_since(w.started) < k.limit().1);
        }
        for key in keys {
            if map.len() >= MAX_KEYS && matches!(key, Key::User(_)) && !map.contains_key(key) {
                continue;
            }
            let window = key.limit().1;
            let w = map.entry(key.clone()).or_insert(Window {
                started: now,
                attempts: 0,
            });
            if now.duration_since(w.started) >= window {
                *w = Window {
                    started: now,
                    attempts: 0,
                };
            }
            w.attempts += 1;
        }
        Ok(())
    }

    fn refund_at(&self, keys: &[Key], now: Instant) {
        let mut map = self.lock();
        for key in keys {
            if let Some(w) = map.get_mut(key)
                && now.duration_since(w.started) < key.limit().1
            {
                w.attempts = w.attempts.saturating_sub(1);
            }
        }
    }
}

fn login_keys(username: &str, ip: Option<IpAddr>) -> Vec<Key> {
    std::iter::once(user_key(username))
        .chain(ip.map(Key::Ip))
        .collect()
}

fn user_key(username: &str) -> Key {
    Key::User(username.trim().to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn login(l: &LoginLimiter, name: &str, ip: Option<IpAddr>, at: Instant) -> Result<(), u64> {
        l.take_at(&login_keys(name, ip), at)
    }

    #[test]
    fn blocks_a_user_after_its_attempts_until_the_window_ends() {
        let l = LoginLimiter::default();
        let t0 = Instant::now();
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        for _ in 0..USER_ATTEMPTS {
            assert_eq!(login(&l, "Alice", Some(ip), t0), Ok(()));
        }
        assert_eq!(login(&l, "alice", None, t0), Err(WINDOW.as_secs()));
        // Another name from the same address still may try.
        assert_eq!(login(&l, "bob", Some(ip), t0), Ok(()));
        let later = t0 + WINDOW - Duration::from_secs(10);
        assert_eq!(login(&l, "alice", None, later), Err(10));
        assert_eq!(login(&l, "alice", None, t0 + WINDOW), Ok(()));
    }

    #[test]
    fn a_refused_attempt_counts_nothing_and_a_refund_gives_one_back() {
        let l = LoginLimiter::default();
        let t0 = Instant::now();
        let ip: IpAddr = "10.0.0.4".parse().unwrap();
        for _ in 0..USER_ATTEMPTS {
            login(&l, "carol", Some(ip), t0).unwrap();
        }
        for _ in 0..5 {
            assert!(login(&l, "carol", Some(ip), t0).is_err());
        }
        // Ten counted against the address, not fifteen.
        assert_eq!(l.lock()[&Key::Ip(ip)].attempts, USER_ATTEMPTS);
        l.refund_at(&login_keys("carol", Some(ip)), t0);
        assert_eq!(login(&l, "carol", Some(ip), t0), Ok(()));
        assert!(login(&l, "carol", Some(ip), t0).is_err());
        l.succeeded("CAROL", Some(ip));
        assert_eq!(login(&l, "carol", None, t0), Ok(()));
    }

    #[test]
    fn blocks_an_address_trying_many_names() {
        let l = LoginLimiter::default();
        let t0 = Instant::now();
        let ip: IpAddr = "10.0.0.2".parse().unwrap();
        for i in 0..IP_ATTEMPTS {
            login(&l, &format!("user{i}"), Some(ip), t0).unwrap();
        }
        assert!(login(&l, "someone-new", Some(ip), t0).is_err());
        assert_eq!(
            login(&l, "someone-new", Some("10.0.0.3".parse().unwrap()), t0),
            Ok(())
        );
        // A good login for one name does not reset the address.
        l.succeeded("user0", Some(ip));
        l.succeeded("user1", None);
        assert_eq!(login(&l, "user1", Some(ip), t0), Ok(()));
        assert!(login(&l, "user2", Some(ip), t0).is_err());
    }

    #[test]
    fn signups_are_counted_per_address() {
        let l = LoginLimiter::default();
        let t0 = Instant::now();
        let ip: IpAddr = "10.0.0.5".parse().unwrap();
        for _ in 0..SIGNUPS {
            assert_eq!(l.take_at(&[Key::Signup(ip)], t0), Ok(()));
        }
        assert_eq!(
            l.take_at(&[Key::Signup(ip)], t0),
            Err(SIGNUP_WINDOW.as_secs())
        );
        // Logins from that address are another count.
        assert_eq!(login(&l, "dave", Some(ip), t0), Ok(()));
        assert_eq!(l.take_at(&[Key::Signup(ip)], t0 + SIGNUP_WINDOW), Ok(()));
        assert_eq!(l.begin_signup(None), Ok(()));
    }
}
