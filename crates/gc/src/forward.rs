//! Forwarding of moved objects: the evacuation mechanism of moving
//! collectors.
//!
//! An [`Evacuation`] copies objects out of a from-space (a range of the
//! heap) into a to-space (another, disjoint range, filled by a
//! [`BumpAllocator`]) and leaves in the from-space header of every copied
//! object the heap offset of its copy, in place of its type index
//! ([`COPYING_FORWARDING_OFFSET`]), with [`COPYING_FORWARDED_BIT`] set
//! among its collector bits (its size stays readable). A reference to an
//! object already copied is rewritten to the copy, so each object is
//! copied once however many references it has.
//!
//! Copies are scanned Cheney-style: the to-space itself is the work list.
//! Objects between the scan cursor and the to-space top have been copied but
//! their reference fields still hold from-space offsets; scanning one
//! forwards each of its references (which may copy more objects to the
//! top). No recursion and no side stack, so a chain of a million objects
//! is copied in constant side memory. The cursor can stop in the middle of
//! an object (a huge array) and resume there, so scanning is done in
//! bounded slices.
//!
//! Trust. The from-space range, the to-space range and the scan cursor are
//! side state; heap contents are not trusted:
//! - a reference is forwarded only if it is the aligned start of a valid
//!   object lying wholly inside the from-space; anything else (an offset
//!   outside the from-space, in the to-space, misaligned, a bad header, a
//!   size reaching past the from-space) is `Corrupt` and left unchanged;
//! - a forwarding offset (in a header with `COPYING_FORWARDED_BIT`) is
//!   believed only if it is an aligned offset inside the part of the
//!   to-space copied so far;
//! - a copy is made only if it fits in the to-space. Valid objects are
//!   disjoint and the to-space is at least as large as the from-space, so
//!   this only fails for a corrupt heap (overlapping "objects"), and it
//!   bounds the copying by the to-space size either way;
//! - the to-space headers the scan walks were written here, never by the
//!   heap's contents, so the walk moves forward by valid sizes and ends.
//!
//! A generational collector's minor collection evacuates only the nursery:
//! references into the mature space and the large-object space (the `old`
//! ranges, see [`Evacuation::leaving`]) are valid and stay as they are.
//!
//! A full collection marks the large objects instead of copying them
//! ([`Evacuation::marking`], `large.rs`): a reference to one is valid and
//! stays; the first marks it, and once the copies are all scanned the
//! marked large objects are scanned the same way (which may copy more).
//!
//! The work is bounded by the to-space: at most one copy per 16 bytes of
//! it, and at most one slot visited per 4 bytes of it.
//!
//! Pages. A to-space fresh from the system would take a page fault per
//! page as the copies reach it; [`Evacuation::scan_prefaulting`] asks the
//! heap's memory to back it a stretch ahead of the copies instead
//! (`HeapMemory::prefault`), pausing the scan where the copies reach the
//! end of the stretch, also between two elements of a long array of
//! references (a short one, or a struct, may carry the copies past the
//! end by what it references).
//!
//! Speed. Most of a collection is spent scanning small copies and
//! forwarding their fields, so that case has a path of its own:
//! [`Evacuation::scan_whole_copies`] scans copy after copy in one loop,
//! and [`Evacuation::forward_fast`] forwards a field with one header load
//! and no `Result`, handing anything unusual (and every error) to the
//! general path, which decides as it always did. On list_churn this
//! cut the instructions per copied object from 390 to 168 (callgrind) and
//! the collection time by 40 %. Within that loop, runs of plain structs
//! take [`Evacuation::scan_plain_structs`], which keeps the last struct
//! type's reference fields at hand instead of decoding the header in full
//! and looking the type up per copy: 168 -> 147 instructions per copy on
//! list_churn, 10 % fewer on binary_trees and deep_trees.

