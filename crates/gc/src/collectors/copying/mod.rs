//! The copying collector: Cheney's semi-space algorithm over one indexed
//! heap.
//!
//! Objects are bump-allocated in the *current space*; a collection copies
//! the objects reachable from the roots into the *reserve* (the to-space),
//! back to back, rewriting every root slot and every reference field of the
//! copies, and the reserve becomes the current space. Everything left
//! behind is garbage and its memory is free at once: a collection costs
//! time proportional to the live objects (plus the externrefs, below), not
//! to the heap. Cycles are collected like any other garbage. Barriers do
//! nothing: cloning, dropping, writing and exposing a reference are plain
//! copies, as in the null collector.
//!
//! The mechanisms are shared: allocation is the bump allocator's, copying,
//! forwarding and scanning are [`crate::forward::Evacuation`]'s (which
//! uses the tracer for the reference fields), every access goes through
//! the bounds-checked accessors. This file is the policy: where the spaces
//! are, when the heap grows, what happens to externrefs.
//!
//! # Space layout
//!
//! The heap is one [`HeapMemory`] region whose base never moves; objects
//! can start from `FIRST_OBJECT_OFFSET` to the usable end `E`. At any time
//! (outside a collection) the only memory holding live objects is the used
//! part `[start, top)` of the current space `[start, end)`. The reserve is
//! a range disjoint from the current space, at least as large as it, so a
//! collection can always copy everything allocated. Everything else is
//! garbage, free for the next layout.
//!
//! The layout is planned ([`plan`]) whenever the spaces change: after each
//! collection (`start` is then where the copies begin) and on growth. The
//! current space must stay at `start` (its objects cannot move without a
//! collection), so the plan only picks its end and the reserve, whichever
//! gives the larger space:
//! - *reserve below*: the reserve is `[FIRST_OBJECT_OFFSET, start)` and the
//!   space takes as much of `[start, E)` as the reserve can hold;
//! - *reserve above*: `[start, E)` is split in two halves, the space below
//!   and the reserve above.
//!
//! In a heap that has not grown this is the classic flip between two
//! halves: the first space is the lower half (reserve above); a collection
//! copies into the upper half, whose plan puts the reserve below (the old
//! space), and the next one copies back to the bottom. A collection that
//! finds nothing alive starts the next space at the bottom again.
//!
//! # Growth
//!
//! `grow` extends the memory in place (its base stays fixed: compiled code
//! reads objects at `base + offset`) and replans: the new memory lies above
//! everything, so the reserve above gets larger, and the current space
//! takes half of what the reserve gains. Allocation can continue at once:
//! growing by `n` bytes gives about `n / 2` bytes of allocation room (a
//! semi-space heap needs twice its allocation room), and the next
//! collection copies into the larger reserve. When the current space is
//! the upper half, replanning moves the reserve from below to above it (the
//! new memory plus the current space's unused top half); the memory below
//! the space is then unused until a collection copies the live objects up
//! into the reserve, and the following one copies them down to the bottom,
//! where the layout is two halves of the whole memory again.
//!
//! # Shrinking
//!
//! A collection that leaves a large heap mostly empty (live data under a
//! sixteenth) halves it when the copies lie low enough: the memory above
//! the new end is given back to the system (`HeapMemory::discard`)
//! and the spaces are planned below it. Growth reuses that memory first.
//!
//! # Large objects
//!
//! Objects of `large::LARGE_OBJECT` bytes or more are not allocated in the
//! current space but in the large-object space (`large.rs`), which grows
//! down from the top of the memory's capacity: they are marked rather
//! than copied, need no reserve, and their pages go back to the system
//! when they die. The spaces planned here lie below it: `end` never
//! passes the large-object space's start (growth stops there), and the
//! large-object space never reaches below `end`. A large object that
//! finds no room there is bump-allocated like any other.
//!
//! # Plain objects
//!
//! Arrays of numbers from `plain::PLAIN_OBJECT_MIN` bytes up to the large
//! objects' size go to the plain-object space (`plain.rs`), in chunks the
//! large-object space lends: marked rather than copied (they reference
//! nothing), their memory reused by a sweep after each collection. Like
//! the large-object space it asks for a collection once it has placed as
//! much as it held after the last one. One that finds no room is
//! bump-allocated like any other.
//!
//! # Wasted memory
//!
//! - The reserve: about half of the heap, as for any semi-space collector
//!   (the price of collections proportional to the live data only). In a
//!   heap of 32 MiB or more its pages are given back after each
//!   collection (`CopyingHeap::discard_old_space`) and faulted in again
//!   as they are reached: the memory held is the current space and the
//!   next collection's copies, not both spaces whole.
//! - After growth, until at most two collections have passed: the memory
//!   below an upper current space (see above), and the part of a reserve
//!   below that is larger than the space above it.
//! - The memory from `E` to the end of the region (under 8 bytes), and the
//!   first 16 bytes (offset 0 is never an object).
//!
//! # Externrefs
//!
//! The heap keeps, in side memory, the offset of every externref object in
//! the current space (allocated with an externref header, or copied there).
//! After copying, a collection walks that list: an externref whose header
//! holds no forwarding offset was not copied, so it is dead, and its host
//! data is removed from the [`HostDataTable`] (dropped). Each externref
//! object is listed once, and the table refuses a second removal of an id,
//! so host data is dropped exactly once. This costs one step per externref
//! rather than a walk of all the garbage.
//!
//! # Collections
//!
//! See `collection.rs`: roots, then the Cheney scan, then the externref
//! sweep, each in bounded steps; the flip to the new space happens when all
//! of it is done. Dropping a collection that has started finishes it (a
//! half-copied heap has roots pointing into both spaces, so it cannot be
//! left halfway).
//!
//! # Corruption
//!
//! The spaces, the bump cursor, the scan cursor and the externref list are
//! side state, so a corrupt heap cannot move them. References that are not
//! valid objects in the current space are reported as `Corrupt` and left
//! as they are (see `forward.rs`); copying is bounded by the reserve's size
//! and scanning by the copies, so a collection's work is linear in the heap
//! size whatever its contents.

