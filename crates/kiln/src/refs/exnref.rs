//! `ExnRef`: a reference to an exception object (its tag and payload),
//! and the store's *pending exception*, through which exceptions cross
//! between Wasm and the host.
//!
//! An exception Wasm throws and nothing in the activation catches becomes
//! the store's pending exception, and the call returns a
//! [`ThrownException`] error; [`Store::take_pending_exception`] hands it
//! to the host. A host function throws by setting the pending exception
//! ([`Store::throw`] and its `Caller`/`StoreContextMut` twins) and
//! returning the `ThrownException` error: Wasm's handlers catch it as any
//! exception.
//!
//! [`Store::take_pending_exception`]: crate::Store::take_pending_exception
//! [`Store::throw`]: crate::Store::throw

use super::Rooted;
use super::rooting::gc_ref_type;
use crate::externals::Tag;
use crate::store::{AsContext, AsContextMut, StoreOpaque};
use crate::types::{FuncType, TagType};
use crate::values::Val;
use anyhow::{Result, anyhow, bail};
use kiln_environ::WasmStorageType;
use kiln_gc::VMGcRef;

gc_ref_type!(
    /// A reference to an exception; see the module docs.
    ExnRef
);

/// The error of a call that ended with an exception: the store holds it
/// as its pending exception.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrownException;

impl std::fmt::Display for ThrownException {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("uncaught exception: a Wasm exception was thrown and not caught (the store holds it as its pending exception)")
    }
}

impl std::error::Error for ThrownException {}

/// The type of exceptions of one tag type.
#[derive(Debug, Clone)]
pub struct ExnType {
    payload: FuncType,
}

impl ExnType {
    /// The type of exceptions thrown with tags of type `ty`.
    pub fn from_tag_type(ty: &TagType) -> Result<ExnType> {
        if !ty.ty().results().is_empty() {
            bail!("a tag's function type must have no results");
        }
        Ok(ExnType { payload: ty.ty().clone() })
    }

    /// The payload's value types.
    pub fn fields(&self) -> &[crate::ValType] {
        self.payload.params()
    }
}

/// Allocates exceptions of one type in one store.
pub struct ExnRefPre {
    store: u64,
    ty: ExnType,
}

impl ExnRefPre {
    pub fn new(store: impl AsContextMut, ty: ExnType) -> ExnRefPre {
        ExnRefPre { store: store.as_context().id(), ty }
    }
}

impl ExnRef {
    /// A new exception with `tag` (whose type must be the allocator's)
    /// and payload `fields`.
    pub fn new(mut store: impl AsContextMut, allocator: &ExnRefPre, tag: &Tag, fields: &[Val]) -> Result<Rooted<ExnRef>> {
        let mut cx = store.as_context_mut();
        if allocator.store != cx.id() {
            bail!("an ExnRefPre was used with a store other than the one that made it");
        }
        let tag_ty = tag.ty(&cx);
        if tag_ty.ty() != &allocator.ty.payload {
            bail!("the tag's type {} is not the exception type's {}", tag_ty.ty(), allocator.ty.payload);
        }
        let params = tag_ty.ty().params();
        if fields.len() != params.len() {
            bail!("the tag's payload has {} values, but {} were given", params.len(), fields.len());
        }
        let mut payload = Vec::with_capacity(fields.len());
        for (i, (v, t)) in fields.iter().zip(params).enumerate() {
            if !v.matches_in(&cx, t)? {
                bail!("payload value {i} type mismatch: expected {t}, got {v:?}");
            }
            payload.push(v.to_raw(&cx)?);
        }
        let tag_index = tag.index_in(&cx);
        // SAFETY: one slot per parameter of the tag's type (checked above).
        let r = unsafe { crate::vm::gc_builtins::new_exception_in(&mut cx, tag_index, payload.as_ptr())? };
        cx.root_new_object(r)
    }

