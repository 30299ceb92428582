//! Throttles guessing: failed bearer authentications are counted per client address,
//! and past a budget every request from that address that presents a bearer is refused
//! with `429` before its token is looked at. A token has 256 random bits, so guessing
//! one is hopeless; the throttle keeps the attempt from costing the server (and the
//! store) anything, and makes it visible.
//!
//! The counting is `governor`'s (one GCRA cell per failure, the whole budget as a
//! burst, refilled evenly over a minute). `governor` cannot tell whether a key is over
//! budget without spending a cell, and only failures may spend, so the addresses it
//! refuses are remembered here with the moment their next failure would be allowed.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::ConnectInfo;
use axum::http::Extensions;
use governor::clock::{Clock, DefaultClock};
use governor::state::keyed::HashMapStateStore;
use governor::{Quota, RateLimiter};

/// Failures a client address may have in a minute before its bearers are refused: a
/// client with a mistyped or revoked token needs a handful, a guesser needs billions.
pub const DEFAULT_FAILURES_PER_MINUTE: u32 = 20;

/// At most this many addresses are remembered as refused; past it, the expired ones are
/// dropped first, and if none has expired the newest is not remembered (it is still
/// counted by `governor`, which refuses its next failure again).
const MAX_REFUSED: usize = 65_536;

/// Every this many failures, addresses whose count has fully refilled are forgotten.
const SWEEP_EVERY: u64 = 1024;

/// Where guesses come from: an IPv4 address, or an IPv6 `/64` (one subscriber's
/// network; one host may use any address in it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientKey(IpAddr);

impl ClientKey {
    /// The key of a client address: IPv4-mapped IPv6 as IPv4, IPv6 cut to its `/64`.
    pub fn of(addr: IpAddr) -> Self {
        match addr {
            IpAddr::V4(v4) => ClientKey(IpAddr::V4(v4)),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => ClientKey(IpAddr::V4(v4)),
                None => {
                    let bits = u128::from(v6) & !((1u128 << 64) - 1);
                    ClientKey(IpAddr::V6(Ipv6Addr::from(bits)))
                }
            },
        }
    }

    /// The key of the client a request came from, when the connection layer said
    /// (requests handed to the router by other means carry no address and are not
    /// throttled).
    pub fn of_request(extensions: &Extensions) -> Option<Self> {
        extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| Self::of(addr.ip()))
    }
}

/// A refusal: how long until the address may try again.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("too many failed authentications from this address; retry in {retry_after} s")]
pub struct Throttled {
    /// Whole seconds to wait, at least 1.
    pub retry_after: u64,
}

/// The per-address budget of failed authentications.
pub struct AuthThrottle {
    limiter: Option<RateLimiter<ClientKey, HashMapStateStore<ClientKey>, DefaultClock>>,
    clock: DefaultClock,
    refused: Mutex<HashMap<ClientKey, Instant>>,
    failures: AtomicU64,
}

impl AuthThrottle {
    /// A throttle allowing `per_minute` failures a minute per address; `0` turns it off.
    pub fn new(per_minute: u32) -> Self {
        let clock = DefaultClock::default();
        AuthThrottle {
            limiter: NonZeroU32::new(per_minute).map(|n| {
                RateLimiter::new(
                    Quota::per_minute(n),
                    HashMapStateStore::default(),
                    clock.clone(),
                )
            }),
            clock,
            refused: Mutex::new(HashMap::new()),
            failures: AtomicU64::new(0),
        }
    }

    /// Whether a client may present a bearer now. Called before the token is looked at.
    pub fn admit(&self, client: Option<ClientKey>) -> Result<(), Throttled> {
        let Some(client) = client else {
            return Ok(());
        };
        let mut refused = self.refused();
        let Some(until) = refused.get(&client).copied() else {
            return Ok(());
        };
        let now = Instant::now();
        if until <= now {
            refused.remove(&client);
            return Ok(());
        }
        Err(Throttled {
            retry_after: whole_seconds(until - now),
        })
    }

    /// Counts a failed authentication from a client.
    pub fn failed(&self, client: Option<ClientKey>) {
        let (Some(client), Some(limiter)) = (client, &self.limiter) else {
            return;
        };
        if self.failures.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            limiter.retain_recent();
            limiter.shrink_to_fit();
            let now = Instant::now();
            self.refused().retain(|_, until| *until > now);
        }
        if let Err(not_until) = limiter.check_key(&client) {
            let wait = not_until.wait_time_from(self.clock.now());
            let mut refused = self.refused();
            if refused.len() >= MAX_REFUSED {
                let now = Instant::now();
                refused.retain(|_, until| *until > now);
            }
            if refused.len() < MAX_REFUSED || refused.contains_key(&client) {
                refused.insert(client, Instant::now() + wait);
            }
        }
    }

    fn refused(&self) -> std::sync::MutexGuard<'_, HashMap<ClientKey, Instant>> {
        self.refused
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Default for AuthThrottle {
    /// The production budget, [`DEFAULT_FAILURES_PER_MINUTE`].
    fn default() -> Self {
        Self::new(DEFAULT_FAILURES_PER_MINUTE)
    }
}

/// A wait in whole seconds, rounded up, at least 1 (`Retry-After` has no fractions).
fn whole_seconds(wait: Duration) -> u64 {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    secs.max(1)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn failures_past_the_budget_refuse_the_address_only() {
        let throttle = AuthThrottle::new(3);
        let guesser = Some(ClientKey::of("10.0.0.1".parse().unwrap()));
        let other = Some(ClientKey::of("10.0.0.2".parse().unwrap()));
        for _ in 0..3 {
            assert!(throttle.admit(guesser).is_ok());
            throttle.failed(guesser);
        }
        assert!(
            throttle.admit(guesser).is_ok(),
            "the budget itself is allowed"
        );
        throttle.failed(guesser);
        let refused = throttle.admit(guesser).unwrap_err();
        assert!((1..=20).contains(&refused.retry_after), "{refused:?}");
        assert!(throttle.admit(other).is_ok());
        assert!(throttle.admit(None).is_ok());
    }

    #[test]
    fn ipv6_addresses_of_one_network_share_a_budget() {
        let a = ClientKey::of("2001:db8:1:2::1".parse().unwrap());
        let b = ClientKey::of("2001:db8:1:2:ffff::9".parse().unwrap());
        let c = ClientKey::of("2001:db8:1:3::1".parse().unwrap());
        assert_eq!(a, b);
        assert_ne!(a, c);
        let mapped = ClientKey::of("::ffff:10.0.0.1".parse().unwrap());
        assert_eq!(mapped, ClientKey::of("10.0.0.1".parse().unwrap()));
    }

    #[test]
    fn zero_turns_the_throttle_off() {
        let throttle = AuthThrottle::new(0);
        let client = Some(ClientKey::of("10.0.0.1".parse().unwrap()));
        for _ in 0..100 {
            throttle.failed(client);
        }
        assert!(throttle.admit(client).is_ok());
    }
}
