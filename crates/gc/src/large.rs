//! The large-object space of the semi-space collectors: objects of
//! [`LARGE_OBJECT`] bytes or more (the generational collector's own
//! threshold is higher) are placed apart from the spaces and are never
//! copied.
//!
//! A semi-space heap needs a reserve as large as what a collection may
//! copy, so without this an object above half of the heap's limit could
//! not be allocated at all, and every collection would copy every large
//! array that is alive. Instead large objects lie page-aligned in a space
//! that grows *down* from the top of the memory's capacity, while the
//! semi-spaces grow up from the bottom: the two meet only when the heap is
//! full, and a large object costs its own pages and nothing more.
//!
//! A full collection marks the large objects it reaches ([`LargeMarks`]:
//! side state, never header bits), forwards the references of each marked
//! one once, and then [`LargeObjectSpace::sweep`] frees the unmarked ones:
//! their pages go back to the system. A generational nursery collection
//! leaves them where they are, like the mature objects.
//!
//! # Invariants
//! - Objects lie in `[start, limit)`, page-aligned and disjoint; each is
//!   listed in `objects` with its block (its size rounded up to whole
//!   pages), and `start` is the lowest block's start (`limit`, the usable
//!   end of the memory's capacity, when empty).
//! - `holes` lists the free blocks between `start` and `limit`, ascending;
//!   below `start` the space can take anything down to the floor its
//!   caller gives (the end of the semi-spaces' memory).
//! - A sweep gives the pages of the blocks it frees back to the system
//!   (`HeapMemory::discard`) beyond the first [`MIN_SWEEP_BUDGET`] bytes,
//!   which stay backed for the next objects: a churn of large arrays
//!   would otherwise take a page fault per page of every one (100 KiB
//!   arrays: 0.46 s for 20,000 against 0.13 s). Allocation zeroes.
//! - Only full collections sweep, so the space asks for one once it has
//!   placed as much as it held after the last
//!   ([`LargeObjectSpace::wants_sweep`]).
//!
//! The space also lends whole blocks (*chunks*) to the plain-object space
//! (`plain.rs`), which packs smaller pointer-free objects into them; a
//! chunk is placed like an object and stays until that space gives it
//! back, whatever the marks say.
//!
//! Trust: all of this is side state. A reference into the space counts
//! only if it names the start of a listed object; the objects' contents
//! are read through the checked accessors like any other.

use crate::memory::HeapMemory;
use crate::{VMGcHeader, VMGcKind};
use std::collections::BTreeMap;
use std::ops::Range;

/// Objects of at least this many bytes go to the copying collector's
/// large-object space. Copying 64 KiB at every collection it survives
/// costs more than backing a fresh block once (prefaulted in one call);
/// the rounding to whole pages wastes under 7 % of it. And the live data
/// the semi-spaces must hold twice shrinks by every such object:
/// large_heap's 96 MiB of 64 KiB arrays put its peak memory at 332 MB
/// when they were copied (256 KiB and up went here), 196 MB now.
pub(crate) const LARGE_OBJECT: u32 = 64 << 10;

/// The granule of the space: blocks are whole pages, so that freeing one
/// returns its memory to the system.
const PAGE: u64 = 4096;

pub(crate) struct LargeObjectSpace {
    start: u64,
    limit: u64,
    /// Block size of each object, by offset.
    objects: BTreeMap<u32, u64>,
    /// Block size of each chunk lent to the plain-object space, by offset.
    chunks: BTreeMap<u32, u64>,
    holes: Vec<Range<u64>>,
    /// The sum of the objects' blocks.
    bytes: u64,
    /// See [`LargeObjectSpace::wants_sweep`].
    sweep_budget: SweepBudget,
}

/// When a space that only collections free (the large-object space, the
/// plain-object space) asks for one: once it has placed, since its last
/// sweep, more than it held after that sweep, the semi-spaces' size or
/// its own minimum, whichever is most. So it at most doubles between two
/// collections, whatever its garbage.
#[derive(Default, Clone, Copy)]
pub(crate) struct SweepBudget {
    placed_since_sweep: u64,
    bytes_after_sweep: u64,
}

impl SweepBudget {
    pub(crate) fn placed(&mut self, bytes: u64) {
        self.placed_since_sweep += bytes;
    }

