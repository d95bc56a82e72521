//! Values crossing the host/Wasm boundary, and their raw encoding.
//!
//! The raw encoding is the 16-byte `ValRaw` slot: integers and floats by
//! their bits, funcrefs as `VMFuncRef` pointers (0 is null), externrefs as
//! host-data ids plus one (0 is null).

use crate::func::Func;
use crate::store::{AsContext, AsContextMut, StoreOpaque};
use kiln_environ::VMGcKind;
use kiln_gc::VMGcRef;
use crate::types::{HeapType, ValType};
use crate::vm::ValRaw;
use anyhow::{Result, bail};
use std::any::Any;

#[derive(Debug, Clone, Copy)]
pub enum Val {
    I32(i32),
    I64(i64),
    /// Bits of an f32.
    F32(u32),
    /// Bits of an f64.
    F64(u64),
    V128(u128),
    FuncRef(Option<Func>),
    ExternRef(Option<ExternRef>),
    /// A reference in the `any` hierarchy. Until the GC heap lands the only
    /// such value is null.
    AnyRef(Option<AnyRef>),
    /// A caught exception (`exnref`).
    ExnRef(Option<ExnRef>),
}

/// A reference to an exception thrown in a store (an object of its GC
/// heap, held like the other handles).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ExnRef {
    store: u64,
    repr: HostRef,
}

/// A reference in the `any` hierarchy: an i31 value or a GC object (a
/// struct, an array, or a host reference converted with
/// `any.convert_extern`).
///
/// A handle is a [`HostRef`]: an i31 value held inline, or a slot of the
/// store's host roots, which collectors treat as roots and a moving
/// collector updates. Host root slots live as long as the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AnyRef {
    store: u64,
    repr: HostRef,
}

/// How a host handle reaches its reference: an i31 reference's own bits
/// (odd), or a host root slot's index and generation. A handle whose slot
/// was released (its host call scope ended) reads as no reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct HostRef(u64);

impl HostRef {
    /// Roots the non-null reference `raw` (i31 values need no root).
    fn new(store: &mut StoreOpaque, raw: u32) -> HostRef {
        if raw & 1 == 1 {
            return HostRef(u64::from(raw));
        }
        // A failing barrier (a corrupted heap) leaves the object uncounted:
        // at worst freed early, inside the heap.
        let (index, generation) = store.root_host_ref(raw).unwrap_or_else(|_| store.gc_host_roots.insert(VMGcRef::from_raw_u32(raw)));
        HostRef((u64::from(generation) << 32) | (u64::from(index) << 1))
    }

    fn raw(self, store: &StoreOpaque) -> u32 {
        if self.0 & 1 == 1 {
            return self.0 as u32;
        }
        let (index, generation) = (((self.0 as u32) >> 1), (self.0 >> 32) as u32);
        store.gc_host_roots.get(index, generation).map_or(0, VMGcRef::as_raw_u32)
    }

    /// Was this handle's slot released (its host call returned)?
    fn is_released(self, store: &StoreOpaque) -> bool {
        self.0 & 1 == 0 && self.raw(store) == 0
    }

    fn i31_bits(self) -> Option<u32> {
        (self.0 & 1 == 1).then_some(self.0 as u32)
    }
}

/// A reference to host data, as Wasm's `externref`: an externref object in
/// the store's GC heap holding an id into the store's host-data table (or
/// any other object, converted with `extern.convert_any`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ExternRef {
    store: u64,
    repr: HostRef,
}

impl AnyRef {
    /// The i31 reference holding the low 31 bits of `value`.
    pub fn from_i31(store: impl AsContext, value: i32) -> AnyRef {
        let cx = store.as_context();
        AnyRef { store: cx.id(), repr: HostRef(u64::from(VMGcRef::from_i31(value).as_raw_u32())) }
    }

    pub fn is_i31(&self) -> bool {
        self.repr.i31_bits().is_some()
    }

    /// The i31 value, sign-extended.
    pub fn i31_get_s(&self) -> Option<i32> {
        self.repr.i31_bits().map(|b| b as i32 >> 1)
    }

    /// The i31 value, zero-extended.
    pub fn i31_get_u(&self) -> Option<u32> {
        self.repr.i31_bits().map(|b| b >> 1)
    }

    fn kind(&self, store: &StoreOpaque) -> Option<VMGcKind> {
        store.check(self.store);
        let r = VMGcRef::from_raw_u32(self.repr.raw(store))?;
        if r.is_i31() {
            return Some(VMGcKind::I31Ref);
        }
        store.gc.as_ref()?.heap.header(&r).ok()?.kind()
    }