mod collection;

use collection::CopyingCollection;

use super::{bump_alloc_object, check_alloc_kind, check_raw_kind, init_array_len, new_ref};
use crate::alloc::bump::BumpAllocator;
use crate::alloc::{block_size, init_object};
use crate::header::read_header;
use crate::large::{LARGE_OBJECT, LargeMarks, LargeObjectSpace};
use crate::memory::{grow_memory, usable_end};
use crate::plain::{PlainMarks, PlainSpace};
use crate::types::TypeCache;
use crate::verify::verify_spaces;
use crate::{
    Collector, GarbageCollection, GcError, GcHeap, GcRoots, GcRuntime, GcStats, GcTypes, HeapMemory, HostDataTable, Result, VMGcHeader,
    VMGcKind, VMGcRef, VerifyReport,
};
use kiln_environ::gc_layout::{FIRST_OBJECT_OFFSET, OBJECT_ALIGN};
use kiln_environ::{GcTypeLayouts, StandardLayouts};
use std::ops::Range;
use std::sync::Arc;

pub(crate) struct CopyingRuntime;

impl GcRuntime for CopyingRuntime {
    fn collector(&self) -> Collector {
        Collector::Copying
    }

    fn layouts(&self) -> &dyn GcTypeLayouts {
        &StandardLayouts
    }

    fn new_gc_heap(&self, memory: Box<dyn HeapMemory>, types: Arc<dyn GcTypes>) -> Result<Box<dyn GcHeap>> {
        Ok(Box::new(CopyingHeap::new(memory, types)))
    }
}

/// A layout: the end of the current space and the reserve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Layout {
    pub(super) space_end: u64,
    pub(super) reserve: Range<u64>,
}

/// Plans the spaces for a current space starting at `start` that must
/// reach at least `min_end` (its used part, or its current end: a space
/// never shrinks), in a memory usable up to `end`. See the module docs.
///
/// With a sound heap the space's capacity never exceeds the reserve. Only
/// `min_end` can force it higher (when a corrupt heap made a collection
/// copy more than the old space held); the reserve then stays disjoint and
/// the next collection reports the objects that do not fit as corrupt.
pub(super) fn plan(start: u64, min_end: u64, end: u64) -> Layout {
    let first = u64::from(FIRST_OBJECT_OFFSET);
    let align = !u64::from(OBJECT_ALIGN - 1);
    let above = end.saturating_sub(start) & align;
    let below = start.saturating_sub(first) & align;
    let with_reserve_below = above.min(below);
    let with_reserve_above = (above / 2) & align;
    if with_reserve_below >= with_reserve_above {
        Layout { space_end: (start + with_reserve_below).max(min_end), reserve: first..start.max(first) }
    } else {
        let space_end = (start + with_reserve_above).max(min_end);
        Layout { space_end, reserve: space_end..end.max(space_end) }
    }
}

