//! The generational collector: new objects are bump-allocated in a small
//! *nursery*, collected often by copying its survivors into the *mature
//! space*; the mature space is collected rarely, by compacting it in place
//! (`compact.rs`), so it needs no copy reserve.
//!
//! Most objects die young, so a nursery collection copies little, and the
//! long-lived objects a copying collector would copy at every collection
//! are left in place. The nursery is small enough to stay in the cache
//! while it is filled.
//!
//! # Space layout
//!
//! The heap's spaces are one range `[start, end)` of the memory (the
//! copying heap's state, `copying.rs`, without its reserve), below the
//! large-object space. The mature objects lie from `start` to `mtop`
//! (packed but for the free blocks promotions in place leave, below), and
//! the nursery is carved out of the top: `[ns, end)`, with the
//! mature space's own allocation (the *promotion area*) between,
//! `[mtop, ns)`. The carve gives the nursery at most half of the free
//! part, so the promotion area can always take every nursery object: a
//! nursery collection never runs out of room. A nursery to be promoted in
//! place is carved right above the mature objects instead, as large as
//! the target allows. Objects of [`LARGE_MATURE`] bytes or more
//! live in the large-object space (`large.rs`): born mature (their cards
//! marked), left alone by nursery collections, marked rather than moved
//! by full ones.
//!
//! The nursery is empty after every collection, so it is carved again then
//! (and on growth, when it is empty), at its *target* size when there is
//! room. The target adapts to the survival rate: doubled (up to
//! [`MAX_NURSERY`]) when more than a quarter of a nursery survives, so
//! that objects get longer to die. A nursery carved below its target asks
//! for a full collection, after which the heap grows to make room for it
//! (`wanted_growth`) or shrinks if it is mostly free (`shrink_after_full`):
//! a heap wants its live data twice (at least a nursery's worth of
//! promotion room) plus two nurseries (`wanted_size`).
//!
//! # Collections
//!
//! - *Minor* (`minor.rs`): the nursery is evacuated into the promotion
//!   area, from the roots and from the *remembered set*; references into
//!   the mature space are left alone. Every survivor is promoted (an age of
//!   one collection). When more than half of a nursery survived, the next
//!   few minor collections promote *in place* instead: the whole nursery,
//!   dead objects included, joins the mature space where it is (no trace,
//!   no copy), and the next full collection frees its dead. Programs whose
//!   young objects mostly live (trees built bottom-up, arrays that outlive
//!   a nursery) stop paying for copying them; then one evacuating minor
//!   collection measures the survival rate again.
//! - *Full* (`full.rs`): a mark-compact collection of the mature objects
//!   and the nursery together: the survivors slide down to `start`, in
//!   address order. It runs when the promotion area cannot take the
//!   nursery, when a minor collection left less than a nursery's worth of
//!   room, and when the embedder asks.
//!
//! # The remembered set
//!
//! A minor collection does not trace the mature space, so it must find
//! every mature object that may reference the nursery: those whose card
//! is marked in the card table (`cards.rs`). Compiled code's write barrier
//! marks the card of every object it stores a reference into,
//! unconditionally (three instructions, no branch); the runtime marks the
//! card of an object after writing references into it in bulk
//! ([`GcHeap::record_ref_write`]), and of an object allocated directly in
//! the mature space (a large one), whose initialising stores have no
//! barrier. A minor collection scans the objects that start in marked
//! mature cards, and the marked large objects, for nursery references.
//! Globals, tables and host handles are roots of every collection, so
//! they need no barrier. Every collection empties the nursery, after which
//! no card needs to be marked: minor and full collections clear them all
//! (a promotion in place clears the nursery's and leaves the mature ones
//! for the next minor collection to scan, needlessly but harmlessly).
//!
//! # Trust
//!
//! As for the copying collector, the spaces, cursors, lists and the card
//! table are side state; heap contents are checked where they are read (a
//! card names where to read checked headers, nothing more), and a corrupt
//! heap can at worst make collections report errors and lose objects
//! inside the heap.

