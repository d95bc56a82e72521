//! Freeing objects whose count reached zero.
//!
//! Freeing an object releases its references (decrementing each target,
//! which may queue it in turn), drops an externref's host data, and turns
//! its block into a free block. Two paths use it:
//! - the queue (`DrcHeap::free_pending`): objects queued by a decrement to
//!   zero (`PENDING_FREE`), freed transitively in bounded steps, resumable
//!   in the middle of a large array;
//! - the fresh walk of a collection (`DrcHeap::free_fresh`): a fresh object
//!   whose only count was the log's is garbage the moment the walk releases
//!   that count, and is freed right there, without a trip through the
//!   queue (when its slots fit in the step's budget; otherwise it is
//!   queued like any other).
//!
//! Freed blocks collect in `DrcHeap::freed`, joined into runs as they come
//! (neighbours freed in a row are common: a list, an array's elements, a
//! region walked in address order), and go to the free list in one batch
//! (`DrcHeap::flush_freed`).
//!
//! A collection may free at most the heap's size in bytes (its allowance):
//! the blocks one collection frees legitimately are disjoint, so only
//! corrupt headers claiming overlapping memory can overdraw it, and such
//! an object is refused. Freeing an object visits at most size/4 slots, so
//! a collection visits at most heap/4 slots while freeing, whatever the
//! heap holds.

use super::counts::{PREFIX, block_at, count};
use super::{DrcHeap, PENDING_FREE, dec_ref};
use crate::alloc::free_list::FreeList;
use crate::error::{note, note_err};
use crate::header::{Block, write_header};
use crate::host_data::drop_externref_host_data;
use crate::memory::{read_u32, write_u32};
use crate::trace::{RefSlots, WorkList, object_ref_slots, ref_slots};
use crate::{GcError, GcStats, HostDataTable, VMGcHeader, VMGcKind, VMGcRef};
use kiln_environ::gc_layout::{DRC_FRESH_BIT, DRC_LOGGED_BIT, FIRST_OBJECT_OFFSET, HEADER_KIND_OFFSET};
use std::collections::HashSet;

impl DrcHeap {
    /// Frees queued objects for up to `budget` units of work and at most
    /// `allowance` bytes (see the module doc), noting errors in `errors`.
    pub(super) fn free_pending(
        &mut self,
        host_data: &mut HostDataTable,
        budget: &mut u64,
        work: &mut u64,
        allowance: &mut u64,
        errors: &mut Option<GcError>,
    ) {
        let DrcHeap { memory, types, pending, freed, end, .. } = self;
        let mem = memory.bytes_mut();
        while *budget > 0 {
            // A unit for the object itself (its checks, or its free), one
            // per slot it releases.
            let Some((obj, cursor)) = pending.next() else { break };
            let (header, slots) = match object_ref_slots(types, mem, obj) {
                Ok(x) => x,
                // Its header no longer describes an object: it cannot be
                // freed safely, so it is dropped from the queue.
                Err(e) => {
                    (*budget, *work) = (*budget - 1, *work + 1);
                    note(errors, e);
                    continue;
                }
            };
            // (`cursor` is 0 only on the first visit: a visit releases at
            // least one slot before it can be suspended.)
            if cursor == 0 {
                let refused = if u64::from(header.size()) > *allowance || u64::from(obj) + u64::from(header.size()) > *end {
                    note(errors, GcError::corrupt("queued object overdraws the free allowance or leaves the heap", obj));
                    true
                } else if count(mem, obj).is_ok_and(|n| n != 0) {
                    // Counted again since its count reached zero (revived
                    // by a call-free function, see the module doc of
                    // `drc`): it stays alive.
                    note_err(errors, write_u32(mem, u64::from(obj) + u64::from(HEADER_KIND_OFFSET), header.kind_word() & !PENDING_FREE));
                    true
                } else {
                    false
                };
                if refused {
                    (*budget, *work) = (*budget - 1, *work + 1);
                    continue;
                }
                *allowance -= u64::from(header.size());
            }
            let next = release_refs(mem, pending, &slots, cursor, budget, work, errors);
            if next < slots.len() || *budget == 0 {
                pending.suspend(obj, next);
                break;
            }
            (*budget, *work) = (*budget - 1, *work + 1);
            finish_free(mem, host_data, freed, obj, &header, errors);
        }
        self.flush_freed(errors);
    }

    /// Frees the fresh object at `obj` (validated `header`) whose last
    /// count the collection's walk is releasing, if its slots fit in
    /// `budget` (one unit each; the walk paid for the object itself).
    /// False when they do not: the caller queues the object instead.
    pub(super) fn free_fresh(
        &mut self,
        host_data: &mut HostDataTable,
        obj: u32,
        header: &VMGcHeader,
        budget: &mut u64,
        work: &mut u64,
        allowance: &mut u64,
        errors: &mut Option<GcError>,
    ) -> bool {
        let DrcHeap { memory, types, pending, freed, .. } = self;
        let mem = memory.bytes_mut();
        let slots = match ref_slots(types, mem, obj, header) {
            Ok(slots) => slots,
            // Queued, it meets the same error and is dropped there.
            Err(_) => return false,
        };
        if u64::from(slots.len()) > *budget || u64::from(header.size()) > *allowance {
            return false;
        }
        *allowance -= u64::from(header.size());
        release_refs(mem, pending, &slots, 0, budget, work, errors);
        finish_free(mem, host_data, freed, obj, header, errors);
        true
    }

