//! The plain-object space of the copying collector: arrays whose elements
//! hold no references, from [`PLAIN_OBJECT_MIN`] bytes up to the
//! large-object threshold, placed apart from the semi-spaces and never
//! copied.
//!
//! A semi-space collector copies every live object at every collection
//! and holds it twice; for arrays of numbers that is all the work there
//! is (array_window, 8.5 MB of `i32` arrays live: 41 ms of its 77 in
//! collections that were mostly `memmove`). Such arrays reference
//! nothing, so a collection that leaves them in place only marks them (no
//! scan), and their memory is reused without compaction: mark-region for
//! the objects whose copying costs most and buys least.
//!
//! # Layout
//!
//! The space is a set of *chunks* of [`CHUNK`] bytes lent by the
//! large-object space (`large.rs`, which places them like objects). Each
//! chunk is walkable: objects and free blocks (free-block headers) back to
//! back. The *start table*, a side table beside the heap with a bit per 8
//! bytes of the memory's capacity, has a bit at the start of every block
//! in the chunks, so a sweep knows every object's extent without reading
//! the heap.
//!
//! # Allocation
//!
//! By bumping through a free range: the current one, then the *holes* the
//! last sweep found (free runs of at least [`PLAIN_OBJECT_MIN`] bytes),
//! from the highest down (the large-object space can then shrink from
//! below), then a new chunk (prefaulted whole). What a range has left
//! after an allocation carries a free-block header. A hole too small for
//! a request is passed over until the next sweep. Compiled code allocates
//! in the current free range itself ([`PlainSpace::inline_region`]): it
//! bumps a cursor of its own, writes the object and sets its bit in the
//! start table (whose address is fixed for the heap's life), and the
//! runtime takes the cursor back ([`PlainSpace::advance_to`]) before it
//! uses the heap; only when the range is exhausted does it call the
//! allocation builtin, which moves to the next hole. (Through the builtin
//! alone, array_window spent a fifth of its time in the call.)
//!
//! # Collection
//!
//! A collection marks the objects it reaches ([`PlainMarks`], side bits;
//! nothing to scan), then [`PlainSpace::sweep`] rebuilds each chunk's
//! blocks: a marked block start stays an object, every run between two
//! objects becomes one free block. Chunks left empty beyond what the next
//! cycle will allocate go back to the large-object space (their pages to
//! the system); the others stay backed, for reuse without page faults.
//! The space asks for a collection once it has placed as much as it held
//! after the last one (at least [`MIN_BUDGET`] and the semi-spaces' size),
//! so it holds at most about twice its live data.
//!
//! Trust: the chunks, the start table, the ranges and holes are side
//! state (compiled code writes the start table, at offsets it allocated
//! in the region it was given). A mark counts only at a block start: a
//! reference into the middle of an object keeps nothing alive and is
//! reported by the sweep. A corrupt reference can at worst keep a free
//! block from reuse or let an object be freed, inside the heap. The sweep
//! reads nothing from the heap and writes only free-block headers, at
//! offsets inside its chunks.

use crate::cards::Bits;
use crate::error::{note, note_err};
use crate::header::write_header;
use crate::large::{LARGE_OBJECT, LargeObjectSpace, SweepBudget};
use crate::memory::{HeapMemory, VecMemory};
use crate::types::TraceInfo;
use crate::{GcError, VMGcHeader, VMGcKind};
use kiln_environ::gc_layout::OBJECT_ALIGN;
use std::ops::Range;

/// Pointer-free arrays of at least this many bytes (below
/// [`LARGE_OBJECT`]) live in the plain-object space under the copying
/// collector. Smaller ones stay in the semi-spaces: they are allocated
/// inline, and copying a few hundred bytes costs less than the builtin
/// call their placement here would.
pub const PLAIN_OBJECT_MIN: u32 = 1024;

/// The size of a chunk: large enough that a chunk holds dozens of the
/// largest plain objects, small enough that an empty one is worth giving
/// back.
const CHUNK: u64 = 1 << 20;

