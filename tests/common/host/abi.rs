//! The proxy-wasm ABI 0.2.1 host functions (module `env`), over [`HostState`].

use wasmtime::{Caller, Extern, Linker, Memory};

use super::{BufferType, HostState, HttpCall, LocalReply, MapType, Metric, Status};

type C<'a> = Caller<'a, HostState>;
type R = wasmtime::Result<i32>;

fn memory(caller: &mut C<'_>) -> wasmtime::Result<Memory> {
    match caller.get_export("memory") {
        Some(Extern::Memory(memory)) => Ok(memory),
        _ => wasmtime::bail!("the module exports no memory"),
    }
}

/// Bytes at `ptr..ptr+len` of guest memory; `None` when out of bounds.
pub(super) fn read(caller: &mut C<'_>, ptr: i32, len: i32) -> wasmtime::Result<Option<Vec<u8>>> {
    let memory = memory(caller)?;
    let (ptr, len) = (ptr as u32 as usize, len as u32 as usize);
    Ok(memory
        .data(&*caller)
        .get(ptr..ptr.saturating_add(len))
        .map(<[u8]>::to_vec))
}

fn read_str(caller: &mut C<'_>, ptr: i32, len: i32) -> wasmtime::Result<Option<String>> {
    Ok(read(caller, ptr, len)?.and_then(|b| String::from_utf8(b).ok()))
}

/// Writes `bytes` at `ptr`; false when out of bounds.
pub(super) fn write(caller: &mut C<'_>, ptr: i32, bytes: &[u8]) -> wasmtime::Result<bool> {
    let memory = memory(caller)?;
    let ptr = ptr as u32 as usize;
    Ok(
        match memory
            .data_mut(&mut *caller)
            .get_mut(ptr..ptr.saturating_add(bytes.len()))
        {
            Some(slot) => {
                slot.copy_from_slice(bytes);
                true
            }
            None => false,
        },
    )
}

pub(super) fn write_u32(caller: &mut C<'_>, ptr: i32, value: u32) -> wasmtime::Result<bool> {
    write(caller, ptr, &value.to_le_bytes())
}

/// Stores a result: `Ok`, or `BadArgument` when the pointer is outside memory.
fn put(caller: &mut C<'_>, ptr: i32, bytes: &[u8]) -> R {
    Ok(if write(caller, ptr, bytes)? {
        Status::Ok as i32
    } else {
        Status::BadArgument as i32
    })
}

fn put_u32(caller: &mut C<'_>, ptr: i32, value: u32) -> R {
    put(caller, ptr, &value.to_le_bytes())
}

/// Updates metric `id` unless it is of kind `refused` (ABI: 0 counter, 1 gauge, 2 histogram).
fn update_metric(caller: &mut C<'_>, id: i32, refused: i32, update: impl FnOnce(&mut Metric)) -> R {
    match caller.data_mut().metrics.get_mut(id as u32 as usize) {
        Some(metric) if metric.kind != refused => {
            update(metric);
            Ok(Status::Ok as i32)
        }
        Some(_) => Ok(Status::BadArgument as i32),
        None => Ok(Status::NotFound as i32),
    }
}

/// The index of the first item `matches` accepts, pushing `make()` when there is none.
fn index_or_push<T>(
    items: &mut Vec<T>,
    matches: impl Fn(&T) -> bool,
    make: impl FnOnce() -> T,
) -> usize {
    match items.iter().position(matches) {
        Some(i) => i,
        None => {
            items.push(make());
            items.len() - 1
        }
    }
}

