//! Inline bump allocation, shared by the collectors that allocate by
//! advancing a cursor (null and copying through their whole space, DRC
//! through a free block, its region).
//!
//! The store context holds the cursor and the end of the current
//! allocation region (`GC_BUMP_NEXT`, `GC_BUMP_END`; both 0 when compiled
//! code must not allocate inline, e.g. under GC zeal). The fast path
//! advances the cursor and writes the header; when the object does not
//! fit, the allocation builtin runs (it may collect, grow the heap, and
//! refill the region) behind its exit trampoline.
//!
//! The copying collector keeps a second region for *plain objects*
//! (arrays of numbers of `kiln_gc::PLAIN_OBJECT_MIN` bytes or more, which
//! it never copies): `GC_PLAIN_NEXT`/`GC_PLAIN_END`, laid out like the
//! first pair, so an array whose size is only known at run time picks its
//! pair by one offset; a plain object's start is also set in the start
//! table (`GC_PLAIN_STARTS`), by which the collector finds its extent.
//!
//! Invariant: the region's bytes are not zeroed. Structs have every field
//! written by the caller; arrays are zeroed here, inline for small ones
//! and by the builtin (at `memset` speed) for large ones, unless the
//! caller overwrites them (`ArrayContents::Overwritten`).

use super::ArrayContents;
use crate::translate::FuncTranslator;
use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{Block, BlockArg, Endianness, InstBuilder, MemFlagsData, Value, types::*};
use kiln_environ::gc_layout::{
    ARRAY_LENGTH_OFFSET, GcArrayLayout, GcStructLayout, HEADER_KIND_OFFSET, HEADER_TYPE_INDEX_OFFSET, VMGcKind, array_kind_word,
    fixed_object_kind_word,
};
use kiln_environ::vmoffsets::{VMCTX_STORE_CONTEXT_OFFSET, store_context};

/// Arrays up to this many bytes are allocated inline (and zeroed there,
/// 64 bytes per loop step, unless the caller fills them); larger ones go
/// to the builtin, whose zeroing is a `memset`. Below this the builtin's
/// call costs more than the zeroing it does faster: `array.new_default`
/// of 0.25-8 KB `i32` arrays (`new int[n]` in Java or Kotlin), 300,000 of
/// them, took 79 -> 58 ms under copying, 67 -> 57 under generational and
/// 112 -> 62 under DRC when this limit went from 1 KiB to 16 KiB for
/// zeroed arrays.
const MAX_INLINE_ARRAY_BYTES: i64 = 16 << 10;

/// What a collector sets in a new object besides its kind, type and size.
#[derive(Clone, Copy, Default)]
pub(super) struct CollectorHeader<'h> {
    /// The collector bits of the kind word.
    pub(super) bits: u32,
    /// Bytes the collector keeps before each object (DRC: its count).
    pub(super) prefix: u32,
    /// Runs in the fast path once the header is written, given the new
    /// object's native address (DRC: writes the prefix).
    pub(super) init: Option<&'h dyn Fn(&mut FuncTranslator<'_, '_>, Value)>,
}

/// A struct of `layout.size` bytes.
pub(super) fn alloc_struct(t: &mut FuncTranslator<'_, '_>, type_id: Value, layout: &GcStructLayout, init: CollectorHeader<'_>) -> Value {
    let size = t.b.ins().iconst(I64, i64::from(layout.size + init.prefix));
    // Continues in the fast path's block.
    let ((addr, r), slow, done) = bump_or_branch(t, size, None, init.prefix, None);
    write_header(t, addr, fixed_object_kind_word(VMGcKind::StructRef, layout.size), type_id, init);
    t.b.ins().jump(done, &[BlockArg::Value(r)]);

    t.b.switch_to_block(slow);
    let r = super::alloc_struct_out_of_line(t, type_id);
    finish(t, r, done)
}

/// An array of `len` elements, zeroed or not as `contents` says; one of
/// `plain_from` bytes or more is a plain object, bumped from the plain
/// region (see the module docs).
pub(super) fn alloc_array(
    t: &mut FuncTranslator<'_, '_>,
    type_id: Value,
    len: Value,
    layout: &GcArrayLayout,
    init: CollectorHeader<'_>,
    contents: ArrayContents,
    plain_from: Option<u32>,
) -> Value {
    let len64 = t.b.ins().uextend(I64, len);
    let bytes = t.b.ins().imul_imm_u(len64, i64::from(layout.elem_size));
    let end = t.b.ins().iadd_imm_u(bytes, i64::from(layout.base) + 7);
    let size = t.b.ins().band_imm_s(end, !7i64);
    let small = t.b.ins().icmp_imm_u(IntCC::UnsignedLessThanOrEqual, size, MAX_INLINE_ARRAY_BYTES);
    let block = if init.prefix == 0 { size } else { t.b.ins().iadd_imm_u(size, i64::from(init.prefix)) };
    let plain = plain_from.map(|from| t.b.ins().icmp_imm_u(IntCC::UnsignedGreaterThanOrEqual, size, i64::from(from)));
    let ((addr, r), slow, done) = bump_or_branch(t, block, Some(small), init.prefix, plain);
    if let Some(plain) = plain {
        set_plain_start(t, plain, r);
    }
    write_header(t, addr, array_kind_word(layout.elem_size), type_id, init);
    t.b.ins().store(t.flags.gc_array_length, len, addr, ARRAY_LENGTH_OFFSET as i32);
    if contents == ArrayContents::Zeroed {
        zero_elements(t, addr, size);
    }
    t.b.ins().jump(done, &[BlockArg::Value(r)]);

    t.b.switch_to_block(slow);
    let r = super::alloc_array_out_of_line(t, type_id, len);
    finish(t, r, done)
}

