//! Exception handling: `try_table`, `throw`, `throw_ref`, and the legacy
//! instructions (`try`, `catch`, `catch_all`, `rethrow`, `delegate`) on
//! the same landing pads and dispatch.
//!
//! Exceptions are GC objects (an exnref is a heap reference, see
//! `gc_layout::exception_layout`); a payload moves between Wasm and the
//! runtime through a 16-byte-per-value stack array, as with host calls.
//!
//! Inside a `try_table`, every call to Wasm code (Tail convention, which
//! clobbers all registers on the exceptional edge, so nothing needs
//! restoring) is a `try_call` whose only handler is a catch-all landing
//! pad. The runtime's unwinder finds that pad through the call-site table,
//! stores the exception in the store context, and resumes there with the
//! frame's stack and frame pointers. The pad passes the exception to the
//! try_table's dispatch block, which tests the catch clauses in order and
//! falls through to the enclosing try_table's dispatch (or unwinds further
//! out of the function). A `throw` inside a try_table jumps straight to
//! its dispatch block: no unwinding is needed within a function.

use super::control::block_args;
use super::{FuncTranslator, trap_code};
use crate::func_env::POINTER;
use cranelift_codegen::ir::{self, Block, BlockArg, InstBuilder, StackSlotData, StackSlotKind, Value, types::I32};
use kiln_environ::vmoffsets::{VAL_RAW_SIZE, VMCTX_STORE_CONTEXT_OFFSET, store_context};
use kiln_environ::{Builtin, Trap, WasmValType};
use wasmparser::Catch;

/// The landing pad and clauses of a `try_table` or a legacy `try`.
#[derive(Debug, Clone)]
pub struct TryTable {
    /// Where try_calls land; it loads the pending exception.
    pub landing: Block,
    /// Takes the exnref and tests the clauses.
    pub dispatch: Block,
    pub clauses: Vec<Clause>,
}

/// What a caught exception does.
#[derive(Debug, Clone)]
pub enum Clause {
    /// A `try_table` clause: a branch to a label.
    Label(Catch),
    /// A legacy `catch` (with its tag) or `catch_all`: the handler's block,
    /// which takes the payload (none for `catch_all`) and the exnref.
    Handler { tag: Option<u32>, block: Block },
    /// A legacy `delegate`: the dispatch of the handler it names, or
    /// `None` for the caller's.
    Delegate(Option<Block>),
}

fn catch_label(c: &Catch) -> u32 {
    match *c {
        Catch::One { label, .. } | Catch::OneRef { label, .. } | Catch::All { label } | Catch::AllRef { label } => label,
    }
}

impl FuncTranslator<'_, '_> {
    /// The innermost `try_table` of this function enclosing the current
    /// point, if any.
    pub(super) fn innermost_try_table(&self) -> Option<&TryTable> {
        self.control.iter().rev().find_map(|f| f.try_table.as_ref())
    }

    pub(super) fn begin_try_table(&mut self, try_table: &wasmparser::TryTable) -> TryTable {
        // Labels are relative to the context outside the try_table, which
        // is the current control stack.
        for c in &try_table.catches {
            self.mark_label_reached(catch_label(c));
        }
        let mut table = self.new_try_table();
        table.clauses = try_table.catches.iter().cloned().map(Clause::Label).collect();
        table
    }

    /// A landing pad and dispatch with no clauses yet.
    pub(super) fn new_try_table(&mut self) -> TryTable {
        let landing = self.b.create_block();
        let dispatch = self.b.create_block();
        let exn = self.b.append_block_param(dispatch, I32);
        self.b.declare_value_needs_stack_map(exn);
        TryTable { landing, dispatch, clauses: Vec::new() }
    }

    /// Emits the landing pad and dispatch of a try_table (or legacy try)
    /// whose frame was just popped, and seals the legacy handlers, which
    /// the dispatch alone enters. The current block must be filled.
    pub(super) fn end_try_table(&mut self, t: TryTable) {
        let handlers: Vec<Block> = t.clauses.iter().filter_map(|c| if let Clause::Handler { block, .. } = c { Some(*block) } else { None }).collect();
        self.emit_dispatch(t);
        for block in handlers {
            self.b.seal_block(block);
        }
    }

    fn emit_dispatch(&mut self, t: TryTable) {
        self.b.switch_to_block(t.landing);
        self.b.seal_block(t.landing);
        let ctx = self.env.load_vmctx_ptr(&mut self.b, self.vmctx, VMCTX_STORE_CONTEXT_OFFSET);
        let exn = self.b.ins().load(I32, self.flags.vm, ctx, store_context::PENDING_EXCEPTION as i32);
        self.b.ins().jump(t.dispatch, &[BlockArg::Value(exn)]);

        self.b.switch_to_block(t.dispatch);
        self.b.seal_block(t.dispatch);
        let exn = self.b.block_params(t.dispatch)[0];
        for clause in &t.clauses {
            let (tag, target, with_exn) = match clause {
                Clause::Label(c) => {
                    let (target, _) = self.branch_target_of(catch_label(c));
                    match *c {
                        Catch::One { tag, .. } => (Some(tag), target, false),
                        Catch::OneRef { tag, .. } => (Some(tag), target, true),
                        Catch::All { .. } => (None, target, false),
                        Catch::AllRef { .. } => (None, target, true),
                    }
                }
                Clause::Handler { tag, block } => (*tag, *block, true),
                Clause::Delegate(Some(outer)) => {
                    self.b.ins().jump(*outer, &[BlockArg::Value(exn)]);
                    return;
                }
                Clause::Delegate(None) => {
                    self.unwind_out_of_function(exn);
                    return;
                }
            };
            let Some(tag) = tag else {
                let args: &[BlockArg] = if with_exn { &[BlockArg::Value(exn)] } else { &[] };
                self.b.ins().jump(target, args);
                return;
            };
            let tag_index = self.b.ins().iconst(I32, tag as i64);
            let matches = self.env.call_builtin(&mut self.b, self.vmctx, Builtin::exception_matches, &[exn, tag_index]).unwrap();
            let take = self.b.create_block();
            let next = self.b.create_block();
            self.b.ins().brif(matches, take, &[], next, &[]);
            self.b.seal_block(take);
            self.b.seal_block(next);
            self.b.switch_to_block(take);
            let mut values = self.exception_payload(exn, tag);
            if with_exn {
                values.push(exn);
            }
            self.b.ins().jump(target, &block_args(&values));
            self.b.switch_to_block(next);
        }
        self.rethrow_outward(exn);
    }