use crate::alloc::bump::BumpAllocator;
use crate::cards::StartBits;
use crate::error::{note, note_err};
use crate::header::{check_object_header, check_object_offset, object_at, read_header, write_header};
use crate::host_data::drop_externref_host_data;
use crate::large::LargeMarks;
use crate::memory::{copy_object, read_u32, write_u32};
use crate::plain::PlainMarks;
use crate::trace::{RefSlots, ref_slots};
use crate::types::TraceInfo;
use crate::types::TypeCache;
use crate::{GcError, GcRoots, HeapMemory, HostDataTable, Result, VMGcHeader, VMGcKind, VMGcRef};
use kiln_environ::gc_layout::{
    COPYING_FORWARDED_BIT, COPYING_FORWARDING_OFFSET, GC_REF_SIZE, HEADER_SIZE, HEADER_TYPE_INDEX_OFFSET, MIN_OBJECT_SIZE, OBJECT_ALIGN,
    header_size_field,
};
use std::ops::Range;

// The forwarding offset replaces the type index, which
// `VMGcHeader::type_index` reads.
const _: () = assert!(COPYING_FORWARDING_OFFSET == HEADER_TYPE_INDEX_OFFSET);

/// The 8 bytes at `at` (a header, both its words), if they lie in `mem`.
#[inline(always)]
fn read_u64(mem: &[u8], at: u64) -> Option<u64> {
    let at = usize::try_from(at).ok()?;
    Some(u64::from_le_bytes(mem.get(at..at.checked_add(8)?)?.try_into().ok()?))
}

/// How far above the copies `scan_prefaulting` backs the to-space.
const PREFAULT_AHEAD: u64 = 1 << 20;
/// Arrays of more references than this are scanned where the scan can
/// pause between two of their elements.
const LONG_ARRAY: u32 = 256;

/// One evacuation of a from-space into a to-space.
pub(crate) struct Evacuation {
    from: Range<u64>,
    /// `from`'s length (0 if it is empty), for one-compare range checks.
    from_len: u64,
    /// Objects outside the from-space that references may name and that
    /// stay where they are (empty unless [`Evacuation::leaving`] says).
    old: [Range<u64>; 2],
    /// The large objects, marked rather than copied (none unless
    /// [`Evacuation::marking`] says), and where the scan of the one
    /// being scanned is.
    large: LargeMarks,
    large_slot: u32,
    /// The plain objects, marked and left where they are (none unless
    /// [`Evacuation::marking_plain`] says).
    plain: PlainMarks,
    to_start: u64,
    to: BumpAllocator,
    /// The next to-space object to scan...
    scan: u64,
    /// ...and the index of its next reference slot.
    scan_slot: u32,
    /// Externref objects copied, by to-space offset (ascending).
    externrefs: Vec<u32>,
    /// Where the copies start, when the collector keeps object starts
    /// ([`Evacuation::record_starts_into`]).
    starts: Option<StartBits>,
    /// `scan` returns once the copies reach this offset, so that
    /// `scan_prefaulting` can back the next stretch (`u64::MAX` otherwise)...
    pause_at: u64,
    /// ...which starts where the last one ended.
    prefaulted_to: u64,
    /// The struct type the scan met last, for its loop over plain structs.
    last_struct: StructSlots,
}

/// A struct type's reference fields, copied out of the type cache so that
/// the scan of a run of structs of one type looks its type up once.
#[derive(Clone, Copy)]
struct StructSlots {
    /// The type index (`u32::MAX`: none yet).
    type_index: u32,
    /// The smallest object size the fields fit in.
    needed: u32,
    count: u32,
    offsets: [u32; MAX_CACHED_REFS],
}

/// Structs with more reference fields than this take the general path.
const MAX_CACHED_REFS: usize = 4;

impl StructSlots {
    const NONE: StructSlots = StructSlots { type_index: u32::MAX, needed: 0, count: 0, offsets: [0; MAX_CACHED_REFS] };

