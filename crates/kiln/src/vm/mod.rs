//! The VM layer: the runtime structures compiled code reads and writes,
//! and the unsafe code around them (mapped memory, JIT entry, signals,
//! stack walking). Their layouts are defined once in
//! `kiln_environ::vmoffsets`; the `#[repr(C)]` structs here follow them and
//! the tests at the bottom check that they agree.

pub mod backtrace;
pub mod builtins;
pub mod code_memory;
pub mod exceptions;
pub mod gc_builtins;
pub mod gc_memory;
pub mod instance;
pub mod memory;
pub mod memory_image;
pub mod mmap;
pub mod parking;
pub mod pool;
pub mod prefault;
pub mod stack;
pub mod stack_roots;
pub mod table;
pub mod traphandlers;

use std::cell::UnsafeCell;

/// What a `funcref` points to.
#[repr(C)]
#[derive(Debug)]
pub struct VMFuncRef {
    /// Entry with the Wasm calling convention.
    pub wasm_call: usize,
    /// For host functions: the array-call entry (see `vmoffsets::func_ref`).
    pub array_call: usize,
    /// The callee's vmctx: an instance's `VMContext` or a host function's
    /// context.
    pub vmctx: *mut u8,
    pub type_id: u32,
    _pad: u32,
}

impl VMFuncRef {
    pub fn new(wasm_call: usize, array_call: usize, vmctx: *mut u8, type_id: u32) -> Self {
        VMFuncRef { wasm_call, array_call, vmctx, type_id, _pad: 0 }
    }
}

/// Per-store state shared by its instances.
#[repr(C)]
#[derive(Debug)]
pub struct VMStoreContext {
    pub stack_limit: UnsafeCell<usize>,
    pub last_exit_fp: UnsafeCell<usize>,
    pub fuel: UnsafeCell<i64>,
    pub epoch_deadline: UnsafeCell<u64>,
    pub epoch_ptr: *const std::sync::atomic::AtomicU64,
    pub pending_exception: UnsafeCell<u32>,
    _pad: u32,
    pub gc_heap_base: UnsafeCell<usize>,
    pub gc_heap_bound: UnsafeCell<usize>,
    pub gc_bump_next: UnsafeCell<u32>,
    pub gc_bump_end: UnsafeCell<u32>,
    pub entry_fp: UnsafeCell<usize>,
    pub type_displays: *const u8,
    pub gc_card_table: UnsafeCell<*mut u8>,
    pub gc_barrier_log: UnsafeCell<*mut u32>,
    pub gc_barrier_log_len: UnsafeCell<u32>,
    pub gc_barrier_log_cap: UnsafeCell<u32>,
    pub gc_barrier_log_overflow: UnsafeCell<u32>,
    pub builtin_result: UnsafeCell<u32>,
    pub gc_plain_next: UnsafeCell<u32>,
    pub gc_plain_end: UnsafeCell<u32>,
    pub gc_plain_starts: UnsafeCell<*mut u8>,
}

impl VMStoreContext {
    pub fn new(epoch: *const std::sync::atomic::AtomicU64, type_displays: *const u8) -> Self {
        VMStoreContext {
            stack_limit: UnsafeCell::new(usize::MAX),
            last_exit_fp: UnsafeCell::new(0),
            fuel: UnsafeCell::new(0),
            epoch_deadline: UnsafeCell::new(0),
            epoch_ptr: epoch,
            pending_exception: UnsafeCell::new(0),
            _pad: 0,
            gc_heap_base: UnsafeCell::new(0),
            gc_heap_bound: UnsafeCell::new(0),
            gc_bump_next: UnsafeCell::new(0),
            gc_bump_end: UnsafeCell::new(0),
            entry_fp: UnsafeCell::new(0),
            type_displays,
            gc_card_table: UnsafeCell::new(std::ptr::null_mut()),
            gc_barrier_log: UnsafeCell::new(std::ptr::null_mut()),
            gc_barrier_log_len: UnsafeCell::new(0),
            gc_barrier_log_cap: UnsafeCell::new(0),
            gc_barrier_log_overflow: UnsafeCell::new(0),
            builtin_result: UnsafeCell::new(0),
            gc_plain_next: UnsafeCell::new(0),
            gc_plain_end: UnsafeCell::new(0),
            gc_plain_starts: UnsafeCell::new(std::ptr::null_mut()),
        }
    }
}