    pub fn is_struct(&self, store: impl AsContext) -> bool {
        self.kind(&store.as_context()) == Some(VMGcKind::StructRef)
    }

    pub fn is_array(&self, store: impl AsContext) -> bool {
        self.kind(&store.as_context()) == Some(VMGcKind::ArrayRef)
    }

    /// Is this an `eqref` (an i31, a struct or an array)?
    pub fn is_eq(&self, store: impl AsContext) -> bool {
        self.kind(&store.as_context()).is_some_and(|k| k.matches(VMGcKind::EqRef))
    }

    /// Is this a host reference converted with `any.convert_extern`?
    pub fn is_extern(&self, store: impl AsContext) -> bool {
        self.kind(&store.as_context()) == Some(VMGcKind::ExternRef)
    }

    /// The engine type id of a struct or array.
    fn type_id(&self, store: &StoreOpaque) -> Option<u32> {
        let r = VMGcRef::from_raw_u32(self.repr.raw(store)).filter(|r| !r.is_i31())?;
        Some(store.gc.as_ref()?.heap.header(&r).ok()?.type_index())
    }
}

impl AnyRef {
    pub(crate) fn from_raw(store: &mut StoreOpaque, raw: u32) -> Option<AnyRef> {
        (raw != 0).then(|| AnyRef { store: store.id(), repr: HostRef::new(store, raw) })
    }

    pub(crate) fn to_raw(self, store: &StoreOpaque) -> u32 {
        store.check(self.store);
        self.repr.raw(store)
    }

    /// `any.convert_extern`: the same reference, seen in the any hierarchy.
    pub fn convert_extern(e: ExternRef) -> AnyRef {
        AnyRef { store: e.store, repr: e.repr }
    }
}

impl ExternRef {
    /// `extern.convert_any`: the same reference, seen as an externref.
    pub fn convert_any(a: AnyRef) -> ExternRef {
        ExternRef { store: a.store, repr: a.repr }
    }

    /// Wraps `value` in a new externref owned by `store`.
    ///
    /// Fails (dropping `value`) when the store's GC heap cannot hold
    /// another object, even after a collection and growing to its limit.
    pub fn new<T: Any + Send + Sync>(mut store: impl AsContextMut, value: T) -> Result<ExternRef> {
        let mut cx = store.as_context_mut();
        let id = cx.gc_store()?.host_data.insert(Box::new(value))?;
        let allocated = cx.gc_alloc(|heap| heap.alloc_externref(id));
        cx.resume_host_data_drop_panic();
        match allocated {
            Ok(r) => {
                let handle = ExternRef { store: cx.id(), repr: HostRef::new(&mut cx, r.as_raw_u32()) };
                // The handle's root took its own count: the allocation's
                // goes.
                crate::gc::RefBarriers::of(&mut cx.gc).drop_ref(r.as_raw_u32())?;
                Ok(handle)
            }
            Err(e) => {
                // No object refers to the value: it goes with the error.
                let value = cx.gc_store()?.host_data.remove(id);
                drop(value);
                Err(e.context("allocating an externref"))
            }
        }
    }

    /// The host value this reference wraps.
    pub fn data<'a, T: 'a>(&self, store: impl Into<crate::store::StoreContext<'a, T>>) -> Result<&'a (dyn Any + Send + Sync)> {
        let cx: crate::store::StoreContext<'a, T> = store.into();
        let opaque: &'a StoreOpaque = &cx.0.opaque;
        opaque.check(self.store);
        let Some(gc) = opaque.gc.as_ref() else { bail!("externref refers to no host data") };
        let r = VMGcRef::from_raw_u32(self.repr.raw(opaque)).ok_or_else(|| anyhow::anyhow!("externref handle no longer refers to an object"))?;
        let id = gc.heap.externref_host_data_id(&r).map_err(|_| anyhow::anyhow!("externref wraps a GC object, not host data"))?;
        Ok(gc.host_data.get(id)?)
    }

    pub(crate) fn to_raw(self, store: &StoreOpaque) -> u32 {
        store.check(self.store);
        self.repr.raw(store)
    }

    pub(crate) fn from_raw(store: &mut StoreOpaque, raw: u32) -> Option<ExternRef> {
        (raw != 0).then(|| ExternRef { store: store.id(), repr: HostRef::new(store, raw) })
    }
}

impl Val {
    pub fn null_func_ref() -> Val {
        Val::FuncRef(None)
    }

    pub fn null_extern_ref() -> Val {
        Val::ExternRef(None)
    }

