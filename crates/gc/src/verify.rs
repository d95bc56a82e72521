//! The heap verifier, for tests and debug builds.
//!
//! It walks a heap block by block from its first object offset to the end
//! of its used part (every block's header says its size, so a heap is
//! walkable) and checks that
//! - every block is a free block or an object with a stored kind, a size
//!   that is a multiple of 8, at least a header, and inside the region;
//! - every object matches its type: a known type index of the right kind,
//!   large enough for its fields or its array length; externrefs carry the
//!   externref type index;
//! - every reference in an object is null, an i31, or the start of an
//!   object (not a free block, not the middle of something).
//!
//! Like everything else it reads the heap through checked accessors and is
//! bounded: the walk takes at most size/16 steps, and the reference check
//! visits at most size/4 slots.

use crate::header::{Block, ObjectPrefix, check_block_size, read_block, read_header};
use crate::memory::read_u32;
use crate::trace::ref_slots;
use crate::types::TypeCache;
use crate::{GcError, GcTypes, Result, VMGcKind, VMGcRef};
use kiln_environ::gc_layout::{EXTERNREF_SIZE, EXTERNREF_TYPE_INDEX};
use std::sync::Arc;

/// What a successful verification found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifyReport {
    pub objects: u64,
    pub object_bytes: u64,
    pub free_blocks: u64,
    pub free_bytes: u64,
    /// Non-null references stored in objects (i31s included).
    pub references: u64,
}

/// The result of a walk, for collectors that check more (their side
/// structures against the heap).
pub(crate) struct HeapWalk {
    pub(crate) report: VerifyReport,
    /// Object offsets, ascending.
    pub(crate) objects: Vec<u32>,
    /// Free blocks (offset, size), ascending.
    pub(crate) free_blocks: Vec<(u32, u32)>,
}

/// Verifies `[start, end)` of a space filled by bump allocation: objects
/// back to back, no free blocks.
pub(crate) fn verify_packed(mem: &[u8], start: u64, end: u64, types: &Arc<dyn GcTypes>) -> Result<HeapWalk> {
    let walk = verify_heap(mem, start, end, types, None)?;
    if let Some((at, _)) = walk.free_blocks.first() {
        return Err(GcError::corrupt("free block in a bump-allocated space", *at));
    }
    Ok(walk)
}

/// Verifies several spaces, given in ascending order, whose objects may
/// reference each other, and in which free blocks may lie only within
/// the ranges of `free_allowed`.
pub(crate) fn verify_spaces(
    mem: &[u8],
    spaces: &[std::ops::Range<u64>],
    free_allowed: &[std::ops::Range<u64>],
    types: &Arc<dyn GcTypes>,
) -> Result<HeapWalk> {
    let mut walk = HeapWalk { report: VerifyReport::default(), objects: Vec::new(), free_blocks: Vec::new() };
    for space in spaces {
        walk_blocks(mem, space.start, space.end, &mut walk, None)?;
    }
    let allowed = |at: u64, size: u64| free_allowed.iter().any(|r| r.start <= at && at + size <= r.end);
    if let Some((at, _)) = walk.free_blocks.iter().find(|(at, size)| !allowed(u64::from(*at), u64::from(*size))) {
        return Err(GcError::corrupt("free block in a bump-allocated space", *at));
    }
    walk.report.references = check_objects(mem, &walk, types)?;
    Ok(walk)
}

/// Verifies the blocks in `[start, end)`, each object preceded by
/// `prefix`.
pub(crate) fn verify_heap(mem: &[u8], start: u64, end: u64, types: &Arc<dyn GcTypes>, prefix: Option<ObjectPrefix>) -> Result<HeapWalk> {
    let mut walk = HeapWalk { report: VerifyReport::default(), objects: Vec::new(), free_blocks: Vec::new() };
    walk_blocks(mem, start, end, &mut walk, prefix)?;
    walk.report.references = check_objects(mem, &walk, types)?;
    Ok(walk)
}

/// Walks the blocks of `[start, end)` into `walk`.
fn walk_blocks(mem: &[u8], start: u64, end: u64, walk: &mut HeapWalk, prefix: Option<ObjectPrefix>) -> Result<()> {
    let end = end.min(mem.len() as u64);
    let mut offset = start;
    while offset < end {
        let block = read_block(mem, offset, prefix)?;
        match &block {
            Block::Free { size } => {
                check_block_size(offset, *size, end as usize)?;
                // Below `end`, which is at most 2^32 - 8.
                walk.free_blocks.push((offset as u32, *size));
                walk.report.free_blocks += 1;
                walk.report.free_bytes += u64::from(*size);
            }
            Block::Object { obj, header, .. } => {
                check_block_size(u64::from(*obj), header.size(), end as usize)?;
                if header.is_free_block() {
                    return Err(GcError::corrupt("prefix before a free block", offset));
                }
                walk_object(walk, u64::from(*obj), header)?;
            }
        }
        offset += u64::from(block.size());
    }
    Ok(())
}

/// Records the object at `offset` (below the walk's end, under 4 GiB).
fn walk_object(walk: &mut HeapWalk, offset: u64, header: &crate::VMGcHeader) -> Result<()> {
    match header.kind() {
        Some(k) if k.is_stored() => {}
        _ => return Err(GcError::corrupt("object header has an invalid kind", offset)),
    }
    walk.objects.push(offset as u32);
    walk.report.objects += 1;
    walk.report.object_bytes += u64::from(header.size());
    Ok(())
}

/// Checks each walked object against its type, and that its references
/// name walked objects; returns how many non-null references there are.
fn check_objects(mem: &[u8], walk: &HeapWalk, types: &Arc<dyn GcTypes>) -> Result<u64> {
    let mut references = 0;
    let mut cache = TypeCache::new(types.clone());
    for &obj in &walk.objects {
        let header = read_header(mem, u64::from(obj))?;
        if header.kind() == Some(VMGcKind::ExternRef)
            && (header.type_index() != EXTERNREF_TYPE_INDEX || header.size() < EXTERNREF_SIZE)
        {
            return Err(GcError::corrupt("malformed externref object", obj));
        }
        let slots = ref_slots(&mut cache, mem, obj, &header)?;
        for i in 0..slots.len() {
            let slot = slots.get(i);
            let Some(r) = VMGcRef::from_raw_u32(read_u32(mem, slot)?) else { continue };
            references += 1;
            if let Some(target) = r.as_heap_index()
                && walk.objects.binary_search(&target).is_err()
            {
                return Err(GcError::corrupt("reference to something that is not an object", slot));
            }
        }
    }
    Ok(references)
}
