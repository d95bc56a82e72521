//! Statically typed calls: `TypedFunc<Params, Results>` and `Func::wrap`.
//!
//! Both are thin layers over the dynamic `Val` path: the signature is
//! checked once when the typed handle or host function is made.

use super::{Caller, Func};
use crate::externals::Extern;
use crate::store::AsContextMut;
use crate::types::{FuncType, ValType};
use crate::refs::{AnyRef, ArrayRef, EqRef, ExnRef, ExternRef, I31, OwnedRooted, Rooted, StructRef};
use crate::store::StoreOpaque;
use crate::type_registry::TypeRegistry;
use crate::types::{HeapType, RefType, heap_type_matches, val_type_matches};
use crate::values::Val;
use anyhow::{Result, bail};
use std::marker::PhantomData;
use std::sync::Arc;

/// A Rust type that corresponds to one Wasm value type. Its methods are
/// Kiln's own; embedders only name the trait.
pub trait WasmTy: Sized + Send + 'static {
    #[doc(hidden)]
    fn valtype() -> ValType;
    #[doc(hidden)]
    fn into_val(self, store: &mut StoreOpaque) -> Result<Val>;
    #[doc(hidden)]
    fn from_val(v: Val, store: &mut StoreOpaque) -> Result<Self>;
}

fn mismatch<T>(v: &Val) -> anyhow::Error {
    anyhow::anyhow!("type mismatch: expected a value for {}, got {v:?}", std::any::type_name::<T>())
}

macro_rules! wasm_ty {
    ($($t:ty => $vt:expr, $variant:ident, $to:expr, $from:expr;)*) => {$(
        impl WasmTy for $t {
            fn valtype() -> ValType { $vt }
            fn into_val(self, _: &mut StoreOpaque) -> Result<Val> { Ok(Val::$variant($to(self))) }
            fn from_val(v: Val, _: &mut StoreOpaque) -> Result<Self> {
                match v { Val::$variant(x) => $from(x).ok_or_else(|| mismatch::<$t>(&v)), _ => Err(mismatch::<$t>(&v)) }
            }
        }
    )*};
}

wasm_ty! {
    i32 => ValType::I32, I32, |x| x, Some;
    u32 => ValType::I32, I32, |x: u32| x as i32, |x: i32| Some(x as u32);
    i64 => ValType::I64, I64, |x| x, Some;
    u64 => ValType::I64, I64, |x: u64| x as i64, |x: i64| Some(x as u64);
    f32 => ValType::F32, F32, f32::to_bits, |x| Some(f32::from_bits(x));
    f64 => ValType::F64, F64, f64::to_bits, |x| Some(f64::from_bits(x));
    u128 => ValType::V128, V128, |x| x, Some;
    Option<Func> => ValType::FUNCREF, FuncRef, |x| x, Some;
    Func => ValType::Ref(RefType::new(false, HeapType::Func)), FuncRef, Some, |x| x;
}

/// `WasmTy` for the four shapes of a handle type: `Rooted<T>`,
/// `Option<Rooted<T>>`, `OwnedRooted<T>`, `Option<OwnedRooted<T>>`.
macro_rules! ref_wasm_ty {
    ($($t:ident: $variant:ident, $heap:ident;)*) => {$(
        impl WasmTy for Rooted<$t> {
            fn valtype() -> ValType { ValType::Ref(RefType::new(false, HeapType::$heap)) }
            fn into_val(self, _: &mut StoreOpaque) -> Result<Val> { Ok(Val::$variant(Some(self.cast()))) }
            fn from_val(v: Val, _: &mut StoreOpaque) -> Result<Self> {
                match v { Val::$variant(Some(r)) => Ok(r.cast()), _ => Err(mismatch::<Self>(&v)) }
            }
        }
        impl WasmTy for Option<Rooted<$t>> {
            fn valtype() -> ValType { ValType::Ref(RefType::new(true, HeapType::$heap)) }
            fn into_val(self, _: &mut StoreOpaque) -> Result<Val> { Ok(Val::$variant(self.map(Rooted::cast))) }
            fn from_val(v: Val, _: &mut StoreOpaque) -> Result<Self> {
                match v { Val::$variant(r) => Ok(r.map(Rooted::cast)), _ => Err(mismatch::<Self>(&v)) }
            }
        }
        impl WasmTy for OwnedRooted<$t> {
            fn valtype() -> ValType { <Rooted<$t>>::valtype() }
            fn into_val(self, store: &mut StoreOpaque) -> Result<Val> { self.to_rooted_in(store)?.into_val(store) }
            fn from_val(v: Val, store: &mut StoreOpaque) -> Result<Self> { <Rooted<$t>>::from_val(v, store)?.to_owned_in(store) }
        }
        impl WasmTy for Option<OwnedRooted<$t>> {
            fn valtype() -> ValType { <Option<Rooted<$t>>>::valtype() }
            fn into_val(self, store: &mut StoreOpaque) -> Result<Val> { self.map(|r| r.to_rooted_in(store)).transpose()?.into_val(store) }
            fn from_val(v: Val, store: &mut StoreOpaque) -> Result<Self> {
                <Option<Rooted<$t>>>::from_val(v, store)?.map(|r| r.to_owned_in(store)).transpose()
            }
        }
    )*};
}

