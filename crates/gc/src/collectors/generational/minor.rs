//! A minor collection: the nursery evacuated into the promotion area, in
//! bounded steps.
//!
//! Phases, in order; a step carries its leftover budget into the next:
//! 1. `Roots`: forward every root slot that references the nursery (one
//!    unit per root).
//! 2. `Remembered`: forward the nursery references of every remembered
//!    object (one unit per object and per reference slot), clearing its
//!    bit: after this collection nothing references the nursery.
//! 3. `Scan`: Cheney's scan of the promoted copies, as in a full copying
//!    collection (`forward.rs`).
//! 4. `Sweep`: the nursery's externrefs that were not promoted are dead:
//!    their host data is dropped.
//!
//! Then the promotion area's cursor moves past the copies, the nursery is
//! emptied and carved again. References into the mature space and the
//! large-object space are left alone throughout ([`Evacuation::leaving`]).
//!
//! The work is bounded by the roots, the remembered objects' slots, the
//! copies (at most the nursery's size) and the nursery's externrefs.
//! Dropping a collection that has made a step finishes it, as for a
//! copying collection: roots and fields may point into both spaces.

use super::GenerationalHeap;
use crate::error::{note, note_err};
use crate::forward::Evacuation;
use crate::header::{read_header, write_header};
use crate::trace::ref_slots;
use crate::alloc::bump::BumpAllocator;
use crate::{DEFAULT_STEP_BUDGET, GarbageCollection, GcError, GcProgress, GcRoots, HostDataTable, Result, VMGcHeader};
use kiln_environ::gc_layout::GEN_REMEMBERED_BIT;
use std::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Roots,
    Remembered,
    Scan,
    Sweep,
    Done,
}

pub(super) struct MinorCollection<'a> {
    heap: &'a mut GenerationalHeap,
    roots: GcRoots<'a>,
    host_data: &'a mut HostDataTable,
    phase: Phase,
    started: bool,
    evacuation: Evacuation,
    next_root: usize,
    /// The remembered set, taken from the heap, and where its scan is.
    remembered: Vec<u32>,
    next_remembered: usize,
    next_remembered_slot: u32,
    /// The nursery's externrefs, taken from the heap for the sweep.
    nursery_externrefs: Vec<u32>,
    next_externref: usize,
    work: u64,
}

impl<'a> MinorCollection<'a> {
    pub(super) fn new(heap: &'a mut GenerationalHeap, roots: GcRoots<'a>, host_data: &'a mut HostDataTable) -> MinorCollection<'a> {
        let promotion = heap.mature.bump.top()..heap.nursery.start;
        let evacuation = Evacuation::new(heap.nursery.used(), promotion).leaving([heap.mature.used(), heap.mature.large.range()]);
        let remembered = std::mem::take(&mut heap.remembered);
        MinorCollection {
            heap,
            roots,
            host_data,
            phase: Phase::Roots,
            started: false,
            evacuation,
            next_root: 0,
            remembered,
            next_remembered: 0,
            next_remembered_slot: 0,
            nursery_externrefs: Vec::new(),
            next_externref: 0,
            work: 0,
        }
    }

    /// Forwards the nursery references of the remembered objects; returns
    /// whether all are done.
    fn remembered(&mut self, budget: &mut u64, errors: &mut Option<GcError>) -> bool {
        let heap = &mut *self.heap;
        let mem = heap.mature.memory.bytes_mut();
        while *budget > 0 && self.next_remembered < self.remembered.len() {
            let obj = self.remembered[self.next_remembered];
            let header = match read_header(mem, u64::from(obj)) {
                Ok(h) => h,
                Err(e) => {
                    note(errors, e);
                    self.next_remembered += 1;
                    continue;
                }
            };
            match ref_slots(&mut heap.mature.types, mem, obj, &header) {
                Ok(slots) => {
                    let n = slots.len();
                    let mut slot = self.next_remembered_slot;
                    while slot < n && *budget > 0 {
                        let at = slots.get(slot);
                        slot += 1;
                        *budget -= 1;
                        self.work += 1;
                        note_err(errors, self.evacuation.forward_field(mem, at));
                    }
                    if slot < n {
                        self.next_remembered_slot = slot;
                        return false;
                    }
                }
                Err(e) => note(errors, e),
            }
            let forgotten = header.with_collector_bits(header.collector_bits() & !GEN_REMEMBERED_BIT);
            note_err(errors, write_header(mem, u64::from(obj), &forgotten));
            *budget = budget.saturating_sub(1);
            self.work += 1;
            self.next_remembered += 1;
            self.next_remembered_slot = 0;
        }
        self.next_remembered >= self.remembered.len()
    }

    /// The copies join the mature space; the nursery starts again.
    fn finish_promotion(&mut self) {
        let heap = &mut *self.heap;
        let promoted = self.evacuation.to_top() - self.evacuation.to_start();
        let used = heap.nursery.bump.top() - heap.nursery.start;
        // The copies lie between the cursor and the nursery: the cursor
        // can move there.
        let _ = heap.mature.bump.advance_to(self.evacuation.to_top());
        heap.mature.externrefs.append(&mut self.evacuation.take_externrefs());
        heap.nursery.adapt(used, promoted);
        heap.mature.record_bytes_in_use();
        heap.mature.stats.record_collection();
        heap.mature.stats.minor_collections += 1;
        heap.after_collection(false);
    }
}

impl GarbageCollection for MinorCollection<'_> {
    fn step(&mut self, budget: u32) -> Result<GcProgress> {
        if self.phase == Phase::Done {
            return Ok(GcProgress::Complete);
        }
        self.started = true;
        let start = Instant::now();
        let mut budget = u64::from(budget.max(1));
        let mut errors = None;
        loop {
            match self.phase {
                Phase::Roots => {
                    let mem = self.heap.mature.memory.bytes_mut();
                    if !self.evacuation.forward_roots(mem, &mut self.roots, &mut self.next_root, &mut budget, &mut self.work, &mut errors) {
                        break;
                    }
                    self.phase = Phase::Remembered;
                }
                Phase::Remembered => {
                    if !self.remembered(&mut budget, &mut errors) {
                        break;
                    }
                    self.phase = Phase::Scan;
                }
                Phase::Scan => {
                    let heap = &mut *self.heap;
                    if !self.evacuation.scan(&mut heap.mature.types, heap.mature.memory.bytes_mut(), &mut budget, &mut self.work, &mut errors) {
                        break;
                    }
                    self.nursery_externrefs = std::mem::take(&mut heap.nursery.externrefs);
                    self.phase = Phase::Sweep;
                }
                Phase::Sweep => {
                    let mem = self.heap.mature.memory.bytes();
                    let (list, next) = (&self.nursery_externrefs, &mut self.next_externref);
                    if !Evacuation::sweep_externrefs(mem, list, next, self.host_data, &mut budget, &mut self.work, &mut errors) {
                        break;
                    }
                    self.finish_promotion();
                    self.phase = Phase::Done;
                }
                Phase::Done => break,
            }
        }
        self.heap.mature.stats.record_pause(start.elapsed());
        GcProgress::after_step(errors, self.phase == Phase::Done)
    }