/// Tries to take `size` (i64) bytes from the region, if `eligible` (an
/// i8 condition) also holds, and leaves the builder in the fast path's
/// block, where the cursor was advanced. The region is the plain one
/// where `plain` (an i8 condition) holds. Returns the new object's native
/// address and reference there (`prefix` bytes into the block), the
/// (empty) slow path's block, and the `done` block, which takes the
/// reference.
fn bump_or_branch(t: &mut FuncTranslator<'_, '_>, size: Value, eligible: Option<Value>, prefix: u32, plain: Option<Value>) -> ((Value, Value), Block, Block) {
    let mut ctx = t.env.load_vmctx_ptr(&mut t.b, t.vmctx, VMCTX_STORE_CONTEXT_OFFSET);
    if let Some(plain) = plain {
        // The plain pair lies at a fixed distance from the other.
        let distance = t.b.ins().iconst(I64, i64::from(store_context::GC_PLAIN_NEXT - store_context::GC_BUMP_NEXT));
        let zero = t.b.ins().iconst(I64, 0);
        let shift = t.b.ins().select(plain, distance, zero);
        ctx = t.b.ins().iadd(ctx, shift);
    }
    let flags = t.flags.gc_cursors;
    let next = t.b.ins().load(I32, flags, ctx, store_context::GC_BUMP_NEXT as i32);
    let end = t.b.ins().load(I32, flags, ctx, store_context::GC_BUMP_END as i32);
    // In 64 bits, so the sum cannot wrap; an empty region (0, 0) never
    // fits.
    let next64 = t.b.ins().uextend(I64, next);
    let new_next = t.b.ins().iadd(next64, size);
    let end64 = t.b.ins().uextend(I64, end);
    let mut fits = t.b.ins().icmp(IntCC::UnsignedLessThanOrEqual, new_next, end64);
    if let Some(eligible) = eligible {
        fits = t.b.ins().band(fits, eligible);
    }

    let fast = t.b.create_block();
    let slow = t.b.create_block();
    let done = t.b.create_block();
    t.b.append_block_param(done, I32);
    t.b.ins().brif(fits, fast, &[], slow, &[]);
    t.b.seal_block(fast);
    t.b.seal_block(slow);

    t.b.switch_to_block(fast);
    let new_next32 = t.b.ins().ireduce(I32, new_next);
    t.b.ins().store(flags, new_next32, ctx, store_context::GC_BUMP_NEXT as i32);
    let base = t.gc_heap_base();
    let addr = t.b.ins().iadd(base, next64);
    if prefix == 0 {
        return ((addr, next), slow, done);
    }
    let object = t.b.ins().iadd_imm_u(addr, i64::from(prefix));
    let r = t.b.ins().iadd_imm_u(next, i64::from(prefix));
    ((object, r), slow, done)
}

/// Sets, if `plain` (an i8 condition) holds, the start-table bit of the
/// new object `r`, which continues in the fast path's block.
fn set_plain_start(t: &mut FuncTranslator<'_, '_>, plain: Value, r: Value) {
    let mark = t.b.create_block();
    let join = t.b.create_block();
    t.b.ins().brif(plain, mark, &[], join, &[]);
    t.b.seal_block(mark);
    t.b.switch_to_block(mark);
    let ctx = t.env.load_vmctx_ptr(&mut t.b, t.vmctx, VMCTX_STORE_CONTEXT_OFFSET);
    let table = t.b.ins().load(I64, t.flags.vm, ctx, store_context::GC_PLAIN_STARTS as i32);
    let byte = t.b.ins().ushr_imm_u(r, 6);
    let byte = t.b.ins().uextend(I64, byte);
    let at = t.b.ins().iadd(table, byte);
    let granule = t.b.ins().ushr_imm_u(r, 3);
    let shift = t.b.ins().band_imm_s(granule, 7);
    let one = t.b.ins().iconst(I32, 1);
    let bit = t.b.ins().ishl(one, shift);
    let flags = t.flags.gc_cards;
    let bits = t.b.ins().uload8(I32, flags, at, 0);
    let bits = t.b.ins().bor(bits, bit);
    t.b.ins().istore8(flags, bits, at, 0);
    t.b.ins().jump(join, &[]);
    t.b.seal_block(join);
    t.b.switch_to_block(join);
}

