//! Inlining small functions into their callers, within one module.
//!
//! Cranelift does the splicing (`Context::inline`); this module decides
//! what to splice. Invariants:
//! - Only direct calls to *defined* functions of the same module are
//!   inlined: those pass the caller's own vmctx as both vmctx arguments, so
//!   the callee's body reads the same instance state in place as it would
//!   through the call. Calls to imports and indirect calls are kept.
//! - Callee bodies are the translator's CLIF, after the frontend placed
//!   GC references live across calls in stack slots and before any
//!   optimisation; Cranelift merges the call site's stack-map entries and
//!   exception handlers into every call the inlined body makes, so stack
//!   maps and `try_table` handlers stay exact.
//! - One level: calls inside an inlined body stay calls, so recursion
//!   cannot grow code. A small recursive function is inlined into its own
//!   calls once (its body from the translator, without inlining), which
//!   halves its calls (fib and binary_trees: 20-35 % faster).
//! - A callee is small in both its Wasm (`MAX_CALLEE_WASM_BYTES`) and its
//!   CLIF (`MAX_CALLEE_INSTS`): inlining removes a call's fixed cost and
//!   lets the optimiser see through casts and field accesses across the
//!   call, which is worth it only when the body is comparable to that cost.
//! - A callee that lets exceptions unwind out of it is not inlined at a
//!   `try_call`: the runtime starts the search for a handler at the caller
//!   of the unwinding frame, which would skip this call's handler.
//!
//! An inlined instruction's source location is an entry of a table giving
//! its own Wasm offset and that of the call it replaced
//! (`restore_source_locations`), so backtraces show the inlined function's
//! frame and the caller's frame, each at its own offset
//! (`kiln::vm::code_memory`).

use cranelift_codegen::inline::{Inline, InlineCommand};
use cranelift_codegen::ir::{self, ExternalName, Function, Opcode};
use cranelift_codegen::traversals::Dfs;
use crate::link::{INLINED_LOCATION, InlinedLocation};
use crate::translate::FunctionFacts;
use std::borrow::Cow;
use std::collections::HashMap;

/// Largest function body, in bytes of Wasm (locals included), considered
/// for inlining.
pub(crate) const MAX_CALLEE_WASM_BYTES: usize = 96;

/// Largest translated body, in CLIF instructions, that is inlined.
pub(crate) const MAX_CALLEE_INSTS: usize = 320;

/// The bodies a module's functions may inline, indexed by defined function
/// index (`None`: not inlined).
pub(crate) struct InlineBodies {
    pub num_imported_funcs: u32,
    pub bodies: Vec<Option<(Function, FunctionFacts)>>,
}

/// Is `func`, the translation of defined function `defined`, small enough
/// to inline?
pub(crate) fn small_enough(defined: u32, func: &Function) -> bool {
    let insts = instruction_count(func);
    if insts > MAX_CALLEE_INSTS {
        log::debug!("not inlining defined function {defined}: {insts} CLIF instructions");
    }
    insts <= MAX_CALLEE_INSTS
}

impl InlineBodies {

    /// The translated body of defined function `defined` and what its
    /// translation learnt, if kept.
    pub(crate) fn kept(&self, defined: u32) -> Option<&(Function, FunctionFacts)> {
        self.bodies.get(defined as usize)?.as_ref()
    }

    /// The inlining decisions for calls made by function `caller` (a
    /// module-wide index): pass it to `Context::inline` by reference, then
    /// call `CallerInliner::restore_source_locations`.
    pub(crate) fn for_caller(&self, caller: u32) -> CallerInliner<'_> {
        CallerInliner { bodies: self, caller, sites: Vec::new() }
    }
}

pub(crate) struct CallerInliner<'a> {
    bodies: &'a InlineBodies,
    caller: u32,
    sites: Vec<InlinedSite>,
}

/// A call replaced by a callee's body.
struct InlinedSite {
    callee: u32,
    /// The first instruction Cranelift created for the body.
    first_inst: usize,
    /// Was the call a `return_call`?
    tail_call: bool,
    /// The call's module offset.
    call_offset: u32,
}