    fn work_done(&self) -> u64 {
        self.work
    }
}

impl Drop for MinorCollection<'_> {
    fn drop(&mut self) {
        if !self.started {
            // Nothing moved: the remembered set goes back as it was.
            self.heap.remembered = std::mem::take(&mut self.remembered);
            return;
        }
        while self.phase != Phase::Done {
            let _ = self.step(DEFAULT_STEP_BUDGET);
        }
    }
}

/// A minor collection that promotes the whole nursery in place, when most
/// of it survives (`Nursery::adapt`): nothing is traced or copied, the
/// nursery's objects, live and dead, join the mature space where they are
/// and a new nursery is carved above them. The promotion area left
/// between the mature objects and the old nursery becomes a free block
/// (the mature space stays walkable). Dead objects wait for the next full
/// collection, as do the host data of dead externrefs; nothing moves, so
/// the roots are not needed. The remembered objects are forgotten: what
/// they referenced in the nursery is now mature.
pub(super) struct InPlacePromotion<'a> {
    heap: &'a mut GenerationalHeap,
    done: bool,
}

impl<'a> InPlacePromotion<'a> {
    pub(super) fn new(heap: &'a mut GenerationalHeap) -> InPlacePromotion<'a> {
        InPlacePromotion { heap, done: false }
    }

    fn promote(&mut self) -> Result<()> {
        let heap = &mut *self.heap;
        let mem = heap.mature.memory.bytes_mut();
        let (gap, nursery) = (heap.mature.bump.top()..heap.nursery.start, heap.nursery.used());
        let mut errors = None;
        if !gap.is_empty() {
            // Less than the heap's size, a multiple of 8.
            note_err(&mut errors, write_header(mem, gap.start, &VMGcHeader::free_block((gap.end - gap.start) as u32)));
        }
        for &obj in &heap.remembered {
            note_err(&mut errors, GenerationalHeap::forget(mem, obj));
        }
        heap.mature.externrefs.append(&mut heap.nursery.externrefs);
        heap.mature.bump = BumpAllocator::new(nursery.end, nursery.end);
        heap.nursery.in_place -= 1;
        heap.mature.record_bytes_in_use();
        heap.mature.stats.record_collection();
        heap.mature.stats.minor_collections += 1;
        heap.mature.stats.promotions_in_place += 1;
        heap.after_collection(false);
        errors.map_or(Ok(()), Err)
    }
}

impl GarbageCollection for InPlacePromotion<'_> {
    fn step(&mut self, _budget: u32) -> Result<GcProgress> {
        if self.done {
            return Ok(GcProgress::Complete);
        }
        self.done = true;
        let start = Instant::now();
        let result = self.promote();
        self.heap.mature.stats.record_pause(start.elapsed());
        result.map(|()| GcProgress::Complete)
    }

    fn work_done(&self) -> u64 {
        u64::from(self.done)
    }
}
