//! A minor collection: the nursery evacuated into the promotion area, in
//! bounded steps.
//!
//! Phases, in order; a step carries its leftover budget into the next:
//! 1. `Roots`: forward every root slot that references the nursery (one
//!    unit per root).
//! 2. `Cards`: forward the nursery references of every object that starts
//!    in a marked card of the mature space, and of every large object
//!    whose card is marked (one unit per card, object and reference slot),
//!    clearing the cards: after this collection nothing references the
//!    nursery.
//! 3. `Scan`: Cheney's scan of the promoted copies, as in a full copying
//!    collection (`forward.rs`).
//! 4. `Sweep`: the nursery's externrefs that were not promoted are dead:
//!    their host data is dropped.
//!
//! Then the promotion area's cursor moves past the copies (whose starts
//! the card table records), the nursery is emptied and carved again. References into the mature space and the
//! large-object space are left alone throughout ([`Evacuation::leaving`]).
//!
//! The work is bounded by the roots, the marked cards' objects' slots, the
//! copies (at most the nursery's size) and the nursery's externrefs.
//! Dropping a collection that has made a step finishes it, as for a
//! copying collection: roots and fields may point into both spaces.

use super::GenerationalHeap;
use crate::alloc::bump::BumpAllocator;
use crate::cards::{Bits, cards_covering, start_offset};
use crate::error::{note, note_err};
use crate::forward::Evacuation;
use crate::header::{read_header, write_header};
use crate::{DEFAULT_STEP_BUDGET, GarbageCollection, GcError, GcProgress, GcRoots, HostDataTable, Result, VMGcHeader};
use std::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Roots,
    Cards,
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
    /// Where the scan of the marked cards is.
    cards: CardScan,
    /// The nursery's externrefs, taken from the heap for the sweep.
    nursery_externrefs: Vec<u32>,
    next_externref: usize,
    work: u64,
}

impl<'a> MinorCollection<'a> {
    pub(super) fn new(heap: &'a mut GenerationalHeap, roots: GcRoots<'a>, host_data: &'a mut HostDataTable) -> MinorCollection<'a> {
        let promotion = heap.mature.bump.top()..heap.nursery.start;
        let evacuation = Evacuation::new(heap.nursery.used(), promotion).leaving([heap.mature.used(), heap.mature.large.range()]);
        let cards = CardScan::new(heap);
        MinorCollection {
            heap,
            roots,
            host_data,
            phase: Phase::Roots,
            started: false,
            evacuation,
            next_root: 0,
            cards,
            nursery_externrefs: Vec::new(),
            next_externref: 0,
            work: 0,
        }
    }

    /// Forwards the nursery references of the objects in marked cards;
    /// returns whether all are done.
    fn cards(&mut self, budget: &mut u64, errors: &mut Option<GcError>) -> bool {
        let heap = &mut *self.heap;
        let scan = &mut self.cards;
        let mem = heap.mature.memory.bytes_mut();
        while *budget > 0 {
            if let Some(obj) = scan.object {
                let done = match read_header(mem, u64::from(obj)) {
                    Ok(header) => self.evacuation.forward_fields(&mut heap.mature.types, mem, obj, &header, &mut scan.slot, budget, &mut self.work, errors),
                    Err(e) => {
                        note(errors, e);
                        true
                    }
                };
                if !done {
                    return false;
                }
                *budget = budget.saturating_sub(1);
                self.work += 1;
                (scan.object, scan.slot) = (None, 0);
            } else if let Some(bit) = scan.starts.next() {
                scan.object = Some(start_offset(scan.card, bit) as u32);
            } else if let Some((card, starts)) = heap.cards.take_next_marked(scan.next_card..scan.end_card) {
                (scan.card, scan.starts, scan.next_card) = (card, Bits(starts), card + 1);
                *budget -= 1;
                self.work += 1;
            } else if let Some(&obj) = scan.large.get(scan.next_large) {
                scan.next_large += 1;
                if heap.cards.is_marked(obj) {
                    heap.cards.unmark(obj);
                    scan.object = Some(obj);
                }
            } else {
                return true;
            }
        }
        false
    }

    /// The copies join the mature space; the nursery starts again.
    fn finish_promotion(&mut self) {
        let heap = &mut *self.heap;
        let promoted = self.evacuation.to_top() - self.evacuation.to_start();
        if let Some(starts) = self.evacuation.take_starts() {
            heap.cards.return_starts(starts);
        }
        // The marked mature cards were cleared as they were scanned; the
        // young objects' cards go with the nursery.
        heap.cards.clear(heap.nursery.range());
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
                    self.evacuation.prefault_ahead(&*self.heap.mature.memory);
                    let mem = self.heap.mature.memory.bytes_mut();
                    if !self.evacuation.forward_roots(mem, &mut self.roots, &mut self.next_root, &mut budget, &mut self.work, &mut errors) {
                        break;
                    }
                    // The cards' objects must be findable.
                    note_err(&mut errors, self.heap.cards.index_marked(self.heap.mature.memory.bytes()));
                    self.phase = Phase::Cards;
                }
                Phase::Cards => {
                    self.evacuation.prefault_ahead(&*self.heap.mature.memory);
                    if !self.cards(&mut budget, &mut errors) {
                        break;
                    }
                    // The scan records the copies' starts in the card
                    // table, which the cards' visit no longer reads
                    // (`finish_promotion` gives them back).
                    let until = self.evacuation.copies_end();
                    self.evacuation.record_starts_into(self.heap.cards.lend_starts(until));
                    self.phase = Phase::Scan;
                }
                Phase::Scan => {
                    let heap = &mut *self.heap;
                    if !self.evacuation.scan_prefaulting(&mut heap.mature.types, &mut *heap.mature.memory, &mut budget, &mut self.work, &mut errors) {
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
/// the roots are not needed. The nursery's cards are cleared (its objects
/// reference nothing young now); the mature cards marked stay so until the
/// next minor collection scans them, needlessly but harmlessly. The card
/// table defers recording the promoted objects' starts until one of their
/// cards is marked (`CardTable::defer_starts`): most never are.
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
        heap.cards.defer_starts(nursery.clone());
        heap.cards.clear(nursery.clone());
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

/// The marked cards' scan: the cards of the mature objects, in address
/// order, then the large objects.
struct CardScan {
    next_card: usize,
    end_card: usize,
    /// The card being scanned, and the starts of its objects not yet
    /// scanned.
    card: usize,
    starts: Bits,
    /// The object being scanned, and its next slot.
    object: Option<u32>,
    slot: u32,
    large: Vec<u32>,
    next_large: usize,
}

impl CardScan {
    fn new(heap: &GenerationalHeap) -> CardScan {
        let cards = cards_covering(heap.mature.used());
        CardScan {
            next_card: cards.start,
            end_card: cards.end,
            card: 0,
            starts: Bits(0),
            object: None,
            slot: 0,
            large: heap.mature.large.objects().collect(),
            next_large: 0,
        }
    }
}