    /// `type_index`'s fields, if it is a struct type with few enough
    /// reference fields.
    fn of(types: &mut TypeCache, type_index: u32) -> Option<StructSlots> {
        let Some(TraceInfo::Struct { size, gc_ref_offsets }) = types.get(type_index) else { return None };
        if gc_ref_offsets.len() > MAX_CACHED_REFS {
            return None;
        }
        let mut offsets = [0; MAX_CACHED_REFS];
        offsets[..gc_ref_offsets.len()].copy_from_slice(gc_ref_offsets);
        Some(StructSlots { type_index, needed: *size, count: gc_ref_offsets.len() as u32, offsets })
    }
}

impl Evacuation {
    /// Evacuates objects of `from` into `to`. The ranges must not overlap
    /// (the caller's layout guarantees it).
    pub(crate) fn new(from: Range<u64>, to: Range<u64>) -> Evacuation {
        debug_assert!(from.end <= to.start || to.end <= from.start || from.is_empty() || to.is_empty());
        Evacuation {
            to: BumpAllocator::new(to.start, to.end),
            to_start: to.start,
            scan: to.start,
            scan_slot: 0,
            from_len: from.end.saturating_sub(from.start),
            from,
            old: [0..0, 0..0],
            large: LargeMarks::none(),
            plain: PlainMarks::none(),
            large_slot: 0,
            externrefs: Vec::new(),
            starts: None,
            pause_at: u64::MAX,
            prefaulted_to: to.start,
            last_struct: StructSlots::NONE,
        }
    }

    /// Records where each copy starts, into `starts` (which must cover the
    /// copies, at most as large as the from-space): the scan visits every
    /// copy once, so this costs a bit per copy rather than a walk of them
    /// afterwards. Copies scanned before are not recorded.
    pub(crate) fn record_starts_into(&mut self, starts: StartBits) {
        self.starts = Some(starts);
    }

    /// Where the copies of a sound heap end at the latest.
    pub(crate) fn copies_end(&self) -> u64 {
        self.to.end().min(self.to_start.saturating_add(self.from_len))
    }

    /// The copies' starts, once the scan is done.
    pub(crate) fn take_starts(&mut self) -> Option<StartBits> {
        self.starts.take()
    }

    /// The scan is done with the copy at `at`.
    #[inline(always)]
    fn scanned_copy(&mut self, at: u64) {
        if let Some(starts) = &mut self.starts {
            starts.record(at);
        }
    }

    /// Leaves references into the `old` ranges (disjoint from both
    /// spaces) as they are: objects there survive this evacuation without
    /// moving.
    pub(crate) fn leaving(mut self, old: [Range<u64>; 2]) -> Evacuation {
        self.old = old;
        self
    }

    /// Marks the large objects named by `marks` when they are reached,
    /// and scans them, instead of reporting references to them.
    pub(crate) fn marking(mut self, marks: LargeMarks) -> Evacuation {
        self.large = marks;
        self
    }

    /// Marks the plain objects named by `marks` when they are reached
    /// (they reference nothing: there is nothing to scan).
    pub(crate) fn marking_plain(mut self, marks: PlainMarks) -> Evacuation {
        self.plain = marks;
        self
    }

    /// Takes the plain objects' marks, once the scan is done.
    pub(crate) fn take_plain_marks(&mut self) -> PlainMarks {
        std::mem::replace(&mut self.plain, PlainMarks::none())
    }

    /// Takes the large objects' marks, once the scan is done.
    pub(crate) fn take_large_marks(&mut self) -> LargeMarks {
        std::mem::replace(&mut self.large, LargeMarks::none())
    }

    /// Does this evacuation leave `obj` where it is?
    fn stays(&self, obj: u32) -> bool {
        let obj = u64::from(obj);
        self.old[0].contains(&obj) || self.old[1].contains(&obj)
    }

