//! The card table: the generational collector's remembered set.
//!
//! The heap's offsets are cut into cards of `1 << CARD_SHIFT` (512) bytes.
//! Compiled code's write barrier marks the card that holds the header of
//! every object it stores a reference into: one byte store, no test and no
//! branch, whatever the object and the value. A minor collection visits the
//! marked cards of the mature space, scans every object whose header lies
//! in one for nursery references, and clears them; a mature object that
//! may reference the nursery therefore always has its card marked. Marking
//! more than needed (a store of an old value, or into a young object) costs
//! only a scan.
//!
//! Visiting a card needs the objects that start in it: `starts` holds one
//! bit per 8-byte granule of the mature space, which makes one 64-bit word
//! per card. It is kept exact for the mature objects below the promotion
//! area: set for each copy as a minor collection's scan visits it, and for
//! each object born mature; for a nursery promoted in place and for the
//! objects a full collection compacted (after which the bits above them
//! are cleared), recorded by a walk of them the first time one of their
//! cards is marked, which most never are. Large objects (their own space)
//! are few and listed: a collection checks each one's card instead.
//!
//! # Trust
//!
//! The table covers the memory's whole capacity, fixed when the heap is
//! made, so the buffer never moves and compiled code may keep its address.
//! Compiled code marks a card only after its store to the object succeeded,
//! and the object's offset is then below the memory's length, so the card
//! is inside the table. The runtime's marks are bounds-checked here. A
//! corrupt heap can only make collections scan more, or report errors: a
//! start bit is a place to read a checked header, nothing more.

use crate::header::read_header;
use crate::{GcError, HeapMemory, Result, VecMemory};
use kiln_environ::gc_layout::{CARD_MARKED, CARD_SHIFT, OBJECT_ALIGN};
use std::ops::Range;

/// The bytes one card covers.
const CARD_SIZE: u64 = 1 << CARD_SHIFT;

/// The granule of object starts: one bit each.
const GRANULE_SHIFT: u32 = OBJECT_ALIGN.trailing_zeros();

// A card's starts are one `u64`.
const _: () = assert!(CARD_SIZE >> GRANULE_SHIFT == 64);

pub(crate) struct CardTable {
    /// One byte per card of the memory's capacity, non-zero when marked,
    /// in a side table of the heap's memory (`HeapMemory::side_table`:
    /// pages backed once written) and never resized: compiled code holds
    /// its address.
    cards: Box<dyn HeapMemory>,
    /// Per card, the granules at which mature objects start (bit `i`: the
    /// card's offset plus `8 i`). Grown on demand.
    starts: Vec<u64>,
    /// Packed runs of mature objects whose starts are not recorded yet
    /// (nurseries promoted in place): recorded the first time a minor
    /// collection finds one of their cards marked
    /// ([`CardTable::index_marked`]), which most never are.
    unindexed: Vec<Range<u64>>,
}

/// The card of heap offset `offset`.
pub(crate) fn card_of(offset: u64) -> usize {
    (offset >> CARD_SHIFT) as usize
}

/// The cards holding some offset of `range`.
pub(crate) fn cards_covering(range: Range<u64>) -> Range<usize> {
    card_of(range.start)..card_of(range.end.saturating_add(CARD_SIZE - 1))
}

impl CardTable {
    /// A table for `memory`'s capacity.
    pub(crate) fn new(memory: &dyn HeapMemory) -> CardTable {
        let len = (memory.capacity() as u64).div_ceil(CARD_SIZE) as usize;
        let cards = memory.side_table(len).unwrap_or_else(|| Box::new(VecMemory::new(len, len)));
        CardTable { cards, starts: Vec::new(), unindexed: Vec::new() }
    }

    /// The address compiled code marks cards through.
    pub(crate) fn as_ptr(&self) -> *mut u8 {
        self.cards.bytes().as_ptr().cast_mut()
    }

    /// Marks the card of the object at `obj` (offsets past the capacity,
    /// which no object has, are ignored).
    pub(crate) fn mark(&mut self, obj: u32) {
        if let Some(card) = self.cards.bytes_mut().get_mut(card_of(u64::from(obj))) {
            *card = CARD_MARKED;
        }
    }

    pub(crate) fn is_marked(&self, obj: u32) -> bool {
        self.cards.bytes().get(card_of(u64::from(obj))).is_some_and(|&c| c != 0)
    }