/// Copies `bytes` into memory the module allocates (`proxy_on_memory_allocate`) and stores
/// the address and size at `return_data` / `return_size`, as the host does for every
/// variable-size result.
fn give(caller: &mut C<'_>, bytes: &[u8], return_data: i32, return_size: i32) -> R {
    let allocate = match caller.get_export("proxy_on_memory_allocate") {
        Some(Extern::Func(f)) => f.typed::<i32, i32>(&*caller)?,
        _ => wasmtime::bail!("the module exports no proxy_on_memory_allocate"),
    };
    let ptr = if bytes.is_empty() {
        0
    } else {
        allocate.call(&mut *caller, bytes.len() as i32)?
    };
    if !bytes.is_empty() && (ptr == 0 || !write(caller, ptr, bytes)?) {
        return Ok(Status::InternalFailure as i32);
    }
    if !write_u32(caller, return_data, ptr as u32)?
        || !write_u32(caller, return_size, bytes.len() as u32)?
    {
        return Ok(Status::BadArgument as i32);
    }
    Ok(Status::Ok as i32)
}

/// Header pairs in the ABI's wire form: count, (key length, value length)*, then each key
/// and value followed by a NUL.
pub(super) fn serialize_pairs<N: AsRef<[u8]>, V: AsRef<[u8]>>(pairs: &[(N, V)]) -> Vec<u8> {
    let mut out = (pairs.len() as u32).to_le_bytes().to_vec();
    for (name, value) in pairs {
        out.extend_from_slice(&(name.as_ref().len() as u32).to_le_bytes());
        out.extend_from_slice(&(value.as_ref().len() as u32).to_le_bytes());
    }
    for (name, value) in pairs {
        out.extend_from_slice(name.as_ref());
        out.push(0);
        out.extend_from_slice(value.as_ref());
        out.push(0);
    }
    out
}

/// The inverse of [`serialize_pairs`]; `None` when malformed.
pub(super) fn deserialize_pairs(bytes: &[u8]) -> Option<Vec<(String, String)>> {
    if bytes.is_empty() {
        return Some(Vec::new());
    }
    let u32_at = |at: usize| -> Option<usize> {
        Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?) as usize)
    };
    let count = u32_at(0)?;
    let mut sizes = Vec::with_capacity(count.min(1024));
    for i in 0..count {
        sizes.push((u32_at(4 + i * 8)?, u32_at(8 + i * 8)?));
    }
    let mut at = 4 + count * 8;
    let mut pairs = Vec::with_capacity(sizes.len());
    for (key_len, value_len) in sizes {
        let key = std::str::from_utf8(bytes.get(at..at + key_len)?).ok()?;
        at += key_len;
        if bytes.get(at) != Some(&0) {
            return None;
        }
        at += 1;
        let value = std::str::from_utf8(bytes.get(at..at + value_len)?).ok()?;
        at += value_len;
        if bytes.get(at) != Some(&0) {
            return None;
        }
        at += 1;
        pairs.push((key.to_owned(), value.to_owned()));
    }
    Some(pairs)
}

fn map_of(_caller: &mut C<'_>, map: i32) -> Option<MapType> {
    MapType::from_abi(map)
}

/// The property path: segments separated by NUL.
fn property_path(bytes: &[u8]) -> Vec<String> {
    bytes
        .split(|b| *b == 0)
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect()
}

