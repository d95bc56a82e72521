//! Collector-specific code generation: the seed's `GcCompiler`.
//!
//! The translator knows no collector by name. For every GC operation whose
//! code differs between collectors it asks the engine's [`GcCompiler`],
//! picked once per compilation from [`crate::Tunables::collector`]:
//! - allocation of structs and arrays (inline fast paths where the
//!   collector allows them, builtins otherwise);
//! - the read barrier: a GC reference loaded from a struct field, an array
//!   element, a global or a table element;
//! - the write barrier: a GC reference stored into any of those;
//! - the init barrier: a GC reference written into a field of an object
//!   that was just allocated (no old value to release);
//! - the return barrier, for collectors whose read barrier only guards
//!   references held across calls: a function that makes no call skips
//!   its read barriers and guards the references it returns instead.
//!
//! What a hook emits is inline CLIF, with calls to builtins only on slow
//! paths: compiled code never makes a dynamic call to reach a barrier.
//! Exceptions are allocated by the `new_exception` builtin, whose
//! runtime-side barriers are the collector's own. Object layouts are the
//! standard ones of `kiln_environ::gc_layout` for every collector so far.
//!
//! One file per collector, mirroring kiln-gc's `collectors/`: [`null`] and
//! [`copying`] (no barriers; both allocate with the shared bump fast path
//! of [`bump`]), [`drc`] (reference-count barriers inline) and
//! [`generational`] (nursery allocation, a card-marking write barrier).

mod bump;
mod copying;
mod drc;
mod generational;
mod null;

pub(crate) use bump::store_repeated;

use crate::func_env::POINTER;
use crate::translate::{FuncTranslator, RefFacts, trap_code};
use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{InstBuilder, MemFlagsData, Value, types::{I32, I64}};
use kiln_environ::gc_layout::{GcArrayLayout, GcStructLayout};
use kiln_environ::vmoffsets::{VMCTX_STORE_CONTEXT_OFFSET, store_context};
use kiln_environ::{Builtin, Trap};
use kiln_gc::Collector;

pub(crate) trait GcCompiler: Sync {
    /// Allocates a struct of engine type `type_id` with `layout`. Its
    /// fields hold unspecified values: the caller writes every one (with
    /// [`GcCompiler::init_gc_ref`] for references).
    fn alloc_struct(&self, t: &mut FuncTranslator<'_, '_>, type_id: Value, layout: &GcStructLayout) -> Value;

    /// Allocates an array of engine type `type_id` with `len` (i32)
    /// elements, as `contents` says. The caller has checked that its size
    /// fits an object.
    fn alloc_array(&self, t: &mut FuncTranslator<'_, '_>, type_id: Value, len: Value, layout: &GcArrayLayout, contents: ArrayContents) -> Value;

    /// Read barrier: loads the GC reference at `addr` (an object's field or
    /// element, a global's cell, a table element).
    fn load_gc_ref(&self, t: &mut FuncTranslator<'_, '_>, flags: MemFlagsData, addr: Value) -> Value {
        t.b.ins().load(I32, flags, addr, 0)
    }

    /// Whether the read barrier only guards references the Wasm stack
    /// holds while the runtime runs, which only a call lets it do (DRC:
    /// the runtime frees objects whose count reached zero when Wasm calls
    /// out or returns). A function whose first translation makes no call
    /// is then translated again with [`FuncTranslator::call_free`] set:
    /// `load_gc_ref` may skip the barrier there, and `return_gc_ref`
    /// guards what the function hands back instead.
    fn read_barrier_guards_calls(&self) -> bool {
        false
    }

    /// Return barrier: GC reference `v` (of which the result type
    /// guarantees `held`) is returned by a call-free function (see
    /// [`GcCompiler::read_barrier_guards_calls`]).
    fn return_gc_ref(&self, t: &mut FuncTranslator<'_, '_>, v: Value, held: RefFacts) {
        let _ = (t, v, held);
    }

    /// Write barrier: stores GC reference `v` over the one at `addr`, in
    /// `slot`. `held` is what the slot's declared type guarantees of the
    /// references in it (the old one and `v`): barriers skip the null and
    /// i31 tests it rules out.
    fn store_gc_ref(&self, t: &mut FuncTranslator<'_, '_>, flags: MemFlagsData, slot: RefSlot, addr: Value, v: Value, held: RefFacts) {
        let _ = (slot, held);
        t.b.ins().store(flags, v, addr, 0);
    }

    /// Whether the write barrier counts references (DRC), so that a
    /// reference moved from one field to another need not be counted in
    /// and out (`translate/moves.rs`).
    fn counts_references(&self) -> bool {
        false
    }

    /// The write barrier of one half of such a move (`counted` is not
    /// `Counted::Both`). Only asked of collectors that count references.
    #[allow(clippy::too_many_arguments)]
    fn store_moved_gc_ref(&self, t: &mut FuncTranslator<'_, '_>, flags: MemFlagsData, slot: RefSlot, addr: Value, v: Value, held: RefFacts, counted: Counted) {
        let _ = counted;
        self.store_gc_ref(t, flags, slot, addr, v, held);
    }

    /// Counts `v`, whose store left its count owed (`Counted::OldOnly`).
    fn count_gc_ref(&self, t: &mut FuncTranslator<'_, '_>, v: Value, held: RefFacts) {
        let _ = (t, v, held);
    }

