//! When to fetch. A [`FetchState`] is the whole schedule of one remote source, small and
//! serialisable, so that the filter keeps it in proxy-wasm shared data where every worker VM
//! of the proxy sees it: the worker that takes the [`Lease`] fetches, the others wait for the
//! result. Times are milliseconds since the Unix epoch, always passed in.

use serde::{Deserialize, Serialize};

/// Timers and bounds of one source, from the configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FetchPolicy {
    /// Interval between refreshes when the response sets no usable `Cache-Control` max-age.
    pub refresh_ms: u64,
    /// Whether `Cache-Control: max-age` sets the next refresh (keys) or not (bundles are
    /// polled on their interval; `ETag` makes a poll cheap).
    pub honor_cache_control: bool,
    /// Lower bound of a refresh interval taken from `Cache-Control`.
    pub min_refresh_ms: u64,
    /// Upper bound of a refresh interval taken from `Cache-Control`.
    pub max_refresh_ms: u64,
    /// First retry delay after a failure; doubles with each consecutive failure.
    pub initial_backoff_ms: u64,
    /// Largest retry delay.
    pub max_backoff_ms: u64,
    /// How long one fetch (all its HTTP calls) may take before its lease lapses and another
    /// worker may try.
    pub lease_ms: u64,
    /// Smallest spacing of fetches demanded by requests (a token with an unknown `kid`): a
    /// flood of random `kid`s costs the issuer at most one fetch per interval.
    pub demand_interval_ms: u64,
}

/// A fetch in flight: who makes it, and until when the others wait for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Lease {
    /// The worker VM making the fetch.
    pub owner: u64,
    /// When the lease lapses if the fetch never completes.
    pub until_ms: u64,
}

/// The schedule of one source.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FetchState {
    /// When the next fetch is due (0: at once).
    pub next_due_ms: u64,
    /// The fetch in flight, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease: Option<Lease>,
    /// Consecutive failures since the last success.
    pub failures: u32,
    /// When the last fetch succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_success_ms: Option<u64>,
    /// When a request last demanded a fetch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_demand_ms: Option<u64>,
    /// The code of the last failure, while failing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// Fetches started, for the record.
    pub fetches: u64,
    /// The version of the stored value: bumped each time a fetch stores a new one, so that
    /// readers reload only when it changed.
    #[serde(default)]
    pub generation: u64,
}

/// The answer to a request that needs a fresh fetch (a token's `kid` is not in the key set).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Demand {
    /// A fetch will start at `at_ms` (now, or when the rate limit allows); a request that can
    /// wait that long (and for the fetch) waits, others are decided with the keys at hand.
    Scheduled {
        /// When the fetch is due.
        at_ms: u64,
        /// Fetches started so far: the demand is met once more have started and none is in
        /// flight.
        baseline: u64,
    },
    /// A fetch is in flight; the request waits for it.
    InFlight {
        /// As for `Scheduled`: the fetch in flight counts.
        baseline: u64,
    },
}

impl FetchState {
    /// Whether a fetch is in flight at `now` (a lapsed lease does not count).
    pub fn in_flight(&self, now: u64) -> bool {
        self.lease.is_some_and(|lease| lease.until_ms > now)
    }

    /// Whether a fetch should start at `now`.
    pub fn due(&self, now: u64) -> bool {
        now >= self.next_due_ms && !self.in_flight(now)
    }

    /// Takes the lease for `owner` if a fetch is due; the caller fetches only if this says so.
    pub fn acquire(&mut self, owner: u64, now: u64, policy: &FetchPolicy) -> bool {
        if !self.due(now) {
            return false;
        }
        self.lease = Some(Lease {
            owner,
            until_ms: now.saturating_add(policy.lease_ms),
        });
        self.fetches += 1;
        true
    }

    /// Whether `owner` holds the lease (its response is still the one awaited).
    pub fn held_by(&self, owner: u64) -> bool {
        self.lease.is_some_and(|lease| lease.owner == owner)
    }

    /// A fetch succeeded at `now`. `max_age_secs` is the response's `Cache-Control` max-age.
    pub fn succeeded(&mut self, now: u64, max_age_secs: Option<u64>, policy: &FetchPolicy) {
        let interval = match max_age_secs {
            // max then min, not clamp: a policy with its bounds crossed must not panic.
            Some(secs) if policy.honor_cache_control => secs
                .saturating_mul(1000)
                .max(policy.min_refresh_ms)
                .min(policy.max_refresh_ms),
            _ => policy.refresh_ms,
        };
        self.lease = None;
        self.failures = 0;
        self.last_error = None;
        self.last_success_ms = Some(now);
        self.next_due_ms = now.saturating_add(interval);
    }

    /// A fetch failed at `now` with `code`. The retry waits an exponentially growing delay,
    /// jittered by `jitter` (any random number) so that proxies that failed together do not
    /// retry together: between half and all of the capped exponential delay.
    pub fn failed(&mut self, now: u64, code: &str, jitter: u64, policy: &FetchPolicy) {
        self.lease = None;
        self.failures = self.failures.saturating_add(1);
        self.last_error = Some(code.to_owned());
        self.next_due_ms = now.saturating_add(self.backoff_ms(jitter, policy));
    }

    /// The delay before the next retry after `self.failures` consecutive failures.
    pub fn backoff_ms(&self, jitter: u64, policy: &FetchPolicy) -> u64 {
        let doublings = self.failures.saturating_sub(1).min(32);
        let capped = policy
            .initial_backoff_ms
            .saturating_mul(1u64 << doublings)
            .min(policy.max_backoff_ms)
            .max(1);
        let half = capped / 2;
        half + jitter % (capped - half + 1)
    }

    /// A request needs a fetch (its token names a `kid` the key set lacks). Demanded fetches
    /// are spaced by `demand_interval_ms`, and every demand before a planned fetch joins it,
    /// so a flood of random `kid`s costs the issuer at most one fetch per interval.
    pub fn demand(&mut self, now: u64, policy: &FetchPolicy) -> Demand {
        if self.in_flight(now) {
            return Demand::InFlight {
                baseline: self.fetches.saturating_sub(1),
            };
        }
        let baseline = self.fetches;
        let at_ms = self.last_demand_ms.map_or(now, |last| {
            now.max(last.saturating_add(policy.demand_interval_ms))
        });
        if self.next_due_ms <= at_ms {
            // A fetch is planned sooner anyway (first fetch, refresh, retry): join it.
            return Demand::Scheduled {
                at_ms: self.next_due_ms.max(now),
                baseline,
            };
        }
        self.last_demand_ms = Some(at_ms);
        self.next_due_ms = at_ms;
        Demand::Scheduled { at_ms, baseline }
    }

    /// Whether a demand made at `baseline` has been met: a fetch started since, and none is
    /// in flight.
    pub fn demand_met(&self, baseline: u64, now: u64) -> bool {
        self.fetches > baseline && !self.in_flight(now)
    }

    /// True while the last fetch failed: the value in force is the last good one.
    pub fn stale(&self) -> bool {
        self.failures > 0
    }
}
