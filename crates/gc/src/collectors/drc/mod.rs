//! The deferred reference-counting (DRC) collector.
//!
//! Every object has a reference count, in a prefix before its header
//! (`counts.rs`). It counts the references held by the heap (fields of
//! other objects), by tables and globals, and by the host — every slot
//! written through `write_gc_ref` or owned after `clone_gc_ref`.
//! References held only by the Wasm stack are *not* counted, so compiled
//! code can move them between locals and frames without barriers. Instead,
//! every reference handed to Wasm is logged once in an over-approximated
//! root list (`log`), and the entry holds one count: while an object is in
//! the list it cannot be freed, whatever happens to its other references.
//! Membership is the `DRC_LOGGED_BIT` of the object's header, so compiled
//! code tests it with one load; to log a new entry it sets the bit, counts
//! the entry and appends the object to the store's barrier log, which the
//! runtime hands over (`adopt_barrier_log`) before the heap is used
//! again. The list itself is side memory.
//!
//! A collection reconciles the list with the precise stack roots (from
//! stack maps): entries still on some stack stay (keeping their count);
//! the others are decremented. Objects whose count reaches zero are queued
//! and freed transitively through a work list (no recursion, so a chain of
//! a million objects frees without deep stacks): freeing one decrements
//! everything it references, drops the host data of an externref, and
//! gives its block back to the size-class free list.
//!
//! Counting alone never frees cycles: objects that reference each other
//! keep each other's counts above zero. So when a collection's counting
//! leaves less than a quarter of the heap free, it goes on with a backup
//! trace (`trace.rs`): mark from the roots, free everything unmarked, and
//! recount the survivors. A program whose live data is small thus runs in a
//! bounded heap whatever the shape of its garbage. A collection is also due
//! when the log grows past `LOG_BOUND` entries (`GcHeap::collection_due`).
//!
//! Other rules:
//! - A count saturates at `u32::MAX`: such an object is never freed (a leak,
//!   never an early free).
//! - An object whose count reaches zero gets `PENDING_FREE` in its header's
//!   collector bits while it waits in the queue, so it is queued once. A
//!   function that makes no call skips the read barrier (the runtime
//!   cannot run under it), so it may zero the count of an object it holds
//!   and then store it again: the queue keeps an object whose count is
//!   above zero when its turn comes.
//! - `drop_gc_ref` frees at most `DROP_FREE_BUDGET` units of work before
//!   returning, so a barrier never pauses for long; what remains waits in the
//!   queue for the next drop or collection. Compiled code's write barrier
//!   zeroes a count, marks the object pending and logs it with a tag;
//!   taking the log queues it and frees as that many drops would.
//!   Allocation never frees: when it reports out of memory the runtime
//!   collects, which empties the queue.
//! - Allocation bumps through a region, a free block taken whole from the
//!   free list, and compiled code does so inline; objects allocated there
//!   are *fresh*: logged without a log entry (see `region.rs`). Objects too
//!   large for a region, or allocated when no free block is large enough
//!   to make one, come from the free list, with a count of 1 for the
//!   caller.
//! - The queue, the free list, the root log and the fresh spans live in
//!   side memory, and every object taken from the heap is validated; a
//!   corrupt heap yields errors (an underflowing count, a reference to a
//!   free block...) and, at worst, objects freed too early or never,
//!   inside the heap. A collection frees at most the heap's size in bytes
//!   (an allowance), which bounds its work (see `collection.rs`).

mod collection;
mod counts;
mod free;
mod region;
mod trace;

use super::{check_alloc_kind, init_array_len, new_ref};
use crate::alloc::free_list::FreeList;
use crate::alloc::{block_size, init_object};
use crate::header::{object, write_header};
use crate::memory::{grow_memory, usable_end, write_u32};
use crate::trace::WorkList;
use crate::types::TypeCache;
use crate::verify::verify_heap;
use collection::DrcCollection;
use crate::{
    Collector, GarbageCollection, GcError, GcHeap, GcRoots, GcRuntime, GcStats, GcTypes, HeapMemory, HostDataTable, Result,
    VMGcHeader, VMGcKind, VMGcRef, VerifyReport,
};
use crate::error::note;
use kiln_environ::gc_layout::{
    DRC_FRESH_BIT, DRC_LOG_ZERO_COUNT_TAG, DRC_LOGGED_BIT, DRC_PENDING_FREE_BIT as PENDING_FREE, FIRST_OBJECT_OFFSET, HEADER_KIND_OFFSET,
};
use counts::{BLOCKS, PREFIX, count, init_prefix, set_count};
use region::Region;
use kiln_environ::{GcTypeLayouts, StandardLayouts};
use std::sync::Arc;