    /// The tag this exception was thrown with.
    pub fn tag(&self, store: impl AsContext) -> Result<Tag> {
        let cx = store.as_context();
        let (_, index) = exception_tag(&cx, self)?;
        Ok(Tag::from_index(&cx, index))
    }

    /// Payload value `index`.
    pub fn field(&self, mut store: impl AsContextMut, index: usize) -> Result<Val> {
        let mut cx = store.as_context_mut();
        let (r, tag) = exception_tag(&cx, self)?;
        let (layout, _, params) = cx.exception_layout(tag).ok_or_else(|| anyhow!("exception with a corrupted tag"))?;
        let (Some(field), Some(t)) = (layout.fields.get(index + 1), params.get(index)) else {
            bail!("the exception's payload has {} values; there is no value {index}", params.len());
        };
        cx.read_field_value(&r, field.offset, WasmStorageType::Val(*t))
    }

    /// The whole payload, in order.
    pub fn fields(&self, mut store: impl AsContextMut) -> Result<std::vec::IntoIter<Val>> {
        let mut cx = store.as_context_mut();
        let (r, tag) = exception_tag(&cx, self)?;
        let (layout, _, params) = cx.exception_layout(tag).ok_or_else(|| anyhow!("exception with a corrupted tag"))?;
        let values: Result<Vec<Val>> = layout.fields[1..].iter().zip(&params).map(|(field, t)| cx.read_field_value(&r, field.offset, WasmStorageType::Val(*t))).collect();
        Ok(values?.into_iter())
    }
}

/// Exception `exn`'s object and tag index.
fn exception_tag(store: &StoreOpaque, exn: &ExnRef) -> Result<(VMGcRef, usize)> {
    let raw = store.gc_ref_raw(exn)?;
    let (r, tag) = crate::vm::gc_builtins::exception_tag(store, raw).ok_or_else(|| anyhow!("not an exception object"))?;
    if tag as usize >= store.tags.len() {
        bail!("exception with a corrupted tag");
    }
    Ok((r, tag as usize))
}

impl StoreOpaque {
    /// Makes `exn` the pending exception; the error to return from a
    /// host function to throw it.
    pub(crate) fn throw_exception<R>(&mut self, exn: Rooted<ExnRef>) -> Result<R, ThrownException> {
        let raw = self.gc_ref_raw(&*exn).unwrap_or_else(|e| panic!("throwing an exception: {e}"));
        self.set_pending_exception(raw).unwrap_or_else(|e| panic!("throwing an exception: {e}"));
        Err(ThrownException)
    }

    /// Takes the pending exception, rooted in the innermost scope.
    pub(crate) fn take_pending_exception(&mut self) -> Option<Rooted<ExnRef>> {
        let raw = self.gc_host_roots.pending_exception()?.as_raw_u32();
        let rooted = Rooted::new(self, raw).ok();
        // A failure (a corrupted heap) leaves it pending.
        let _ = self.set_pending_exception(0);
        rooted
    }

    pub(crate) fn has_pending_exception(&self) -> bool {
        self.gc_host_roots.pending_exception().is_some()
    }

    /// Takes the pending exception for Wasm code to catch: its reference
    /// goes on the Wasm stack (the collector's record of it).
    pub(crate) fn take_pending_exception_for_wasm(&mut self) -> Result<u32> {
        let raw = self.gc_host_roots.pending_exception().ok_or_else(|| anyhow!("a host function returned ThrownException without setting a pending exception (use `throw`)"))?.as_raw_u32();
        crate::gc::RefBarriers::of(&mut self.gc).expose(raw)?;
        self.set_pending_exception(0)?;
        Ok(raw)
    }

    /// Records the exception `exn` that left Wasm uncaught as pending,
    /// and gives the error the host caller gets.
    pub(crate) fn exception_to_error(&mut self, exn: u32) -> anyhow::Error {
        match self.set_pending_exception(exn) {
            Ok(()) => anyhow::Error::new(ThrownException),
            Err(e) => e.context("recording an uncaught exception"),
        }
    }
}
