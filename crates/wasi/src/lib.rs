//! WASI preview1 (`wasi_snapshot_preview1`) for command programs run by
//! Kiln.
//!
//! ```no_run
//! use kiln::{Engine, Linker, Module, Store};
//! use kiln_wasi::{I32Exit, WasiCtx};
//!
//! let engine = Engine::default();
//! let module = Module::new(&engine, std::fs::read("app.wasm")?)?;
//! let mut linker = Linker::new(&engine);
//! kiln_wasi::add_to_linker(&mut linker, |cx: &mut WasiCtx| cx)?;
//! let ctx = WasiCtx::builder().args(["app.wasm", "input.txt"])?.inherit_stdio().preopened_dir(".", ".")?.build();
//! let mut store = Store::new(&engine, ctx);
//! let instance = linker.instantiate(&mut store, &module)?;
//! let start = instance.get_typed_func::<(), ()>(&mut store, "_start")?;
//! let code = match start.call(&mut store, ()) {
//!     Ok(()) => 0,
//!     Err(e) => e.downcast_ref::<I32Exit>().map(|exit| exit.0).ok_or(e)?,
//! };
//! # let _ = code;
//! # Ok::<(), kiln::Error>(())
//! ```
//!
//! # What the guest gets
//!
//! Its arguments and environment as the embedder set them, its three
//! standard streams, the realtime/monotonic/CPU-time clocks, OS randomness,
//! and the directories the embedder preopened. Nothing else of the host is
//! reachable: there is no ambient file system, and no way to name a host
//! descriptor the context does not hold.
//!
//! # Invariants
//!
//! - Errors are errno values. Whatever the guest passes, a WASI function
//!   returns an errno rather than panicking or trapping; host I/O errors
//!   are mapped to the errno of the same meaning. The one exception is
//!   `proc_exit`, which ends the run with an [`I32Exit`] error.
//! - Guest pointers are bounds-checked against the caller's memory; a bad
//!   pointer or length is `EFAULT` (see `memory`).
//! - Paths stay inside their preopened directory. Absolute paths, `..`
//!   beyond the directory, and symlinks leading out of it are refused with
//!   `ENOTCAPABLE`, including against concurrent changes to the tree by
//!   other host processes. The `sandbox` module states the exact guarantee.
//! - Rights are reported but not enforced (as in current Wasmtime): the
//!   host descriptor's open mode and the sandbox decide what is allowed.

pub mod abi;
mod ctx;
mod errno;
mod exit;
mod filestat;
mod linker;
mod memory;
mod sandbox;
mod stdio;
mod syscalls;
mod table;

pub use ctx::{WasiCtx, WasiCtxBuilder};
pub use errno::Errno;
pub use exit::I32Exit;
pub use linker::add_to_linker;
pub use stdio::{InputStream, OutputBuffer, OutputStream};