/// Log entries past which a collection is due: each entry keeps an object
/// alive until a collection reconciles the log.
const LOG_BOUND: usize = 1 << 20;

/// Units of freeing work `drop_gc_ref` does before leaving the rest queued.
const DROP_FREE_BUDGET: u64 = 1024;

pub(crate) struct DrcRuntime;

impl GcRuntime for DrcRuntime {
    fn collector(&self) -> Collector {
        Collector::Drc
    }

    fn layouts(&self) -> &dyn GcTypeLayouts {
        &StandardLayouts
    }

    fn new_gc_heap(&self, memory: Box<dyn HeapMemory>, types: Arc<dyn GcTypes>) -> Result<Box<dyn GcHeap>> {
        Ok(Box::new(DrcHeap::new(memory, types)))
    }
}

/// Blocks from the free list at least this large have their pages
/// backed before they are zeroed (`HeapMemory::prefault`).
const PREFAULT_BLOCK: u32 = 16 << 10;

pub(crate) struct DrcHeap {
    memory: Box<dyn HeapMemory>,
    types: TypeCache,
    free_list: FreeList,
    /// End of the part of memory the free list manages.
    end: u64,
    /// Objects referenced from Wasm stacks, each once (those with
    /// `DRC_LOGGED_BIT`); each entry holds one count.
    log: Vec<u32>,
    /// Objects whose count reached zero, waiting to be freed.
    pending: WorkList,
    /// Blocks freed and not yet given to the free list (see `free.rs`).
    freed: Vec<(u32, u32)>,
    /// The block allocation bumps through (see `region.rs`).
    region: Option<Region>,
    /// Spans `[start, end)` of fresh objects left by earlier regions since
    /// the last collection.
    fresh: Vec<(u32, u32)>,
    /// The next collection traces, whatever counting leaves free.
    trace_due: bool,
    /// Compiled code's barrier log overflowed since the last collection:
    /// objects have `DRC_LOGGED_BIT` (and its count) but no entry in
    /// `log`, or `PENDING_FREE` but no place in `pending` (see
    /// `collection.rs`).
    log_overflowed: bool,
    stats: GcStats,
}

impl DrcHeap {
    pub(crate) fn new(memory: Box<dyn HeapMemory>, types: Arc<dyn GcTypes>) -> DrcHeap {
        let mut heap = DrcHeap {
            memory,
            types: TypeCache::new(types),
            free_list: FreeList::default(),
            end: 0,
            log: Vec::new(),
            pending: WorkList::default(),
            freed: Vec::new(),
            region: None,
            fresh: Vec::new(),
            trace_due: false,
            log_overflowed: false,
            stats: GcStats::default(),
        };
        heap.reset(false);
        heap
    }

    fn alloc_block(&mut self, header: VMGcHeader, size: u32) -> Result<VMGcRef> {
        let size = block_size(size)?;
        check_alloc_kind(&header, size)?;
        let block = size.checked_add(PREFIX).ok_or(GcError::OutOfMemory { requested: u64::from(size) })?;
        if let Some(at) = self.alloc_in_region(block)? {
            // Fresh: one count for the caller, one for the implicit log.
            let header = header.with_collector_bits(DRC_FRESH_BIT | DRC_LOGGED_BIT);
            let offset = init_prefix(self.memory.bytes_mut(), at, 2)?;
            init_object(self.memory.bytes_mut(), offset, header, size)?;
            self.stats.record_allocation(block);
            return new_ref(offset);
        }
        let found = match self.free_list.alloc(block) {
            Some(found) => Some(found),
            // The region took the largest free block: its unused rest may
            // be what this object needs.
            None if self.region.is_some() => {
                self.retire_region()?;
                self.free_list.alloc(block)
            }
            None => None,
        };
        let (at, _) = found.ok_or(GcError::OutOfMemory { requested: u64::from(block) })?;
        if let Some((at, rest)) = self.free_list.last_split {
            write_header(self.memory.bytes_mut(), u64::from(at), &VMGcHeader::free_block(rest))?;
        }
        if block >= PREFAULT_BLOCK {
            // Zeroed just below, else a page fault at a time.
            self.memory.prefault(at as usize..(u64::from(at) + u64::from(block)) as usize);
        }
        // The new reference is owned by the caller: count 1.
        let offset = init_prefix(self.memory.bytes_mut(), at, 1)?;
        init_object(self.memory.bytes_mut(), offset, header.with_collector_bits(0), size)?;
        self.stats.record_allocation(block);
        new_ref(offset)
    }

