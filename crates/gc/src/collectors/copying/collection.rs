//! A copying collection as a sequence of bounded steps.
//!
//! The from-space is the used part of the current space, the to-space the
//! reserve. Phases, in order; a step carries its leftover budget into the
//! next one:
//! 1. `Roots`: forward every root slot (one unit each): its object is
//!    copied to the to-space (if it was not already) and the slot rewritten
//!    to the copy. Null and i31 roots are left as they are.
//! 2. `Scan`: Cheney's scan of the copies (one unit per reference slot and
//!    per object), copying what they reference; see `forward.rs`.
//! 3. `Sweep`: every externref of the from-space that was not copied is
//!    dead: its host data is dropped (one unit each).
//!
//! Large objects are marked when reached and scanned after the copies
//! (`forward.rs`), plain objects (`plain.rs`) marked only; the flip frees
//! those not marked (one step, however many there are: a large object is
//! at least 64 KiB, and the plain space's sweep works on its side
//! bitmaps, a word per 512 bytes). Then the copies become
//! the current space, the spaces are replanned, the statistics updated.
//! Nothing touches the heap between steps, so the spaces cannot change
//! under the collection.
//!
//! The work is bounded by the roots, the copies' slots and objects (at most
//! one per 4 bytes of the to-space) and the externrefs (at most one per 24
//! bytes of the from-space): linear in the heap size whatever its contents.
//!
//! Dropping a collection that has made a step finishes it: after the first
//! root is forwarded, roots and fields point into both spaces, and only the
//! end of the collection makes the heap consistent again. A collection
//! dropped before its first step changes nothing.

use super::CopyingHeap;
use crate::forward::Evacuation;
use crate::{DEFAULT_STEP_BUDGET, GarbageCollection, GcError, GcProgress, GcRoots, HostDataTable, Result};
use std::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Forward the roots.
    Roots,
    /// Scan the copies.
    Scan,
    /// Drop the host data of dead externrefs.
    Sweep,
    Done,
}

pub(crate) struct CopyingCollection<'a> {
    heap: &'a mut CopyingHeap,
    roots: GcRoots<'a>,
    host_data: &'a mut HostDataTable,
    phase: Phase,
    started: bool,
    evacuation: Evacuation,
    next_root: usize,
    /// The externrefs of the from-space, taken from the heap for the sweep.
    from_externrefs: Vec<u32>,
    next_externref: usize,
    work: u64,
}

impl<'a> CopyingCollection<'a> {
    pub(crate) fn new(heap: &'a mut CopyingHeap, roots: GcRoots<'a>, host_data: &'a mut HostDataTable) -> CopyingCollection<'a> {
        let evacuation = Evacuation::new(heap.used(), heap.reserve.clone()).marking(heap.large.marks()).marking_plain(heap.plain.marks());
        CopyingCollection {
            heap,
            roots,
            host_data,
            phase: Phase::Roots,
            started: false,
            evacuation,
            next_root: 0,
            from_externrefs: Vec::new(),
            next_externref: 0,
            work: 0,
        }
    }

    /// The large and plain objects not reached are freed, and the copies
    /// become the current space.
    fn flip(&mut self, errors: &mut Option<GcError>) {
        self.heap.sweep_large(&self.evacuation.take_large_marks());
        self.heap.sweep_plain(&self.evacuation.take_plain_marks(), errors);
        let (start, top) = (self.evacuation.to_start(), self.evacuation.to_top());
        let externrefs = self.evacuation.take_externrefs();
        self.heap.flip_to(start, top, externrefs);
    }
}

impl GarbageCollection for CopyingCollection<'_> {
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
                    self.evacuation.prefault_ahead(&*self.heap.memory);
                    let mem = self.heap.memory.bytes_mut();
                    if !self.evacuation.forward_roots(mem, &mut self.roots, &mut self.next_root, &mut budget, &mut self.work, &mut errors) {
                        break;
                    }
                    self.phase = Phase::Scan;
                }
                Phase::Scan => {
                    let CopyingHeap { memory, types, .. } = &mut *self.heap;
                    if !self.evacuation.scan_prefaulting(types, &mut **memory, &mut budget, &mut self.work, &mut errors) {
                        break;
                    }
                    // Every live object is copied: the from-space's
                    // externrefs can be sorted into live and dead.
                    self.from_externrefs = std::mem::take(&mut self.heap.externrefs);
                    self.phase = Phase::Sweep;
                }
                Phase::Sweep => {
                    let mem = self.heap.memory.bytes();
                    let (list, next) = (&self.from_externrefs, &mut self.next_externref);
                    if !Evacuation::sweep_externrefs(mem, list, next, self.host_data, &mut budget, &mut self.work, &mut errors) {
                        break;
                    }
                    self.flip(&mut errors);
                    self.phase = Phase::Done;
                }
                Phase::Done => break,
            }
        }
        self.heap.stats.record_pause(start.elapsed());
        GcProgress::after_step(errors, self.phase == Phase::Done)
    }

    fn work_done(&self) -> u64 {
        self.work
    }
}

impl Drop for CopyingCollection<'_> {
    fn drop(&mut self) {
        if !self.started {
            return;
        }
        // Each step makes progress, so this ends (errors were reported by
        // the steps that met them, or are ignored like `finish` would).
        while self.phase != Phase::Done {
            let _ = self.step(DEFAULT_STEP_BUDGET);
        }
    }
}
