//! Statically typed calls: `TypedFunc<Params, Results>` and `Func::wrap`.
//!
//! Both are thin layers over the dynamic `Val` path: the signature is
//! checked once when the typed handle or host function is made.

use super::{Caller, Func};
use crate::externals::Extern;
use crate::store::AsContextMut;
use crate::types::{FuncType, ValType};
use crate::values::{ExternRef, Val};
use anyhow::{Result, bail};
use std::marker::PhantomData;
use std::sync::Arc;

/// A Rust type that corresponds to one Wasm value type.
pub trait WasmTy: Sized + Send + 'static {
    fn valtype() -> ValType;
    fn into_val(self) -> Val;
    fn from_val(v: Val) -> Option<Self>;
}

macro_rules! wasm_ty {
    ($($t:ty => $vt:ident, $variant:ident, $to:expr, $from:expr;)*) => {$(
        impl WasmTy for $t {
            fn valtype() -> ValType { ValType::$vt }
            fn into_val(self) -> Val { Val::$variant($to(self)) }
            fn from_val(v: Val) -> Option<Self> {
                match v { Val::$variant(x) => Some($from(x)), _ => None }
            }
        }
    )*};
}

wasm_ty! {
    i32 => I32, I32, |x| x, |x| x;
    u32 => I32, I32, |x: u32| x as i32, |x: i32| x as u32;
    i64 => I64, I64, |x| x, |x| x;
    u64 => I64, I64, |x: u64| x as i64, |x: i64| x as u64;
    f32 => F32, F32, f32::to_bits, f32::from_bits;
    f64 => F64, F64, f64::to_bits, f64::from_bits;
    u128 => V128, V128, |x| x, |x| x;
}

impl WasmTy for Option<Func> {
    fn valtype() -> ValType {
        ValType::FUNCREF
    }
    fn into_val(self) -> Val {
        Val::FuncRef(self)
    }
    fn from_val(v: Val) -> Option<Self> {
        match v {
            Val::FuncRef(f) => Some(f),
            _ => None,
        }
    }
}

impl WasmTy for Option<ExternRef> {
    fn valtype() -> ValType {
        ValType::EXTERNREF
    }
    fn into_val(self) -> Val {
        Val::ExternRef(self)
    }
    fn from_val(v: Val) -> Option<Self> {
        match v {
            Val::ExternRef(e) => Some(e),
            _ => None,
        }
    }
}

/// Parameters of a typed call: `()`, one value, or a tuple.
pub trait WasmParams: Send + 'static {
    fn valtypes() -> Vec<ValType>;
    fn into_vals(self) -> Vec<Val>;
}

/// Results of a typed call: `()`, one value, or a tuple.
pub trait WasmResults: Sized + Send + 'static {
    fn valtypes() -> Vec<ValType>;
    fn from_vals(vals: &[Val]) -> Option<Self>;
    fn into_vals(self) -> Vec<Val>;
}

impl<T: WasmTy> WasmParams for T {
    fn valtypes() -> Vec<ValType> {
        vec![T::valtype()]
    }
    fn into_vals(self) -> Vec<Val> {
        vec![self.into_val()]
    }
}

impl<T: WasmTy> WasmResults for T {
    fn valtypes() -> Vec<ValType> {
        vec![T::valtype()]
    }
    fn from_vals(vals: &[Val]) -> Option<Self> {
        T::from_val(*vals.first()?)
    }
    fn into_vals(self) -> Vec<Val> {
        vec![self.into_val()]
    }
}

macro_rules! tuples {
    ($( ($($n:ident $i:tt),*) )*) => {$(
        impl<$($n: WasmTy),*> WasmParams for ($($n,)*) {
            fn valtypes() -> Vec<ValType> { vec![$($n::valtype()),*] }
            #[allow(clippy::unused_unit)]
            fn into_vals(self) -> Vec<Val> { vec![$(self.$i.into_val()),*] }
        }
        impl<$($n: WasmTy),*> WasmResults for ($($n,)*) {
            fn valtypes() -> Vec<ValType> { vec![$($n::valtype()),*] }
            #[allow(unused_variables)]
            fn from_vals(vals: &[Val]) -> Option<Self> { Some(($($n::from_val(*vals.get($i)?)?,)*)) }
            fn into_vals(self) -> Vec<Val> { vec![$(self.$i.into_val()),*] }
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

pub(crate) fn check_signature<P: WasmParams, R: WasmResults>(ty: &FuncType) -> Result<()> {
    if ty.params() != P::valtypes().as_slice() {
        bail!("type mismatch with parameters: the function takes {:?}", ty.params());
    }
    if ty.results() != R::valtypes().as_slice() {
        bail!("type mismatch with results: the function returns {:?}", ty.results());
    }
    Ok(())
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

impl<P: WasmParams, R: WasmResults> TypedFunc<P, R> {
    pub(crate) fn new(func: Func) -> Self {
        TypedFunc { func, _ty: PhantomData }
    }

    pub fn func(&self) -> &Func {
        &self.func
    }

    pub fn call<T: 'static>(&self, store: impl AsContextMut<Data = T>, params: P) -> Result<R> {
        let mut results = vec![Val::I32(0); R::valtypes().len()];
        self.func.call(store, &params.into_vals(), &mut results)?;
        Ok(R::from_vals(&results).expect("results were type-checked against the signature"))
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

fn write_results<R: WasmResults>(r: R, out: &mut [Val]) {
    for (slot, v) in out.iter_mut().zip(r.into_vals()) {
        *slot = v;
    }
}

macro_rules! into_func {
    ($( ($($a:ident),*) )*) => {$(
        #[allow(non_snake_case, unused_variables, unused_mut)]
        impl<T: 'static, F, $($a: WasmTy,)* R: WasmRet> IntoFunc<T, ($($a,)*), R> for F
        where F: Fn($($a),*) -> R + Send + Sync + 'static {
            fn into_host_fn(self) -> (FuncType, Arc<DynHostFn<T>>) {
                let ty = FuncType::new(vec![$($a::valtype()),*], R::Results::valtypes());
                (ty, Arc::new(move |_caller: Caller<'_, T>, params: &[Val], results: &mut [Val]| {
                    let mut it = params.iter().copied();
                    $(let $a = $a::from_val(it.next().expect("arity checked")).expect("type checked");)*
                    write_results(self($($a),*).into_result()?, results);
                    Ok(())
                }))
            }
        }

        #[allow(non_snake_case, unused_variables, unused_mut)]
        impl<T: 'static, F, $($a: WasmTy,)* R: WasmRet> IntoFunc<T, (Caller<'static, T>, $($a,)*), R> for F
        where F: Fn(Caller<'_, T>, $($a),*) -> R + Send + Sync + 'static {
            fn into_host_fn(self) -> (FuncType, Arc<DynHostFn<T>>) {
                let ty = FuncType::new(vec![$($a::valtype()),*], R::Results::valtypes());
                (ty, Arc::new(move |caller: Caller<'_, T>, params: &[Val], results: &mut [Val]| {
                    let mut it = params.iter().copied();
                    $(let $a = $a::from_val(it.next().expect("arity checked")).expect("type checked");)*
                    write_results(self(caller, $($a),*).into_result()?, results);
                    Ok(())
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
