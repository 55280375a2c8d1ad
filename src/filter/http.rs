//! The HTTP context: one request, one decision.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::UNIX_EPOCH;

use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::{Action, LogLevel, MapType};

use super::log;
use super::metrics::{Metrics, REQUESTS_TOTAL};
use crate::decision::{self, Engine, HttpRequest, Verdict};

pub(crate) struct Http {
    /// `None` only if the plugin was never configured: fail closed.
    pub(crate) engine: Option<Rc<Engine>>,
    pub(crate) metrics: Rc<RefCell<Metrics>>,
    pub(crate) proxy_namespace: Rc<str>,
}

impl Context for Http {}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> &'a str {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map_or("", |(_, v)| v.as_str())
}

/// Header values as text, with the name of the first pseudo-header (`:path`, `:method`, ...)
/// that was not UTF-8: such a request is refused, a path is never guessed at. Other values
/// are converted lossily; a token damaged that way fails verification, it is never dropped.
fn text_headers(raw: Vec<(String, Vec<u8>)>) -> (Vec<(String, String)>, Option<String>) {
    let mut unreadable = None;
    let headers = raw
        .into_iter()
        .map(|(name, value)| {
            let text = match String::from_utf8(value) {
                Ok(text) => text,
                Err(e) => {
                    if name.starts_with(':') && unreadable.is_none() {
                        unreadable = Some(name.clone());
                    }
                    String::from_utf8_lossy(e.as_bytes()).into_owned()
                }
            };
            (name, text)
        })
        .collect();
    (headers, unreadable)
}

/// A local reply carrying a JSON body; a host error leaves the request paused, which Envoy
/// resets: closed, not open.
fn respond(reply: &decision::LocalReply) -> Action {
    let headers: Vec<(&str, &str)> = reply
        .headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    if let Err(status) = hostcalls::send_http_response(
        u32::from(reply.status),
        headers,
        Some(reply.body.as_bytes()),
    ) {
        log(
            LogLevel::Error,
            &format!("meshguard: local reply failed: {status:?}"),
        );
    }
    Action::Pause
}

impl Http {
    fn apply(&self, verdict: &Verdict) -> Action {
        let record = &verdict.record;
        {
            let mut metrics = self.metrics.borrow_mut();
            metrics.increment(REQUESTS_TOTAL);
            metrics.increment(&record.metric_name());
        }
        let line = serde_json::to_string(record).unwrap_or_default();
        log(LogLevel::Info, &format!("meshguard: decision {line}"));
        let _ = hostcalls::set_property(
            vec!["meshguard_decision"],
            Some(record.header_value().as_bytes()),
        );
        if !record.user.is_empty() {
            let _ = hostcalls::set_property(vec!["meshguard_user"], Some(record.user.as_bytes()));
        }
        match &verdict.action {
            decision::Action::Respond(reply) => respond(reply),
            decision::Action::Continue {
                remove_headers,
                add_headers,
            } => {
                for name in remove_headers {
                    if hostcalls::set_map_value(MapType::HttpRequestHeaders, name, None).is_err() {
                        return respond(&decision::response::bad_request(
                            "identity headers could not be removed",
                        ));
                    }
                }
                for (name, value) in add_headers {
                    if hostcalls::add_map_value(MapType::HttpRequestHeaders, name, value).is_err() {
                        return respond(&decision::response::bad_request(
                            "identity headers could not be added",
                        ));
                    }
                }
                Action::Continue
            }
        }
    }
}

impl HttpContext for Http {
    fn on_http_request_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        let Some(engine) = self.engine.clone() else {
            log(
                LogLevel::Error,
                "meshguard: not configured; refusing the request",
            );
            return respond(&decision::LocalReply {
                status: 503,
                headers: vec![("content-type".into(), "application/json".into())],
                body: r#"{"code":503,"reason":"not_configured"}"#.into(),
            });
        };
        // Bytes, not strings: Envoy passes header values that are not UTF-8 (obs-text), and
        // the SDK's string variant panics on them, which would take the plugin down.
        let headers = match hostcalls::get_map_bytes(MapType::HttpRequestHeaders) {
            Ok(raw) => match text_headers(raw) {
                (headers, None) => headers,
                (headers, Some(name)) => {
                    let message = format!("request header {name} is not UTF-8");
                    return self.apply(&engine.reject(&headers, &message));
                }
            },
            Err(status) => {
                log(
                    LogLevel::Error,
                    &format!("meshguard: request headers unreadable: {status:?}"),
                );
                return respond(&decision::response::bad_request(
                    "request headers unreadable",
                ));
            }
        };
        let now = hostcalls::get_current_time()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_secs());
        let request = HttpRequest {
            method: header(&headers, ":method"),
            target: header(&headers, ":path"),
            headers: &headers,
            proxy_namespace: &self.proxy_namespace,
        };
        let verdict = engine.decide(&request, now);
        self.apply(&verdict)
    }
}
