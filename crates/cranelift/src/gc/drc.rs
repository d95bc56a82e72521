//! Deferred reference counting (the seed's collector): counts live in a
//! prefix before each object (`gc_layout::DRC_PREFIX_SIZE`) and compiled
//! code keeps them, inline.
//!
//! - Allocation: inline, bumping through the heap's region (a free block);
//!   the object is born fresh (`DRC_FRESH_BIT | DRC_LOGGED_BIT`, count 1:
//!   the count the root log holds for it, although it has no log entry —
//!   the collection finds fresh objects by walking the region's spans).
//!   The builtins allocate when the region is used up.
//! - Read barrier: a reference loaded from a field, element, global or
//!   table reaches the Wasm stack, which DRC does not count but logs: if
//!   the object's `DRC_LOGGED_BIT` is clear, the barrier sets it, counts
//!   the log entry and appends the object to the store's barrier log,
//!   which the runtime adds to the heap's root log. One load and a test
//!   on the fast path.
//! - No read barrier in a function that makes no call (`call_free`): the
//!   log guards stack references against the runtime, which frees only
//!   when Wasm calls out or returns, so a reference that dies before the
//!   function returns needs no entry; the function logs the references it
//!   returns instead (the return barrier). Such a function can drop an
//!   object's count to zero while it still holds it, and store it again:
//!   the object is *revived*, its count above zero with `PENDING_FREE`
//!   set, and the runtime keeps it when it takes the log.
//! - Write barrier: count the new value (saturating at `u32::MAX`), store
//!   it, then release the old one: its count is decremented inline; one
//!   about to reach zero is zeroed, marked pending and logged with a tag
//!   (once: a revived object dropped again is pending already), and the
//!   runtime frees it when it takes the log if its count is still zero.
//!   An i31 replacing an i31 is a plain store after one test.
//! - No barrier calls out, on any path: a call is a safepoint, and
//!   Cranelift keeps GC references live across a safepoint in stack slots
//!   (see `append_to_barrier_log`). A full log loses the entry but not
//!   the bookkeeping (bit and count set as for a logged entry) and sets
//!   the store's overflow flag; the next collection then rebuilds the root
//!   log and the free queue from the bits in the heap. (It used to leak
//!   instead, and one leaked count kept everything reachable from its
//!   object alive until a backup trace.)
//! - Init barrier: count the new value and store it (a fresh object's
//!   field held nothing).
//!
//! Null and i31 references skip every barrier. Header accesses add at most
//! a header offset to a 32-bit reference, and a count's address is the
//! reference minus 4 wrapped to 32 bits, so both stay inside the heap's
//! reservation: a corrupted reference can miscount objects of the heap,
//! never touch memory outside it.

use super::bump::{self, CollectorHeader};
use super::{ArrayContents, Counted, GcCompiler, RefSlot, append_to_barrier_log};
use crate::translate::{FuncTranslator, RefFacts};
use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{Block, InstBuilder, MemFlagsData, Value, types::*};
use kiln_environ::gc_layout::{
    DRC_FRESH_BIT, DRC_LOG_ZERO_COUNT_TAG, DRC_LOGGED_BIT, DRC_PENDING_FREE_BIT, DRC_PREFIX_MARKER, DRC_PREFIX_SIZE, DRC_REF_COUNT_OFFSET,
    GcArrayLayout, GcStructLayout, HEADER_KIND_OFFSET,
};

pub(crate) struct DrcCompiler;

/// A new object's header: fresh and logged, its count the log's.
const FRESH: CollectorHeader<'static> =
    CollectorHeader { bits: DRC_FRESH_BIT | DRC_LOGGED_BIT, prefix: DRC_PREFIX_SIZE, init: Some(&write_fresh_prefix) };

/// The prefix of a new object at native address `object`: the marker and
/// a count of 1.
fn write_fresh_prefix(t: &mut FuncTranslator<'_, '_>, object: Value) {
    let gc = t.flags.gc;
    let marker = t.b.ins().iconst(I32, i64::from(DRC_PREFIX_MARKER as i32));
    t.b.ins().store(gc, marker, object, -(DRC_PREFIX_SIZE as i32));
    let one = t.b.ins().iconst(I32, 1);
    t.b.ins().store(gc, one, object, DRC_REF_COUNT_OFFSET);
}

impl GcCompiler for DrcCompiler {
    fn alloc_struct(&self, t: &mut FuncTranslator<'_, '_>, type_id: Value, layout: &GcStructLayout) -> Value {
        bump::alloc_struct(t, type_id, layout, FRESH)
    }

    fn alloc_array(&self, t: &mut FuncTranslator<'_, '_>, type_id: Value, len: Value, layout: &GcArrayLayout, contents: ArrayContents) -> Value {
        bump::alloc_array(t, type_id, len, layout, FRESH, contents, None)
    }

    fn load_gc_ref(&self, t: &mut FuncTranslator<'_, '_>, flags: MemFlagsData, addr: Value) -> Value {
        let v = t.b.ins().load(I32, flags, addr, 0);
        if !t.call_free {
            // Tests null and i31 whatever the slot's type: without the i31
            // test, Cranelift stopped sharing the header loads of the casts
            // that follow a load (the casts workload +38 % instructions).
            log_on_stack(t, v, RefFacts::default());
        }
        v
    }