/// 64-bit words of a chunk's bitmap (a bit per 8-byte granule).
const WORDS: usize = (CHUNK / OBJECT_ALIGN as u64 / 64) as usize;

/// The space may place this much between two collections whatever it
/// held after the last one. Small, so that a space with little live data
/// reuses memory that is still in the cache: 300,000 zeroed arrays of
/// 0.25-8 KB took 58 ms with 4 MiB, 53 with 2 MiB and 46 with 1 MiB
/// (more collections, each cheap), and 0.4 MB less memory per MiB less.
const MIN_BUDGET: u64 = 1 << 20;

/// A bitmap over one chunk: a bit per granule.
type ChunkBits = Box<[u64]>;

fn new_bits() -> ChunkBits {
    vec![0; WORDS].into_boxed_slice()
}

/// The word and bit of offset `at` in the bitmap of the chunk at `start`
/// (`at` inside it).
fn bit(start: u64, at: u64) -> (usize, u64) {
    let granule = (at - start) / u64::from(OBJECT_ALIGN);
    ((granule / 64) as usize, 1 << (granule % 64))
}

/// A bit at the start of every block of the chunks: byte `i`, bit `j`
/// stands for offset `8 * (8 * i + j)` of the heap. Beside the heap (a
/// side table of its memory), at an address fixed for the heap's life,
/// so that compiled code can set the bits of the objects it allocates.
struct StartTable(Box<dyn HeapMemory>);

/// Heap bytes a byte of the start table covers: 8 bits, one per 8 bytes.
const BYTES_PER_TABLE_BYTE: u64 = 8 * OBJECT_ALIGN as u64;

impl StartTable {
    fn new(memory: &dyn HeapMemory) -> StartTable {
        let len = (memory.capacity() as u64).div_ceil(BYTES_PER_TABLE_BYTE) as usize;
        StartTable(memory.side_table(len).unwrap_or_else(|| Box::new(VecMemory::new(len, len))))
    }

    /// Where the table's bytes of the chunk at `start` lie (the chunk is
    /// page-aligned, so they begin on a word).
    fn chunk_bytes(start: u64) -> Range<usize> {
        let first = (start / BYTES_PER_TABLE_BYTE) as usize;
        first..first + WORDS * 8
    }

    /// The chunk's bits as words (bit `k` of word `w`: granule `64w + k`
    /// of the chunk).
    fn chunk_words(&self, start: u64) -> ChunkBits {
        let bytes = self.0.bytes().get(Self::chunk_bytes(start)).unwrap_or(&[]);
        bytes.chunks_exact(8).map(|b| u64::from_le_bytes(b.try_into().unwrap_or_default())).collect()
    }

    fn clear_chunk(&mut self, start: u64) {
        if let Some(bytes) = self.0.bytes_mut().get_mut(Self::chunk_bytes(start)) {
            bytes.fill(0);
        }
    }

    fn set(&mut self, at: u64) {
        let granule = at / u64::from(OBJECT_ALIGN);
        if let Some(byte) = self.0.bytes_mut().get_mut((granule / 8) as usize) {
            *byte |= 1 << (granule % 8);
        }
    }
}

/// The offsets of the set bits of a chunk's bitmap, ascending.
fn set_bits(bits: &[u64], start: u64) -> impl Iterator<Item = u64> + '_ {
    bits.iter().enumerate().flat_map(move |(w, &word)| {
        let base = start + (w as u64) * 64 * u64::from(OBJECT_ALIGN);
        Bits(word).map(move |i| base + u64::from(i) * u64::from(OBJECT_ALIGN))
    })
}

/// Index of the chunk holding `at` among chunks at `starts` (ascending).
fn chunk_index(starts: &[u64], at: u64) -> Option<usize> {
    let i = starts.partition_point(|&s| s <= at).checked_sub(1)?;
    (at < starts[i] + CHUNK).then_some(i)
}

