//! Trampolines between the host's calling convention and Wasm's.
//!
//! - Array-to-Wasm (host calls Wasm): `extern "C" fn(callee_vmctx,
//!   caller_vmctx, wasm_call, values)` records its frame pointer in the
//!   store context as the entry frame (stack walks end there), loads the
//!   arguments from the 16-byte slots of `values`, calls `wasm_call`, and
//!   stores the results back into the same array.
//! - Wasm-to-array (Wasm calls the host): has the Wasm signature, spills the
//!   arguments into a stack array, records its frame pointer in the store
//!   context as the last Wasm exit (stack walks start there), and calls the
//!   host function's `array_call`. If that returns false the host function
//!   failed and left its error in the thread's call state; the trampoline
//!   then calls the `raise` builtin, which unwinds to the host entry.
//!
//! Trampolines depend only on the representation of the signature, so the
//! engine compiles each one once and shares it among modules.

use crate::compiler::Compiler;
use crate::func_env::{POINTER, builtin_signature, clif_type_of, exit_trampoline_signature, vm_flags, vm_readonly_flags};
use crate::link::link;
use crate::CompileError;
use cranelift_codegen::Context;
use cranelift_codegen::ir::{self, AbiParam, ArgumentPurpose, InstBuilder, MemFlagsData, Signature, StackSlotData, StackSlotKind, types};
use cranelift_codegen::isa::CallConv;
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};
use kiln_environ::vmoffsets::{VAL_RAW_SIZE, VMCTX_BUILTINS_OFFSET, VMCTX_STORE_CONTEXT_OFFSET, host_ctx, store_context};
use kiln_environ::{Builtin, SignatureRepr};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TrampolineKind {
    ArrayToWasm,
    WasmToArray,
}

/// Compiled trampolines: one image, and the offset of each requested one.
pub struct CompiledTrampolines {
    pub code: Vec<u8>,
    pub offsets: Vec<u32>,
}

impl Compiler {
    /// Compiles one trampoline per `(signature, kind)` request.
    pub fn compile_trampolines(&self, requests: &[(SignatureRepr, TrampolineKind)]) -> Result<CompiledTrampolines, CompileError> {
        let mut ctx = Context::new();
        let mut fb = FunctionBuilderContext::new();
        let mut funcs = Vec::with_capacity(requests.len());
        for (sig, kind) in requests {
            ctx.clear();
            match kind {
                TrampolineKind::ArrayToWasm => self.array_to_wasm(&mut ctx, &mut fb, sig),
                TrampolineKind::WasmToArray => self.wasm_to_array(&mut ctx, &mut fb, sig),
            }
            funcs.push(self.finish(&mut ctx, format!("{kind:?} trampoline"), |_| None)?);
        }
        let linked = link(&funcs)?;
        Ok(CompiledTrampolines { code: linked.code, offsets: linked.ranges.iter().map(|r| r.0).collect() })
    }

    fn host_call_conv(&self) -> CallConv {
        self.isa.default_call_conv()
    }

    fn wasm_signature(sig: &SignatureRepr) -> Signature {
        let mut s = Signature::new(CallConv::Tail);
        s.params.push(AbiParam::special(POINTER, ArgumentPurpose::VMContext));
        s.params.push(AbiParam::new(POINTER));
        s.params.extend(sig.params.iter().map(|r| AbiParam::new(clif_type_of(*r))));
        s.returns.extend(sig.results.iter().map(|r| AbiParam::new(clif_type_of(*r))));
        s
    }

    fn array_to_wasm(&self, ctx: &mut Context, fb: &mut FunctionBuilderContext, sig: &SignatureRepr) {
        let mut host_sig = Signature::new(self.host_call_conv());
        host_sig.params.extend([AbiParam::new(POINTER); 4]);
        ctx.func.signature = host_sig;
        let mut b = FunctionBuilder::new(&mut ctx.func, fb);
        let entry = b.create_block();
        b.append_block_params_for_function_params(entry);
        b.switch_to_block(entry);
        b.seal_block(entry);
        let [callee_vmctx, caller_vmctx, wasm_call, values] = b.block_params(entry).try_into().unwrap();
        // This frame is where stack walks of the activation end: the Wasm
        // callee's saved frame pointer is exactly this one.
        let (vm_rw, vm_ro) = (vm_flags(&mut b), vm_readonly_flags(&mut b));
        let store_ctx = b.ins().load(POINTER, vm_ro, callee_vmctx, VMCTX_STORE_CONTEXT_OFFSET as i32);
        let fp = b.ins().get_frame_pointer(POINTER);
        b.ins().store(vm_rw, fp, store_ctx, store_context::ENTRY_FP as i32);
        let flags = MemFlagsData::trusted();
        let mut args = vec![callee_vmctx, caller_vmctx];
        for (i, r) in sig.params.iter().enumerate() {
            args.push(b.ins().load(clif_type_of(*r), flags, values, (i as u32 * VAL_RAW_SIZE) as i32));
        }
        let wasm_sig = b.import_signature(Self::wasm_signature(sig));
        let call = b.ins().call_indirect(wasm_sig, wasm_call, &args);
        let results = b.inst_results(call).to_vec();
        for (i, v) in results.into_iter().enumerate() {
            b.ins().store(flags, v, values, (i as u32 * VAL_RAW_SIZE) as i32);
        }
        b.ins().return_(&[]);
        b.finalize(self.isa.frontend_config());
    }

