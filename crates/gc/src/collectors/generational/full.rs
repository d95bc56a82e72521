//! A full collection: the mature space and the nursery compacted together
//! in place (`compact.rs`), in bounded steps.
//!
//! Phases, in order; a step carries its leftover budget into the next:
//! 1. `MarkRoots`, then `Mark`: everything reachable from the roots, in
//!    both spaces and among the large objects.
//! 2. `Plan`: each survivor's new offset, sliding down to the bottom of
//!    the heap.
//! 3. `Sweep`: the externrefs sorted into live and dead (dead ones' host
//!    data dropped), in one step.
//! 4. `Update`: the large objects' and roots' references rewritten.
//! 5. `Slide`: the survivors moved, and their references rewritten.
//!
//! Then the unmarked large objects are freed, the survivors are the
//! mature space, the nursery is empty and carved again, and the heap
//! resized (`GcHeap::wanted_growth`, [`GenerationalHeap::shrink_after_full`]).
//! The cards are cleared (the nursery is empty); the card table records
//! the compacted objects' starts when one of their cards is first marked
//! (`CardTable::defer_starts`).
//!
//! Dropping a collection that has made a step finishes it: once the
//! update has begun, references name the survivors' new offsets, and only
//! the slide puts the survivors there.

use super::GenerationalHeap;
use crate::alloc::bump::BumpAllocator;
use crate::compact::Compaction;
use crate::{DEFAULT_STEP_BUDGET, GarbageCollection, GcError, GcProgress, GcRoots, HostDataTable, Result};
use std::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    MarkRoots,
    Mark,
    Plan,
    Sweep,
    Update,
    Slide,
    Done,
}

pub(super) struct FullCollection<'a> {
    heap: &'a mut GenerationalHeap,
    roots: GcRoots<'a>,
    host_data: &'a mut HostDataTable,
    phase: Phase,
    started: bool,
    compaction: Compaction,
    next_root: usize,
    work: u64,
}

impl<'a> FullCollection<'a> {
    pub(super) fn new(heap: &'a mut GenerationalHeap, roots: GcRoots<'a>, host_data: &'a mut HostDataTable) -> FullCollection<'a> {
        let spaces = vec![heap.mature.used(), heap.nursery.used()];
        let large = heap.mature.large.marks();
        let compaction = Compaction::new(spaces, heap.mature.start, large, heap.mature.large.bytes_in_use());
        FullCollection { heap, roots, host_data, phase: Phase::MarkRoots, started: false, compaction, next_root: 0, work: 0 }
    }

    /// Sorts the externrefs of both spaces into live and dead.
    fn sweep_externrefs(&mut self, errors: &mut Option<GcError>) {
        let heap = &mut *self.heap;
        let mut list = std::mem::take(&mut heap.mature.externrefs);
        list.append(&mut heap.nursery.externrefs);
        heap.mature.externrefs = self.compaction.sweep_externrefs(heap.mature.memory.bytes(), &list, self.host_data, errors);
        self.work += list.len() as u64;
    }

    /// The survivors become the mature space; the large objects not
    /// reached are freed.
    fn finish(&mut self) {
        let heap = &mut *self.heap;
        // Before the sweep, which forgets the dead large objects.
        heap.clear_cards();
        heap.mature.sweep_large(&self.compaction.take_large_marks());
        let compacted = self.compaction.compacted();
        // Recorded when a card of theirs is first marked: most compacted
        // objects are never written again before the next full collection.
        heap.cards.forget_starts_from(compacted.start);
        heap.cards.defer_starts(compacted.clone());
        heap.mature.bump = BumpAllocator::new(compacted.end, compacted.end);
        heap.mature.record_bytes_in_use();
        heap.mature.stats.record_collection();
        heap.shrink_after_full();
        heap.after_collection(true);
    }
}

impl GarbageCollection for FullCollection<'_> {
    fn step(&mut self, budget: u32) -> Result<GcProgress> {
        if self.phase == Phase::Done {
            return Ok(GcProgress::Complete);
        }
        self.started = true;
        let start = Instant::now();
        let mut budget = u64::from(budget.max(1));
        let mut errors = None;
        loop {
            let heap = &mut *self.heap;
            let (work, c) = (&mut self.work, &mut self.compaction);
            match self.phase {
                Phase::MarkRoots => {
                    if !c.mark_roots(&self.roots, &mut self.next_root, &mut budget, work, &mut errors) {
                        break;
                    }
                    self.phase = Phase::Mark;
                }
                Phase::Mark => {
                    if !c.mark(&mut heap.mature.types, heap.mature.memory.bytes(), &mut budget, work, &mut errors) {
                        break;
                    }
                    self.phase = Phase::Plan;
                }
                Phase::Plan => {
                    if !c.plan(heap.mature.memory.bytes(), &mut budget, work, &mut errors) {
                        break;
                    }
                    self.phase = Phase::Sweep;
                }
                Phase::Sweep => {
                    // One step: linear in the number of externrefs.
                    self.sweep_externrefs(&mut errors);
                    self.phase = Phase::Update;
                }
                Phase::Update => {
                    // One step: the large objects' slots and the roots.
                    c.update_large_objects(&mut heap.mature.types, heap.mature.memory.bytes_mut(), work, &mut errors);
                    c.update_roots(&mut self.roots, work, &mut errors);
                    self.phase = Phase::Slide;
                }
                Phase::Slide => {
                    if !c.slide(&mut heap.mature.types, heap.mature.memory.bytes_mut(), &mut budget, work, &mut errors) {
                        break;
                    }
                    self.finish();
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

impl Drop for FullCollection<'_> {
    fn drop(&mut self) {
        if !self.started {
            return;
        }
        while self.phase != Phase::Done {
            let _ = self.step(DEFAULT_STEP_BUDGET);
        }
    }
}
