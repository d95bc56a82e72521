//! `VMGcHeader`, the 8 bytes every object starts with, and the checks that
//! turn an untrusted reference into a validated object.
//!
//! The layout is `kiln_environ::gc_layout`'s: a kind word (kind, size
//! field, collector bits) and a type word. A header read from the heap is
//! just data: [`object_at`] accepts it only if its kind is one that can be
//! stored, its size is a multiple of 8 of at least [`MIN_OBJECT_SIZE`], and
//! the whole object lies inside the heap. An object's size is not stored
//! as such: it is the size field in granules, or for an array follows from
//! the element size's log2 and the length ([`read_header`] reads both).
//! Free blocks (in collectors that have them) carry a header whose kind
//! word is zero and whose second word is the block's size, so a heap stays
//! walkable and a reference to freed memory is recognised as corrupt.

use crate::memory::{read_u32, slice, slice_mut};
use crate::{GcError, Result, VMGcKind, VMGcRef};
use kiln_environ::gc_layout::{
    ARRAY_LENGTH_OFFSET, EXTERNREF_TYPE_INDEX, FIRST_OBJECT_OFFSET, HEADER_KIND_OFFSET, HEADER_SIZE, HEADER_TYPE_INDEX_OFFSET, MIN_OBJECT_SIZE,
    OBJECT_ALIGN, HEADER_SIZE_BITS, HEADER_SIZE_SHIFT, array_object_size, header_size_field,
};

/// The size field's bits in the kind word.
const FIELD_MASK: u32 = ((1 << HEADER_SIZE_BITS) - 1) << HEADER_SIZE_SHIFT;

/// The kind word of a free block: no kind bits set.
pub(crate) const FREE_KIND_WORD: u32 = 0;

/// A header as read from (or to be written to) the heap, with the
/// object's size worked out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VMGcHeader {
    kind_word: u32,
    type_index: u32,
    /// Bytes the object occupies (for a free block, the block's size).
    size: u32,
}

impl VMGcHeader {
    /// A header for a new struct, exception or externref object of `kind`
    /// and engine type `type_index`. The allocator fills in the size and
    /// the collector's bits.
    pub fn new(kind: VMGcKind, type_index: u32) -> VMGcHeader {
        VMGcHeader { kind_word: kind.as_u32(), type_index, size: 0 }
    }

    /// A header for a new array of engine type `type_index` whose elements
    /// are `elem_size` bytes, `size` bytes in all (the length makes it so).
    pub(crate) fn array(type_index: u32, elem_size: u32, size: u32) -> VMGcHeader {
        VMGcHeader { kind_word: kiln_environ::gc_layout::array_kind_word(elem_size), type_index, size }
    }

    pub fn externref() -> VMGcHeader {
        VMGcHeader::new(VMGcKind::ExternRef, EXTERNREF_TYPE_INDEX)
    }

    pub(crate) fn free_block(size: u32) -> VMGcHeader {
        VMGcHeader { kind_word: FREE_KIND_WORD, type_index: size, size }
    }

    /// The object kind, if the kind bits name one.
    pub fn kind(&self) -> Option<VMGcKind> {
        VMGcKind::from_header_word(self.kind_word)
    }

    /// The whole first word: kind bits, size field and collector bits.
    pub fn kind_word(&self) -> u32 {
        self.kind_word
    }

    /// The low bits of the first word, reserved for the collector.
    pub fn collector_bits(&self) -> u32 {
        self.kind_word & VMGcKind::COLLECTOR_BITS_MASK
    }

    /// The type word: the engine type index (a copying collector's
    /// forwarding offset once the object is copied).
    pub fn type_index(&self) -> u32 {
        self.type_index
    }

    /// Bytes the object occupies, header included.
    pub fn size(&self) -> u32 {
        self.size
    }

    pub(crate) fn is_free_block(&self) -> bool {
        self.kind_word & VMGcKind::MASK == 0
    }

    fn is_array(&self) -> bool {
        self.kind() == Some(VMGcKind::ArrayRef)
    }

    /// The header of an object of `size` bytes. An array's size is its
    /// length's business: its size field (the element size) stays.
    pub(crate) fn with_size(self, size: u32) -> VMGcHeader {
        if self.is_free_block() {
            return VMGcHeader::free_block(size);
        }
        if self.is_array() {
            return VMGcHeader { size, ..self };
        }
        // Masked: a size past the field (which allocation refuses) cannot
        // reach the kind bits.
        let field = ((size / OBJECT_ALIGN) << HEADER_SIZE_SHIFT) & FIELD_MASK;
        VMGcHeader { kind_word: (self.kind_word & !FIELD_MASK) | field, size, ..self }
    }

