//! The requests that wait: for a first key set or bundle, or for the refetch their token's
//! unknown `kid` demanded. A request waits at most its source's `requestWaitMs`; a demanded
//! refetch the rate limit puts beyond that is not waited for. When something it waits for
//! changes, or its wait runs out, the request is decided again.

use std::collections::BTreeMap;

use super::{SyncEngine, SyncPort, Wake};
use crate::decision::Wait;
use crate::remote::Demand;

/// Most requests one worker holds at once; beyond, requests are decided at once.
pub const MAX_WAITERS: usize = 4096;

/// Which decision this is for a stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Attempt {
    /// The request headers just arrived.
    First,
    /// The stream waited and something it waited for changed; it may wait on until
    /// `deadline_ms` if what it needs is still on its way.
    Woken {
        /// When its wait ends.
        deadline_ms: u64,
        /// For a demanded refetch: the fetch count to see exceeded.
        baseline: Option<u64>,
    },
    /// The stream waited its full time: decide with what there is.
    Expired,
}

/// A request waiting for keys or a bundle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Waiter {
    wait: Wait,
    deadline_ms: u64,
    baseline: Option<u64>,
}

/// What [`Waiting::hold`] decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hold {
    /// The request waits (it is registered).
    Wait,
    /// The request is decided now with what there is.
    Decide,
}

/// The waiting requests of one worker, by stream id.
#[derive(Debug, Default)]
pub struct Waiting {
    waiters: BTreeMap<u32, Waiter>,
}

impl Waiting {
    /// How many requests wait.
    pub fn len(&self) -> usize {
        self.waiters.len()
    }

    /// True when none waits.
    pub fn is_empty(&self) -> bool {
        self.waiters.is_empty()
    }

    /// Whether stream `id` waits.
    pub fn contains(&self, id: u32) -> bool {
        self.waiters.contains_key(&id)
    }

    /// The stream ended: it waits no more.
    pub fn forget(&mut self, id: u32) {
        self.waiters.remove(&id);
    }

    /// Whether the request on stream `id`, whose decision needs `wait`, waits (for a review,
    /// `review` is the token: its call starts here). Counts
    /// `meshguard.requests.paused` and the refetch demanded or rate-limited.
    pub fn hold(
        &mut self,
        sync: &mut SyncEngine,
        port: &mut dyn SyncPort,
        id: u32,
        (wait, review): (Wait, Option<&str>),
        attempt: Attempt,
        now: u64,
    ) -> Hold {
        let (deadline_ms, baseline) = match attempt {
            Attempt::Expired => return Hold::Decide,
            Attempt::Woken {
                deadline_ms,
                baseline,
            } => {
                // A demanded refetch has run: decide with its outcome. A first key set or
                // bundle may still come from a retry: wait on.
                let met = baseline.is_some_and(|b| sync.demand_met(port, wait, b, now));
                if met || now >= deadline_ms {
                    return Hold::Decide;
                }
                (deadline_ms, baseline)
            }
            Attempt::First => {
                let wait_ms = sync.wait_ms(wait);
                if wait_ms == 0 || self.waiters.len() >= MAX_WAITERS {
                    return Hold::Decide;
                }
                let deadline_ms = now.saturating_add(wait_ms);
                let baseline = match wait {
                    Wait::Keys {
                        unknown_kid: true, ..
                    } => match sync.demand(port, wait, now) {
                        Some(Demand::InFlight { baseline }) => Some(baseline),
                        Some(Demand::Scheduled { at_ms, baseline }) if at_ms < deadline_ms => {
                            port.increment("meshguard.keys.refetch.demanded");
                            Some(baseline)
                        }
                        _ => {
                            // The rate limit puts the next fetch beyond this request's wait.
                            port.increment("meshguard.keys.refetch.rate_limited");
                            return Hold::Decide;
                        }
                    },
                    Wait::Review(_) => match review {
                        Some(token) if sync.review(port, token, now) => None,
                        // No call could start (or an answer came meanwhile): decide now.
                        _ => return Hold::Decide,
                    },
                    _ => None,
                };
                port.increment("meshguard.requests.paused");
                (deadline_ms, baseline)
            }
        };
        self.waiters.insert(
            id,
            Waiter {
                wait,
                deadline_ms,
                baseline,
            },
        );
        Hold::Wait
    }

    /// The streams to decide again now, taken out of the waiting set: those whose wait ran
    /// out, those whose source `wakes` names, and those whose demanded refetch another worker
    /// made.
    pub fn due(
        &mut self,
        sync: &SyncEngine,
        port: &dyn SyncPort,
        wakes: &[Wake],
        now: u64,
    ) -> Vec<(u32, Attempt)> {
        let due: Vec<(u32, Attempt)> = self
            .waiters
            .iter()
            .filter_map(|(&id, waiter)| {
                if now >= waiter.deadline_ms {
                    return Some((id, Attempt::Expired));
                }
                let woken = wakes.iter().any(|wake| match (wake, waiter.wait) {
                    (Wake::Keys(i), Wait::Keys { issuer, .. }) => *i == issuer,
                    (Wake::Bundle, Wait::Bundle) => true,
                    (Wake::Review(done), Wait::Review(wanted)) => done == &wanted,
                    _ => false,
                });
                let met = waiter
                    .baseline
                    .is_some_and(|b| sync.demand_met(port, waiter.wait, b, now));
                (woken || met).then_some((
                    id,
                    Attempt::Woken {
                        deadline_ms: waiter.deadline_ms,
                        baseline: waiter.baseline,
                    },
                ))
            })
            .collect();
        for (id, _) in &due {
            self.waiters.remove(id);
        }
        due
    }
}
