//! Sliding compaction (mark-compact): the mechanism of collectors whose
//! old objects are collected in place, without a copy reserve.
//!
//! A [`Compaction`] collects *packed spaces* (ranges of back-to-back
//! objects, ascending and disjoint) and slides the survivors down to a
//! destination at or below the first space, back to back and in address
//! order, so the spaces end up as one packed range and the memory above
//! it is free. It needs no memory beyond the heap's but side state: two
//! bits per 8 bytes of the spaces (a thirty-second of their size), a word
//! per 512 bytes and one per survivor. Phases, each in bounded steps:
//! 1. *Mark* ([`Compaction::mark_roots`], [`Compaction::mark`]): from the
//!    roots, through a work list; a mark is a side bit at the object's
//!    start, and the large objects (which do not move) are marked in their
//!    [`LargeMarks`].
//! 2. *Plan* ([`Compaction::plan`]): the marks, in address order, give
//!    the survivors; each one's granules are set in a second bitmap (its
//!    *extent*), and a prefix sum of that bitmap's words gives, for each
//!    word, the survivors' bytes before it. A survivor's new offset is
//!    then the destination plus those bytes plus the extent bits below it
//!    in its word, found without touching the heap (the Compressor's
//!    idea: Kermany and Petrank, PLDI 2006). Dead objects are never
//!    visited: the work is the mark words and the survivors.
//! 3. *Sweep* ([`Compaction::sweep_externrefs`]): the externrefs left
//!    unmarked are dead and their host data is dropped; the others get
//!    their new offsets.
//! 4. *Update* ([`Compaction::update_large_objects`],
//!    [`Compaction::update_roots`]): every reference slot of the marked
//!    large objects (which stay) and of the roots is rewritten to the new
//!    offset.
//! 5. *Slide* ([`Compaction::slide`]): each survivor is moved down to its
//!    offset, with its collector bits cleared, and its reference slots are
//!    rewritten there: new offsets come from the side bitmaps alone, so a
//!    survivor's references can be rewritten before or after their
//!    targets move, and one pass over the survivors does both (a separate
//!    update pass read every survivor once more: deep_trees' full
//!    collections stream tens of megabytes).
//!    Survivors are disjoint and ascending, and each moves down: moving
//!    them in order never overwrites one not moved yet.
//!
//! Trust: the spaces, marks, survivor list and cursors are side state;
//! headers are read with the checked accessors. Marks are not known to be
//! object starts (a corrupt reference can point into an object), so the
//! plan keeps a mark only if a valid object starts there, lies in one
//! space and begins after the previous survivor ends; the others are
//! reported and dropped. A reference to something not planned is reported
//! and left as it is. Marking work is bounded by an allowance a sound heap
//! cannot exceed, the rest by the spaces' size: a compaction of a corrupt
//! heap reports errors and at worst loses objects, inside the heap.

use crate::cards::Bits;
use crate::error::{note, note_err};
use crate::header::{check_object_offset, object_at, read_header};
use crate::host_data::drop_externref_host_data;
use crate::large::LargeMarks;
use crate::memory::{copy_object, read_u32, write_u32};
use crate::trace::{RefSlots, WorkList, ref_slots};
use crate::types::TypeCache;
use crate::{GcError, GcRoots, HostDataTable, Result, VMGcHeader, VMGcKind, VMGcRef};
use kiln_environ::gc_layout::{GC_REF_SIZE, HEADER_KIND_OFFSET, OBJECT_ALIGN};
use std::ops::Range;

/// A bit per 8-byte granule of a range: the marks (object starts) or the
/// survivors' extents.
struct MarkBits {
    base: u64,
    end: u64,
    words: Vec<u64>,
}

impl MarkBits {
    fn new(range: Range<u64>) -> MarkBits {
        let granules = range.end.saturating_sub(range.start) / u64::from(OBJECT_ALIGN);
        MarkBits { base: range.start, end: range.end, words: vec![0; granules.div_ceil(64) as usize] }
    }

    #[inline]
    fn position(&self, obj: u64) -> Option<(usize, u64)> {
        if obj < self.base || obj >= self.end {
            return None;
        }
        let granule = (obj - self.base) / u64::from(OBJECT_ALIGN);
        Some(((granule / 64) as usize, 1 << (granule % 64)))
    }