#[derive(Default)]
pub(crate) struct PlainSpace {
    /// The chunks' starts, ascending.
    chunks: Vec<u64>,
    /// Made with the first chunk.
    starts: Option<StartTable>,
    /// Where the next object goes: `[start, end)` is free, with a
    /// free-block header and a block start at its start when it is not
    /// empty (a hole's and a fresh chunk's have both).
    free: Range<u64>,
    /// Free runs the last sweep found, descending, and the next one to
    /// take.
    holes: Vec<Range<u64>>,
    next_hole: usize,
    /// Bytes of the objects.
    bytes: u64,
    sweep_budget: SweepBudget,
}

impl PlainSpace {
    /// Does an object of `size` bytes of a type described by `info`
    /// belong here?
    pub(crate) fn takes(header: &VMGcHeader, info: Option<&TraceInfo>, size: u32) -> bool {
        (PLAIN_OBJECT_MIN..LARGE_OBJECT).contains(&size)
            && header.kind() == Some(VMGcKind::ArrayRef)
            && matches!(info, Some(TraceInfo::Array(a)) if !a.elems_are_gc_refs)
    }

    /// Should a collection run before another object is placed? See the
    /// module docs.
    pub(crate) fn wants_sweep(&self, spaces: u64) -> bool {
        self.sweep_budget.exceeded(spaces, MIN_BUDGET)
    }

    pub(crate) fn bytes_in_use(&self) -> u64 {
        self.bytes
    }

    /// Forgets every chunk (the large-object space that lent them is
    /// made anew), keeping the start table where it is, cleared.
    pub(crate) fn reset(&mut self) {
        let starts = self.starts.take();
        *self = PlainSpace { starts, ..PlainSpace::default() };
        if let Some(starts) = &mut self.starts {
            let len = starts.0.len();
            starts.0.discard(0..len);
        }
    }

