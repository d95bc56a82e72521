//! `Val`: a value crossing the host/Wasm boundary, and its raw encoding.
//!
//! The raw encoding is the 16-byte `ValRaw` slot: integers and floats by
//! their bits, funcrefs as `VMFuncRef` pointers (0 is null), GC
//! references as their raw bits (0 is null). A `Val` holds GC references
//! as rooted handles (see `refs/rooting.rs`), so decoding one roots it in
//! the innermost scope.

use crate::func::Func;
use crate::refs::{AnyRef, ArrayRef, EqRef, ExnRef, ExternRef, Rooted, StructRef};
use crate::store::{AsContext, StoreOpaque};
use crate::types::{HeapType, ValType, heap_type_matches};
use crate::vm::ValRaw;
use anyhow::Result;

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
    ExternRef(Option<Rooted<ExternRef>>),
    /// A reference in the `any` hierarchy: an i31, a struct, an array, or
    /// a host reference converted with `any.convert_extern`.
    AnyRef(Option<Rooted<AnyRef>>),
    /// An exception (`exnref`).
    ExnRef(Option<Rooted<ExnRef>>),
}

macro_rules! accessors {
    ($($get:ident $unwrap:ident: $variant:ident => $t:ty;)*) => {$(
        pub fn $get(&self) -> Option<$t> {
            if let Val::$variant(v) = self { Some(*v) } else { None }
        }
        pub fn $unwrap(&self) -> $t {
            self.$get().expect(concat!("not ", stringify!($variant)))
        }
    )*};
}

impl Val {
    pub fn null_func_ref() -> Val {
        Val::FuncRef(None)
    }

    pub fn null_extern_ref() -> Val {
        Val::ExternRef(None)
    }

    pub fn null_any_ref() -> Val {
        Val::AnyRef(None)
    }

    pub fn null_exn_ref() -> Val {
        Val::ExnRef(None)
    }

    accessors! {
        i32 unwrap_i32: I32 => i32;
        i64 unwrap_i64: I64 => i64;
        v128 unwrap_v128: V128 => u128;
        func_ref unwrap_funcref: FuncRef => Option<Func>;
        externref unwrap_externref: ExternRef => Option<Rooted<ExternRef>>;
        anyref unwrap_anyref: AnyRef => Option<Rooted<AnyRef>>;
        exnref unwrap_exnref: ExnRef => Option<Rooted<ExnRef>>;
    }

    pub fn f32(&self) -> Option<f32> {
        if let Val::F32(v) = self { Some(f32::from_bits(*v)) } else { None }
    }
    pub fn f64(&self) -> Option<f64> {
        if let Val::F64(v) = self { Some(f64::from_bits(*v)) } else { None }
    }
    pub fn unwrap_f32(&self) -> f32 {
        self.f32().expect("not an f32")
    }
    pub fn unwrap_f64(&self) -> f64 {
        self.f64().expect("not an f64")
    }

    /// Is this value of type `ty` (with subtyping)? Fails if it holds a
    /// handle whose root was released.
    pub fn matches(&self, store: impl AsContext, ty: &ValType) -> Result<bool> {
        self.matches_in(&store.as_context(), ty)
    }

    pub(crate) fn matches_in(&self, store: &StoreOpaque, ty: &ValType) -> Result<bool> {
        let types = &store.engine().inner.types;
        let ValType::Ref(r) = ty else {
            return Ok(matches!(
                (self, ty),
                (Val::I32(_), ValType::I32) | (Val::I64(_), ValType::I64) | (Val::F32(_), ValType::F32) | (Val::F64(_), ValType::F64) | (Val::V128(_), ValType::V128)
            ));
        };
        let heap = r.heap_type();
        let (bottom, top) = match self {
            Val::FuncRef(_) => (HeapType::NoFunc, HeapType::Func),
            Val::ExternRef(_) => (HeapType::NoExtern, HeapType::Extern),
            Val::AnyRef(_) => (HeapType::None, HeapType::Any),
            Val::ExnRef(_) => (HeapType::NoExn, HeapType::Exn),
            _ => return Ok(false),
        };
        // A null (any nullable type of its hierarchy) or a function.
        let Some(raw) = self.gc_ref_raw(store)? else {
            return Ok(match self {
                Val::FuncRef(Some(f)) => heap_type_matches(types, HeapType::Concrete(f.type_id(store)), heap),
                _ => r.nullable() && heap_type_matches(types, bottom, heap),
            });
        };
        Ok(heap_type_matches(types, heap, top) && store.gc_ref_matches(raw, heap)?)
    }