    /// Init barrier: stores GC reference `v` into a field of an object
    /// allocated by this function and not yet seen by anything else
    /// (`held` as for the write barrier).
    fn init_gc_ref(&self, t: &mut FuncTranslator<'_, '_>, flags: MemFlagsData, addr: Value, v: Value, held: RefFacts) {
        let _ = held;
        t.b.ins().store(flags, v, addr, 0);
    }
}

/// Which counts a write barrier keeps (see `translate/moves.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Counted {
    /// Count the new value, release the old one: every store but a move's.
    Both,
    /// Release the old value only: the caller owes the new one's count.
    OldOnly,
    /// Count the new value only: the old one's release would cancel the
    /// count the caller owes it.
    NewOnly,
}

/// What holds a reference being overwritten.
#[derive(Debug, Clone, Copy)]
pub(crate) enum RefSlot {
    /// A field or element of the heap object whose reference this is.
    Object(Value),
    /// A global's cell or a table element: outside the heap, and a root of
    /// every collection.
    Root,
}

/// What a new array's bytes after its length hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ArrayContents {
    /// Zero.
    Zeroed,
    /// Anything: the caller overwrites every byte up to the object's size
    /// (elements and padding) before the array can be seen, so the
    /// allocator need not zero them. Only for arrays of numbers: a
    /// collection that saw stale bits in a reference element would follow
    /// them.
    Overwritten,
}

/// Allocates a struct through the builtin (which may collect, behind its
/// exit trampoline), trapping when the heap is exhausted: every
/// collector's slow path, and DRC's only path.
pub(super) fn alloc_struct_out_of_line(t: &mut FuncTranslator<'_, '_>, type_id: Value) -> Value {
    let fp = t.b.ins().get_frame_pointer(POINTER);
    let r = t.env.call_builtin(&mut t.b, t.vmctx, Builtin::gc_alloc_struct, &[type_id, fp]).unwrap();
    t.b.ins().trapz(r, trap_code(Trap::GcHeapOutOfMemory));
    r
}

/// Allocates an array of `len` zero elements through the builtin, as
/// [`alloc_struct_out_of_line`] does a struct.
pub(super) fn alloc_array_out_of_line(t: &mut FuncTranslator<'_, '_>, type_id: Value, len: Value) -> Value {
    let fp = t.b.ins().get_frame_pointer(POINTER);
    let r = t.env.call_builtin(&mut t.b, t.vmctx, Builtin::gc_alloc_array, &[type_id, len, fp]).unwrap();
    t.b.ins().trapz(r, trap_code(Trap::GcHeapOutOfMemory));
    r
}

/// Appends `entry` to the store's barrier log (see
/// `store_context::GC_BARRIER_LOG`), or, when the log is full, sets the
/// store's overflow flag (`GC_BARRIER_LOG_OVERFLOW`): the collector then
/// finds what the log is missing by the header bits the barrier set
/// (DRC's).
/// Inline, no call: a call would be a safepoint, and Cranelift keeps every
/// GC reference live across a safepoint in a stack slot, reloading it at
/// each use, so one cold call in a barrier slows down all the code around
/// it. Continues in the join block.
pub(super) fn append_to_barrier_log(t: &mut FuncTranslator<'_, '_>, entry: Value) {
    let ctx = t.env.load_vmctx_ptr(&mut t.b, t.vmctx, VMCTX_STORE_CONTEXT_OFFSET);
    let len = t.b.ins().load(I32, t.flags.gc_cursors, ctx, store_context::GC_BARRIER_LOG_LEN as i32);
    let cap = t.b.ins().load(I32, t.flags.gc_cursors, ctx, store_context::GC_BARRIER_LOG_CAP as i32);
    let has_room = t.b.ins().icmp(IntCC::UnsignedLessThan, len, cap);
    let append = t.b.create_block();
    let overflow = t.b.create_block();
    let done = t.b.create_block();
    t.b.ins().brif(has_room, append, &[], overflow, &[]);
    t.b.seal_block(append);
    t.b.seal_block(overflow);

    t.b.switch_to_block(append);
    let buf = t.b.ins().load(POINTER, t.flags.gc_cursors, ctx, store_context::GC_BARRIER_LOG as i32);
    let len64 = t.b.ins().uextend(I64, len);
    let at = t.b.ins().ishl_imm_u(len64, 2);
    let slot = t.b.ins().iadd(buf, at);
    t.b.ins().store(t.flags.gc_cursors, entry, slot, 0);
    let next = t.b.ins().iadd_imm_u(len, 1);
    t.b.ins().store(t.flags.gc_cursors, next, ctx, store_context::GC_BARRIER_LOG_LEN as i32);
    t.b.ins().jump(done, &[]);

    t.b.switch_to_block(overflow);
    let one = t.b.ins().iconst(I32, 1);
    t.b.ins().store(t.flags.gc_cursors, one, ctx, store_context::GC_BARRIER_LOG_OVERFLOW as i32);
    t.b.ins().jump(done, &[]);
    t.b.seal_block(done);
    t.b.switch_to_block(done);
}

/// The code generator of `collector`'s barriers and allocation.
pub(crate) fn for_collector(collector: Collector) -> &'static dyn GcCompiler {
    match collector {
        Collector::Null => &null::NullCompiler,
        Collector::Copying => &copying::CopyingCompiler,
        Collector::Drc => &drc::DrcCompiler,
        Collector::Generational => &generational::GenerationalCompiler,
    }
}
