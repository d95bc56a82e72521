//! Binding the preview1 functions into a [`Linker`].
//!
//! Each import is a host function that converts its raw arguments, runs
//! the matching `WasiCtx` method against the calling instance's exported
//! `memory`, and returns the errno as an `i32`. Only `proc_exit` returns a
//! host error instead (an [`I32Exit`]), which unwinds the guest.
//!
//! The context and the guest memory both live inside the store, and Kiln's
//! API lends out one or the other. So for the length of a call the context
//! is moved out of the store data (leaving an empty `WasiCtx` in its place)
//! and moved back afterwards. No WASI function calls back into Wasm, so
//! nothing can observe the empty stand-in; if a call panics, the store is
//! left with it and later WASI calls in that store answer `EBADF`.

use crate::abi::MODULE;
use crate::ctx::WasiCtx;
use crate::errno::WasiResult;
use crate::exit::I32Exit;
use crate::memory::GuestMemory;
use anyhow::Result;
use kiln::{Caller, Extern, FuncType, Linker, Val, ValType};

/// Runs `f` with the caller's WASI context and memory. A caller that
/// exports no `memory` gets an empty one, so every pointer is `EFAULT`.
fn with_ctx<T, R>(
    caller: &mut Caller<'_, T>,
    get: impl Fn(&mut T) -> &mut WasiCtx,
    f: impl FnOnce(&mut WasiCtx, &mut GuestMemory<'_>) -> R,
) -> R {
    let mut ctx = std::mem::take(get(caller.data_mut()));
    let result = match caller.get_export("memory") {
        Some(Extern::Memory(memory)) => f(
            &mut ctx,
            &mut GuestMemory::new(memory.data_mut(&mut *caller)),
        ),
        Some(Extern::SharedMemory(memory)) => {
            let data = memory.data();
            // SAFETY: the bytes stay mapped while `memory` lives (a shared
            // memory never moves or shrinks), and this thread touches them
            // only through this slice during the call. Wasm on another
            // thread may write them meanwhile, which Rust's aliasing rules
            // for `&mut` do not allow for: WASI reads what it needs once
            // and checks it (`GuestMemory` never trusts a second read),
            // so a racing guest gets racy bytes, never a host failure.
            // `kiln run` runs one thread. (A `GuestMemory` over
            // `UnsafeCell` bytes with explicit copies would remove the
            // aliasing; see the issue notes.)
            let bytes = unsafe { std::slice::from_raw_parts_mut(data.as_ptr().cast_mut().cast::<u8>(), data.len()) };
            f(&mut ctx, &mut GuestMemory::new(bytes))
        }
        _ => f(&mut ctx, &mut GuestMemory::new(&mut [])),
    };
    *get(caller.data_mut()) = ctx;
    result
}

fn errno(result: WasiResult<()>) -> i32 {
    match result {
        Ok(()) => 0,
        Err(e) => i32::from(e.raw()),
    }
}

/// Defines one preview1 function: its Wasm parameters, then the body run
/// with the context `$cx` and memory `$mem`. Guest pointers and sizes are
/// reinterpreted as `u32`, 64-bit values as `u64`, by the bodies.
macro_rules! wasi {
    ($linker:ident, $get:ident, $name:literal, ($($arg:ident: $ty:ty),*), |$cx:ident, $mem:ident| $body:expr) => {
        $linker.func_wrap(MODULE, $name, move |mut caller: Caller<'_, T>, $($arg: $ty),*| -> i32 {
            errno(with_ctx(&mut caller, $get, |$cx, $mem| $body))
        })?;
    };
}