    /// The chunks' ranges, ascending.
    pub(crate) fn chunk_ranges(&self) -> impl Iterator<Item = Range<u64>> + '_ {
        self.chunks.iter().map(|&c| c..c + CHUNK)
    }

    /// The free range compiled code may allocate in, as `(next, end)`.
    pub(crate) fn inline_region(&self) -> Option<(u32, u32)> {
        if self.free.is_empty() {
            return None;
        }
        Some((u32::try_from(self.free.start).ok()?, u32::try_from(self.free.end).ok()?))
    }

    /// The start table's address (no table before the first chunk).
    pub(crate) fn start_table(&self) -> Option<*mut u8> {
        self.starts.as_ref().map(|t| t.0.bytes().as_ptr().cast_mut())
    }

    /// Compiled code allocated objects from the free range's start up to
    /// `next`, and set their bits. Returns the bytes allocated. A `next`
    /// outside the range is refused.
    pub(crate) fn advance_to(&mut self, next: u64, mem: &mut [u8]) -> crate::Result<u64> {
        if !(self.free.start..=self.free.end).contains(&next) || !next.is_multiple_of(u64::from(OBJECT_ALIGN)) {
            return Err(GcError::corrupt("inline plain-object cursor outside its range", next));
        }
        let allocated = next - self.free.start;
        self.free.start = next;
        self.bytes += allocated;
        self.sweep_budget.placed(allocated);
        self.mark_free_range(mem)?;
        Ok(allocated)
    }

    /// Gives the free range's rest a block start and a free-block header.
    fn mark_free_range(&mut self, mem: &mut [u8]) -> crate::Result<()> {
        let free = self.free.clone();
        if free.is_empty() {
            return Ok(());
        }
        if let Some(starts) = &mut self.starts {
            starts.set(free.start);
        }
        // Under a chunk's size.
        write_header(mem, free.start, &VMGcHeader::free_block((free.end - free.start) as u32))
    }

    /// Finds room for `size` bytes (a block size, below [`CHUNK`]),
    /// taking a new chunk from `large` (above `floor`) when the free
    /// ranges have none; `None` when `large` has no room either. The
    /// memory must reach the large-object space's limit. The caller
    /// writes the object.
    pub(crate) fn place(&mut self, size: u32, mem: &mut dyn HeapMemory, large: &mut LargeObjectSpace, floor: u64) -> crate::Result<Option<u32>> {
        let size = u64::from(size);
        while self.free.end - self.free.start < size {
            if let Some(hole) = self.next_hole_fitting(size) {
                self.free = hole;
                continue;
            }
            let Some(at) = large.place_chunk(CHUNK, floor) else { return Ok(None) };
            let at = u64::from(at);
            mem.prefault(at as usize..(at + CHUNK) as usize);
            let starts = self.starts.get_or_insert_with(|| StartTable::new(mem));
            starts.clear_chunk(at);
            self.chunks.insert(self.chunks.partition_point(|&c| c < at), at);
            self.free = at..at + CHUNK;
            self.mark_free_range(mem.bytes_mut())?;
        }
        // The range's start is a block start already.
        let at = self.free.start;
        self.free.start += size;
        self.mark_free_range(mem.bytes_mut())?;
        self.bytes += size;
        self.sweep_budget.placed(size);
        Ok(Some(at as u32))
    }

    fn next_hole_fitting(&mut self, size: u64) -> Option<Range<u64>> {
        while let Some(hole) = self.holes.get(self.next_hole) {
            self.next_hole += 1;
            if hole.end - hole.start >= size {
                return Some(hole.clone());
            }
        }
        None
    }

    /// The marks of a collection that starts now.
    pub(crate) fn marks(&self) -> PlainMarks {
        PlainMarks { starts: self.chunks.clone(), bits: self.chunks.iter().map(|_| new_bits()).collect() }
    }

    /// Frees the objects `marks` did not reach: every run between two
    /// marked objects becomes one free block, and the runs that can hold
    /// an object are the next cycle's holes. Returns the bytes freed.
    /// Marks taken before the chunks changed (never, for a collection's
    /// own: nothing is allocated during one) sweep nothing.
    /// `spaces` is the semi-spaces' size (see [`PlainSpace::wants_sweep`]).
    pub(crate) fn sweep(&mut self, marks: &PlainMarks, memory: &mut dyn HeapMemory, large: &mut LargeObjectSpace, spaces: u64, errors: &mut Option<GcError>) -> u64 {
        let Some(starts) = &mut self.starts else { return 0 };
        if self.chunks != marks.starts {
            return 0;
        }
        let before = self.bytes;
        self.holes.clear();
        let mut live = 0;
        let mut empty = Vec::new();
        for (&chunk, marked) in self.chunks.iter().zip(&marks.bits) {
            let chunk_live = sweep_chunk(chunk, starts, marked, memory.bytes_mut(), &mut self.holes, errors);
            if chunk_live == 0 {
                empty.push(chunk);
            }
            live += chunk_live;
        }
        // Empty chunks stay backed as far as the next cycle will place
        // (giving them back and faulting them in again was a page fault
        // per page of every object): the highest ones, so that the
        // large-object space, which grows down, can shrink.
        self.sweep_budget.swept(live);
        let keep = self.sweep_budget.budget(spaces, MIN_BUDGET).div_ceil(CHUNK);
        for &start in empty.iter().rev().skip(keep as usize) {
            self.holes.retain(|h| h.start != start);
            self.chunks.retain(|&c| c != start);
            large.release_chunk(start as u32, memory);
        }
        // Filled from the top down, for the same reason.
        self.holes.reverse();
        (self.free, self.next_hole) = (0..0, 0);
        self.bytes = live;
        before.saturating_sub(live)
    }

    /// Checks the chunks against the heap: each walks as blocks whose
    /// starts are exactly its bitmap's bits, every object a pointer-free
    /// array of a plain object's size, their bytes the space's count.
    /// `info` gives an object's type.
    pub(crate) fn check(&self, mem: &[u8], mut info: impl FnMut(u32) -> Option<TraceInfo>) -> crate::Result<()> {
        let mut bytes = 0;
        for &chunk in &self.chunks {
            let end = chunk + CHUNK;
            let words = self.starts.as_ref().map(|t| t.chunk_words(chunk)).unwrap_or_default();
            let mut starts = set_bits(&words, chunk);
            let mut at = chunk;
            while at < end {
                if starts.next() != Some(at) {
                    return Err(GcError::corrupt("plain-object block missing from its chunk's bitmap", at));
                }
                let header = crate::header::read_header(mem, at)?;
                let size = if header.is_free_block() { header.type_index() } else { header.size() };
                crate::header::check_block_size(at, size, end as usize)?;
                if !header.is_free_block() {
                    if !Self::takes(&header, info(header.type_index()).as_ref(), size) {
                        return Err(GcError::corrupt("object in the plain-object space that does not belong there", at));
                    }
                    bytes += u64::from(size);
                }
                at += u64::from(size);
            }
            if starts.next().is_some() {
                return Err(GcError::corrupt("plain-object bitmap names a block that is not there", chunk));
            }
        }
        if bytes != self.bytes {
            return Err(GcError::corrupt("plain-object space's byte count disagrees with its objects", 0u32));
        }
        Ok(())
    }
}

