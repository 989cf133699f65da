//! The throttle of sign-in attempts ([`SignInGuard`]): token buckets per client address (an
//! IPv6 client by its /64 network) and per user name, and the bounded slots in which password
//! hashes run on blocking threads.

use super::verify_password;
use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How many sign-in attempts are let through, and how many password hashes run at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignInSettings {
    /// Failed attempts a client address may make at once...
    pub address_burst: u32,
    /// ...and then one more per this interval.
    pub address_every: Duration,
    /// Failed attempts for one user name (known or not) at once...
    pub name_burst: u32,
    /// ...and then one more per this interval.
    pub name_every: Duration,
    /// Password hashes computed at once, process-wide.
    pub hash_slots: usize,
    /// How long an attempt waits for a hash slot before it is answered 429.
    pub hash_wait: Duration,
    /// Addresses and user names remembered (each); beyond, the longest-unused are forgotten.
    pub max_keys: usize,
}

impl Default for SignInSettings {
    /// 20 failed attempts at once per address and per user name, then one every 3 s (20 a
    /// minute); a hash slot per two cores (at least one), waited for up to 5 s.
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        SignInSettings {
            address_burst: 20,
            address_every: Duration::from_secs(3),
            name_burst: 20,
            name_every: Duration::from_secs(3),
            hash_slots: (cores / 2).max(1),
            hash_wait: Duration::from_secs(5),
            max_keys: 10_000,
        }
    }
}

/// Token buckets, one per key, in a map of bounded size.
#[derive(Debug)]
struct Buckets<K> {
    burst: f64,
    every: Duration,
    max_keys: usize,
    /// Per key: the tokens left, as of when.
    map: Mutex<HashMap<K, (f64, Instant)>>,
}

impl<K: Hash + Eq + Clone> Buckets<K> {
    fn new(burst: u32, every: Duration, max_keys: usize) -> Self {
        Buckets {
            burst: f64::from(burst.max(1)),
            every: every.max(Duration::from_millis(1)),
            max_keys: max_keys.max(1),
            map: Mutex::new(HashMap::new()),
        }
    }

    fn refilled(&self, (tokens, at): (f64, Instant), now: Instant) -> f64 {
        let earned = now.saturating_duration_since(at).as_secs_f64() / self.every.as_secs_f64();
        (tokens + earned).min(self.burst)
    }

    /// Takes a token for `key`, or says how long until one is there.
    fn take(&self, key: &K, now: Instant) -> Result<(), Duration> {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        let tokens = match map.get(key) {
            Some(&entry) => self.refilled(entry, now),
            None => {
                if map.len() >= self.max_keys {
                    // Forget the full buckets first; if none is, the longest unused.
                    map.retain(|_, entry| self.refilled(*entry, now) < self.burst);
                    if map.len() >= self.max_keys
                        && let Some(oldest) = map
                            .iter()
                            .min_by_key(|(_, (_, at))| *at)
                            .map(|(k, _)| k.clone())
                    {
                        map.remove(&oldest);
                    }
                }
                self.burst
            }
        };
        if tokens >= 1.0 {
            map.insert(key.clone(), (tokens - 1.0, now));
            Ok(())
        } else {
            map.insert(key.clone(), (tokens, now));
            Err(self.every.mul_f64(1.0 - tokens))
        }
    }

    /// Gives back a token taken for `key` (the attempt succeeded).
    fn give_back(&self, key: &K) {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(entry) = map.get_mut(key) {
            entry.0 = (entry.0 + 1.0).min(self.burst);
        }
    }
}

/// The allowance of sign-in attempts per client address and per user name, and the slots of
/// password hashing; one per router (see [`crate::routes::router_with`]).
#[derive(Debug)]
pub struct SignInGuard {
    settings: SignInSettings,
    addresses: Buckets<IpAddr>,
    names: Buckets<String>,
    slots: tokio::sync::Semaphore,
    hashes: AtomicU64,
}

impl Default for SignInGuard {
    fn default() -> Self {
        SignInGuard::new(SignInSettings::default())
    }
}

/// Why a sign-in attempt was not let through to a password check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("too many sign-in attempts; retry in {} s", .0.as_secs().max(1))]
pub struct Throttled(pub Duration);