    /// Where the copies start.
    pub(crate) fn to_start(&self) -> u64 {
        self.to_start
    }

    /// Where the copies end: `[to_start, to_top)` holds every object copied.
    pub(crate) fn to_top(&self) -> u64 {
        self.to.top()
    }

    /// Takes the to-space offsets of the externref objects copied so far.
    pub(crate) fn take_externrefs(&mut self) -> Vec<u32> {
        std::mem::take(&mut self.externrefs)
    }

    /// Is the from-space object with `header` already copied? (For
    /// collectors sweeping the from-space afterwards.)
    pub(crate) fn is_forwarded(header: &VMGcHeader) -> bool {
        header.collector_bits() & COPYING_FORWARDED_BIT != 0
    }

    /// Is `forwarding`, read from a forwarded header, the offset of a copy
    /// made so far (aligned, in `[to_start, to_top)`)? Only then is it
    /// believed.
    #[inline(always)]
    fn is_copy(&self, forwarding: u32) -> bool {
        u64::from(forwarding).wrapping_sub(self.to_start) < self.to.top() - self.to_start && forwarding % OBJECT_ALIGN == 0
    }

    /// The fast path of forwarding a reference found in a heap slot: the
    /// reference's new raw value, or `None` to take the general path
    /// ([`Evacuation::forward_field`]), which handles every case and
    /// reports what is wrong. It succeeds only where the general path
    /// would give the same answer: for null, i31s, objects that stay
    /// where they are ([`Evacuation::leaving`]), objects already copied
    /// (whose forwarding offset checks out), and the common case of a
    /// plain struct (no collector bits) lying wholly in the from-space,
    /// which it copies. One header load, no `Result` on the way: a copying
    /// collection spends most of its time here.
    #[inline(always)]
    fn forward_fast(&mut self, mem: &mut [u8], raw: u32) -> Option<u32> {
        if raw & VMGcRef::I31_TAG != 0 || raw == 0 {
            return Some(raw);
        }
        let at = u64::from(raw);
        if at.wrapping_sub(self.from.start) >= self.from_len {
            // Into the mature space (a minor collection), or the general
            // path's to judge.
            return self.stays(raw).then_some(raw);
        }
        if raw % OBJECT_ALIGN != 0 {
            return None;
        }
        let word = read_u64(mem, at)?;
        let (kind_word, type_word) = (word as u32, (word >> 32) as u32);
        if kind_word & COPYING_FORWARDED_BIT != 0 {
            return self.is_copy(type_word).then_some(type_word);
        }
        if kind_word & (VMGcKind::MASK | VMGcKind::COLLECTOR_BITS_MASK) != VMGcKind::StructRef.as_u32() {
            return None;
        }
        let size = header_size_field(kind_word) * OBJECT_ALIGN;
        if size < MIN_OBJECT_SIZE || at + u64::from(size) > self.from.end {
            return None;
        }
        let new = self.to.alloc(size)?;
        copy_object(mem, at, u64::from(new), u64::from(size)).ok()?;
        let forwarded = u64::from(kind_word | COPYING_FORWARDED_BIT) | u64::from(new) << 32;
        mem.get_mut(at as usize..at as usize + HEADER_SIZE as usize)?.copy_from_slice(&forwarded.to_le_bytes());
        Some(new)
    }

    /// Forwards the reference stored in the heap at `slot`, by the fast
    /// path when it can.
    #[inline(always)]
    fn forward_heap_slot(&mut self, mem: &mut [u8], slot: u64, errors: &mut Option<GcError>) {
        if let Ok(raw) = read_u32(mem, slot)
            && let Some(new) = self.forward_fast(mem, raw)
        {
            if new != raw {
                note_err(errors, write_u32(mem, slot, new));
            }
            return;
        }
        note_err(errors, self.forward_field(mem, slot));
    }