    /// After compiled code's barrier log overflowed: the entries it could
    /// not take are in the heap's header bits only, so the heap is walked
    /// and the root log becomes exactly the objects with
    /// `DRC_LOGGED_BIT` (each holding one count), and objects with
    /// `PENDING_FREE` not queued yet are queued. Fresh objects are left to
    /// the walk of their spans. Returns the work done (one unit per
    /// block). A walk that meets a corrupt block stops and changes
    /// nothing: the missing entries then leak (their counts stay), never
    /// free early.
    pub(super) fn recover_barrier_log_overflow(&mut self, errors: &mut Option<GcError>) -> u64 {
        self.log_overflowed = false;
        let mem = self.memory.bytes();
        let (mut log, mut zeroed) = (Vec::new(), Vec::new());
        let mut at = u64::from(FIRST_OBJECT_OFFSET);
        let mut work = 0;
        while at < self.end {
            work += 1;
            let block = match block_at(mem, at, self.end) {
                Ok(block) => block,
                Err(e) => {
                    note(errors, e);
                    return work;
                }
            };
            if let Block::Object { obj, header, .. } = &block {
                let bits = header.collector_bits();
                if bits & DRC_FRESH_BIT == 0 {
                    if bits & DRC_LOGGED_BIT != 0 {
                        log.push(*obj);
                    }
                    if bits & PENDING_FREE != 0 {
                        zeroed.push(*obj);
                    }
                }
            }
            at += u64::from(block.size());
        }
        self.log = log;
        let queued: HashSet<u32> = self.pending.iter().collect();
        for obj in zeroed.into_iter().filter(|obj| !queued.contains(obj)) {
            self.pending.push(obj);
        }
        work
    }

    /// Gives the freed blocks to the free list, marking each merged block
    /// free in the heap.
    pub(super) fn flush_freed(&mut self, errors: &mut Option<GcError>) {
        let freed = std::mem::take(&mut self.freed);
        add_freed_blocks(&mut self.free_list, self.memory.bytes_mut(), &mut self.stats, freed, errors);
    }
}

/// Releases the references in `slots` from `from` on, for up to `budget`
/// units; returns the index of the first slot not released.
fn release_refs(mem: &mut [u8], pending: &mut WorkList, slots: &RefSlots<'_>, from: u32, budget: &mut u64, work: &mut u64, errors: &mut Option<GcError>) -> u32 {
    let mut i = from;
    while i < slots.len() && *budget > 0 {
        let slot = slots.get(i);
        i += 1;
        *budget -= 1;
        *work += 1;
        match read_u32(mem, slot) {
            Ok(raw) => {
                if let Some(child) = VMGcRef::from_raw_u32(raw) {
                    note_err(errors, dec_ref(mem, pending, &child));
                }
            }
            Err(e) => note(errors, e),
        }
    }
    i
}

/// Drops the host data of the object at `obj` if it is an externref, and
/// turns its block into a free block.
#[inline]
pub(super) fn finish_free(mem: &mut [u8], host_data: &mut HostDataTable, freed: &mut Vec<(u32, u32)>, obj: u32, header: &VMGcHeader, errors: &mut Option<GcError>) {
    if header.kind() == Some(VMGcKind::ExternRef) {
        // The host value is dropped here, exactly once: the table's
        // generation check refuses a second removal.
        note_err(errors, drop_externref_host_data(mem, obj, host_data));
    }
    // The object's own header becomes a free block's even inside a run: a
    // stale reference to it must find a free block, not a plausible object.
    note_err(errors, write_header(mem, u64::from(obj), &VMGcHeader::free_block(header.size())));
    push_freed_block(freed, obj - PREFIX, header.size() + PREFIX);
}

/// Records a freed block, joined to the last one when they touch, so that
/// `add_freed_blocks` sorts runs rather than objects.
#[inline]
pub(super) fn push_freed_block(freed: &mut Vec<(u32, u32)>, obj: u32, size: u32) {
    if let Some((start, len)) = freed.last_mut()
        // A run lies in the heap (under 4 GiB), but corrupt sizes could
        // make the sum overflow: such blocks stay apart.
        && let Ok(joined) = u32::try_from(u64::from(*len) + u64::from(size))
    {
        if u64::from(*start) + u64::from(*len) == u64::from(obj) {
            *len = joined;
            return;
        }
        if u64::from(obj) + u64::from(size) == u64::from(*start) {
            (*start, *len) = (obj, joined);
            return;
        }
    }
    freed.push((obj, size));
}

/// Gives freed blocks to the free list, joined into runs. Blocks that
/// overlap (a corrupted heap freed something twice) are refused by the
/// list and stay out of it.
fn add_freed_blocks(free_list: &mut FreeList, mem: &mut [u8], stats: &mut GcStats, mut freed: Vec<(u32, u32)>, errors: &mut Option<GcError>) {
    freed.sort_unstable();
    let mut blocks = freed.into_iter().peekable();
    while let Some((start, size)) = blocks.next() {
        let mut run = u64::from(size);
        while let Some(&(next, next_size)) = blocks.peek()
            && u64::from(next) == u64::from(start) + run
        {
            run += u64::from(next_size);
            blocks.next();
        }
        // A run lies inside the heap (at most 4 GiB), past offset 0.
        let Ok(run) = u32::try_from(run) else { continue };
        match free_list.add(start, run) {
            Ok((at, merged)) => {
                note_err(errors, write_header(mem, u64::from(at), &VMGcHeader::free_block(merged)));
                stats.record_free(run);
            }
            Err(e) => note(errors, e),
        }
    }
}
