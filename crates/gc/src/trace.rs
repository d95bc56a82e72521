//! The tracer: which words of an object hold references, and the work list
//! collectors use to visit objects without recursion.
//!
//! [`ref_slots`] validates an object against its type before saying where
//! its references are: the kind must match the layout, the object's size
//! must hold every field, and an array's length (heap data) must fit in the
//! object's size. So iterating the slots never leaves the object, and the
//! number of slots is at most a quarter of the object's size.
//!
//! [`WorkList`] is a stack of objects still to visit plus a cursor into the
//! one being visited, so a collection step can stop in the middle of a huge
//! array and resume there.

use crate::header::{object_at, read_field_u32};
use crate::types::{TraceInfo, TypeCache};
use crate::{GcError, Result, VMGcHeader, VMGcKind};
use kiln_environ::gc_layout::{ARRAY_LENGTH_OFFSET, GC_REF_SIZE};

/// Where the references of one object are.
#[derive(Debug, Clone, Copy)]
pub(crate) enum RefSlots<'t> {
    None,
    /// Struct fields: `obj + offset` for each offset.
    Fields { obj: u32, offsets: &'t [u32] },
    /// `count` contiguous 4-byte references from `start`.
    Elems { start: u64, count: u32 },
}

impl RefSlots<'_> {
    pub(crate) fn len(&self) -> u32 {
        match self {
            RefSlots::None => 0,
            RefSlots::Fields { offsets, .. } => offsets.len() as u32,
            RefSlots::Elems { count, .. } => *count,
        }
    }

    /// Heap offset of slot `i` (`i < len()`).
    pub(crate) fn get(&self, i: u32) -> u64 {
        match self {
            RefSlots::None => 0,
            RefSlots::Fields { obj, offsets } => u64::from(*obj) + u64::from(offsets.get(i as usize).copied().unwrap_or(0)),
            RefSlots::Elems { start, .. } => *start + u64::from(i) * u64::from(GC_REF_SIZE),
        }
    }
}

/// The reference slots of the object at `obj`, whose header has been
/// validated by [`object_at`].
#[inline(always)]
pub(crate) fn ref_slots<'t>(types: &'t mut TypeCache, mem: &[u8], obj: u32, header: &VMGcHeader) -> Result<RefSlots<'t>> {
    let size = u64::from(header.size());
    match header.kind() {
        Some(VMGcKind::ExternRef) => Ok(RefSlots::None),
        Some(VMGcKind::StructRef | VMGcKind::ExnRef) => match types.get(header.type_index()) {
            Some(TraceInfo::Struct { size: needed, gc_ref_offsets }) => {
                // Every reference field lies within the type's size
                // (`TraceInfo::new`), so within the object.
                if u64::from(*needed) > size {
                    return Err(GcError::corrupt("struct smaller than its type", obj));
                }
                Ok(RefSlots::Fields { obj, offsets: gc_ref_offsets })
            }
            Some(TraceInfo::Array(_)) => Err(GcError::corrupt("struct header names an array type", obj)),
            None => Err(GcError::corrupt("unknown type index in header", obj)),
        },
        Some(VMGcKind::ArrayRef) => match types.get(header.type_index()) {
            Some(TraceInfo::Array(a)) => {
                let len = read_field_u32(mem, obj, ARRAY_LENGTH_OFFSET)?;
                if a.elem_offset(len) > size {
                    return Err(GcError::corrupt("array length exceeds the object", obj));
                }
                if !a.elems_are_gc_refs {
                    return Ok(RefSlots::None);
                }
                Ok(RefSlots::Elems { start: u64::from(obj) + u64::from(a.base), count: len })
            }
            Some(TraceInfo::Struct { .. }) => Err(GcError::corrupt("array header names a struct type", obj)),
            None => Err(GcError::corrupt("unknown type index in header", obj)),
        },
        _ => Err(GcError::corrupt("object header has an invalid kind", obj)),
    }
}

/// [`object_at`] and [`ref_slots`] together.
#[inline(always)]
pub(crate) fn object_ref_slots<'t>(types: &'t mut TypeCache, mem: &[u8], obj: u32) -> Result<(VMGcHeader, RefSlots<'t>)> {
    let header = object_at(mem, obj)?;
    let slots = ref_slots(types, mem, obj, &header)?;
    Ok((header, slots))
}

/// Objects waiting to be visited, last in first out, and the one being
/// visited with the index of its next slot.
#[derive(Debug, Default)]
pub(crate) struct WorkList {
    stack: Vec<u32>,
    current: Option<(u32, u32)>,
}

impl WorkList {
    pub(crate) fn push(&mut self, obj: u32) {
        self.stack.push(obj);
    }

    /// The object to work on next and the slot to start at.
    pub(crate) fn next(&mut self) -> Option<(u32, u32)> {
        self.current.take().or_else(|| self.stack.pop().map(|obj| (obj, 0)))
    }

    /// The next object to visit from its first slot, unless the one being
    /// visited was suspended in the middle (then `None`: see [`WorkList::next`]).
    pub(crate) fn pop_unstarted(&mut self) -> Option<u32> {
        if self.current.is_some() {
            return None;
        }
        self.stack.pop()
    }

    /// Puts back the object being visited, to resume at `next_slot`.
    pub(crate) fn suspend(&mut self, obj: u32, next_slot: u32) {
        debug_assert!(self.current.is_none());
        self.current = Some((obj, next_slot));
    }

    /// Every object waiting or being visited.
    pub(crate) fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        self.current.map(|(obj, _)| obj).into_iter().chain(self.stack.iter().copied())
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.current.is_none() && self.stack.is_empty()
    }

    pub(crate) fn clear(&mut self) {
        self.stack.clear();
        self.current = None;
    }
}