    /// Clears the card of the object at `obj`.
    pub(crate) fn unmark(&mut self, obj: u32) {
        if let Some(card) = self.cards.bytes_mut().get_mut(card_of(u64::from(obj))) {
            *card = 0;
        }
    }

    /// The first marked card in `cards`, cleared, with the starts of the
    /// objects in it.
    pub(crate) fn take_next_marked(&mut self, cards: Range<usize>) -> Option<(usize, u64)> {
        let table = self.cards.bytes_mut();
        let end = cards.end.min(table.len());
        let mut at = cards.start.min(end);
        // A block of cards at a time while they are unmarked.
        while at + 64 <= end && !any_marked(&table[at..at + 64]) {
            at += 64;
        }
        let card = at + table[at..end].iter().position(|&c| c != 0)?;
        table[card] = 0;
        Some((card, self.starts.get(card).copied().unwrap_or(0)))
    }

    /// Clears the cards of the offsets in `range`, writing only the marked
    /// ones (so the pages of cards never marked stay untouched).
    pub(crate) fn clear(&mut self, range: Range<u64>) {
        let table = self.cards.bytes_mut();
        let cards = cards_covering(range);
        let end = cards.end.min(table.len());
        for chunk in table[cards.start.min(end)..end].chunks_mut(64) {
            if any_marked(chunk) {
                chunk.fill(0);
            }
        }
    }

    /// Records that a mature object starts at `obj`.
    pub(crate) fn record_start(&mut self, obj: u64) {
        cover(&mut self.starts, card_of(obj) + 1);
        set_start(&mut self.starts, obj);
    }

    /// Records the start of every object in `range`, a packed run of
    /// objects and free blocks (promoted or compacted objects), from its
    /// start up to the first object that starts at or past `until`;
    /// returns where it stopped (`range.end` once the run is done). Stops
    /// at the first unreadable block, with an error: the objects above it
    /// are not visited by minor collections, which then report them when
    /// verified (only a corrupt heap has such a block).
    pub(crate) fn record_starts(&mut self, mem: &[u8], range: Range<u64>, until: u64) -> Result<u64> {
        let stop = until.min(range.end);
        if range.start >= stop {
            return Ok(range.start);
        }
        let last = card_of(range.end - 1);
        cover(&mut self.starts, last + 1);
        // One pass over many small objects (every promoted one): the
        // table is sized once, and a block's size is checked only as far
        // as the walk needs (a multiple of 8, not past the range).
        let starts = &mut self.starts[..=last];
        let mut at = range.start;
        while at < stop {
            let header = read_header(mem, at)?;
            let size = u64::from(header.size());
            if size == 0 || size % u64::from(OBJECT_ALIGN) != 0 || size > range.end - at {
                return Err(GcError::corrupt("promoted block has an impossible size", at));
            }
            if !header.is_free_block() {
                set_start(starts, at);
            }
            at += size;
        }
        Ok(at)
    }

    /// Defers recording the starts of the packed objects of `range` (a
    /// nursery promoted in place) until one of their cards is marked.
    pub(crate) fn defer_starts(&mut self, range: Range<u64>) {
        match self.unindexed.last_mut() {
            _ if range.is_empty() => {}
            // Nurseries promoted in place one after another.
            Some(last) if last.end == range.start => last.end = range.end,
            _ => self.unindexed.push(range),
        }
    }

    /// Records the starts of the deferred runs' objects as far as their
    /// last marked card, for a minor collection about to visit the marked
    /// cards. The rest of a run stays deferred: after a full collection
    /// the survivors are one run, and the cards a program keeps marking
    /// (a long-lived array it stores into) usually lie near its bottom.
    pub(crate) fn index_marked(&mut self, mem: &[u8]) -> Result<()> {
        let mut result = Ok(());
        let mut runs = std::mem::take(&mut self.unindexed);
        runs.retain_mut(|run| {
            let table = self.cards.bytes();
            let cards = cards_covering(run.clone());
            let end = cards.end.min(table.len());
            let start = cards.start.min(end);
            let Some(last) = last_marked(&table[start..end]) else { return true };
            let until = ((start + last + 1) as u64) << CARD_SHIFT;
            match self.record_starts(mem, run.clone(), until) {
                Ok(stop) => run.start = stop,
                Err(e) => {
                    result = Err(e);
                    run.start = run.end;
                }
            }
            !run.is_empty()
        });
        self.unindexed = runs;
        result
    }

