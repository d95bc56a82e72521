//! `StructRef`: a reference to a struct object, and `StructRefPre`, the
//! host's allocator of one struct type.

use super::rooting::gc_ref_type;
use super::{AnyRef, EqRef, Rooted};
use crate::gc_types::StructType;
use crate::store::{AsContext, AsContextMut, StoreOpaque};
use crate::values::Val;
use anyhow::{Result, anyhow, bail};
use kiln_environ::{WasmCompositeType, WasmFieldType};
use kiln_gc::{GcLayout, GcStructLayout, VMGcRef};

gc_ref_type!(
    /// A reference to a struct; see the module docs.
    StructRef
);

/// Allocates structs of one type in one store.
pub struct StructRefPre {
    store: u64,
    ty: StructType,
}

impl StructRefPre {
    pub fn new(store: impl AsContextMut, ty: StructType) -> StructRefPre {
        StructRefPre { store: store.as_context().id(), ty }
    }
}

/// A struct object's reference, layout and field types.
struct StructParts {
    r: VMGcRef,
    layout: GcStructLayout,
    fields: Box<[WasmFieldType]>,
}

fn struct_parts(store: &StoreOpaque, raw: u32) -> Result<StructParts> {
    let type_id = store.gc_ref_type_id(raw)?.ok_or_else(|| anyhow!("not a struct"))?;
    let ty = store.engine().inner.types.get(type_id);
    let (WasmCompositeType::Struct(fields), Some(GcLayout::Struct(layout))) = (&ty.composite, crate::gc::engine_gc_layout(store.engine(), type_id)) else {
        bail!("not a struct");
    };
    Ok(StructParts { r: VMGcRef::from_raw_u32(raw).expect("roots are not null"), layout, fields: fields.clone() })
}

impl StructRef {
    /// A new struct of `allocator`'s type with `fields`' values.
    pub fn new(mut store: impl AsContextMut, allocator: &StructRefPre, fields: &[Val]) -> Result<Rooted<StructRef>> {
        let mut cx = store.as_context_mut();
        if allocator.store != cx.id() {
            bail!("a StructRefPre was used with a store other than the one that made it");
        }
        let field_types: Vec<WasmFieldType> = allocator.ty.fields().map(|f| f.to_wasm()).collect();
        if fields.len() != field_types.len() {
            bail!("struct type has {} fields, but {} values were given", field_types.len(), fields.len());
        }
        for (f, v) in field_types.iter().zip(fields) {
            cx.check_field_value(f.storage, v)?;
        }
        let type_id = allocator.ty.id();
        let (rooted, r) = cx.alloc_for_host(kiln_environ::gc_layout::HEADER_SIZE, |heap| heap.alloc_uninit_struct(type_id))?;
        let parts = struct_parts(&cx, r.as_raw_u32())?;
        for ((f, layout), v) in field_types.iter().zip(parts.layout.fields.iter()).zip(fields) {
            cx.write_field_value(&r, layout.offset, f.storage, v)?;
        }
        Ok(rooted)
    }

    /// This struct's type.
    pub fn ty(&self, store: impl AsContext) -> Result<StructType> {
        let cx = store.as_context();
        let type_id = cx.gc_ref_type_id(cx.gc_ref_raw(self)?)?.ok_or_else(|| anyhow!("not a struct"))?;
        Ok(StructType::from_id(cx.engine(), type_id))
    }

    /// Is this struct of type `ty` (or a subtype)?
    pub fn matches_ty(&self, store: impl AsContext, ty: &StructType) -> Result<bool> {
        Ok(self.ty(store)?.matches(ty))
    }

    /// The value of field `index` (packed fields zero-extended).
    pub fn field(&self, mut store: impl AsContextMut, index: usize) -> Result<Val> {
        let mut cx = store.as_context_mut();
        let parts = struct_parts(&cx, cx.gc_ref_raw(self)?)?;
        let (f, layout) = field_at(&parts, index)?;
        cx.read_field_value(&parts.r, layout.offset, f.storage)
    }

    /// Every field's value, in order.
    pub fn fields(&self, mut store: impl AsContextMut) -> Result<std::vec::IntoIter<Val>> {
        let mut cx = store.as_context_mut();
        let parts = struct_parts(&cx, cx.gc_ref_raw(self)?)?;
        let values: Result<Vec<Val>> = parts.fields.iter().zip(parts.layout.fields.iter()).map(|(f, layout)| cx.read_field_value(&parts.r, layout.offset, f.storage)).collect();
        Ok(values?.into_iter())
    }

    /// Sets mutable field `index` to `value` (packed fields wrap).
    pub fn set_field(&self, mut store: impl AsContextMut, index: usize, value: Val) -> Result<()> {
        let mut cx = store.as_context_mut();
        let parts = struct_parts(&cx, cx.gc_ref_raw(self)?)?;
        let (f, layout) = field_at(&parts, index)?;
        if !f.mutable {
            bail!("struct field {index} is immutable");
        }
        cx.check_field_value(f.storage, &value)?;
        cx.write_field_value(&parts.r, layout.offset, f.storage, &value)
    }
}

fn field_at(parts: &StructParts, index: usize) -> Result<(WasmFieldType, kiln_environ::gc_layout::GcFieldLayout)> {
    match (parts.fields.get(index), parts.layout.fields.get(index)) {
        (Some(f), Some(layout)) => Ok((*f, *layout)),
        _ => bail!("struct has {} fields; there is no field {index}", parts.fields.len()),
    }
}

impl Rooted<StructRef> {
    pub fn to_anyref(self) -> Rooted<AnyRef> {
        self.into()
    }

    pub fn to_eqref(self) -> Rooted<EqRef> {
        self.into()
    }
}
