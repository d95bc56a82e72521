//! Evaluation of constant expressions during instantiation.
//!
//! GC allocations (`struct.new`, `array.new*`) allocate in the store's heap
//! and write their fields through the heap's bounds-checked API.

use crate::store::StoreOpaque;
use crate::vm::ValRaw;
use crate::vm::instance::Instance;
use anyhow::{Result, anyhow, bail};
use kiln_environ::gc_layout::{self, GcArrayLayout};
use kiln_environ::{ConstExpr, ConstOp, RefRepr, WasmCompositeType, WasmFieldType, WasmStorageType, WasmValType};
use kiln_gc::VMGcRef;

/// Evaluates `expr` in the context of a partially initialised instance:
/// `global.get` reads globals already set, `ref.func` the instance's
/// function references. `store` is needed only by GC allocations.
pub fn eval(instance: &Instance, expr: &ConstExpr, mut store: Option<&mut StoreOpaque>) -> Result<ValRaw> {
    let mut stack: Vec<ValRaw> = Vec::with_capacity(2);
    let pop = |stack: &mut Vec<ValRaw>| stack.pop().expect("validated constant expression");
    for op in expr.ops.iter() {
        let v = match *op {
            ConstOp::I32Const(v) => ValRaw::from_u32(v as u32),
            ConstOp::I64Const(v) => ValRaw::from_u64(v as u64),
            ConstOp::F32Const(v) => ValRaw::from_u32(v),
            ConstOp::F64Const(v) => ValRaw::from_u64(v),
            ConstOp::V128Const(v) => ValRaw::from_u128(v),
            ConstOp::RefNull(_) => ValRaw::from_u64(0),
            ConstOp::RefFunc(f) => ValRaw::from_u64(instance.func_ref(f) as u64),
            ConstOp::GlobalGet(g) => {
                let cell = instance.global(g);
                if cell.is_null() {
                    bail!("constant expression reads global {g} before it is initialised");
                }
                // SAFETY: non-null global slots point at cells owned by the store.
                unsafe { *cell }
            }
            ConstOp::I32Add | ConstOp::I32Sub | ConstOp::I32Mul => {
                let (b, a) = (pop(&mut stack).u32(), pop(&mut stack).u32());
                ValRaw::from_u32(match op {
                    ConstOp::I32Add => a.wrapping_add(b),
                    ConstOp::I32Sub => a.wrapping_sub(b),
                    _ => a.wrapping_mul(b),
                })
            }
            ConstOp::I64Add | ConstOp::I64Sub | ConstOp::I64Mul => {
                let (b, a) = (pop(&mut stack).u64(), pop(&mut stack).u64());
                ValRaw::from_u64(match op {
                    ConstOp::I64Add => a.wrapping_add(b),
                    ConstOp::I64Sub => a.wrapping_sub(b),
                    _ => a.wrapping_mul(b),
                })
            }
            ConstOp::RefI31 => ValRaw::from_u32(VMGcRef::from_i31(pop(&mut stack).u32() as i32).as_raw_u32()),
            // Extern and any references share one representation.
            ConstOp::AnyConvertExtern | ConstOp::ExternConvertAny => pop(&mut stack),
            ConstOp::StructNew(t) | ConstOp::StructNewDefault(t) => {
                let store = store.as_deref_mut().ok_or_else(|| anyhow!("GC allocation outside instantiation"))?;
                let fields = struct_fields(instance, t);
                let values = if matches!(op, ConstOp::StructNew(_)) { stack.split_off(stack.len() - fields.len()) } else { Vec::new() };
                new_struct(store, instance, t, &fields, &values)?
            }
            ConstOp::ArrayNew(t) | ConstOp::ArrayNewDefault(t) | ConstOp::ArrayNewFixed(t, _) => {
                let store = store.as_deref_mut().ok_or_else(|| anyhow!("GC allocation outside instantiation"))?;
                let elems = match *op {
                    ConstOp::ArrayNew(_) => {
                        let len = pop(&mut stack).u32();
                        ArrayElems::Repeat(pop(&mut stack), len)
                    }
                    ConstOp::ArrayNewDefault(_) => ArrayElems::Default(pop(&mut stack).u32()),
                    ConstOp::ArrayNewFixed(_, n) => ArrayElems::Values(stack.split_off(stack.len() - n as usize)),
                    _ => unreachable!(),
                };
                new_array(store, instance, t, elems)?
            }
        };
        stack.push(v);
    }
    Ok(stack.pop().expect("validated constant expression yields a value"))
}

