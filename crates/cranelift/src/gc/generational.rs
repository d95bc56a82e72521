//! The generational collector: allocation bumps through the nursery
//! inline (the copying collector's fast path), and a card-marking write
//! barrier keeps the remembered set complete.
//!
//! Write barrier, after the store, for a field or element of a heap
//! object (globals and tables are roots of every collection and need
//! none): the object's card in the store's card table is marked
//! (`gc_layout::CARD_SHIFT`; kiln-gc's `cards.rs`), whatever the object
//! and the value. Three instructions (shift, add, byte store), no branch,
//! no load but the table's address, which the barriers of the following
//! stores reuse. Filtering out stores that need no remembering (the value
//! old, null or an i31, or the object young) took two range tests, an i31
//! test and a header load on the paths that pass them; a minor collection
//! pays for the marks instead, by scanning the objects of the marked cards
//! of the mature space.
//!
//! The object's offset is below the heap's length once the store into it
//! succeeded (a store beyond it faults and traps), so its card is inside
//! the table, which covers the heap's capacity.
//!
//! Reads and initialising stores need no barrier: a minor collection
//! finds nursery objects through roots and marked cards, and an object
//! allocated outside the nursery has its card marked at birth by the
//! runtime.

use super::{ArrayContents, GcCompiler, RefSlot, bump};
use crate::translate::{FuncTranslator, RefFacts};
use cranelift_codegen::ir::{InstBuilder, MemFlagsData, Value, types::*};
use kiln_environ::gc_layout::{CARD_MARKED, CARD_SHIFT, GcArrayLayout, GcStructLayout};
use kiln_environ::vmoffsets::{VMCTX_STORE_CONTEXT_OFFSET, store_context};

pub(crate) struct GenerationalCompiler;

impl GcCompiler for GenerationalCompiler {
    fn alloc_struct(&self, t: &mut FuncTranslator<'_, '_>, type_id: Value, layout: &GcStructLayout) -> Value {
        bump::alloc_struct(t, type_id, layout, bump::CollectorHeader::default())
    }

    fn alloc_array(&self, t: &mut FuncTranslator<'_, '_>, type_id: Value, len: Value, layout: &GcArrayLayout, contents: ArrayContents) -> Value {
        bump::alloc_array(t, type_id, len, layout, bump::CollectorHeader::default(), contents, None)
    }

    fn store_gc_ref(&self, t: &mut FuncTranslator<'_, '_>, flags: MemFlagsData, slot: RefSlot, addr: Value, v: Value, _held: RefFacts) {
        t.b.ins().store(flags, v, addr, 0);
        let RefSlot::Object(obj) = slot else { return };
        // The table's address changes only when the heap is made, in a
        // call: loaded as VM state, so it is reloaded after calls only.
        let ctx = t.env.load_vmctx_ptr(&mut t.b, t.vmctx, VMCTX_STORE_CONTEXT_OFFSET);
        let cards = t.b.ins().load(I64, t.flags.vm, ctx, store_context::GC_CARD_TABLE as i32);
        let card = t.b.ins().ushr_imm_u(obj, i64::from(CARD_SHIFT));
        let card = t.b.ins().uextend(I64, card);
        let at = t.b.ins().iadd(cards, card);
        let marked = t.b.ins().iconst(I8, i64::from(CARD_MARKED));
        t.b.ins().store(t.flags.gc_cards, marked, at, 0);
    }
}
