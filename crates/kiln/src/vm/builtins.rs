//! The builtins compiled code calls (see `kiln_environ::Builtin`): memory
//! and table operations too large to inline, and `raise`.
//!
//! Each is an `extern "C"` function taking the caller's vmctx. None of them
//! unwinds: they return a flag and compiled code traps, except `raise`,
//! which is only called once a host function has recorded its error.

use super::instance::Instance;
use super::memory::LinearMemory;
use super::table::Table;
use super::gc_builtins as gc;
use super::table::TableError;
use super::traphandlers;
use crate::gc::RefBarriers;
use super::parking::{self, WaitOutcome};
use kiln_environ::{Builtin, WAIT_INTERRUPTED, WAIT_NOT_EQUAL, WAIT_OK, WAIT_TIMED_OUT};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

/// The builtins table, in `Builtin` order.
pub fn table() -> *const usize {
    struct Table([*const (); 28]);
    // SAFETY: the table holds addresses of functions, immutable and valid
    // on every thread.
    unsafe impl Sync for Table {}
    static TABLE: Table = Table([
        memory_grow as *const (),
        memory_fill as *const (),
        memory_copy as *const (),
        memory_init as *const (),
        data_drop as *const (),
        table_grow as *const (),
        table_fill as *const (),
        table_copy as *const (),
        table_init as *const (),
        elem_drop as *const (),
        raise as *const (),
        gc::new_exception as *const (),
        gc::exception_matches as *const (),
        gc::exception_payload as *const (),
        super::exceptions::unwind_exception as *const (),
        gc::gc_alloc_struct as *const (),
        gc::gc_alloc_array as *const (),
        gc::func_ref_to_id as *const (),
        gc::func_ref_from_id as *const (),
        gc::array_init_data as *const (),
        gc::array_init_elem as *const (),
        gc::array_copy as *const (),
        data_segment_len as *const (),
        elem_segment_len as *const (),
        gc::array_fill as *const (),
        memory_atomic_wait32 as *const (),
        memory_atomic_wait64 as *const (),
        memory_atomic_notify as *const (),
    ]);
    const _: () = assert!(Builtin::ALL.len() == 28);
    TABLE.0.as_ptr().cast()
}

/// # Safety
/// `vmctx` is the caller's live VMContext (compiled code passes its own).
unsafe fn instance<'a>(vmctx: *mut u8) -> &'a mut Instance {
    // SAFETY: per the contract.
    unsafe { Instance::from_vmctx(vmctx) }
}

/// # Safety
/// As for `instance`; `index` is a valid memory index (validated code).
unsafe fn memory<'a>(vmctx: *mut u8, index: u32) -> &'a LinearMemory {
    // SAFETY: the vmctx slot points at a memory the store owns or shares,
    // which outlives the call. Shared access is all the memory operations
    // below need (see `LinearMemory::range_ptr`).
    unsafe { &*instance(vmctx).memory(index) }
}

/// # Safety
/// As for `memory`, for tables.
unsafe fn table_ref<'a>(vmctx: *mut u8, index: u32) -> &'a mut Table {
    // SAFETY: as in `memory`.
    unsafe { &mut *instance(vmctx).table(index) }
}

/// Is `[start, start + len)` inside a buffer of `size` bytes?
fn in_bounds(start: u64, len: u64, size: u64) -> bool {
    start.checked_add(len).is_some_and(|end| end <= size)
}

extern "C" fn memory_grow(vmctx: *mut u8, mem: u32, delta: u64) -> u64 {
    // SAFETY: called by compiled code with its own vmctx.
    let m = unsafe { instance(vmctx).memory(mem) };
    // SAFETY: the slot points at a live memory (see `memory`). Only an
    // unshared memory is borrowed mutably: no other thread can reach it,
    // and compiled code holds no reference into it during the call.
    let grown = unsafe { if (*m).is_shared() { (*m).grow_shared(delta) } else { (*m).grow(delta) } };
    grown.unwrap_or(u64::MAX)
}

extern "C" fn memory_fill(vmctx: *mut u8, mem: u32, dst: u64, val: u32, len: u64) -> u8 {
    // SAFETY: called by compiled code with its own vmctx.
    let m = unsafe { memory(vmctx, mem) };
    let Some(dst) = m.range_ptr(dst, len) else { return 0 };
    // SAFETY: `range_ptr` checked that the range lies in the memory.
    unsafe { std::ptr::write_bytes(dst, val as u8, len as usize) };
    1
}

