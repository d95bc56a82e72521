//! Globals and reference operators: `global.get/set`, `ref.null`,
//! `ref.is_null`, `ref.func`, `ref.as_non_null`, `br_on_null`,
//! `br_on_non_null`.
//!
//! Globals live in 16-byte cells reached through the VMContext, whether
//! the global is imported or defined.

use super::control::block_args;
use super::{FuncTranslator, trap_code};
use crate::CompileError;
use crate::func_env::repr_type;
use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{self, InstBuilder, MemFlagsData, types::*};
use kiln_environ::Trap;
use wasmparser::Operator;

impl FuncTranslator<'_, '_> {
    /// Handles global and reference operators; returns false for any other.
    pub(super) fn refs_operator(&mut self, op: &Operator<'_>) -> Result<bool, CompileError> {
        use Operator as O;
        match *op {
            O::GlobalGet { global_index } => {
                let (addr, ty, flags) = self.global_cell(global_index);
                let v = if self.global_is_gc_ref(global_index) {
                    let gc = self.gc;
                    let v = gc.load_gc_ref(self, flags, addr);
                    self.b.declare_value_needs_stack_map(v);
                    v
                } else {
                    self.b.ins().load(ty, flags, addr, 0)
                };
                self.push(v);
            }
            O::GlobalSet { global_index } => {
                let v = self.pop();
                let (addr, _, flags) = self.global_cell(global_index);
                if self.global_is_gc_ref(global_index) {
                    let (gc, held) = (self.gc, self.global_facts(global_index));
                    gc.store_gc_ref(self, flags, crate::gc::RefSlot::Root, addr, v, held);
                } else {
                    self.b.ins().store(flags, v, addr, 0);
                }
            }
            O::RefNull { hty } => {
                let heap = super::convert_heap_type(hty);
                let repr = self.env.ref_repr(kiln_environ::WasmRefType { nullable: true, heap });
                let v = self.b.ins().iconst(repr_type(repr), 0);
                self.push(v);
            }
            O::RefIsNull => {
                let x = self.pop();
                let c = self.b.ins().icmp_imm_u(IntCC::Equal, x, 0);
                let v = self.b.ins().uextend(I32, c);
                self.push(v);
            }
            O::RefFunc { function_index } => {
                let offset = self.env.offsets.func_ref(function_index);
                let v = self.env.load_vmctx_ptr(&mut self.b, self.vmctx, offset);
                self.push(v);
            }
            O::RefAsNonNull => {
                let x = *self.stack.last().unwrap();
                self.b.ins().trapz(x, trap_code(Trap::NullReference));
            }
            O::BrOnNull { relative_depth } => {
                let x = self.pop();
                let (target, arity) = self.branch_target_of(relative_depth);
                let args = self.peekn(arity).to_vec();
                let next = self.b.create_block();
                // Taken when null: the branch carries the values below the reference.
                self.b.ins().brif(x, next, &[], target, &block_args(&args));
                self.b.seal_block(next);
                self.b.switch_to_block(next);
                self.push(x);
            }
            O::BrOnNonNull { relative_depth } => {
                let x = *self.stack.last().unwrap();
                let (target, arity) = self.branch_target_of(relative_depth);
                let args = self.peekn(arity).to_vec();
                let next = self.b.create_block();
                self.b.ins().brif(x, target, &block_args(&args), next, &[]);
                self.b.seal_block(next);
                self.b.switch_to_block(next);
                self.pop();
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    fn global_is_gc_ref(&self, index: u32) -> bool {
        self.env.is_gc_heap_ref(self.env.module.globals[index as usize].content)
    }

    /// What global `index`'s type guarantees of the reference it holds.
    fn global_facts(&self, index: u32) -> super::RefFacts {
        match self.env.module.globals[index as usize].content {
            kiln_environ::WasmValType::Ref(r) => self.facts_of_type(r),
            _ => super::RefFacts::default(),
        }
    }

    /// Address, CLIF type and flags of global `index`'s cell.
    fn global_cell(&mut self, index: u32) -> (ir::Value, ir::Type, MemFlagsData) {
        let ty = self.env.module.globals[index as usize];
        let clif = self.env.clif_type(ty.content);
        let offset = self.env.offsets.global_ptr(index);
        let addr = self.env.load_vmctx_ptr(&mut self.b, self.vmctx, offset);
        let mut flags = MemFlagsData::trusted();
        if !ty.mutable {
            flags = flags.with_readonly();
        }
        (addr, clif, flags)
    }
}