    /// The new offset of the from-space object at `obj`, copying it if this
    /// is the first reference to it; a large object stays, marked.
    #[inline]
    pub(crate) fn forward(&mut self, mem: &mut [u8], obj: u32) -> Result<u32> {
        let at = u64::from(obj);
        if !self.from.contains(&at) {
            if self.large.mark(obj) || self.plain.mark(obj) {
                return Ok(obj);
            }
            return Err(GcError::corrupt("reference outside the from-space", obj));
        }
        check_object_offset(obj)?;
        let header = read_header(mem, at)?;
        // A forwarded object needs no more checks than its forwarding
        // offset's: whatever the header says, the reference becomes one to
        // a copy.
        if Self::is_forwarded(&header) {
            let forwarding = header.type_index();
            if !self.is_copy(forwarding) {
                return Err(GcError::corrupt("forwarding offset outside the copies", obj));
            }
            return Ok(forwarding);
        }
        check_object_header(mem, obj, &header)?;
        let size = header.size();
        if at + u64::from(size) > self.from.end {
            return Err(GcError::corrupt("object extends past the from-space", obj));
        }
        let new = self.to.alloc(size).ok_or(GcError::corrupt("to-space exhausted: objects overlap", obj))?;
        copy_object(mem, at, u64::from(new), u64::from(size))?;
        // The copy starts clean (no collector bits), the original records
        // where the copy is.
        if header.collector_bits() != 0 {
            write_header(mem, u64::from(new), &header.with_collector_bits(0))?;
        }
        let forwarded = header.with_collector_bits(header.collector_bits() | COPYING_FORWARDED_BIT).with_type_word(new);
        write_header(mem, at, &forwarded)?;
        if header.kind() == Some(VMGcKind::ExternRef) {
            self.externrefs.push(new);
        }
        Ok(new)
    }

    /// Forwards the reference in a root slot, rewriting the slot. Null and
    /// i31 values are left untouched; so is a slot whose reference cannot
    /// be forwarded (the error says why).
    pub(crate) fn forward_slot(&mut self, mem: &mut [u8], slot: &mut Option<VMGcRef>) -> Result<()> {
        let Some(obj) = slot.as_ref().and_then(VMGcRef::as_heap_index).filter(|&o| !self.stays(o)) else { return Ok(()) };
        let new = self.forward(mem, obj)?;
        *slot = Some(VMGcRef::from_heap_index(new).ok_or(GcError::corrupt("forwarded to a bad offset", new))?);
        Ok(())
    }

    /// Forwards the reference stored in the heap at `slot`.
    #[inline(never)]
    pub(crate) fn forward_field(&mut self, mem: &mut [u8], slot: u64) -> Result<()> {
        let raw = read_u32(mem, slot)?;
        let Some(obj) = VMGcRef::from_raw_u32(raw).as_ref().and_then(VMGcRef::as_heap_index).filter(|&o| !self.stays(o)) else { return Ok(()) };
        let new = self.forward(mem, obj)?;
        if new != obj {
            write_u32(mem, slot, new)?;
        }
        Ok(())
    }

    /// Forwards the root slots of `roots` from `*next` on, one unit of
    /// `budget` each, rewriting every slot (stack and non-stack roots
    /// alike); returns whether all are done.
    pub(crate) fn forward_roots(
        &mut self,
        mem: &mut [u8],
        roots: &mut GcRoots<'_>,
        next: &mut usize,
        budget: &mut u64,
        work: &mut u64,
        errors: &mut Option<GcError>,
    ) -> bool {
        while *budget > 0 && *next < roots.len() {
            let i = *next;
            *next += 1;
            *budget -= 1;
            *work += 1;
            if let Some((slot, _)) = roots.get_mut(i) {
                note_err(errors, self.forward_slot(mem, slot));
            }
        }
        *next >= roots.len()
    }