extern "C" fn memory_copy(vmctx: *mut u8, dst_mem: u32, dst: u64, src_mem: u32, src: u64, len: u64) -> u8 {
    // SAFETY: called by compiled code with its own vmctx.
    let (d, s) = unsafe { (memory(vmctx, dst_mem), memory(vmctx, src_mem)) };
    let (Some(dst), Some(src)) = (d.range_ptr(dst, len), s.range_ptr(src, len)) else { return 0 };
    // SAFETY: both ranges were checked to lie in their memories; `copy`
    // has memmove semantics, so overlap (same memory) is fine.
    unsafe { std::ptr::copy(src, dst, len as usize) };
    1
}

extern "C" fn memory_init(vmctx: *mut u8, mem: u32, data_index: u32, dst: u64, src: u32, len: u32) -> u8 {
    // SAFETY: called by compiled code with its own vmctx.
    let inst = unsafe { instance(vmctx) };
    let segment: &[u8] = if inst.dropped_data[data_index as usize] {
        &[]
    } else {
        let range = inst.module.info().data[data_index as usize].bytes.clone();
        &inst.module.wasm()[range]
    };
    let Some(bytes) = segment.get(src as usize..src as usize + len as usize) else { return 0 };
    // SAFETY: as above.
    let m = unsafe { memory(vmctx, mem) };
    m.write_at(dst, bytes) as u8
}

extern "C" fn memory_atomic_wait32(vmctx: *mut u8, addr: *mut u8, expected: u32, timeout: i64) -> i32 {
    // SAFETY: compiled code passes the address of an aligned, in-bounds
    // cell of a shared memory, which cannot move or go away during the
    // call (this instance holds it).
    let cell = unsafe { AtomicU32::from_ptr(addr.cast()) };
    wait_on(vmctx, addr, || cell.load(Ordering::SeqCst) == expected, timeout)
}

extern "C" fn memory_atomic_wait64(vmctx: *mut u8, addr: *mut u8, expected: u64, timeout: i64) -> i32 {
    // SAFETY: as in `memory_atomic_wait32`, for 8 bytes.
    let cell = unsafe { AtomicU64::from_ptr(addr.cast()) };
    wait_on(vmctx, addr, || cell.load(Ordering::SeqCst) == expected, timeout)
}

/// Blocks the calling thread while `matches` (see `parking::wait`); a
/// negative `timeout` (nanoseconds) is none. With epoch interruption on,
/// the wait ends when the store's deadline passes, as running code would.
fn wait_on(vmctx: *mut u8, addr: *mut u8, matches: impl FnOnce() -> bool, timeout: i64) -> i32 {
    // SAFETY: called by compiled code with its own vmctx; only the engine
    // and the deadline are read.
    let store = unsafe { store(vmctx) };
    let engine = store.engine().clone();
    let deadline = engine.config().tunables.epoch_interruption.then(|| {
        // SAFETY: the store's thread is this one, blocked in this call.
        unsafe { *store.vm_store_context().epoch_deadline.get() }
    });
    let interrupted = |d: u64| move || engine.current_epoch() >= d;
    let interrupted = deadline.map(interrupted);
    let timeout = u64::try_from(timeout).ok().map(Duration::from_nanos);
    match parking::wait(addr as usize, matches, timeout, interrupted.as_ref().map(|i| i as &dyn Fn() -> bool)) {
        WaitOutcome::Woken => WAIT_OK,
        WaitOutcome::Mismatch => WAIT_NOT_EQUAL,
        WaitOutcome::TimedOut => WAIT_TIMED_OUT,
        WaitOutcome::Interrupted => WAIT_INTERRUPTED,
    }
}

extern "C" fn memory_atomic_notify(_vmctx: *mut u8, addr: *mut u8, count: u32) -> u32 {
    parking::notify(addr as usize, count)
}

extern "C" fn data_drop(vmctx: *mut u8, data_index: u32) {
    // SAFETY: called by compiled code with its own vmctx.
    unsafe { instance(vmctx) }.dropped_data[data_index as usize] = true;
}

/// The store of the instance behind `vmctx`.
///
/// # Safety
/// As for `instance`; no other reference to the store is in use.
unsafe fn store<'a>(vmctx: *mut u8) -> &'a mut crate::store::StoreOpaque {
    // SAFETY: the store outlives its instances; per the contract.
    unsafe { &mut *instance(vmctx).store }
}

/// The status a checked table builtin returns: 1 ok, 0 out of bounds (a
/// trap compiled code raises). A failing barrier (a corrupted GC heap)
/// ends the activation with its error.
///
/// # Safety
/// Called by table builtins, whose frames own nothing else, behind no
/// exit trampoline: the error's backtrace may be empty.
unsafe fn table_status(result: Result<(), TableError>) -> u8 {
    match result {
        Ok(()) => 1,
        Err(TableError::OutOfBounds) => 0,
        // SAFETY: per the contract.
        Err(TableError::Gc(e)) => unsafe { traphandlers::raise_error(e) },
    }
}