pub(super) fn define(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    const ENV: &str = "env";

    linker.func_wrap(
        ENV,
        "proxy_log",
        |mut c: C<'_>, level: i32, ptr: i32, len: i32| -> R {
            c.data_mut().calls.push("proxy_log");
            let Some(message) = read_str(&mut c, ptr, len)? else {
                return Ok(Status::BadArgument as i32);
            };
            if !(0..=5).contains(&level) {
                return Ok(Status::BadArgument as i32);
            }
            c.data_mut().logs.push((level, message));
            Ok(Status::Ok as i32)
        },
    )?;

    linker.func_wrap(ENV, "proxy_get_log_level", |mut c: C<'_>, ret: i32| -> R {
        c.data_mut().calls.push("proxy_get_log_level");
        let level = c.data().log_level as u32;
        put_u32(&mut c, ret, level)
    })?;

    linker.func_wrap(
        ENV,
        "proxy_get_status",
        |mut c: C<'_>, ret_code: i32, ret_data: i32, ret_size: i32| -> R {
            c.data_mut().calls.push("proxy_get_status");
            let (code, message) = c.data().call_status.clone();
            if !write_u32(&mut c, ret_code, code)? {
                return Ok(Status::BadArgument as i32);
            }
            give(&mut c, message.as_bytes(), ret_data, ret_size)
        },
    )?;

    linker.func_wrap(
        ENV,
        "proxy_get_current_time_nanoseconds",
        |mut c: C<'_>, ret: i32| -> R {
            c.data_mut()
                .calls
                .push("proxy_get_current_time_nanoseconds");
            if c.data().clock_fails {
                return Ok(Status::InternalFailure as i32);
            }
            let now = c.data().now_nanos;
            put(&mut c, ret, &now.to_le_bytes())
        },
    )?;

    linker.func_wrap(
        ENV,
        "proxy_set_tick_period_milliseconds",
        |mut c: C<'_>, period: i32| -> R {
            c.data_mut()
                .calls
                .push("proxy_set_tick_period_milliseconds");
            c.data_mut().tick_period_ms = period as u32;
            Ok(Status::Ok as i32)
        },
    )?;

    // Properties.
    linker.func_wrap(
        ENV,
        "proxy_get_property",
        |mut c: C<'_>, ptr: i32, len: i32, ret_data: i32, ret_size: i32| -> R {
            c.data_mut().calls.push("proxy_get_property");
            let Some(path) = read(&mut c, ptr, len)? else {
                return Ok(Status::BadArgument as i32);
            };
            let path = property_path(&path);
            let Some(value) = c.data().properties.get(&path).cloned() else {
                return Ok(Status::NotFound as i32);
            };
            give(&mut c, &value, ret_data, ret_size)
        },
    )?;

    linker.func_wrap(
        ENV,
        "proxy_set_property",
        |mut c: C<'_>, ptr: i32, len: i32, value_ptr: i32, value_len: i32| -> R {
            c.data_mut().calls.push("proxy_set_property");
            let (Some(path), Some(value)) =
                (read(&mut c, ptr, len)?, read(&mut c, value_ptr, value_len)?)
            else {
                return Ok(Status::BadArgument as i32);
            };
            c.data_mut().properties.insert(property_path(&path), value);
            Ok(Status::Ok as i32)
        },
    )?;

    // Local replies.
    linker.func_wrap(
        ENV,
        "proxy_send_local_response",
        |mut c: C<'_>,
         status: i32,
         details_ptr: i32,
         details_len: i32,
         body_ptr: i32,
         body_len: i32,
         headers_ptr: i32,
         headers_len: i32,
         grpc_status: i32|
         -> R {
            c.data_mut().calls.push("proxy_send_local_response");
            let details = read_str(&mut c, details_ptr, details_len)?;
            let body = read(&mut c, body_ptr, body_len)?;
            let headers =
                read(&mut c, headers_ptr, headers_len)?.and_then(|bytes| deserialize_pairs(&bytes));
            let (Some(details), Some(body), Some(headers)) = (details, body, headers) else {
                return Ok(Status::BadArgument as i32);
            };
            if !(100..=599).contains(&status) {
                return Ok(Status::BadArgument as i32);
            }
            let stream = c.data_mut().stream_mut();
            if stream.local_reply.is_some() {
                // Envoy sends one local reply per stream.
                return Ok(Status::BadArgument as i32);
            }
            stream.local_reply = Some(LocalReply {
                status: status as u32,
                details,
                body: String::from_utf8_lossy(&body).into_owned(),
                headers,
                grpc_status,
            });
            Ok(Status::Ok as i32)
        },
    )?;

    // Header maps.
    linker.func_wrap(
        ENV,
        "proxy_get_header_map_pairs",
        |mut c: C<'_>, map: i32, ret_data: i32, ret_size: i32| -> R {
            c.data_mut().calls.push("proxy_get_header_map_pairs");
            let Some(map) = map_of(&mut c, map) else {
                return Ok(Status::BadArgument as i32);
            };
            let bytes = serialize_pairs(&c.data().wire_map(map));
            give(&mut c, &bytes, ret_data, ret_size)
        },
    )?;

    linker.func_wrap(
        ENV,
        "proxy_set_header_map_pairs",
        |mut c: C<'_>, map: i32, ptr: i32, len: i32| -> R {
            c.data_mut().calls.push("proxy_set_header_map_pairs");
            let Some(map) = map_of(&mut c, map) else {
                return Ok(Status::BadArgument as i32);
            };
            let Some(pairs) = read(&mut c, ptr, len)?.and_then(|b| deserialize_pairs(&b)) else {
                return Ok(Status::BadArgument as i32);
            };
            let pairs = pairs
                .into_iter()
                .map(|(n, v)| (n.to_ascii_lowercase(), v))
                .collect();
            *c.data_mut().map_mut(map) = pairs;
            Ok(Status::Ok as i32)
        },
    )?;

    linker.func_wrap(
        ENV,
        "proxy_get_header_map_size",
        |mut c: C<'_>, map: i32, ret: i32| -> R {
            c.data_mut().calls.push("proxy_get_header_map_size");
            let Some(map) = map_of(&mut c, map) else {
                return Ok(Status::BadArgument as i32);
            };
            let size = serialize_pairs(&c.data().wire_map(map)).len() as u32;
            put_u32(&mut c, ret, size)
        },
    )?;

    linker.func_wrap(
        ENV,
        "proxy_get_header_map_value",
        |mut c: C<'_>, map: i32, key_ptr: i32, key_len: i32, ret_data: i32, ret_size: i32| -> R {
            c.data_mut().calls.push("proxy_get_header_map_value");
            let (Some(map), Some(key)) = (map_of(&mut c, map), read_str(&mut c, key_ptr, key_len)?)
            else {
                return Ok(Status::BadArgument as i32);
            };
            // Envoy joins repeated headers with a comma when asked for one value.
            let values = c.data().header(map, &key).join(",");
            if c.data().header(map, &key).is_empty() {
                return Ok(Status::NotFound as i32);
            }
            give(&mut c, values.as_bytes(), ret_data, ret_size)
        },
    )?;

    linker.func_wrap(
        ENV,
        "proxy_add_header_map_value",
        |mut c: C<'_>, map: i32, key_ptr: i32, key_len: i32, value_ptr: i32, value_len: i32| -> R {
            c.data_mut().calls.push("proxy_add_header_map_value");
            let (Some(map), Some(key), Some(value)) = (
                map_of(&mut c, map),
                read_str(&mut c, key_ptr, key_len)?,
                read_str(&mut c, value_ptr, value_len)?,
            ) else {
                return Ok(Status::BadArgument as i32);
            };
            c.data_mut()
                .map_mut(map)
                .push((key.to_ascii_lowercase(), value));
            Ok(Status::Ok as i32)
        },
    )?;

    linker.func_wrap(
        ENV,
        "proxy_replace_header_map_value",
        |mut c: C<'_>, map: i32, key_ptr: i32, key_len: i32, value_ptr: i32, value_len: i32| -> R {
            c.data_mut().calls.push("proxy_replace_header_map_value");
            let (Some(map), Some(key), Some(value)) = (
                map_of(&mut c, map),
                read_str(&mut c, key_ptr, key_len)?,
                read_str(&mut c, value_ptr, value_len)?,
            ) else {
                return Ok(Status::BadArgument as i32);
            };
            let key = key.to_ascii_lowercase();
            let pairs = c.data_mut().map_mut(map);
            // Envoy's header maps ignore case.
            pairs.retain(|(n, _)| !n.eq_ignore_ascii_case(&key));
            pairs.push((key, value));
            Ok(Status::Ok as i32)
        },
    )?;

    linker.func_wrap(
        ENV,
        "proxy_remove_header_map_value",
        |mut c: C<'_>, map: i32, key_ptr: i32, key_len: i32| -> R {
            c.data_mut().calls.push("proxy_remove_header_map_value");
            let (Some(map), Some(key)) = (map_of(&mut c, map), read_str(&mut c, key_ptr, key_len)?)
            else {
                return Ok(Status::BadArgument as i32);
            };
            let key = key.to_ascii_lowercase();
            if map == MapType::RequestHeaders {
                c.data_mut()
                    .stream_mut()
                    .binary_request_headers
                    .retain(|(n, _)| !n.eq_ignore_ascii_case(&key));
            }
            // Envoy's header maps ignore case.
            c.data_mut()
                .map_mut(map)
                .retain(|(n, _)| !n.eq_ignore_ascii_case(&key));
            Ok(Status::Ok as i32)
        },
    )?;

    // Buffers.
    linker.func_wrap(
        ENV,
        "proxy_get_buffer_bytes",
        |mut c: C<'_>, buffer: i32, start: i32, max: i32, ret_data: i32, ret_size: i32| -> R {
            c.data_mut().calls.push("proxy_get_buffer_bytes");
            let Some(buffer) = BufferType::from_abi(buffer) else {
                return Ok(Status::BadArgument as i32);
            };
            let bytes = match buffer {
                BufferType::PluginConfiguration => c.data().plugin_configuration.clone(),
                BufferType::VmConfiguration => c.data().vm_configuration.clone(),
                other => match c.data().buffers.get(&other) {
                    Some(bytes) => bytes.clone(),
                    None => return Ok(Status::NotFound as i32),
                },
            };
            if bytes.is_empty() {
                return Ok(Status::NotFound as i32);
            }
            let start = start as u32 as usize;
            if start > bytes.len() {
                return Ok(Status::BadArgument as i32);
            }
            let end = start.saturating_add(max as u32 as usize).min(bytes.len());
            give(&mut c, &bytes[start..end], ret_data, ret_size)
        },
    )?;

    linker.func_wrap(
        ENV,
        "proxy_get_buffer_status",
        |mut c: C<'_>, buffer: i32, ret_len: i32, ret_flags: i32| -> R {
            c.data_mut().calls.push("proxy_get_buffer_status");
            let Some(buffer) = BufferType::from_abi(buffer) else {
                return Ok(Status::BadArgument as i32);
            };
            let len = match buffer {
                BufferType::PluginConfiguration => c.data().plugin_configuration.len(),
                BufferType::VmConfiguration => c.data().vm_configuration.len(),
                other => match c.data().buffers.get(&other) {
                    Some(bytes) => bytes.len(),
                    None => return Ok(Status::NotFound as i32),
                },
            };
            let ok = write_u32(&mut c, ret_len, len as u32)? && write_u32(&mut c, ret_flags, 0)?;
            Ok(if ok { 0 } else { 2 })
        },
    )?;

    linker.func_wrap(
        ENV,
        "proxy_set_buffer_bytes",
        |mut c: C<'_>, buffer: i32, start: i32, size: i32, ptr: i32, len: i32| -> R {
            c.data_mut().calls.push("proxy_set_buffer_bytes");
            let (Some(buffer), Some(data)) =
                (BufferType::from_abi(buffer), read(&mut c, ptr, len)?)
            else {
                return Ok(Status::BadArgument as i32);
            };
            if matches!(
                buffer,
                BufferType::PluginConfiguration | BufferType::VmConfiguration
            ) {
                return Ok(Status::BadArgument as i32);
            }
            let current = c.data_mut().buffers.entry(buffer).or_default();
            let start = (start as u32 as usize).min(current.len());
            let end = start
                .saturating_add(size as u32 as usize)
                .min(current.len());
            current.splice(start..end, data);
            Ok(Status::Ok as i32)
        },
    )?;

    // Metrics.
    linker.func_wrap(
        ENV,
        "proxy_define_metric",
        |mut c: C<'_>, kind: i32, ptr: i32, len: i32, ret: i32| -> R {
            c.data_mut().calls.push("proxy_define_metric");
            let Some(name) = read_str(&mut c, ptr, len)? else {
                return Ok(Status::BadArgument as i32);
            };
            if !(0..=2).contains(&kind) {
                return Ok(Status::BadArgument as i32);
            }
            let metrics = &mut c.data_mut().metrics;
            let id = index_or_push(
                metrics,
                |m| m.name == name,
                || Metric {
                    name: name.clone(),
                    kind,
                    value: 0,
                },
            );
            put_u32(&mut c, ret, id as u32)
        },
    )?;

    linker.func_wrap(
        ENV,
        "proxy_increment_metric",
        |mut c: C<'_>, id: i32, offset: i64| -> R {
            c.data_mut().calls.push("proxy_increment_metric");
            update_metric(&mut c, id, 2, |m| m.value += offset)
        },
    )?;

    linker.func_wrap(
        ENV,
        "proxy_record_metric",
        |mut c: C<'_>, id: i32, value: i64| -> R {
            c.data_mut().calls.push("proxy_record_metric");
            update_metric(&mut c, id, 0, |m| m.value = value)
        },
    )?;

    linker.func_wrap(
        ENV,
        "proxy_get_metric",
        |mut c: C<'_>, id: i32, ret: i32| -> R {
            c.data_mut().calls.push("proxy_get_metric");
            let Some(value) = c.data().metrics.get(id as u32 as usize).map(|m| m.value) else {
                return Ok(Status::NotFound as i32);
            };
            put(&mut c, ret, &(value as u64).to_le_bytes())
        },
    )?;

    // Shared data and queues.
    linker.func_wrap(
        ENV,
        "proxy_get_shared_data",
        |mut c: C<'_>,
         key_ptr: i32,
         key_len: i32,
         ret_data: i32,
         ret_size: i32,
         ret_cas: i32|
         -> R {
            c.data_mut().calls.push("proxy_get_shared_data");
            let Some(key) = read_str(&mut c, key_ptr, key_len)? else {
                return Ok(Status::BadArgument as i32);
            };
            let Some((value, cas)) = c.data().shared_data.borrow().get(&key).cloned() else {
                return Ok(Status::NotFound as i32);
            };
            if !write_u32(&mut c, ret_cas, cas)? {
                return Ok(Status::BadArgument as i32);
            }
            give(&mut c, &value, ret_data, ret_size)
        },
    )?;

    linker.func_wrap(
        ENV,
        "proxy_set_shared_data",
        |mut c: C<'_>, key_ptr: i32, key_len: i32, value_ptr: i32, value_len: i32, cas: i32| -> R {
            c.data_mut().calls.push("proxy_set_shared_data");
            let (Some(key), Some(value)) = (
                read_str(&mut c, key_ptr, key_len)?,
                read(&mut c, value_ptr, value_len)?,
            ) else {
                return Ok(Status::BadArgument as i32);
            };
            let shared = c.data().shared_data.clone();
            let mut data = shared.borrow_mut();
            let current = data.get(&key).map_or(0, |(_, cas)| *cas);
            if cas != 0 && cas as u32 != current {
                return Ok(Status::CasMismatch as i32);
            }
            data.insert(key, (value, current.wrapping_add(1).max(1)));
            Ok(Status::Ok as i32)
        },
    )?;

    linker.func_wrap(
        ENV,
        "proxy_register_shared_queue",
        |mut c: C<'_>, ptr: i32, len: i32, ret: i32| -> R {
            c.data_mut().calls.push("proxy_register_shared_queue");
            let Some(name) = read_str(&mut c, ptr, len)? else {
                return Ok(Status::BadArgument as i32);
            };
            let queues = &mut c.data_mut().queues;
            let id = index_or_push(queues, |(n, _)| *n == name, || (name.clone(), Vec::new()));
            put_u32(&mut c, ret, id as u32)
        },
    )?;

    linker.func_wrap(
        ENV,
        "proxy_resolve_shared_queue",
        |mut c: C<'_>, _vm_ptr: i32, _vm_len: i32, ptr: i32, len: i32, ret: i32| -> R {
            c.data_mut().calls.push("proxy_resolve_shared_queue");
            let Some(name) = read_str(&mut c, ptr, len)? else {
                return Ok(Status::BadArgument as i32);
            };
            let Some(id) = c.data().queues.iter().position(|(n, _)| *n == name) else {
                return Ok(Status::NotFound as i32);
            };
            put_u32(&mut c, ret, id as u32)
        },
    )?;

    linker.func_wrap(
        ENV,
        "proxy_enqueue_shared_queue",
        |mut c: C<'_>, id: i32, ptr: i32, len: i32| -> R {
            c.data_mut().calls.push("proxy_enqueue_shared_queue");
            let Some(value) = read(&mut c, ptr, len)? else {
                return Ok(Status::BadArgument as i32);
            };
            let state = c.data_mut();
            let Some((_, items)) = state.queues.get_mut(id as u32 as usize) else {
                return Ok(Status::NotFound as i32);
            };
            items.push(value);
            state.ready_queues.push(id as u32);
            Ok(Status::Ok as i32)
        },
    )?;

    linker.func_wrap(
        ENV,
        "proxy_dequeue_shared_queue",
        |mut c: C<'_>, id: i32, ret_data: i32, ret_size: i32| -> R {
            c.data_mut().calls.push("proxy_dequeue_shared_queue");
            let Some((_, items)) = c.data_mut().queues.get_mut(id as u32 as usize) else {
                return Ok(Status::NotFound as i32);
            };
            if items.is_empty() {
                return Ok(Status::Empty as i32);
            }
            let value = items.remove(0);
            give(&mut c, &value, ret_data, ret_size)
        },
    )?;

    // HTTP callouts: recorded; the test answers them with `Host::http_call_response`.
    linker.func_wrap(
        ENV,
        "proxy_http_call",
        |mut c: C<'_>,
         upstream_ptr: i32,
         upstream_len: i32,
         headers_ptr: i32,
         headers_len: i32,
         body_ptr: i32,
         body_len: i32,
         trailers_ptr: i32,
         trailers_len: i32,
         timeout: i32,
         ret_token: i32|
         -> R {
            c.data_mut().calls.push("proxy_http_call");
            let upstream = read_str(&mut c, upstream_ptr, upstream_len)?;
            let headers =
                read(&mut c, headers_ptr, headers_len)?.and_then(|b| deserialize_pairs(&b));
            let body = read(&mut c, body_ptr, body_len)?;
            let trailers =
                read(&mut c, trailers_ptr, trailers_len)?.and_then(|b| deserialize_pairs(&b));
            let (Some(upstream), Some(headers), Some(body), Some(trailers)) =
                (upstream, headers, body, trailers)
            else {
                return Ok(Status::BadArgument as i32);
            };
            if !c.data().clusters.contains(&upstream) {
                return Ok(Status::BadArgument as i32);
            }
            // Envoy requires these pseudo-headers on a callout.
            for required in [":method", ":path", ":authority"] {
                if !headers.iter().any(|(n, _)| n == required) {
                    return Ok(Status::BadArgument as i32);
                }
            }
            let state = c.data_mut();
            let token = state.next_call_token;
            state.next_call_token += 1;
            let context_id = state.effective_context;
            state.http_calls.push(HttpCall {
                token,
                context_id,
                upstream,
                headers,
                body,
                trailers,
                timeout_ms: timeout as u32,
            });
            put_u32(&mut c, ret_token, token)
        },
    )?;

    // gRPC: this host has no gRPC clusters, so calls are refused as Envoy refuses a call to
    // an unknown cluster; tokens never exist, so the rest find nothing.
    linker.func_wrap(
        ENV,
        "proxy_grpc_call",
        |mut c: C<'_>,
         _a: i32,
         _b: i32,
         _c2: i32,
         _d: i32,
         _e: i32,
         _f: i32,
         _g: i32,
         _h: i32,
         _i: i32,
         _j: i32,
         _k: i32,
         _l: i32|
         -> R {
            c.data_mut().calls.push("proxy_grpc_call");
            Ok(Status::NotFound as i32)
        },
    )?;
    linker.func_wrap(
        ENV,
        "proxy_grpc_stream",
        |mut c: C<'_>,
         _a: i32,
         _b: i32,
         _c2: i32,
         _d: i32,
         _e: i32,
         _f: i32,
         _g: i32,
         _h: i32,
         _i: i32|
         -> R {
            c.data_mut().calls.push("proxy_grpc_stream");
            Ok(Status::NotFound as i32)
        },
    )?;
    linker.func_wrap(
        ENV,
        "proxy_grpc_send",
        |mut c: C<'_>, _token: i32, _ptr: i32, _len: i32, _eos: i32| -> R {
            c.data_mut().calls.push("proxy_grpc_send");
            Ok(Status::NotFound as i32)
        },
    )?;
    linker.func_wrap(ENV, "proxy_grpc_cancel", |mut c: C<'_>, _token: i32| -> R {
        c.data_mut().calls.push("proxy_grpc_cancel");
        Ok(Status::NotFound as i32)
    })?;
    linker.func_wrap(ENV, "proxy_grpc_close", |mut c: C<'_>, _token: i32| -> R {
        c.data_mut().calls.push("proxy_grpc_close");
        Ok(Status::NotFound as i32)
    })?;

    // Envoy's `verify_signature` is the one foreign function (as `foreign_crypto` says).
    linker.func_wrap(
        ENV,
        "proxy_call_foreign_function",
        |mut c: C<'_>, n: i32, nl: i32, a: i32, al: i32, rd: i32, rs: i32| -> R {
            c.data_mut().calls.push("proxy_call_foreign_function");
            let (Some(name), Some(arguments)) = (read(&mut c, n, nl)?, read(&mut c, a, al)?) else {
                return Ok(Status::BadArgument as i32);
            };
            if name != b"verify_signature" {
                return Ok(Status::NotFound as i32);
            }
            c.data_mut().foreign_calls += 1;
            match super::foreign::verify_signature(c.data().foreign_crypto, &arguments) {
                Ok(answer) => give(&mut c, &answer, rd, rs),
                Err(status) => Ok(status as i32),
            }
        },
    )?;

    // Stream control.
    linker.func_wrap(
        ENV,
        "proxy_set_effective_context",
        |mut c: C<'_>, id: i32| -> R {
            c.data_mut().calls.push("proxy_set_effective_context");
            c.data_mut().effective_context = id as u32;
            Ok(Status::Ok as i32)
        },
    )?;
    linker.func_wrap(ENV, "proxy_done", |mut c: C<'_>| -> R {
        c.data_mut().calls.push("proxy_done");
        c.data_mut().done_called = true;
        Ok(Status::Ok as i32)
    })?;
    linker.func_wrap(
        ENV,
        "proxy_continue_stream",
        |mut c: C<'_>, stream: i32| -> R {
            c.data_mut().calls.push("proxy_continue_stream");
            if !(0..=1).contains(&stream) {
                return Ok(Status::BadArgument as i32);
            }
            c.data_mut().stream_mut().continued.push(stream);
            Ok(Status::Ok as i32)
        },
    )?;
    linker.func_wrap(
        ENV,
        "proxy_close_stream",
        |mut c: C<'_>, stream: i32| -> R {
            c.data_mut().calls.push("proxy_close_stream");
            if !(0..=1).contains(&stream) {
                return Ok(Status::BadArgument as i32);
            }
            c.data_mut().stream_mut().closed.push(stream);
            Ok(Status::Ok as i32)
        },
    )?;
    Ok(())
}