    /// Sweeps the from-space's externref objects `list` from `*next` on,
    /// one unit of `budget` each: one that was not copied is dead, and its
    /// host data is dropped. Returns whether all are done.
    pub(crate) fn sweep_externrefs(
        mem: &[u8],
        list: &[u32],
        next: &mut usize,
        host_data: &mut HostDataTable,
        budget: &mut u64,
        work: &mut u64,
        errors: &mut Option<GcError>,
    ) -> bool {
        while *budget > 0 && *next < list.len() {
            let obj = list[*next];
            *next += 1;
            *budget -= 1;
            *work += 1;
            match read_header(mem, u64::from(obj)) {
                Ok(h) if h.kind() == Some(VMGcKind::ExternRef) => {
                    if !Self::is_forwarded(&h) {
                        note_err(errors, drop_externref_host_data(mem, obj, host_data));
                    }
                }
                // Its host data cannot be found any more: it leaks (it is
                // never dropped early).
                Ok(_) => note(errors, GcError::corrupt("externref header overwritten", obj)),
                Err(e) => note(errors, e),
            }
        }
        *next >= list.len()
    }

    /// Have all copies and all marked large objects been scanned?
    pub(crate) fn scan_done(&self) -> bool {
        self.scan >= self.to.top() && self.large.pending().is_none()
    }

    /// [`Evacuation::scan`], backing the to-space's pages above the
    /// copies a stretch at a time just before the copies reach them
    /// (`HeapMemory::prefault`): a fresh to-space then costs a system
    /// call per stretch rather than a page fault per page, and at most a
    /// stretch is backed beyond what the copies use.
    pub(crate) fn scan_prefaulting(
        &mut self,
        types: &mut TypeCache,
        memory: &mut dyn HeapMemory,
        budget: &mut u64,
        work: &mut u64,
        errors: &mut Option<GcError>,
    ) -> bool {
        let done = loop {
            self.prefault_ahead(memory);
            let done = self.scan(types, memory.bytes_mut(), budget, work, errors);
            if done || *budget == 0 {
                break done;
            }
        };
        self.pause_at = u64::MAX;
        done
    }

    /// Backs the to-space's pages up to `PREFAULT_AHEAD` bytes above the
    /// copies' end, where the scan then pauses, from where the last
    /// stretch ended (the copy that crossed it was written without).
    pub(crate) fn prefault_ahead(&mut self, memory: &dyn HeapMemory) {
        let top = self.to.top();
        let end = self.to.end().min(top + PREFAULT_AHEAD);
        memory.prefault(self.prefaulted_to.min(top) as usize..end as usize);
        self.prefaulted_to = end;
        self.pause_at = top + PREFAULT_AHEAD;
    }

    /// Scans copies, then marked large objects (whose scans may copy more),
    /// for up to `budget` units (one per reference slot, one per object
    /// finished), forwarding what their fields reference. Returns whether
    /// everything is scanned. Errors go to `errors` (the first is kept);
    /// the scan goes on past them.
    pub(crate) fn scan(&mut self, types: &mut TypeCache, mem: &mut [u8], budget: &mut u64, work: &mut u64, errors: &mut Option<GcError>) -> bool {
        while *budget > 0 && !self.scan_done() && self.to.top() < self.pause_at {
            if self.scan < self.to.top() {
                if self.scan_slot == 0 {
                    // Compiled twice, so the copying collector's loop has
                    // no test for the starts it does not record.
                    if self.starts.is_some() {
                        self.scan_whole_copies::<true>(types, mem, budget, work, errors);
                    } else {
                        self.scan_whole_copies::<false>(types, mem, budget, work, errors);
                    }
                }
                if *budget > 0 && self.scan < self.to.top() {
                    self.scan_copy(types, mem, budget, work, errors);
                }
            } else if let Some((obj, block)) = self.large.pending() {
                let mut slot = self.large_slot;
                let done = match object_at(mem, obj) {
                    Ok(header) if u64::from(header.size()) > block => {
                        note(errors, GcError::corrupt("large object larger than its block", obj));
                        true
                    }
                    Ok(header) => self.forward_fields(types, mem, obj, &header, &mut slot, budget, work, errors),
                    Err(e) => {
                        note(errors, e);
                        true
                    }
                };
                self.large_slot = slot;
                if done {
                    self.large.scanned();
                    self.large_slot = 0;
                    *budget = budget.saturating_sub(1);
                    *work += 1;
                }
            }
        }
        self.scan_done()
    }

