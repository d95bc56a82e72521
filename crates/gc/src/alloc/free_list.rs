//! A free list with size classes (segregated fits), for collectors that
//! free objects in place.
//!
//! All of its state is side memory: free blocks are recorded here, not
//! linked through the heap, so corrupt heap contents cannot send the
//! allocator outside the heap or hand out one block twice.
//!
//! - `starts` (offset -> size) is the truth. Adjacent free blocks are
//!   merged as soon as they appear, so no two free blocks touch, and the
//!   overlap record below tells which block ends where a freed range
//!   starts. A freed range costs a hash lookup (the block starting where
//!   it ends), that record's look back, and an overlap check that refuses
//!   a double free: a test of `free_granules` (a bit per 8 bytes of the
//!   free blocks under `BIG_BLOCK`) and one ordered search among the few
//!   larger blocks (`big`). Ordered searches among all blocks were a fifth
//!   of the DRC collector's time on splay; bits for every block made each
//!   region the DRC carves out of a huge block cost a bitmap fill of its
//!   size; a second map from ends to offsets cost DRC splay 1.8 % more
//!   instructions than the look back. The bits change by the difference
//!   only: a free merged into a small block sets the freed granules, not
//!   the neighbours' again, and a split clears the part taken (DRC splay:
//!   588 -> 485 instructions per free).
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
use rustc_hash::FxHashMap;
use std::collections::BTreeMap;

