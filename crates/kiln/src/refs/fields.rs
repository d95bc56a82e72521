//! A GC object's fields and elements as [`Val`]s, with Wasm's rules:
//! packed integers wrap on write and zero-extend on read, references go
//! through the collector's barriers, function references are stored as
//! ids (see `gc/func_refs.rs`).

use crate::func::Func;
use crate::gc_types::StorageType;
use crate::store::StoreOpaque;
use crate::types::ValType;
use crate::values::Val;
use crate::vm::ValRaw;
use anyhow::{Result, bail};
use kiln_environ::{RefRepr, WasmStorageType, WasmValType};
use kiln_gc::VMGcRef;

/// How a field of storage type `s` is stored.
enum FieldRepr {
    /// Little-endian bytes of this size.
    Bytes(u32),
    GcRef,
    FuncRef,
}

fn field_repr(store: &StoreOpaque, s: WasmStorageType) -> FieldRepr {
    match s {
        WasmStorageType::I8 => FieldRepr::Bytes(1),
        WasmStorageType::I16 => FieldRepr::Bytes(2),
        WasmStorageType::Val(WasmValType::I32 | WasmValType::F32) => FieldRepr::Bytes(4),
        WasmStorageType::Val(WasmValType::I64 | WasmValType::F64) => FieldRepr::Bytes(8),
        WasmStorageType::Val(WasmValType::V128) => FieldRepr::Bytes(16),
        WasmStorageType::Val(WasmValType::Ref(r)) => match r.repr(&store.engine().inner.types) {
            RefRepr::FuncRef => FieldRepr::FuncRef,
            _ => FieldRepr::GcRef,
        },
    }
}

impl StoreOpaque {
    /// Fails unless `val` may be stored in a field of type `s`.
    pub(crate) fn check_field_value(&self, s: WasmStorageType, val: &Val) -> Result<()> {
        let ty = StorageType::from_wasm(s).unpack();
        if !val.matches_in(self, &ty)? {
            bail!("type mismatch: a field of type {ty} cannot hold {val:?}");
        }
        Ok(())
    }

    /// The value of the field at `offset` of object `r`, of type `s`.
    /// References read are rooted in the innermost scope.
    pub(crate) fn read_field_value(&mut self, r: &VMGcRef, offset: u32, s: WasmStorageType) -> Result<Val> {
        let heap = &self.gc.as_ref().expect("objects live in the heap").heap;
        let read_u32 = |offset| -> Result<u32> { Ok(u32::from_le_bytes(heap.read_data(r, offset, 4)?.try_into().expect("4 bytes"))) };
        match field_repr(self, s) {
            FieldRepr::Bytes(size) => {
                let mut raw = ValRaw::default();
                raw.0[..size as usize].copy_from_slice(heap.read_data(r, offset, size)?);
                Ok(Val::from_raw(self, raw, &StorageType::from_wasm(s).unpack()))
            }
            FieldRepr::GcRef => {
                let raw = read_u32(offset)?;
                let WasmStorageType::Val(t) = s else { unreachable!("references are values") };
                Ok(Val::from_raw(self, ValRaw::from_u32(raw), &ValType::from_wasm(t)))
            }
            FieldRepr::FuncRef => {
                let id = read_u32(offset)?;
                let func_ref = self.func_ref_by_id(id, None).map_err(|e| anyhow::anyhow!("{e:?}: a corrupted GC heap"))?;
                // SAFETY: ids name funcrefs of this store (checked above).
                Ok(Val::FuncRef(unsafe { Func::from_func_ref(self, func_ref) }))
            }
        }
    }

    /// Stores `val` (already checked with `check_field_value`) in the
    /// field at `offset` of object `r`, of type `s`.
    pub(crate) fn write_field_value(&mut self, r: &VMGcRef, offset: u32, s: WasmStorageType, val: &Val) -> Result<()> {
        let bytes = self.field_bytes(s, val)?;
        if let FieldRepr::GcRef = field_repr(self, s) {
            let raw = u32::from_le_bytes(bytes.try_into().expect("references are 4 bytes"));
            let crate::gc::GcStore { heap, host_data, .. } = self.gc_store()?;
            heap.write_gc_ref_field(host_data, r, offset, VMGcRef::from_raw_u32(raw).as_ref())?;
        } else {
            self.gc_store()?.heap.write_data(r, offset, &bytes)?;
        }
        Ok(())
    }

    /// `val` (already checked) as a field of type `s` stores it: packed
    /// integers truncated, a funcref as its id, a GC reference as its raw
    /// bits (which a write must put through the barriers).
    pub(crate) fn field_bytes(&mut self, s: WasmStorageType, val: &Val) -> Result<Vec<u8>> {
        let raw = val.to_raw(self)?;
        Ok(match field_repr(self, s) {
            FieldRepr::Bytes(size) => raw.0[..size as usize].to_vec(),
            FieldRepr::GcRef => raw.u32().to_le_bytes().to_vec(),
            FieldRepr::FuncRef => self.func_ref_id(raw.u64() as usize).to_le_bytes().to_vec(),
        })
    }

    /// Allocates with `alloc`, zeroes the new object from `fields_start`
    /// on (so its reference fields start null, as the write barrier
    /// expects of an old value) and roots it. Values the host will store
    /// in it are in rooted handles, which follow their objects if the
    /// allocation collects.
    pub(crate) fn alloc_for_host<T: super::GcRef>(
        &mut self,
        fields_start: u32,
        alloc: impl FnMut(&mut dyn kiln_gc::GcHeap) -> kiln_gc::Result<VMGcRef>,
    ) -> Result<(super::Rooted<T>, VMGcRef)> {
        let r = self.gc_alloc(alloc)?;
        let size = self.gc_store()?.heap.header(&r)?.size();
        zero_body(self, &r, fields_start, size)?;
        Ok((self.root_new_object(r.unchecked_copy())?, r))
    }
}

/// Zeroes `[from, to)` of object `r`, a bounded chunk at a time.
fn zero_body(store: &mut StoreOpaque, r: &VMGcRef, from: u32, to: u32) -> Result<()> {
    const CHUNK: u32 = 64 << 10;
    let zeros = vec![0u8; CHUNK.min(to.saturating_sub(from)) as usize];
    let mut at = from;
    while at < to {
        let n = CHUNK.min(to - at);
        store.gc_store()?.heap.write_data(r, at, &zeros[..n as usize])?;
        at += n;
    }
    Ok(())
}