    /// Scans whole copies from the scan cursor for as long as the budget
    /// covers the next one (a unit per slot and one for the object), in
    /// one loop: the common case of [`Evacuation::scan_copy`], without its
    /// resumption in the middle of an object. Stops at the first copy it
    /// cannot scan whole, for `scan_copy` to scan in part or report.
    #[inline(never)]
    fn scan_whole_copies<const RECORD_STARTS: bool>(&mut self, types: &mut TypeCache, mem: &mut [u8], budget: &mut u64, work: &mut u64, errors: &mut Option<GcError>) {
        let mut units = 0;
        loop {
            self.scan_plain_structs::<RECORD_STARTS>(types, mem, *budget, &mut units, errors);
            if !(self.scan < self.to.top() && self.to.top() < self.pause_at) {
                break;
            }
            let obj = self.scan as u32;
            let Ok(header) = read_header(mem, self.scan) else { break };
            if header.size() < MIN_OBJECT_SIZE {
                break;
            }
            let Ok(slots) = ref_slots(types, mem, obj, &header) else { break };
            let cost = u64::from(slots.len()) + 1;
            if cost > *budget - units {
                break;
            }
            // A loop per kind of slots, written out here and in the
            // compaction's loops: a shared helper taking a closure per slot
            // was left out of line by LLVM (list_churn: +22 % instructions).
            match slots {
                RefSlots::None => {}
                RefSlots::Fields { obj, offsets } => {
                    for &offset in offsets {
                        self.forward_heap_slot(mem, u64::from(obj) + u64::from(offset), errors);
                    }
                }
                // A long array may copy more than a stretch: the partial
                // scan (`scan_copy`) pauses in it.
                RefSlots::Elems { count, .. } if count > LONG_ARRAY && self.pause_at != u64::MAX => break,
                RefSlots::Elems { start, count } => {
                    for i in 0..count {
                        self.forward_heap_slot(mem, start + u64::from(i) * u64::from(GC_REF_SIZE), errors);
                    }
                }
            }
            units += cost;
            if RECORD_STARTS {
                self.scanned_copy(self.scan);
            }
            self.scan += u64::from(header.size());
        }
        *budget -= units;
        *work += units;
    }

    /// The commonest copies: plain structs (no collector bits) of a type
    /// with few reference fields, scanned while the budget (`budget`, of
    /// which `units` are spent) lasts, each with one header load and no
    /// type lookup while the type stays the same. Stops at the first
    /// other copy, for the general loop, which decides about it as it
    /// always did: this only skips its steps for what it knows.
    #[inline(always)]
    fn scan_plain_structs<const RECORD_STARTS: bool>(&mut self, types: &mut TypeCache, mem: &mut [u8], budget: u64, units: &mut u64, errors: &mut Option<GcError>) {
        let mut scan = self.scan;
        while scan < self.to.top() && self.to.top() < self.pause_at {
            let Some(word) = read_u64(mem, scan) else { break };
            let kind_word = word as u32;
            if kind_word & (VMGcKind::MASK | VMGcKind::COLLECTOR_BITS_MASK) != VMGcKind::StructRef.as_u32() {
                break;
            }
            let type_index = (word >> 32) as u32;
            if type_index != self.last_struct.type_index {
                let Some(slots) = StructSlots::of(types, type_index) else { break };
                self.last_struct = slots;
            }
            let size = header_size_field(kind_word) * OBJECT_ALIGN;
            let (count, needed) = (self.last_struct.count as usize, self.last_struct.needed);
            let cost = count as u64 + 1;
            // (`count` is at most `MAX_CACHED_REFS` by construction; saying
            // so lets the loop index `offsets` without a check per slot.)
            if size < MIN_OBJECT_SIZE || needed > size || cost > budget - *units || count > MAX_CACHED_REFS {
                break;
            }
            for k in 0..count {
                let offset = self.last_struct.offsets[k];
                self.forward_heap_slot(mem, scan + u64::from(offset), errors);
            }
            *units += cost;
            if RECORD_STARTS {
                self.scanned_copy(scan);
            }
            scan += u64::from(size);
        }
        self.scan = scan;
    }

