//! Property-based fuzzing (proptest, stable toolchain) of everything that reads untrusted
//! input: the token parser, the path normaliser, query and cookie parsing, header forwarding,
//! the whole decision, and bundle and configuration loading. Zero panics is the first property;
//! each target checks its own invariants too. `MESHGUARD_FUZZ_CASES` raises the case count
//! (docs/security.md records a long run); the default keeps `cargo test` short.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use common::envoy::demo_plugin_config;
use common::scenarios::{sa, sa_token};
use common::NOW;
use meshguard::bundle::Bundle;
use meshguard::config::PluginConfig;
use meshguard::decision::{Action, Engine, Forwarding, HttpRequest};
use meshguard::request_info::params;
use meshguard::request_info::path::normalize_path;
use meshguard::token::jws;
use proptest::prelude::*;
use std::sync::OnceLock;

fn cases() -> u32 {
    std::env::var("MESHGUARD_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3000)
}

/// Text made of what tricks are made of.
fn tricky(max: usize) -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            Just("/".to_owned()),
            Just(".".to_owned()),
            Just("..".to_owned()),
            Just(";".to_owned()),
            Just("%".to_owned()),
            Just("%2e".to_owned()),
            Just("%2F".to_owned()),
            Just("%25".to_owned()),
            Just("&".to_owned()),
            Just("=".to_owned()),
            Just(",".to_owned()),
            Just("+".to_owned()),
            Just(" ".to_owned()),
            Just("_".to_owned()),
            Just("access_token".to_owned()),
            Just("session".to_owned()),
            Just("\"".to_owned()),
            "[a-z0-9]{1,4}",
            any::<char>().prop_map(String::from),
        ],
        0..max,
    )
    .prop_map(|parts| parts.concat())
}

fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        PluginConfig::from_value(demo_plugin_config())
            .unwrap()
            .engine()
            .unwrap()
    })
}

fn web() -> &'static str {
    static TOKEN: OnceLock<String> = OnceLock::new();
    TOKEN.get_or_init(|| sa_token(sa("frontend", "web")))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn the_path_normaliser_is_total_idempotent_and_leaves_no_dot_segment(raw in tricky(24)) {
        let path = format!("/{raw}");
        if let Ok(normal) = normalize_path(&path) {
            prop_assert!(normal.starts_with('/'));
            prop_assert!(!normal.contains("//"), "{normal}");
            prop_assert!(!normal.split('/').any(|s| s == "." || s == ".."), "{normal}");
            let again = normalize_path(&normal);
            prop_assert_eq!(again.as_deref(), Ok(normal.as_str()));
        }
    }

    #[test]
    fn the_token_parser_never_panics(raw in tricky(40), dots in 0usize..5) {
        let token = format!("{raw}{}", ".".repeat(dots));
        let _ = jws::decode(&token, 8192);
    }

    #[test]
    fn a_stripped_query_or_cookie_has_no_token_left(query in tricky(30), cookie in tricky(30)) {
        let token = |name: &str| params::name_matches("access_token", name);
        if let Some(kept) = params::query_without(&query, token) {
            prop_assert!(params::query_find(&kept, "access_token").is_empty(), "{kept}");
        }
        let session = |name: &str| params::name_matches("session", name);
        if let Some(kept) = params::cookies_without([cookie.as_str()], session) {
            prop_assert!(params::cookie_find([kept.as_str()], "session").is_empty(), "{kept}");
        }
    }

    #[test]
    fn every_spelling_of_an_identity_header_is_removed(
        name in prop::sample::select(vec![
            "x-remote-user", "x-remote-group", "x-remote-extra-scopes", "x-remote-uid",
            "impersonate-user", "impersonate-group", "impersonate-uid", "impersonate-extra-x",
        ]),
        mask in any::<u64>(),
    ) {
        let spelled: String = name
            .chars()
            .enumerate()
            .map(|(i, c)| match (c, mask >> (i % 64) & 1) {
                ('-', 1) => '_',
                (c, 1) => c.to_ascii_uppercase(),
                (c, _) => c,
            })
            .collect();
        prop_assert!(Forwarding::default().must_remove(&spelled), "{spelled}");
    }

    #[test]
    fn no_decision_lets_a_forged_identity_or_a_token_through(
        path in tricky(20),
        query in tricky(20),
        cookie in tricky(20),
        forged_name in prop::sample::select(vec![
            "x_remote_user", "X-Remote-Group", "impersonate-user", "x-remote-uid", "x_remote_extra_a",
        ]),
        method in prop::sample::select(vec!["GET", "POST", "DELETE", "PATCH"]),
        override_header in any::<bool>(),
    ) {
        let bearer = format!("Bearer {}", web());
        let target = format!("/{path}?{query}");
        let mut headers = vec![
            ("authorization", bearer.as_str()),
            (forged_name, "forged"),
            ("cookie", cookie.as_str()),
        ];
        if override_header {
            headers.push(("x-http-method-override", "DELETE"));
        }
        let verdict = engine().decide(
            &HttpRequest { method, target: &target, headers: &headers, workload: &meshguard::request_info::Workload::in_namespace(""), tls: None, peer: None },
            NOW,
        );
        if let Action::Continue { remove_headers, set_headers, add_headers } = verdict.action {
            prop_assert!(remove_headers.contains(&forged_name.to_ascii_lowercase()));
            prop_assert!(remove_headers.contains(&"authorization".to_owned()));
            prop_assert!(!add_headers.iter().any(|(_, v)| v == "forged"));
            prop_assert!(!override_header, "a method override was let through");
            for (name, value) in &set_headers {
                prop_assert!(!value.contains(web()), "{name}: {value}");
            }
            // What goes upstream is the path that was decided on.
            let upstream = set_headers
                .iter()
                .find(|(n, _)| n == ":path")
                .map_or(target.as_str(), |(_, v)| v.as_str());
            prop_assert_eq!(upstream.split('?').next(), Some(verdict.record.path.as_str()));
        }
    }

    #[test]
    fn bundles_and_configurations_are_refused_not_panicked_on(text in tricky(60)) {
        let _ = Bundle::from_json_str(&text);
        let _ = PluginConfig::from_json(&text);
        let _ = PluginConfig::from_json(&format!(r#"{{"authentication":{{"jwt":[{text}]}}}}"#))
            .map(|c| c.engine());
    }
}