/// A heap that needs at most this much (live data times its share) still
/// doubles: in a small heap collections cost more in fixed costs (the
/// stack walk, the roots) than the memory costs.
const SMALL_HEAP: u64 = 8 << 20;
/// Heaps from this size give back the pages of the space a collection
/// leaves (`CopyingHeap::discard_old_space`).
const DISCARD_FROM: u64 = 32 << 20;
/// A larger heap grows in steps of this much at least.
const GROWTH_GRAIN: u64 = 1 << 20;

/// How much a semi-space heap of `len` bytes (both spaces) wants to grow
/// by after a collection left `live` bytes in its space: nothing while a
/// quarter of it holds the live data (an eighth while the live data is at
/// most an eighth of [`SMALL_HEAP`]); else doubling while the heap needed
/// is small ([`SMALL_HEAP`]), and above that growth to half as much again
/// as needed, and by at least half its size.
///
/// Above the small sizes the heap follows its live data (six times it,
/// where doubling left anything from four to eight times) rather than
/// powers of two, and grows in smaller steps, so a collection is more
/// likely to come before the heap has outgrown the data. The half again is
/// the hysteresis that keeps a heap whose live data sits at the quarter
/// from growing at every collection, and the half its size makes a heap
/// whose live data climbs steadily (a tree being built) grow
/// geometrically, in few collections. Measured against doubling (`kiln
/// run`, benches/README): deep_trees' peak memory 141 -> 87 MB and its
/// time 5-25 % less at 4 to 16 trees; array_window's peak 76 -> 47 MB for
/// as many collections again (the same time at 100,000 steps, 14 % more
/// at 400,000); splay's peak 8-15 % less; large_heap unchanged.
///
/// The other collectors keep [`crate::heap::wanted_growth`]: DRC measured
/// slower with this (deep_trees 209 -> 335 ms: its frees need more room
/// than its live data says).
pub(super) fn semi_space_growth(len: u64, live: u64) -> u64 {
    let live_share = if live.saturating_mul(8) <= SMALL_HEAP { 8 } else { 4 };
    let needed = live.saturating_mul(live_share);
    if needed <= len {
        return 0;
    }
    if needed <= SMALL_HEAP {
        return len;
    }
    let target = needed.saturating_add(needed / 2).max(len.saturating_add(len / 2));
    target.checked_next_multiple_of(GROWTH_GRAIN).unwrap_or(target).saturating_sub(len)
}

pub(crate) struct CopyingHeap {
    pub(super) memory: Box<dyn HeapMemory>,
    pub(super) types: TypeCache,
    /// The usable end of the memory.
    pub(super) end: u64,
    /// Where the current space starts: objects lie back to back from here
    /// to the bump cursor.
    pub(super) start: u64,
    /// Allocation in the current space; its end is the space's end.
    pub(super) bump: BumpAllocator,
    /// The next collection's to-space.
    pub(super) reserve: Range<u64>,
    /// Offsets of the externref objects in the current space, ascending.
    pub(super) externrefs: Vec<u32>,
    /// The large objects, above `end`.
    pub(super) large: LargeObjectSpace,
    /// The plain objects, in chunks of the large-object space.
    pub(super) plain: PlainSpace,
    /// The usable end the heap was made with, which a reset returns to.
    initial_end: u64,
    pub(super) stats: GcStats,
}

impl CopyingHeap {
    pub(crate) fn new(memory: Box<dyn HeapMemory>, types: Arc<dyn GcTypes>) -> CopyingHeap {
        let first = u64::from(FIRST_OBJECT_OFFSET);
        let mut heap = CopyingHeap {
            large: LargeObjectSpace::new(memory.capacity() as u64),
            initial_end: usable_end(memory.len()),
            memory,
            types: TypeCache::new(types),
            end: 0,
            start: first,
            bump: BumpAllocator::new(first, first),
            reserve: first..first,
            externrefs: Vec::new(),
            plain: PlainSpace::default(),
            stats: GcStats::default(),
        };
        heap.reset(false);
        heap
    }

