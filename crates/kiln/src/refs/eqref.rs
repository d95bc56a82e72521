//! `EqRef`: a reference that `ref.eq` compares (an i31, a struct or an
//! array).

use super::rooting::sealed::GcRefImpl;
use super::rooting::{gc_ref_type, upcasts};
use super::{AnyRef, ArrayRef, I31, Rooted, StructRef};
use crate::store::{AsContext, AsContextMut};
use crate::types::HeapType;
use anyhow::Result;

gc_ref_type!(
    /// An `eqref`; see the module docs.
    EqRef
);

upcasts!(StructRef => EqRef, ArrayRef => EqRef);

impl EqRef {
    /// The `i31ref` holding `value`.
    pub fn from_i31(store: impl AsContextMut, value: I31) -> Rooted<EqRef> {
        AnyRef::from_i31(store, value).cast()
    }

    fn as_any(&self) -> AnyRef {
        AnyRef::from_root(self.root)
    }

    pub fn ty(&self, store: impl AsContext) -> Result<HeapType> {
        self.as_any().ty(store)
    }

    pub fn matches_ty(&self, store: impl AsContext, ty: &HeapType) -> Result<bool> {
        self.as_any().matches_ty(store, ty)
    }

    pub fn is_i31(&self, store: impl AsContext) -> Result<bool> {
        self.as_any().is_i31(store)
    }

    pub fn as_i31(&self, store: impl AsContext) -> Result<Option<I31>> {
        self.as_any().as_i31(store)
    }

    pub fn unwrap_i31(&self, store: impl AsContext) -> Result<I31> {
        self.as_any().unwrap_i31(store)
    }

    pub fn is_struct(&self, store: impl AsContext) -> Result<bool> {
        self.as_any().is_struct(store)
    }

    pub fn as_struct(&self, store: impl AsContext) -> Result<Option<Rooted<StructRef>>> {
        self.as_any().as_struct(store)
    }

    pub fn unwrap_struct(&self, store: impl AsContext) -> Result<Rooted<StructRef>> {
        self.as_any().unwrap_struct(store)
    }

    pub fn is_array(&self, store: impl AsContext) -> Result<bool> {
        self.as_any().is_array(store)
    }

    pub fn as_array(&self, store: impl AsContext) -> Result<Option<Rooted<ArrayRef>>> {
        self.as_any().as_array(store)
    }

    pub fn unwrap_array(&self, store: impl AsContext) -> Result<Rooted<ArrayRef>> {
        self.as_any().unwrap_array(store)
    }
}

impl Rooted<EqRef> {
    pub fn to_anyref(self) -> Rooted<AnyRef> {
        self.into()
    }
}
