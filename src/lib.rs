//! meshguard: Kubernetes-style authentication and RBAC authorization for Envoy and Istio,
//! as a proxy-wasm filter.
//!
//! The crate is split the way the filter is deployed:
//!
//! * the **core** ([`token`], [`identity`], [`config`]) is pure Rust: no proxy-wasm, no clock,
//!   no I/O. Time is always an argument, so every decision is reproducible in tests and in the
//!   CLI;
//! * the **filter adapter** (`src/filter/`, wasm32 only) translates host calls into core calls;
//! * the **CLI** (`src/main.rs`, native only) answers the same questions offline.
//!
//! The usual entry point is [`config::PluginConfig`]: parse the plugin configuration, compile it
//! into an [`token::Authenticator`] once, then call [`token::Authenticator::authenticate_request`]
//! for every request.

pub mod bundle;
pub mod config;
pub mod decision;
pub mod identity;
pub mod json;
pub mod peer;
pub mod rbac;
pub mod reason;
pub mod remote;
pub mod request_info;
pub mod sync;
pub mod token;

#[cfg(target_arch = "wasm32")]
mod filter;
