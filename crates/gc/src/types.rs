//! What a heap knows about the types of its objects.
//!
//! The runtime owns the engine's type registry; a heap asks it, through
//! [`GcTypes`], for the layout of an engine-wide type index the first time
//! it meets one, and keeps what tracing needs in a per-heap cache
//! ([`TypeCache`]), so tracing an object is a vector lookup, not a call into
//! the registry. A type index comes from an untrusted header, so an unknown
//! one is an error, never a panic.

use crate::{GcError, Result, VMGcHeader};
use kiln_environ::gc_layout::{GC_REF_SIZE, HEADER_SIZE, MAX_OBJECT_SIZE, OBJECT_ALIGN};
use kiln_environ::{GcArrayLayout, GcLayout};
use std::collections::HashMap;
use std::sync::Arc;

/// The runtime's answer to "what does an object of type `type_index` look
/// like?". `None` for indices that name no struct or array type.
///
/// A heap caches the answers until it is reset, so an index must keep its
/// layout for as long as the store using the heap may hold objects of it
/// (the registry must not reuse the index of a type some live store still
/// uses).
pub trait GcTypes: Send + Sync {
    fn layout(&self, type_index: u32) -> Option<GcLayout>;
}

/// Types keyed by index: convenient for tests and simple embedders.
impl GcTypes for HashMap<u32, GcLayout> {
    fn layout(&self, type_index: u32) -> Option<GcLayout> {
        self.get(&type_index).cloned()
    }
}

/// Type `i` is element `i`.
impl GcTypes for Vec<GcLayout> {
    fn layout(&self, type_index: u32) -> Option<GcLayout> {
        self.get(type_index as usize).cloned()
    }
}

/// What tracing and allocation need to know about one type.
#[derive(Debug, Clone)]
pub(crate) enum TraceInfo {
    Struct {
        /// Object size the type needs (the object may be larger).
        size: u32,
        /// Offsets of reference fields.
        gc_ref_offsets: Box<[u32]>,
    },
    Array(GcArrayLayout),
}

impl TraceInfo {
    /// Normalises a layout from the runtime so that nothing later depends on
    /// it being sensible: sizes are at least a header, multiples of 8 and
    /// reach past every reference field (so an object as large as its type
    /// holds them all), and reference elements are 4 bytes (the tracer steps
    /// by 4). A struct whose fields reach past the largest object has no
    /// layout: its objects are reported as of an unknown type.
    fn new(layout: GcLayout) -> Option<TraceInfo> {
        match layout {
            GcLayout::Struct(s) => {
                let gc_ref_offsets: Box<[u32]> = s.gc_ref_offsets().collect();
                let fields_end = gc_ref_offsets.iter().map(|o| o.saturating_add(GC_REF_SIZE)).max().unwrap_or(0);
                if fields_end > MAX_OBJECT_SIZE {
                    return None;
                }
                let size = s.size.max(fields_end).clamp(HEADER_SIZE, MAX_OBJECT_SIZE).next_multiple_of(OBJECT_ALIGN);
                Some(TraceInfo::Struct { size, gc_ref_offsets })
            }
            GcLayout::Array(mut a) => {
                if a.elems_are_gc_refs {
                    a.elem_size = GC_REF_SIZE;
                }
                a.elem_size = a.elem_size.max(1);
                Some(TraceInfo::Array(a))
            }
        }
    }
}

/// Type indices below this are cached in a vector (engine type ids are
/// dense from 0, and tracing looks one up per object); larger ones in a
/// map.
const DENSE_TYPES: u32 = 1 << 16;

pub(crate) struct TypeCache {
    types: Arc<dyn GcTypes>,
    dense: Vec<Option<TraceInfo>>,
    sparse: HashMap<u32, TraceInfo>,
}

impl TypeCache {
    pub(crate) fn new(types: Arc<dyn GcTypes>) -> TypeCache {
        TypeCache { types, dense: Vec::new(), sparse: HashMap::new() }
    }

    pub(crate) fn types(&self) -> &Arc<dyn GcTypes> {
        &self.types
    }

    /// Forgets cached layouts (a reset heap may serve another engine's
    /// store... or the same one; refilling is cheap).
    pub(crate) fn clear(&mut self) {
        self.dense.clear();
        self.sparse.clear();
    }

    /// The trace info of `type_index`; `None` if the runtime has no layout
    /// for it. Unknown indices are not cached, so a corrupt heap cannot make
    /// the cache grow (beyond the index of a type that exists).
    #[inline]
    pub(crate) fn get(&mut self, type_index: u32) -> Option<&TraceInfo> {
        let i = type_index as usize;
        if matches!(self.dense.get(i), Some(Some(_))) {
            return self.dense[i].as_ref();
        }
        self.get_slow(type_index)
    }

    #[cold]
    fn get_slow(&mut self, type_index: u32) -> Option<&TraceInfo> {
        if type_index >= DENSE_TYPES {
            if !self.sparse.contains_key(&type_index) {
                let layout = self.types.layout(type_index)?;
                self.sparse.insert(type_index, TraceInfo::new(layout)?);
            }
            return self.sparse.get(&type_index);
        }
        let i = type_index as usize;
        if self.dense.get(i).is_none_or(Option::is_none) {
            let info = TraceInfo::new(self.types.layout(type_index)?)?;
            if self.dense.len() <= i {
                self.dense.resize(i + 1, None);
            }
            self.dense[i] = Some(info);
        }
        self.dense[i].as_ref()
    }

    /// The size of a new struct of `type_index`.
    pub(crate) fn struct_size(&mut self, type_index: u32) -> Result<u32> {
        match self.get(type_index) {
            Some(TraceInfo::Struct { size, .. }) => Ok(*size),
            Some(TraceInfo::Array(_)) => Err(GcError::WrongType { type_index, expected: "a struct" }),
            None => Err(GcError::UnknownType(type_index)),
        }
    }

    /// The header and size of a new array of `type_index` with `len`
    /// elements.
    pub(crate) fn array_header(&mut self, type_index: u32, len: u32) -> Result<(VMGcHeader, u32)> {
        match self.get(type_index) {
            Some(TraceInfo::Array(a)) => {
                let size = a.size_for_len(len).ok_or(GcError::OutOfMemory { requested: a.elem_offset(len) })?;
                Ok((VMGcHeader::array(type_index, a.elem_size, size), size))
            }
            Some(TraceInfo::Struct { .. }) => Err(GcError::WrongType { type_index, expected: "an array" }),
            None => Err(GcError::UnknownType(type_index)),
        }
    }
}
