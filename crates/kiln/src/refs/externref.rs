//! `ExternRef`: a reference to host data, as Wasm's `externref` (an
//! object in the store's GC heap holding an id into its host-data table),
//! or any reference converted with `extern.convert_any`.

use super::rooting::gc_ref_type;
use super::{AnyRef, Rooted};
use crate::store::{AsContextMut, StoreContext, StoreContextMut, StoreOpaque};
use anyhow::{Context as _, Result};
use kiln_gc::VMGcRef;
use std::any::Any;

gc_ref_type!(
    /// An `externref`; see the module docs.
    ExternRef
);

impl ExternRef {
    /// Wraps `value` in a new externref owned by `store`.
    ///
    /// Fails (dropping `value`) when the store's GC heap cannot hold
    /// another object, even after a collection and growing to its limit.
    pub fn new<T: Any + Send + Sync>(mut store: impl AsContextMut, value: T) -> Result<Rooted<ExternRef>> {
        let mut cx = store.as_context_mut();
        let id = cx.gc_store()?.host_data.insert(Box::new(value))?;
        let allocated = cx.gc_alloc(|heap| heap.alloc_externref(id));
        cx.resume_host_data_drop_panic();
        match allocated {
            Ok(r) => cx.root_new_object(r),
            Err(e) => {
                // No object refers to the value: it goes with the error.
                let value = cx.gc_store()?.host_data.remove(id);
                drop(value);
                Err(e.context("allocating an externref"))
            }
        }
    }

    /// `extern.convert_any`: the same reference, seen as an externref.
    pub fn convert_any(store: impl AsContextMut, anyref: Rooted<AnyRef>) -> Result<Rooted<ExternRef>> {
        store.as_context().gc_ref_raw(&*anyref)?;
        Ok(anyref.cast())
    }

    /// The host value this reference wraps; `None` for a converted
    /// `anyref`, which wraps none.
    pub fn data<'a, T: 'a>(&self, store: impl Into<StoreContext<'a, T>>) -> Result<Option<&'a (dyn Any + Send + Sync)>> {
        let cx: StoreContext<'a, T> = store.into();
        let opaque: &'a StoreOpaque = &cx.0.opaque;
        let Some(id) = host_data_id(opaque, self)? else { return Ok(None) };
        let gc = opaque.gc.as_ref().expect("an externref object lives in the heap");
        Ok(Some(gc.host_data.get(id)?))
    }

    /// The host value this reference wraps, mutably; `None` for a
    /// converted `anyref`.
    pub fn data_mut<'a, T: 'a>(&self, store: impl Into<StoreContextMut<'a, T>>) -> Result<Option<&'a mut (dyn Any + Send + Sync)>> {
        let cx: StoreContextMut<'a, T> = store.into();
        let opaque: &'a mut StoreOpaque = &mut cx.0.opaque;
        let Some(id) = host_data_id(opaque, self)? else { return Ok(None) };
        let gc = opaque.gc.as_mut().expect("an externref object lives in the heap");
        Ok(Some(gc.host_data.get_mut(id)?))
    }
}

/// The host-data id `r` wraps, if it is an externref object.
fn host_data_id(store: &StoreOpaque, r: &ExternRef) -> Result<Option<kiln_gc::HostDataId>> {
    let raw = store.gc_ref_raw(r)?;
    if store.gc_ref_kind(raw)? != kiln_environ::VMGcKind::ExternRef {
        return Ok(None);
    }
    let gc = store.gc.as_ref().expect("objects live in the heap");
    let object = VMGcRef::from_raw_u32(raw).expect("roots are not null");
    gc.heap.externref_host_data_id(&object).map(Some).context("reading an externref's host data id")
}

impl StoreOpaque {
    /// Roots a new allocation `r`, whose count (the allocation's) the
    /// root takes over.
    pub(crate) fn root_new_object<T: super::GcRef>(&mut self, r: VMGcRef) -> Result<Rooted<T>> {
        let rooted = Rooted::new(self, r.as_raw_u32());
        crate::gc::RefBarriers::of(&mut self.gc).drop_ref(r.as_raw_u32())?;
        rooted
    }
}
