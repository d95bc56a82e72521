//! A free list with size classes (segregated fits), for collectors that
//! free objects in place.
//!
//! All of its state is side memory: free blocks are recorded here, not
//! linked through the heap, so corrupt heap contents cannot send the
//! allocator outside the heap or hand out one block twice.
//!
//! - `blocks` (offset -> size, ordered) is the truth. Adjacent free blocks
//!   are merged as soon as they appear, so no two free blocks touch. A
//!   freed range costs one ordered search (the last block starting before
//!   its end: an overlap, or the block it joins) and one point lookup (the
//!   block starting at its end).
//! - `classes` index the blocks by size for allocation: one class per size
//!   for sizes up to 512 bytes (multiples of 8), one class per power of two
//!   above. An allocation takes a block from the smallest non-empty class
//!   that fits (found in O(1) through the `nonempty` bit set) and splits it;
//!   it never walks the list in address order (not first-fit).
//! - Class entries go stale when their block is merged or allocated; an
//!   entry is valid only while `blocks` holds the same offset and size.
//!   Stale entries are dropped when met, and all of them are rebuilt away
//!   once they outnumber the live blocks, so memory stays proportional to
//!   the number of free blocks.
//! - A block larger than a request is split from its *end*: the remainder
//!   keeps the block's offset, so `blocks` changes one value in place
//!   rather than removing and inserting a key, and the next allocations
//!   try that block first (`current`) before consulting the classes. A run
//!   of allocations thus bumps down through one block at the cost of one
//!   map lookup each.
//!
//! A block is at least 8 bytes (a free-block header, which keeps the heap
//! walkable), and every size is a multiple of 8, so a split never leaves a
//! remainder too small to be a block: an allocation gets exactly the size
//! it asked for (an array's header cannot say it is larger than its
//! length). Blocks too small for any object wait to merge with a
//! neighbour.

use crate::{GcError, Result};
use std::collections::BTreeMap;

pub(crate) const MIN_BLOCK: u32 = 8;
const SMALL_MAX: u32 = 512;
/// Exact classes for 8, 16, ..., 512.
const NUM_SMALL: usize = ((SMALL_MAX - MIN_BLOCK) / 8 + 1) as usize;
/// Power-of-two classes for 2^9..2^31 (sizes 513 to 4 GiB - 8).
const NUM_CLASSES: usize = NUM_SMALL + 23;
/// How many too-small entries of its own class an allocation looks at
/// before moving to a larger class.
const OWN_CLASS_SCAN: usize = 16;

fn class_of(size: u32) -> usize {
    if size <= SMALL_MAX {
        ((size - MIN_BLOCK) / 8) as usize
    } else {
        NUM_SMALL + (31 - size.leading_zeros() - 9) as usize
    }
}

#[derive(Debug)]
pub(crate) struct FreeList {
    blocks: BTreeMap<u32, u32>,
    classes: Vec<Vec<(u32, u32)>>,
    /// Bit `c` is set when class `c` has entries (some may be stale).
    nonempty: u128,
    entries: usize,
    free_bytes: u64,
    /// The remainder left by the last allocation that split a block.
    pub(crate) last_split: Option<(u32, u32)>,
    /// The block the last split left smaller: tried first.
    current: Option<u32>,
}

impl Default for FreeList {
    fn default() -> Self {
        FreeList {
            blocks: BTreeMap::new(),
            classes: vec![Vec::new(); NUM_CLASSES],
            nonempty: 0,
            entries: 0,
            free_bytes: 0,
            last_split: None,
            current: None,
        }
    }
}

impl FreeList {
    /// Forgets every block, then frees `[start, end)` if it can hold one.
    pub(crate) fn reset(&mut self, start: u64, end: u64) {
        // (`*self = ...` below also forgets `current`.)
        *self = FreeList::default();
        if let (Ok(start), Ok(size)) = (u32::try_from(start), u32::try_from(end.saturating_sub(start)))
            && size >= MIN_BLOCK
        {
            self.insert(start, size & !7);
        }
    }

    pub(crate) fn free_bytes(&self) -> u64 {
        self.free_bytes
    }