    /// Makes the space starting at `start`, used up to `top`, current.
    pub(super) fn set_space(&mut self, start: u64, top: u64) {
        let layout = plan(start, top, self.end);
        self.start = start;
        self.bump = BumpAllocator::new(top, layout.space_end);
        self.reserve = layout.reserve;
    }

    /// A large or plain object's allocation fails (so the runtime
    /// collects) once its space wants a sweep (`LargeObjectSpace::wants_sweep`,
    /// `PlainSpace::wants_sweep`).
    pub(super) fn alloc_block(&mut self, header: VMGcHeader, size: u32) -> Result<VMGcRef> {
        if PlainSpace::takes(&header, self.types.get(header.type_index()), size) {
            if self.plain.wants_sweep(self.end) {
                return Err(GcError::OutOfMemory { requested: u64::from(size) });
            }
            if let Some(r) = self.alloc_plain(header, size)? {
                return Ok(r);
            }
        }
        if LargeObjectSpace::takes(&header, size, LARGE_OBJECT) {
            if self.large.wants_sweep(self.end) {
                return Err(GcError::OutOfMemory { requested: u64::from(size) });
            }
            if let Some(r) = self.alloc_large(header, size)? {
                return Ok(r);
            }
        }
        self.bump_alloc_block(header, size)
    }

    /// Allocates in the current space.
    pub(super) fn bump_alloc_block(&mut self, header: VMGcHeader, size: u32) -> Result<VMGcRef> {
        let r = bump_alloc_object(&mut self.bump, self.memory.bytes_mut(), &mut self.stats, header, size)?;
        if header.kind() == Some(VMGcKind::ExternRef) {
            self.externrefs.push(r.as_raw_u32());
        }
        Ok(r)
    }

    /// Makes the memory reach the large-object space's limit, where its
    /// blocks lie. Lazily backed: the pages cost nothing until an object
    /// uses them.
    fn reach_large_space(&mut self) -> Result<()> {
        let limit = self.large.limit();
        if (self.memory.len() as u64) < limit {
            self.memory.grow(limit as usize)?;
        }
        Ok(())
    }

    /// Allocates a pointer-free array in the plain-object space, if it
    /// has room (or the large-object space a chunk for it).
    fn alloc_plain(&mut self, header: VMGcHeader, size: u32) -> Result<Option<VMGcRef>> {
        let size = block_size(size)?;
        self.reach_large_space()?;
        let Some(offset) = self.plain.place(size, &mut *self.memory, &mut self.large, self.end)? else { return Ok(None) };
        init_object(self.memory.bytes_mut(), offset, header.with_collector_bits(0), size)?;
        self.stats.record_allocation(size);
        self.stats.heap_size = self.heap_size();
        new_ref(offset).map(Some)
    }

    /// Allocates an object in the large-object space, if it has room
    /// above the spaces' memory.
    pub(super) fn alloc_large(&mut self, header: VMGcHeader, size: u32) -> Result<Option<VMGcRef>> {
        let size = block_size(size)?;
        check_alloc_kind(&header, size)?;
        self.reach_large_space()?;
        let Some(offset) = self.large.place(size, self.end) else { return Ok(None) };
        // Its pages may be fresh (a sweep discards most of what it frees):
        // backed in one call rather than a fault per page as the zeroing
        // reaches them.
        self.memory.prefault(offset as usize..offset as usize + size as usize);
        init_object(self.memory.bytes_mut(), offset, header.with_collector_bits(0), size)?;
        self.stats.record_allocation(size);
        self.stats.heap_size = self.heap_size();
        new_ref(offset).map(Some)
    }

    /// Frees the large objects a full collection's `marks` did not reach.
    pub(crate) fn sweep_large(&mut self, marks: &LargeMarks) {
        let freed = self.large.sweep(marks, &mut *self.memory);
        self.stats.bytes_in_use = self.stats.bytes_in_use.saturating_sub(freed);
    }

    /// Frees the plain objects a collection's `marks` did not reach.
    fn sweep_plain(&mut self, marks: &PlainMarks, errors: &mut Option<GcError>) {
        let freed = self.plain.sweep(marks, &mut *self.memory, &mut self.large, self.end, errors);
        self.stats.bytes_in_use = self.stats.bytes_in_use.saturating_sub(freed);
    }