    /// Sets the mark of `obj`; returns whether it was not set before.
    #[inline]
    fn set(&mut self, obj: u64) -> bool {
        let Some((word, bit)) = self.position(obj) else { return false };
        let fresh = self.words[word] & bit == 0;
        self.words[word] |= bit;
        fresh
    }

    #[inline]
    fn get(&self, obj: u64) -> bool {
        self.position(obj).is_some_and(|(word, bit)| self.words[word] & bit != 0)
    }

    fn clear(&mut self, obj: u64) {
        if let Some((word, bit)) = self.position(obj) {
            self.words[word] &= !bit;
        }
    }

    /// Sets the bits of the granules of `[start, end)` (inside the range).
    fn set_extent(&mut self, start: u64, end: u64) {
        let granule = u64::from(OBJECT_ALIGN);
        let (first, last) = ((start - self.base) / granule, (end - self.base) / granule);
        // Most objects are a few granules within one word.
        if last > first && first / 64 == (last - 1) / 64 {
            self.words[(first / 64) as usize] |= (u64::MAX >> (64 - (last - first))) << (first % 64);
            return;
        }
        let mut g = first;
        while g < last {
            let (word, bit) = ((g / 64) as usize, g % 64);
            let n = (64 - bit).min(last - g);
            let mask = if n == 64 { u64::MAX } else { ((1u64 << n) - 1) << bit };
            self.words[word] |= mask;
            g += n;
        }
    }

    /// The marked offsets of word `w` (as it is now), ascending.
    fn marked_in_word(&self, w: usize) -> impl Iterator<Item = u64> + use<> {
        let first = self.base + (w as u64) * 64 * u64::from(OBJECT_ALIGN);
        Bits(self.words[w]).map(move |i| first + u64::from(i) * u64::from(OBJECT_ALIGN))
    }
}

/// One mark-compact collection of packed spaces.
pub(crate) struct Compaction {
    spaces: Vec<Range<u64>>,
    marks: MarkBits,
    large: LargeMarks,
    work_list: WorkList,
    /// The next mark word the plan looks at, and the end of the last
    /// survivor it planned.
    next_word: usize,
    planned_end: u64,
    /// Where the next survivor goes; after the plan, the end of them all.
    dest: Range<u64>,
    /// The survivors' granules, and for each word of them the survivors'
    /// bytes in the words before it: a survivor's new offset follows from
    /// its position alone (no heap access), as in the Compressor.
    extents: MarkBits,
    bytes_before: Vec<u32>,
    /// The survivors' offsets and sizes, in address order.
    survivors: Vec<(u32, u32)>,
    /// The next survivor the update or the slide works on.
    next_survivor: usize,
    /// The space the plan found the last survivor in.
    plan_space: usize,
    /// Where the slide puts the next survivor: the survivors before it
    /// fill `[dest.start, slide_to)`, which is what `forwarding` computes
    /// from the extents.
    slide_to: u64,
    /// Units of marking work left before the heap is judged corrupt.
    mark_allowance: u64,
}

impl Compaction {
    /// A compaction of `spaces` (ascending, disjoint, packed) sliding the
    /// survivors down to `dest`, which is at or below the first space.
    pub(crate) fn new(spaces: Vec<Range<u64>>, dest: u64, large: LargeMarks, large_bytes: u64) -> Compaction {
        debug_assert!(spaces.windows(2).all(|w| w[0].end <= w[1].start));
        let covered = spaces.first().map_or(0, |s| s.start)..spaces.last().map_or(0, |s| s.end);
        debug_assert!(dest <= covered.start || spaces.is_empty());
        // A sound heap's marking visits each object once and each of its
        // slots once: at most one unit per 16 bytes plus one per 4.
        let mark_allowance = (covered.end - covered.start + large_bytes) / 2;
        Compaction {
            extents: MarkBits::new(covered.clone()),
            bytes_before: Vec::new(),
            marks: MarkBits::new(covered),
            spaces,
            large,
            work_list: WorkList::default(),
            next_word: 0,
            planned_end: 0,
            dest: dest..dest,
            survivors: Vec::new(),
            next_survivor: 0,
            plan_space: 0,
            slide_to: dest,
            mark_allowance,
        }
    }

    /// The survivors' new range (complete once the plan is done).
    pub(crate) fn compacted(&self) -> Range<u64> {
        self.dest.clone()
    }