mod full;
mod minor;

use super::copying::CopyingHeap;
use crate::cards::CardTable;
use crate::alloc::bump::BumpAllocator;
use crate::header::{object, read_header};
use crate::large::LargeObjectSpace;
use crate::memory::read_u32;
use crate::trace::ref_slots;
use crate::types::TypeCache;
use crate::verify::verify_spaces;
use crate::{
    Collector, GarbageCollection, GcError, GcHeap, GcRoots, GcRuntime, GcStats, GcTypes, HeapMemory, HostDataTable, Result, VMGcHeader,
    VMGcKind, VMGcRef, VerifyReport,
};
use kiln_environ::gc_layout::OBJECT_ALIGN;
use kiln_environ::{GcTypeLayouts, StandardLayouts};
use full::FullCollection;
use minor::{InPlacePromotion, MinorCollection};
use std::ops::Range;
use std::sync::Arc;

/// The nursery's size bounds. Its first target, 1 MiB, fits the L2
/// caches of current x86 cores with room to spare; the largest, 4 MiB,
/// keeps the heap a nursery needs (four times its size, see
/// `wanted_growth`) modest.
pub(crate) const MIN_NURSERY: u64 = 64 << 10;
pub(crate) const MAX_NURSERY: u64 = 4 << 20;
const INITIAL_NURSERY: u64 = 1 << 20;

/// Objects of this many bytes or more live in the large-object space.
/// Higher than the copying collector's `large::LARGE_OBJECT`: objects
/// from [`BORN_MATURE`] bytes on are born in the mature space, which is
/// compacted at full collections only, not copied at every one, and the
/// smaller threshold measured slower here (large_heap at 300,000 steps:
/// 68 -> 137 ms; its full collections, sized by the spaces' live data
/// alone, came more often).
const LARGE_MATURE: u32 = 256 << 10;

/// How many minor collections in a row promote in place once a nursery
/// was seen to survive mostly.
const IN_PLACE_RUN: u32 = 3;

/// Objects larger than this are allocated in the mature space (the
/// largest in its large-object space): copying them out of the nursery
/// would cost more than it saves.
const BORN_MATURE: u32 = 32 << 10;

pub(crate) struct GenerationalRuntime;

impl GcRuntime for GenerationalRuntime {
    fn collector(&self) -> Collector {
        Collector::Generational
    }

    fn layouts(&self) -> &dyn GcTypeLayouts {
        &StandardLayouts
    }

    fn new_gc_heap(&self, memory: Box<dyn HeapMemory>, types: Arc<dyn GcTypes>) -> Result<Box<dyn GcHeap>> {
        Ok(Box::new(GenerationalHeap::new(memory, types)))
    }
}

/// The nursery: `[start, bump.end())`, used up to `bump.top()`.
struct Nursery {
    start: u64,
    bump: BumpAllocator,
    /// Offsets of the externref objects in the nursery, ascending.
    externrefs: Vec<u32>,
    /// The size a carve gives the nursery when there is room.
    target: u64,
    /// How many of the next minor collections promote the nursery in
    /// place rather than evacuate it (see [`Nursery::adapt`]).
    in_place: u32,
}

impl Nursery {
    fn range(&self) -> Range<u64> {
        self.start..self.bump.end()
    }

    fn used(&self) -> Range<u64> {
        self.start..self.bump.top()
    }

    fn capacity(&self) -> u64 {
        self.bump.end() - self.start
    }

    fn is_empty(&self) -> bool {
        self.bump.top() == self.start
    }

    fn contains(&self, obj: u32) -> bool {
        self.range().contains(&u64::from(obj))
    }

