//! The layout of the VM data structures JIT code reads, defined once here
//! and used by both the compiler (to emit loads) and the runtime (to build
//! the structures). All offsets are in bytes; pointers are 8 bytes (Kiln
//! supports 64-bit hosts only).
//!
//! `VMContext` (one per instance):
//! ```text
//!   0  magic: u32 (VMCTX_MAGIC)
//!   4  no_type: u32 (type_display::NO_TYPE)  the type id of what is no object
//!   8  instance: *mut Instance            runtime-private back pointer
//!  16  store_context: *mut VMStoreContext
//!  24  builtins: *const [usize; N]        libcall table (see builtins.rs)
//!  32  type_ids: *const u32               engine type id per module type index
//!  40  gc_heap_base: *mut u8              the store's GC heap (copied at
//!                                         instantiation; null if the module's
//!                                         code does not read it)
//!  48  type_displays: *const u8           the engine's supertype displays
//!  56  func_refs: [*const VMFuncRef; num_funcs]
//!      memories:  [*mut VMMemoryDefinition; num_memories]
//!      tables:    [*mut VMTableDefinition; num_tables]
//!      globals:   [*mut VMGlobal; num_globals]       16-byte cells
//!      defined_func_refs: [VMFuncRef; num_defined_funcs]
//! ```
//! Imported and defined entities are reached the same way (through a
//! pointer), so code never needs to know which one it uses.

use crate::ModuleInfo;

pub const PTR_SIZE: u32 = 8;
pub const VMCTX_MAGIC: u32 = u32::from_le_bytes(*b"kiln");
/// Magic of a host function's context, so a host function can be told apart
/// from a Wasm instance when only its vmctx is at hand.
pub const HOST_CTX_MAGIC: u32 = u32::from_le_bytes(*b"host");

pub const VMCTX_MAGIC_OFFSET: u32 = 0;
/// Holds `type_display::NO_TYPE`: compiled code reads it as the type id
/// of a reference that is no object (null or i31), so that one load and
/// one test serve every reference.
pub const VMCTX_NO_TYPE_OFFSET: u32 = 4;
pub const VMCTX_INSTANCE_OFFSET: u32 = 8;
pub const VMCTX_STORE_CONTEXT_OFFSET: u32 = 16;
pub const VMCTX_BUILTINS_OFFSET: u32 = 24;
pub const VMCTX_TYPE_IDS_OFFSET: u32 = 32;
/// Copies of two store-context fields that never change once set
/// (`store_context::GC_HEAP_BASE`, `store_context::TYPE_DISPLAYS`): one
/// load from the vmctx instead of two, at the start of every function
/// that reads GC objects or tests types.
pub const VMCTX_GC_HEAP_BASE_OFFSET: u32 = 40;
pub const VMCTX_TYPE_DISPLAYS_OFFSET: u32 = 48;
const VMCTX_HEADER_SIZE: u32 = 56;

/// `VMFuncRef`: what a `funcref` points to.
pub mod func_ref {
    /// Entry with the Wasm calling convention `(callee_vmctx, caller_vmctx, params...)`.
    pub const WASM_CALL: u32 = 0;
    /// For host functions: `extern "C" fn(callee_vmctx, caller_vmctx, *mut ValRaw, len) -> bool`.
    pub const ARRAY_CALL: u32 = 8;
    pub const VMCTX: u32 = 16;
    /// Engine-wide type id of the function's signature (u32).
    pub const TYPE_ID: u32 = 24;
    pub const SIZE: u32 = 32;
}

/// Host function context: the callee vmctx of a host function.
pub mod host_ctx {
    pub const MAGIC: u32 = 0;
    /// Same signature as `func_ref::ARRAY_CALL`; called by the wasm-to-host trampoline.
    pub const ARRAY_CALL: u32 = 8;
}

/// `VMMemoryDefinition`.
pub mod memory {
    pub const BASE: u32 = 0;
    /// Current length in bytes (usize).
    pub const CURRENT_LENGTH: u32 = 8;
    pub const SIZE: u32 = 16;
}

