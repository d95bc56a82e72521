//! DRC's bump region: a free block that compiled code (and the runtime)
//! allocates from by advancing a cursor, and the spans of fresh objects
//! such regions leave behind.
//!
//! Allocating from a free list object by object costs a call out of
//! compiled code each time; a bump region costs one call per region. The
//! catch in DRC is the root log: a new object reaches the Wasm stack and
//! must be logged. Instead of an entry each, objects allocated from a
//! region are *fresh* (`DRC_FRESH_BIT | DRC_LOGGED_BIT`, and the count a
//! log entry would hold is part of their count from birth), and the
//! collection finds them by walking the spans they were allocated in, in
//! address order (`collection.rs`).
//!
//! Invariants:
//! - The region is a block taken whole from the free list: no free-list
//!   entry overlaps it. Retiring it gives back `[next, block_end)`.
//! - The cursor stops `TAIL` bytes before the block's end, so the rest of
//!   the block, `[next, block_end)`, always has room for a free-block
//!   header. The header is rewritten whenever the cursor moves (by the
//!   runtime or, at a sync, after compiled code moved it), so the heap
//!   stays walkable.
//! - Every object in `[span_start, next)` and in the heap's `fresh` spans
//!   is fresh. Fresh objects are never freed before a collection walks
//!   their span (their count includes the log's), so the spans stay packed
//!   with objects until then.

use super::DrcHeap;
use crate::GcError;
use crate::Result;
use crate::alloc::bump::BumpAllocator;
use crate::header::write_header;
use crate::VMGcHeader;

/// Bytes the cursor keeps clear of the region's end (a free-block header).
const TAIL: u32 = 16;

/// The smallest block worth making a region of; smaller requests than this
/// that find no region are served by the free list directly.
const MIN_REGION: u32 = 4096;

/// Objects larger than this never come from a region: a large array should
/// not use up a region meant for many small objects.
pub(super) const MAX_REGION_OBJECT: u32 = 2048;

pub(super) struct Region {
    bump: BumpAllocator,
    /// Start of the objects not yet recorded in a span.
    span_start: u32,
    block_end: u32,
}

impl Region {
    /// `(next, end)` for compiled code.
    pub(super) fn bounds(&self) -> (u32, u32) {
        // Both lie in the block, which lies in a heap of at most 4 GiB.
        (self.bump.top() as u32, self.bump.end() as u32)
    }
}

impl DrcHeap {
    /// Bump-allocates `size` bytes (a block size), taking a new region if
    /// the current one is used up; `None` if the object is too large for
    /// a region or no free block can make one.
    pub(super) fn alloc_in_region(&mut self, size: u32) -> Result<Option<u32>> {
        if size > MAX_REGION_OBJECT {
            return Ok(None);
        }
        if let Some(offset) = self.region.as_mut().and_then(|r| r.bump.alloc(size)) {
            self.write_region_tail()?;
            return Ok(Some(offset));
        }
        self.retire_region()?;
        let Some((start, block)) = self.free_list.take_largest(MIN_REGION.max(size + TAIL)) else {
            return Ok(None);
        };
        let block_end = start + block;
        let mut bump = BumpAllocator::new(u64::from(start), u64::from(block_end - TAIL));
        let offset = bump.alloc(size).map(|o| o as u32);
        self.region = Some(Region { bump, span_start: start, block_end });
        self.write_region_tail()?;
        Ok(offset)
    }

    /// Takes back the cursor compiled code advanced (see
    /// `GcHeap::set_bump_next`); a cursor outside the region is refused.
    pub(super) fn advance_region(&mut self, next: u32) -> Result<()> {
        let Some(region) = self.region.as_mut() else {
            return Err(GcError::corrupt("inline allocation cursor without a region", next));
        };
        let allocated = region.bump.advance_to(u64::from(next)).ok_or(GcError::corrupt("inline allocation cursor", next))?;
        if allocated > 0 {
            self.stats.record_allocation(allocated as u32);
            self.write_region_tail()?;
        }
        Ok(())
    }

    /// Records the region's objects as a fresh span and gives the rest of
    /// its block back to the free list. Collections start with this, so
    /// that they see every fresh object and a complete free list.
    pub(super) fn retire_region(&mut self) -> Result<()> {
        let Some(region) = self.region.take() else { return Ok(()) };
        let (next, _) = region.bounds();
        if next > region.span_start {
            self.fresh.push((region.span_start, next));
        }
        self.add_free_region(u64::from(next), u64::from(region.block_end))
    }

    /// Marks `[next, block_end)` as a free block, keeping the heap walkable.
    fn write_region_tail(&mut self) -> Result<()> {
        let Some(region) = &self.region else { return Ok(()) };
        let (next, _) = region.bounds();
        write_header(self.memory.bytes_mut(), u64::from(next), &VMGcHeader::free_block(region.block_end - next))
    }

    /// The part of the region holding objects, `[span_start, next)`, for
    /// the verifier.
    pub(super) fn region_objects(&self) -> Option<(u32, u32)> {
        self.region.as_ref().map(|r| (r.span_start, r.bounds().0))
    }

    /// The region's unused tail, a free block the free list does not know.
    pub(super) fn region_tail(&self) -> Option<(u32, u32)> {
        self.region.as_ref().map(|r| (r.bounds().0, r.block_end - r.bounds().0))
    }
}