    pub(crate) fn with_type_word(self, type_index: u32) -> VMGcHeader {
        VMGcHeader { type_index, ..self }
    }

    pub(crate) fn with_collector_bits(self, bits: u32) -> VMGcHeader {
        let kind_word = (self.kind_word & !VMGcKind::COLLECTOR_BITS_MASK) | (bits & VMGcKind::COLLECTOR_BITS_MASK);
        VMGcHeader { kind_word, ..self }
    }

    pub fn to_bytes(&self) -> [u8; HEADER_SIZE as usize] {
        let mut b = [0; HEADER_SIZE as usize];
        let mut put = |at: u32, v: u32| b[at as usize..at as usize + 4].copy_from_slice(&v.to_le_bytes());
        put(HEADER_KIND_OFFSET, self.kind_word);
        put(HEADER_TYPE_INDEX_OFFSET, self.type_index);
        b
    }
}

/// The header at `offset`, unvalidated, with the size it implies (for an
/// array, read from its length; a size beyond `u32` saturates, which no
/// check accepts).
#[inline(always)]
pub(crate) fn read_header(mem: &[u8], offset: u64) -> Result<VMGcHeader> {
    // One 8-byte load (collections read a header per object they visit).
    let bytes: [u8; HEADER_SIZE as usize] = slice(mem, offset, u64::from(HEADER_SIZE))?.try_into().expect("a header's bytes");
    let both = u64::from_le_bytes(bytes);
    let (kind_word, type_index) = ((both >> (8 * HEADER_KIND_OFFSET)) as u32, (both >> (8 * HEADER_TYPE_INDEX_OFFSET)) as u32);
    let field = header_size_field(kind_word);
    let kind_bits = kind_word & VMGcKind::MASK;
    let size = if kind_bits == FREE_KIND_WORD {
        type_index
    } else if kind_bits == VMGcKind::ArrayRef.as_u32() {
        let len = read_u32(mem, offset + u64::from(ARRAY_LENGTH_OFFSET))?;
        u32::try_from(array_object_size(field, len)).unwrap_or(u32::MAX)
    } else {
        field * OBJECT_ALIGN
    };
    Ok(VMGcHeader { kind_word, type_index, size })
}

pub(crate) fn write_header(mem: &mut [u8], offset: u64, header: &VMGcHeader) -> Result<()> {
    slice_mut(mem, offset, u64::from(HEADER_SIZE))?.copy_from_slice(&header.to_bytes());
    Ok(())
}

/// A word some collectors put before every object (DRC: its count), and
/// the prefix's size: each block of such a heap starts with either a free
/// block's header or `marker`, which the object's header follows.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ObjectPrefix {
    pub(crate) marker: u32,
    pub(crate) size: u32,
}

/// A block of a heap walked block by block.
pub(crate) enum Block {
    Free { size: u32 },
    /// An object at `obj` with its (unvalidated) header, `prefix` bytes
    /// after the block's start.
    Object { obj: u32, header: VMGcHeader, prefix: u32 },
}

impl Block {
    /// The block's size in bytes (saturating: a corrupt size fails the
    /// caller's bounds check).
    #[inline]
    pub(crate) fn size(&self) -> u32 {
        match self {
            Block::Free { size } => *size,
            Block::Object { header, prefix, .. } => header.size().saturating_add(*prefix),
        }
    }
}

/// The block at `at` (below 4 GiB) of a heap whose objects are preceded by
/// `prefix`, if any; the object's header is read, not validated.
#[inline]
pub(crate) fn read_block(mem: &[u8], at: u64, prefix: Option<ObjectPrefix>) -> Result<Block> {
    let outside = || GcError::corrupt("block past the heap", at);
    if let Some(p) = prefix
        && read_u32(mem, at)? == p.marker
    {
        let obj = u32::try_from(at + u64::from(p.size)).map_err(|_| outside())?;
        return Ok(Block::Object { obj, header: read_header(mem, u64::from(obj))?, prefix: p.size });
    }
    let header = read_header(mem, at)?;
    if header.is_free_block() {
        return Ok(Block::Free { size: header.size() });
    }
    if prefix.is_some() {
        return Err(GcError::corrupt("object without its prefix", at));
    }
    Ok(Block::Object { obj: u32::try_from(at).map_err(|_| outside())?, header, prefix: 0 })
}

/// Checks that a block's size is plausible for a block at `offset` in a
/// memory of `mem_len` bytes: a multiple of 8 of at least a header (an
/// object is larger still, see [`object_at`]).
#[inline]
pub(crate) fn check_block_size(offset: u64, size: u32, mem_len: usize) -> Result<()> {
    if size < HEADER_SIZE || size % OBJECT_ALIGN != 0 {
        return Err(GcError::corrupt("object size is not a multiple of 8 of at least a header", offset));
    }
    if offset + u64::from(size) > mem_len as u64 {
        return Err(GcError::corrupt("object extends past the end of the heap", offset));
    }
    Ok(())
}