/// Rebuilds the blocks of the chunk at `start` from the marked ones (see
/// [`PlainSpace::sweep`]); returns the bytes of the objects kept.
fn sweep_chunk(start: u64, starts: &mut StartTable, marked: &[u64], mem: &mut [u8], holes: &mut Vec<Range<u64>>, errors: &mut Option<GcError>) -> u64 {
    let old = starts.chunk_words(start);
    starts.clear_chunk(start);
    let end = start + CHUNK;
    if let Some(stray) = set_bits(marked, start).find(|&at| {
        let (w, b) = bit(start, at);
        old[w] & b == 0
    }) {
        note(errors, GcError::corrupt("reference into the middle of a plain object", stray));
    }
    let mut live = 0;
    let mut run_start = start;
    let mut blocks = set_bits(&old, start).peekable();
    while let Some(block) = blocks.next() {
        let (w, b) = bit(start, block);
        if marked[w] & b == 0 {
            continue;
        }
        let block_end = blocks.peek().copied().unwrap_or(end);
        if run_start < block {
            free_run(starts, run_start..block, mem, holes, errors);
        }
        starts.set(block);
        live += block_end - block;
        run_start = block_end;
    }
    if run_start < end {
        free_run(starts, run_start..end, mem, holes, errors);
    }
    live
}

/// Makes `run` (inside a chunk) one free block, and a hole if an object
/// fits.
fn free_run(starts: &mut StartTable, run: Range<u64>, mem: &mut [u8], holes: &mut Vec<Range<u64>>, errors: &mut Option<GcError>) {
    starts.set(run.start);
    // Under a chunk's size.
    note_err(errors, write_header(mem, run.start, &VMGcHeader::free_block((run.end - run.start) as u32)));
    if run.end - run.start >= u64::from(PLAIN_OBJECT_MIN) {
        holes.push(run);
    }
}

/// What a collection records of the plain objects: a bit at each
/// reference's target, per chunk.
pub(crate) struct PlainMarks {
    starts: Vec<u64>,
    bits: Vec<ChunkBits>,
}

impl PlainMarks {
    /// Marks for a collection of a heap without a plain-object space.
    pub(crate) fn none() -> PlainMarks {
        PlainMarks { starts: Vec::new(), bits: Vec::new() }
    }