    /// Records what a collection left in use: the current space's used
    /// part, the large objects and the plain ones.
    pub(super) fn record_bytes_in_use(&mut self) {
        self.stats.bytes_in_use = self.bump.top() - self.start + self.large.bytes_in_use() + self.plain.bytes_in_use();
    }

    /// The bytes in use in the spaces alone: large and plain objects are
    /// never copied, so heap sizing leaves them out.
    pub(super) fn space_bytes_in_use(&self) -> u64 {
        self.stats.bytes_in_use.saturating_sub(self.large.bytes_in_use() + self.plain.bytes_in_use())
    }

    /// The memory the heap manages: the spaces' and the large objects'.
    pub(super) fn heap_size(&self) -> u64 {
        self.end + self.large.reserved()
    }

    /// The spaces' usable end after growing by `additional` bytes, which
    /// must leave the large-object space where it is.
    pub(super) fn grown_end(&mut self, additional: u64) -> Result<u64> {
        if self.end.saturating_add(additional) > self.large.start() {
            return Err(GcError::HeapLimit { requested: self.heap_size().saturating_add(additional), limit: self.memory.capacity() as u64 });
        }
        grow_memory(&mut *self.memory, self.end, additional)
    }

    /// `spaces` (ascending) with each large object's extent and each
    /// plain-object chunk, ascending, for the verifier.
    pub(super) fn with_objects_apart(&self, mut spaces: Vec<Range<u64>>) -> Result<Vec<Range<u64>>> {
        for obj in self.large.objects() {
            let size = read_header(self.memory.bytes(), u64::from(obj))?.size();
            spaces.push(u64::from(obj)..u64::from(obj) + u64::from(size));
        }
        spaces.extend(self.plain.chunk_ranges());
        spaces.sort_unstable_by_key(|r| r.start);
        Ok(spaces)
    }

    /// The current space's used part.
    pub(super) fn used(&self) -> Range<u64> {
        self.start..self.bump.top()
    }

    /// The copies `[start, top)` of a collection become the current space
    /// (a collection that copied nothing starts again from the bottom).
    pub(super) fn flip_to(&mut self, start: u64, top: u64, externrefs: Vec<u32>) {
        self.discard_old_space(start..top);
        self.externrefs = externrefs;
        let first = u64::from(FIRST_OBJECT_OFFSET);
        let (start, top) = if top == start { (first, first) } else { (start, top) };
        self.shrink_if_mostly_empty(top - start, top);
        self.set_space(start, top);
        self.record_bytes_in_use();
        self.stats.heap_size = self.heap_size();
        self.stats.record_collection();
    }

    /// Gives back the pages of the space a collection copied out of
    /// (`self`'s current space, now garbage, disjoint from the `copies`),
    /// in a heap of at least [`DISCARD_FROM`] bytes: they are faulted in
    /// again as the next collection copies into them and the allocation
    /// after it reaches them, so the heap holds its current space and the
    /// next collection's copies rather than both spaces whole. deep_trees
    /// (a 79 MB heap) peaked at 64 MB instead of 86 (`kiln run`), for 7 %
    /// more time; keeping the first pages, as many as the copies, backed
    /// saved less than half of the faults' time and kept most of the
    /// memory (79 MB). splay (a 15 MB heap, below the threshold) was 10 %
    /// slower for 2 MB less.
    fn discard_old_space(&mut self, copies: Range<u64>) {
        let old = self.start..self.bump.end();
        let disjoint = old.end <= copies.start || copies.end <= old.start;
        if self.end >= DISCARD_FROM && disjoint {
            self.memory.discard(old.start as usize..old.end as usize);
        }
    }

    /// Halves a large heap whose live data (`live` bytes, ending at `top`)
    /// fell below a sixteenth of it, giving the upper half's pages back to
    /// the system. Only when the live objects lie in the lower quarter, so
    /// the smaller heap holds them and a reserve as large. A heap grows
    /// again once a quarter of it is live (`GcHeap::wanted_growth`), so
    /// halving leaves it an eighth live at most: no oscillation.
    fn shrink_if_mostly_empty(&mut self, live: u64, top: u64) {
        /// Heaps below this are not worth shrinking.
        const MIN_SHRINK: u64 = 32 << 20;
        let new_end = (self.end / 2) & !((1 << 16) - 1);
        if self.end < MIN_SHRINK || live.saturating_mul(16) >= self.end || top > new_end / 2 {
            return;
        }
        self.memory.discard(new_end as usize..self.end as usize);
        self.end = new_end;
    }
}

