//! Host calls whose SDK wrappers panic on an unexpected status (a trap takes the whole plugin
//! down). These declare the same imports and turn any status into a `Result`; the host's
//! answer is read as a plain integer, never as an enum it might not fit.

use proxy_wasm::types::LogLevel;

#[link(wasm_import_module = "env")]
extern "C" {
    fn proxy_get_log_level(return_level: *mut u32) -> u32;
    fn proxy_get_current_time_nanoseconds(return_time: *mut u64) -> u32;
    fn proxy_continue_stream(stream_type: u32) -> u32;
    fn proxy_send_local_response(
        status_code: u32,
        status_code_details_data: *const u8,
        status_code_details_size: usize,
        body_data: *const u8,
        body_size: usize,
        headers_data: *const u8,
        headers_size: usize,
        grpc_status: i32,
    ) -> u32;
    fn proxy_get_header_map_pairs(
        map_type: u32,
        return_data: *mut *mut u8,
        return_size: *mut usize,
    ) -> u32;
    fn proxy_call_foreign_function(
        function_name_data: *const u8,
        function_name_size: usize,
        arguments_data: *const u8,
        arguments_size: usize,
        results_data: *mut *mut u8,
        results_size: *mut usize,
    ) -> u32;
}

/// `MapType::HttpRequestHeaders` in the ABI.
const HTTP_REQUEST_HEADERS: u32 = 0;

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

/// The host's wall clock in nanoseconds since the Unix epoch; `None` when the host cannot say
/// (the SDK's `get_current_time` panics then).
pub(crate) fn current_time_nanos() -> Option<u64> {
    let mut nanos = 0;
    // SAFETY: the host writes one u64 to the address given, which is a live local.
    let status = unsafe { proxy_get_current_time_nanoseconds(&mut nanos) };
    (status == 0).then_some(nanos)
}

/// Resumes the HTTP request of the context in effect; the ABI status on failure.
pub(crate) fn resume_http_request() -> Result<(), u32> {
    // SAFETY: takes and returns plain integers.
    match unsafe { proxy_continue_stream(HTTP_REQUEST_STREAM) } {
        0 => Ok(()),
        status => Err(status),
    }
}

/// Serialises header pairs as the host reads them (the layout [`header_pairs`] reads).
fn serialize_pairs(pairs: &[(String, String)]) -> Vec<u8> {
    let size = 4 + pairs
        .iter()
        .map(|(n, v)| 8 + n.len() + v.len() + 2)
        .sum::<usize>();
    let mut bytes = Vec::with_capacity(size);
    let len = |n: usize| u32::try_from(n).unwrap_or(u32::MAX).to_le_bytes();
    bytes.extend_from_slice(&len(pairs.len()));
    for (name, value) in pairs {
        bytes.extend_from_slice(&len(name.len()));
        bytes.extend_from_slice(&len(value.len()));
    }
    for (name, value) in pairs {
        bytes.extend_from_slice(name.as_bytes());
        bytes.push(0);
        bytes.extend_from_slice(value.as_bytes());
        bytes.push(0);
    }
    bytes
}

/// Answers the stream in effect locally (`proxy_send_local_response`). `grpc_status`, for a
/// gRPC call, is the `grpc-status` the host answers with (the SDK's wrapper always passes
/// "none", leaving Envoy to derive it from the HTTP status: 400 would become `INTERNAL`).
pub(crate) fn send_local_response(
    status: u32,
    headers: &[(String, String)],
    body: &[u8],
    grpc_status: Option<u32>,
) -> Result<(), u32> {
    let serialized = serialize_pairs(headers);
    let grpc = grpc_status
        .and_then(|s| i32::try_from(s).ok())
        .unwrap_or(-1);
    // SAFETY: every pointer and length describes a live local buffer the host only reads.
    let status = unsafe {
        proxy_send_local_response(
            status,
            std::ptr::null(),
            0,
            body.as_ptr(),
            body.len(),
            serialized.as_ptr(),
            serialized.len(),
            grpc,
        )
    };
    match status {
        0 => Ok(()),
        status => Err(status),
    }
}

/// The request headers as the host serialises them (`proxy_get_header_map_pairs`): one buffer,
/// read in place by [`header_pairs`]. The SDK's reader copies every name and value into its
/// own allocation and panics on a name that is not UTF-8 or a short buffer; this one does
/// neither.
pub(crate) fn request_header_bytes() -> Result<Vec<u8>, u32> {
    let mut data: *mut u8 = std::ptr::null_mut();
    let mut size: usize = 0;
    // SAFETY: the host writes a pointer and a length to the live locals given.
    let status = unsafe { proxy_get_header_map_pairs(HTTP_REQUEST_HEADERS, &mut data, &mut size) };
    if status != 0 {
        return Err(status);
    }
    if data.is_null() {
        return Ok(Vec::new());
    }
    // SAFETY: the host allocated `size` bytes for us through `proxy_on_memory_allocate`
    // (the SDK's, a `Vec<u8>` of that capacity given up with `forget`), so the buffer is ours
    // to own and free, exactly as the SDK's own `get_map_bytes` takes it.
    Ok(unsafe { Vec::from_raw_parts(data, size, size) })
}

/// Calls the host's foreign function `name` with `arguments`: its result, or the ABI status
/// (`1`, NotFound, when the host has no such function). The SDK's wrapper panics on a status
/// it does not expect.
pub(crate) fn call_foreign_function(name: &str, arguments: &[u8]) -> Result<Vec<u8>, u32> {
    let mut data: *mut u8 = std::ptr::null_mut();
    let mut size: usize = 0;
    // SAFETY: the name and arguments are live buffers the host only reads; the host writes a
    // pointer and a length to the live locals given.
    let status = unsafe {
        proxy_call_foreign_function(
            name.as_ptr(),
            name.len(),
            arguments.as_ptr(),
            arguments.len(),
            &mut data,
            &mut size,
        )
    };
    if status != 0 {
        return Err(status);
    }
    if data.is_null() {
        return Ok(Vec::new());
    }
    // SAFETY: as for `request_header_bytes`: the host allocated `size` bytes through
    // `proxy_on_memory_allocate`, ours to own and free.
    Ok(unsafe { Vec::from_raw_parts(data, size, size) })
}

/// The (name, value) pairs of a serialised header map: a little-endian u32 count, then a
/// (name length, value length) u32 pair per header, then each name and value followed by a
/// NUL. `None` when the buffer is shorter than it says.
pub(crate) fn header_pairs(bytes: &[u8]) -> Option<Vec<(&[u8], &[u8])>> {
    if bytes.is_empty() {
        return Some(Vec::new());
    }
    let word = |at: usize| -> Option<usize> {
        let raw: [u8; 4] = bytes.get(at..at.checked_add(4)?)?.try_into().ok()?;
        usize::try_from(u32::from_le_bytes(raw)).ok()
    };
    let count = word(0)?;
    let mut data = count.checked_mul(8)?.checked_add(4)?;
    // Each header takes at least 10 bytes (two lengths, two NULs): a count the buffer cannot
    // hold reserves no more than the buffer could.
    let mut pairs = Vec::with_capacity(count.min(bytes.len() / 10));
    let mut take = |length: usize| -> Option<&[u8]> {
        let end = data.checked_add(length)?;
        let field = bytes.get(data..end)?;
        data = end.checked_add(1)?;
        Some(field)
    };
    for n in 0..count {
        let name = take(word(4 + n * 8)?)?;
        let value = take(word(8 + n * 8)?)?;
        pairs.push((name, value));
    }
    Some(pairs)
}