extern "C" fn table_grow(vmctx: *mut u8, table: u32, delta: u64, init: u64) -> u64 {
    // SAFETY: called by compiled code with its own vmctx.
    let (t, store) = unsafe { (table_ref(vmctx, table), store(vmctx)) };
    let grown = t.grow(delta, init, &mut RefBarriers::of(&mut store.gc));
    match grown {
        Ok(old) => old.unwrap_or(u64::MAX),
        // SAFETY: as in `table_status`.
        Err(e) => unsafe { traphandlers::raise_error(e) },
    }
}

extern "C" fn table_fill(vmctx: *mut u8, table: u32, dst: u64, val: u64, len: u64) -> u8 {
    // SAFETY: called by compiled code with its own vmctx.
    let (t, store) = unsafe { (table_ref(vmctx, table), store(vmctx)) };
    let result = t.fill(dst, val, len, &mut RefBarriers::of(&mut store.gc));
    // SAFETY: a table builtin.
    unsafe { table_status(result) }
}

extern "C" fn table_copy(vmctx: *mut u8, dst_table: u32, src_table: u32, dst: u64, src: u64, len: u64) -> u8 {
    // SAFETY: called by compiled code with its own vmctx.
    let (inst, store) = unsafe { (instance(vmctx), store(vmctx)) };
    let b = &mut RefBarriers::of(&mut store.gc);
    let (d, s) = (inst.table(dst_table), inst.table(src_table));
    let result = if d == s {
        // SAFETY: one table, one reference.
        unsafe { &mut *d }.copy_within(dst, src, len, b)
    } else {
        // SAFETY: two distinct tables owned by the store.
        let (d, s) = unsafe { (&mut *d, &*s) };
        match (src..src.saturating_add(len)).map(|i| s.get(i)).collect::<Option<Vec<u64>>>() {
            Some(items) if in_bounds(src, len, s.size()) => d.init(dst, &items, b),
            _ => Err(TableError::OutOfBounds),
        }
    };
    // SAFETY: a table builtin.
    unsafe { table_status(result) }
}

extern "C" fn table_init(vmctx: *mut u8, table: u32, elem_index: u32, dst: u64, src: u32, len: u32) -> u8 {
    // SAFETY: called by compiled code with its own vmctx.
    let (inst, store) = unsafe { (instance(vmctx), store(vmctx)) };
    let items = &inst.elements[elem_index as usize];
    if !in_bounds(src as u64, len as u64, items.len() as u64) {
        return 0;
    }
    let items = items[src as usize..(src + len) as usize].to_vec();
    // SAFETY: as above.
    let result = unsafe { table_ref(vmctx, table) }.init(dst, &items, &mut RefBarriers::of(&mut store.gc));
    // SAFETY: a table builtin.
    unsafe { table_status(result) }
}

extern "C" fn elem_drop(vmctx: *mut u8, elem_index: u32) {
    // SAFETY: called by compiled code with its own vmctx.
    let (inst, store) = unsafe { (instance(vmctx), store(vmctx)) };
    let items = std::mem::take(&mut inst.elements[elem_index as usize]);
    if inst.elem_is_gc(elem_index) {
        let mut b = RefBarriers::of(&mut store.gc);
        // The segment's counts go; a failure (a corrupted heap) leaks.
        for raw in items {
            let _ = b.drop_ref(raw as u32);
        }
    }
}

extern "C" fn raise(vmctx: *mut u8) {
    let state = traphandlers::current().expect("raise is called from Wasm");
    if let Some(fp) = state.take_host_throw() {
        // SAFETY: called by compiled code with its own vmctx.
        let store = unsafe { store(vmctx) };
        match store.take_pending_exception_for_wasm() {
            // SAFETY: `fp` is the wasm-to-host trampoline's frame, the
            // exception is exposed to Wasm, and this frame owns nothing.
            Ok(exn) => unsafe { super::exceptions::unwind_exception(vmctx, exn, fp) },
            Err(error) => state.set_unwind(traphandlers::UnwindReason::HostError { error, backtrace: Default::default() }),
        }
    }
    // SAFETY: called only by the wasm-to-host trampoline after a host
    // function recorded its error; only Cranelift frames lie between here
    // and the activation's entry.
    unsafe { traphandlers::unwind_current() }
}

extern "C" fn data_segment_len(vmctx: *mut u8, data_index: u32) -> u32 {
    // SAFETY: called by compiled code with its own vmctx.
    let inst = unsafe { instance(vmctx) };
    if inst.dropped_data[data_index as usize] { 0 } else { inst.module.info().data[data_index as usize].bytes.len() as u32 }
}

extern "C" fn elem_segment_len(vmctx: *mut u8, elem_index: u32) -> u32 {
    // SAFETY: called by compiled code with its own vmctx.
    unsafe { instance(vmctx) }.elements[elem_index as usize].len() as u32
}
