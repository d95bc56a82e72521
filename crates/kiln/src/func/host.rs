//! Host functions: Rust closures callable from Wasm.
//!
//! A host function's context starts with a magic and its array-call entry
//! (`vmoffsets::host_ctx`), followed by its `VMFuncRef`. Wasm calls it
//! through the wasm-to-array trampoline, which calls [`host_array_call`]
//! with the arguments in an array. That shim never unwinds: it catches
//! errors and panics, records them in the activation and returns false,
//! and the trampoline then raises.

use super::{Func, FuncData, FuncKind, signature_repr};
use crate::engine::Trampoline;
use crate::externals::Extern;
use crate::store::{AsContext, AsContextMut, StoreContext, StoreContextMut, StoreInner, StoreOpaque};
use crate::types::FuncType;
use crate::values::Val;
use crate::vm::backtrace::capture_from_exit;
use crate::vm::instance::{Instance, InstanceId};
use crate::vm::traphandlers::{self, UnwindReason};
use crate::vm::{VMFuncRef, ValRaw};
use anyhow::{Result, bail};
use kiln_cranelift::TrampolineKind;
use kiln_environ::vmoffsets::HOST_CTX_MAGIC;
use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

type HostFn<T> = dyn Fn(Caller<'_, T>, &[Val], &mut [Val]) -> Result<()> + Send + Sync + 'static;

#[repr(C)]
pub(crate) struct HostFuncContext {
    magic: u32,
    _pad: u32,
    array_call: usize,
    func_ref: VMFuncRef,
    /// An `Arc<HostFn<T>>` for the store's `T`.
    func: Box<dyn Any + Send + Sync>,
    ty: FuncType,
    _trampoline: Trampoline,
}

impl HostFuncContext {
    pub(crate) fn host_fn<T: 'static>(&self) -> Arc<HostFn<T>> {
        self.func.downcast_ref::<Arc<HostFn<T>>>().expect("host function called with a store of another data type").clone()
    }
}

/// The store and calling instance, as seen by a host function.
pub struct Caller<'a, T> {
    pub(crate) store: &'a mut StoreInner<T>,
    pub(crate) instance: Option<InstanceId>,
}

impl<'a, T> Caller<'a, T> {
    pub(crate) fn new(store: &'a mut StoreInner<T>, instance: Option<InstanceId>) -> Self {
        Caller { store, instance }
    }

    pub fn data(&self) -> &T {
        &self.store.data
    }

    pub fn data_mut(&mut self) -> &mut T {
        &mut self.store.data
    }

    pub fn engine(&self) -> &crate::Engine {
        self.store.opaque.engine()
    }

    /// Diagnostics: the GC references the suspended Wasm code keeps live
    /// across its calls, found through the compiled code's stack maps;
    /// exactly what a collection treats as this store's stack roots (i31
    /// values and nulls included, as they are in the slots).
    pub fn stack_gc_roots(&mut self) -> Result<Vec<crate::Rooted<crate::AnyRef>>> {
        let opaque = &mut self.store.opaque;
        let mut raws = Vec::new();
        // SAFETY: we are in a host call of this store's Wasm; the slots
        // are only read.
        let walked = unsafe { crate::vm::stack_roots::visit_stack_roots(opaque.vm_store_context(), |slot| raws.push(*slot)) };
        walked?;
        raws.into_iter().filter(|raw| *raw != 0).map(|raw| crate::Rooted::new(opaque, raw)).collect()
    }

    /// An export of the instance whose code called this function.
    pub fn get_export(&mut self, name: &str) -> Option<Extern> {
        let id = self.instance?;
        crate::instance::Instance::from_id(&self.store.opaque, id).get_export(StoreContextMut(self.store), name)
    }
}

crate::store::gc_methods!(Caller<'_, T>);

impl<'a, T> From<&'a Caller<'_, T>> for StoreContext<'a, T> {
    fn from(c: &'a Caller<'_, T>) -> Self {
        StoreContext(c.store)
    }
}

impl<'a, T> From<&'a mut Caller<'_, T>> for StoreContextMut<'a, T> {
    fn from(c: &'a mut Caller<'_, T>) -> Self {
        StoreContextMut(c.store)
    }
}

impl<T> AsContext for Caller<'_, T> {
    type Data = T;
    fn as_context(&self) -> StoreContext<'_, T> {
        StoreContext(self.store)
    }
}

impl<T> AsContextMut for Caller<'_, T> {
    fn as_context_mut(&mut self) -> StoreContextMut<'_, T> {
        StoreContextMut(self.store)
    }
}

impl Func {
    /// A host function of type `ty` that runs `f`.
    pub fn new<T: 'static>(
        mut store: impl AsContextMut<Data = T>,
        ty: FuncType,
        f: impl Fn(Caller<'_, T>, &[Val], &mut [Val]) -> Result<()> + Send + Sync + 'static,
    ) -> Func {
        let f: Arc<HostFn<T>> = Arc::new(f);
        Func::new_arc(&mut store.as_context_mut(), ty, f)
    }

