//! Host calls whose SDK wrappers panic on an unexpected status (a trap takes the whole plugin
//! down). These declare the same imports and turn any status into a `Result`; the host's
//! answer is read as a plain integer, never as an enum it might not fit.

use proxy_wasm::types::LogLevel;

#[link(wasm_import_module = "env")]
extern "C" {
    fn proxy_get_log_level(return_level: *mut u32) -> u32;
    fn proxy_continue_stream(stream_type: u32) -> u32;
}

/// `StreamType::HttpRequest` in the ABI.
const HTTP_REQUEST_STREAM: u32 = 0;

/// The host's log level (`proxy_get_log_level`), as its ABI number.
fn host_log_level() -> Option<u32> {
    let mut level = 0;
    // SAFETY: the host writes one u32 to the address given, which is a live local.
    let status = unsafe { proxy_get_log_level(&mut level) };
    (status == 0).then_some(level)
}

/// Whether the host prints lines at `level` (Envoy's `wasm` component log level); when the
/// host cannot say, it does.
pub(crate) fn log_enabled(level: LogLevel) -> bool {
    host_log_level().is_none_or(|host| host <= level as u32)
}

/// Resumes the HTTP request of the context in effect; the ABI status on failure.
pub(crate) fn resume_http_request() -> Result<(), u32> {
    // SAFETY: takes and returns plain integers.
    match unsafe { proxy_continue_stream(HTTP_REQUEST_STREAM) } {
        0 => Ok(()),
        status => Err(status),
    }
}