    fn wasm_to_array(&self, ctx: &mut Context, fb: &mut FunctionBuilderContext, sig: &SignatureRepr) {
        ctx.func.signature = Self::wasm_signature(sig);
        let mut b = FunctionBuilder::new(&mut ctx.func, fb);
        let entry = b.create_block();
        b.append_block_params_for_function_params(entry);
        b.switch_to_block(entry);
        b.seal_block(entry);
        let params = b.block_params(entry).to_vec();
        let (callee_vmctx, caller_vmctx) = (params[0], params[1]);
        let (vm_rw, vm_ro) = (vm_flags(&mut b), vm_readonly_flags(&mut b));

        let slots = sig.params.len().max(sig.results.len()).max(1) as u32;
        let slot = b.create_sized_stack_slot(StackSlotData::new(StackSlotKind::ExplicitSlot, slots * VAL_RAW_SIZE, 4));
        let values = b.ins().stack_addr(POINTER, slot, 0);
        let flags = MemFlagsData::trusted();
        for (i, v) in params[2..].iter().enumerate() {
            b.ins().store(flags, *v, values, (i as u32 * VAL_RAW_SIZE) as i32);
        }

        let store_ctx = b.ins().load(POINTER, vm_ro, caller_vmctx, VMCTX_STORE_CONTEXT_OFFSET as i32);
        let fp = b.ins().get_frame_pointer(POINTER);
        b.ins().store(vm_rw, fp, store_ctx, store_context::LAST_EXIT_FP as i32);

        let mut host_sig = Signature::new(self.host_call_conv());
        host_sig.params.extend([AbiParam::new(POINTER); 3]);
        host_sig.params.push(AbiParam::new(types::I64));
        host_sig.returns.push(AbiParam::new(types::I8));
        let host_sig = b.import_signature(host_sig);
        let array_call = b.ins().load(POINTER, vm_ro, callee_vmctx, host_ctx::ARRAY_CALL as i32);
        let len = b.ins().iconst(types::I64, slots as i64);
        let call = b.ins().call_indirect(host_sig, array_call, &[callee_vmctx, caller_vmctx, values, len]);
        let ok = b.inst_results(call)[0];
        clear_exit_fp(&mut b, store_ctx, vm_rw);

        let failed = b.create_block();
        let done = b.create_block();
        b.ins().brif(ok, done, &[], failed, &[]);
        b.seal_block(failed);
        b.seal_block(done);

        b.switch_to_block(failed);
        let builtins = b.ins().load(POINTER, vm_ro, caller_vmctx, VMCTX_BUILTINS_OFFSET as i32);
        let raise = b.ins().load(POINTER, vm_ro, builtins, (Builtin::raise.index() * 8) as i32);
        let raise_sig = b.import_signature(builtin_signature(Builtin::raise, self.host_call_conv()));
        b.ins().call_indirect(raise_sig, raise, &[caller_vmctx]);
        // `raise` never returns.
        b.ins().trap(ir::TrapCode::unwrap_user(kiln_environ::Trap::UnreachableCodeReached as u8));

        b.switch_to_block(done);
        let mut results = Vec::with_capacity(sig.results.len());
        for (i, r) in sig.results.iter().enumerate() {
            results.push(b.ins().load(clif_type_of(*r), flags, values, (i as u32 * VAL_RAW_SIZE) as i32));
        }
        b.ins().return_(&results);
        b.finalize(self.isa.frontend_config());
    }
}

/// Wasm runs again: no exit frame is recorded until the next exit. A
/// collection that finds none while Wasm is active knows something called
/// out without a trampoline, rather than walking a stale frame.
fn clear_exit_fp(b: &mut FunctionBuilder, store_ctx: ir::Value, flags: MemFlagsData) {
    let zero = b.ins().iconst(POINTER, 0);
    b.ins().store(flags, zero, store_ctx, store_context::LAST_EXIT_FP as i32);
}

impl Compiler {
    /// A trampoline for builtin `f` that records its own frame pointer as
    /// the store's last exit frame and then calls `target` (the builtin's
    /// Rust function) with the same arguments. Builtins that may collect
    /// garbage are called through it, so the collector can walk the Wasm
    /// frames from that exit frame and find their stack maps.
    pub fn compile_exit_trampoline(&self, f: Builtin, target: usize) -> Result<CompiledTrampolines, CompileError> {
        let mut ctx = Context::new();
        let mut fb = FunctionBuilderContext::new();
        let sig = builtin_signature(f, self.host_call_conv());
        ctx.func.signature = exit_trampoline_signature(f);
        let mut b = FunctionBuilder::new(&mut ctx.func, &mut fb);
        let entry = b.create_block();
        b.append_block_params_for_function_params(entry);
        b.switch_to_block(entry);
        b.seal_block(entry);
        let params = b.block_params(entry).to_vec();
        let (vm_rw, vm_ro) = (vm_flags(&mut b), vm_readonly_flags(&mut b));
        let store_ctx = b.ins().load(POINTER, vm_ro, params[0], VMCTX_STORE_CONTEXT_OFFSET as i32);
        let fp = b.ins().get_frame_pointer(POINTER);
        b.ins().store(vm_rw, fp, store_ctx, store_context::LAST_EXIT_FP as i32);
        let callee = b.ins().iconst(POINTER, target as i64);
        let sig_ref = b.import_signature(sig);
        let call = b.ins().call_indirect(sig_ref, callee, &params);
        let result = b.inst_results(call)[0];
        b.ins().store(vm_rw, result, store_ctx, store_context::BUILTIN_RESULT as i32);
        clear_exit_fp(&mut b, store_ctx, vm_rw);
        b.ins().return_(&[]);
        b.finalize(self.isa.frontend_config());
        let func = self.finish(&mut ctx, format!("{} exit trampoline", f.name()), |_| None)?;
        let linked = link(std::slice::from_ref(&func))?;
        Ok(CompiledTrampolines { code: linked.code, offsets: linked.ranges.iter().map(|r| r.0).collect() })
    }
}
