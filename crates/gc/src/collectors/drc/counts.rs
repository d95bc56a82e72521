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

use crate::header::{Block, ObjectPrefix, check_block_size, check_object_offset, read_block};
use crate::memory::{read_u32, write_u32};
use crate::{GcError, Result, VMGcKind};
use kiln_environ::gc_layout::{
    DRC_PREFIX_MARKER, DRC_PREFIX_SIZE, DRC_REF_COUNT_OFFSET, HEADER_KIND_OFFSET, HEADER_SIZE, MIN_OBJECT_SIZE, OBJECT_ALIGN,
    header_size_field,
};

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

/// A struct's block as a collection's fast paths see it, read in one load
/// of its prefix and header: the commonest block of the per-object walks
/// (the backup trace's sweep, the reconciliation of fresh objects), taken
/// without the general paths' `Block`s and `Result`s.
#[derive(Debug, Clone, Copy)]
pub(super) struct StructBlock {
    pub(super) marker: u32,
    pub(super) count: u32,
    pub(super) kind_word: u32,
    /// The object's size (the block is `PREFIX` more).
    pub(super) size: u32,
}

impl StructBlock {
    const LEN: usize = (PREFIX + HEADER_SIZE) as usize;

    /// The block at `at` and its object's offset, if it is one the
    /// general paths take as a struct the same way: its object lies at an
    /// aligned heap offset, has the struct kind and at least the smallest
    /// object's size, and ends by `limit` and inside the memory. `None`
    /// for anything else, which those paths judge.
    #[inline(always)]
    pub(super) fn read(mem: &[u8], at: u64, limit: u64) -> Option<(u32, StructBlock)> {
        let obj = u32::try_from(at + u64::from(PREFIX)).ok()?;
        check_object_offset(obj).ok()?;
        let bytes: [u8; Self::LEN] = mem.get(at as usize..at as usize + Self::LEN)?.try_into().ok()?;
        let word = |i: u32| u32::from_le_bytes(bytes[i as usize..i as usize + 4].try_into().expect("4 bytes"));
        let kind_word = word(PREFIX + HEADER_KIND_OFFSET);
        let size = header_size_field(kind_word) * OBJECT_ALIGN;
        let end = u64::from(obj) + u64::from(size);
        if kind_word & VMGcKind::MASK != VMGcKind::StructRef.as_u32() || size < MIN_OBJECT_SIZE || end > limit.min(mem.len() as u64) {
            return None;
        }
        let count = word(PREFIX.checked_add_signed(DRC_REF_COUNT_OFFSET).expect("the count lies in the prefix"));
        Some((obj, StructBlock { marker: word(0), count, kind_word, size }))
    }

    /// Writes the kind word and the count of the struct at `obj`, a block
    /// [`StructBlock::read`] returned.
    #[inline(always)]
    pub(super) fn write(mem: &mut [u8], obj: u32, kind_word: u32, count: u32) {
        let count_at = (i64::from(obj) + i64::from(DRC_REF_COUNT_OFFSET)) as usize;
        mem[count_at..count_at + 4].copy_from_slice(&count.to_le_bytes());
        let kind_at = (obj + HEADER_KIND_OFFSET) as usize;
        mem[kind_at..kind_at + 4].copy_from_slice(&kind_word.to_le_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::VMGcHeader;

    /// A heap of 64 bytes with a block at 16: `header` after a prefix with
    /// count 3.
    fn heap_with(header: VMGcHeader) -> Vec<u8> {
        let mut mem = vec![0; 64];
        mem[16..20].copy_from_slice(&DRC_PREFIX_MARKER.to_le_bytes());
        mem[20..24].copy_from_slice(&3u32.to_le_bytes());
        mem[24..32].copy_from_slice(&header.to_bytes());
        mem
    }

    #[test]
    fn a_struct_block_is_read_in_one_piece_and_written_back() {
        let header = VMGcHeader::new(VMGcKind::StructRef, 7).with_size(24);
        let mut mem = heap_with(header);
        let (obj, b) = StructBlock::read(&mem, 16, 64).expect("a struct block");
        assert_eq!((obj, b.marker, b.count, b.kind_word, b.size), (24, DRC_PREFIX_MARKER, 3, header.kind_word(), 24));
        StructBlock::write(&mut mem, obj, b.kind_word | 1, 2);
        assert_eq!(mem[20..24], 2u32.to_le_bytes());
        assert_eq!(mem[24..28], (header.kind_word() | 1).to_le_bytes());
    }

    #[test]
    fn anything_but_a_plausible_struct_is_left_to_the_general_paths() {
        let header = VMGcHeader::new(VMGcKind::StructRef, 7).with_size(24);
        assert!(StructBlock::read(&heap_with(header), 16, 40).is_none(), "ends past the limit");
        assert!(StructBlock::read(&heap_with(header), 12, 64).is_none(), "misaligned object");
        assert!(StructBlock::read(&heap_with(VMGcHeader::new(VMGcKind::StructRef, 7).with_size(8)), 16, 64).is_none(), "smaller than an object");
        assert!(StructBlock::read(&heap_with(VMGcHeader::externref().with_size(24)), 16, 64).is_none(), "an externref has host data");
        assert!(StructBlock::read(&heap_with(VMGcHeader::array(7, 4, 24)), 16, 64).is_none(), "an array's size needs its length");
        assert!(StructBlock::read(&heap_with(VMGcHeader::free_block(24)), 16, 64).is_none(), "a free block");
        assert!(StructBlock::read(&heap_with(header.with_size(48)), 16, 128).is_none(), "ends past the memory");
    }
}