    fn read_barrier_guards_calls(&self) -> bool {
        true
    }

    fn return_gc_ref(&self, t: &mut FuncTranslator<'_, '_>, v: Value, held: RefFacts) {
        let held = held.and(t.facts(v));
        log_on_stack(t, v, held);
    }

    fn store_gc_ref(&self, t: &mut FuncTranslator<'_, '_>, flags: MemFlagsData, _slot: RefSlot, addr: Value, v: Value, held: RefFacts) {
        store_counted(t, flags, addr, v, held, Counted::Both);
    }

    fn counts_references(&self) -> bool {
        true
    }

    fn store_moved_gc_ref(&self, t: &mut FuncTranslator<'_, '_>, flags: MemFlagsData, _slot: RefSlot, addr: Value, v: Value, held: RefFacts, counted: Counted) {
        store_counted(t, flags, addr, v, held, counted);
    }

    fn count_gc_ref(&self, t: &mut FuncTranslator<'_, '_>, v: Value, held: RefFacts) {
        increment(t, v, held);
    }

    fn init_gc_ref(&self, t: &mut FuncTranslator<'_, '_>, flags: MemFlagsData, addr: Value, v: Value, held: RefFacts) {
        let held = held.and(t.facts(v));
        increment(t, v, held);
        t.b.ins().store(flags, v, addr, 0);
    }
}

/// The write barrier, keeping the counts `counted` says (a move's halves
/// keep one each: see `translate/moves.rs`).
fn store_counted(t: &mut FuncTranslator<'_, '_>, flags: MemFlagsData, addr: Value, v: Value, held: RefFacts, counted: Counted) {
    let new = held.and(t.facts(v));
    let (count_new, release_old) = (counted != Counted::OldOnly, counted != Counted::NewOnly);
    let old = if release_old { Some(t.b.ins().load(I32, flags, addr, 0)) } else { None };
    let counts = |t: &mut FuncTranslator<'_, '_>| {
        // The new value is counted before the old one is released: they
        // may be the same object, whose count must not touch zero in
        // between.
        if count_new {
            increment(t, v, new);
        }
        t.b.ins().store(flags, v, addr, 0);
        if let Some(old) = old {
            decrement(t, old, held);
        }
    };
    let Some(old) = old.filter(|_| !held.not_i31) else {
        return counts(t);
    };
    // When the old and the new value are both i31s (tag bit set in both),
    // no count changes: one test covers the common case of code that keeps
    // small integers in reference slots.
    let both = t.b.ins().band(old, v);
    let tag = t.b.ins().band_imm_u(both, 1);
    let counting = t.b.create_block();
    let plain = t.b.create_block();
    let done = t.b.create_block();
    t.b.ins().brif(tag, plain, &[], counting, &[]);
    t.b.seal_block(plain);
    t.b.seal_block(counting);

    t.b.switch_to_block(plain);
    t.b.ins().store(flags, v, addr, 0);
    t.b.ins().jump(done, &[]);

    t.b.switch_to_block(counting);
    counts(t);
    t.b.ins().jump(done, &[]);
    t.b.seal_block(done);
    t.b.switch_to_block(done);
}

/// Logs `v`, a reference the Wasm stack now holds, unless it is logged
/// already (or not a heap object): the bit, a count for the entry, the
/// entry. With the log full, the bit and the count alone, and the overflow
/// flag, which makes the next collection find the entries missing from
/// the log in the heap (by their bit).
fn log_on_stack(t: &mut FuncTranslator<'_, '_>, v: Value, facts: RefFacts) {
    let done = if_heap_object(t, v, facts, |t| {
        let header = t.gc_object_addr(v);
        let kind = t.b.ins().load(I32, t.flags.gc, header, HEADER_KIND_OFFSET as i32);
        let logged = t.b.create_block();
        set_header_bit_once(t, header, kind, DRC_LOGGED_BIT, logged, |t| {
            increment_object(t, v);
            append_to_barrier_log(t, v);
        });
        t.b.seal_block(logged);
        t.b.switch_to_block(logged);
    });
    t.b.switch_to_block(done);
}

/// Unless collector bit `bit` is set in `kind`, the kind word of the
/// header at native address `header`, sets it there and runs `then` (the
/// object's one log entry for that bit); either way goes on at `next`,
/// which the caller seals.
fn set_header_bit_once(t: &mut FuncTranslator<'_, '_>, header: Value, kind: Value, bit: u32, next: Block, then: impl FnOnce(&mut FuncTranslator<'_, '_>)) {
    let set = t.b.ins().band_imm_u(kind, i64::from(bit));
    let first = t.b.create_block();
    t.b.ins().brif(set, next, &[], first, &[]);
    t.b.seal_block(first);
    t.b.switch_to_block(first);
    let marked = t.b.ins().bor_imm_u(kind, i64::from(bit));
    t.b.ins().store(t.flags.gc, marked, header, HEADER_KIND_OFFSET as i32);
    then(t);
    t.b.ins().jump(next, &[]);
}