    /// Does `obj` lie in a run whose starts are not recorded yet?
    pub(crate) fn is_deferred(&self, obj: u64) -> bool {
        self.unindexed.iter().any(|run| run.contains(&obj))
    }

    /// Forgets every start at or above `from`, deferred runs included
    /// (the bottom of the objects a full collection compacted).
    pub(crate) fn forget_starts_from(&mut self, from: u64) {
        self.unindexed.retain(|run| run.end <= from);
        let card = card_of(from);
        if let Some(word) = self.starts.get_mut(card) {
            *word &= start_bit(from) - 1;
        }
        // Zeroed in place, not truncated: the next full collection would
        // only grow it again.
        if let Some(above) = self.starts.get_mut(card + 1..) {
            above.fill(0);
        }
    }

    /// Lends the starts to a collection that records objects' starts as
    /// it places them (below `until`), given back by
    /// [`CardTable::return_starts`]; the table has none meanwhile.
    pub(crate) fn lend_starts(&mut self, until: u64) -> StartBits {
        let mut words = std::mem::take(&mut self.starts);
        cover(&mut words, cards_covering(0..until).end);
        StartBits { words }
    }

    pub(crate) fn return_starts(&mut self, bits: StartBits) {
        self.starts = bits.words;
    }

    /// Does a recorded object start at `obj`?
    pub(crate) fn has_start(&self, obj: u64) -> bool {
        self.starts.get(card_of(obj)).is_some_and(|w| w & start_bit(obj) != 0)
    }

    /// How many recorded starts lie in `range`.
    pub(crate) fn count_starts(&self, range: Range<u64>) -> u64 {
        let mut count = 0;
        for (card, word) in self.starts.iter().enumerate() {
            count += Bits(*word).filter(|&bit| range.contains(&start_offset(card, bit))).count() as u64;
        }
        count
    }

    /// Clears every mark and start (a reset heap; the table's memory goes
    /// back to the system).
    pub(crate) fn reset(&mut self) {
        self.cards.clear();
        self.starts = Vec::new();
        self.unindexed = Vec::new();
    }
}

/// The index of the last marked card of `cards`.
fn last_marked(cards: &[u8]) -> Option<usize> {
    let whole = cards.len() / 8 * 8;
    if let Some(i) = cards[whole..].iter().rposition(|&c| c != 0) {
        return Some(whole + i);
    }
    // Eight cards at a time: most are unmarked.
    let word = cards[..whole].chunks_exact(8).rposition(|w| u64::from_ne_bytes(w.try_into().expect("eight cards")) != 0)?;
    cards[word * 8..word * 8 + 8].iter().rposition(|&c| c != 0).map(|i| word * 8 + i)
}

/// Is any of `cards` marked? Eight at a time: collections check every
/// card of the mature space, most of them unmarked.
fn any_marked(cards: &[u8]) -> bool {
    let words = cards.chunks_exact(8);
    let rest = words.remainder().iter().fold(0, |acc, &c| acc | c);
    words.fold(0, |acc, w| acc | u64::from_ne_bytes(w.try_into().expect("eight cards"))) != 0 || rest != 0
}

/// The table's starts, lent to a collection that records objects' starts
/// as it places them (a minor collection's copies, a full one's slid
/// survivors): the collection holds them while it runs, so it needs no
/// borrow of the table.
pub(crate) struct StartBits {
    words: Vec<u64>,
}

impl StartBits {
    /// Records an object at `at` (ignored beyond the cards covered).
    #[inline(always)]
    pub(crate) fn record(&mut self, at: u64) {
        set_start(&mut self.words, at);
    }
}

/// Sets the start bit of `at` in `words` (one per card; ignored past
/// them).
#[inline(always)]
fn set_start(words: &mut [u64], at: u64) {
    if let Some(word) = words.get_mut(card_of(at)) {
        *word |= start_bit(at);
    }
}

/// The bit of `at` in its card's start word.
#[inline(always)]
fn start_bit(at: u64) -> u64 {
    1 << ((at >> GRANULE_SHIFT) % 64)
}

/// Grows `words` (zeroed) to at least `cards` words.
fn cover(words: &mut Vec<u64>, cards: usize) {
    if cards > words.len() {
        words.resize(cards, 0);
    }
}

