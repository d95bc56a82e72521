//! The collectors: each file is a policy composed from the shared
//! mechanisms (allocators, tracer, forwarding, roots, host data, verifier).

pub(crate) mod copying;
pub(crate) mod drc;
pub(crate) mod generational;
pub(crate) mod null;

use crate::alloc::bump::BumpAllocator;
use crate::alloc::{block_size, init_object};
use crate::memory::write_u32;
use crate::{GcError, GcStats, Result, VMGcHeader, VMGcKind, VMGcRef};
use kiln_environ::gc_layout::{ARRAY_LENGTH_OFFSET, MAX_FIXED_OBJECT_SIZE};

/// Only kinds that can be stored may be allocated, and only sizes their
/// header can describe: an array's follows from its length, any other
/// object's must fit the header's size field.
fn check_alloc_kind(header: &VMGcHeader, size: u32) -> Result<()> {
    match header.kind() {
        Some(VMGcKind::ArrayRef) => Ok(()),
        Some(k) if k.is_stored() && size <= MAX_FIXED_OBJECT_SIZE => Ok(()),
        Some(k) if k.is_stored() => Err(GcError::OutOfMemory { requested: u64::from(size) }),
        _ => Err(GcError::WrongType { type_index: header.type_index(), expected: "a struct, array, exception or externref" }),
    }
}

/// `alloc_raw` takes no arrays: their header depends on their element
/// type, which only `alloc_uninit_array` knows.
fn check_raw_kind(header: &VMGcHeader) -> Result<()> {
    if header.kind() == Some(VMGcKind::ArrayRef) {
        return Err(GcError::WrongType { type_index: header.type_index(), expected: "a struct, exception or externref (arrays have their own allocation)" });
    }
    Ok(())
}

/// A reference to a block the allocator just handed out (never 0, always
/// 8-aligned).
fn new_ref(offset: u32) -> Result<VMGcRef> {
    VMGcRef::from_heap_index(offset).ok_or(GcError::corrupt("allocator returned a bad offset", offset))
}

/// Stores a new array's length.
fn init_array_len(mem: &mut [u8], r: &VMGcRef, len: u32) -> Result<()> {
    write_u32(mem, u64::from(r.as_raw_u32()) + u64::from(ARRAY_LENGTH_OFFSET), len)
}

/// Bump-allocates a new object of `header`'s kind and type (the allocation
/// path of the collectors that allocate with a bump cursor): its header has
/// no collector bits, its body is zeroed.
fn bump_alloc_object(bump: &mut BumpAllocator, mem: &mut [u8], stats: &mut GcStats, header: VMGcHeader, size: u32) -> Result<VMGcRef> {
    let size = block_size(size)?;
    check_alloc_kind(&header, size)?;
    let offset = bump.alloc(size).ok_or(GcError::OutOfMemory { requested: u64::from(size) })?;
    init_object(mem, offset, header.with_collector_bits(0), size)?;
    stats.record_allocation(size);
    new_ref(offset)
}

/// The bump cursor's region for compiled code (see `GcHeap::bump_region`).
pub(crate) fn bump_region(bump: &BumpAllocator) -> Option<(u32, u32)> {
    Some((u32::try_from(bump.top()).ok()?, u32::try_from(bump.end()).unwrap_or(u32::MAX & !7)))
}

/// Takes back the cursor compiled code advanced (see `GcHeap::set_bump_next`).
pub(crate) fn advance_bump(bump: &mut BumpAllocator, stats: &mut GcStats, next: u32) -> Result<()> {
    let allocated = bump.advance_to(u64::from(next)).ok_or(GcError::Corrupt { what: "inline allocation cursor", offset: u64::from(next) })?;
    stats.record_inline_allocation(allocated);
    Ok(())
}
