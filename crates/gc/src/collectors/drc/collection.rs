//! A DRC collection as a sequence of bounded steps.
//!
//! Phases, in order; a step carries its leftover budget into the next one:
//! 1. `StackRoots`: flag the objects of the precise stack roots (a header
//!    bit, `DRC_ON_STACK_BIT`). A stack root
//!    missing from the root log (a runtime bug) is logged and counted
//!    rather than left to be freed under the stack. If compiled code's
//!    barrier log overflowed since the last collection, the root log and
//!    the queue are then rebuilt from the header bits of a walk of the
//!    heap (`DrcHeap::recover_barrier_log_overflow`).
//! 2. `Reconcile`: take the heap's root log and walk it: entries found on a
//!    stack go back into the (new) log with their count, the others are
//!    decremented. Then the same for the fresh objects (`region.rs`), found
//!    by walking the spans they were allocated in: each loses
//!    `DRC_FRESH_BIT` and either joins the log (on a stack) or gives up the
//!    count its birth gave the log.
//! 3. `Free`: free queued objects transitively (see `DrcHeap::free_pending`).
//! 4. `Trace`, only when counting left less than a quarter of the heap
//!    free: the backup trace that frees cycles (see `trace.rs`).
//!
//! The work is bounded by the roots, the log (at most one entry per object),
//! the fresh spans (disjoint parts of the heap, walked block by block), the
//! objects freed and their reference slots (at most heap/4: see
//! `DrcHeap::free_pending`'s allowance): linear in the heap size whatever
//! its contents.
//!
//! Dropping an unfinished collection puts the log entries and fresh spans
//! not yet reconciled back; queued objects stay queued in the heap; a trace
//! under way is finished.

use super::trace::TracePhase;
use super::counts::{PREFIX, StructBlock, count, set_count};
use super::{DrcHeap, dec_ref, inc_ref, set_bit};
use crate::collectors::new_ref;
use crate::error::{note, note_err};
use crate::header::{object, object_at};
use crate::{GarbageCollection, GcError, GcProgress, GcRoots, HostDataTable, Result, RootKind};
use kiln_environ::gc_layout::{DRC_FRESH_BIT, DRC_LOGGED_BIT, DRC_ON_STACK_BIT};
use std::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Collect the precise stack roots.
    StackRoots,
    /// Keep the logged references still on a stack, decrement the others.
    Reconcile,
    /// The same for fresh objects: the next span and offset in it.
    ReconcileFresh(usize, u32),
    /// Free everything whose count reached zero.
    Free,
    /// The backup trace.
    Trace(TracePhase),
    Done,
}

pub(super) struct DrcCollection<'a> {
    heap: &'a mut DrcHeap,
    roots: GcRoots<'a>,
    host_data: &'a mut HostDataTable,
    phase: Phase,
    next_root: usize,
    /// The root log being reconciled (the heap's log refills from it).
    old: Option<std::vec::IntoIter<u32>>,
    /// The fresh spans being reconciled.
    fresh: Vec<(u32, u32)>,
    /// Bytes this collection may still free (see `DrcHeap::free_pending`).
    allowance: u64,
    /// An error met before the first step, reported by it.
    early_error: Option<GcError>,
    work: u64,
}

