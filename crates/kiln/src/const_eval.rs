//! Evaluation of constant expressions during instantiation.
//!
//! GC allocations (`struct.new`, `array.new*`) allocate in the store's heap
//! and write their fields through the heap's bounds-checked API.

use crate::gc::RefBarriers;
use crate::store::StoreOpaque;
use crate::vm::ValRaw;
use crate::vm::instance::Instance;
use anyhow::{Result, anyhow, bail};
use kiln_environ::gc_layout::{self, GcArrayLayout};
use kiln_environ::{ConstExpr, ConstOp, RefRepr, WasmCompositeType, WasmFieldType, WasmStorageType, WasmValType};
use kiln_gc::VMGcRef;

/// A value on the evaluation stack, and whether it is a GC reference (so
/// it is held as a root while a later operator allocates).
#[derive(Clone, Copy)]
struct Operand {
    raw: ValRaw,
    is_gc_ref: bool,
}

impl Operand {
    fn plain(raw: ValRaw) -> Operand {
        Operand { raw, is_gc_ref: false }
    }

    fn gc_ref(r: VMGcRef) -> Operand {
        Operand { raw: ValRaw::from_u32(r.as_raw_u32()), is_gc_ref: true }
    }
}

/// The evaluation stack: constant expressions are short, and one is
/// evaluated per global at instantiation.
type Stack = smallvec::SmallVec<[Operand; 4]>;

/// Evaluates `expr` in the context of a partially initialised instance:
/// `global.get` reads globals already set, `ref.func` the instance's
/// function references. `store` is needed only by GC references, whose
/// allocations may collect: every reference on the stack is a root
/// meanwhile.
///
/// Ownership: every GC reference on the evaluation stack, and the result,
/// owns one count (see `gc/barriers.rs`); an operand stored into a new
/// object's field hands its count to the field.
#[inline]
pub fn eval(instance: &Instance, expr: &ConstExpr, store: Option<&mut StoreOpaque>) -> Result<ValRaw> {
    // Most initialisers are one constant: no stack, no call.
    match *expr.ops {
        [ConstOp::I32Const(v)] => Ok(ValRaw::from_u32(v as u32)),
        [ConstOp::I64Const(v)] => Ok(ValRaw::from_u64(v as u64)),
        [ConstOp::F32Const(v)] => Ok(ValRaw::from_u32(v)),
        [ConstOp::F64Const(v)] => Ok(ValRaw::from_u64(v)),
        [ConstOp::RefNull(_)] => Ok(ValRaw::from_u64(0)),
        _ => eval_general(instance, expr, store),
    }
}

