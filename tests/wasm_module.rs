//! The built filter module imports only what Envoy's proxy-wasm host provides.
//!
//! An import the host lacks makes Envoy refuse the module at load time, in production. The
//! allowed set is what proxy-wasm-cpp-host (`src/wasm.cc`, `WasmBase::registerCallbacks`)
//! registers for ABI 0.2.1: the `env.proxy_*` host functions, and twelve WASI calls under
//! `wasi_snapshot_preview1`.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

/// WASI calls Envoy's host implements.
const WASI: [&str; 12] = [
    "fd_write",
    "fd_read",
    "fd_seek",
    "fd_close",
    "fd_fdstat_get",
    "environ_get",
    "environ_sizes_get",
    "args_get",
    "args_sizes_get",
    "clock_time_get",
    "random_get",
    "proc_exit",
];

/// proxy-wasm ABI 0.2.1 host functions, without the `proxy_` prefix.
const PROXY: [&str; 39] = [
    "log",
    "get_log_level",
    "get_status",
    "set_property",
    "get_property",
    "send_local_response",
    "get_shared_data",
    "set_shared_data",
    "register_shared_queue",
    "resolve_shared_queue",
    "dequeue_shared_queue",
    "enqueue_shared_queue",
    "get_header_map_value",
    "add_header_map_value",
    "replace_header_map_value",
    "remove_header_map_value",
    "get_header_map_pairs",
    "set_header_map_pairs",
    "get_header_map_size",
    "get_buffer_status",
    "get_buffer_bytes",
    "set_buffer_bytes",
    "http_call",
    "grpc_call",
    "grpc_stream",
    "grpc_close",
    "grpc_cancel",
    "grpc_send",
    "set_tick_period_milliseconds",
    "get_current_time_nanoseconds",
    "define_metric",
    "increment_metric",
    "record_metric",
    "get_metric",
    "set_effective_context",
    "done",
    "call_foreign_function",
    "continue_stream",
    "close_stream",
];

/// The imports of `module` that Envoy's host does not provide, as `module.name`.
fn foreign_imports(module: &[u8]) -> Vec<String> {
    let mut foreign = Vec::new();
    for payload in wasmparser::Parser::new(0).parse_all(module) {
        if let wasmparser::Payload::ImportSection(reader) = payload.expect("valid wasm") {
            for import in reader {
                let import = import.expect("valid import");
                let allowed = match import.module {
                    "wasi_snapshot_preview1" | "wasi_unstable" => WASI.contains(&import.name),
                    "env" => import
                        .name
                        .strip_prefix("proxy_")
                        .is_some_and(|name| PROXY.contains(&name)),
                    _ => false,
                };
                if !allowed {
                    foreign.push(format!("{}.{}", import.module, import.name));
                }
            }
        }
    }
    foreign
}

#[test]
fn the_import_check_flags_what_envoy_lacks() {
    let module = wat::parse_str(
        r#"(module
             (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))
             (import "wasi_snapshot_preview1" "path_open" (func (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
             (import "env" "proxy_log" (func (param i32 i32 i32) (result i32)))
             (import "env" "proxy_continue_request" (func (result i32)))
             (import "env" "memcpy" (func (param i32 i32 i32) (result i32))))"#,
    )
    .unwrap();
    assert_eq!(
        foreign_imports(&module),
        [
            "wasi_snapshot_preview1.path_open",
            "env.proxy_continue_request",
            "env.memcpy"
        ]
    );
}

#[test]
fn the_built_filter_imports_only_what_envoy_provides() {
    let module = std::fs::read(common::wasm::built_module()).unwrap();
    assert_eq!(foreign_imports(&module), Vec::<String>::new());
}
