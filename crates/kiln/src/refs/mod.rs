//! The embedder's GC handles, one file per reference kind, and the
//! rooting that keeps their objects alive (`rooting.rs`).
//!
//! Every handle method resolves its root first, so a released handle is
//! an error before anything else happens; every heap access goes through
//! kiln-gc's bounds-checked API, so a corrupted heap is an error too.

mod anyref;
mod arrayref;
mod eqref;
mod exnref;
mod externref;
mod fields;
mod gc_oom;
mod i31;
pub(crate) mod rooting;
mod structref;

pub use anyref::AnyRef;
pub use arrayref::{ArrayRef, ArrayRefPre};
pub use eqref::EqRef;
pub use exnref::{ExnRef, ExnRefPre, ExnType, ThrownException};
pub use externref::ExternRef;
pub use gc_oom::GcHeapOutOfMemory;
pub use i31::I31;
pub use rooting::{GcRef, OwnedRooted, RootScope, Rooted, RootedGcRef};
pub use structref::{StructRef, StructRefPre};

use crate::store::StoreOpaque;
use crate::types::HeapType;
use anyhow::{Result, anyhow};
use kiln_environ::VMGcKind;
use kiln_gc::VMGcRef;

impl StoreOpaque {
    /// What the non-null reference `raw` is.
    pub(crate) fn gc_ref_kind(&self, raw: u32) -> Result<VMGcKind> {
        let r = VMGcRef::from_raw_u32(raw).ok_or_else(|| anyhow!("null reference"))?;
        if r.is_i31() {
            return Ok(VMGcKind::I31Ref);
        }
        let gc = self.gc.as_ref().ok_or_else(|| anyhow!("reference into a GC heap that does not exist"))?;
        gc.heap.header(&r)?.kind().ok_or_else(|| anyhow!("GC object with a corrupted header"))
    }

    /// The engine type id of the struct, array or exception `raw`.
    pub(crate) fn gc_ref_type_id(&self, raw: u32) -> Result<Option<u32>> {
        let r = VMGcRef::from_raw_u32(raw).filter(|r| !r.is_i31());
        let (Some(r), Some(gc)) = (r, self.gc.as_ref()) else { return Ok(None) };
        let header = gc.heap.header(&r)?;
        Ok(matches!(header.kind(), Some(VMGcKind::StructRef | VMGcKind::ArrayRef | VMGcKind::ExnRef)).then(|| header.type_index()))
    }

    /// Is the non-null reference `raw` of heap type `ty`?
    pub(crate) fn gc_ref_matches(&self, raw: u32, ty: HeapType) -> Result<bool> {
        let kind = self.gc_ref_kind(raw)?;
        Ok(match ty {
            HeapType::Any => kind != VMGcKind::ExnRef,
            HeapType::Extern => kind != VMGcKind::ExnRef,
            HeapType::Eq => kind.matches(VMGcKind::EqRef),
            HeapType::I31 => kind == VMGcKind::I31Ref,
            HeapType::Struct => kind == VMGcKind::StructRef,
            HeapType::Array => kind == VMGcKind::ArrayRef,
            HeapType::Exn => kind == VMGcKind::ExnRef,
            HeapType::Concrete(id) => self.gc_ref_type_id(raw)?.is_some_and(|t| self.engine().inner.types.is_subtype(t, id)),
            HeapType::None | HeapType::NoExtern | HeapType::NoExn | HeapType::Func | HeapType::NoFunc => false,
        })
    }
}