impl Inline for CallerInliner<'_> {
    fn inline(&mut self, caller: &Function, call: ir::Inst, opcode: ir::Opcode, callee: ir::FuncRef, _: &[ir::Value]) -> InlineCommand<'_> {
        let ExternalName::User(name) = &caller.dfg.ext_funcs[callee].name else {
            return InlineCommand::KeepCall;
        };
        let name = &caller.params.user_named_funcs()[*name];
        let callee = (name.namespace == 0)
            .then(|| name.index.checked_sub(self.bodies.num_imported_funcs))
            .flatten()
            .filter(|&defined| match self.bodies.bodies.get(defined as usize) {
                // At a `try_call` the exception must reach this frame's
                // handler, but the runtime starts the search for one at the
                // caller of the frame that unwinds.
                Some(Some((_, facts))) => !(opcode == ir::Opcode::TryCall && facts.unwinds_exceptions),
                _ => false,
            });
        let Some(callee) = callee else {
            return InlineCommand::KeepCall;
        };
        log::debug!("inlining defined function {callee} into function {}", self.caller);
        self.sites.push(InlinedSite {
            callee,
            first_inst: caller.dfg.num_insts(),
            tail_call: opcode == ir::Opcode::ReturnCall,
            call_offset: caller.srcloc(call).bits(),
        });
        InlineCommand::Inline { callee: Cow::Borrowed(self.body(callee)), visit_callee: false }
    }
}

impl CallerInliner<'_> {
    fn body(&self, defined: u32) -> &Function {
        &self.bodies.kept(defined).expect("only kept bodies are inlined").0
    }

    /// Gives every inlined instruction a source location (Cranelift's
    /// inliner leaves them unset) and returns what they stand for: location
    /// `INLINED_LOCATION + k` is the `k`th entry, the instruction's own
    /// module offset and that of the call it was inlined at. Traps and
    /// calls in inlined code thus map to their own function and offset, and
    /// to the caller's frame at its call.
    ///
    /// Relies on how Cranelift 0.135 splices a body, checked instruction by
    /// instruction: one new instruction per callee instruction, created in
    /// the callee's depth-first pre-order, in place of the call; a `return`
    /// becomes a `jump`, and a `return_call` at a plain call site becomes a
    /// `call` followed by a new `jump`. Should a body not match, its
    /// remaining instructions keep no location (backtraces then show the
    /// caller alone), never a wrong one.
    pub(crate) fn restore_source_locations(&self, func: &mut Function) -> Vec<InlinedLocation> {
        let mut table = Vec::new();
        let mut index = HashMap::new();
        for site in &self.sites {
            let callee = self.body(site.callee);
            let mut next = site.first_inst;
            'body: for block in Dfs::new().pre_order_iter(callee) {
                for callee_inst in callee.layout.block_insts(block) {
                    // An instruction of the callee without a location of
                    // its own counts as the call's.
                    let own = callee.srcloc(callee_inst);
                    let loc = if own.is_default() {
                        ir::SourceLoc::new(site.call_offset)
                    } else {
                        let location = InlinedLocation { offset: own.bits(), call_offset: site.call_offset };
                        let k = *index.entry(location).or_insert_with(|| {
                            table.push(location);
                            table.len() as u32 - 1
                        });
                        ir::SourceLoc::new(INLINED_LOCATION + k)
                    };
                    let expected = callee.dfg.insts[callee_inst].opcode();
                    let same = [expected];
                    let emitted: &[Opcode] = match expected {
                        Opcode::Return if !site.tail_call => &[Opcode::Jump],
                        Opcode::ReturnCall if !site.tail_call => &[Opcode::Call, Opcode::Jump],
                        Opcode::ReturnCallIndirect if !site.tail_call => &[Opcode::CallIndirect, Opcode::Jump],
                        _ => &same,
                    };
                    for &want in emitted {
                        let inst = ir::Inst::from_u32(next as u32);
                        if next >= func.dfg.num_insts() || !opcode_matches(func.dfg.insts[inst].opcode(), want) {
                            debug_assert!(false, "inlined body of function {} does not match its callee", site.callee);
                            log::warn!("inlined body of function {} does not match its callee; its source locations are left unset", site.callee);
                            break 'body;
                        }
                        func.set_srcloc(inst, loc);
                        next += 1;
                    }
                }
            }
        }
        table
    }
}

/// Calls inlined at a `try_call` site become `try_call`s afterwards.
fn opcode_matches(actual: Opcode, want: Opcode) -> bool {
    actual == want
        || matches!((want, actual), (Opcode::Call, Opcode::TryCall) | (Opcode::CallIndirect, Opcode::TryCallIndirect))
}

fn instruction_count(func: &Function) -> usize {
    func.layout.blocks().map(|b| func.layout.block_insts(b).count()).sum()
}