impl<'a> DrcCollection<'a> {
    pub(super) fn new(heap: &'a mut DrcHeap, roots: GcRoots<'a>, host_data: &'a mut HostDataTable, early_error: Option<GcError>) -> DrcCollection<'a> {
        let allowance = heap.end;
        DrcCollection {
            heap,
            roots,
            host_data,
            phase: Phase::StackRoots,
            next_root: 0,
            old: None,
            fresh: Vec::new(),
            allowance,
            early_error,
            work: 0,
        }
    }

    fn stack_roots(&mut self, budget: &mut u64, errors: &mut Option<GcError>) {
        while *budget > 0 && self.next_root < self.roots.len() {
            let i = self.next_root;
            self.next_root += 1;
            *budget -= 1;
            self.work += 1;
            let Some((Some(r), RootKind::Stack)) = self.roots.get(i) else { continue };
            if r.is_i31() {
                continue;
            }
            let mem = self.heap.memory.bytes_mut();
            let (obj, header) = match object(mem, r) {
                Ok(x) => x,
                Err(e) => {
                    note(errors, e);
                    continue;
                }
            };
            if header.collector_bits() & DRC_ON_STACK_BIT == 0 {
                note_err(errors, set_bit(mem, obj, &header, DRC_ON_STACK_BIT, true));
            }
            if header.collector_bits() & DRC_LOGGED_BIT == 0 {
                // On a stack without having been exposed (a runtime bug):
                // log it, with the count a log entry holds, rather than let
                // it be freed under the stack.
                match inc_ref(mem, r) {
                    Ok(()) => note_err(errors, self.heap.log_object(r).map(drop)),
                    Err(e) => note(errors, e),
                }
            }
        }
    }

    fn reconcile(&mut self, budget: &mut u64, errors: &mut Option<GcError>) -> bool {
        let Some(old) = self.old.as_mut() else { return true };
        while *budget > 0 {
            let Some(obj) = old.next() else {
                self.old = None;
                return true;
            };
            *budget -= 1;
            self.work += 1;
            let r = match new_ref(obj) {
                Ok(r) => r,
                Err(e) => {
                    note(errors, e);
                    continue;
                }
            };
            let mem = self.heap.memory.bytes_mut();
            let header = match object(mem, &r) {
                Ok((_, header)) => header,
                Err(e) => {
                    note(errors, e);
                    continue;
                }
            };
            if header.collector_bits() & DRC_ON_STACK_BIT != 0 {
                note_err(errors, set_bit(mem, obj, &header, DRC_ON_STACK_BIT, false));
                self.heap.log.push(obj);
            } else {
                note_err(errors, set_bit(mem, obj, &header, DRC_LOGGED_BIT, false));
                note_err(errors, dec_ref(self.heap.memory.bytes_mut(), &mut self.heap.pending, &r));
            }
        }
        false
    }

    /// Reconciles fresh objects from span `span`, offset `at`, for up to
    /// `budget` units; returns where to resume, or `None` when done. A
    /// block that is not a fresh object (a corrupt heap) ends its span: the
    /// objects after it keep their log count, a leak rather than a free.
    fn reconcile_fresh(&mut self, mut span: usize, mut at: u32, budget: &mut u64, errors: &mut Option<GcError>) -> Option<(usize, u32)> {
        while let Some(&(start, end)) = self.fresh.get(span) {
            at = at.max(start);
            if at >= end || *budget == 0 {
                if *budget == 0 {
                    return Some((span, at));
                }
                span += 1;
                at = 0;
                continue;
            }
            // The common case first, a run at a time with one borrow of
            // the memory (which is behind a trait object).
            let mem = self.heap.memory.bytes_mut();
            while at < end && *budget > 0 {
                let Some(next) = reconcile_held_fresh_struct(mem, at, end) else { break };
                at = next;
                *budget -= 1;
                self.work += 1;
            }
            if at >= end || *budget == 0 {
                continue;
            }
            *budget -= 1;
            self.work += 1;
            // Each block of a span is a prefix and a fresh object.
            let obj = at.saturating_add(PREFIX);
            let header = match object_at(mem, obj) {
                Ok(h) if h.collector_bits() & DRC_FRESH_BIT != 0 && u64::from(obj) + u64::from(h.size()) <= u64::from(end) => h,
                Ok(_) => {
                    note(errors, GcError::corrupt("block in a fresh span is not a fresh object", obj));
                    at = end;
                    continue;
                }
                Err(e) => {
                    note(errors, e);
                    at = end;
                    continue;
                }
            };
            at = obj + header.size();
            let bits = header.collector_bits();
            let n = count(mem, obj);
            if bits & DRC_ON_STACK_BIT != 0 {
                note_err(errors, set_bit(mem, obj, &header, DRC_FRESH_BIT | DRC_ON_STACK_BIT, false));
                self.heap.log.push(obj);
                continue;
            }
            // The log's count goes. Above one (the common case: other
            // objects hold it) that is a plain decrement of the count just
            // read.
            if let Ok(n) = n
                && n > 1
                && n != u32::MAX
            {
                note_err(errors, set_bit(mem, obj, &header, DRC_FRESH_BIT | DRC_LOGGED_BIT, false));
                note_err(errors, set_count(mem, obj, n - 1));
                continue;
            }
            // At one the log's count was its only one: garbage, freed now
            // (or queued, if its slots do not fit in the budget).
            if n == Ok(1) && self.heap.free_fresh(self.host_data, obj, &header, budget, &mut self.work, &mut self.allowance, errors) {
                continue;
            }
            let mem = self.heap.memory.bytes_mut();
            note_err(errors, set_bit(mem, obj, &header, DRC_FRESH_BIT | DRC_LOGGED_BIT, false));
            match new_ref(obj) {
                Ok(r) => note_err(errors, dec_ref(mem, &mut self.heap.pending, &r)),
                Err(e) => note(errors, e),
            }
        }
        self.heap.flush_freed(errors);
        None
    }
}

/// The commonest fresh object ([`StructBlock`]; the general path was a
/// third of cycles' DRC run): a struct in the span ending at `end`, not on
/// a stack, that other objects hold (a count above one). The log's count
/// goes and the object stops being fresh, as in
/// [`DrcCollection::reconcile_fresh`]. Returns the next block, or `None`
/// to leave the block to that general path.
#[inline(always)]
fn reconcile_held_fresh_struct(mem: &mut [u8], at: u32, end: u32) -> Option<u32> {
    let (obj, b) = StructBlock::read(mem, u64::from(at), u64::from(end))?;
    if b.kind_word & (DRC_FRESH_BIT | DRC_ON_STACK_BIT) != DRC_FRESH_BIT || b.count <= 1 || b.count == u32::MAX {
        return None;
    }
    StructBlock::write(mem, obj, b.kind_word & !(DRC_FRESH_BIT | DRC_LOGGED_BIT), b.count - 1);
    // Below `end`.
    Some(obj + b.size)
}

impl GarbageCollection for DrcCollection<'_> {
    fn step(&mut self, budget: u32) -> Result<GcProgress> {
        if self.phase == Phase::Done {
            return Ok(GcProgress::Complete);
        }
        let start = Instant::now();
        let mut budget = u64::from(budget.max(1));
        let mut errors = self.early_error.take();
        loop {
            match self.phase {
                Phase::StackRoots => {
                    self.stack_roots(&mut budget, &mut errors);
                    if self.next_root < self.roots.len() {
                        break;
                    }
                    if self.heap.log_overflowed {
                        self.work += self.heap.recover_barrier_log_overflow(&mut errors);
                    }
                    self.old = Some(std::mem::take(&mut self.heap.log).into_iter());
                    self.fresh = std::mem::take(&mut self.heap.fresh);
                    self.phase = Phase::Reconcile;
                }
                Phase::Reconcile => {
                    if !self.reconcile(&mut budget, &mut errors) {
                        break;
                    }
                    self.phase = Phase::ReconcileFresh(0, 0);
                }
                Phase::ReconcileFresh(span, at) => match self.reconcile_fresh(span, at, &mut budget, &mut errors) {
                    Some((span, at)) => {
                        self.phase = Phase::ReconcileFresh(span, at);
                        break;
                    }
                    None => {
                        self.fresh.clear();
                        self.phase = Phase::Free;
                    }
                },
                Phase::Free => {
                    self.heap.free_pending(self.host_data, &mut budget, &mut self.work, &mut self.allowance, &mut errors);
                    if !self.heap.pending.is_empty() {
                        break;
                    }
                    self.phase = if self.heap.wants_trace() { Phase::Trace(TracePhase::Roots(0)) } else { Phase::Done };
                    self.heap.trace_due = false;
                    if self.phase == Phase::Done {
                        self.heap.stats.record_collection();
                    }
                }
                Phase::Trace(trace) => match self.heap.trace_step(trace, &self.roots, self.host_data, &mut budget, &mut self.work, &mut errors) {
                    Some(next) => {
                        self.phase = Phase::Trace(next);
                        break;
                    }
                    None => {
                        self.phase = Phase::Done;
                        self.heap.stats.record_collection();
                    }
                },
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

impl Drop for DrcCollection<'_> {
    fn drop(&mut self) {
        // Entries not reconciled yet go back to the log, still counted.
        if let Some(old) = self.old.take() {
            self.heap.log.extend(old);
        }
        // Blocks the walk freed go to the free list now.
        self.heap.flush_freed(&mut None);
        // Spans not walked yet stay fresh, for the next collection.
        match self.phase {
            Phase::StackRoots | Phase::Reconcile => self.heap.fresh.append(&mut self.fresh),
            Phase::ReconcileFresh(span, at) => {
                let rest = self.fresh.get(span..).unwrap_or_default().iter().enumerate();
                self.heap.fresh.extend(rest.map(|(i, &(start, end))| (if i == 0 { at.max(start) } else { start }, end)).filter(|(s, e)| s < e));
            }
            _ => {}
        }
        // A trace cannot stop half way (marks set, counts half recounted):
        // it is finished here.
        while let Phase::Trace(trace) = self.phase {
            let (mut budget, mut errors) = (u64::MAX, None);
            self.phase = match self.heap.trace_step(trace, &self.roots, self.host_data, &mut budget, &mut self.work, &mut errors) {
                Some(next) => Phase::Trace(next),
                None => Phase::Done,
            };
        }
    }
}