/// The offset of the object at start bit `bit` of card `card`.
pub(crate) fn start_offset(card: usize, bit: u32) -> u64 {
    ((card as u64) << CARD_SHIFT) + (u64::from(bit) << GRANULE_SHIFT)
}

/// The set bits of a word, lowest first.
pub(crate) struct Bits(pub(crate) u64);

impl Iterator for Bits {
    type Item = u32;

    fn next(&mut self) -> Option<u32> {
        if self.0 == 0 {
            return None;
        }
        let bit = self.0.trailing_zeros();
        self.0 &= self.0 - 1;
        Some(bit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_marked_card_is_found_once_with_the_starts_of_its_objects() {
        let mut table = CardTable::new(&VecMemory::new(0, 1 << 20));
        table.record_start(4096 + 16);
        table.record_start(4096 + 504);
        table.record_start(4096 + 512);
        table.mark(4096 + 16);
        let (card, starts) = table.take_next_marked(0..usize::MAX).unwrap();
        assert_eq!(card, 8);
        assert_eq!(Bits(starts).map(|b| start_offset(card, b)).collect::<Vec<_>>(), [4096 + 16, 4096 + 504]);
        assert!(table.take_next_marked(0..usize::MAX).is_none(), "taking a card clears it");
    }

    #[test]
    fn marks_beyond_the_capacity_are_ignored() {
        let mut table = CardTable::new(&VecMemory::new(0, 4096));
        table.mark(u32::MAX & !7);
        assert!(!table.is_marked(u32::MAX & !7));
        assert!(table.take_next_marked(0..usize::MAX).is_none());
    }

    #[test]
    fn forgetting_starts_keeps_those_below() {
        let mut table = CardTable::new(&VecMemory::new(0, 1 << 20));
        for at in [16, 520, 600, 1024, 2048] {
            table.record_start(at);
        }
        table.forget_starts_from(600);
        assert_eq!(table.count_starts(0..1 << 20), 2);
        assert!(table.has_start(520) && !table.has_start(600) && !table.has_start(1024));
    }

    #[test]
    fn deferred_starts_are_recorded_once_a_card_of_theirs_is_marked() {
        // Two 16-byte objects (struct kind, no fields) at 512 and 528.
        let mut mem = vec![0u8; 4096];
        let kind_word = kiln_environ::gc_layout::fixed_object_kind_word(crate::VMGcKind::StructRef, 16);
        for at in [512, 528] {
            mem[at..at + 4].copy_from_slice(&kind_word.to_le_bytes());
        }
        let mut table = CardTable::new(&VecMemory::new(0, 4096));
        table.defer_starts(512..544);
        table.index_marked(&mem).unwrap();
        assert!(table.is_deferred(528) && !table.has_start(528), "no card marked yet");
        table.mark(528);
        table.index_marked(&mem).unwrap();
        assert!(!table.is_deferred(528) && table.has_start(512) && table.has_start(528));
    }

    #[test]
    fn a_deferred_run_is_indexed_only_up_to_its_last_marked_card() {
        // 16-byte objects (struct kind, no fields) from 512 to 2560: four
        // cards' worth.
        let mut mem = vec![0u8; 4096];
        let kind_word = kiln_environ::gc_layout::fixed_object_kind_word(crate::VMGcKind::StructRef, 16);
        for at in (512..2560).step_by(16) {
            mem[at..at + 4].copy_from_slice(&kind_word.to_le_bytes());
        }
        let mut table = CardTable::new(&VecMemory::new(0, 4096));
        table.defer_starts(512..2560);
        table.mark(1030);
        table.index_marked(&mem).unwrap();
        assert!(table.has_start(512) && table.has_start(1024) && table.has_start(1520), "through the marked card");
        assert!(!table.has_start(1536) && table.is_deferred(1536) && table.is_deferred(2544), "the rest waits");
        table.mark(2544);
        table.index_marked(&mem).unwrap();
        assert!(table.has_start(1536) && table.has_start(2544) && !table.is_deferred(2544));
    }

    #[test]
    fn clearing_a_range_clears_its_cards_only() {
        let mut table = CardTable::new(&VecMemory::new(0, 1 << 20));
        table.mark(1000);
        table.mark(70_000);
        table.clear(0..4096);
        assert!(!table.is_marked(1000) && table.is_marked(70_000));
    }
}