    /// No clause here matched: try the enclosing try_table, or leave the
    /// function.
    fn rethrow_outward(&mut self, exn: Value) {
        match self.innermost_try_table().map(|t| t.dispatch) {
            Some(outer) => {
                self.b.ins().jump(outer, &[BlockArg::Value(exn)]);
            }
            None => self.unwind_out_of_function(exn),
        }
    }

    /// Hands `exn` to the runtime, which unwinds to the caller's handler.
    fn unwind_out_of_function(&mut self, exn: Value) {
        self.facts.unwinds_exceptions = true;
        let fp = self.b.ins().get_frame_pointer(POINTER);
        self.env.call_builtin(&mut self.b, self.vmctx, Builtin::unwind_exception, &[exn, fp]);
        self.b.ins().trap(trap_code(Trap::UnreachableCodeReached));
    }

    pub(super) fn tag_params(&self, tag: u32) -> Vec<WasmValType> {
        let ty = self.env.module.tags[tag as usize].func_type;
        self.env.module.func_type(ty).params.to_vec()
    }

    fn payload_slot(&mut self, n: usize) -> Value {
        let size = (n.max(1) as u32) * VAL_RAW_SIZE;
        let slot = self.b.create_sized_stack_slot(StackSlotData::new(StackSlotKind::ExplicitSlot, size, 4));
        self.b.ins().stack_addr(POINTER, slot, 0)
    }

    fn exception_payload(&mut self, exn: Value, tag: u32) -> Vec<Value> {
        let params = self.tag_params(tag);
        let array = self.payload_slot(params.len());
        let tag_index = self.b.ins().iconst(I32, tag as i64);
        let ok = self.env.call_builtin(&mut self.b, self.vmctx, Builtin::exception_payload, &[exn, tag_index, array]).unwrap();
        self.b.ins().trapz(ok, trap_code(Trap::BadGcFuncRef));
        params
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let ty = self.env.clif_type(*t);
                let v = self.b.ins().load(ty, ir::MemFlagsData::trusted(), array, (i as u32 * VAL_RAW_SIZE) as i32);
                self.declare_if_gc_ref(*t, v);
                v
            })
            .collect()
    }

    pub(super) fn translate_throw(&mut self, tag: u32) {
        let n = self.tag_params(tag).len();
        let values = self.popn(n);
        let array = self.payload_slot(n);
        for (i, v) in values.iter().enumerate() {
            self.b.ins().store(ir::MemFlagsData::trusted(), *v, array, (i as u32 * VAL_RAW_SIZE) as i32);
        }
        let tag_index = self.b.ins().iconst(I32, tag as i64);
        let exn = self.env.call_builtin(&mut self.b, self.vmctx, Builtin::new_exception, &[tag_index, array]).unwrap();
        self.b.ins().trapz(exn, trap_code(Trap::GcHeapOutOfMemory));
        self.throw_exception(exn);
    }

    pub(super) fn translate_throw_ref(&mut self) {
        let exn = self.pop();
        self.b.ins().trapz(exn, trap_code(Trap::NullExceptionReference));
        self.throw_exception(exn);
    }

    pub(super) fn throw_exception(&mut self, exn: Value) {
        self.rethrow_outward(exn);
        self.reachable = false;
    }

    /// The landing pad calls made here must use, if inside a try_table.
    pub(super) fn landing_pad(&self) -> Option<Block> {
        self.innermost_try_table().map(|t| t.landing)
    }

    /// Emits a call that may be caught: a `try_call` to `landing` whose
    /// normal return continues in a new block receiving the results.
    pub(super) fn emit_try_call(&mut self, landing: Block, sig: ir::SigRef, callee: Result<ir::FuncRef, Value>, args: &[Value]) -> Vec<Value> {
        let returns: Vec<ir::Type> = self.b.func.dfg.signatures[sig].returns.iter().map(|r| r.value_type).collect();
        let cont = self.b.create_block();
        for ty in &returns {
            self.b.append_block_param(cont, *ty);
        }
        let rets: Vec<BlockArg> = (0..returns.len() as u32).map(BlockArg::TryCallRet).collect();
        let normal = self.b.func.dfg.block_call(cont, &rets);
        let exceptional = self.b.func.dfg.block_call(landing, &[]);
        let table = ir::ExceptionTableData::new(sig, normal, [ir::ExceptionTableItem::Default(exceptional)]);
        let et = self.b.func.dfg.exception_tables.push(table);
        match callee {
            Ok(f) => self.b.ins().try_call(f, args, et),
            Err(ptr) => self.b.ins().try_call_indirect(ptr, args, et),
        };
        self.b.switch_to_block(cont);
        self.b.seal_block(cont);
        self.b.block_params(cont).to_vec()
    }
}