    /// Takes the large objects' marks, once marking is done.
    pub(crate) fn take_large_marks(&mut self) -> LargeMarks {
        std::mem::replace(&mut self.large, LargeMarks::none())
    }

    fn covered_start(&self) -> u32 {
        // A heap offset.
        self.marks.base as u32
    }

    /// Is `obj` in the range the spaces cover? (Between two spaces there
    /// are no objects: only a corrupt reference points there, and the plan
    /// drops the mark it makes.)
    #[inline]
    fn in_spaces(&self, obj: u64) -> bool {
        self.marks.base <= obj && obj < self.marks.end
    }

    /// Marks the object `obj` references, queueing it if newly marked.
    #[inline]
    fn mark_object(&mut self, obj: u32) -> Result<()> {
        if self.in_spaces(u64::from(obj)) {
            check_object_offset(obj)?;
            if self.marks.set(u64::from(obj)) {
                self.work_list.push(obj);
            }
            return Ok(());
        }
        // A large object is queued by its marks.
        if self.large.mark(obj) {
            return Ok(());
        }
        Err(GcError::corrupt("reference outside the heap's objects", obj))
    }

    #[inline]
    fn mark_raw(&mut self, raw: u32) -> Result<()> {
        match VMGcRef::from_raw_u32(raw).as_ref().and_then(VMGcRef::as_heap_index) {
            Some(obj) => self.mark_object(obj),
            None => Ok(()),
        }
    }

    /// Marks what the roots from `*next` on reference, one unit of
    /// `budget` each; returns whether all are done.
    pub(crate) fn mark_roots(&mut self, roots: &GcRoots<'_>, next: &mut usize, budget: &mut u64, work: &mut u64, errors: &mut Option<GcError>) -> bool {
        while *budget > 0 && *next < roots.len() {
            if let Some((Some(r), _)) = roots.get(*next)
                && let Some(obj) = r.as_heap_index()
            {
                note_err(errors, self.mark_object(obj));
            }
            *next += 1;
            *budget -= 1;
            *work += 1;
        }
        *next >= roots.len()
    }

    /// Traces marked objects (one unit per slot and per object) until the
    /// work list and the large objects' queue are empty or `budget` is
    /// spent; returns whether marking is done. Marks are not checked to be
    /// object starts (only a walk could tell), so a corrupt heap could make
    /// overlapping "objects" cost more than the heap's size: marking stops
    /// there with an error, and what it did not reach is lost.
    pub(crate) fn mark(&mut self, types: &mut TypeCache, mem: &[u8], budget: &mut u64, work: &mut u64, errors: &mut Option<GcError>) -> bool {
        while *budget > 0 {
            self.mark_whole_objects(types, mem, budget, work, errors);
            if *budget == 0 {
                break;
            }
            let (obj, first) = match self.work_list.next() {
                Some(next) => next,
                None => match self.large.pending() {
                    Some((obj, _)) => {
                        self.large.scanned();
                        (obj, 0)
                    }
                    None => return true,
                },
            };
            if self.mark_allowance == 0 {
                note(errors, GcError::corrupt("marking took more work than the heap can hold", self.covered_start()));
                self.work_list.clear();
                while self.large.pending().is_some() {
                    self.large.scanned();
                }
                return true;
            }
            *budget = budget.saturating_sub(1);
            *work += 1;
            let slots = match object_at(mem, obj).and_then(|h| ref_slots(types, mem, obj, &h)) {
                Ok(slots) => slots,
                Err(e) => {
                    note(errors, e);
                    continue;
                }
            };
            let n = slots.len();
            // At least one slot per visit: a step of any budget makes
            // progress through a large object.
            let allowed = (*budget).max(1).min(self.mark_allowance);
            let last = n.min(first.saturating_add(u32::try_from(allowed).unwrap_or(u32::MAX)));
            for i in first..last {
                self.mark_slot(mem, slots.get(i), errors);
            }
            let visited = u64::from(last - first);
            *budget = budget.saturating_sub(visited);
            *work += visited;
            self.mark_allowance = self.mark_allowance.saturating_sub(visited + 1);
            if last < n {
                self.work_list.suspend(obj, last);
            }
        }
        self.work_list.is_empty() && self.large.pending().is_none()
    }

