//! The collectors: each file is a policy composed from the shared
//! mechanisms (allocators, tracer, roots, host data, verifier).

pub(crate) mod drc;
pub(crate) mod null;

use crate::memory::write_u32;
use crate::{GcError, Result, VMGcHeader, VMGcRef};
use kiln_environ::gc_layout::ARRAY_LENGTH_OFFSET;

/// Only kinds that can be stored may be allocated.
fn check_alloc_kind(header: &VMGcHeader) -> Result<()> {
    match header.kind() {
        Some(k) if k.is_stored() => Ok(()),
        _ => Err(GcError::WrongType { type_index: header.type_index(), expected: "a struct, array, exception or externref" }),
    }
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
