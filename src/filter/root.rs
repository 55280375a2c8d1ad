//! The root context: configuration, compiled once per `on_configure`.

use std::cell::RefCell;
use std::rc::Rc;

use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{BufferType, ContextType, LogLevel};

use super::http::Http;
use super::log;
use super::metrics::Metrics;
use crate::config::PluginConfig;
use crate::decision::Engine;

#[derive(Default)]
pub(crate) struct Root {
    engine: Option<Rc<Engine>>,
    metrics: Rc<RefCell<Metrics>>,
    /// The workload namespace from node metadata (Istio sets `NAMESPACE`).
    proxy_namespace: Rc<str>,
}

impl Context for Root {}

fn node_namespace() -> String {
    hostcalls::get_property(vec!["node", "metadata", "NAMESPACE"])
        .ok()
        .flatten()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .unwrap_or_default()
}

impl RootContext for Root {
    fn on_vm_start(&mut self, _vm_configuration_size: usize) -> bool {
        true
    }

    /// Parses and compiles the configuration. On any error: a Critical line naming the field,
    /// and `false`, so the host refuses this configuration; an engine compiled from an earlier
    /// good configuration stays in force.
    fn on_configure(&mut self, _plugin_configuration_size: usize) -> bool {
        self.metrics.borrow_mut().define_known();
        let bytes = match hostcalls::get_buffer(BufferType::PluginConfiguration, 0, usize::MAX) {
            Ok(Some(bytes)) => bytes,
            Ok(None) => Vec::new(),
            Err(status) => {
                log(
                    LogLevel::Critical,
                    &format!("meshguard: configuration unreadable: {status:?}"),
                );
                return false;
            }
        };
        let compiled = std::str::from_utf8(&bytes)
            .map_err(|e| format!("configuration is not UTF-8: {e}"))
            .and_then(|text| PluginConfig::from_json(text).map_err(|e| e.to_string()))
            .and_then(|config| config.engine().map_err(|e| e.to_string()));
        match compiled {
            Ok(engine) => {
                for warning in &engine.warnings {
                    log(LogLevel::Warn, &format!("meshguard: bundle: {warning}"));
                }
                log(
                    LogLevel::Info,
                    &format!(
                        "meshguard: configured: {} issuer(s), {} binding(s), bundle revision {}, mode {:?}",
                        engine.authenticator.issuers().len(),
                        engine.policy.authorizer.binding_count(),
                        engine.policy.revision,
                        engine.mode
                    ),
                );
                self.engine = Some(Rc::new(engine));
                self.proxy_namespace = Rc::from(node_namespace());
                true
            }
            Err(message) => {
                self.metrics
                    .borrow_mut()
                    .increment("meshguard.config.rejected");
                let kept = if self.engine.is_some() {
                    "; the previous configuration stays in force"
                } else {
                    ""
                };
                log(
                    LogLevel::Critical,
                    &format!("meshguard: configuration rejected: {message}{kept}"),
                );
                false
            }
        }
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Http {
            engine: self.engine.clone(),
            metrics: Rc::clone(&self.metrics),
            proxy_namespace: Rc::clone(&self.proxy_namespace),
        }))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}
