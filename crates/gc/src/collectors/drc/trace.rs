//! DRC's backup tracing collection: frees what counting cannot (cycles).
//!
//! It runs at the end of a collection, after the root log was reconciled
//! and the free queue emptied, when less than a quarter of the heap is
//! free. It does not move objects:
//! 1. `Mark` from every root and log entry, through a work list (no
//!    recursion). While marking it recounts: an object's count is reset
//!    when it is first marked and incremented for every reference to it
//!    from a marked object, a non-stack root, or the log (stack roots are
//!    uncounted, as everywhere in DRC).
//! 2. `Sweep` the heap block by block: unmarked objects are freed (their
//!    host data dropped); marked ones lose the mark. The freed blocks go
//!    to the free list when the sweep ends, joined into runs.
//!
//! Both phases are bounded steps, like the rest of the collection. The
//! sweep walks blocks by their headers' sizes, validated on the way, so a
//! corrupt header ends the sweep with an error and leaves the rest of the
//! heap as it was (a leak, never an overlap).

use super::counts::{PREFIX, StructBlock, block_at, count, set_count};
use super::{DrcHeap, set_bit};
use crate::error::{note, note_err};
use crate::header::{Block, object, write_header};
use crate::memory::read_u32;
use crate::trace::object_ref_slots;
use crate::{GcError, GcRoots, HostDataTable, RootKind, VMGcHeader, VMGcRef};
use kiln_environ::gc_layout::{DRC_MARK_BIT, DRC_PREFIX_MARKER, FIRST_OBJECT_OFFSET};

/// Where a backup trace is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TracePhase {
    /// Marking the roots (the next root), then the log (the next entry),
    /// then the work list.
    Roots(usize),
    Log(usize),
    Mark,
    /// Sweeping from this heap offset.
    Sweep(u64),
}

impl DrcHeap {
    /// Is the heap so full after counting that a trace should follow (or
    /// did the embedder ask for a full collection)?
    pub(super) fn wants_trace(&self) -> bool {
        self.trace_due || self.free_list.free_bytes().saturating_mul(4) < self.end.saturating_sub(u64::from(FIRST_OBJECT_OFFSET))
    }

    /// Counts one reference to `r` from a marked holder, marking `r`'s
    /// object (count reset to 1, queued for scanning) on first sight.
    /// `counted` is false for stack roots.
    fn mark_ref(&mut self, r: &VMGcRef, counted: bool) -> Result<(), GcError> {
        if r.is_i31() {
            return Ok(());
        }
        let mem = self.memory.bytes_mut();
        let (obj, header) = object(mem, r)?;
        if header.collector_bits() & DRC_MARK_BIT == 0 {
            set_bit(mem, obj, &header, DRC_MARK_BIT, true)?;
            set_count(mem, obj, u32::from(counted))?;
            self.pending.push(obj);
        } else if counted {
            let n = count(mem, obj)?;
            set_count(mem, obj, n.saturating_add(1))?;
        }
        Ok(())
    }

    /// Runs trace phase `phase` for up to `budget` units of work; returns
    /// the next phase, or `None` when the trace is complete.
    pub(super) fn trace_step(
        &mut self,
        phase: TracePhase,
        roots: &GcRoots<'_>,
        host_data: &mut HostDataTable,
        budget: &mut u64,
        work: &mut u64,
        errors: &mut Option<GcError>,
    ) -> Option<TracePhase> {
        let mut phase = phase;
        while *budget > 0 {
            *budget -= 1;
            *work += 1;
            phase = match phase {
                TracePhase::Roots(i) => match roots.get(i) {
                    Some((Some(r), kind)) => {
                        note_err(errors, self.mark_ref(r, kind == RootKind::NonStack));
                        TracePhase::Roots(i + 1)
                    }
                    Some((None, _)) => TracePhase::Roots(i + 1),
                    None => TracePhase::Log(0),
                },
                TracePhase::Log(i) => match self.log.get(i).copied() {
                    Some(obj) => {
                        match super::new_ref(obj) {
                            Ok(r) => note_err(errors, self.mark_ref(&r, true)),
                            Err(e) => note(errors, e),
                        }
                        TracePhase::Log(i + 1)
                    }
                    None => TracePhase::Mark,
                },
                TracePhase::Mark => match self.pending.next() {
                    Some((obj, cursor)) => {
                        self.scan_marked(obj, cursor, budget, work, errors);
                        TracePhase::Mark
                    }
                    None => TracePhase::Sweep(u64::from(FIRST_OBJECT_OFFSET)),
                },
                TracePhase::Sweep(offset) => match self.sweep_blocks(offset, host_data, budget, work, errors) {
                    Some(next) => TracePhase::Sweep(next),
                    None => {
                        self.flush_freed(errors);
                        return None;
                    }
                },
            };
        }
        Some(phase)
    }

