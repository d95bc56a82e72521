//! Allocation mechanisms shared by the collectors: bump allocation
//! ([`bump`]) and a size-class free list ([`free_list`]), plus the part
//! every allocator shares: rounding sizes and initialising a new object.
//!
//! A new object's body is zeroed, so "uninitialised" objects hold null in
//! every reference field and can be traced from the moment they exist.

pub(crate) mod bump;
pub(crate) mod free_list;

use crate::header::write_header;
use crate::memory::slice_mut;
use crate::{GcError, Result, VMGcHeader};
use kiln_environ::gc_layout::{HEADER_SIZE, MAX_OBJECT_SIZE, MIN_OBJECT_SIZE, OBJECT_ALIGN};

/// The block size for an object of `size` bytes: at least the smallest
/// object, a multiple of 8.
pub(crate) fn block_size(size: u32) -> Result<u32> {
    let size = size.max(MIN_OBJECT_SIZE);
    match size.checked_next_multiple_of(OBJECT_ALIGN) {
        Some(s) if s <= MAX_OBJECT_SIZE => Ok(s),
        _ => Err(GcError::OutOfMemory { requested: u64::from(size) }),
    }
}

/// Writes the header of a new object of `size` bytes at `offset` and zeroes
/// its body.
pub(crate) fn init_object(mem: &mut [u8], offset: u32, header: VMGcHeader, size: u32) -> Result<()> {
    let offset = u64::from(offset);
    write_header(mem, offset, &header.with_size(size))?;
    slice_mut(mem, offset + u64::from(HEADER_SIZE), u64::from(size - HEADER_SIZE))?.fill(0);
    Ok(())
}