    /// Adds `[start, end)` to the free list (merging with the free block
    /// before it) and marks the merged block free in the heap.
    fn add_free_region(&mut self, start: u64, end: u64) -> Result<()> {
        let (Ok(offset), Ok(size)) = (u32::try_from(start), u32::try_from(end - start)) else {
            return Err(GcError::corrupt("free region outside the heap", start));
        };
        let (at, merged) = self.free_list.add(offset, size)?;
        write_header(self.memory.bytes_mut(), u64::from(at), &VMGcHeader::free_block(merged))
    }
}

/// The end of the heap's objects and free blocks in a memory usable up to
/// `end`: short of 4 GiB by a granule, so that every block's end, like its
/// offset, fits a `u32` (the regions' bounds and the free list's blocks).
fn drc_end(end: u64) -> u64 {
    end.min(crate::MAX_HEAP_SIZE - u64::from(kiln_environ::gc_layout::OBJECT_ALIGN))
}

/// Sets or clears collector `bit` of the object at `obj`.
fn set_bit(mem: &mut [u8], obj: u32, header: &VMGcHeader, bit: u32, on: bool) -> Result<()> {
    let word = if on { header.kind_word() | bit } else { header.kind_word() & !bit };
    write_u32(mem, u64::from(obj) + u64::from(HEADER_KIND_OFFSET), word)
}

impl DrcHeap {
    /// Adds the object `r` names to the log, unless it is there already;
    /// true if it was added (the entry then owns one count).
    fn log_object(&mut self, r: &VMGcRef) -> Result<bool> {
        let mem = self.memory.bytes_mut();
        let (obj, header) = object(mem, r)?;
        if header.collector_bits() & DRC_LOGGED_BIT != 0 {
            return Ok(false);
        }
        set_bit(mem, obj, &header, DRC_LOGGED_BIT, true)?;
        self.log.push(obj);
        Ok(true)
    }
}

fn inc_ref(mem: &mut [u8], r: &VMGcRef) -> Result<()> {
    if r.is_i31() {
        return Ok(());
    }
    let (obj, _) = object(mem, r)?;
    match count(mem, obj)? {
        u32::MAX => Ok(()),
        n => set_count(mem, obj, n + 1),
    }
}

fn dec_ref(mem: &mut [u8], pending: &mut WorkList, r: &VMGcRef) -> Result<()> {
    if r.is_i31() {
        return Ok(());
    }
    let (obj, header) = object(mem, r)?;
    match count(mem, obj)? {
        0 => Err(GcError::corrupt("reference count underflow", obj)),
        // Saturated: the object is immortal.
        u32::MAX => Ok(()),
        1 => {
            set_count(mem, obj, 0)?;
            if header.collector_bits() & PENDING_FREE == 0 {
                write_u32(mem, u64::from(obj) + u64::from(HEADER_KIND_OFFSET), header.kind_word() | PENDING_FREE)?;
                pending.push(obj);
            }
            Ok(())
        }
        n => set_count(mem, obj, n - 1),
    }
}

impl GcHeap for DrcHeap {
    fn collector(&self) -> Collector {
        Collector::Drc
    }

    fn memory(&self) -> &dyn HeapMemory {
        &*self.memory
    }

    fn memory_mut(&mut self) -> &mut dyn HeapMemory {
        &mut *self.memory
    }

