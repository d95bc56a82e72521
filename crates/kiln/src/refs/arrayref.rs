//! `ArrayRef`: a reference to an array object, and `ArrayRefPre`, the
//! host's allocator of one array type.

use super::rooting::gc_ref_type;
use super::{AnyRef, EqRef, Rooted};
use crate::gc_types::ArrayType;
use crate::store::{AsContext, AsContextMut, StoreOpaque};
use crate::values::Val;
use anyhow::{Result, anyhow, bail};
use kiln_environ::{WasmCompositeType, WasmFieldType};
use kiln_gc::{GcArrayLayout, GcLayout, VMGcRef};

gc_ref_type!(
    /// A reference to an array; see the module docs.
    ArrayRef
);

/// Allocates arrays of one type in one store.
pub struct ArrayRefPre {
    store: u64,
    ty: ArrayType,
}

impl ArrayRefPre {
    pub fn new(store: impl AsContextMut, ty: ArrayType) -> ArrayRefPre {
        ArrayRefPre { store: store.as_context().id(), ty }
    }
}

/// An array object's reference, layout, element type and length.
struct ArrayParts {
    r: VMGcRef,
    layout: GcArrayLayout,
    elem: WasmFieldType,
    len: u32,
}

fn array_parts(store: &StoreOpaque, raw: u32) -> Result<ArrayParts> {
    let type_id = store.gc_ref_type_id(raw)?.ok_or_else(|| anyhow!("not an array"))?;
    let ty = store.engine().inner.types.get(type_id);
    let (WasmCompositeType::Array(elem), Some(GcLayout::Array(layout))) = (&ty.composite, crate::gc::engine_gc_layout(store.engine(), type_id)) else {
        bail!("not an array");
    };
    let r = VMGcRef::from_raw_u32(raw).expect("roots are not null");
    let len = store.gc.as_ref().expect("arrays live in the heap").heap.array_len(&r)?;
    Ok(ArrayParts { r, layout, elem: *elem, len })
}

impl ArrayParts {
    fn offset(&self, index: u32) -> Result<u32> {
        if index >= self.len {
            bail!("array index {index} out of bounds for an array of length {}", self.len);
        }
        Ok(u32::try_from(self.layout.elem_offset(index))?)
    }
}

impl ArrayRef {
    /// A new array of `len` copies of `elem`.
    pub fn new(mut store: impl AsContextMut, allocator: &ArrayRefPre, elem: &Val, len: u32) -> Result<Rooted<ArrayRef>> {
        let mut cx = store.as_context_mut();
        let (rooted, parts) = allocate(&mut cx, allocator, std::slice::from_ref(elem), len)?;
        let bytes = cx.field_bytes(parts.elem.storage, elem)?;
        if cx.fill_elements(&parts.r, &parts.layout, 0, &bytes, len) != crate::vm::gc_builtins::OK {
            bail!("filling a new array failed: a corrupted GC heap");
        }
        Ok(rooted)
    }

    /// A new array holding `elems`.
    pub fn new_fixed(mut store: impl AsContextMut, allocator: &ArrayRefPre, elems: &[Val]) -> Result<Rooted<ArrayRef>> {
        let mut cx = store.as_context_mut();
        let len = u32::try_from(elems.len()).map_err(|_| anyhow!("an array holds at most 2^32 - 1 elements"))?;
        let (rooted, parts) = allocate(&mut cx, allocator, elems, len)?;
        for (i, v) in (0..len).zip(elems) {
            cx.write_field_value(&parts.r, parts.offset(i)?, parts.elem.storage, v)?;
        }
        Ok(rooted)
    }

    pub fn len(&self, store: impl AsContext) -> Result<u32> {
        let cx = store.as_context();
        Ok(array_parts(&cx, cx.gc_ref_raw(self)?)?.len)
    }

    /// This array's type.
    pub fn ty(&self, store: impl AsContext) -> Result<ArrayType> {
        let cx = store.as_context();
        let type_id = cx.gc_ref_type_id(cx.gc_ref_raw(self)?)?.ok_or_else(|| anyhow!("not an array"))?;
        Ok(ArrayType::from_id(cx.engine(), type_id))
    }

    /// Is this array of type `ty` (or a subtype)?
    pub fn matches_ty(&self, store: impl AsContext, ty: &ArrayType) -> Result<bool> {
        Ok(self.ty(store)?.matches(ty))
    }

    /// Element `index` (packed elements zero-extended).
    pub fn get(&self, mut store: impl AsContextMut, index: u32) -> Result<Val> {
        let mut cx = store.as_context_mut();
        let parts = array_parts(&cx, cx.gc_ref_raw(self)?)?;
        cx.read_field_value(&parts.r, parts.offset(index)?, parts.elem.storage)
    }

    /// Every element, in order.
    pub fn elems(&self, mut store: impl AsContextMut) -> Result<std::vec::IntoIter<Val>> {
        let mut cx = store.as_context_mut();
        let parts = array_parts(&cx, cx.gc_ref_raw(self)?)?;
        let values: Result<Vec<Val>> = (0..parts.len).map(|i| cx.read_field_value(&parts.r, parts.offset(i)?, parts.elem.storage)).collect();
        Ok(values?.into_iter())
    }

    /// Sets element `index` of a mutable array (packed elements wrap).
    pub fn set(&self, mut store: impl AsContextMut, index: u32, value: Val) -> Result<()> {
        let mut cx = store.as_context_mut();
        let parts = array_parts(&cx, cx.gc_ref_raw(self)?)?;
        if !parts.elem.mutable {
            bail!("array is immutable");
        }
        cx.check_field_value(parts.elem.storage, &value)?;
        cx.write_field_value(&parts.r, parts.offset(index)?, parts.elem.storage, &value)
    }
}

/// Checks `values` against `allocator`'s element type and allocates a
/// zeroed array of `len` elements.
fn allocate(store: &mut StoreOpaque, allocator: &ArrayRefPre, values: &[Val], len: u32) -> Result<(Rooted<ArrayRef>, ArrayParts)> {
    if allocator.store != store.id() {
        bail!("an ArrayRefPre was used with a store other than the one that made it");
    }
    let elem = allocator.ty.field_type().to_wasm();
    for v in values {
        store.check_field_value(elem.storage, v)?;
    }
    let type_id = allocator.ty.id();
    let Some(GcLayout::Array(layout)) = crate::gc::engine_gc_layout(store.engine(), type_id) else { bail!("not an array type") };
    let (rooted, r) = store.alloc_for_host(layout.base, |heap| heap.alloc_uninit_array(type_id, len))?;
    Ok((rooted, ArrayParts { r, layout, elem, len }))
}

impl Rooted<ArrayRef> {
    pub fn to_anyref(self) -> Rooted<AnyRef> {
        self.into()
    }

    pub fn to_eqref(self) -> Rooted<EqRef> {
        self.into()
    }
}
