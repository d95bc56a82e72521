//! [`SharedMemory`]: a linear memory that several stores, on several
//! threads, use at once (the threads proposal's `(memory 1 2 shared)`).
//!
//! Unlike a [`crate::Memory`], it belongs to no store: a module that
//! defines one, and every store it is imported into, hold a reference to
//! the same memory (`Arc`), which lives until the last goes. It is tied to
//! the engine that made it (compiled code assumes that engine's bounds
//! checks of its reservation). Its bytes are reached through raw pointers
//! only: other threads run Wasm that reads and writes them concurrently.

use crate::engine::Engine;
use crate::types::MemoryType;
use crate::vm::memory::LinearMemory;
use crate::vm::parking::{self, WaitOutcome};
use anyhow::{Result, bail};
use kiln_environ::Trap;
use std::cell::UnsafeCell;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

/// A memory shared between threads. Cloning it shares it.
///
/// ```
/// use kiln::{Config, Engine, Linker, MemoryType, Module, SharedMemory, Store};
///
/// let engine = Engine::new(Config::new().wasm_threads(true))?;
/// let memory = SharedMemory::new(&engine, MemoryType::shared(1, 1))?;
/// let module = Module::new(&engine, r#"(module
///     (import "env" "memory" (memory 1 1 shared))
///     (func (export "bump") (result i32) (i32.atomic.rmw.add (i32.const 0) (i32.const 1))))"#)?;
/// let threads: Vec<_> = (0..4)
///     .map(|_| {
///         let (engine, module, memory) = (engine.clone(), module.clone(), memory.clone());
///         std::thread::spawn(move || -> kiln::Result<()> {
///             let mut store = Store::new(&engine, ());
///             let mut linker = Linker::new(&engine);
///             linker.define(&store, "env", "memory", memory)?;
///             let bump = linker.instantiate(&mut store, &module)?.get_typed_func::<(), i32>(&mut store, "bump")?;
///             for _ in 0..1000 {
///                 bump.call(&mut store, ())?;
///             }
///             Ok(())
///         })
///     })
///     .collect();
/// for t in threads {
///     t.join().unwrap()?;
/// }
/// // Nobody waits at 0, and the counter is 4000: no wait, a mismatch.
/// assert_eq!(memory.atomic_wait32(0, 0, None), Ok(kiln::WaitResult::Mismatch));
/// assert_eq!(memory.atomic_notify(0, 1), Ok(0));
/// # Ok::<(), kiln::Error>(())
/// ```
#[derive(Clone)]
pub struct SharedMemory {
    memory: Arc<LinearMemory>,
    engine: Engine,
}

/// What [`SharedMemory::atomic_wait32`] and `atomic_wait64` ended with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitResult {
    /// Woken by a notify.
    Ok,
    /// The memory did not hold the expected value: no wait.
    Mismatch,
    TimedOut,
}

impl SharedMemory {
    /// Creates a shared memory of type `ty`, which must be shared (and so
    /// has a maximum): its whole maximum is reserved at once.
    pub fn new(engine: &Engine, ty: MemoryType) -> Result<SharedMemory> {
        let config = engine.config();
        if !config.features().contains(wasmparser::WasmFeatures::THREADS) {
            bail!("shared memories need the threads proposal (`Config::wasm_threads`, `-W threads`)");
        }
        let memory = LinearMemory::new_shared(ty.to_wasm(), config.guard_pages(), config.max_memory_bytes)?;
        Ok(SharedMemory::from_vm(memory, engine))
    }

    pub fn ty(&self) -> MemoryType {
        MemoryType::from_wasm(self.memory.ty())
    }

    /// Size in pages.
    pub fn size(&self) -> u64 {
        self.memory.pages()
    }

    pub fn data_size(&self) -> usize {
        self.memory.byte_size()
    }