/// [`eval`] for everything but a single constant.
fn eval_general(instance: &Instance, expr: &ConstExpr, mut store: Option<&mut StoreOpaque>) -> Result<ValRaw> {
    if let Some(r) = struct_of_numbers(instance, expr, store.as_deref_mut()) {
        return r;
    }
    let info = instance.module.info();
    let mut stack: Stack = Stack::new();
    let pop = |stack: &mut Stack| stack.pop().expect("validated constant expression").raw;
    for op in expr.ops.iter() {
        let v = match *op {
            ConstOp::I32Const(v) => Operand::plain(ValRaw::from_u32(v as u32)),
            ConstOp::I64Const(v) => Operand::plain(ValRaw::from_u64(v as u64)),
            ConstOp::F32Const(v) => Operand::plain(ValRaw::from_u32(v)),
            ConstOp::F64Const(v) => Operand::plain(ValRaw::from_u64(v)),
            ConstOp::V128Const(v) => Operand::plain(ValRaw::from_u128(v)),
            ConstOp::RefNull(_) => Operand::plain(ValRaw::from_u64(0)),
            ConstOp::RefFunc(f) => Operand::plain(ValRaw::from_u64(instance.func_ref(f) as u64)),
            ConstOp::GlobalGet(g) => {
                let cell = instance.global(g);
                if cell.is_null() {
                    bail!("constant expression reads global {g} before it is initialised");
                }
                // SAFETY: non-null global slots point at cells owned by the store.
                let raw = unsafe { *cell };
                let is_gc_ref = info.globals[g as usize].content.is_gc_heap_ref(info);
                if is_gc_ref && let Some(store) = store.as_deref_mut() {
                    // Every value on the stack owns its count.
                    RefBarriers::of(&mut store.gc).clone_ref(raw.u32())?;
                }
                Operand { raw, is_gc_ref }
            }
            ConstOp::I32Add | ConstOp::I32Sub | ConstOp::I32Mul => {
                let (b, a) = (pop(&mut stack).u32(), pop(&mut stack).u32());
                Operand::plain(ValRaw::from_u32(match op {
                    ConstOp::I32Add => a.wrapping_add(b),
                    ConstOp::I32Sub => a.wrapping_sub(b),
                    _ => a.wrapping_mul(b),
                }))
            }
            ConstOp::I64Add | ConstOp::I64Sub | ConstOp::I64Mul => {
                let (b, a) = (pop(&mut stack).u64(), pop(&mut stack).u64());
                Operand::plain(ValRaw::from_u64(match op {
                    ConstOp::I64Add => a.wrapping_add(b),
                    ConstOp::I64Sub => a.wrapping_sub(b),
                    _ => a.wrapping_mul(b),
                }))
            }
            // An i31 is not in the heap: nothing to root.
            ConstOp::RefI31 => Operand::plain(ValRaw::from_u32(VMGcRef::from_i31(pop(&mut stack).u32() as i32).as_raw_u32())),
            // Extern and any references share one representation.
            ConstOp::AnyConvertExtern | ConstOp::ExternConvertAny => stack.pop().expect("validated constant expression"),
            ConstOp::StructNew(t) | ConstOp::StructNewDefault(t) => {
                let store = store.as_deref_mut().ok_or_else(|| anyhow!("GC allocation outside instantiation"))?;
                let type_id = instance.module.type_ids()[t as usize];
                let r = alloc_rooted(store, &mut stack, |heap| heap.alloc_uninit_struct(type_id))?;
                let fields = struct_fields(instance, t);
                let given = if matches!(op, ConstOp::StructNew(_)) { fields.len() } else { 0 };
                let first = stack.len() - given;
                write_struct(store, instance, &r, fields, stack[first..].iter().map(|o| o.raw))?;
                stack.truncate(first);
                Operand::gc_ref(r)
            }
            ConstOp::ArrayNew(t) | ConstOp::ArrayNewDefault(t) | ConstOp::ArrayNewFixed(t, _) => {
                let store = store.as_deref_mut().ok_or_else(|| anyhow!("GC allocation outside instantiation"))?;
                let len = match *op {
                    ConstOp::ArrayNewFixed(_, n) => n,
                    _ => pop(&mut stack).u32(),
                };
                // Operands (the fill value, the fixed elements) stay on the
                // stack, rooted, until the array exists.
                let r = new_array(store, instance, t, len, &mut stack)?;
                let elems = match *op {
                    ConstOp::ArrayNew(_) => ArrayElems::Repeat(pop(&mut stack), len),
                    ConstOp::ArrayNewDefault(_) => ArrayElems::Default,
                    _ => ArrayElems::Values(stack.drain(stack.len() - len as usize..).map(|o| o.raw).collect()),
                };
                write_array(store, instance, t, &r, elems)?;
                Operand::gc_ref(r)
            }
        };
        stack.push(v);
    }
    Ok(stack.pop().expect("validated constant expression yields a value").raw)
}

/// `struct.new` of numeric constants, the common GC global initialiser,
/// without the evaluation stack: no operand is a reference, so nothing
/// needs rooting, and the body is built straight from the operators.
/// `None` when `expr` is anything else.
fn struct_of_numbers(instance: &Instance, expr: &ConstExpr, store: Option<&mut StoreOpaque>) -> Option<Result<ValRaw>> {
    let [operands @ .., ConstOp::StructNew(t)] = &*expr.ops else { return None };
    let number = |op: &ConstOp| match *op {
        ConstOp::I32Const(v) => Some(ValRaw::from_u32(v as u32)),
        ConstOp::I64Const(v) => Some(ValRaw::from_u64(v as u64)),
        ConstOp::F32Const(v) => Some(ValRaw::from_u32(v)),
        ConstOp::F64Const(v) => Some(ValRaw::from_u64(v)),
        _ => None,
    };
    let fields = struct_fields(instance, *t);
    if operands.len() != fields.len() || !operands.iter().all(|op| number(op).is_some()) {
        return None;
    }
    let store = store?;
    let type_id = instance.module.type_ids()[*t as usize];
    Some((|| {
        let r = store.gc_alloc(|heap| heap.alloc_uninit_struct(type_id))?;
        write_struct(store, instance, &r, fields, operands.iter().filter_map(number))?;
        Ok(ValRaw::from_u32(r.as_raw_u32()))
    })())
}

/// Allocates with every GC reference on `stack` held as a root, and
/// rewrites them where the allocation's collection moved their objects.
fn alloc_rooted(store: &mut StoreOpaque, stack: &mut [Operand], alloc: impl FnMut(&mut dyn kiln_gc::GcHeap) -> kiln_gc::Result<VMGcRef>) -> Result<VMGcRef> {
    let mut refs: Vec<u32> = stack.iter().filter(|o| o.is_gc_ref).map(|o| o.raw.u32()).collect();
    let r = store.with_roots(&mut refs, |store| store.gc_alloc(alloc));
    for (operand, raw) in stack.iter_mut().filter(|o| o.is_gc_ref).zip(refs) {
        operand.raw = ValRaw::from_u32(raw);
    }
    r
}

fn struct_fields(instance: &Instance, t: u32) -> &[WasmFieldType] {
    match &instance.module.info().types[t as usize].composite {
        WasmCompositeType::Struct(fields) => fields,
        other => unreachable!("validated struct type, found {other:?}"),
    }
}