    /// Free blocks in address order.
    pub(crate) fn blocks(&self) -> impl Iterator<Item = (u32, u32)> + '_ {
        self.blocks.iter().map(|(o, s)| (*o, *s))
    }

    /// A block of at least `size` bytes (a multiple of 8, at least 16):
    /// its offset and actual size. If a block was split, the remainder is
    /// in [`FreeList::last_split`] so the heap can mark it free.
    pub(crate) fn alloc(&mut self, size: u32) -> Option<(u32, u32)> {
        self.last_split = None;
        if let Some(offset) = self.current
            && let Some(block) = self.blocks.get(&offset).copied()
            && block >= size + MIN_BLOCK
        {
            return Some(self.split_end(offset, block, size));
        }
        let c = class_of(size);
        let (offset, block) = match self.take_fit(c, size, OWN_CLASS_SCAN) {
            Some(b) => b,
            None => {
                // Every valid entry of a larger class fits.
                let mut larger = self.nonempty & !((2u128 << c) - 1);
                loop {
                    if larger == 0 {
                        return None;
                    }
                    let k = larger.trailing_zeros() as usize;
                    if let Some(b) = self.take_fit(k, size, usize::MAX) {
                        break b;
                    }
                    larger &= larger - 1;
                }
            }
        };
        if block - size >= MIN_BLOCK {
            Some(self.split_end(offset, block, size))
        } else {
            self.remove(offset, block);
            Some((offset, block))
        }
    }

    /// Removes and returns a whole free block of at least `min` bytes, from
    /// the largest non-empty class: a collector bump-allocates through it.
    /// Large blocks first, so a bump region lasts long and small holes are
    /// left to [`FreeList::alloc`].
    pub(crate) fn take_largest(&mut self, min: u32) -> Option<(u32, u32)> {
        self.last_split = None;
        let lowest = class_of(min.max(MIN_BLOCK));
        let mut classes = self.nonempty & !((1u128 << lowest) - 1);
        while classes != 0 {
            let k = 127 - classes.leading_zeros() as usize;
            if let Some((offset, block)) = self.take_fit(k, min, usize::MAX) {
                self.remove(offset, block);
                if self.current == Some(offset) {
                    self.current = None;
                }
                return Some((offset, block));
            }
            classes &= !(1u128 << k);
        }
        None
    }

    /// Takes `size` bytes from the end of the free block at `offset` (of
    /// `block` bytes, at least `size + MIN_BLOCK`); the remainder stays at
    /// `offset`, in the map and in the class of its new size.
    fn split_end(&mut self, offset: u32, block: u32, size: u32) -> (u32, u32) {
        let rest = block - size;
        self.blocks.insert(offset, rest);
        self.free_bytes -= u64::from(size);
        let c = class_of(rest);
        self.classes[c].push((offset, rest));
        self.nonempty |= 1 << c;
        self.entries += 1;
        self.maybe_rebuild_classes();
        self.last_split = Some((offset, rest));
        self.current = Some(offset);
        (offset + rest, size)
    }

    /// Frees `[offset, offset + size)`, merging it with free neighbours.
    /// Returns the merged block. Fails, changing nothing, if the range is
    /// malformed or overlaps a free block (a double free, from a bug or a
    /// corrupt header).
    pub(crate) fn add(&mut self, offset: u32, size: u32) -> Result<(u32, u32)> {
        if size < MIN_BLOCK || size % 8 != 0 || offset % 8 != 0 {
            return Err(GcError::corrupt("freed block has a bad size or alignment", offset));
        }
        let end = u64::from(offset) + u64::from(size);
        // One search serves both the overlap check and the merge with the
        // block before: the last block starting before `end` must end at
        // or before `offset` (blocks never overlap, so no earlier one can
        // reach further). The block after can only start at `end`: a point
        // lookup.
        let pred = u32::try_from(end).map_or_else(|_| self.blocks.iter().next_back(), |e| self.blocks.range(..e).next_back());
        let pred = pred.map(|(o, s)| (*o, *s));
        let pred_end = pred.map(|(p, ps)| u64::from(p) + u64::from(ps));
        if pred_end.is_some_and(|e| e > u64::from(offset)) {
            return Err(GcError::corrupt("freed block overlaps a free block", offset));
        }
        let joins_succ = u32::try_from(end).ok().and_then(|e| self.blocks.get(&e).map(|&s| (e, s)));
        let joins_pred = pred.filter(|_| pred_end == Some(u64::from(offset)));
        let start = joins_pred.map_or(offset, |(p, _)| p);
        let total = u64::from(size) + joins_pred.map_or(0, |(_, ps)| u64::from(ps)) + joins_succ.map_or(0, |(_, ss)| u64::from(ss));
        // Fits: free blocks lie in the heap, which is at most 2^32 bytes and
        // starts past offset 0.
        let total = u32::try_from(total).map_err(|_| GcError::corrupt("freed block too large", offset))?;
        if let Some((s, ss)) = joins_succ {
            self.remove(s, ss);
        }
        match joins_pred {
            Some((p, ps)) => {
                // The block before grows in place: its key stays.
                *self.blocks.get_mut(&p).expect("found above") = total;
                self.free_bytes += u64::from(total - ps);
                let c = class_of(total);
                self.classes[c].push((p, total));
                self.nonempty |= 1 << c;
                self.entries += 1;
            }
            None => self.insert(offset, total),
        }
        let merged = (start, total);
        self.maybe_rebuild_classes();
        Ok(merged)
    }

    fn insert(&mut self, offset: u32, size: u32) {
        self.blocks.insert(offset, size);
        let c = class_of(size);
        self.classes[c].push((offset, size));
        self.nonempty |= 1 << c;
        self.entries += 1;
        self.free_bytes += u64::from(size);
    }

    /// Removes a block from `blocks`; its class entry goes stale.
    fn remove(&mut self, offset: u32, size: u32) {
        self.blocks.remove(&offset);
        self.free_bytes -= u64::from(size);
    }

    /// Takes a valid entry of class `c` with at least `size` bytes, looking
    /// at no more than `max_misses` valid entries that are too small.
    fn take_fit(&mut self, c: usize, size: u32, max_misses: usize) -> Option<(u32, u32)> {
        let mut misses = 0;
        let mut i = self.classes[c].len();
        let mut found = None;
        while i > 0 && misses < max_misses {
            i -= 1;
            let (o, s) = self.classes[c][i];
            if self.blocks.get(&o) != Some(&s) {
                self.classes[c].swap_remove(i);
                self.entries -= 1;
            } else if s >= size {
                self.classes[c].swap_remove(i);
                self.entries -= 1;
                found = Some((o, s));
                break;
            } else {
                misses += 1;
            }
        }
        if self.classes[c].is_empty() {
            self.nonempty &= !(1 << c);
        }
        found
    }

    fn maybe_rebuild_classes(&mut self) {
        if self.entries <= 2 * self.blocks.len() + 1024 {
            return;
        }
        for class in &mut self.classes {
            class.clear();
        }
        self.nonempty = 0;
        for (&o, &s) in &self.blocks {
            let c = class_of(s);
            self.classes[c].push((o, s));
            self.nonempty |= 1 << c;
        }
        self.entries = self.blocks.len();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_classes_are_exact_then_powers_of_two() {
        assert_eq!(class_of(8), 0);
        assert_eq!(class_of(16), 1);
        assert_eq!(class_of(512), NUM_SMALL - 1);
        assert_eq!(class_of(520), NUM_SMALL);
        assert_eq!(class_of(1023), NUM_SMALL);
        assert_eq!(class_of(1024), NUM_SMALL + 1);
        assert_eq!(class_of(u32::MAX & !7), NUM_CLASSES - 1);
    }

    #[test]
    fn allocation_splits_from_the_end_and_freeing_merges_back() {
        let mut f = FreeList::default();
        f.reset(16, 1040);
        assert_eq!(f.free_bytes(), 1024);
        let a = f.alloc(32).unwrap();
        let b = f.alloc(32).unwrap();
        let c = f.alloc(32).unwrap();
        assert_eq!((a, b, c), ((1008, 32), (976, 32), (944, 32)));
        assert_eq!(f.last_split, Some((16, 928)), "the remainder keeps the block's offset");
        f.add(b.0, b.1).unwrap();
        f.add(a.0, a.1).unwrap();
        f.add(c.0, c.1).unwrap();
        assert_eq!(f.blocks().collect::<Vec<_>>(), vec![(16, 1024)]);
        assert_eq!(f.alloc(1024), Some((16, 1024)));
        assert_eq!(f.alloc(16), None);
    }

    #[test]
    fn a_freed_block_of_the_exact_class_is_reused_once_the_current_one_is_used_up() {
        let mut f = FreeList::default();
        f.reset(16, 80);
        assert_eq!(f.alloc(32), Some((48, 32)));
        assert_eq!(f.alloc(32), Some((16, 32)), "the remainder, whole");
        f.add(48, 32).unwrap();
        assert_eq!(f.alloc(32), Some((48, 32)));
        assert_eq!(f.alloc(16), None);
    }

    #[test]
    fn every_allocation_gets_exactly_its_size() {
        let mut f = FreeList::default();
        f.reset(16, 40);
        assert_eq!(f.alloc(16), Some((24, 16)));
        assert_eq!(f.blocks().collect::<Vec<_>>(), vec![(16, 8)], "an 8-byte remainder is a block of its own");
        assert_eq!(f.alloc(8), Some((16, 8)));
    }

    #[test]
    fn double_and_overlapping_frees_are_rejected() {
        let mut f = FreeList::default();
        f.reset(16, 64);
        assert!(f.add(16, 16).is_err());
        assert!(f.add(8, 16).is_err());
        assert!(f.add(56, 16).is_err());
        assert!(f.add(64, 12).is_err(), "bad size");
        assert!(f.add(68, 16).is_err(), "misaligned");
        assert_eq!(f.blocks().collect::<Vec<_>>(), vec![(16, 48)]);
    }

    #[test]
    fn stale_entries_do_not_grow_without_bound() {
        let mut f = FreeList::default();
        f.reset(16, 16 + 64 * 1024);
        for _ in 0..100 {
            let blocks: Vec<_> = (0..2048).map(|_| f.alloc(32).unwrap()).collect();
            for (o, s) in blocks {
                f.add(o, s).unwrap();
            }
        }
        assert_eq!(f.blocks().count(), 1);
        assert!(f.entries <= 2 * f.blocks.len() + 1024 + 1);
    }

    #[test]
    fn take_largest_removes_the_largest_block_whole() {
        let mut f = FreeList::default();
        f.reset(16, 16 + 4096);
        let a = f.alloc(1024).unwrap();
        let _gap = f.alloc(16).unwrap();
        f.add(a.0, a.1).unwrap();
        // Blocks now: 3056 bytes at 16, 1024 at a.0.
        assert_eq!(f.take_largest(64), Some((16, 3056)));
        assert_eq!(f.take_largest(2048), None, "the 1024-byte block is too small");
        assert_eq!(f.take_largest(1024), Some(a));
        assert_eq!(f.free_bytes(), 0);
        assert_eq!(f.blocks().count(), 0);
    }

    #[test]
    fn large_requests_use_the_smallest_class_that_fits() {
        let mut f = FreeList::default();
        f.reset(16, 16 + 3000 + 16 + 600 + 16);
        let big = f.alloc(3000).unwrap();
        let _gap = f.alloc(16).unwrap();
        let small = f.alloc(600).unwrap();
        let _gap2 = f.alloc(16).unwrap();
        assert_eq!(f.free_bytes(), 0);
        f.add(big.0, big.1).unwrap();
        f.add(small.0, small.1).unwrap();
        // First fit would split the 3000-byte block, which comes last in
        // address order but first in a scan of large blocks; segregated
        // fits takes the 600-byte one.
        assert_eq!(f.alloc(600), Some(small));
        assert_eq!(f.alloc(3000), Some(big));
    }
}
