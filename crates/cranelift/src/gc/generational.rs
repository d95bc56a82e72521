//! The generational collector: allocation bumps through the nursery
//! inline (the copying collector's fast path), and a write barrier keeps
//! the remembered set complete.
//!
//! Write barrier, after the store, for a field or element of a heap
//! object (globals and tables are roots of every collection and need
//! none): when the new value lies in the nursery and the object does not,
//! and the object's `GEN_REMEMBERED_BIT` is clear, the barrier sets the
//! bit and appends the object to the store's barrier log (or, when the
//! log is full, sets its overflow flag: the collector then finds the
//! objects by their bit). No call on any path (see
//! `append_to_barrier_log`). An i31 leaves after one test of its tag bit;
//! both range tests are one subtraction and one unsigned compare against
//! the nursery's size (null wraps around and fails the first). Once
//! remembered, an object costs one header load per store until the next
//! collection.
//!
//! Reads and initialising stores need no barrier: a minor collection
//! finds nursery objects through roots and remembered objects, and an
//! object allocated outside the nursery is remembered at birth by the
//! runtime.

use super::{ArrayContents, GcCompiler, RefSlot, append_to_barrier_log, bump};
use crate::translate::FuncTranslator;
use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{InstBuilder, MemFlagsData, Value, types::*};
use kiln_environ::gc_layout::{GEN_REMEMBERED_BIT, GcArrayLayout, GcStructLayout, HEADER_KIND_OFFSET};
use kiln_environ::vmoffsets::{VMCTX_STORE_CONTEXT_OFFSET, store_context};

pub(crate) struct GenerationalCompiler;

impl GcCompiler for GenerationalCompiler {
    fn alloc_struct(&self, t: &mut FuncTranslator<'_, '_>, type_id: Value, layout: &GcStructLayout) -> Value {
        bump::alloc_struct(t, type_id, layout, bump::CollectorHeader::default())
    }

    fn alloc_array(&self, t: &mut FuncTranslator<'_, '_>, type_id: Value, len: Value, layout: &GcArrayLayout, contents: ArrayContents) -> Value {
        bump::alloc_array(t, type_id, len, layout, bump::CollectorHeader::default(), contents)
    }

    fn store_gc_ref(&self, t: &mut FuncTranslator<'_, '_>, flags: MemFlagsData, slot: RefSlot, addr: Value, v: Value) {
        t.b.ins().store(flags, v, addr, 0);
        let RefSlot::Object(obj) = slot else { return };
        let check_value = t.b.create_block();
        let check_object = t.b.create_block();
        let check_bit = t.b.create_block();
        let remember = t.b.create_block();
        let done = t.b.create_block();

        // The nursery's bounds are loaded before the first branch, on the
        // path every store takes, so that the barriers of the next stores
        // (dominated by this one) reuse them: they change only at
        // collections, which are calls.
        let ctx = t.env.load_vmctx_ptr(&mut t.b, t.vmctx, VMCTX_STORE_CONTEXT_OFFSET);
        let start = t.b.ins().load(I32, t.flags.vm, ctx, store_context::GC_NURSERY_START as i32);
        let end = t.b.ins().load(I32, t.flags.vm, ctx, store_context::GC_NURSERY_END as i32);
        let size = t.b.ins().isub(end, start);

        // An i31 (tag bit set) leaves at once: code that keeps small
        // integers in reference slots pays one test.
        let tag = t.b.ins().band_imm_u(v, 1);
        t.b.ins().brif(tag, done, &[], check_value, &[]);
        t.b.seal_block(check_value);

        t.b.switch_to_block(check_value);
        let v_offset = t.b.ins().isub(v, start);
        let young_value = t.b.ins().icmp(IntCC::UnsignedLessThan, v_offset, size);
        t.b.ins().brif(young_value, check_object, &[], done, &[]);
        t.b.seal_block(check_object);

        t.b.switch_to_block(check_object);
        let obj_offset = t.b.ins().isub(obj, start);
        let old_object = t.b.ins().icmp(IntCC::UnsignedGreaterThanOrEqual, obj_offset, size);
        t.b.ins().brif(old_object, check_bit, &[], done, &[]);
        t.b.seal_block(check_bit);

        t.b.switch_to_block(check_bit);
        let header = t.gc_object_addr(obj);
        let kind = t.b.ins().load(I32, t.flags.gc, header, HEADER_KIND_OFFSET as i32);
        let remembered = t.b.ins().band_imm_u(kind, i64::from(GEN_REMEMBERED_BIT));
        t.b.ins().brif(remembered, done, &[], remember, &[]);
        t.b.seal_block(remember);

        // Remembered from now on: the bit, and an entry in the log (or,
        // when it is full, the overflow flag).
        t.b.switch_to_block(remember);
        let marked = t.b.ins().bor_imm_u(kind, i64::from(GEN_REMEMBERED_BIT));
        t.b.ins().store(t.flags.gc, marked, header, HEADER_KIND_OFFSET as i32);
        append_to_barrier_log(t, obj);
        t.b.ins().jump(done, &[]);
        t.b.seal_block(done);
        t.b.switch_to_block(done);
    }
}