/// Writes the header of the new object at native address `object`:
/// `kind_word` (kind and size field) with the collector's bits, and the
/// type; then runs the collector's `init`.
fn write_header(t: &mut FuncTranslator<'_, '_>, object: Value, kind_word: u32, type_id: Value, init: CollectorHeader<'_>) {
    let gc = t.flags.gc;
    let kind = t.b.ins().iconst(I32, i64::from(kind_word | (init.bits & VMGcKind::COLLECTOR_BITS_MASK)));
    t.b.ins().store(gc, kind, object, HEADER_KIND_OFFSET as i32);
    t.b.ins().store(gc, type_id, object, HEADER_TYPE_INDEX_OFFSET as i32);
    if let Some(init) = init.init {
        init(t, object);
    }
}

/// Zeroes bytes `[ARRAY_LENGTH_OFFSET + 4, size)` of the array at `object`.
fn zero_elements(t: &mut FuncTranslator<'_, '_>, object: Value, size: Value) {
    let zero = t.b.ins().iconst(I64, 0);
    let zeros = t.b.ins().splat(I64X2, zero);
    store_repeated(t, object, ARRAY_LENGTH_OFFSET + 4, size, zeros);
}

/// Stores the 16-byte vector `lanes` (a repeated element, of any lane
/// type) over bytes `[from, size)` of the object at `object`: when `from`
/// is 4 bytes past an 8-byte boundary, its first 4 bytes first, then 64
/// bytes at a time (four stores per loop test), then 16, then its first 8
/// bytes if they remain (`size` is a multiple of 8). Array zeroing and
/// `array.new`'s fill of numbers share it.
///
/// The vector must come from a `splat` of a plain value, never of an
/// operation with an immediate (a mask, a multiplication by a constant):
/// Cranelift rematerialises those where they are used, which would put
/// the splat inside the loop.
pub(crate) fn store_repeated(t: &mut FuncTranslator<'_, '_>, object: Value, from: u32, size: Value, lanes: Value) {
    let gc = t.flags.gc;
    let little = MemFlagsData::new().with_endianness(Endianness::Little);
    let mut start = from;
    if start % 8 != 0 {
        debug_assert_eq!(start % 8, 4, "elements start 4-aligned");
        let words = t.b.ins().bitcast(I32X4, little, lanes);
        let low = t.b.ins().extractlane(words, 0);
        t.b.ins().store(gc, low, object, start as i32);
        start += 4;
    }
    let first = t.b.ins().iconst(I64, i64::from(start));
    let offset = store_repeated_loop(t, object, first, size, lanes, 4);
    let offset = store_repeated_loop(t, object, offset, size, lanes, 1);

    // At most 8 bytes remain.
    let last = t.b.create_block();
    let exit = t.b.create_block();
    let more = t.b.ins().icmp(IntCC::UnsignedLessThan, offset, size);
    t.b.ins().brif(more, last, &[], exit, &[]);
    t.b.switch_to_block(last);
    t.b.seal_block(last);
    let doubles = t.b.ins().bitcast(I64X2, little, lanes);
    let low = t.b.ins().extractlane(doubles, 0);
    let addr = t.b.ins().iadd(object, offset);
    t.b.ins().store(gc, low, addr, 0);
    t.b.ins().jump(exit, &[]);
    t.b.switch_to_block(exit);
    t.b.seal_block(exit);
}

/// A loop storing `stores` copies of the 16-byte `lanes` per iteration
/// from byte `offset` on while they fit below `size`; returns where it
/// stopped.
fn store_repeated_loop(t: &mut FuncTranslator<'_, '_>, object: Value, offset: Value, size: Value, lanes: Value, stores: u32) -> Value {
    let header = t.b.create_block();
    let body = t.b.create_block();
    let exit = t.b.create_block();
    t.b.append_block_param(header, I64);
    t.b.append_block_param(exit, I64);
    t.b.ins().jump(header, &[BlockArg::Value(offset)]);

    t.b.switch_to_block(header);
    let offset = t.b.block_params(header)[0];
    let end = t.b.ins().iadd_imm_u(offset, i64::from(16 * stores));
    let whole = t.b.ins().icmp(IntCC::UnsignedLessThanOrEqual, end, size);
    t.b.ins().brif(whole, body, &[], exit, &[BlockArg::Value(offset)]);

    t.b.switch_to_block(body);
    t.b.seal_block(body);
    let addr = t.b.ins().iadd(object, offset);
    for k in 0..stores {
        t.b.ins().store(t.flags.gc, lanes, addr, (16 * k) as i32);
    }
    t.b.ins().jump(header, &[BlockArg::Value(end)]);
    t.b.seal_block(header);

    t.b.switch_to_block(exit);
    t.b.seal_block(exit);
    t.b.block_params(exit)[0]
}

/// Ends the slow path with the builtin's reference `r` and continues in
/// `done` with it.
fn finish(t: &mut FuncTranslator<'_, '_>, r: Value, done: Block) -> Value {
    t.b.ins().jump(done, &[BlockArg::Value(r)]);
    t.b.seal_block(done);
    t.b.switch_to_block(done);
    t.b.block_params(done)[0]
}