impl SignInGuard {
    pub fn new(settings: SignInSettings) -> Self {
        SignInGuard {
            settings,
            addresses: Buckets::new(
                settings.address_burst,
                settings.address_every,
                settings.max_keys,
            ),
            names: Buckets::new(settings.name_burst, settings.name_every, settings.max_keys),
            slots: tokio::sync::Semaphore::new(settings.hash_slots.max(1)),
            hashes: AtomicU64::new(0),
        }
    }

    /// The key of a user name: as typed (normalised) when it could be one, else one shared
    /// key for every malformed name (so that they cannot fill the map).
    fn name_key(username: &str) -> String {
        if wardcrf_core::staff::valid_staff_id(username) {
            username.to_string()
        } else {
            String::new()
        }
    }

    /// The key of a client address: an IPv4 address (also when IPv4-mapped), or the /64
    /// network of an IPv6 one (what one client is usually given).
    fn address_key(address: IpAddr) -> IpAddr {
        match address.to_canonical() {
            IpAddr::V6(v6) => IpAddr::V6(std::net::Ipv6Addr::from(
                u128::from(v6) & !u128::from(u64::MAX),
            )),
            v4 => v4,
        }
    }

    /// Takes one attempt of the allowance of `address` (when known) and of `username`.
    pub fn admit(&self, address: Option<IpAddr>, username: &str) -> Result<(), Throttled> {
        let now = Instant::now();
        if let Some(addr) = address {
            self.addresses
                .take(&Self::address_key(addr), now)
                .map_err(Throttled)?;
        }
        self.names
            .take(&Self::name_key(username), now)
            .map_err(Throttled)
    }

    /// Gives back the attempt of a successful sign-in.
    pub fn succeeded(&self, address: Option<IpAddr>, username: &str) {
        if let Some(addr) = address {
            self.addresses.give_back(&Self::address_key(addr));
        }
        self.names.give_back(&Self::name_key(username));
    }

    /// Whether `password` matches `stored`, checked on a blocking thread in one of the hash
    /// slots; [`Throttled`] when no slot came free in time.
    pub async fn verify(&self, password: String, stored: String) -> Result<bool, Throttled> {
        let wait = self.settings.hash_wait;
        let slot = tokio::time::timeout(wait, self.slots.acquire())
            .await
            .ok()
            .and_then(Result::ok)
            .ok_or(Throttled(wait))?;
        self.hashes.fetch_add(1, Ordering::Relaxed);
        let matched = tokio::task::spawn_blocking(move || verify_password(&password, &stored))
            .await
            .unwrap_or(false);
        drop(slot);
        Ok(matched)
    }

    /// How many password hashes this guard has computed.
    pub fn hashes_computed(&self) -> u64 {
        self.hashes.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_refill_say_when_and_stay_bounded() {
        let b: Buckets<u32> = Buckets::new(2, Duration::from_secs(10), 3);
        let t0 = Instant::now();
        assert!(b.take(&1, t0).is_ok());
        assert!(b.take(&1, t0).is_ok());
        let wait = b.take(&1, t0).unwrap_err();
        assert!(wait > Duration::from_secs(9) && wait <= Duration::from_secs(10));
        // One token back after the interval; a success gives one back too.
        assert!(b.take(&1, t0 + Duration::from_secs(10)).is_ok());
        b.give_back(&1);
        assert!(b.take(&1, t0 + Duration::from_secs(10)).is_ok());
        // Never more than max_keys remembered: many keys forget the oldest.
        for k in 2..100 {
            assert!(b.take(&k, t0 + Duration::from_secs(11)).is_ok());
        }
        assert!(b.map.lock().unwrap().len() <= 3);
    }

    #[test]
    fn one_ipv6_network_shares_an_allowance() {
        let guard = SignInGuard::new(SignInSettings {
            address_burst: 1,
            address_every: Duration::from_secs(600),
            ..SignInSettings::default()
        });
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert!(guard.admit(Some(a), "u1").is_ok());
        assert!(guard.admit(Some(b), "u2").is_err());
        assert!(guard.admit(Some(other), "u3").is_ok());
        let v4: IpAddr = "192.0.2.1".parse().unwrap();
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
        assert!(guard.admit(Some(v4), "u4").is_ok());
        assert!(guard.admit(Some(mapped), "u5").is_err());
    }
}