    pub(crate) fn new_arc<T: 'static>(store: &mut StoreOpaque, ty: FuncType, f: Arc<HostFn<T>>) -> Func {
        // Fails only when the engine holds 2^22 - 1 distinct types
        // (`TypeDisplays::CAPACITY`), over a gigabyte of type descriptions.
        let type_id = store.engine().inner.types.register_func_type(&ty.to_wasm()).expect("the engine has room for another type");
        let sig = signature_repr(store, &ty);
        let trampoline = store.engine().trampoline(&sig, TrampolineKind::WasmToArray).expect("trampolines compile for every signature");
        let mut ctx = Box::new(HostFuncContext {
            magic: HOST_CTX_MAGIC,
            _pad: 0,
            array_call: host_array_call::<T> as *const () as usize,
            func_ref: VMFuncRef::new(trampoline.address, 0, std::ptr::null_mut(), type_id),
            func: Box::new(f),
            ty: ty.clone(),
            _trampoline: trampoline,
        });
        let ctx_ptr: *mut HostFuncContext = &mut *ctx;
        ctx.func_ref.vmctx = ctx_ptr.cast();
        ctx.func_ref.array_call = ctx.array_call;
        let func_ref: *const VMFuncRef = &ctx.func_ref;
        Func::push(store, FuncData { func_ref, ty, type_id, kind: FuncKind::Host(ctx) })
    }
}

/// Checks that a host function produced values of its declared types.
pub(crate) fn check_results(store: &StoreOpaque, ty: &FuncType, results: &[Val]) -> Result<()> {
    for (i, (r, t)) in results.iter().zip(ty.results()).enumerate() {
        if !r.matches_in(store, t)? {
            bail!("host function returned a value of the wrong type for result {i}: expected {t}, got {r:?}");
        }
    }
    Ok(())
}

/// The array-call entry of every host function of a `Store<T>`.
///
/// # Safety
/// Called only by the wasm-to-array trampoline: `ctx` is this function's
/// context, `caller_vmctx` the calling instance's VMContext, and `values`
/// holds `len` slots with the arguments.
unsafe extern "C" fn host_array_call<T: 'static>(ctx: *mut HostFuncContext, caller_vmctx: *mut u8, values: *mut ValRaw, len: usize) -> bool {
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: per the contract; the caller instance's store is a
        // `StoreInner<T>` (host functions are created per store) and no
        // other reference to it is in use while Wasm calls out.
        let (ctx, instance, values) = unsafe { (&*ctx, Instance::from_vmctx(caller_vmctx), std::slice::from_raw_parts_mut(values, len)) };
        // SAFETY: `StoreInner<T>` is `repr(C)` with the `StoreOpaque` the
        // instance points at as its first field (see store.rs).
        let store = unsafe { &mut *(instance.store as *mut StoreInner<T>) };
        // Read before running the closure: nested calls overwrite it.
        // SAFETY: only this thread writes the store context while it runs.
        let exit_fp = unsafe { *store.opaque.vm_store_context().last_exit_fp.get() };
        let instance_id = instance.id;
        let result = call_host(store, ctx, instance_id, values);
        result.map_err(|error| {
            // A thrown exception goes to the Wasm caller's handlers.
            if error.is::<crate::ThrownException>() && store.opaque.has_pending_exception() {
                return UnwindReason::HostThrow { fp: exit_fp };
            }
            let entry_fp = traphandlers::current().map_or(0, |s| s.entry_fp());
            UnwindReason::HostError { error, backtrace: capture_from_exit(exit_fp, entry_fp) }
        })
    }));
    let reason = match outcome {
        Ok(Ok(())) => return true,
        Ok(Err(reason)) => reason,
        Err(panic) => UnwindReason::Panic(panic),
    };
    traphandlers::current().expect("host function called from Wasm").set_unwind(reason);
    false
}

fn call_host<T: 'static>(store: &mut StoreInner<T>, ctx: &HostFuncContext, instance: InstanceId, values: &mut [ValRaw]) -> Result<()> {
    // Handles made for this call (parameters, results, anything the host
    // function creates) are released when it returns.
    store.opaque.sync_gc_cursor_in();
    let height = store.opaque.gc_host_roots.lifo_height();
    let result = catch_unwind(AssertUnwindSafe(|| call_host_in_scope(store, ctx, instance, values)));
    store.opaque.release_lifo_roots(height);
    result.unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

fn call_host_in_scope<T: 'static>(store: &mut StoreInner<T>, ctx: &HostFuncContext, instance: InstanceId, values: &mut [ValRaw]) -> Result<()> {
    let params: Vec<Val> = ctx.ty.params().iter().enumerate().map(|(i, t)| Val::from_raw(&mut store.opaque, values[i], t)).collect();
    let mut results: Vec<Val> = ctx.ty.results().iter().map(|t| Val::default_for(&store.opaque, t).unwrap_or(Val::I32(0))).collect();
    let f = ctx.host_fn::<T>();
    f(Caller::new(store, Some(instance)), &params, &mut results)?;
    check_results(&store.opaque, &ctx.ty, &results)?;
    for ((slot, r), t) in values.iter_mut().zip(&results).zip(ctx.ty.results()) {
        *slot = r.to_wasm_raw(&mut store.opaque, t)?;
    }
    Ok(())
}