    /// The common case of [`Compaction::mark`], in one loop: objects from
    /// the work list traced whole while the budget and the allowance cover
    /// them, their slots marked by [`Compaction::mark_slot`]. Stops at the
    /// first object it cannot trace whole (it goes back on the list), for
    /// `mark` to trace in part or report.
    fn mark_whole_objects(&mut self, types: &mut TypeCache, mem: &[u8], budget: &mut u64, work: &mut u64, errors: &mut Option<GcError>) {
        let limit = (*budget).min(self.mark_allowance);
        let mut units = 0;
        while let Some(obj) = self.work_list.pop_unstarted() {
            let slots = match object_at(mem, obj).and_then(|h| ref_slots(types, mem, obj, &h)) {
                Ok(slots) if u64::from(slots.len()) + 1 <= limit - units => slots,
                _ => {
                    self.work_list.push(obj);
                    break;
                }
            };
            units += u64::from(slots.len()) + 1;
            match slots {
                RefSlots::None => {}
                RefSlots::Fields { obj, offsets } => {
                    for &offset in offsets {
                        self.mark_slot(mem, u64::from(obj) + u64::from(offset), errors);
                    }
                }
                RefSlots::Elems { start, count } => {
                    for i in 0..count {
                        self.mark_slot(mem, start + u64::from(i) * u64::from(GC_REF_SIZE), errors);
                    }
                }
            }
        }
        *budget -= units;
        *work += units;
        self.mark_allowance -= units;
    }

    /// Marks what the heap slot at `slot` references.
    #[inline(always)]
    fn mark_slot(&mut self, mem: &[u8], slot: u64, errors: &mut Option<GcError>) {
        note_err(errors, read_u32(mem, slot).and_then(|raw| self.mark_raw(raw)));
    }

    /// Gives every marked object its new offset, in address order (one
    /// unit per mark word and per survivor). A mark that is not the start
    /// of a valid object lying in one space after the previous survivor
    /// (which only a corrupt reference makes) is reported and dropped, so
    /// the survivors are disjoint and each moves down or stays.
    pub(crate) fn plan(&mut self, mem: &[u8], budget: &mut u64, work: &mut u64, errors: &mut Option<GcError>) -> bool {
        while *budget > 0 && self.next_word < self.marks.words.len() {
            // Dead data comes in runs: their empty words are skipped in
            // one scan (a unit each still).
            let words = &self.marks.words[self.next_word..];
            let limit = words.len().min(usize::try_from(*budget).unwrap_or(usize::MAX));
            let empty = words[..limit].iter().position(|&w| w != 0).unwrap_or(limit);
            self.next_word += empty;
            *budget -= empty as u64;
            *work += empty as u64;
            if empty == limit {
                continue;
            }
            let w = self.next_word;
            self.next_word += 1;
            *budget -= 1;
            *work += 1;
            let mut survivors = 0;
            for at in self.marks.marked_in_word(w) {
                survivors += 1;
                if let Err(e) = self.plan_object(mem, at) {
                    self.marks.clear(at);
                    note(errors, e);
                }
            }
            *work += survivors;
            *budget = budget.saturating_sub(survivors);
        }
        if self.next_word < self.marks.words.len() {
            return false;
        }
        self.bytes_before = survivor_bytes_before_words(&self.extents.words);
        true
    }

    fn plan_object(&mut self, mem: &[u8], at: u64) -> Result<()> {
        // Marks lie in the spaces, below 4 GiB.
        let header = object_at(mem, at as u32)?;
        let end = at + u64::from(header.size());
        // Survivors come in address order: most lie in the previous one's
        // space.
        let in_space = |s: &Range<u64>| s.start <= at && end <= s.end;
        if !self.spaces.get(self.plan_space).is_some_and(in_space) {
            self.plan_space = self.spaces.iter().position(in_space).unwrap_or(self.spaces.len());
        }
        if at < self.planned_end || self.plan_space == self.spaces.len() {
            return Err(GcError::corrupt("marked object overlaps another or its space's end", at as u32));
        }
        self.planned_end = end;
        self.extents.set_extent(at, end);
        self.dest.end += u64::from(header.size());
        self.survivors.push((at as u32, header.size()));
        Ok(())
    }