ref_wasm_ty! {
    AnyRef: AnyRef, Any;
    EqRef: AnyRef, Eq;
    StructRef: AnyRef, Struct;
    ArrayRef: AnyRef, Array;
    ExternRef: ExternRef, Extern;
    ExnRef: ExnRef, Exn;
}

impl WasmTy for I31 {
    fn valtype() -> ValType {
        ValType::Ref(RefType::new(false, HeapType::I31))
    }
    fn into_val(self, store: &mut StoreOpaque) -> Result<Val> {
        Ok(Val::AnyRef(Some(AnyRef::from_i31_in(store, self))))
    }
    fn from_val(v: Val, store: &mut StoreOpaque) -> Result<Self> {
        match v {
            Val::AnyRef(Some(r)) => r.as_i31_in(store)?.ok_or_else(|| mismatch::<Self>(&v)),
            _ => Err(mismatch::<Self>(&v)),
        }
    }
}

impl WasmTy for Option<I31> {
    fn valtype() -> ValType {
        ValType::Ref(RefType::new(true, HeapType::I31))
    }
    fn into_val(self, store: &mut StoreOpaque) -> Result<Val> {
        Ok(Val::AnyRef(self.map(|i| AnyRef::from_i31_in(store, i))))
    }
    fn from_val(v: Val, store: &mut StoreOpaque) -> Result<Self> {
        match v {
            Val::AnyRef(None) => Ok(None),
            v => I31::from_val(v, store).map(Some),
        }
    }
}

/// Parameters of a typed call: `()`, one value, or a tuple.
pub trait WasmParams: Send + 'static {
    #[doc(hidden)]
    fn valtypes() -> Vec<ValType>;
    #[doc(hidden)]
    fn into_vals(self, store: &mut StoreOpaque) -> Result<Vec<Val>>;
}

/// Results of a typed call: `()`, one value, or a tuple.
pub trait WasmResults: Sized + Send + 'static {
    #[doc(hidden)]
    fn valtypes() -> Vec<ValType>;
    #[doc(hidden)]
    fn from_vals(vals: &[Val], store: &mut StoreOpaque) -> Result<Self>;
    #[doc(hidden)]
    fn into_vals(self, store: &mut StoreOpaque) -> Result<Vec<Val>>;
}

impl<T: WasmTy> WasmParams for T {
    fn valtypes() -> Vec<ValType> {
        vec![T::valtype()]
    }
    fn into_vals(self, store: &mut StoreOpaque) -> Result<Vec<Val>> {
        Ok(vec![self.into_val(store)?])
    }
}

impl<T: WasmTy> WasmResults for T {
    fn valtypes() -> Vec<ValType> {
        vec![T::valtype()]
    }
    fn from_vals(vals: &[Val], store: &mut StoreOpaque) -> Result<Self> {
        T::from_val(*vals.first().ok_or_else(|| anyhow::anyhow!("missing result"))?, store)
    }
    fn into_vals(self, store: &mut StoreOpaque) -> Result<Vec<Val>> {
        Ok(vec![self.into_val(store)?])
    }
}