    /// A sweep left `live` bytes.
    pub(crate) fn swept(&mut self, live: u64) {
        *self = SweepBudget { placed_since_sweep: 0, bytes_after_sweep: live };
    }

    /// What the space may place between two sweeps, beside semi-spaces of
    /// `spaces` bytes, at least `min`.
    pub(crate) fn budget(&self, spaces: u64, min: u64) -> u64 {
        self.bytes_after_sweep.max(spaces).max(min)
    }

    pub(crate) fn exceeded(&self, spaces: u64, min: u64) -> bool {
        self.placed_since_sweep > self.budget(spaces, min)
    }
}

/// Large objects placed since the last full collection may reach this many
/// bytes, or the space's size after that collection, or the spaces' size,
/// whichever is most, before the next allocation asks for a collection.
const MIN_SWEEP_BUDGET: u64 = 8 << 20;

impl LargeObjectSpace {
    /// An empty space below `capacity`, the most bytes the heap's memory
    /// can have.
    pub(crate) fn new(capacity: u64) -> LargeObjectSpace {
        let limit = capacity.min(crate::MAX_HEAP_SIZE) & !7;
        LargeObjectSpace { start: limit, limit, objects: BTreeMap::new(), chunks: BTreeMap::new(), holes: Vec::new(), bytes: 0, sweep_budget: SweepBudget::default() }
    }

    /// Should a full collection run (and sweep this space) before another
    /// large object is placed? Only full collections free large objects,
    /// and a program whose garbage is all large objects would otherwise
    /// fill the memory's whole capacity with them before the spaces
    /// (`spaces` bytes) filled up and asked for a collection: churning
    /// 100 KiB arrays took a gigabyte. See [`SweepBudget`] (at least
    /// [`MIN_SWEEP_BUDGET`]).
    pub(crate) fn wants_sweep(&self, spaces: u64) -> bool {
        self.sweep_budget.exceeded(spaces, MIN_SWEEP_BUDGET)
    }

    /// Does an object of `size` bytes with `header`'s kind belong here,
    /// for a collector that puts objects of `threshold` bytes or more
    /// here? Externrefs never do: their sweep needs them in the
    /// semi-spaces.
    pub(crate) fn takes(header: &VMGcHeader, size: u32, threshold: u32) -> bool {
        size >= threshold && header.kind() != Some(VMGcKind::ExternRef)
    }

    /// The lowest offset the space occupies: the semi-spaces must stay
    /// below it.
    pub(crate) fn start(&self) -> u64 {
        self.start
    }

    /// The end of the space: the memory must be at least this long once
    /// the space holds an object.
    pub(crate) fn limit(&self) -> u64 {
        self.limit
    }

    /// Where the space's objects may lie.
    pub(crate) fn range(&self) -> Range<u64> {
        self.start..self.limit
    }

    /// Bytes the space takes from the heap's capacity, holes included.
    pub(crate) fn reserved(&self) -> u64 {
        self.limit - self.start
    }

    /// Bytes of the objects' blocks.
    pub(crate) fn bytes_in_use(&self) -> u64 {
        self.bytes
    }

    /// Is `obj` the start of one of the space's objects?
    pub(crate) fn contains_object(&self, obj: u32) -> bool {
        self.objects.contains_key(&obj)
    }

