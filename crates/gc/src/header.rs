//! `VMGcHeader`, the 16 bytes every object starts with, and the checks that
//! turn an untrusted reference into a validated object.
//!
//! The layout is `kiln_environ::gc_layout`'s. A header read from the heap
//! is just data: [`object_at`] accepts it only if its kind is one that can be
//! stored, its size is a multiple of 8 of at least a header, and the whole
//! object lies inside the heap. Free blocks (in collectors that have them)
//! carry a header whose kind bits are zero, so a heap stays walkable and a
//! reference to freed memory is recognised as corrupt.

use crate::memory::{read_u32, slice, slice_mut};
use crate::{GcError, Result, VMGcKind, VMGcRef};
use kiln_environ::gc_layout::{
    EXTERNREF_TYPE_INDEX, FIRST_OBJECT_OFFSET, HEADER_COLLECTOR_WORD_OFFSET, HEADER_KIND_OFFSET, HEADER_SIZE, HEADER_SIZE_OFFSET,
    HEADER_TYPE_INDEX_OFFSET, OBJECT_ALIGN,
};

/// The kind word of a free block: no kind bits set.
pub(crate) const FREE_KIND_WORD: u32 = 0;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VMGcHeader {
    kind_word: u32,
    type_index: u32,
    size: u32,
    collector_word: u32,
}

impl VMGcHeader {
    /// A header for a new object of `kind` and engine type `type_index`.
    /// The allocator fills in the size and the collector's bits.
    pub fn new(kind: VMGcKind, type_index: u32) -> VMGcHeader {
        VMGcHeader { kind_word: kind.as_u32(), type_index, size: 0, collector_word: 0 }
    }

    pub fn externref() -> VMGcHeader {
        VMGcHeader::new(VMGcKind::ExternRef, EXTERNREF_TYPE_INDEX)
    }

    pub(crate) fn free_block(size: u32) -> VMGcHeader {
        VMGcHeader { kind_word: FREE_KIND_WORD, type_index: 0, size, collector_word: 0 }
    }

    /// The object kind, if the kind bits name one.
    pub fn kind(&self) -> Option<VMGcKind> {
        VMGcKind::from_header_word(self.kind_word)
    }

    /// The whole first word: kind bits and collector bits.
    pub fn kind_word(&self) -> u32 {
        self.kind_word
    }

    /// The low bits of the first word, reserved for the collector.
    pub fn collector_bits(&self) -> u32 {
        self.kind_word & VMGcKind::COLLECTOR_BITS_MASK
    }

    pub fn type_index(&self) -> u32 {
        self.type_index
    }

    /// Bytes the object occupies, header included.
    pub fn size(&self) -> u32 {
        self.size
    }

    /// The collector's word (DRC: the reference count).
    pub fn collector_word(&self) -> u32 {
        self.collector_word
    }

    pub(crate) fn is_free_block(&self) -> bool {
        self.kind_word & VMGcKind::MASK == 0
    }

    pub(crate) fn with_size(self, size: u32) -> VMGcHeader {
        VMGcHeader { size, ..self }
    }

    pub(crate) fn with_collector_word(self, collector_word: u32) -> VMGcHeader {
        VMGcHeader { collector_word, ..self }
    }

    pub(crate) fn with_collector_bits(self, bits: u32) -> VMGcHeader {
        let kind_word = (self.kind_word & VMGcKind::MASK) | (bits & VMGcKind::COLLECTOR_BITS_MASK);
        VMGcHeader { kind_word, ..self }
    }

    pub fn to_bytes(&self) -> [u8; HEADER_SIZE as usize] {
        let mut b = [0; HEADER_SIZE as usize];
        let mut put = |at: u32, v: u32| b[at as usize..at as usize + 4].copy_from_slice(&v.to_le_bytes());
        put(HEADER_KIND_OFFSET, self.kind_word);
        put(HEADER_TYPE_INDEX_OFFSET, self.type_index);
        put(HEADER_SIZE_OFFSET, self.size);
        put(HEADER_COLLECTOR_WORD_OFFSET, self.collector_word);
        b
    }

    pub fn from_bytes(b: &[u8; HEADER_SIZE as usize]) -> VMGcHeader {
        let get = |at: u32| u32::from_le_bytes([b[at as usize], b[at as usize + 1], b[at as usize + 2], b[at as usize + 3]]);
        VMGcHeader {
            kind_word: get(HEADER_KIND_OFFSET),
            type_index: get(HEADER_TYPE_INDEX_OFFSET),
            size: get(HEADER_SIZE_OFFSET),
            collector_word: get(HEADER_COLLECTOR_WORD_OFFSET),
        }
    }
}

/// The header at `offset`, unvalidated.
#[inline]
pub(crate) fn read_header(mem: &[u8], offset: u64) -> Result<VMGcHeader> {
    let b = slice(mem, offset, u64::from(HEADER_SIZE))?;
    let mut bytes = [0; HEADER_SIZE as usize];
    bytes.copy_from_slice(b);
    Ok(VMGcHeader::from_bytes(&bytes))
}

pub(crate) fn write_header(mem: &mut [u8], offset: u64, header: &VMGcHeader) -> Result<()> {
    slice_mut(mem, offset, u64::from(HEADER_SIZE))?.copy_from_slice(&header.to_bytes());
    Ok(())
}

/// Checks that a header's size is plausible for a block at `offset` in a
/// memory of `mem_len` bytes.
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
#[inline]
pub(crate) fn object_at(mem: &[u8], offset: u32) -> Result<VMGcHeader> {
    if offset < FIRST_OBJECT_OFFSET || offset % OBJECT_ALIGN != 0 {
        return Err(GcError::corrupt("reference is not an aligned heap offset", offset));
    }
    let header = read_header(mem, u64::from(offset))?;
    if header.is_free_block() {
        return Err(GcError::corrupt("reference to a free block", offset));
    }
    match header.kind() {
        Some(k) if k.is_stored() => {}
        _ => return Err(GcError::corrupt("object header has an invalid kind", offset)),
    }
    check_block_size(u64::from(offset), header.size, mem.len())?;
    Ok(header)
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
        let h = VMGcHeader::new(VMGcKind::StructRef, 7).with_size(32).with_collector_word(3).with_collector_bits(1);
        assert_eq!(VMGcHeader::from_bytes(&h.to_bytes()), h);
        assert_eq!(h.kind(), Some(VMGcKind::StructRef));
        assert_eq!(h.collector_bits(), 1);
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
        write_header(&mut mem, 32, &VMGcHeader::new(VMGcKind::ArrayRef, 0).with_size(40)).unwrap();
        assert!(object_at(&mem, 32).is_err(), "past the end");
        write_header(&mut mem, 32, &VMGcHeader::new(VMGcKind::ArrayRef, 0).with_size(12)).unwrap();
        assert!(object_at(&mem, 32).is_err(), "smaller than a header");
        assert!(object_at(&mem, 56).is_err(), "header past the end");
    }
}