    /// The bytes, which other threads may be changing at any time (hence
    /// `UnsafeCell`: reading or writing them is the caller's business,
    /// e.g. through atomics).
    pub fn data(&self) -> &[UnsafeCell<u8>] {
        let base = self.memory.range_ptr(0, 0).expect("an empty range is always in bounds");
        // SAFETY: the first `data_size()` bytes are accessible for as long
        // as `self` keeps the memory alive (it never shrinks or moves);
        // `UnsafeCell<u8>` has `u8`'s layout and admits shared mutation.
        unsafe { std::slice::from_raw_parts(base.cast::<UnsafeCell<u8>>(), self.data_size()) }
    }

    /// Grows by `delta` pages, returning the old size in pages.
    pub fn grow(&self, delta: u64) -> Result<u64> {
        match self.memory.grow_shared(delta) {
            Some(old) => Ok(old),
            None => bail!("failed to grow shared memory by {delta} pages"),
        }
    }

    /// Wakes up to `count` threads waiting at byte `addr` (which must be
    /// 4-byte aligned and in bounds); returns how many woke.
    pub fn atomic_notify(&self, addr: u64, count: u32) -> Result<u32, Trap> {
        let cell = self.cell(addr, 4)?;
        Ok(parking::notify(cell as usize, count))
    }

    /// Blocks this thread while the `u32` at `addr` is `expected`, until
    /// notified or `timeout` passes.
    pub fn atomic_wait32(&self, addr: u64, expected: u32, timeout: Option<Duration>) -> Result<WaitResult, Trap> {
        let cell = self.cell(addr, 4)?;
        // SAFETY: `cell` is aligned, in bounds, and lives as long as `self`.
        let value = unsafe { AtomicU32::from_ptr(cell.cast()) };
        Ok(wait(cell, || value.load(Ordering::SeqCst) == expected, timeout))
    }

    /// The same for the `u64` at `addr`.
    pub fn atomic_wait64(&self, addr: u64, expected: u64, timeout: Option<Duration>) -> Result<WaitResult, Trap> {
        let cell = self.cell(addr, 8)?;
        // SAFETY: as in `atomic_wait32`.
        let value = unsafe { AtomicU64::from_ptr(cell.cast()) };
        Ok(wait(cell, || value.load(Ordering::SeqCst) == expected, timeout))
    }

    /// The native address of an aligned cell of `size` bytes at `addr`,
    /// checked as Wasm's wait and notify check it.
    fn cell(&self, addr: u64, size: u64) -> Result<*mut u8, Trap> {
        let ptr = self.memory.range_ptr(addr, size).ok_or(Trap::MemoryOutOfBounds)?;
        if addr % size != 0 {
            return Err(Trap::HeapMisaligned);
        }
        Ok(ptr)
    }

    pub(crate) fn engine(&self) -> &Engine {
        &self.engine
    }

    pub(crate) fn vm(&self) -> &LinearMemory {
        &self.memory
    }

    /// The memory as compiled code sees it. Only shared access goes
    /// through it (see `vm::builtins`).
    pub(crate) fn vm_ptr(&self) -> *mut LinearMemory {
        Arc::as_ptr(&self.memory).cast_mut()
    }

    pub(crate) fn from_vm(memory: Box<LinearMemory>, engine: &Engine) -> SharedMemory {
        SharedMemory { memory: Arc::from(memory), engine: engine.clone() }
    }
}

fn wait(cell: *mut u8, matches: impl FnOnce() -> bool, timeout: Option<Duration>) -> WaitResult {
    match parking::wait(cell as usize, matches, timeout, None) {
        WaitOutcome::Woken => WaitResult::Ok,
        WaitOutcome::Mismatch => WaitResult::Mismatch,
        WaitOutcome::TimedOut | WaitOutcome::Interrupted => WaitResult::TimedOut,
    }
}

impl PartialEq for SharedMemory {
    fn eq(&self, other: &SharedMemory) -> bool {
        Arc::ptr_eq(&self.memory, &other.memory)
    }
}

impl Eq for SharedMemory {}

impl std::hash::Hash for SharedMemory {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        Arc::as_ptr(&self.memory).hash(state)
    }
}

impl std::fmt::Debug for SharedMemory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedMemory").field("ty", &self.ty()).field("data_size", &self.data_size()).finish()
    }
}