    /// Marks (and counts) the references of the marked object `obj` from
    /// slot `cursor` on, suspending it if the budget runs out.
    fn scan_marked(&mut self, obj: u32, cursor: u32, budget: &mut u64, work: &mut u64, errors: &mut Option<GcError>) {
        let DrcHeap { memory, types, .. } = self;
        // Once, not per slot: the memory is behind a trait object.
        let mem = memory.bytes();
        let slots = match object_ref_slots(types, mem, obj) {
            Ok((_, slots)) => slots,
            Err(e) => return note(errors, e),
        };
        let mut children = Vec::new();
        let mut i = cursor;
        while i < slots.len() && *budget > 0 {
            match read_u32(mem, slots.get(i)) {
                Ok(raw) => children.extend(VMGcRef::from_raw_u32(raw)),
                Err(e) => note(errors, e),
            }
            i += 1;
            *budget -= 1;
            *work += 1;
        }
        if i < slots.len() {
            self.pending.suspend(obj, i);
        }
        for child in children {
            note_err(errors, self.mark_ref(&child, true));
        }
    }

    /// Sweeps blocks from `offset` on, the first paid for by the caller
    /// and each further one by a unit of `budget`; returns where to
    /// resume, or `None` at the heap's end or where it cannot be walked
    /// further (a corrupt header). One borrow of the memory for the run.
    fn sweep_blocks(&mut self, mut offset: u64, host_data: &mut HostDataTable, budget: &mut u64, work: &mut u64, errors: &mut Option<GcError>) -> Option<u64> {
        let end = self.end;
        let DrcHeap { memory, freed, .. } = self;
        let mem = memory.bytes_mut();
        loop {
            if offset >= end {
                return None;
            }
            offset = match sweep_struct_block(mem, freed, offset, end) {
                Some(next) => next,
                None => sweep_block(mem, freed, offset, end, host_data, errors)?,
            };
            if *budget == 0 {
                return Some(offset);
            }
            *budget -= 1;
            *work += 1;
        }
    }
}

/// The sweep's commonest block, a struct's ([`StructBlock`]; the general
/// path cost cycles' backup traces half their time): unmarked it is
/// freed, marked it is unmarked. Returns the next block, or `None` to
/// leave the block to [`sweep_block`].
#[inline(always)]
fn sweep_struct_block(mem: &mut [u8], freed: &mut Vec<(u32, u32)>, offset: u64, end: u64) -> Option<u64> {
    let (obj, b) = StructBlock::read(mem, offset, end)?;
    if b.marker != DRC_PREFIX_MARKER {
        return None;
    }
    if b.kind_word & DRC_MARK_BIT != 0 {
        StructBlock::write(mem, obj, b.kind_word & !DRC_MARK_BIT, b.count);
    } else {
        // As `free::finish_free` does for any object (a struct has no host
        // data). The header lies in the block `read` found in the memory.
        write_header(mem, u64::from(obj), &VMGcHeader::free_block(b.size)).ok()?;
        super::free::push_freed_block(freed, obj - PREFIX, b.size + PREFIX);
    }
    Some(u64::from(obj) + u64::from(b.size))
}

/// Sweeps the block at `offset` of a heap ending at `end`: an unmarked
/// object is freed, a marked one unmarked. Returns the next block.
fn sweep_block(mem: &mut [u8], freed: &mut Vec<(u32, u32)>, offset: u64, end: u64, host_data: &mut HostDataTable, errors: &mut Option<GcError>) -> Option<u64> {
    let block = match block_at(mem, offset, end) {
        Ok(b) => b,
        Err(e) => {
            note(errors, e);
            return None;
        }
    };
    let next = offset + u64::from(block.size());
    let Block::Object { obj, header, .. } = block else { return Some(next) };
    if header.collector_bits() & DRC_MARK_BIT != 0 {
        note_err(errors, set_bit(mem, obj, &header, DRC_MARK_BIT, false));
        return Some(next);
    }
    super::free::finish_free(mem, host_data, freed, obj, &header, errors);
    Some(next)
}