    /// The objects' offsets, ascending.
    pub(crate) fn objects(&self) -> impl Iterator<Item = u32> + '_ {
        self.objects.keys().copied()
    }

    /// Finds a block for `size` bytes: the first hole it fits, else below
    /// the space, down to `floor`. The caller writes the object.
    pub(crate) fn place(&mut self, size: u32, floor: u64) -> Option<u32> {
        let block = u64::from(size).next_multiple_of(PAGE);
        let offset = self.take_block(block, floor)?;
        self.objects.insert(offset, block);
        self.bytes += block;
        self.sweep_budget.placed(block);
        Some(offset)
    }

    /// Lends a block of `size` bytes (a multiple of [`PAGE`]) to the
    /// plain-object space, placed like an object.
    pub(crate) fn place_chunk(&mut self, size: u64, floor: u64) -> Option<u32> {
        debug_assert_eq!(size % PAGE, 0);
        let offset = self.take_block(size, floor)?;
        self.chunks.insert(offset, size);
        Some(offset)
    }

    /// Takes back the chunk at `at`, giving its pages back to the system.
    pub(crate) fn release_chunk(&mut self, at: u32, memory: &mut dyn HeapMemory) {
        if let Some(block) = self.chunks.remove(&at) {
            memory.discard(at as usize..at as usize + block as usize);
            self.rebuild_holes();
        }
    }

    /// The first hole `block` bytes fit, else the pages below the space,
    /// down to `floor`.
    fn take_block(&mut self, block: u64, floor: u64) -> Option<u32> {
        let at = if let Some(i) = self.holes.iter().position(|h| h.end - h.start >= block) {
            let at = self.holes[i].start;
            self.holes[i].start += block;
            if self.holes[i].is_empty() {
                self.holes.remove(i);
            }
            at
        } else {
            let at = self.start.checked_sub(block)? / PAGE * PAGE;
            if at < floor {
                return None;
            }
            self.start = at;
            at
        };
        u32::try_from(at).ok()
    }

    /// The objects' and the chunks' blocks, ascending.
    fn blocks(&self) -> Vec<(u64, u64)> {
        let mut blocks: Vec<(u64, u64)> = self.objects.iter().chain(&self.chunks).map(|(&at, &block)| (u64::from(at), block)).collect();
        blocks.sort_unstable();
        blocks
    }

    /// The marks of a full collection that starts now.
    pub(crate) fn marks(&self) -> LargeMarks {
        let objects: Vec<(u32, u64)> = self.objects.iter().map(|(&obj, &block)| (obj, block)).collect();
        LargeMarks { marked: vec![false; objects.len()], objects, pending: Vec::new() }
    }

    /// Frees the objects `marks` did not reach, giving their pages back to
    /// the system beyond [`MIN_SWEEP_BUDGET`] bytes of them; returns the
    /// bytes freed. The holes and the space's start follow the objects
    /// that remain.
    pub(crate) fn sweep(&mut self, marks: &LargeMarks, memory: &mut dyn HeapMemory) -> u64 {
        let mut freed = 0;
        let mut kept = 0;
        for (&(obj, _), &marked) in marks.objects.iter().zip(&marks.marked) {
            if marked {
                continue;
            }
            if let Some(block) = self.objects.remove(&obj) {
                let at = obj as usize;
                if kept + block <= MIN_SWEEP_BUDGET {
                    kept += block;
                } else {
                    memory.discard(at..at + block as usize);
                }
                freed += block;
            }
        }
        self.bytes -= freed;
        self.sweep_budget.swept(self.bytes);
        self.rebuild_holes();
        freed
    }

    /// The holes are the gaps between the objects and chunks, and the
    /// space starts at the lowest one.
    fn rebuild_holes(&mut self) {
        self.holes.clear();
        self.start = self.limit;
        let mut end = self.limit;
        for (obj, block) in self.blocks().into_iter().rev() {
            let top = obj + block;
            if top < end {
                self.holes.push(top..end);
            }
            end = obj;
            self.start = obj;
        }
        self.holes.reverse();
    }

    /// Checks the side state's own invariants (the objects' contents are
    /// the verifier's): blocks disjoint, inside the space, above `floor`.
    pub(crate) fn check(&self, floor: u64) -> bool {
        let mut end = self.start;
        for (obj, block) in self.blocks() {
            if obj < end || obj % PAGE != 0 || block % PAGE != 0 {
                return false;
            }
            end = obj + block;
        }
        let bytes: u64 = self.objects.values().sum();
        let holes_ok = self.holes.iter().all(|h| self.start <= h.start && h.start < h.end && h.end <= self.limit);
        self.start >= floor && end <= self.limit && bytes == self.bytes && holes_ok
    }
}

/// What a full collection records of the large objects: which it reached,
/// and which of those still have references to forward.
pub(crate) struct LargeMarks {
    /// The space's objects and their blocks, ascending.
    objects: Vec<(u32, u64)>,
    marked: Vec<bool>,
    pending: Vec<(u32, u64)>,
}

impl LargeMarks {
    /// Marks for a collection that has no large objects to mark (a
    /// nursery collection leaves them alone).
    pub(crate) fn none() -> LargeMarks {
        LargeMarks { objects: Vec::new(), marked: Vec::new(), pending: Vec::new() }
    }