pub(crate) const MIN_BLOCK: u32 = 8;
const SMALL_MAX: u32 = 512;
/// Exact classes for 8, 16, ..., 512.
const NUM_SMALL: usize = ((SMALL_MAX - MIN_BLOCK) / 8 + 1) as usize;
/// Power-of-two classes for 2^9..2^31 (sizes 513 to 4 GiB - 8).
const NUM_CLASSES: usize = NUM_SMALL + 23;
/// Free blocks this large are kept in `big` for the overlap check, smaller
/// ones in `free_granules`: a block's change then touches at most this
/// many bytes' bits.
const BIG_BLOCK: u32 = 64 << 10;
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
    /// Offset -> size of every free block.
    starts: FxHashMap<u32, u32>,
    /// The granules of the free blocks under `BIG_BLOCK` bytes.
    free_granules: GranuleBits,
    /// Offset -> size of the free blocks of `BIG_BLOCK` bytes or more.
    big: BTreeMap<u32, u32>,
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
            starts: FxHashMap::default(),
            free_granules: GranuleBits::default(),
            big: BTreeMap::new(),
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
            let size = size & !7;
            self.insert(start, size);
            self.track(start, size);
        }
    }

    pub(crate) fn free_bytes(&self) -> u64 {
        self.free_bytes
    }

    /// Free blocks in address order (sorted here: for checks and tests).
    pub(crate) fn blocks(&self) -> impl Iterator<Item = (u32, u32)> + use<> {
        let mut blocks: Vec<(u32, u32)> = self.starts.iter().map(|(o, s)| (*o, *s)).collect();
        blocks.sort_unstable();
        blocks.into_iter()
    }

    fn size_at(&self, offset: u32) -> Option<u32> {
        self.starts.get(&offset).copied()
    }

    /// A block of at least `size` bytes (a multiple of 8, at least 16):
    /// its offset and actual size. If a block was split, the remainder is
    /// in [`FreeList::last_split`] so the heap can mark it free.
    pub(crate) fn alloc(&mut self, size: u32) -> Option<(u32, u32)> {
        self.last_split = None;
        if let Some(offset) = self.current
            && let Some(block) = self.size_at(offset)
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
            self.take(offset, block);
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
                self.take(offset, block);
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
        self.starts.insert(offset, rest);
        self.retrack(offset, block, rest);
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
        let end = end_of(offset, size);
        if self.overlaps_free(offset, end) {
            return Err(GcError::corrupt("freed block overlaps a free block", offset));
        }
        let joins_succ = u32::try_from(end).ok().and_then(|e| self.size_at(e).map(|s| (e, s)));
        let joins_pred = self.block_ending_at(offset);
        let start = joins_pred.map_or(offset, |(p, _)| p);
        let total = u64::from(size) + joins_pred.map_or(0, |(_, ps)| u64::from(ps)) + joins_succ.map_or(0, |(_, ss)| u64::from(ss));
        // Fits: free blocks lie in the heap, which is at most 2^32 bytes and
        // starts past offset 0.
        let total = u32::try_from(total).map_err(|_| GcError::corrupt("freed block too large", offset))?;
        if total < BIG_BLOCK {
            // The neighbours are smaller still: their granules are marked
            // and stay so, the merged block's are theirs and the new ones.
            self.free_granules.set(offset, end, true);
        } else {
            for (o, s) in joins_pred.into_iter().chain(joins_succ) {
                self.untrack(o, s);
            }
            self.track(start, total);
        }
        if let Some((s, ss)) = joins_succ {
            self.remove(s, ss);
        }
        match joins_pred {
            Some((p, ps)) => {
                // The block before grows in place.
                self.starts.insert(p, total);
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

    /// Records a block; its granules must already be marked free.
    fn insert(&mut self, offset: u32, size: u32) {
        self.starts.insert(offset, size);
        let c = class_of(size);
        self.classes[c].push((offset, size));
        self.nonempty |= 1 << c;
        self.entries += 1;
        self.free_bytes += u64::from(size);
    }

    /// Forgets a block, but not its overlap record (`track`); its class
    /// entry goes stale.
    fn remove(&mut self, offset: u32, size: u32) {
        self.starts.remove(&offset);
        self.free_bytes -= u64::from(size);
    }

    /// Takes a whole block out of the list.
    fn take(&mut self, offset: u32, size: u32) {
        self.remove(offset, size);
        self.untrack(offset, size);
    }

    /// Records free block `[offset, offset + size)` for overlap checks.
    fn track(&mut self, offset: u32, size: u32) {
        if size >= BIG_BLOCK {
            self.big.insert(offset, size);
        } else {
            self.free_granules.set(offset, end_of(offset, size), true);
        }
    }

    /// The free block at `offset` shrinks from `old` bytes to `new`: the
    /// record changes by the difference where both sizes are recorded the
    /// same way (a split of a small block clears the bits of its tail
    /// alone; a big block stays a big one by its new size).
    fn retrack(&mut self, offset: u32, old: u32, new: u32) {
        match (old >= BIG_BLOCK, new >= BIG_BLOCK) {
            (false, _) => self.free_granules.set(offset + new, end_of(offset, old), false),
            (true, true) => {
                self.big.insert(offset, new);
            }
            (true, false) => {
                self.untrack(offset, old);
                self.track(offset, new);
            }
        }
    }

    /// Forgets what `track` recorded.
    fn untrack(&mut self, offset: u32, size: u32) {
        if size >= BIG_BLOCK {
            self.big.remove(&offset);
        } else {
            self.free_granules.set(offset, end_of(offset, size), false);
        }
    }

    /// The free block `(offset, size)` that ends at `end`, from the
    /// overlap record: a small block's granules are a run of set bits of
    /// their own (no two free blocks touch), a big one is in `big`.
    fn block_ending_at(&self, end: u32) -> Option<(u32, u32)> {
        let last = end.checked_sub(MIN_BLOCK)?;
        if self.free_granules.get(last) {
            let start = self.free_granules.run_start(last);
            return Some((start, end - start));
        }
        let (&o, &s) = self.big.range(..end).next_back()?;
        (end_of(o, s) == u64::from(end)).then_some((o, s))
    }

    /// Whether `[offset, end)` overlaps a free block.
    fn overlaps_free(&self, offset: u32, end: u64) -> bool {
        let last_big_before_end = match u32::try_from(end) {
            Ok(end) => self.big.range(..end).next_back(),
            Err(_) => self.big.iter().next_back(),
        };
        self.free_granules.any(offset, end) || last_big_before_end.is_some_and(|(o, s)| end_of(*o, *s) > u64::from(offset))
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
            if self.size_at(o) != Some(s) {
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
        if self.entries <= 2 * self.starts.len() + 1024 {
            return;
        }
        for class in &mut self.classes {
            class.clear();
        }
        self.nonempty = 0;
        for (&o, &s) in &self.starts {
            let c = class_of(s);
            self.classes[c].push((o, s));
            self.nonempty |= 1 << c;
        }
        self.entries = self.starts.len();
    }
}

/// Where a block ends: up to 2^32, one past the largest offset.
fn end_of(offset: u32, size: u32) -> u64 {
    u64::from(offset) + u64::from(size)
}

/// A bit per 8-byte granule of the heap, growing as needed.
#[derive(Debug, Default)]
struct GranuleBits {
    words: Vec<u64>,
}

impl GranuleBits {
    /// Granules `[start, end)` (byte offsets, multiples of 8) as the masks
    /// of their first and last words and the whole words between:
    /// `(first word, first mask, last word, last mask)`; one word has both
    /// masks. `None` for an empty range.
    fn words_of(start: u32, end: u64) -> Option<(usize, u64, usize, u64)> {
        let (first, last) = (u64::from(start) / 8, end / 8);
        if first >= last {
            return None;
        }
        let (fw, lw) = ((first / 64) as usize, ((last - 1) / 64) as usize);
        let first_mask = u64::MAX << (first % 64);
        let last_mask = u64::MAX >> (63 - (last - 1) % 64);
        Some((fw, first_mask, lw, last_mask))
    }

    fn any(&self, start: u32, end: u64) -> bool {
        let Some((fw, fm, lw, lm)) = Self::words_of(start, end) else { return false };
        let word = |w: usize| self.words.get(w).copied().unwrap_or(0);
        if fw == lw {
            return word(fw) & fm & lm != 0;
        }
        let middle = self.words.get(fw + 1..lw.min(self.words.len())).unwrap_or(&[]);
        word(fw) & fm != 0 || word(lw) & lm != 0 || middle.iter().any(|w| *w != 0)
    }

    fn get(&self, at: u32) -> bool {
        let g = at / 8;
        self.words.get((g / 64) as usize).is_some_and(|w| w & (1 << (g % 64)) != 0)
    }

    /// The offset of the first granule of the run of set bits that
    /// granule `at` (set) belongs to.
    fn run_start(&self, at: u32) -> u32 {
        let g = at / 8;
        let mut w = (g / 64) as usize;
        // The clear bits at or below `g` in word `w`.
        let mut clear = !self.words[w] & (u64::MAX >> (63 - g % 64));
        while clear == 0 && w > 0 {
            w -= 1;
            clear = !self.words[w];
        }
        let first = if clear == 0 { 0 } else { w as u32 * 64 + (64 - clear.leading_zeros()) };
        first * 8
    }

    fn set(&mut self, start: u32, end: u64, free: bool) {
        // Clearing past the words there are has nothing to clear.
        let end = if free { end } else { end.min(self.words.len() as u64 * 512) };
        let Some((fw, fm, lw, lm)) = Self::words_of(start, end) else { return };
        if lw >= self.words.len() {
            self.words.resize(lw + 1, 0);
        }
        let apply = |word: &mut u64, mask: u64| if free { *word |= mask } else { *word &= !mask };
        if fw == lw {
            return apply(&mut self.words[fw], fm & lm);
        }
        apply(&mut self.words[fw], fm);
        apply(&mut self.words[lw], lm);
        self.words[fw + 1..lw].fill(if free { u64::MAX } else { 0 });
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

    /// Random allocations, frees and double frees against a model (a
    /// flag per granule), in a heap of four big blocks so that merges and
    /// splits cross `BIG_BLOCK` both ways: the blocks are always the
    /// maximal free runs of the model, and a free is refused exactly when
    /// it overlaps free memory.
    #[test]
    fn random_frees_and_allocations_agree_with_a_granule_model() {
        const HEAP: u32 = 4 * BIG_BLOCK;
        let mut f = FreeList::default();
        f.reset(8, u64::from(HEAP) + 8);
        let mut free = vec![true; (HEAP / 8) as usize];
        let granules = |o: u32, n: u32| (((o - 8) / 8) as usize)..(((o - 8 + n) / 8) as usize);
        let mut live: Vec<(u32, u32)> = Vec::new();
        let mut x: u32 = 0x9e37_79b9;
        for step in 0..6_000 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            match x % 8 {
                0..=3 => {
                    let size = if x & 0x100 != 0 { 16 + (x >> 9) % 64 * 8 } else { 8 * 1024 + (x >> 9) % 4096 * 8 };
                    if let Some((o, n)) = f.alloc(size) {
                        assert_eq!(n, size);
                        assert!(free[granules(o, n)].iter().all(|g| *g), "step {step}: allocated memory that was not free");
                        free[granules(o, n)].fill(false);
                        live.push((o, n));
                    }
                }
                4..=6 if !live.is_empty() => {
                    let (o, n) = live.swap_remove((x >> 3) as usize % live.len());
                    f.add(o, n).unwrap();
                    free[granules(o, n)].fill(true);
                }
                _ => {
                    // A range that may overlap free memory: refused exactly
                    // then (and, refused, it changes nothing).
                    let o = 8 + (x >> 3) % (HEAP / 8 - 8) * 8;
                    let n = (8 * (1 + (x >> 20) % 16)).min(HEAP + 8 - o);
                    let overlaps = free[granules(o, n)].iter().any(|g| *g);
                    assert_eq!(f.add(o, n).is_err(), overlaps, "step {step}: free of {o:#x}+{n}");
                    if !overlaps {
                        // It was allocated memory: give it back to the model
                        // and forget the live blocks it cut into.
                        free[granules(o, n)].fill(true);
                        live.retain(|&(lo, ln)| lo + ln <= o || o + n <= lo);
                        // Re-allocating the rest of a cut block is not
                        // modelled: its remains leak, as in a heap.
                    }
                }
            }
            if step % 8 != 0 {
                continue;
            }
            let mut runs = Vec::new();
            let mut g = 0;
            while g < free.len() {
                if free[g] {
                    let start = g;
                    while g < free.len() && free[g] {
                        g += 1;
                    }
                    runs.push((8 + start as u32 * 8, (g - start) as u32 * 8));
                } else {
                    g += 1;
                }
            }
            assert_eq!(f.blocks().collect::<Vec<_>>(), runs, "step {step}");
            assert_eq!(f.free_bytes(), runs.iter().map(|r| u64::from(r.1)).sum::<u64>(), "step {step}");
        }
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
    fn a_free_inside_a_big_or_small_free_block_is_rejected_whatever_it_became() {
        let mut f = FreeList::default();
        let end = 16 + 2 * BIG_BLOCK;
        f.reset(16, u64::from(end));
        assert!(f.add(4096, 16).is_err(), "inside a big block");
        assert!(f.add(end - 8, 16).is_err(), "straddling a big block's end");
        // Carve the big block down until its rest is small.
        let taken = f.alloc(2 * BIG_BLOCK - 1024).unwrap();
        assert_eq!(f.blocks().collect::<Vec<_>>(), vec![(16, 1024)]);
        assert!(f.add(512, 16).is_err(), "inside the small rest");
        assert!(f.add(taken.0, 16).is_ok(), "the allocated part is no longer free");
        // A small block that grows big by merging stays detectable.
        f.add(taken.0 + 16, taken.1 - 16).unwrap();
        assert_eq!(f.blocks().collect::<Vec<_>>(), vec![(16, end - 16)]);
        assert!(f.add(BIG_BLOCK, 8).is_err());
        assert!(f.add(24, 8).is_err());
    }

    #[test]
    fn a_heap_of_4_gib_frees_up_to_its_last_byte() {
        let end = 1u64 << 32;
        let mut f = FreeList::default();
        f.reset(16, end);
        let top = f.alloc(32).unwrap();
        assert_eq!(u64::from(top.0) + 32, end);
        f.add(top.0, top.1).unwrap();
        assert_eq!(f.blocks().collect::<Vec<_>>(), vec![(16, (end - 16) as u32)]);
        assert!(f.add(top.0, 32).is_err(), "a double free at the very top");
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
        assert!(f.entries <= 2 * f.starts.len() + 1024 + 1);
    }

    #[test]
    fn a_run_of_free_granules_is_found_from_its_last_one() {
        let mut bits = GranuleBits::default();
        bits.set(8 * 3, 8 * 5, true);
        bits.set(8 * 60, 8 * 200, true);
        bits.set(0, 8, true);
        assert_eq!(bits.run_start(8 * 4), 8 * 3);
        assert_eq!(bits.run_start(8 * 3), 8 * 3);
        assert_eq!(bits.run_start(8 * 199), 8 * 60, "across two words");
        assert_eq!(bits.run_start(8 * 63), 8 * 60);
        assert_eq!(bits.run_start(0), 0, "from the first granule");
        assert!(bits.get(8 * 199) && !bits.get(8 * 200) && !bits.get(1 << 20));
    }

    #[test]
    fn a_freed_block_merges_with_the_small_or_big_block_before_it() {
        let mut f = FreeList::default();
        let end = 16 + 2 * BIG_BLOCK;
        f.reset(16, u64::from(end));
        let top = f.alloc(512).unwrap();
        let below = f.alloc(512).unwrap();
        f.add(top.0, top.1).unwrap();
        assert_eq!(f.blocks().collect::<Vec<_>>(), vec![(16, below.0 - 16), top], "not joined: the block before it is taken");
        f.alloc(below.0 - 16 - 64).unwrap();
        // Free now: [16, 80) small, `top`; taken: `below` and what follows [16, 80).
        f.add(below.0, below.1).unwrap();
        assert_eq!(f.blocks().collect::<Vec<_>>(), vec![(16, 64), (below.0, end - below.0)], "joined to the small block after it");
        f.add(80, below.0 - 80).unwrap();
        assert_eq!(f.blocks().collect::<Vec<_>>(), vec![(16, end - 16)], "joined to the small block before it and the big one after");
        let last = f.alloc(8).unwrap();
        f.add(last.0, last.1).unwrap();
        assert_eq!(f.blocks().collect::<Vec<_>>(), vec![(16, end - 16)], "joined to the big block before it");
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