    /// The new offset of the planned object `obj`: the destination's
    /// start plus the survivors' bytes below it. Below `obj` (survivors
    /// are disjoint and the destination starts at or below them).
    #[inline(always)]
    fn forwarding(&self, obj: u32) -> Result<u32> {
        let Some((word, bit)) = self.marks.position(u64::from(obj)).filter(|&(w, b)| self.marks.words[w] & b != 0) else {
            return Err(GcError::corrupt("reference to an object that is not live", obj));
        };
        let below = (self.extents.words[word] & (bit - 1)).count_ones() * OBJECT_ALIGN;
        // The plan is done: `bytes_before` covers every word.
        Ok(self.dest.start as u32 + self.bytes_before[word] + below)
    }

    /// Sorts the externrefs `list` (ascending offsets in the spaces) into
    /// live and dead, once the plan is done: the dead ones' host data is
    /// dropped, the live ones' new offsets are returned.
    pub(crate) fn sweep_externrefs(&self, mem: &[u8], list: &[u32], host_data: &mut HostDataTable, errors: &mut Option<GcError>) -> Vec<u32> {
        let mut live = Vec::new();
        for &obj in list {
            match read_header(mem, u64::from(obj)) {
                Ok(h) if h.kind() != Some(VMGcKind::ExternRef) => note(errors, GcError::corrupt("externref header overwritten", obj)),
                Ok(_) if self.marks.get(u64::from(obj)) => match self.forwarding(obj) {
                    Ok(new) => live.push(new),
                    Err(e) => note(errors, e),
                },
                Ok(_) => note_err(errors, drop_externref_host_data(mem, obj, host_data)),
                Err(e) => note(errors, e),
            }
        }
        live
    }

    /// Rewrites the reference at `slot` to its target's new offset (large
    /// objects stay).
    #[inline(always)]
    fn update_field(&self, mem: &mut [u8], slot: u64) -> Result<()> {
        let raw = read_u32(mem, slot)?;
        let Some(obj) = VMGcRef::from_raw_u32(raw).as_ref().and_then(VMGcRef::as_heap_index) else { return Ok(()) };
        if !self.in_spaces(u64::from(obj)) {
            return Ok(());
        }
        let new = self.forwarding(obj)?;
        if new != obj {
            write_u32(mem, slot, new)?;
        }
        Ok(())
    }

    /// Rewrites the reference slots of the object at `obj`, whose type
    /// header is `header`.
    #[inline(always)]
    fn update_object(&self, types: &mut TypeCache, mem: &mut [u8], obj: u32, header: VMGcHeader, errors: &mut Option<GcError>) -> u64 {
        let slots = match ref_slots(types, mem, obj, &header) {
            Ok(slots) => slots,
            Err(e) => {
                note(errors, e);
                return 0;
            }
        };
        let n = u64::from(slots.len());
        match slots {
            RefSlots::None => {}
            RefSlots::Fields { obj, offsets } => {
                for &offset in offsets {
                    note_err(errors, self.update_field(mem, u64::from(obj) + u64::from(offset)));
                }
            }
            RefSlots::Elems { start, count } => {
                for i in 0..count {
                    note_err(errors, self.update_field(mem, start + u64::from(i) * u64::from(GC_REF_SIZE)));
                }
            }
        }
        n
    }

    /// Rewrites the references of the marked large objects, which do not
    /// move (the survivors' are rewritten as they slide).
    pub(crate) fn update_large_objects(&self, types: &mut TypeCache, mem: &mut [u8], work: &mut u64, errors: &mut Option<GcError>) {
        for obj in self.large.marked() {
            *work += 1;
            match object_at(mem, obj) {
                Ok(header) => *work += self.update_object(types, mem, obj, header, errors),
                Err(e) => note(errors, e),
            }
        }
    }

    /// Rewrites the root slots to the new offsets (once the plan is done).
    pub(crate) fn update_roots(&self, roots: &mut GcRoots<'_>, work: &mut u64, errors: &mut Option<GcError>) {
        for (slot, _) in roots.iter_mut() {
            *work += 1;
            let Some(obj) = slot.as_ref().and_then(VMGcRef::as_heap_index).filter(|&o| self.in_spaces(u64::from(o))) else { continue };
            match self.forwarding(obj).and_then(|new| VMGcRef::from_heap_index(new).ok_or(GcError::corrupt("forwarded to a bad offset", new))) {
                Ok(r) => *slot = Some(r),
                Err(e) => note(errors, e),
            }
        }
    }