    /// Scans the copy at the scan cursor, as far as `budget` goes.
    fn scan_copy(&mut self, types: &mut TypeCache, mem: &mut [u8], budget: &mut u64, work: &mut u64, errors: &mut Option<GcError>) {
        // Below the to-space top, which is a heap offset.
        let obj = self.scan as u32;
        // The copies' headers were written here from validated ones, so
        // they are read, not validated again; the size check only makes
        // sure that the walk moves forward.
        let header = match read_header(mem, self.scan) {
            Ok(h) if h.size() >= MIN_OBJECT_SIZE => h,
            result => {
                // Cannot happen, but if it did the walk could not find the
                // next object: stop scanning rather than guess.
                note(errors, result.err().unwrap_or_else(|| GcError::corrupt("copy smaller than an object", obj)));
                self.scan = self.to.top();
                *budget -= 1;
                *work += 1;
                return;
            }
        };
        let mut slot = self.scan_slot;
        let done = self.forward_fields(types, mem, obj, &header, &mut slot, budget, work, errors);
        self.scan_slot = slot;
        if done {
            *budget = budget.saturating_sub(1);
            *work += 1;
            self.scanned_copy(self.scan);
            self.scan += u64::from(header.size());
            self.scan_slot = 0;
        }
    }

    /// Forwards the references of `obj` from its slot `*slot` on, one
    /// unit of `budget` each; returns whether all are done and a unit is
    /// left to finish the object (else `*slot` is where to resume).
    /// Errors go to `errors`; an object that does not match its type has
    /// no references that can be found, so it is done at once (they stay
    /// as they are, pointing at memory that is about to be free).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn forward_fields(
        &mut self,
        types: &mut TypeCache,
        mem: &mut [u8],
        obj: u32,
        header: &VMGcHeader,
        slot: &mut u32,
        budget: &mut u64,
        work: &mut u64,
        errors: &mut Option<GcError>,
    ) -> bool {
        let slots = match ref_slots(types, mem, obj, header) {
            Ok(slots) => slots,
            Err(e) => {
                note(errors, e);
                return true;
            }
        };
        let n = slots.len();
        // The slots this step visits, one unit of budget each; a loop per
        // kind of slots rather than a match per slot.
        let first = (*slot).min(n);
        let mut last = n.min(first.saturating_add(u32::try_from(*budget).unwrap_or(u32::MAX)));
        match slots {
            RefSlots::None => {}
            RefSlots::Fields { obj, offsets } => {
                for &offset in &offsets[first as usize..last as usize] {
                    self.forward_heap_slot(mem, u64::from(obj) + u64::from(offset), errors);
                }
            }
            RefSlots::Elems { start, .. } => {
                for i in first..last {
                    if self.to.top() >= self.pause_at {
                        last = i;
                        break;
                    }
                    self.forward_heap_slot(mem, start + u64::from(i) * u64::from(GC_REF_SIZE), errors);
                }
            }
        }
        let visited = u64::from(last - first);
        *slot = last;
        *budget -= visited;
        *work += visited;
        *slot >= n && *budget > 0
    }
}