/// The bytes a field of `storage` holds for `raw` (funcrefs become ids).
fn field_bytes(store: &mut StoreOpaque, instance: &Instance, storage: WasmStorageType, raw: ValRaw) -> Vec<u8> {
    let mut bytes = Vec::new();
    extend_field_bytes(store, instance, storage, raw, &mut bytes);
    bytes
}

fn extend_field_bytes(store: &mut StoreOpaque, instance: &Instance, storage: WasmStorageType, raw: ValRaw, out: &mut impl Extend<u8>) {
    let info = instance.module.info();
    let (size, _) = gc_layout::storage_size(storage, &|r| info.ref_repr(r));
    out.extend(stored(store, instance, storage, raw).0[..size as usize].iter().copied());
}

/// `raw` as a field of `storage` stores it: funcrefs become ids.
fn stored(store: &mut StoreOpaque, instance: &Instance, storage: WasmStorageType, raw: ValRaw) -> ValRaw {
    match storage {
        WasmStorageType::Val(WasmValType::Ref(r)) if instance.module.info().ref_repr(r) == RefRepr::FuncRef => ValRaw::from_u32(store.func_ref_id(raw.u64() as usize)),
        _ => raw,
    }
}

/// Writes the whole body of new struct `r` at once: `values` (one per
/// field, or none for `struct.new_default`), zeros elsewhere.
fn write_struct(store: &mut StoreOpaque, instance: &Instance, r: &VMGcRef, fields: &[WasmFieldType], values: impl Iterator<Item = ValRaw>) -> Result<()> {
    let info = instance.module.info();
    let ref_repr = |r| info.ref_repr(r);
    let body = gc_layout::HEADER_SIZE;
    let places = || gc_layout::struct_field_layouts(fields, &ref_repr);
    let end = places().last().map_or(body, |f| f.offset + f.size).next_multiple_of(gc_layout::OBJECT_ALIGN);
    let len = (end - body) as usize;
    // Small bodies (most) are assembled on the stack.
    let (mut small, mut large) = ([0u8; 128], Vec::new());
    let bytes: &mut [u8] = if len <= small.len() {
        &mut small[..len]
    } else {
        large.resize(len, 0);
        &mut large
    };
    for ((field, place), value) in fields.iter().zip(places()).zip(values) {
        let at = (place.offset - body) as usize;
        bytes[at..at + place.size as usize].copy_from_slice(&stored(store, instance, field.storage, value).0[..place.size as usize]);
    }
    let gc = store.gc.as_mut().expect("the struct was allocated in the heap");
    gc.heap.write_data(r, body, bytes)?;
    Ok(())
}

/// The elements of an array a constant expression creates. The length of
/// `Repeat` is guest-chosen: nothing proportional to it is allocated on
/// the host.
enum ArrayElems {
    Repeat(ValRaw, u32),
    Default,
    Values(Vec<ValRaw>),
}

fn array_layout_of(instance: &Instance, t: u32) -> (WasmFieldType, GcArrayLayout) {
    let info = instance.module.info();
    let WasmCompositeType::Array(elem) = &info.types[t as usize].composite else { unreachable!("validated array type") };
    (*elem, gc_layout::array_layout(elem, &|r| info.ref_repr(r)))
}

/// Allocates an array of type `t` and length `len`, its size checked
/// first, with the references on `stack` rooted.
fn new_array(store: &mut StoreOpaque, instance: &Instance, t: u32, len: u32, stack: &mut [Operand]) -> Result<VMGcRef> {
    let (_, layout) = array_layout_of(instance, t);
    if layout.size_for_len(len).is_none() {
        return Err(crate::Trap::AllocationTooLarge.into());
    }
    let type_id = instance.module.type_ids()[t as usize];
    alloc_rooted(store, stack, |heap| heap.alloc_uninit_array(type_id, len))
}

fn write_array(store: &mut StoreOpaque, instance: &Instance, t: u32, r: &VMGcRef, elems: ArrayElems) -> Result<()> {
    let (elem, layout) = array_layout_of(instance, t);
    match elems {
        ArrayElems::Default => {}
        ArrayElems::Values(values) => {
            let mut bytes = Vec::with_capacity(values.len() * layout.elem_size as usize);
            for raw in values {
                extend_field_bytes(store, instance, elem.storage, raw, &mut bytes);
            }
            store.gc_store()?.heap.write_data(r, layout.base, &bytes)?;
        }
        ArrayElems::Repeat(init, len) => {
            // Each element takes its own count (the write barrier); the
            // operand's goes after.
            let one = field_bytes(store, instance, elem.storage, init);
            if store.fill_elements(r, &layout, 0, &one, len) != crate::vm::gc_builtins::OK {
                bail!("writing the elements of a new array failed");
            }
            if layout.elems_are_gc_refs {
                RefBarriers::of(&mut store.gc).drop_ref(init.u32())?;
            }
        }
    }
    Ok(())
}