    /// Moves every survivor to its new offset, clearing its collector bits,
    /// and rewrites its references there (one unit per survivor and per
    /// slot). The survivors go down back to back, so the new offset is a
    /// running sum of the planned sizes, not a `forwarding` lookup.
    pub(crate) fn slide(&mut self, types: &mut TypeCache, mem: &mut [u8], budget: &mut u64, work: &mut u64, errors: &mut Option<GcError>) -> bool {
        while *budget > 0 && self.next_survivor < self.survivors.len() {
            let (obj, size) = self.survivors[self.next_survivor];
            self.next_survivor += 1;
            debug_assert_eq!(self.forwarding(obj).ok(), Some(self.slide_to as u32));
            // Below 4 GiB: inside the destination, which the survivors fill.
            let new = self.slide_to as u32;
            self.slide_to += u64::from(size);
            let visited = match slide_object(mem, obj, new, size).and_then(|()| read_header(mem, u64::from(new))) {
                Ok(header) => self.update_object(types, mem, new, header, errors),
                Err(e) => {
                    note(errors, e);
                    0
                }
            };
            *budget = budget.saturating_sub(1 + visited);
            *work += 1 + visited;
        }
        self.next_survivor >= self.survivors.len()
    }
}

/// For each word of `extents`, the survivors' bytes below its first
/// granule (below 4 GiB: they are disjoint objects of the heap). Words
/// that survivors cover whole, or not at all, are the most common (live
/// data is packed, dead data comes in runs): they are added up without
/// counting bits, which the x86-64 baseline does in software.
fn survivor_bytes_before_words(extents: &[u64]) -> Vec<u32> {
    let mut bytes = 0u32;
    extents
        .iter()
        .map(|&w| {
            let before = bytes;
            bytes += match w {
                0 => 0,
                u64::MAX => 64 * OBJECT_ALIGN,
                w => w.count_ones() * OBJECT_ALIGN,
            };
            before
        })
        .collect()
}

/// Moves the planned survivor at `obj`, of `size` bytes, down to `new`,
/// with its collector bits cleared.
fn slide_object(mem: &mut [u8], obj: u32, new: u32, size: u32) -> Result<()> {
    let kind_word = read_u32(mem, u64::from(obj) + u64::from(HEADER_KIND_OFFSET))?;
    copy_object(mem, u64::from(obj), u64::from(new), u64::from(size))?;
    if kind_word & VMGcKind::COLLECTOR_BITS_MASK != 0 {
        write_u32(mem, u64::from(new) + u64::from(HEADER_KIND_OFFSET), kind_word & !VMGcKind::COLLECTOR_BITS_MASK)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extents_cover_exactly_their_granules_across_words() {
        let base = 16;
        let mut bits = MarkBits::new(base..base + 8 * 200);
        // Granules 3..5, 60..70 (two words) and 64 * 2 .. 64 * 3 (a whole word).
        bits.set_extent(base + 8 * 3, base + 8 * 5);
        bits.set_extent(base + 8 * 60, base + 8 * 70);
        bits.set_extent(base + 8 * 128, base + 8 * 192);
        let set: Vec<u64> = (0..200).filter(|g| bits.get(base + 8 * g)).collect();
        let expected: Vec<u64> = (3..5).chain(60..70).chain(128..192).collect();
        assert_eq!(set, expected);
        assert_eq!(bits.words[1].count_ones(), 6, "granules 64..70");
        assert_eq!(bits.words[2], u64::MAX);
    }

    #[test]
    fn marks_are_listed_in_address_order_and_only_inside_the_range() {
        let base = 1024;
        let mut marks = MarkBits::new(base..base + 8 * 128);
        for g in [70, 3, 127, 64, 0] {
            assert!(marks.set(base + 8 * g));
        }
        assert!(!marks.set(base + 8 * 3), "marked once");
        assert!(!marks.set(base - 8) && !marks.set(base + 8 * 128), "outside the range");
        let listed: Vec<u64> = (0..marks.words.len()).flat_map(|w| marks.marked_in_word(w)).collect();
        assert_eq!(listed, [0, 3, 64, 70, 127].map(|g| base + 8 * g));
        marks.clear(base + 8 * 64);
        assert!(!marks.get(base + 8 * 64) && marks.get(base + 8 * 70));
    }
}
