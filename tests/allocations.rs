//! Heap allocations of one warm decision (the token already verified and cached): the common
//! case the request path must keep lean. Counted by this binary's allocator on the deciding
//! thread only, so tests running in parallel do not disturb the count. An exact count, the
//! same on every machine: a change that adds per-request copies fails here, not in a noisy
//! benchmark.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use common::envoy::demo_plugin_config;
use common::scenarios::{sa, sa_token};
use common::NOW;
use meshguard::config::PluginConfig;
use meshguard::decision::HttpRequest;
use meshguard::token::{TokenCache, TokenStore};

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: every call is passed to the system allocator unchanged; the counter is a
// thread-local `Cell` with a const initialiser, which allocates nothing.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
        // SAFETY: the caller's contract is passed on.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract is passed on.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
        // SAFETY: the caller's contract is passed on.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn allocations_of(f: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.with(Cell::get);
    f();
    ALLOCATIONS.with(Cell::get) - before
}

#[test]
fn a_warm_allowed_decision_allocates_little() {
    let engine = PluginConfig::from_value(demo_plugin_config())
        .unwrap()
        .engine()
        .unwrap();
    let authorization = format!("Bearer {}", sa_token(sa("frontend", "web")));
    let headers = [
        (":method", "GET"),
        (":path", "/orders/42"),
        (":authority", "orders.orders.svc"),
        ("authorization", authorization.as_str()),
    ];
    let request = HttpRequest {
        method: "GET",
        target: "/orders/42",
        headers: &headers,
        workload: &meshguard::request_info::Workload::in_namespace("orders"),
        tls: None,
        peer: None,
    };
    let mut cache = TokenCache::default();
    let first = engine.decide_with(&request, NOW, &mut cache as &mut dyn TokenStore);
    assert_eq!(first.record.reason, "allowed", "{:?}", first.record);
    let count = allocations_of(|| {
        let verdict = engine.decide_with(&request, NOW, &mut cache);
        assert_eq!(verdict.record.reason, "allowed");
    });
    // 29 before the RBAC source, the bundle revision and the mapped request's fields were
    // shared or moved instead of copied and the path parts (which only `request-info` shows)
    // were skipped. What remains: the normalised path, the user in the record, the mapped
    // request's fields (path, verb, namespace, resource, name), the route's segment list and
    // the authorizer's candidate list; and since `stripToken` became the default, the list of
    // headers to remove with the `authorization` header in it (two: 12 before).
    println!("allocations per warm allowed decision: {count}");
    assert!(count <= 14, "a warm decision allocated {count} times");
}