    pub fn i32(&self) -> Option<i32> {
        if let Val::I32(v) = self { Some(*v) } else { None }
    }
    pub fn i64(&self) -> Option<i64> {
        if let Val::I64(v) = self { Some(*v) } else { None }
    }
    pub fn f32(&self) -> Option<f32> {
        if let Val::F32(v) = self { Some(f32::from_bits(*v)) } else { None }
    }
    pub fn f64(&self) -> Option<f64> {
        if let Val::F64(v) = self { Some(f64::from_bits(*v)) } else { None }
    }
    pub fn v128(&self) -> Option<u128> {
        if let Val::V128(v) = self { Some(*v) } else { None }
    }
    pub fn unwrap_i32(&self) -> i32 {
        self.i32().expect("not an i32")
    }
    pub fn unwrap_i64(&self) -> i64 {
        self.i64().expect("not an i64")
    }
    pub fn unwrap_f32(&self) -> f32 {
        self.f32().expect("not an f32")
    }
    pub fn unwrap_f64(&self) -> f64 {
        self.f64().expect("not an f64")
    }

    /// Fails if this value is a reference handle whose host call scope
    /// ended: it no longer keeps its object, and using it as null would be
    /// silently wrong.
    pub(crate) fn check_live(&self, store: &StoreOpaque) -> anyhow::Result<()> {
        let released = match self {
            Val::AnyRef(Some(r)) => r.repr.is_released(store),
            Val::ExternRef(Some(r)) => r.repr.is_released(store),
            Val::ExnRef(Some(r)) => r.repr.is_released(store),
            _ => false,
        };
        if released {
            bail!("use of a reference handle made during a host call that has returned; keep references in Wasm globals or tables, or make them outside host calls");
        }
        Ok(())
    }

    /// Is this value of type `ty`?
    pub(crate) fn matches(&self, store: &StoreOpaque, ty: &ValType) -> bool {
        match (self, ty) {
            (Val::I32(_), ValType::I32) | (Val::I64(_), ValType::I64) | (Val::F32(_), ValType::F32) | (Val::F64(_), ValType::F64) | (Val::V128(_), ValType::V128) => true,
            (Val::FuncRef(f), ValType::Ref(r)) => match (f, r.heap_type()) {
                (None, HeapType::Func | HeapType::NoFunc) => r.nullable(),
                (None, HeapType::Concrete(_)) => r.nullable() && is_func_hierarchy(store, r.heap_type()),
                (Some(_), HeapType::Func) => true,
                (Some(f), HeapType::Concrete(id)) => f.type_id(store) == id,
                _ => false,
            },
            (Val::ExternRef(e), ValType::Ref(r)) => match r.heap_type() {
                HeapType::Extern => e.is_some() || r.nullable(),
                HeapType::NoExtern => e.is_none() && r.nullable(),
                _ => false,
            },
            (Val::ExnRef(e), ValType::Ref(r)) => match r.heap_type() {
                HeapType::Exn => e.is_some() || r.nullable(),
                HeapType::NoExn => e.is_none() && r.nullable(),
                _ => false,
            },
            (Val::AnyRef(None), ValType::Ref(r)) => {
                r.nullable()
                    && matches!(r.heap_type(), HeapType::Any | HeapType::Eq | HeapType::I31 | HeapType::Struct | HeapType::Array | HeapType::None)
                    || r.nullable() && matches!(r.heap_type(), HeapType::Concrete(_)) && !is_func_hierarchy(store, r.heap_type())
            }
            (Val::AnyRef(Some(a)), ValType::Ref(r)) => match r.heap_type() {
                HeapType::Any => true,
                HeapType::Eq => a.kind(store).is_some_and(|k| k.matches(VMGcKind::EqRef)),
                HeapType::I31 => a.is_i31(),
                HeapType::Struct => a.kind(store) == Some(VMGcKind::StructRef),
                HeapType::Array => a.kind(store) == Some(VMGcKind::ArrayRef),
                HeapType::Concrete(id) if !is_func_hierarchy(store, r.heap_type()) => {
                    a.type_id(store).is_some_and(|t| store.engine().inner.types.is_subtype(t, id))
                }
                _ => false,
            },
            _ => false,
        }
    }

