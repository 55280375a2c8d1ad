//! The pure core of remote sources: the fetch schedule (Cache-Control bounds, backoff with
//! jitter, leases, demanded refetches), response reading, URLs, and bundle signatures.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use meshguard::remote::response::check_size;
use meshguard::remote::{Demand, FetchError, FetchPolicy, FetchState, FetchedResponse, HttpTarget};

const POLICY: FetchPolicy = FetchPolicy {
    refresh_ms: 300_000,
    honor_cache_control: true,
    min_refresh_ms: 30_000,
    max_refresh_ms: 3_600_000,
    initial_backoff_ms: 1_000,
    max_backoff_ms: 60_000,
    lease_ms: 11_000,
    demand_interval_ms: 30_000,
};

#[test]
fn cache_control_sets_the_next_refresh_within_its_bounds() {
    for (max_age, next) in [
        (None, 300_000),
        (Some(120), 120_000),
        (Some(1), 30_000),
        (Some(0), 30_000),
        (Some(999_999), 3_600_000),
    ] {
        let mut state = FetchState::default();
        assert!(state.acquire(7, 1_000, &POLICY));
        state.succeeded(1_000, max_age, &POLICY);
        assert_eq!(state.next_due_ms, 1_000 + next, "{max_age:?}");
        assert!(state.lease.is_none());
    }
    // Bundles poll on their interval whatever the server says.
    let bundle = FetchPolicy {
        honor_cache_control: false,
        ..POLICY
    };
    let mut state = FetchState::default();
    state.succeeded(0, Some(5), &bundle);
    assert_eq!(state.next_due_ms, 300_000);
}

#[test]
fn failures_back_off_exponentially_with_jitter_up_to_the_cap() {
    let mut state = FetchState::default();
    let mut delays = Vec::new();
    for _ in 0..10 {
        state.failed(0, "http_status", u64::MAX / 3, &POLICY);
        delays.push(state.next_due_ms);
    }
    let caps = [
        1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000, 60_000, 60_000,
    ];
    for (delay, cap) in delays.iter().zip(caps) {
        assert!((cap / 2..=cap).contains(delay), "{delays:?}");
    }
    assert!(state.stale());
    assert_eq!(state.last_error.as_deref(), Some("http_status"));
    // Jitter spreads the retries of proxies that failed together.
    let spread: std::collections::BTreeSet<u64> = (0..50u64)
        .map(|j| {
            let mut s = FetchState::default();
            s.failed(0, "x", j * 7_919, &POLICY);
            s.next_due_ms
        })
        .collect();
    assert!(spread.len() > 10);
}

#[test]
fn one_lease_at_a_time_and_a_lapsed_lease_can_be_taken_over() {
    let mut state = FetchState::default();
    assert!(state.acquire(1, 0, &POLICY));
    assert!(!state.acquire(2, 5_000, &POLICY), "in flight");
    assert!(state.held_by(1));
    assert!(state.acquire(2, 11_000, &POLICY), "the lease lapsed");
    assert!(state.held_by(2));
    assert_eq!(state.fetches, 2);
}

#[test]
fn demanded_refetches_coalesce_and_are_spaced_by_the_interval() {
    let mut state = FetchState::default();
    state.succeeded(0, None, &POLICY); // next refresh at 300 s
    assert_eq!(
        state.demand(1_000, &POLICY),
        Demand::Scheduled {
            at_ms: 1_000,
            baseline: 0
        }
    );
    // Another demand before the fetch starts joins it.
    assert_eq!(
        state.demand(1_050, &POLICY),
        Demand::Scheduled {
            at_ms: 1_050,
            baseline: 0
        }
    );
    assert!(state.acquire(1, 1_100, &POLICY));
    assert_eq!(
        state.demand(1_200, &POLICY),
        Demand::InFlight { baseline: 0 }
    );
    assert!(!state.demand_met(0, 1_200));
    state.succeeded(1_500, None, &POLICY);
    assert!(state.demand_met(0, 1_600));
    // The next demanded fetch waits for the interval; demands meanwhile join it.
    assert_eq!(
        state.demand(2_000, &POLICY),
        Demand::Scheduled {
            at_ms: 31_000,
            baseline: 1
        }
    );
    assert_eq!(
        state.demand(20_000, &POLICY),
        Demand::Scheduled {
            at_ms: 31_000,
            baseline: 1
        }
    );
    assert!(!state.due(30_999));
    assert!(state.due(31_000));
}

#[test]
fn responses_are_read_by_status_size_cache_control_and_etag() {
    let headers = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| ((*n).into(), (*v).into()))
            .collect()
    };
    let ok = headers(&[
        (":status", "200"),
        ("Cache-Control", "public, max-age=600"),
        ("ETag", "\"abc\""),
    ]);
    let response = FetchedResponse {
        headers: &ok,
        body: b"{}",
    };
    assert_eq!(response.ok_body().unwrap(), b"{}");
    assert_eq!(response.max_age(), Some(600));
    assert_eq!(response.etag(), Some("\"abc\""));
    for (value, expected) in [
        ("no-store", Some(0)),
        ("max-age=abc", None),
        ("private", None),
        ("no-cache, max-age=60", Some(0)),
    ] {
        let h = headers(&[(":status", "200"), ("cache-control", value)]);
        assert_eq!(
            FetchedResponse {
                headers: &h,
                body: b""
            }
            .max_age(),
            expected,
            "{value}"
        );
    }
    let gone = headers(&[]);
    assert_eq!(
        FetchedResponse {
            headers: &gone,
            body: b""
        }
        .ok_body(),
        Err(FetchError::Unreachable)
    );
    let err = headers(&[(":status", "502")]);
    assert_eq!(
        FetchedResponse {
            headers: &err,
            body: b""
        }
        .ok_body(),
        Err(FetchError::Status { status: 502 })
    );
    let nm = headers(&[(":status", "304")]);
    assert!(FetchedResponse {
        headers: &nm,
        body: b""
    }
    .not_modified());
    assert_eq!(check_size(10, 10), Ok(()));
    assert_eq!(
        check_size(11, 10),
        Err(FetchError::TooLarge {
            bytes: 11,
            limit: 10
        })
    );
}

#[test]
fn urls_become_authority_and_path_and_unsafe_ones_are_refused() {
    let t = HttpTarget::parse("https://kubernetes.default.svc:443/openid/v1/jwks?x=1").unwrap();
    assert_eq!(
        (t.authority.as_str(), t.path.as_str()),
        ("kubernetes.default.svc:443", "/openid/v1/jwks?x=1")
    );
    assert_eq!(HttpTarget::parse("http://idp").unwrap().path, "/");
    assert_eq!(HttpTarget::parse("https://idp?x").unwrap().path, "/?x");
    for bad in [
        "idp/keys",
        "ftp://idp/k",
        "https:///k",
        "https://u:p@idp/k",
        "https://idp/k#f",
        "https://idp/a b",
    ] {
        assert!(HttpTarget::parse(bad).is_err(), "{bad}");
    }
    assert_eq!(
        meshguard::remote::target::discovery_url("https://accounts.example.com/"),
        "https://accounts.example.com/.well-known/openid-configuration"
    );
}
