//! The WASI (preview 1) calls the module imports, as Envoy's proxy-wasm host provides them:
//! stdout/stderr captured, no files, no arguments, no environment, host clocks, random bytes.

use wasmtime::Linker;

use super::abi::{read, write, write_u32};
use super::HostState;

type C<'a> = wasmtime::Caller<'a, HostState>;
type R = wasmtime::Result<i32>;

const SUCCESS: i32 = 0;
const EBADF: i32 = 8;
const EFAULT: i32 = 21;
const EINVAL: i32 = 28;
const ESPIPE: i32 = 70;

/// Stores a result: success, or `EFAULT` when the pointer is outside memory.
fn put(caller: &mut C<'_>, ptr: i32, bytes: &[u8]) -> R {
    Ok(if write(caller, ptr, bytes)? {
        SUCCESS
    } else {
        EFAULT
    })
}

fn put_u32(caller: &mut C<'_>, ptr: i32, value: u32) -> R {
    put(caller, ptr, &value.to_le_bytes())
}

pub(super) fn define(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    const WASI: &str = "wasi_snapshot_preview1";

    linker.func_wrap(
        WASI,
        "fd_write",
        |mut c: C<'_>, fd: i32, iovs: i32, iovs_len: i32, nwritten: i32| -> R {
            c.data_mut().calls.push("fd_write");
            if fd != 1 && fd != 2 {
                return Ok(EBADF);
            }
            let mut written = Vec::new();
            for i in 0..iovs_len {
                let Some(iov) = read(&mut c, iovs + i * 8, 8)? else {
                    return Ok(EFAULT);
                };
                let ptr = i32::from_le_bytes([iov[0], iov[1], iov[2], iov[3]]);
                let len = i32::from_le_bytes([iov[4], iov[5], iov[6], iov[7]]);
                let Some(bytes) = read(&mut c, ptr, len)? else {
                    return Ok(EFAULT);
                };
                written.extend_from_slice(&bytes);
            }
            let count = written.len() as u32;
            let state = c.data_mut();
            if fd == 1 {
                state.stdout.extend_from_slice(&written);
            } else {
                state.stderr.extend_from_slice(&written);
            }
            put_u32(&mut c, nwritten, count)
        },
    )?;

    linker.func_wrap(
        WASI,
        "fd_read",
        |mut c: C<'_>, fd: i32, _iovs: i32, _len: i32, nread: i32| -> R {
            c.data_mut().calls.push("fd_read");
            if fd != 0 {
                return Ok(EBADF);
            }
            // stdin is empty.
            put_u32(&mut c, nread, 0)
        },
    )?;

    linker.func_wrap(
        WASI,
        "fd_seek",
        |mut c: C<'_>, fd: i32, _offset: i64, _whence: i32, _ret: i32| -> R {
            c.data_mut().calls.push("fd_seek");
            Ok(if (0..=2).contains(&fd) { ESPIPE } else { EBADF })
        },
    )?;

    linker.func_wrap(WASI, "fd_close", |mut c: C<'_>, fd: i32| -> R {
        c.data_mut().calls.push("fd_close");
        Ok(if (0..=2).contains(&fd) {
            SUCCESS
        } else {
            EBADF
        })
    })?;

    linker.func_wrap(
        WASI,
        "fd_fdstat_get",
        |mut c: C<'_>, fd: i32, ret: i32| -> R {
            c.data_mut().calls.push("fd_fdstat_get");
            if !(0..=2).contains(&fd) {
                return Ok(EBADF);
            }
            // filetype character device, no flags, no rights beyond what fd_write needs.
            let mut stat = [0u8; 24];
            stat[0] = 2;
            put(&mut c, ret, &stat)
        },
    )?;

    for (name, count_name) in [
        ("environ_get", "environ_sizes_get"),
        ("args_get", "args_sizes_get"),
    ] {
        linker.func_wrap(
            WASI,
            name,
            move |mut c: C<'_>, _list: i32, _buf: i32| -> R {
                c.data_mut().calls.push(name);
                Ok(SUCCESS)
            },
        )?;
        linker.func_wrap(
            WASI,
            count_name,
            move |mut c: C<'_>, count: i32, size: i32| -> R {
                c.data_mut().calls.push(count_name);
                let ok = write_u32(&mut c, count, 0)? && write_u32(&mut c, size, 0)?;
                Ok(if ok { SUCCESS } else { EFAULT })
            },
        )?;
    }

    linker.func_wrap(
        WASI,
        "clock_time_get",
        |mut c: C<'_>, clock: i32, _precision: i64, ret: i32| -> R {
            c.data_mut().calls.push("clock_time_get");
            let time = match clock {
                0 => c.data().now_nanos,
                1 => c.data().monotonic_nanos,
                _ => return Ok(EINVAL),
            };
            put(&mut c, ret, &time.to_le_bytes())
        },
    )?;

    linker.func_wrap(
        WASI,
        "random_get",
        |mut c: C<'_>, ptr: i32, len: i32| -> R {
            c.data_mut().calls.push("random_get");
            // Deterministic (xorshift64*), so a run can be repeated.
            let mut bytes = Vec::with_capacity(len as u32 as usize);
            let state = c.data_mut();
            while bytes.len() < len as u32 as usize {
                let mut x = state.random_state;
                x ^= x >> 12;
                x ^= x << 25;
                x ^= x >> 27;
                state.random_state = x;
                bytes.extend_from_slice(&x.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
            }
            bytes.truncate(len as u32 as usize);
            put(&mut c, ptr, &bytes)
        },
    )?;

    linker.func_wrap(
        WASI,
        "proc_exit",
        |mut c: C<'_>, code: i32| -> wasmtime::Result<()> {
            c.data_mut().calls.push("proc_exit");
            c.data_mut().exit_code = Some(code);
            wasmtime::bail!("proc_exit({code})")
        },
    )?;
    Ok(())
}
