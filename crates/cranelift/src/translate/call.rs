//! Calls: direct, through imports, `call_indirect`, `call_ref` and their
//! tail-call forms.
//!
//! Every Wasm function takes `(callee_vmctx, caller_vmctx, params...)`.
//! Defined functions of the same module are called directly (the call is
//! patched when the module's code is linked); anything else is called
//! through its `VMFuncRef`.

use super::{FuncTranslator, trap_code};
use crate::CompileError;
use crate::func_env::POINTER;
use cranelift_codegen::ir::{self, InstBuilder, Value, types::*};
use kiln_environ::vmoffsets::func_ref;
use kiln_environ::Trap;
use wasmparser::Operator;

/// Whether a call returns to the caller or replaces its frame.
#[derive(Clone, Copy, PartialEq, Eq)]
enum CallKind {
    Normal,
    Tail,
}

impl FuncTranslator<'_, '_> {
    /// Handles call operators; returns false for any other operator.
    pub(super) fn call_operator(&mut self, op: &Operator<'_>) -> Result<bool, CompileError> {
        use Operator as O;
        match *op {
            O::Call { function_index } => self.translate_call(function_index, CallKind::Normal),
            O::ReturnCall { function_index } => self.translate_call(function_index, CallKind::Tail),
            O::CallIndirect { type_index, table_index } => self.translate_call_indirect(type_index, table_index, CallKind::Normal),
            O::ReturnCallIndirect { type_index, table_index } => self.translate_call_indirect(type_index, table_index, CallKind::Tail),
            O::CallRef { type_index } => self.translate_call_ref(type_index, CallKind::Normal),
            O::ReturnCallRef { type_index } => self.translate_call_ref(type_index, CallKind::Tail),
            _ => return Ok(false),
        }
        Ok(true)
    }

    fn signature_ref(&mut self, type_index: u32) -> ir::SigRef {
        if let Some(s) = self.sig_refs.get(&type_index) {
            return *s;
        }
        let sig = self.env.wasm_signature(self.env.module.func_type(type_index));
        let s = self.b.import_signature(sig);
        self.sig_refs.insert(type_index, s);
        s
    }

    fn direct_func_ref(&mut self, index: u32) -> ir::FuncRef {
        if let Some(f) = self.func_refs.get(&index) {
            return *f;
        }
        let type_index = self.env.module.funcs[index as usize];
        let signature = self.signature_ref(type_index);
        let name = self.b.func.declare_imported_user_function(ir::UserExternalName { namespace: 0, index });
        let f = self.b.import_function(ir::ExtFuncData {
            name: ir::ExternalName::user(name),
            signature,
            colocated: true,
            patchable: false,
        });
        self.func_refs.insert(index, f);
        f
    }

    fn translate_call(&mut self, index: u32, kind: CallKind) {
        if self.env.module.is_imported_func(index) {
            let offset = self.env.offsets.func_ref(index);
            let funcref = self.env.load_vmctx_ptr(&mut self.b, self.vmctx, offset);
            let type_index = self.env.module.funcs[index as usize];
            return self.call_func_ref(funcref, type_index, kind);
        }
        let f = self.direct_func_ref(index);
        let type_index = self.env.module.funcs[index as usize];
        let n = self.env.module.func_type(type_index).params.len();
        let mut args = vec![self.vmctx, self.vmctx];
        args.extend(self.popn(n));
        match kind {
            CallKind::Normal => {
                let results = match self.landing_pad() {
                    Some(landing) => {
                        let sig = self.b.func.dfg.ext_funcs[f].signature;
                        self.emit_try_call(landing, sig, Ok(f), &args)
                    }
                    None => {
                        let call = self.b.ins().call(f, &args);
                        self.b.inst_results(call).to_vec()
                    }
                };
                let tys = self.env.module.func_type(type_index).results.to_vec();
                self.declare_all_if_gc_refs(&tys, &results);
                self.stack.extend(results);
            }
            CallKind::Tail => {
                self.b.ins().return_call(f, &args);
                self.reachable = false;
            }
        }
    }

    fn translate_call_indirect(&mut self, type_index: u32, table: u32, kind: CallKind) {
        let index = self.pop();
        let funcref = self.table_get(table, index);
        self.b.ins().trapz(funcref, trap_code(Trap::IndirectCallToNull));
        // The callee's type must be a subtype of the expected one, compared
        // by engine-wide type id.
        let actual = self.b.ins().load(I32, self.flags.vm_readonly, funcref, func_ref::TYPE_ID as i32);
        let matches = self.subtype_check(actual, type_index);
        self.b.ins().trapz(matches, trap_code(Trap::BadSignature));
        self.call_func_ref(funcref, type_index, kind);
    }

    fn translate_call_ref(&mut self, type_index: u32, kind: CallKind) {
        let funcref = self.pop();
        if !self.facts(funcref).non_null {
            self.b.ins().trapz(funcref, trap_code(Trap::NullFunctionReference));
        }
        self.call_func_ref(funcref, type_index, kind);
    }

    /// Calls the non-null `funcref` whose signature is `type_index`.
    fn call_func_ref(&mut self, funcref: Value, type_index: u32, kind: CallKind) {
        let sig = self.signature_ref(type_index);
        let n = self.env.module.func_type(type_index).params.len();
        let code = self.b.ins().load(POINTER, self.flags.vm_readonly, funcref, func_ref::WASM_CALL as i32);
        let callee_vmctx = self.b.ins().load(POINTER, self.flags.vm_readonly, funcref, func_ref::VMCTX as i32);
        let mut args = vec![callee_vmctx, self.vmctx];
        args.extend(self.popn(n));
        match kind {
            CallKind::Normal => {
                let results = match self.landing_pad() {
                    Some(landing) => self.emit_try_call(landing, sig, Err(code), &args),
                    None => {
                        let call = self.b.ins().call_indirect(sig, code, &args);
                        self.b.inst_results(call).to_vec()
                    }
                };
                let tys = self.env.module.func_type(type_index).results.to_vec();
                self.declare_all_if_gc_refs(&tys, &results);
                self.stack.extend(results);
            }
            CallKind::Tail => {
                self.b.ins().return_call_indirect(sig, code, &args);
                self.reachable = false;
            }
        }
    }
}