    /// Adapts the target to the share of `used` bytes that survived: a
    /// nursery of which more than a quarter survives doubles (up to
    /// [`MAX_NURSERY`]), so that objects get longer to die. It never
    /// shrinks: a nursery of which little survives is doing its job, and a
    /// smaller one would only collect more often.
    ///
    /// A nursery of which more than half survives is not worth copying:
    /// the next [`IN_PLACE_RUN`] minor collections promote it in place,
    /// after which one evacuates it again and measures anew.
    fn adapt(&mut self, used: u64, survived: u64) {
        if survived.saturating_mul(4) > used {
            self.target = (self.target * 2).min(MAX_NURSERY);
        }
        if survived.saturating_mul(2) > used {
            self.in_place = IN_PLACE_RUN;
        }
    }
}

pub(crate) struct GenerationalHeap {
    /// The mature space; its bump allocator is the promotion area, which
    /// ends where the nursery starts.
    mature: CopyingHeap,
    nursery: Nursery,
    /// The remembered set, and the mature objects' starts.
    cards: CardTable,
    /// The next collection must be a full one.
    full_due: bool,
    last_was_full: bool,
}

impl GenerationalHeap {
    pub(crate) fn new(memory: Box<dyn HeapMemory>, types: Arc<dyn GcTypes>) -> GenerationalHeap {
        let cards = CardTable::new(&*memory);
        let mature = CopyingHeap::new(memory, types);
        let start = mature.bump.top();
        let mut heap = GenerationalHeap {
            mature,
            nursery: Nursery { start, bump: BumpAllocator::new(start, start), externrefs: Vec::new(), target: INITIAL_NURSERY, in_place: 0 },
            cards,
            full_due: false,
            last_was_full: true,
        };
        heap.carve_nursery();
        heap
    }

    /// Gives the (empty) nursery the top of the current space: its target
    /// size, or half of the free part if that is less. A nursery below its
    /// target means the mature space is nearly full, or the heap too small
    /// for the nursery: the next collection is a full one, after which the
    /// heap grows (`wanted_growth`) if it can.
    fn carve_nursery(&mut self) {
        debug_assert!(self.nursery.is_empty());
        let align = !u64::from(OBJECT_ALIGN - 1);
        let mtop = self.mature.bump.top();
        let free = self.mature.end.saturating_sub(mtop);
        // A nursery to be promoted in place needs no promotion area: it
        // goes right above the mature objects, which it will extend.
        let in_place = self.nursery.in_place > 0;
        let size = self.nursery.target.min(if in_place { free } else { free / 2 }) & align;
        let start = if in_place { mtop } else { self.mature.end - size };
        self.nursery.start = start;
        self.nursery.bump = BumpAllocator::new(start, start + size);
        self.mature.bump = BumpAllocator::new(mtop, start);
        let can_grow = self.mature.end < self.mature.large.start();
        self.full_due |= size < MIN_NURSERY || (size < self.nursery.target && can_grow);
    }

    /// Room left in the promotion area beyond what the nursery's
    /// evacuation may need.
    fn spare_mature_room(&self) -> u64 {
        let room = self.nursery.start.saturating_sub(self.mature.bump.top());
        room.saturating_sub(self.nursery.capacity())
    }

    fn alloc_block(&mut self, header: VMGcHeader, size: u32) -> Result<VMGcRef> {
        // Copying a large object out of the nursery would cost more than it
        // saves, unless the nursery is to be promoted in place.
        let born_mature = size > BORN_MATURE && self.nursery.in_place == 0;
        if born_mature || u64::from(size) > self.nursery.capacity() / 2 {
            return self.alloc_mature(header, size);
        }
        let r = super::bump_alloc_object(&mut self.nursery.bump, self.mature.memory.bytes_mut(), &mut self.mature.stats, header, size)?;
        if header.kind() == Some(VMGcKind::ExternRef) {
            self.nursery.externrefs.push(r.as_raw_u32());
        }
        Ok(r)
    }