    /// Marks `obj` if it lies in one of the space's chunks; returns
    /// whether it does (then it stays where it is; whether it is an
    /// object start is the sweep's to judge).
    #[inline]
    pub(crate) fn mark(&mut self, obj: u32) -> bool {
        let at = u64::from(obj);
        let Some(i) = chunk_index(&self.starts, at) else { return false };
        if at % u64::from(OBJECT_ALIGN) == 0 {
            let (w, b) = bit(self.starts[i], at);
            self.bits[i][w] |= b;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    /// A space with one chunk holding objects of `sizes`, back to back
    /// from its start (free-block headers stand in for the objects: the
    /// sweep never reads them).
    fn space_with(sizes: &[u32], memory: &mut VecMemory, large: &mut LargeObjectSpace) -> (PlainSpace, Vec<u32>) {
        let mut space = PlainSpace::default();
        let objects = sizes.iter().map(|&size| space.place(size, memory, large, 0).unwrap().unwrap()).collect();
        (space, objects)
    }

    #[test]
    fn a_sweep_merges_the_dead_runs_and_reuses_them() {
        let mut memory = VecMemory::new((4 * MIB) as usize, (4 * MIB) as usize);
        let mut large = LargeObjectSpace::new(4 * MIB);
        let (mut space, objects) = space_with(&[1024, 2048, 1024, 1024, 4096], &mut memory, &mut large);
        let chunk = u64::from(objects[0]);
        assert_eq!(objects.iter().map(|&o| u64::from(o) - chunk).collect::<Vec<_>>(), [0, 1024, 3072, 4096, 5120]);
        let mut marks = space.marks();
        assert!(marks.mark(objects[1]) && marks.mark(objects[4]));
        let mut errors = None;
        assert_eq!(space.sweep(&marks, &mut memory, &mut large, 0, &mut errors), 3072);
        assert!(errors.is_none());
        assert_eq!(space.bytes_in_use(), 6144);
        // Free runs: the first object, the third and fourth merged, the
        // chunk's rest; filled from the top down.
        assert_eq!(space.holes, [chunk + 9216..chunk + MIB, chunk + 3072..chunk + 5120, chunk..chunk + 1024]);
        assert_eq!(space.place(MIB as u32 - 9216, &mut memory, &mut large, 0).unwrap(), Some((chunk + 9216) as u32));
        assert_eq!(space.place(2048, &mut memory, &mut large, 0).unwrap(), Some((chunk + 3072) as u32));
        assert_eq!(space.place(1024, &mut memory, &mut large, 0).unwrap(), Some(chunk as u32));
        assert_eq!(space.chunks.len(), 1, "no new chunk needed");
    }

    #[test]
    fn a_mark_inside_an_object_keeps_nothing_and_is_reported() {
        let mut memory = VecMemory::new((4 * MIB) as usize, (4 * MIB) as usize);
        let mut large = LargeObjectSpace::new(4 * MIB);
        let (mut space, objects) = space_with(&[2048], &mut memory, &mut large);
        let mut marks = space.marks();
        assert!(marks.mark(objects[0] + 1024), "in the space: stays where it is");
        assert!(!marks.mark(8), "not in the space");
        let mut errors = None;
        assert_eq!(space.sweep(&marks, &mut memory, &mut large, 0, &mut errors), 2048);
        assert!(matches!(errors, Some(GcError::Corrupt { .. })));
    }

    #[test]
    fn empty_chunks_beyond_the_budget_go_back_highest_kept() {
        let mut memory = VecMemory::new((16 * MIB) as usize, (16 * MIB) as usize);
        let mut large = LargeObjectSpace::new(16 * MIB);
        let sizes = vec![32 << 10; 32 * 6];
        let (mut space, _) = space_with(&sizes, &mut memory, &mut large);
        assert_eq!(space.chunks.len(), 6);
        let highest: Vec<u64> = space.chunks[3..].to_vec();
        let mut errors = None;
        // Nothing live: a budget of 3 MiB (the semi-spaces' size) keeps
        // three chunks, the highest.
        space.sweep(&space.marks(), &mut memory, &mut large, 3 * MIB, &mut errors);
        assert_eq!(space.chunks, highest);
        assert_eq!(large.start(), highest[0], "the large-object space shrank from below");
        assert!(large.check(0));
    }
}