fn struct_fields(instance: &Instance, t: u32) -> Vec<WasmFieldType> {
    match &instance.module.info().types[t as usize].composite {
        WasmCompositeType::Struct(fields) => fields.to_vec(),
        other => unreachable!("validated struct type, found {other:?}"),
    }
}

/// The bytes a field of `storage` holds for `raw` (funcrefs become ids).
fn field_bytes(store: &mut StoreOpaque, instance: &Instance, storage: WasmStorageType, raw: ValRaw) -> Vec<u8> {
    let info = instance.module.info();
    let (size, _) = gc_layout::storage_size(storage, &|r| info.ref_repr(r));
    let raw = match storage {
        WasmStorageType::Val(WasmValType::Ref(r)) if info.ref_repr(r) == RefRepr::FuncRef => ValRaw::from_u32(store.func_ref_id(raw.u64() as usize)),
        _ => raw,
    };
    raw.0[..size as usize].to_vec()
}

fn new_struct(store: &mut StoreOpaque, instance: &Instance, t: u32, fields: &[WasmFieldType], values: &[ValRaw]) -> Result<ValRaw> {
    let info = instance.module.info();
    let layout = gc_layout::struct_layout(fields, &|r| info.ref_repr(r));
    let type_id = instance.module.type_ids()[t as usize];
    let r = store.gc_alloc(false, |heap| heap.alloc_uninit_struct(type_id))?;
    for ((field, place), raw) in fields.iter().zip(layout.fields.iter()).zip(values) {
        let bytes = field_bytes(store, instance, field.storage, *raw);
        store.gc_store()?.heap.write_data(&r, place.offset, &bytes)?;
    }
    Ok(ValRaw::from_u32(r.as_raw_u32()))
}

/// The elements of an array a constant expression creates. The length of
/// `Repeat` and `Default` is guest-chosen: nothing proportional to it is
/// allocated on the host.
enum ArrayElems {
    Repeat(ValRaw, u32),
    Default(u32),
    Values(Vec<ValRaw>),
}

fn new_array(store: &mut StoreOpaque, instance: &Instance, t: u32, elems: ArrayElems) -> Result<ValRaw> {
    let info = instance.module.info();
    let WasmCompositeType::Array(elem) = &info.types[t as usize].composite else { unreachable!("validated array type") };
    let layout: GcArrayLayout = gc_layout::array_layout(elem, &|r| info.ref_repr(r));
    let len = match &elems {
        ArrayElems::Repeat(_, len) | ArrayElems::Default(len) => *len,
        ArrayElems::Values(v) => u32::try_from(v.len()).map_err(|_| crate::Trap::AllocationTooLarge)?,
    };
    if layout.size_for_len(len).is_none() {
        return Err(crate::Trap::AllocationTooLarge.into());
    }
    let type_id = instance.module.type_ids()[t as usize];
    let r = store.gc_alloc(false, |heap| heap.alloc_uninit_array(type_id, len))?;
    match elems {
        ArrayElems::Default(_) => {}
        ArrayElems::Values(values) => {
            let mut bytes = Vec::with_capacity(values.len() * layout.elem_size as usize);
            for raw in values {
                bytes.extend(field_bytes(store, instance, elem.storage, raw));
            }
            store.gc_store()?.heap.write_data(&r, layout.base, &bytes)?;
        }
        ArrayElems::Repeat(init, len) => {
            // Written a bounded chunk at a time; the heap already holds the
            // whole array, so its size was within the heap's limit.
            let one = field_bytes(store, instance, elem.storage, init);
            const CHUNK_ELEMS: u32 = 4096;
            let chunk: Vec<u8> = one.iter().copied().cycle().take(one.len() * CHUNK_ELEMS.min(len).max(1) as usize).collect();
            let mut done = 0u32;
            while done < len {
                let n = CHUNK_ELEMS.min(len - done);
                let offset = u32::try_from(layout.elem_offset(done)).map_err(|_| crate::Trap::AllocationTooLarge)?;
                store.gc_store()?.heap.write_data(&r, offset, &chunk[..n as usize * one.len()])?;
                done += n;
            }
        }
    }
    Ok(ValRaw::from_u32(r.as_raw_u32()))
}