    /// Allocates a large object in the large-object space, or else in the
    /// promotion area if that leaves room to evacuate the whole nursery,
    /// and marks its card (its fields are initialised without barriers).
    /// Without room, the next collection is a full one: only that frees
    /// mature objects.
    fn alloc_mature(&mut self, header: VMGcHeader, size: u32) -> Result<VMGcRef> {
        let takes = LargeObjectSpace::takes(&header, size, LARGE_MATURE);
        // Only full collections free large objects (see
        // `LargeObjectSpace::wants_sweep`).
        if takes && self.mature.large.wants_sweep(self.mature.end) {
            self.full_due = true;
            return Err(GcError::OutOfMemory { requested: u64::from(size) });
        }
        let large = if takes { self.mature.alloc_large(header, size)? } else { None };
        let r = match large {
            Some(r) => r,
            None if u64::from(crate::alloc::block_size(size)?) > self.spare_mature_room() => {
                self.full_due = true;
                return Err(GcError::OutOfMemory { requested: u64::from(size) });
            }
            None => {
                // The runtime zeroes the object, a page at a time without
                // this (large_heap: most of the heap's page faults).
                let top = self.mature.bump.top();
                self.mature.memory.prefault(top as usize..(top + u64::from(size)) as usize);
                let r = self.mature.bump_alloc_block(header, size)?;
                self.cards.record_start(u64::from(r.as_raw_u32()));
                r
            }
        };
        self.cards.mark(r.as_raw_u32());
        Ok(r)
    }

    /// Is `obj` in the mature space's used part or a large object? (Not
    /// necessarily a valid object: its header is checked where it is read.)
    fn is_mature(&self, obj: u32) -> bool {
        self.mature.used().contains(&u64::from(obj)) || self.mature.large.contains_object(obj)
    }

    /// The spaces' size a heap wants after a full collection: the live
    /// data, room to promote as much again (at least a nursery's worth)
    /// before the next full collection (whose cost is proportional to the
    /// live data, so it is spread over as many promoted bytes), and the
    /// nursery with a promotion area as large. Four nurseries besides
    /// twice the live data, as it was, made full collections rarer
    /// (deep_trees about 18 % faster) but put the peak RSS of array_window
    /// above Wasmtime's (benches/README).
    fn wanted_size(&self) -> u64 {
        let live = self.mature.space_bytes_in_use();
        let promotion_room = live.max(self.nursery.target);
        live.saturating_add(promotion_room).saturating_add(self.nursery.target.saturating_mul(2))
    }

    /// After a full collection that left the heap wanting less than four
    /// fifths of it, gives the memory above what it wants back to the
    /// system, halving it at most per collection. The survivors lie
    /// at the bottom, below the wanted size.
    fn shrink_after_full(&mut self) {
        /// Heaps below this are not worth shrinking.
        const MIN_SHRINK: u64 = 16 << 20;
        let (end, wanted) = (self.mature.end, self.wanted_size());
        if end < MIN_SHRINK || wanted.saturating_add(wanted / 4) > end {
            return;
        }
        let new_end = wanted.max(end / 2).next_multiple_of(1 << 16).max(self.mature.bump.top());
        self.mature.memory.discard(new_end as usize..end as usize);
        self.mature.end = new_end;
        self.mature.stats.heap_size = self.mature.heap_size();
    }

    /// The end of a collection: the nursery is empty (each kind of
    /// collection cleared the cards it leaves marked); it is carved again.
    fn after_collection(&mut self, full: bool) {
        let start = self.nursery.start;
        self.nursery.bump = BumpAllocator::new(start, start);
        self.nursery.externrefs.clear();
        self.last_was_full = full;
        self.full_due = false;
        self.carve_nursery();
        self.mature.stats.heap_size = self.mature.heap_size();
    }