/// `VMTableDefinition`.
pub mod table {
    pub const BASE: u32 = 0;
    /// Current length in elements (usize).
    pub const CURRENT_ELEMENTS: u32 = 8;
    pub const SIZE: u32 = 16;
}

/// `VMStoreContext`: per-store state shared by all its instances.
pub mod store_context {
    /// Lowest address the native stack may reach while running Wasm.
    pub const STACK_LIMIT: u32 = 0;
    /// Frame pointer of the exit trampoline (wasm-to-host, or a builtin
    /// that may collect) Wasm is suspended in; 0 while Wasm runs. Stack
    /// walks (backtraces, GC roots) start there.
    pub const LAST_EXIT_FP: u32 = 8;
    /// Fuel left (i64); compiled code traps when it drops below zero.
    pub const FUEL: u32 = 16;
    /// Epoch at which compiled code traps with an interrupt (u64).
    pub const EPOCH_DEADLINE: u32 = 24;
    /// Pointer to the engine's current epoch (`*const u64`).
    pub const EPOCH_PTR: u32 = 32;
    /// The exception being delivered to a landing pad (exnref, u32).
    pub const PENDING_EXCEPTION: u32 = 40;
    /// Base of the store's GC heap (`*mut u8`; a reservation of
    /// `GC_HEAP_RESERVATION` bytes whose inaccessible part faults).
    pub const GC_HEAP_BASE: u32 = 48;
    /// Accessible length of the GC heap in bytes (usize).
    pub const GC_HEAP_BOUND: u32 = 56;
    /// Inline allocation cursor of bump-allocating collectors (u32 heap
    /// offset; 0 when compiled code must call the allocation builtin).
    pub const GC_BUMP_NEXT: u32 = 64;
    /// End of the inline allocation region (u32 heap offset).
    pub const GC_BUMP_END: u32 = 68;
    /// Frame pointer of the innermost host-to-Wasm trampoline of this
    /// store, recorded by the trampoline itself: stack walks end exactly
    /// there.
    pub const ENTRY_FP: u32 = 72;
    /// The engine's supertype display table (`type_display`), constant.
    pub const TYPE_DISPLAYS: u32 = 80;
    /// The generational collector's card table (`*mut u8`, one byte per
    /// card of the heap's capacity; null for other collectors): the write
    /// barrier marks the card of every object it stores a reference into
    /// (`gc_layout::CARD_SHIFT`). Fixed for the heap's life.
    pub const GC_CARD_TABLE: u32 = 88;
    /// The barriers' log, which compiled code appends to without calling
    /// out: a buffer (`*mut u32`) of `GC_BARRIER_LOG_CAP` entries,
    /// `GC_BARRIER_LOG_LEN` of them used (u32s). What an entry means is the
    /// collector's (`gc_layout`); when the log is full, compiled code takes
    /// the collector's overflow path (DRC's: it sets
    /// `GC_BARRIER_LOG_OVERFLOW`, u32). The runtime hands the log to the
    /// heap whenever Wasm stops running.
    pub const GC_BARRIER_LOG: u32 = 96;
    pub const GC_BARRIER_LOG_LEN: u32 = 104;
    pub const GC_BARRIER_LOG_CAP: u32 = 108;
    pub const GC_BARRIER_LOG_OVERFLOW: u32 = 112;
    /// The result of the last builtin called through an exit trampoline
    /// (u32; see `Builtin::has_exit_trampoline`).
    pub const BUILTIN_RESULT: u32 = 116;
    /// Inline allocation cursor and end of the copying collector's
    /// plain-object region (u32 heap offsets, both 0 when there is none),
    /// laid out like `GC_BUMP_NEXT`/`GC_BUMP_END` so that compiled code
    /// picks either pair by one offset; and the start table compiled code
    /// sets the bit of each plain object in (`*mut u8`, byte `offset /
    /// 64`, bit `offset / 8 % 8`; null without plain objects). See
    /// `GcHeap::plain_region` in kiln-gc.
    pub const GC_PLAIN_NEXT: u32 = 120;
    pub const GC_PLAIN_END: u32 = 124;
    pub const GC_PLAIN_STARTS: u32 = 128;
    pub const SIZE: u32 = 136;
}