macro_rules! tuples {
    ($( ($($n:ident $i:tt),*) )*) => {$(
        impl<$($n: WasmTy),*> WasmParams for ($($n,)*) {
            fn valtypes() -> Vec<ValType> { vec![$($n::valtype()),*] }
            #[allow(clippy::unused_unit, unused_variables)]
            fn into_vals(self, store: &mut StoreOpaque) -> Result<Vec<Val>> { Ok(vec![$(self.$i.into_val(store)?),*]) }
        }
        impl<$($n: WasmTy),*> WasmResults for ($($n,)*) {
            fn valtypes() -> Vec<ValType> { vec![$($n::valtype()),*] }
            #[allow(unused_variables)]
            fn from_vals(vals: &[Val], store: &mut StoreOpaque) -> Result<Self> {
                Ok(($($n::from_val(*vals.get($i).ok_or_else(|| anyhow::anyhow!("missing result"))?, store)?,)*))
            }
            #[allow(unused_variables)]
            fn into_vals(self, store: &mut StoreOpaque) -> Result<Vec<Val>> { Ok(vec![$(self.$i.into_val(store)?),*]) }
        }
    )*};
}

tuples! {
    ()
    (A 0, B 1)
    (A 0, B 1, C 2)
    (A 0, B 1, C 2, D 3)
    (A 0, B 1, C 2, D 3, E 4)
    (A 0, B 1, C 2, D 3, E 4, F 5)
    (A 0, B 1, C 2, D 3, E 4, F 5, G 6)
    (A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7)
}

/// Checks a function type against a typed view's Rust types: each result
/// must be a subtype of its Rust type; each parameter's Rust type a
/// subtype of the parameter, or, for references of the same hierarchy,
/// checked value by value when called (a `Rooted<AnyRef>` passed where a
/// concrete struct type is expected).
pub(crate) fn check_signature<P: WasmParams, R: WasmResults>(types: &TypeRegistry, ty: &FuncType) -> Result<()> {
    let params_ok = ty.params().len() == P::valtypes().len()
        && P::valtypes().iter().zip(ty.params()).all(|(rust, wasm)| val_type_matches(types, rust, wasm) || same_hierarchy(types, rust, wasm));
    if !params_ok {
        bail!("type mismatch with parameters: the function takes {:?}, the typed view gives {:?}", ty.params(), P::valtypes());
    }
    let results_ok = ty.results().len() == R::valtypes().len() && ty.results().iter().zip(R::valtypes()).all(|(wasm, rust)| val_type_matches(types, wasm, &rust));
    if !results_ok {
        bail!("type mismatch with results: the function returns {:?}, the typed view expects {:?}", ty.results(), R::valtypes());
    }
    Ok(())
}

/// Are `a` and `b` reference types with the same top type?
fn same_hierarchy(types: &TypeRegistry, a: &ValType, b: &ValType) -> bool {
    let (ValType::Ref(a), ValType::Ref(b)) = (a, b) else { return false };
    [HeapType::Any, HeapType::Extern, HeapType::Func, HeapType::Exn]
        .into_iter()
        .any(|top| heap_type_matches(types, a.heap_type(), top) && heap_type_matches(types, b.heap_type(), top))
}

/// A function whose signature was checked to be `Params -> Results`.
pub struct TypedFunc<Params, Results> {
    func: Func,
    _ty: PhantomData<fn(Params) -> Results>,
}

impl<P, R> Clone for TypedFunc<P, R> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<P, R> Copy for TypedFunc<P, R> {}

impl<P, R> std::fmt::Debug for TypedFunc<P, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TypedFunc").field("func", &self.func).finish()
    }
}

impl<P: WasmParams, R: WasmResults> TypedFunc<P, R> {
    pub(crate) fn new(func: Func) -> Self {
        TypedFunc { func, _ty: PhantomData }
    }

    pub fn func(&self) -> &Func {
        &self.func
    }

    pub fn call<T: 'static>(&self, mut store: impl AsContextMut<Data = T>, params: P) -> Result<R> {
        let mut cx = store.as_context_mut();
        let mut results = vec![Val::I32(0); R::valtypes().len()];
        let params = params.into_vals(&mut cx)?;
        self.func.call(&mut cx, &params, &mut results)?;
        R::from_vals(&results, &mut cx)
    }
}

