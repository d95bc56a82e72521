//! DRC's blocks: each object is preceded by an 8-byte prefix
//! (`gc_layout::DRC_PREFIX_SIZE`) holding a marker word and the object's
//! reference count, so a block is `[prefix][object]` and the count sits
//! next to the header (compiled code reaches it at `object - 4`).
//!
//! The heap stays walkable block by block: a block starts with either a
//! free block's header (kind word zero, size in the next word) or a prefix
//! (`DRC_PREFIX_MARKER`), which the object's header follows. Offsets the
//! free list and the bump region hand out are blocks; references are
//! objects.

use crate::header::{Block, ObjectPrefix, check_block_size, read_block};
use crate::memory::{read_u32, write_u32};
use crate::{GcError, Result};
use kiln_environ::gc_layout::{DRC_PREFIX_MARKER, DRC_PREFIX_SIZE, DRC_REF_COUNT_OFFSET};

/// The prefix's size, as the collector's block arithmetic uses it.
pub(super) const PREFIX: u32 = DRC_PREFIX_SIZE;

/// How DRC's heap is walked (`header::read_block`, the verifier).
pub(super) const BLOCKS: ObjectPrefix = ObjectPrefix { marker: DRC_PREFIX_MARKER, size: PREFIX };

/// The block at `at` of a heap whose blocks end at `end`, with a size
/// that keeps it below `end` (its object's header read, not validated).
pub(super) fn block_at(mem: &[u8], at: u64, end: u64) -> Result<Block> {
    let block = read_block(mem, at, Some(BLOCKS))?;
    check_block_size(at, block.size(), end as usize)?;
    Ok(block)
}

/// Where the count of the object at `obj` is.
fn count_at(obj: u32) -> Result<u64> {
    u64::from(obj).checked_add_signed(i64::from(DRC_REF_COUNT_OFFSET)).ok_or(GcError::corrupt("object without room for a prefix", obj))
}

/// The reference count of the object at `obj`.
pub(super) fn count(mem: &[u8], obj: u32) -> Result<u32> {
    read_u32(mem, count_at(obj)?)
}

pub(super) fn set_count(mem: &mut [u8], obj: u32, count: u32) -> Result<()> {
    write_u32(mem, count_at(obj)?, count)
}

/// Writes the prefix of a new object in the block at `block` with count
/// `count`; returns the object's offset.
pub(super) fn init_prefix(mem: &mut [u8], block: u32, count: u32) -> Result<u32> {
    write_u32(mem, u64::from(block), DRC_PREFIX_MARKER)?;
    let obj = block + PREFIX;
    set_count(mem, obj, count)?;
    Ok(obj)
}