/// One 16-byte slot of the host<->Wasm argument array; also a global's
/// storage cell.
#[repr(C, align(16))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ValRaw(pub [u8; 16]);

impl ValRaw {
    pub fn from_u128(v: u128) -> Self {
        ValRaw(v.to_le_bytes())
    }
    pub fn from_u64(v: u64) -> Self {
        Self::from_u128(v as u128)
    }
    pub fn from_u32(v: u32) -> Self {
        Self::from_u128(v as u128)
    }
    pub fn u128(self) -> u128 {
        u128::from_le_bytes(self.0)
    }
    pub fn u64(self) -> u64 {
        self.u128() as u64
    }
    pub fn u32(self) -> u32 {
        self.u128() as u32
    }
}

#[cfg(test)]
mod layout_tests {
    use super::*;
    use kiln_environ::vmoffsets::*;
    use std::mem::{offset_of, size_of};

    #[test]
    fn func_ref_layout_matches_environ() {
        assert_eq!(offset_of!(VMFuncRef, wasm_call), func_ref::WASM_CALL as usize);
        assert_eq!(offset_of!(VMFuncRef, array_call), func_ref::ARRAY_CALL as usize);
        assert_eq!(offset_of!(VMFuncRef, vmctx), func_ref::VMCTX as usize);
        assert_eq!(offset_of!(VMFuncRef, type_id), func_ref::TYPE_ID as usize);
        assert_eq!(size_of::<VMFuncRef>(), func_ref::SIZE as usize);
    }

    #[test]
    fn store_context_layout_matches_environ() {
        assert_eq!(offset_of!(VMStoreContext, stack_limit), store_context::STACK_LIMIT as usize);
        assert_eq!(offset_of!(VMStoreContext, last_exit_fp), store_context::LAST_EXIT_FP as usize);
        assert_eq!(offset_of!(VMStoreContext, fuel), store_context::FUEL as usize);
        assert_eq!(offset_of!(VMStoreContext, epoch_deadline), store_context::EPOCH_DEADLINE as usize);
        assert_eq!(offset_of!(VMStoreContext, epoch_ptr), store_context::EPOCH_PTR as usize);
        assert_eq!(offset_of!(VMStoreContext, pending_exception), store_context::PENDING_EXCEPTION as usize);
        assert_eq!(offset_of!(VMStoreContext, gc_heap_base), store_context::GC_HEAP_BASE as usize);
        assert_eq!(offset_of!(VMStoreContext, gc_heap_bound), store_context::GC_HEAP_BOUND as usize);
        assert_eq!(offset_of!(VMStoreContext, gc_bump_next), store_context::GC_BUMP_NEXT as usize);
        assert_eq!(offset_of!(VMStoreContext, gc_bump_end), store_context::GC_BUMP_END as usize);
        assert_eq!(offset_of!(VMStoreContext, gc_plain_next), store_context::GC_PLAIN_NEXT as usize);
        assert_eq!(offset_of!(VMStoreContext, gc_plain_end), store_context::GC_PLAIN_END as usize);
        assert_eq!(offset_of!(VMStoreContext, gc_plain_starts), store_context::GC_PLAIN_STARTS as usize);
        assert_eq!(offset_of!(VMStoreContext, entry_fp), store_context::ENTRY_FP as usize);
        assert_eq!(offset_of!(VMStoreContext, type_displays), store_context::TYPE_DISPLAYS as usize);
        assert_eq!(offset_of!(VMStoreContext, gc_card_table), store_context::GC_CARD_TABLE as usize);
        assert_eq!(offset_of!(VMStoreContext, gc_barrier_log), store_context::GC_BARRIER_LOG as usize);
        assert_eq!(offset_of!(VMStoreContext, gc_barrier_log_len), store_context::GC_BARRIER_LOG_LEN as usize);
        assert_eq!(offset_of!(VMStoreContext, gc_barrier_log_cap), store_context::GC_BARRIER_LOG_CAP as usize);
        assert_eq!(offset_of!(VMStoreContext, gc_barrier_log_overflow), store_context::GC_BARRIER_LOG_OVERFLOW as usize);
        assert_eq!(offset_of!(VMStoreContext, builtin_result), store_context::BUILTIN_RESULT as usize);
        assert_eq!(size_of::<VMStoreContext>(), store_context::SIZE as usize);
        assert_eq!(size_of::<ValRaw>(), VAL_RAW_SIZE as usize);
    }
}