    /// Marks `obj` if it is a large object; a newly marked one joins the
    /// objects to scan. Returns whether `obj` is a large object.
    pub(crate) fn mark(&mut self, obj: u32) -> bool {
        let Ok(i) = self.objects.binary_search_by_key(&obj, |&(o, _)| o) else { return false };
        if !self.marked[i] {
            self.marked[i] = true;
            self.pending.push(self.objects[i]);
        }
        true
    }

    /// The next marked object whose references are still to be
    /// forwarded, and its block's size.
    pub(crate) fn pending(&self) -> Option<(u32, u64)> {
        self.pending.last().copied()
    }

    /// Its references are forwarded.
    pub(crate) fn scanned(&mut self) {
        self.pending.pop();
    }

    /// The objects marked so far.
    pub(crate) fn marked(&self) -> impl Iterator<Item = u32> + '_ {
        self.objects.iter().zip(&self.marked).filter(|(_, m)| **m).map(|(&(obj, _), _)| obj)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::VecMemory;

    const MIB: u64 = 1 << 20;

    #[test]
    fn objects_are_placed_down_from_the_top_and_stop_at_the_floor() {
        let mut space = LargeObjectSpace::new(4 * MIB + 100);
        assert_eq!(space.place(MIB as u32, 0), Some((3 * MIB) as u32));
        // Rounded up to whole pages.
        assert_eq!(space.place(MIB as u32 + 1, 0), Some((2 * MIB - PAGE) as u32));
        assert_eq!(space.place(MIB as u32, 2 * MIB), None, "the semi-spaces reach up to the floor");
        assert_eq!(space.reserved(), 2 * MIB + PAGE + 96, "the granules above the pages included");
        assert_eq!(space.bytes_in_use(), 2 * MIB + PAGE);
        assert!(space.check(0));
    }

    #[test]
    fn a_sweep_gives_back_the_pages_of_what_it_frees_beyond_its_budget() {
        let mut memory = VecMemory::new((24 * MIB) as usize, (24 * MIB) as usize);
        let mut space = LargeObjectSpace::new(24 * MIB);
        let blocks: Vec<u32> = (0..3).map(|_| space.place(6 * MIB as u32, 0).unwrap()).collect();
        for &b in &blocks {
            memory.bytes_mut()[b as usize] = 1;
        }
        assert_eq!(space.sweep(&space.marks(), &mut memory), 18 * MIB);
        // The lowest one stays backed (6 MiB of the 8 MiB budget); the
        // others' pages go back and read zero.
        let first: Vec<u8> = blocks.iter().map(|&b| memory.bytes()[b as usize]).collect();
        assert_eq!(first, vec![0, 0, 1]);
        assert!(space.check(0));
    }

    #[test]
    fn a_sweep_frees_the_unmarked_objects_and_their_holes_are_reused() {
        let mut memory = VecMemory::new((4 * MIB) as usize, (4 * MIB) as usize);
        let mut space = LargeObjectSpace::new(4 * MIB);
        let top = space.place(MIB as u32, 0).unwrap();
        let middle = space.place(MIB as u32, 0).unwrap();
        let bottom = space.place(MIB as u32, 0).unwrap();
        memory.bytes_mut()[top as usize] = 1;
        memory.bytes_mut()[bottom as usize] = 1;
        let mut marks = space.marks();
        assert!(marks.mark(middle));
        assert!(marks.mark(middle), "marked once");
        assert!(!marks.mark(middle + 8), "not the start of an object");
        assert_eq!(marks.pending(), Some((middle, MIB)));
        marks.scanned();
        assert_eq!(marks.pending(), None);

        assert_eq!(space.sweep(&marks, &mut memory), 2 * MIB);
        assert_eq!((space.start(), space.bytes_in_use()), (u64::from(middle), MIB));
        assert_eq!((memory.bytes()[top as usize], memory.bytes()[bottom as usize]), (1, 1), "kept backed, for reuse");
        assert!(space.check(0));
        // The hole above is reused; then the space grows down again.
        assert_eq!(space.place(MIB as u32 / 2, 0), Some(top));
        assert_eq!(space.place(MIB as u32, 0), Some(bottom));
        assert!(space.check(0));
    }
}
