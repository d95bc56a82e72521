//! Functions: Wasm functions of instances and host functions, behind one
//! handle type, and the host-to-Wasm call path.

mod host;
mod typed;

pub use host::Caller;
pub(crate) use host::HostFuncContext;
pub use typed::{IntoFunc, TypedFunc, WasmParams, WasmResults, WasmRet, WasmTy};

use crate::engine::Trampoline;
use crate::store::{AsContextMut, StoreInner, StoreOpaque};
use crate::trap::unwind_to_error;
use crate::types::FuncType;
use crate::values::Val;
use crate::vm::instance::Instance;
use crate::vm::traphandlers::{UnwindReason, catch_traps};
use crate::vm::{VMFuncRef, ValRaw, stack};
use anyhow::{Result, bail};
use kiln_cranelift::TrampolineKind;
use kiln_environ::SignatureRepr;

/// A function: a Wasm function of an instance, or a host function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Func {
    store: u64,
    index: usize,
}

pub(crate) enum FuncKind {
    Wasm { entry: Trampoline },
    Host(Box<HostFuncContext>),
}

pub(crate) struct FuncData {
    func_ref: *const VMFuncRef,
    ty: FuncType,
    type_id: u32,
    kind: FuncKind,
}

fn signature_repr(store: &StoreOpaque, ty: &FuncType) -> SignatureRepr {
    let repr = |t: &crate::ValType| match t {
        crate::ValType::I32 => kiln_environ::ValRepr::I32,
        crate::ValType::I64 => kiln_environ::ValRepr::I64,
        crate::ValType::F32 => kiln_environ::ValRepr::F32,
        crate::ValType::F64 => kiln_environ::ValRepr::F64,
        crate::ValType::V128 => kiln_environ::ValRepr::V128,
        crate::ValType::Ref(r) if crate::values::is_func_hierarchy(store, r.heap_type()) => kiln_environ::ValRepr::FuncRef,
        crate::ValType::Ref(_) => kiln_environ::ValRepr::GcRef,
    };
    SignatureRepr { params: ty.params().iter().map(repr).collect(), results: ty.results().iter().map(repr).collect() }
}

impl Func {
    fn data<'a>(&self, store: &'a StoreOpaque) -> &'a FuncData {
        store.check(self.store);
        &store.funcs[self.index]
    }

    pub(crate) fn func_ref_addr(&self, store: &StoreOpaque) -> usize {
        self.data(store).func_ref as usize
    }

    pub(crate) fn type_id(&self, store: &StoreOpaque) -> u32 {
        self.data(store).type_id
    }

    pub fn ty(&self, store: impl crate::AsContext) -> FuncType {
        self.ty_in(&store.as_context())
    }

    pub(crate) fn ty_in(&self, store: &StoreOpaque) -> FuncType {
        self.data(store).ty.clone()
    }

    fn push(store: &mut StoreOpaque, data: FuncData) -> Func {
        let index = store.funcs.len();
        store.func_by_ref.insert(data.func_ref as usize, index);
        store.funcs.push(data);
        Func { store: store.id(), index }
    }

    /// The handle of the function behind a raw funcref (null gives None).
    ///
    /// # Safety
    /// A non-null `addr` must be a `VMFuncRef` owned by this store (an
    /// instance's function or a host function created in it).
    pub(crate) unsafe fn from_func_ref(store: &mut StoreOpaque, addr: usize) -> Option<Func> {
        if addr == 0 {
            return None;
        }
        if let Some(index) = store.func_by_ref.get(&addr) {
            return Some(Func { store: store.id(), index: *index });
        }
        // SAFETY: per the contract, a live funcref of this store.
        let func_ref = unsafe { &*(addr as *const VMFuncRef) };
        // SAFETY: a funcref's vmctx is an instance's or a host function's
        // context; host functions are always registered at creation, so an
        // unknown funcref belongs to an instance.
        debug_assert!(unsafe { Instance::is_instance_vmctx(func_ref.vmctx) });
        let ty = match &store.engine().inner.types.get(func_ref.type_id).composite {
            kiln_environ::WasmCompositeType::Func(f) => FuncType::from_wasm(f),
            other => unreachable!("funcref of non-function type {other:?}"),
        };
        let sig = signature_repr(store, &ty);
        let entry = store.engine().trampoline(&sig, TrampolineKind::ArrayToWasm).expect("trampolines compile for every signature");
        Some(Func::push(store, FuncData { func_ref: addr as *const VMFuncRef, ty, type_id: func_ref.type_id, kind: FuncKind::Wasm { entry } }))
    }

    /// Calls the function with `params`, writing its results to `results`.
    pub fn call<T: 'static>(&self, mut store: impl AsContextMut<Data = T>, params: &[Val], results: &mut [Val]) -> Result<()> {
        let cx = store.as_context_mut();
        call_in(cx.0, *self, params, results)
    }

    pub fn typed<P: WasmParams, R: WasmResults>(&self, store: impl crate::AsContext) -> Result<TypedFunc<P, R>> {
        let cx = store.as_context();
        typed::check_signature::<P, R>(&cx.engine().inner.types, &self.ty_in(&cx))?;
        Ok(TypedFunc::new(*self))
    }
}