/// Adds every `wasi_snapshot_preview1` function to `linker`. `get` finds
/// the [`WasiCtx`] in the store's data.
pub fn add_to_linker<T: 'static>(
    linker: &mut Linker<T>,
    get: impl Fn(&mut T) -> &mut WasiCtx + Copy + Send + Sync + 'static,
) -> Result<()> {
    wasi!(linker, get, "args_get", (argv: i32, buf: i32), |cx, mem| cx.args_get(mem, argv as u32, buf as u32));
    wasi!(linker, get, "args_sizes_get", (argc: i32, size: i32), |cx, mem| cx.args_sizes_get(mem, argc as u32, size as u32));
    wasi!(linker, get, "environ_get", (env: i32, buf: i32), |cx, mem| cx.environ_get(mem, env as u32, buf as u32));
    wasi!(linker, get, "environ_sizes_get", (count: i32, size: i32), |cx, mem| cx.environ_sizes_get(mem, count as u32, size as u32));

    wasi!(linker, get, "clock_res_get", (id: i32, out: i32), |cx, mem| cx.clock_res_get(mem, id as u32, out as u32));
    wasi!(linker, get, "clock_time_get", (id: i32, precision: i64, out: i32), |cx, mem| cx.clock_time_get(mem, id as u32, precision as u64, out as u32));
    wasi!(linker, get, "random_get", (buf: i32, len: i32), |cx, mem| cx.random_get(mem, buf as u32, len as u32));
    wasi!(linker, get, "sched_yield", (), |cx, _mem| cx.sched_yield());
    wasi!(linker, get, "proc_raise", (signal: i32), |cx, _mem| cx.proc_raise(signal as u32));
    linker.func_wrap(MODULE, "proc_exit", |code: i32| -> Result<()> {
        Err(I32Exit(code).into())
    })?;

    wasi!(linker, get, "fd_advise", (fd: i32, offset: i64, len: i64, advice: i32), |cx, _mem| cx.fd_advise(fd as u32, offset as u64, len as u64, advice as u32));
    wasi!(linker, get, "fd_allocate", (fd: i32, offset: i64, len: i64), |cx, _mem| cx.fd_allocate(fd as u32, offset as u64, len as u64));
    wasi!(linker, get, "fd_close", (fd: i32), |cx, _mem| cx.fd_close(fd as u32));
    wasi!(linker, get, "fd_datasync", (fd: i32), |cx, _mem| cx.fd_datasync(fd as u32));
    wasi!(linker, get, "fd_fdstat_get", (fd: i32, out: i32), |cx, mem| cx.fd_fdstat_get(mem, fd as u32, out as u32));
    wasi!(linker, get, "fd_fdstat_set_flags", (fd: i32, flags: i32), |cx, _mem| cx.fd_fdstat_set_flags(fd as u32, flags as u32));
    wasi!(linker, get, "fd_fdstat_set_rights", (fd: i32, _base: i64, _inheriting: i64), |cx, _mem| cx.fd_fdstat_set_rights(fd as u32));
    wasi!(linker, get, "fd_filestat_get", (fd: i32, out: i32), |cx, mem| cx.fd_filestat_get(mem, fd as u32, out as u32));
    wasi!(linker, get, "fd_filestat_set_size", (fd: i32, size: i64), |cx, _mem| cx.fd_filestat_set_size(fd as u32, size as u64));
    wasi!(linker, get, "fd_filestat_set_times", (fd: i32, atim: i64, mtim: i64, flags: i32), |cx, _mem| cx.fd_filestat_set_times(fd as u32, atim as u64, mtim as u64, flags as u32));
    wasi!(linker, get, "fd_pread", (fd: i32, iovs: i32, len: i32, offset: i64, nread: i32), |cx, mem| cx.fd_pread(mem, fd as u32, iovs as u32, len as u32, offset as u64, nread as u32));
    wasi!(linker, get, "fd_prestat_get", (fd: i32, out: i32), |cx, mem| cx.fd_prestat_get(mem, fd as u32, out as u32));
    wasi!(linker, get, "fd_prestat_dir_name", (fd: i32, path: i32, len: i32), |cx, mem| cx.fd_prestat_dir_name(mem, fd as u32, path as u32, len as u32));
    wasi!(linker, get, "fd_pwrite", (fd: i32, iovs: i32, len: i32, offset: i64, nwritten: i32), |cx, mem| cx.fd_pwrite(mem, fd as u32, iovs as u32, len as u32, offset as u64, nwritten as u32));
    wasi!(linker, get, "fd_read", (fd: i32, iovs: i32, len: i32, nread: i32), |cx, mem| cx.fd_read(mem, fd as u32, iovs as u32, len as u32, nread as u32));
    wasi!(linker, get, "fd_readdir", (fd: i32, buf: i32, len: i32, cookie: i64, used: i32), |cx, mem| cx.fd_readdir(mem, fd as u32, buf as u32, len as u32, cookie as u64, used as u32));
    wasi!(linker, get, "fd_renumber", (from: i32, to: i32), |cx, _mem| cx.fd_renumber(from as u32, to as u32));
    wasi!(linker, get, "fd_seek", (fd: i32, offset: i64, whence: i32, out: i32), |cx, mem| cx.fd_seek(mem, fd as u32, offset, whence as u32, out as u32));
    wasi!(linker, get, "fd_sync", (fd: i32), |cx, _mem| cx.fd_sync(fd as u32));
    wasi!(linker, get, "fd_tell", (fd: i32, out: i32), |cx, mem| cx.fd_tell(mem, fd as u32, out as u32));
    wasi!(linker, get, "fd_write", (fd: i32, iovs: i32, len: i32, nwritten: i32), |cx, mem| cx.fd_write(mem, fd as u32, iovs as u32, len as u32, nwritten as u32));

    wasi!(linker, get, "path_create_directory", (fd: i32, path: i32, len: i32), |cx, mem| cx.path_create_directory(mem, fd as u32, path as u32, len as u32));
    wasi!(linker, get, "path_filestat_get", (fd: i32, flags: i32, path: i32, len: i32, out: i32), |cx, mem| cx.path_filestat_get(mem, fd as u32, flags as u32, path as u32, len as u32, out as u32));
    wasi!(linker, get, "path_filestat_set_times", (fd: i32, flags: i32, path: i32, len: i32, atim: i64, mtim: i64, fst: i32), |cx, mem| cx
        .path_filestat_set_times(mem, fd as u32, flags as u32, path as u32, len as u32, atim as u64, mtim as u64, fst as u32));
    wasi!(linker, get, "path_link", (old_fd: i32, old_flags: i32, old: i32, old_len: i32, new_fd: i32, new: i32, new_len: i32), |cx, mem| cx
        .path_link(mem, old_fd as u32, old_flags as u32, old as u32, old_len as u32, new_fd as u32, new as u32, new_len as u32));
    wasi!(linker, get, "path_readlink", (fd: i32, path: i32, len: i32, buf: i32, buf_len: i32, used: i32), |cx, mem| cx
        .path_readlink(mem, fd as u32, path as u32, len as u32, buf as u32, buf_len as u32, used as u32));
    wasi!(linker, get, "path_remove_directory", (fd: i32, path: i32, len: i32), |cx, mem| cx.path_remove_directory(mem, fd as u32, path as u32, len as u32));
    wasi!(linker, get, "path_rename", (fd: i32, old: i32, old_len: i32, new_fd: i32, new: i32, new_len: i32), |cx, mem| cx
        .path_rename(mem, fd as u32, old as u32, old_len as u32, new_fd as u32, new as u32, new_len as u32));
    wasi!(linker, get, "path_symlink", (target: i32, target_len: i32, fd: i32, path: i32, len: i32), |cx, mem| cx
        .path_symlink(mem, target as u32, target_len as u32, fd as u32, path as u32, len as u32));
    wasi!(linker, get, "path_unlink_file", (fd: i32, path: i32, len: i32), |cx, mem| cx.path_unlink_file(mem, fd as u32, path as u32, len as u32));
    add_path_open(linker, get)?;

    wasi!(linker, get, "poll_oneoff", (subs: i32, events: i32, n: i32, nevents: i32), |cx, mem| cx.poll_oneoff(mem, subs as u32, events as u32, n as u32, nevents as u32));

    wasi!(linker, get, "sock_accept", (fd: i32, _flags: i32, _out: i32), |cx, _mem| cx.not_a_socket(fd as u32));
    wasi!(linker, get, "sock_recv", (fd: i32, _iovs: i32, _len: i32, _flags: i32, _nread: i32, _oflags: i32), |cx, _mem| cx.not_a_socket(fd as u32));
    wasi!(linker, get, "sock_send", (fd: i32, _iovs: i32, _len: i32, _flags: i32, _nwritten: i32), |cx, _mem| cx.not_a_socket(fd as u32));
    wasi!(linker, get, "sock_shutdown", (fd: i32, _how: i32), |cx, _mem| cx.not_a_socket(fd as u32));
    Ok(())
}