    /// The raw bits of a non-null GC reference this value holds.
    fn gc_ref_raw(&self, store: &StoreOpaque) -> Result<Option<u32>> {
        Ok(match self {
            Val::ExternRef(Some(r)) => Some(store.gc_ref_raw(&**r)?),
            Val::AnyRef(Some(r)) => Some(store.gc_ref_raw(&**r)?),
            Val::ExnRef(Some(r)) => Some(store.gc_ref_raw(&**r)?),
            _ => None,
        })
    }

    /// Encodes this value; fails if it holds a released handle.
    pub(crate) fn to_raw(&self, store: &StoreOpaque) -> Result<ValRaw> {
        Ok(match *self {
            Val::I32(v) => ValRaw::from_u32(v as u32),
            Val::I64(v) => ValRaw::from_u64(v as u64),
            Val::F32(v) => ValRaw::from_u32(v),
            Val::F64(v) => ValRaw::from_u64(v),
            Val::V128(v) => ValRaw::from_u128(v),
            Val::FuncRef(f) => ValRaw::from_u64(f.map_or(0, |f| f.func_ref_addr(store) as u64)),
            Val::ExternRef(_) | Val::AnyRef(_) | Val::ExnRef(_) => ValRaw::from_u32(self.gc_ref_raw(store)?.unwrap_or(0)),
        })
    }

    /// Encodes this value, of type `ty` (already checked), for Wasm code:
    /// a GC reference goes in the collector's record of references on
    /// Wasm stacks (see `gc/barriers.rs`).
    pub(crate) fn to_wasm_raw(&self, store: &mut StoreOpaque, ty: &ValType) -> Result<ValRaw> {
        let raw = self.to_raw(store)?;
        if ty.to_wasm().is_gc_heap_ref(&store.engine.inner.types) {
            crate::gc::RefBarriers::of(&mut store.gc).expose(raw.u32())?;
        }
        Ok(raw)
    }

    /// Decodes a raw value of type `ty`, rooting a GC reference in the
    /// innermost scope.
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
                    return Val::FuncRef(unsafe { Func::from_func_ref(store, raw.u64() as usize) });
                }
                let raw = raw.u32();
                let types = &store.engine().inner.types;
                if heap_type_matches(types, heap, HeapType::Extern) {
                    Val::ExternRef(root_non_null(store, raw))
                } else if heap_type_matches(types, heap, HeapType::Exn) {
                    Val::ExnRef(root_non_null(store, raw))
                } else {
                    Val::AnyRef(root_non_null(store, raw))
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

fn root_non_null<T: crate::refs::GcRef>(store: &mut StoreOpaque, raw: u32) -> Option<Rooted<T>> {
    kiln_gc::VMGcRef::from_raw_u32(raw).map(|r| Rooted::from_root(store.root_lifo(r)))
}

/// Does `heap` belong to the function hierarchy?
pub(crate) fn is_func_hierarchy(store: &StoreOpaque, heap: HeapType) -> bool {
    crate::RefType::new(true, heap).to_wasm().repr(&store.engine().inner.types) == kiln_environ::RefRepr::FuncRef
}

macro_rules! from_values {
    ($($t:ty => |$v:ident| $e:expr),* $(,)?) => {$(
        impl From<$t> for Val {
            fn from($v: $t) -> Val {
                $e
            }
        }
    )*};
}

from_values! {
    i32 => |v| Val::I32(v),
    i64 => |v| Val::I64(v),
    f32 => |v| Val::F32(v.to_bits()),
    f64 => |v| Val::F64(v.to_bits()),
    u128 => |v| Val::V128(v),
    Func => |f| Val::FuncRef(Some(f)),
    Option<Func> => |f| Val::FuncRef(f),
    Rooted<ExternRef> => |r| Val::ExternRef(Some(r)),
    Option<Rooted<ExternRef>> => |r| Val::ExternRef(r),
    Rooted<AnyRef> => |r| Val::AnyRef(Some(r)),
    Option<Rooted<AnyRef>> => |r| Val::AnyRef(r),
    Rooted<EqRef> => |r| Val::AnyRef(Some(r.into())),
    Rooted<StructRef> => |r| Val::AnyRef(Some(r.into())),
    Rooted<ArrayRef> => |r| Val::AnyRef(Some(r.into())),
    Rooted<ExnRef> => |r| Val::ExnRef(Some(r)),
    Option<Rooted<ExnRef>> => |r| Val::ExnRef(r),
}