/// Runs `body` when `r` is a heap object (not null, not i31), testing
/// only what `facts` (what `r`'s static type guarantees) leaves open;
/// returns the join block, sealed, which the caller switches to.
fn if_heap_object(t: &mut FuncTranslator<'_, '_>, r: Value, facts: RefFacts, body: impl FnOnce(&mut FuncTranslator<'_, '_>)) -> Block {
    let done = t.b.create_block();
    // Two tests and branches rather than one combined condition: each is
    // a test-and-jump on x64, and code that moves i31s or nulls around
    // takes the first exit without computing the second.
    if !facts.object && !facts.not_i31 {
        let not_i31 = t.b.create_block();
        let tag = t.b.ins().band_imm_u(r, 1);
        t.b.ins().brif(tag, done, &[], not_i31, &[]);
        t.b.seal_block(not_i31);
        t.b.switch_to_block(not_i31);
    }
    if !facts.object && !facts.non_null {
        let object = t.b.create_block();
        t.b.ins().brif(r, object, &[], done, &[]);
        t.b.seal_block(object);
        t.b.switch_to_block(object);
    }
    body(t);
    t.b.ins().jump(done, &[]);
    t.b.seal_block(done);
    done
}

/// The native address of the count of object `r` (a heap object), in
/// its prefix: `r - 4`, wrapped to 32 bits so that no reference, however
/// corrupt, reaches before the heap.
fn count_addr(t: &mut FuncTranslator<'_, '_>, r: Value) -> Value {
    let at = t.b.ins().iadd_imm_s(r, i64::from(DRC_REF_COUNT_OFFSET));
    t.gc_object_addr(at)
}

/// Counts one more reference to `r` (saturating: a count at `u32::MAX`
/// stays, and its object is never freed).
fn increment(t: &mut FuncTranslator<'_, '_>, r: Value, facts: RefFacts) {
    let done = if_heap_object(t, r, facts, |t| increment_object(t, r));
    t.b.switch_to_block(done);
}

/// Counts one more reference to the heap object `r`.
fn increment_object(t: &mut FuncTranslator<'_, '_>, r: Value) {
    let at = count_addr(t, r);
    let count = t.b.ins().load(I32, t.flags.gc, at, 0);
    // Saturating: a count at `u32::MAX` stays (its object is immortal: a
    // leak, never an early free), which is exactly when `count + 1` wraps.
    let next = t.b.ins().iadd_imm_u(count, 1);
    let wrapped = t.b.ins().icmp_imm_u(IntCC::Equal, next, 0);
    let count = t.b.ins().select(wrapped, count, next);
    t.b.ins().store(t.flags.gc, count, at, 0);
}

/// Gives up one reference to `r`. A count about to reach zero becomes zero
/// with `DRC_PENDING_FREE_BIT` set and a tagged entry in the barrier log:
/// the runtime frees the object when it next takes the log, or, with the
/// log full, the next collection (see the module doc). A count already at
/// zero (a corrupted heap) is left alone.
fn decrement(t: &mut FuncTranslator<'_, '_>, r: Value, facts: RefFacts) {
    let done = if_heap_object(t, r, facts, |t| {
        let gc = t.flags.gc;
        let at = count_addr(t, r);
        let count = t.b.ins().load(I32, t.flags.gc, at, 0);
        let last = t.b.ins().icmp_imm_u(IntCC::Equal, count, 1);
        let release = t.b.create_block();
        let inline = t.b.create_block();
        let joined = t.b.create_block();
        t.b.ins().brif(last, release, &[], inline, &[]);
        t.b.seal_block(release);
        t.b.seal_block(inline);

        t.b.switch_to_block(release);
        let header = t.gc_object_addr(r);
        let kind = t.b.ins().load(I32, gc, header, HEADER_KIND_OFFSET as i32);
        let zero = t.b.ins().iconst(I32, 0);
        t.b.ins().store(t.flags.gc, zero, at, 0);
        // A revived object (see the module doc) is pending and logged
        // already: a second entry would queue it twice. With the log full,
        // the overflow flag: the next collection finds the object in the
        // heap by its bit and queues it.
        set_header_bit_once(t, header, kind, DRC_PENDING_FREE_BIT, joined, |t| {
            let entry = t.b.ins().bor_imm_u(r, i64::from(DRC_LOG_ZERO_COUNT_TAG));
            append_to_barrier_log(t, entry);
        });

        // Above one: one less, unless saturated (`u32::MAX`: immortal) or
        // zero (a corrupted heap), the two counts whose predecessor is not
        // below `u32::MAX - 1`.
        t.b.switch_to_block(inline);
        let less = t.b.ins().iadd_imm_s(count, -1);
        let in_range = t.b.ins().icmp_imm_u(IntCC::UnsignedLessThan, less, i64::from(u32::MAX - 1));
        let count = t.b.ins().select(in_range, less, count);
        t.b.ins().store(t.flags.gc, count, at, 0);
        t.b.ins().jump(joined, &[]);
        t.b.seal_block(joined);
        t.b.switch_to_block(joined);
    });
    t.b.switch_to_block(done);
}