/// The validated header of the object at heap offset `offset`.
#[inline(always)]
pub(crate) fn object_at(mem: &[u8], offset: u32) -> Result<VMGcHeader> {
    check_object_offset(offset)?;
    let header = read_header(mem, u64::from(offset))?;
    check_object_header(mem, offset, &header)?;
    Ok(header)
}

/// The first of [`object_at`]'s checks: `offset` can start an object.
#[inline]
pub(crate) fn check_object_offset(offset: u32) -> Result<()> {
    if offset < FIRST_OBJECT_OFFSET || offset % OBJECT_ALIGN != 0 {
        return Err(GcError::corrupt("reference is not an aligned heap offset", offset));
    }
    Ok(())
}

/// The rest of [`object_at`]'s checks, on the header read at `offset`.
#[inline]
pub(crate) fn check_object_header(mem: &[u8], offset: u32, header: &VMGcHeader) -> Result<()> {
    if header.is_free_block() {
        return Err(GcError::corrupt("reference to a free block", offset));
    }
    match header.kind() {
        Some(k) if k.is_stored() => {}
        _ => return Err(GcError::corrupt("object header has an invalid kind", offset)),
    }
    if header.size < MIN_OBJECT_SIZE {
        return Err(GcError::corrupt("object smaller than the smallest object", offset));
    }
    check_block_size(u64::from(offset), header.size, mem.len())
}

/// The heap offset and validated header of the object `r` refers to.
#[inline]
pub(crate) fn object(mem: &[u8], r: &VMGcRef) -> Result<(u32, VMGcHeader)> {
    let offset = r.as_heap_index().ok_or(GcError::NotAnObject)?;
    Ok((offset, object_at(mem, offset)?))
}

/// Reads the u32 at `offset` within the object at `obj`.
pub(crate) fn read_field_u32(mem: &[u8], obj: u32, offset: u32) -> Result<u32> {
    read_u32(mem, u64::from(obj) + u64::from(offset))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_bytes_round_trip() {
        let h = VMGcHeader::new(VMGcKind::StructRef, 7).with_size(32).with_collector_bits(1);
        let mut mem = vec![0u8; 64];
        write_header(&mut mem, 16, &h).unwrap();
        assert_eq!(read_header(&mem, 16).unwrap(), h);
        assert_eq!(h.kind(), Some(VMGcKind::StructRef));
        assert_eq!((h.collector_bits(), h.size(), h.type_index()), (1, 32, 7));
    }

    #[test]
    fn an_arrays_size_follows_from_its_element_size_and_length() {
        let mut mem = vec![0u8; 128];
        write_header(&mut mem, 16, &VMGcHeader::array(3, 4, 0)).unwrap();
        mem[16 + ARRAY_LENGTH_OFFSET as usize] = 5;
        // 12 + 5 * 4 = 32.
        assert_eq!(read_header(&mem, 16).unwrap().size(), 32);
        write_header(&mut mem, 16, &VMGcHeader::array(3, 8, 0)).unwrap();
        // Elements of 8 bytes start at 16: 16 + 40 = 56.
        assert_eq!(read_header(&mem, 16).unwrap().size(), 56);
        mem[16 + ARRAY_LENGTH_OFFSET as usize..][..4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(object_at(&mem, 16).is_err(), "a corrupt length reaches past the heap");
    }

    #[test]
    fn object_at_rejects_misaligned_free_abstract_and_oversized_objects() {
        let mut mem = vec![0u8; 64];
        write_header(&mut mem, 16, &VMGcHeader::new(VMGcKind::StructRef, 0).with_size(16)).unwrap();
        assert!(object_at(&mem, 16).is_ok());
        assert!(object_at(&mem, 0).is_err());
        assert!(object_at(&mem, 20).is_err());
        assert!(object_at(&mem, 32).is_err(), "free block");
        write_header(&mut mem, 32, &VMGcHeader::new(VMGcKind::AnyRef, 0).with_size(16)).unwrap();
        assert!(object_at(&mem, 32).is_err(), "abstract kind");
        write_header(&mut mem, 32, &VMGcHeader::new(VMGcKind::StructRef, 0).with_size(40)).unwrap();
        assert!(object_at(&mem, 32).is_err(), "past the end");
        write_header(&mut mem, 32, &VMGcHeader::new(VMGcKind::StructRef, 0).with_size(8)).unwrap();
        assert!(object_at(&mem, 32).is_err(), "smaller than the smallest object");
        assert!(object_at(&mem, 56).is_err(), "header past the end");
    }
}