/// The engine's supertype displays: an array of `DISPLAY_CAPACITY` entries
/// of `ENTRY_SIZE` bytes indexed by engine type id modulo the capacity (a
/// power of two: compiled code masks the untrusted ids it reads from
/// headers, and only a corrupted header holds one past the capacity),
/// zeroed where no type was recorded. An entry holds the type's first
/// `INLINE_DEPTH` ancestors from the root down (zero past its depth: no
/// type has id `NO_TYPE`, 0), then at `RECORD_OFFSET` a pointer to its
/// whole record, or null: u32s, the type's depth `d`, then its ancestors
/// from the root (index 1) to itself (index `d + 1`). A test against a
/// type shallower than `INLINE_DEPTH` reads one slot of the entry; a
/// deeper one follows the pointer and compares depths first, reading
/// `NO_TYPE`'s entry, the first, never written, as a depth-0 record in
/// place of a null one.
pub mod type_display {
    pub const DISPLAY_CAPACITY: u32 = 1 << 22;
    const _: () = assert!(DISPLAY_CAPACITY.is_power_of_two());
    /// Ancestor slots held in an entry itself.
    pub const INLINE_DEPTH: u32 = 6;
    pub const RECORD_OFFSET: u32 = INLINE_DEPTH * 4;
    pub const ENTRY_SIZE: u32 = RECORD_OFFSET + 8;
    /// No type has this id: engine type ids are 1 to `DISPLAY_CAPACITY - 2`
    /// (the last entry stays empty for all-ones ids, an externref's).
    pub const NO_TYPE: u32 = 0;
}

/// Address space reserved for a GC heap: any 32-bit reference plus any
/// struct field offset (< 4 GiB) lands inside it, so struct field accesses
/// need no bounds check. Array element accesses mask the (untrusted)
/// length so that no index reaches further than 4 GiB and an array header
/// (the page past 8 GiB); bulk array operations, whose extents come from
/// untrusted lengths, are checked against `GC_HEAP_BOUND`.
pub const GC_HEAP_RESERVATION: u64 = (8 << 30) + (64 << 10);

/// Size of a global's storage cell (room for a v128).
pub const GLOBAL_SIZE: u32 = 16;
/// Size of one element in the host<->Wasm argument array.
pub const VAL_RAW_SIZE: u32 = 16;

/// Offsets into one module's `VMContext`.
#[derive(Debug, Clone)]
pub struct VMOffsets {
    pub num_funcs: u32,
    pub num_defined_funcs: u32,
    pub num_memories: u32,
    pub num_tables: u32,
    pub num_globals: u32,
}

impl VMOffsets {
    pub fn new(module: &ModuleInfo) -> Self {
        VMOffsets {
            num_funcs: module.funcs.len() as u32,
            num_defined_funcs: module.num_defined_funcs(),
            num_memories: module.memories.len() as u32,
            num_tables: module.tables.len() as u32,
            num_globals: module.globals.len() as u32,
        }
    }

    /// Slot holding `*const VMFuncRef` of function `index` (null never).
    pub fn func_ref(&self, index: u32) -> u32 {
        VMCTX_HEADER_SIZE + index * PTR_SIZE
    }

    pub fn memory_ptr(&self, index: u32) -> u32 {
        self.func_ref(self.num_funcs) + index * PTR_SIZE
    }

    pub fn table_ptr(&self, index: u32) -> u32 {
        self.memory_ptr(self.num_memories) + index * PTR_SIZE
    }

    pub fn global_ptr(&self, index: u32) -> u32 {
        self.table_ptr(self.num_tables) + index * PTR_SIZE
    }

    /// The inline `VMFuncRef` of defined function `defined_index`.
    pub fn defined_func_ref(&self, defined_index: u32) -> u32 {
        self.global_ptr(self.num_globals) + defined_index * func_ref::SIZE
    }

    pub fn size(&self) -> u32 {
        self.defined_func_ref(self.num_defined_funcs)
    }
}