/// `path_open` has nine parameters, one more than `func_wrap` takes, so it
/// is defined with an explicit type.
fn add_path_open<T: 'static>(
    linker: &mut Linker<T>,
    get: impl Fn(&mut T) -> &mut WasiCtx + Copy + Send + Sync + 'static,
) -> Result<()> {
    use ValType::{I32, I64};
    let ty = FuncType::new([I32, I32, I32, I32, I32, I64, I64, I32, I32], [I32]);
    linker.func_new(
        MODULE,
        "path_open",
        ty,
        move |mut caller: Caller<'_, T>, params: &[Val], results: &mut [Val]| {
            // The linker checked the arity and types against `ty`.
            let p32 = |i: usize| params[i].unwrap_i32() as u32;
            let base = params[5].unwrap_i64() as u64;
            // params[6], the inheriting rights, only matter to rights
            // enforcement, which Kiln does not do (see `abi::rights`).
            let code = errno(with_ctx(&mut caller, get, |cx, mem| {
                cx.path_open(
                    mem,
                    p32(0),
                    p32(1),
                    p32(2),
                    p32(3),
                    p32(4),
                    base,
                    p32(7),
                    p32(8),
                )
            }));
            results[0] = Val::I32(code);
            Ok(())
        },
    )?;
    Ok(())
}