    fn alloc_raw(&mut self, header: VMGcHeader, size: u32) -> Result<VMGcRef> {
        super::check_raw_kind(&header)?;
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

    fn clone_gc_ref(&mut self, r: &VMGcRef) -> Result<VMGcRef> {
        inc_ref(self.memory.bytes_mut(), r)?;
        Ok(r.unchecked_copy())
    }

    fn drop_gc_ref(&mut self, host_data: &mut HostDataTable, r: VMGcRef) -> Result<()> {
        dec_ref(self.memory.bytes_mut(), &mut self.pending, &r)?;
        if self.pending.is_empty() {
            return Ok(());
        }
        let (mut budget, mut work, mut allowance) = (DROP_FREE_BUDGET, 0, self.end);
        let mut errors = None;
        self.free_pending(host_data, &mut budget, &mut work, &mut allowance, &mut errors);
        errors.map_or(Ok(()), Err)
    }

    fn write_gc_ref(&mut self, host_data: &mut HostDataTable, dest: &mut Option<VMGcRef>, src: Option<&VMGcRef>) -> Result<()> {
        // Count the new reference before releasing the old one: they may be
        // the same object, whose count must not touch zero in between.
        let new = match src {
            Some(s) => Some(self.clone_gc_ref(s)?),
            None => None,
        };
        match std::mem::replace(dest, new) {
            Some(old) => self.drop_gc_ref(host_data, old),
            None => Ok(()),
        }
    }

    fn expose_gc_ref_to_wasm(&mut self, r: VMGcRef) -> Result<()> {
        if r.is_i31() {
            return Ok(());
        }
        if self.log_object(&r)? {
            // The caller's count now belongs to the list entry.
            Ok(())
        } else {
            // Already listed: the list holds one count per object, so the
            // caller's is released (it cannot reach zero: the entry holds
            // one).
            dec_ref(self.memory.bytes_mut(), &mut self.pending, &r)
        }
    }

    fn collect<'a>(&'a mut self, roots: GcRoots<'a>, host_data: &'a mut HostDataTable) -> Box<dyn GarbageCollection + 'a> {
        // The collection must see every fresh object and a whole free list.
        let retired = self.retire_region();
        Box::new(DrcCollection::new(self, roots, host_data, retired.err()))
    }

    fn reset(&mut self, zero: bool) {
        if zero {
            self.memory.clear();
        }
        self.end = drc_end(usable_end(self.memory.len()));
        let start = u64::from(FIRST_OBJECT_OFFSET);
        self.free_list.reset(start, self.end);
        if let Some((at, size)) = self.free_list.blocks().next() {
            // Cannot fail: the block lies inside the memory.
            let _ = write_header(self.memory.bytes_mut(), u64::from(at), &VMGcHeader::free_block(size));
        }
        self.log.clear();
        self.trace_due = false;
        self.log_overflowed = false;
        self.pending.clear();
        self.freed.clear();
        self.region = None;
        self.fresh.clear();
        self.types.clear();
        self.stats = GcStats { heap_size: self.end, ..GcStats::default() };
    }

    /// A DRC heap does not copy: it needs no reserve, and nothing gets
    /// cheaper per collection as it grows (a collection's work is the
    /// objects allocated since the last one, plus a trace when counting
    /// left it full). So once past the small-heap sizes it grows only when
    /// more than half of it is live, not a quarter as the copying heap
    /// does: array_window's heap is half as large (67 -> 34 MB), with
    /// fewer page faults and no slower (benches/README.md).
    fn wanted_growth(&self) -> u64 {
        crate::heap::wanted_growth(self.stats.heap_size, self.stats.bytes_in_use, 2)
    }

    fn grow(&mut self, additional: u64) -> Result<()> {
        let len = self.memory.len() as u64;
        let new_end = drc_end(grow_memory(&mut *self.memory, len, additional)?);
        let start = self.end.max(u64::from(FIRST_OBJECT_OFFSET));
        // A sliver too small for a block waits for the next growth.
        if new_end >= start + 16 {
            self.add_free_region(start, new_end)?;
            self.end = new_end;
            self.stats.heap_size = new_end;
        }
        Ok(())
    }

    fn stats(&self) -> GcStats {
        self.stats
    }

    /// Counting alone never frees cycles: the next collection traces.
    fn request_full_collection(&mut self) {
        self.trace_due = true;
    }

    fn ref_count(&self, r: &VMGcRef) -> Result<Option<u32>> {
        let (obj, _) = object(self.memory.bytes(), r)?;
        count(self.memory.bytes(), obj).map(Some)
    }

    fn counts_references(&self) -> bool {
        true
    }

    fn bump_region(&self) -> Option<(u32, u32)> {
        self.region.as_ref().map(Region::bounds)
    }

    fn set_bump_next(&mut self, next: u32) -> Result<()> {
        self.advance_region(next)
    }

    fn collection_due(&self) -> bool {
        self.log.len() > LOG_BOUND
    }

    /// Compiled code's barriers log objects they logged as referenced from
    /// the stack (bit set, entry counted) and, tagged, objects whose count
    /// they brought to zero (marked pending): the first join the root log,
    /// the others the queue, which is then worked on as a drop would.
    /// Entries a full log could not take are found by the next collection
    /// (`overflowed`).
    fn adopt_barrier_log(&mut self, host_data: &mut HostDataTable, entries: &[u32], overflowed: bool) -> Result<()> {
        self.log_overflowed |= overflowed;
        let mut errors = None;
        let mut zeroed = 0u64;
        for &entry in entries {
            let obj = entry & !DRC_LOG_ZERO_COUNT_TAG;
            let header = match new_ref(obj).and_then(|r| object(self.memory.bytes(), &r)) {
                Ok((_, header)) => header,
                Err(e) => {
                    note(&mut errors, e);
                    continue;
                }
            };
            let bits = header.collector_bits();
            if entry & DRC_LOG_ZERO_COUNT_TAG != 0 {
                // Queued even if counted again since (revived by a
                // call-free function): `free_pending` keeps such an object.
                if bits & PENDING_FREE != 0 {
                    self.pending.push(obj);
                    zeroed += 1;
                } else {
                    note(&mut errors, GcError::corrupt("barrier log names a zero count the header does not have", obj));
                }
            } else if bits & DRC_LOGGED_BIT != 0 {
                self.log.push(obj);
            } else {
                note(&mut errors, GcError::corrupt("barrier log names an object without its logged bit", obj));
            }
        }
        if zeroed > 0 {
            let (mut budget, mut work, mut allowance) = (DROP_FREE_BUDGET.saturating_mul(zeroed), 0, self.end);
            self.free_pending(host_data, &mut budget, &mut work, &mut allowance, &mut errors);
        }
        errors.map_or(Ok(()), Err)
    }

    fn verify(&self) -> Result<VerifyReport> {
        let mem = self.memory.bytes();
        let walk = verify_heap(mem, u64::from(FIRST_OBJECT_OFFSET), self.end, self.types.types(), Some(BLOCKS))?;
        let tail = self.region_tail();
        if !walk.free_blocks.iter().copied().filter(|b| Some(*b) != tail).eq(self.free_list.blocks()) {
            return Err(GcError::corrupt("free list disagrees with the heap", 0u64));
        }
        if walk.report.free_bytes != self.free_list.free_bytes() + tail.map_or(0, |(_, size)| u64::from(size)) {
            return Err(GcError::corrupt("free list byte count disagrees with the heap", 0u64));
        }
        let mut logged = 0;
        let mut spans: Vec<(u32, u32)> = self.fresh.iter().copied().chain(self.region_objects()).collect();
        spans.sort_unstable();
        let in_fresh_span = |obj: u32| {
            let i = spans.partition_point(|&(start, _)| start <= obj);
            i > 0 && obj < spans[i - 1].1
        };
        for &obj in &walk.objects {
            let header = object(mem, &new_ref(obj)?)?.1;
            if count(mem, obj)? == 0 && header.collector_bits() & PENDING_FREE == 0 {
                return Err(GcError::corrupt("live object with a zero count that is not queued", obj));
            }
            let bits = header.collector_bits();
            if bits & DRC_FRESH_BIT != 0 {
                if bits & DRC_LOGGED_BIT == 0 || !in_fresh_span(obj) {
                    return Err(GcError::corrupt("fresh object outside the fresh spans or not logged", obj));
                }
            } else {
                if in_fresh_span(obj) {
                    return Err(GcError::corrupt("object in a fresh span is not fresh", obj));
                }
                logged += usize::from(bits & DRC_LOGGED_BIT != 0);
            }
        }
        for &obj in &self.log {
            if walk.objects.binary_search(&obj).is_err() {
                return Err(GcError::corrupt("stack root log names something that is not an object", obj));
            }
            if object(mem, &new_ref(obj)?)?.1.collector_bits() & DRC_LOGGED_BIT == 0 {
                return Err(GcError::corrupt("stack root log names an object without its logged bit", obj));
            }
        }
        if logged != self.log.len() {
            return Err(GcError::corrupt("objects with the logged bit and the stack root log disagree", 0u64));
        }
        Ok(walk.report)
    }
}
