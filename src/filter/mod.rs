//! The proxy-wasm adapter: the only code that names `proxy_wasm`. It reads what the host
//! offers (configuration, headers, time, node metadata), hands it to the core
//! [`Engine`](crate::decision::Engine), and carries out the verdict. Host errors become log
//! lines and fail-closed answers, never panics: a trap would take the plugin down.

mod abi;
mod http;
mod metrics;
mod root;
mod tokens;
mod worker;

use proxy_wasm::hostcalls;
use proxy_wasm::traits::RootContext;
use proxy_wasm::types::LogLevel;

/// Logs at a level; a host that cannot log has nothing better to tell.
pub(crate) fn log(level: LogLevel, message: &str) {
    let _ = hostcalls::log(level, message);
}

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Info);
    // The release profile aborts on panic; say why before the VM goes.
    std::panic::set_hook(Box::new(|info| {
        log(LogLevel::Critical, &format!("meshguard: panic: {info}"));
    }));
    proxy_wasm::set_root_context(|context_id| -> Box<dyn RootContext> {
        Box::new(root::Root::new(context_id))
    });
}}
