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
use kiln_environ::Builtin;

/// The builtins table, in `Builtin` order.
pub fn table() -> *const usize {
    struct Table([*const (); 25]);
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
    ]);
    const _: () = assert!(Builtin::ALL.len() == 25);
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
unsafe fn memory<'a>(vmctx: *mut u8, index: u32) -> &'a mut LinearMemory {
    // SAFETY: the vmctx slot points at a memory owned by the store, which
    // outlives the call; no other reference to it is live while Wasm runs.
    unsafe { &mut *instance(vmctx).memory(index) }
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
    let m = unsafe { memory(vmctx, mem) };
    m.grow(delta).unwrap_or(u64::MAX)
}

extern "C" fn memory_fill(vmctx: *mut u8, mem: u32, dst: u64, val: u32, len: u64) -> u8 {
    // SAFETY: called by compiled code with its own vmctx.
    let m = unsafe { memory(vmctx, mem) };
    let data = m.data_mut();
    if !in_bounds(dst, len, data.len() as u64) {
        return 0;
    }
    data[dst as usize..(dst + len) as usize].fill(val as u8);
    1
}

extern "C" fn memory_copy(vmctx: *mut u8, dst_mem: u32, dst: u64, src_mem: u32, src: u64, len: u64) -> u8 {
    // SAFETY: called by compiled code with its own vmctx.
    let (d, s) = unsafe { (memory(vmctx, dst_mem), memory(vmctx, src_mem)) };
    let (d_len, s_len) = (d.byte_size() as u64, s.byte_size() as u64);
    if !in_bounds(dst, len, d_len) || !in_bounds(src, len, s_len) {
        return 0;
    }
    // SAFETY: both ranges were checked to lie in their memories; `copy`
    // has memmove semantics, so overlap (same memory) is fine.
    unsafe { std::ptr::copy(s.def.base.add(src as usize), d.def.base.add(dst as usize), len as usize) };
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
    if !in_bounds(src as u64, len as u64, segment.len() as u64) {
        return 0;
    }
    // SAFETY: as above.
    let m = unsafe { memory(vmctx, mem) };
    let data = m.data_mut();
    if !in_bounds(dst, len as u64, data.len() as u64) {
        return 0;
    }
    data[dst as usize..dst as usize + len as usize].copy_from_slice(&segment[src as usize..(src + len) as usize]);
    1
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