    /// Encodes this value, which must already have been checked to match
    /// its destination type.
    pub(crate) fn to_raw(&self, store: &StoreOpaque) -> ValRaw {
        match *self {
            Val::I32(v) => ValRaw::from_u32(v as u32),
            Val::I64(v) => ValRaw::from_u64(v as u64),
            Val::F32(v) => ValRaw::from_u32(v),
            Val::F64(v) => ValRaw::from_u64(v),
            Val::V128(v) => ValRaw::from_u128(v),
            Val::FuncRef(f) => ValRaw::from_u64(f.map_or(0, |f| f.func_ref_addr(store) as u64)),
            Val::ExternRef(e) => ValRaw::from_u32(e.map_or(0, |e| e.to_raw(store))),
            Val::AnyRef(a) => ValRaw::from_u32(a.map_or(0, |a| a.to_raw(store))),
            Val::ExnRef(e) => ValRaw::from_u32(e.map_or(0, |e| {
                store.check(e.store);
                e.repr.raw(store)
            })),
        }
    }

    /// Encodes this value, of type `ty` (already checked), for Wasm code:
    /// a GC reference goes in the collector's record of references on
    /// Wasm stacks (see `gc/barriers.rs`).
    pub(crate) fn to_wasm_raw(&self, store: &mut StoreOpaque, ty: &ValType) -> Result<ValRaw> {
        let raw = self.to_raw(store);
        if ty.to_wasm().is_gc_heap_ref(&store.engine.inner.types) {
            crate::gc::RefBarriers::of(&mut store.gc).expose(raw.u32())?;
        }
        Ok(raw)
    }

    /// Decodes a raw value of type `ty`.
    pub(crate) fn from_raw(store: &mut StoreOpaque, raw: ValRaw, ty: &ValType) -> Val {
        match ty {
            ValType::I32 => Val::I32(raw.u32() as i32),
            ValType::I64 => Val::I64(raw.u64() as i64),
            ValType::F32 => Val::F32(raw.u32()),
            ValType::F64 => Val::F64(raw.u64()),
            ValType::V128 => Val::V128(raw.u128()),
            ValType::Ref(r) => {
                let heap = r.heap_type();
                if is_func_hierarchy(store, heap) {
                    // SAFETY: a non-null raw funcref of a value produced by
                    // Wasm or by `to_raw` is a live `VMFuncRef` of this store.
                    Val::FuncRef(unsafe { Func::from_func_ref(store, raw.u64() as usize) })
                } else if matches!(heap, HeapType::Extern | HeapType::NoExtern) {
                    Val::ExternRef(ExternRef::from_raw(store, raw.u32()))
                } else if matches!(heap, HeapType::Exn | HeapType::NoExn) {
                    Val::ExnRef((raw.u32() != 0).then(|| ExnRef { store: store.id(), repr: HostRef::new(store, raw.u32()) }))
                } else {
                    Val::AnyRef(AnyRef::from_raw(store, raw.u32()))
                }
            }
        }
    }

    /// The default value of a type (zero or null), if it has one.
    pub(crate) fn default_for(store: &StoreOpaque, ty: &ValType) -> Option<Val> {
        Some(match ty {
            ValType::I32 => Val::I32(0),
            ValType::I64 => Val::I64(0),
            ValType::F32 => Val::F32(0),
            ValType::F64 => Val::F64(0),
            ValType::V128 => Val::V128(0),
            ValType::Ref(r) if !r.nullable() => return None,
            ValType::Ref(r) if is_func_hierarchy(store, r.heap_type()) => Val::FuncRef(None),
            ValType::Ref(r) if matches!(r.heap_type(), HeapType::Extern | HeapType::NoExtern) => Val::ExternRef(None),
            ValType::Ref(r) if matches!(r.heap_type(), HeapType::Exn | HeapType::NoExn) => Val::ExnRef(None),
            ValType::Ref(_) => Val::AnyRef(None),
        })
    }
}

/// Does `heap` belong to the function hierarchy?
pub(crate) fn is_func_hierarchy(store: &StoreOpaque, heap: HeapType) -> bool {
    crate::RefType::new(true, heap).to_wasm().repr(&store.engine().inner.types) == kiln_environ::RefRepr::FuncRef
}

macro_rules! from_prim {
    ($($t:ty => $variant:ident $(via $conv:ident)?),*) => {$(
        impl From<$t> for Val {
            fn from(v: $t) -> Val {
                Val::$variant(v $(.$conv())?)
            }
        }
    )*};
}
from_prim!(i32 => I32, i64 => I64, f32 => F32 via to_bits, f64 => F64 via to_bits, u128 => V128);

impl From<Option<Func>> for Val {
    fn from(f: Option<Func>) -> Val {
        Val::FuncRef(f)
    }
}

impl From<Func> for Val {
    fn from(f: Func) -> Val {
        Val::FuncRef(Some(f))
    }
}

impl From<Option<ExternRef>> for Val {
    fn from(e: Option<ExternRef>) -> Val {
        Val::ExternRef(e)
    }
}
