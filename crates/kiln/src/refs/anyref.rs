//! `AnyRef`: a reference in the `any` hierarchy (an i31, a struct, an
//! array, or a host reference converted with `any.convert_extern`).

use super::rooting::{gc_ref_type, upcasts};
use super::{ArrayRef, EqRef, ExternRef, I31, Rooted, StructRef};
use crate::store::{AsContext, AsContextMut, StoreOpaque};
use crate::types::HeapType;
use anyhow::{Result, anyhow};
use kiln_environ::VMGcKind;

gc_ref_type!(
    /// A reference in the `any` hierarchy; see the module docs.
    AnyRef
);

upcasts!(EqRef => AnyRef, StructRef => AnyRef, ArrayRef => AnyRef);

impl AnyRef {
    /// The `i31ref` holding `value`.
    pub fn from_i31(mut store: impl AsContextMut, value: I31) -> Rooted<AnyRef> {
        AnyRef::from_i31_in(&store.as_context_mut(), value)
    }

    /// An i31 needs no root: the handle holds its bits.
    pub(crate) fn from_i31_in(_store: &StoreOpaque, value: I31) -> Rooted<AnyRef> {
        Rooted::from_root(crate::gc::RootIndex::I31(value.to_raw()))
    }

    /// `any.convert_extern`: the same reference, seen in the any hierarchy.
    pub fn convert_extern(store: impl AsContextMut, externref: Rooted<ExternRef>) -> Result<Rooted<AnyRef>> {
        store.as_context().gc_ref_raw(&*externref)?;
        Ok(externref.cast())
    }

    fn kind(&self, store: impl AsContext) -> Result<VMGcKind> {
        let cx = store.as_context();
        cx.gc_ref_kind(cx.gc_ref_raw(self)?)
    }

    /// This reference's type: `i31`, its struct or array type, or `any`
    /// for a converted host reference.
    pub fn ty(&self, store: impl AsContext) -> Result<HeapType> {
        let cx = store.as_context();
        let raw = cx.gc_ref_raw(self)?;
        Ok(match cx.gc_ref_kind(raw)? {
            VMGcKind::I31Ref => HeapType::I31,
            VMGcKind::StructRef | VMGcKind::ArrayRef => HeapType::Concrete(cx.gc_ref_type_id(raw)?.expect("structs and arrays have types")),
            _ => HeapType::Any,
        })
    }

    /// Is this reference of type `ty` (with subtyping)?
    pub fn matches_ty(&self, store: impl AsContext, ty: &HeapType) -> Result<bool> {
        let cx = store.as_context();
        cx.gc_ref_matches(cx.gc_ref_raw(self)?, *ty)
    }

    pub fn is_i31(&self, store: impl AsContext) -> Result<bool> {
        Ok(self.kind(store)? == VMGcKind::I31Ref)
    }

    pub fn as_i31(&self, store: impl AsContext) -> Result<Option<I31>> {
        self.as_i31_in(&store.as_context())
    }

    pub(crate) fn as_i31_in(&self, store: &StoreOpaque) -> Result<Option<I31>> {
        Ok(I31::from_raw(store.gc_ref_raw(self)?))
    }

    pub fn unwrap_i31(&self, store: impl AsContext) -> Result<I31> {
        self.as_i31(store)?.ok_or_else(|| anyhow!("anyref is not an i31"))
    }

    /// Is this an `eqref` (an i31, a struct or an array)?
    pub fn is_eqref(&self, store: impl AsContext) -> Result<bool> {
        Ok(self.kind(store)?.matches(VMGcKind::EqRef))
    }

    pub fn as_eqref(&self, store: impl AsContext) -> Result<Option<Rooted<EqRef>>> {
        Ok(self.is_eqref(store)?.then(|| Rooted::from_root(self.root)))
    }

    pub fn unwrap_eqref(&self, store: impl AsContext) -> Result<Rooted<EqRef>> {
        self.as_eqref(store)?.ok_or_else(|| anyhow!("anyref is not an eqref"))
    }

    pub fn is_struct(&self, store: impl AsContext) -> Result<bool> {
        Ok(self.kind(store)? == VMGcKind::StructRef)
    }

    pub fn as_struct(&self, store: impl AsContext) -> Result<Option<Rooted<StructRef>>> {
        Ok(self.is_struct(store)?.then(|| Rooted::from_root(self.root)))
    }

    pub fn unwrap_struct(&self, store: impl AsContext) -> Result<Rooted<StructRef>> {
        self.as_struct(store)?.ok_or_else(|| anyhow!("anyref is not a struct"))
    }

    pub fn is_array(&self, store: impl AsContext) -> Result<bool> {
        Ok(self.kind(store)? == VMGcKind::ArrayRef)
    }

    pub fn as_array(&self, store: impl AsContext) -> Result<Option<Rooted<ArrayRef>>> {
        Ok(self.is_array(store)?.then(|| Rooted::from_root(self.root)))
    }

    pub fn unwrap_array(&self, store: impl AsContext) -> Result<Rooted<ArrayRef>> {
        self.as_array(store)?.ok_or_else(|| anyhow!("anyref is not an array"))
    }
}