/// What a wrapped host closure may return: results, or a `Result` of them.
pub trait WasmRet: Send + 'static {
    type Results: WasmResults;
    fn into_result(self) -> Result<Self::Results>;
}

impl<R: WasmResults> WasmRet for R {
    type Results = R;
    fn into_result(self) -> Result<R> {
        Ok(self)
    }
}

impl<R: WasmResults> WasmRet for Result<R> {
    type Results = R;
    fn into_result(self) -> Result<R> {
        self
    }
}

type DynHostFn<T> = dyn Fn(Caller<'_, T>, &[Val], &mut [Val]) -> Result<()> + Send + Sync + 'static;

/// A Rust closure usable as a host function: `Fn(A1, ..., An) -> R` or
/// `Fn(Caller<'_, T>, A1, ..., An) -> R`.
pub trait IntoFunc<T, Params, Results>: Send + Sync + 'static {
    #[doc(hidden)]
    fn into_host_fn(self) -> (FuncType, Arc<DynHostFn<T>>);
}

fn write_results<R: WasmResults>(r: R, store: &mut StoreOpaque, out: &mut [Val]) -> Result<()> {
    for (slot, v) in out.iter_mut().zip(r.into_vals(store)?) {
        *slot = v;
    }
    Ok(())
}

macro_rules! into_func {
    ($( ($($a:ident),*) )*) => {$(
        #[allow(non_snake_case, unused_variables, unused_mut)]
        impl<T: 'static, F, $($a: WasmTy,)* R: WasmRet> IntoFunc<T, ($($a,)*), R> for F
        where F: Fn($($a),*) -> R + Send + Sync + 'static {
            fn into_host_fn(self) -> (FuncType, Arc<DynHostFn<T>>) {
                let ty = FuncType::new(vec![$($a::valtype()),*], R::Results::valtypes());
                (ty, Arc::new(move |caller: Caller<'_, T>, params: &[Val], results: &mut [Val]| {
                    let store = &mut caller.store.opaque;
                    let mut it = params.iter().copied();
                    $(let $a = $a::from_val(it.next().expect("arity checked"), store)?;)*
                    write_results(self($($a),*).into_result()?, store, results)
                }))
            }
        }

        #[allow(non_snake_case, unused_variables, unused_mut)]
        impl<T: 'static, F, $($a: WasmTy,)* R: WasmRet> IntoFunc<T, (Caller<'static, T>, $($a,)*), R> for F
        where F: Fn(Caller<'_, T>, $($a),*) -> R + Send + Sync + 'static {
            fn into_host_fn(self) -> (FuncType, Arc<DynHostFn<T>>) {
                let ty = FuncType::new(vec![$($a::valtype()),*], R::Results::valtypes());
                (ty, Arc::new(move |caller: Caller<'_, T>, params: &[Val], results: &mut [Val]| {
                    let Caller { store, instance } = caller;
                    let mut it = params.iter().copied();
                    $(let $a = $a::from_val(it.next().expect("arity checked"), &mut store.opaque)?;)*
                    let returned = self(Caller::new(&mut *store, instance), $($a),*).into_result()?;
                    write_results(returned, &mut store.opaque, results)
                }))
            }
        }
    )*};
}

into_func! {
    ()
    (A1)
    (A1, A2)
    (A1, A2, A3)
    (A1, A2, A3, A4)
    (A1, A2, A3, A4, A5)
    (A1, A2, A3, A4, A5, A6)
    (A1, A2, A3, A4, A5, A6, A7)
    (A1, A2, A3, A4, A5, A6, A7, A8)
}

impl Func {
    /// A host function from a typed Rust closure.
    pub fn wrap<T: 'static, Params, Results>(mut store: impl AsContextMut<Data = T>, f: impl IntoFunc<T, Params, Results>) -> Func {
        let (ty, f) = f.into_host_fn();
        Func::new_arc(&mut store.as_context_mut(), ty, f)
    }
}

impl From<Func> for Extern {
    fn from(f: Func) -> Extern {
        Extern::Func(f)
    }
}