    /// Clears the cards of the spaces and of the large objects, the only
    /// ones marked.
    fn clear_cards(&mut self) {
        self.cards.clear(0..self.mature.end);
        for obj in self.mature.large.objects() {
            self.cards.unmark(obj);
        }
    }
}

impl GcHeap for GenerationalHeap {
    fn collector(&self) -> Collector {
        Collector::Generational
    }

    fn memory(&self) -> &dyn HeapMemory {
        &*self.mature.memory
    }

    fn memory_mut(&mut self) -> &mut dyn HeapMemory {
        &mut *self.mature.memory
    }

    fn alloc_raw(&mut self, header: VMGcHeader, size: u32) -> Result<VMGcRef> {
        super::check_raw_kind(&header)?;
        self.alloc_block(header, size)
    }

    fn alloc_uninit_struct(&mut self, type_index: u32) -> Result<VMGcRef> {
        let size = self.mature.types.struct_size(type_index)?;
        self.alloc_block(VMGcHeader::new(VMGcKind::StructRef, type_index), size)
    }

    fn alloc_uninit_array(&mut self, type_index: u32, len: u32) -> Result<VMGcRef> {
        let (header, size) = self.mature.types.array_header(type_index, len)?;
        let r = self.alloc_block(header, size)?;
        super::init_array_len(self.mature.memory.bytes_mut(), &r, len)?;
        Ok(r)
    }

    fn card_table(&self) -> Option<*mut u8> {
        Some(self.cards.as_ptr())
    }

    /// Marks the card of `obj` if it is a mature object. Whether the
    /// references written point into the nursery is not checked: a marked
    /// card costs one scan of its objects at the next minor collection.
    fn record_ref_write(&mut self, obj: &VMGcRef) -> Result<()> {
        let Some(at) = obj.as_heap_index() else { return Ok(()) };
        if self.nursery.contains(at) {
            return Ok(());
        }
        if !self.is_mature(at) {
            return Err(GcError::corrupt("write barrier on something outside the heap's objects", at));
        }
        object(self.mature.memory.bytes(), obj)?;
        self.cards.mark(at);
        Ok(())
    }

    fn request_full_collection(&mut self) {
        self.full_due = true;
    }

    /// Judged after full collections only (after a minor one the bytes
    /// in use include promoted objects that may have died since): see
    /// [`GenerationalHeap::wanted_size`]. It grows by what it lacks, at
    /// least a quarter of its size, so growth comes in few steps.
    fn wanted_growth(&self) -> u64 {
        if !self.last_was_full {
            return 0;
        }
        let (len, wanted) = (self.mature.end, self.wanted_size());
        if wanted <= len {
            return 0;
        }
        (wanted - len).max(len / 4).next_multiple_of(1 << 16)
    }

    /// After a nursery collection that left the mature space too full for
    /// a useful nursery, a full collection is due before the heap grows.
    fn collection_due(&self) -> bool {
        self.full_due && !self.last_was_full
    }