impl GcHeap for CopyingHeap {
    fn collector(&self) -> Collector {
        Collector::Copying
    }

    fn memory(&self) -> &dyn HeapMemory {
        &*self.memory
    }

    fn memory_mut(&mut self) -> &mut dyn HeapMemory {
        &mut *self.memory
    }

    fn alloc_raw(&mut self, header: VMGcHeader, size: u32) -> Result<VMGcRef> {
        check_raw_kind(&header)?;
        self.alloc_block(header, size)
    }

    fn alloc_uninit_struct(&mut self, type_index: u32) -> Result<VMGcRef> {
        let size = self.types.struct_size(type_index)?;
        self.alloc_block(VMGcHeader::new(VMGcKind::StructRef, type_index), size)
    }

    fn alloc_uninit_array(&mut self, type_index: u32, len: u32) -> Result<VMGcRef> {
        let (header, size) = self.types.array_header(type_index, len)?;
        let r = self.alloc_block(header, size)?;
        init_array_len(self.memory.bytes_mut(), &r, len)?;
        Ok(r)
    }

    fn collect<'a>(&'a mut self, roots: GcRoots<'a>, host_data: &'a mut HostDataTable) -> Box<dyn GarbageCollection + 'a> {
        Box::new(CopyingCollection::new(self, roots, host_data))
    }

    fn reset(&mut self, zero: bool) {
        if zero {
            self.memory.clear();
        }
        self.end = self.initial_end.min(usable_end(self.memory.len()));
        let first = u64::from(FIRST_OBJECT_OFFSET);
        self.set_space(first, first);
        self.externrefs.clear();
        self.large = LargeObjectSpace::new(self.memory.capacity() as u64);
        self.plain.reset();
        self.types.clear();
        self.stats = GcStats { heap_size: self.heap_size(), ..GcStats::default() };
    }

    /// Grows the memory in place and replans the spaces: about half of
    /// `additional` becomes allocation room at once, and the reserve (the
    /// next collection's to-space) grows by the rest (see the module docs).
    fn grow(&mut self, additional: u64) -> Result<()> {
        self.end = self.grown_end(additional)?;
        let layout = plan(self.start, self.bump.end(), self.end);
        self.bump.set_end(layout.space_end);
        self.reserve = layout.reserve;
        self.stats.heap_size = self.heap_size();
        Ok(())
    }

    /// Judged on the spaces alone: large objects are never copied, so
    /// they need no room in them.
    fn wanted_growth(&self) -> u64 {
        semi_space_growth(self.end, self.space_bytes_in_use())
    }

    fn stats(&self) -> GcStats {
        self.stats
    }

    fn bump_region(&self) -> Option<(u32, u32)> {
        crate::collectors::bump_region(&self.bump)
    }

    fn set_bump_next(&mut self, next: u32) -> Result<()> {
        crate::collectors::advance_bump(&mut self.bump, &mut self.stats, next)
    }

    fn plain_region(&self) -> Option<(u32, u32)> {
        self.plain.inline_region()
    }

    fn plain_start_table(&self) -> Option<*mut u8> {
        self.plain.start_table()
    }

    fn set_plain_next(&mut self, next: u32) -> Result<()> {
        let allocated = self.plain.advance_to(u64::from(next), self.memory.bytes_mut())?;
        self.stats.record_inline_allocation(allocated);
        Ok(())
    }

    /// Checks the used part of the current space (objects back to back,
    /// valid, referencing only each other and the large objects), that no
    /// object carries a forwarding offset, that the externref list names
    /// exactly the externref objects, and that the layout is sound.
    fn verify(&self) -> Result<VerifyReport> {
        let mem = self.memory.bytes();
        let used = self.used();
        let chunks: Vec<Range<u64>> = self.plain.chunk_ranges().collect();
        let walk = verify_spaces(mem, &self.with_objects_apart(vec![used.clone()])?, &chunks, self.types.types())?;
        let mut types = TypeCache::new(self.types.types().clone());
        self.plain.check(mem, |t| types.get(t).cloned())?;
        let mut externrefs = Vec::new();
        for &obj in &walk.objects {
            let header = read_header(mem, u64::from(obj))?;
            if header.collector_bits() != 0 {
                return Err(GcError::corrupt("object in the current space carries collector state", obj));
            }
            if header.kind() == Some(VMGcKind::ExternRef) {
                externrefs.push(obj);
            }
        }
        if externrefs != self.externrefs {
            return Err(GcError::corrupt("externref list disagrees with the heap", used.start));
        }
        let space = self.start..self.bump.end();
        let overlaps = self.reserve.start < space.end && space.start < self.reserve.end;
        if overlaps || self.reserve.end > self.end || space.end > self.end.max(space.start) {
            return Err(GcError::corrupt("reserve overlaps the current space", self.reserve.start));
        }
        if self.reserve.end - self.reserve.start < used.end - used.start {
            return Err(GcError::corrupt("reserve smaller than the live objects", self.reserve.start));
        }
        if !self.large.check(self.end) {
            return Err(GcError::corrupt("large-object space overlaps the spaces or itself", self.large.start()));
        }
        Ok(walk.report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(start: u64, min_end: u64, end: u64) -> Layout {
        let l = plan(start, min_end, end);
        assert!(l.space_end >= min_end && l.space_end >= start);
        assert!(l.reserve.end <= end.max(l.space_end));
        assert!(l.reserve.end <= start || l.reserve.start >= l.space_end, "{l:?} overlaps");
        assert!(l.reserve.end - l.reserve.start >= l.space_end - start || l.space_end == min_end, "{l:?} reserve too small");
        assert_eq!((l.space_end % 8, l.reserve.start % 8, l.reserve.end % 8), (0, 0, 0));
        l
    }

    #[test]
    fn plans_flip_between_two_halves() {
        let e = 16 + 2 * 1000;
        assert_eq!(check(16, 16, e), Layout { space_end: 1016, reserve: 1016..e });
        assert_eq!(check(1016, 1016 + 80, e), Layout { space_end: e, reserve: 16..1016 });
        // Copying back to the bottom: halves again.
        assert_eq!(check(16, 96, e), Layout { space_end: 1016, reserve: 1016..e });
    }

    #[test]
    fn growth_gives_half_of_the_new_memory_to_the_space() {
        // Lower space: the reserve above takes the new memory, the space
        // half of it.
        let l = check(16, 1016, 16 + 4000);
        assert_eq!(l, Layout { space_end: 16 + 2000, reserve: 16 + 2000..16 + 4000 });
        // Upper space: the reserve moves above it.
        let l = check(1016, 16 + 2000, 16 + 4000);
        assert_eq!(l, Layout { space_end: 2512, reserve: 2512..16 + 4000 });
    }

    #[test]
    fn small_heaps_double_once_an_eighth_is_live() {
        const MIB: u64 = 1 << 20;
        assert_eq!(semi_space_growth(4 * MIB, MIB / 2), 0);
        assert_eq!(semi_space_growth(4 * MIB, MIB / 2 + 8), 4 * MIB);
        assert_eq!(semi_space_growth(MIB, 0), 0);
    }

    #[test]
    fn larger_heaps_follow_their_live_data() {
        const MIB: u64 = 1 << 20;
        // 13 MB live in 36 MiB needs 52 MB: the heap grows to half as
        // much again, 75 MiB (rounded up), not to 72 or 144 MiB.
        assert_eq!(36 * MIB + semi_space_growth(36 * MIB, 13_025_280), 75 * MIB);
        // A quarter live: no growth.
        assert_eq!(semi_space_growth(64 * MIB, 16 * MIB), 0);
        // Barely over: by half the heap at least (and a grain, rounded up).
        assert_eq!(semi_space_growth(64 * MIB, 16 * MIB + 8), 33 * MIB);
        // Huge live data cannot overflow the arithmetic.
        assert!(semi_space_growth(64 * MIB, u64::MAX / 2) > 0);
    }

    #[test]
    fn tiny_and_corrupt_cases_stay_disjoint() {
        for (start, min_end, end) in [(16, 16, 0), (16, 16, 8), (16, 16, 24), (16, 16, 40), (1016, 2016, 2016), (512, 4000, 2016), (16, 8, 16)] {
            check(start, min_end, end);
        }
    }
}