fn call_in<T: 'static>(store: &mut StoreInner<T>, func: Func, params: &[Val], results: &mut [Val]) -> Result<()> {
    let data = func.data(&store.opaque);
    let ty = data.ty.clone();
    if params.len() != ty.params().len() {
        bail!("expected {} arguments, got {}", ty.params().len(), params.len());
    }
    if results.len() != ty.results().len() {
        bail!("expected {} results, got {}", ty.results().len(), results.len());
    }
    for (i, (p, t)) in params.iter().zip(ty.params()).enumerate() {
        if !p.matches_in(&store.opaque, t)? {
            bail!("argument {i} type mismatch: expected {t}, got {p:?}");
        }
    }
    match &data.kind {
        FuncKind::Host(ctx) => {
            let f = ctx.host_fn::<T>();
            f(Caller::new(store, None), params, results)?;
            host::check_results(&store.opaque, &ty, results)
        }
        FuncKind::Wasm { entry } => {
            let entry = entry.address;
            let func_ref = data.func_ref;
            let mut values: Vec<ValRaw> = vec![ValRaw::default(); params.len().max(results.len())];
            for ((slot, p), t) in values.iter_mut().zip(params).zip(ty.params()) {
                *slot = p.to_wasm_raw(&mut store.opaque, t)?;
            }
            invoke_wasm(&mut store.opaque, func_ref, entry, &mut values)?;
            for (i, (r, t)) in results.iter_mut().zip(ty.results()).enumerate() {
                *r = Val::from_raw(&mut store.opaque, values[i], t);
            }
            Ok(())
        }
    }
}

/// Calls the Wasm function `func_ref` through its array-to-Wasm
/// trampoline `entry`, with arguments and results in `values`.
pub(crate) fn invoke_wasm(store: &mut StoreOpaque, func_ref: *const VMFuncRef, entry: usize, values: &mut [ValRaw]) -> Result<()> {
    let ctx = store.vm_store_context();
    // SAFETY: the store context is only written by this thread while it
    // runs this store's Wasm.
    let prev_limit = unsafe { *ctx.stack_limit.get() };
    if prev_limit == usize::MAX {
        let limit = stack::stack_limit(stack::current_sp(), store.engine().config().max_wasm_stack);
        // SAFETY: as above.
        unsafe { *ctx.stack_limit.get() = limit };
    }
    // SAFETY: `entry` is an array-to-Wasm trampoline compiled for this
    // function's signature, kept alive by the function's data.
    let trampoline: extern "C" fn(*mut u8, *mut u8, usize, *mut ValRaw) = unsafe { std::mem::transmute(entry) };
    // SAFETY: `func_ref` is a live funcref of this store.
    let (vmctx, wasm_call) = unsafe { ((*func_ref).vmctx, (*func_ref).wasm_call) };
    let values_ptr = values.as_mut_ptr();
    let result = catch_traps(ctx, &mut || trampoline(vmctx, vmctx, wasm_call, values_ptr));
    // SAFETY: as above.
    unsafe { *ctx.stack_limit.get() = prev_limit };
    store.sync_gc_cursor_in();
    // Back on the host: a collection under Wasm frames may have caught a
    // host value's panicking `Drop`.
    store.resume_host_data_drop_panic();
    result.map_err(|reason| match reason {
        UnwindReason::Exception { exn, backtrace } => {
            let error = store.exception_to_error(exn);
            crate::trap::with_backtrace(error, &backtrace)
        }
        reason => unwind_to_error(reason),
    })
}

impl Func {
    /// Registers the instance function `func_ref` (if not yet known).
    pub(crate) fn for_instance_func(store: &mut StoreOpaque, func_ref: *const VMFuncRef) -> Func {
        // SAFETY: instance funcrefs live as long as the store.
        unsafe { Func::from_func_ref(store, func_ref as usize) }.expect("instance funcrefs are never null")
    }
}