    fn collect<'a>(&'a mut self, roots: GcRoots<'a>, host_data: &'a mut HostDataTable) -> Box<dyn GarbageCollection + 'a> {
        let used = self.nursery.bump.top() - self.nursery.start;
        let room = self.nursery.start.saturating_sub(self.mature.bump.top());
        if self.full_due || (used > room && self.nursery.in_place == 0) {
            Box::new(FullCollection::new(self, roots, host_data))
        } else if self.nursery.in_place > 0 {
            Box::new(InPlacePromotion::new(self))
        } else {
            Box::new(MinorCollection::new(self, roots, host_data))
        }
    }

    fn reset(&mut self, zero: bool) {
        self.cards.reset();
        self.mature.reset(zero);
        self.nursery.target = INITIAL_NURSERY;
        self.nursery.in_place = 0;
        self.after_collection(true);
    }

    /// Grows the memory in place; an empty nursery is carved again at
    /// once (at the new top), a used one when it is next collected.
    fn grow(&mut self, additional: u64) -> Result<()> {
        self.mature.end = self.mature.grown_end(additional)?;
        self.mature.stats.heap_size = self.mature.heap_size();
        if self.nursery.is_empty() {
            // Whether the grown space is still too small is the new
            // carve's to say.
            self.full_due = false;
            self.carve_nursery();
        }
        Ok(())
    }

    fn stats(&self) -> GcStats {
        self.mature.stats
    }

    fn bump_region(&self) -> Option<(u32, u32)> {
        super::bump_region(&self.nursery.bump)
    }

    fn set_bump_next(&mut self, next: u32) -> Result<()> {
        super::advance_bump(&mut self.nursery.bump, &mut self.mature.stats, next)
    }

    /// Checks the mature objects and the nursery's (packed, valid,
    /// referencing only each other), their externref lists, the card
    /// table (every mature object referencing the nursery has its card
    /// marked; the starts are exactly the mature objects') and the layout.
    fn verify(&self) -> Result<VerifyReport> {
        let mem = self.mature.memory.bytes();
        let (mature, nursery) = (self.mature.used(), self.nursery.used());
        let spaces = self.mature.with_objects_apart(vec![mature.clone(), nursery.clone()])?;
        // Promotions in place leave a free block where the promotion area
        // was (`minor.rs`).
        let walk = verify_spaces(mem, &spaces, std::slice::from_ref(&mature), self.mature.types.types())?;
        let mut types = TypeCache::new(self.mature.types.types().clone());
        let mut externrefs = (Vec::new(), Vec::new());
        let mut mature_objects = 0;
        for &obj in &walk.objects {
            let header = read_header(mem, u64::from(obj))?;
            let young = self.nursery.contains(obj);
            if header.collector_bits() != 0 {
                return Err(GcError::corrupt("object carries stray collector state", obj));
            }
            if header.kind() == Some(VMGcKind::ExternRef) {
                if young { &mut externrefs.1 } else { &mut externrefs.0 }.push(obj);
            }
            if mature.contains(&u64::from(obj)) && !self.cards.is_deferred(u64::from(obj)) {
                mature_objects += 1;
                if !self.cards.has_start(u64::from(obj)) {
                    return Err(GcError::corrupt("mature object missing from the card table's starts", obj));
                }
            }
            if !young && !self.cards.is_marked(obj) && references_nursery(&mut types, mem, obj, &header, &self.nursery)? {
                return Err(GcError::corrupt("mature object references the nursery but its card is not marked", obj));
            }
        }
        if externrefs != (self.mature.externrefs.clone(), self.nursery.externrefs.clone()) {
            return Err(GcError::corrupt("externref lists disagree with the heap", mature.start));
        }
        if self.cards.count_starts(mature.clone()) != mature_objects {
            return Err(GcError::corrupt("the card table's starts name something that is not a mature object", mature.start));
        }
        let nursery_inside = self.mature.bump.end() == self.nursery.start && self.nursery.range().end <= self.mature.end;
        if !nursery_inside {
            return Err(GcError::corrupt("the nursery is not at the top of the mature space", self.nursery.start));
        }
        if !self.mature.large.check(self.mature.end) {
            return Err(GcError::corrupt("large-object space overlaps the spaces or itself", self.mature.large.start()));
        }
        Ok(walk.report)
    }
}

/// Does object `obj` hold a reference into the nursery?
fn references_nursery(types: &mut TypeCache, mem: &[u8], obj: u32, header: &VMGcHeader, nursery: &Nursery) -> Result<bool> {
    let slots = ref_slots(types, mem, obj, header)?;
    for i in 0..slots.len() {
        let raw = read_u32(mem, slots.get(i))?;
        if VMGcRef::from_raw_u32(raw).as_ref().and_then(VMGcRef::as_heap_index).is_some_and(|o| nursery.contains(o)) {
            return Ok(true);
        }
    }
    Ok(false)
}
