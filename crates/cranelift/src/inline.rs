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
//! - Two levels at most: a small function's body is first given the small
//!   *leaf* functions it calls (those that call no Wasm function), and
//!   that body is what its callers inline; any other call in an inlined
//!   body stays a call, so recursion cannot grow code. A small recursive
//!   function is inlined into its own calls once, which halves its calls
//!   (fib and binary_trees: 20-35 % faster). Two levels let a hot loop
//!   that calls a small dispatcher (a chain of casts calling accessors)
//!   lose every call: a call is a safepoint, around which Cranelift keeps
//!   the loop's GC references in stack slots.
//! - A callee is small in both its Wasm (`MAX_CALLEE_WASM_BYTES`) and its
//!   CLIF (`MAX_CALLEE_INSTS`): inlining removes a call's fixed cost and
//!   lets the optimiser see through casts and field accesses across the
//!   call, which is worth it only when the body is comparable to that cost.
//! - A callee that lets exceptions unwind out of it is not inlined at a
//!   `try_call`: the runtime starts the search for a handler at the caller
//!   of the unwinding frame, which would skip this call's handler.
//!
//! An inlined instruction's source location is an entry of a table giving
//! its own Wasm offset and those of the calls it replaced, innermost first
//! (`restore_source_locations`), so backtraces show each inlined
//! function's frame and the caller's frame, each at its own offset
//! (`kiln::vm::code_memory`).

use cranelift_codegen::Context;
use cranelift_codegen::inline::{Inline, InlineCommand};
use cranelift_codegen::ir::{self, ExternalName, Function, Opcode};
use cranelift_codegen::traversals::Dfs;
use crate::link::{INLINED_LOCATION, InlinedLocation};
use crate::translate::FunctionFacts;
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::OnceLock;

/// Largest function body, in bytes of Wasm (locals included), considered
/// for inlining.
pub(crate) const MAX_CALLEE_WASM_BYTES: usize = 128;

/// Largest translated body, in CLIF instructions, that is inlined.
pub(crate) const MAX_CALLEE_INSTS: usize = 320;

/// Largest body, in CLIF instructions, spliced with the leaves it calls
/// inlined: twice a single body's limit, as it stands for two levels.
pub(crate) const MAX_CALLEE_WITH_LEAVES_INSTS: usize = 2 * MAX_CALLEE_INSTS;

/// The bodies a module's functions may inline, indexed by defined function
/// index (`None`: not inlined).
pub(crate) struct InlineBodies {
    pub num_imported_funcs: u32,
    pub bodies: Vec<Option<Kept>>,
}

/// A small function's translation, and the body its callers splice in.
pub(crate) struct Kept {
    /// The translator's body (what the function itself is compiled from).
    pub translated: Function,
    pub facts: FunctionFacts,
    /// The body calls no Wasm function directly: inlining it inlines
    /// everything it does (builtins aside).
    leaf: bool,
    /// The body with the leaf functions it calls inlined, made the first
    /// time a caller splices it (a function only ever called indirectly
    /// never needs it).
    with_leaves: OnceLock<WithLeaves>,
}

enum WithLeaves {
    /// It calls no leaf: callers splice the translation.
    NoLeaf,
    /// Too large with its leaves: not spliced (splicing the translation
    /// of a function that, compiled on its own, inlines its leaves would
    /// trade one call for one per leaf call).
    TooLarge,
    /// The body, what its inlined instructions' locations index, and the
    /// facts of it all.
    Body(Function, Vec<InlinedLocation>, FunctionFacts),
}

impl Kept {
    pub(crate) fn new(translated: Function, facts: FunctionFacts) -> Kept {
        let f = &translated;
        let leaf = f.layout.blocks().flat_map(|b| f.layout.block_insts(b)).all(|inst| direct_callee(f, inst).is_none());
        Kept { translated, facts, leaf, with_leaves: OnceLock::new() }
    }
}

/// The module-wide index of the Wasm function `inst` calls directly, if it
/// is such a call.
fn direct_callee(f: &Function, inst: ir::Inst) -> Option<u32> {
    match f.dfg.insts[inst] {
        ir::InstructionData::Call { func_ref, .. } | ir::InstructionData::TryCall { func_ref, .. } => wasm_func_index(f, func_ref),
        _ => None,
    }
}

/// The module-wide index of the Wasm function `func_ref` names, if it
/// names one.
fn wasm_func_index(f: &Function, func_ref: ir::FuncRef) -> Option<u32> {
    let ExternalName::User(name) = &f.dfg.ext_funcs[func_ref].name else { return None };
    let name = &f.params.user_named_funcs()[*name];
    (name.namespace == 0).then_some(name.index)
}

/// Is `func`, the translation of defined function `defined`, small enough
/// to inline?
pub(crate) fn small_enough(defined: u32, func: &Function, limit: usize) -> bool {
    let insts = instruction_count(func);
    if insts > limit {
        log::debug!("not inlining defined function {defined}: {insts} CLIF instructions");
    }
    insts <= limit
}

impl InlineBodies {

    /// What defined function `defined` keeps for inlining, if anything.
    pub(crate) fn kept(&self, defined: u32) -> Option<&Kept> {
        self.bodies.get(defined as usize)?.as_ref()
    }

    /// The body callers splice for calls to `kept` (defined function
    /// `defined`), the locations its inlined instructions index and its
    /// facts; `None` if it is not spliced.
    fn spliced<'k>(&self, defined: u32, kept: &'k Kept) -> Option<(&'k Function, &'k [InlinedLocation], &'k FunctionFacts)> {
        match kept.with_leaves.get_or_init(|| self.inline_leaves(defined, kept)) {
            WithLeaves::NoLeaf => Some((&kept.translated, &[], &kept.facts)),
            WithLeaves::TooLarge => None,
            WithLeaves::Body(body, locations, facts) => Some((body, locations, facts)),
        }
    }

    /// `kept`'s translation with the leaf functions it calls inlined (the
    /// first of the two levels).
    fn inline_leaves(&self, defined: u32, kept: &Kept) -> WithLeaves {
        let mut ctx = Context::new();
        ctx.func = kept.translated.clone();
        let mut inliner = CallerInliner { bodies: self, caller: self.num_imported_funcs + defined, sites: Vec::new(), leaves_only: true };
        if ctx.inline(&mut inliner).is_err() || inliner.sites.is_empty() {
            return WithLeaves::NoLeaf;
        }
        let locations = inliner.restore_source_locations(&mut ctx.func);
        if !small_enough(defined, &ctx.func, MAX_CALLEE_WITH_LEAVES_INSTS) {
            return WithLeaves::TooLarge;
        }
        let mut facts = kept.facts;
        for site in &inliner.sites {
            let leaf = &self.kept(site.callee).expect("only kept bodies are inlined").facts;
            facts.unwinds_exceptions |= leaf.unwinds_exceptions;
            facts.reads_gc_heap |= leaf.reads_gc_heap;
        }
        WithLeaves::Body(ctx.func, locations, facts)
    }

    /// The inlining decisions for calls made by function `caller` (a
    /// module-wide index): pass it to `Context::inline` by reference, then
    /// call `CallerInliner::restore_source_locations`.
    pub(crate) fn for_caller(&self, caller: u32) -> CallerInliner<'_> {
        CallerInliner { bodies: self, caller, sites: Vec::new(), leaves_only: false }
    }

}

pub(crate) struct CallerInliner<'a> {
    bodies: &'a InlineBodies,
    caller: u32,
    sites: Vec<InlinedSite>,
    /// Inline only leaves, from their translated bodies.
    leaves_only: bool,
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
        let callee = wasm_func_index(caller, callee)
            .and_then(|index| index.checked_sub(self.bodies.num_imported_funcs))
            .filter(|&defined| match self.bodies.kept(defined) {
                // At a `try_call` the exception must reach this frame's
                // handler, but the runtime starts the search for one at the
                // caller of the frame that unwinds.
                Some(kept) => match self.spliced(defined, kept) {
                    Some((_, _, facts)) => !(opcode == ir::Opcode::TryCall && facts.unwinds_exceptions),
                    None => false,
                },
                None => false,
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
        InlineCommand::Inline { callee: Cow::Borrowed(self.body(callee).0), visit_callee: false }
    }
}

impl CallerInliner<'_> {
    /// The body spliced for calls to `defined` (a leaf's translation when
    /// inlining leaves only; `None`: not inlined), the locations its own
    /// inlined instructions index, and its facts.
    fn spliced<'k>(&self, defined: u32, kept: &'k Kept) -> Option<(&'k Function, &'k [InlinedLocation], &'k FunctionFacts)> {
        if self.leaves_only {
            return kept.leaf.then_some((&kept.translated, &[] as &[InlinedLocation], &kept.facts));
        }
        self.bodies.spliced(defined, kept)
    }

    /// The body spliced at an inlined call to `defined`.
    fn body(&self, defined: u32) -> (&Function, &[InlinedLocation]) {
        let kept = self.bodies.kept(defined).expect("only kept bodies are inlined");
        let (body, locations, _) = self.spliced(defined, kept).expect("only spliced bodies are inlined");
        (body, locations)
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
            let (callee, callee_locations) = self.body(site.callee);
            let mut next = site.first_inst;
            'body: for block in Dfs::new().pre_order_iter(callee) {
                for callee_inst in callee.layout.block_insts(block) {
                    // An instruction of the callee without a location of
                    // its own counts as the call's.
                    let own = callee.srcloc(callee_inst);
                    let location = match own.bits().checked_sub(INLINED_LOCATION) {
                        _ if own.is_default() => None,
                        // Inlined into the callee already: one level more.
                        Some(k) => callee_locations
                            .get(k as usize)
                            .map(|inner| InlinedLocation { outer_call_offset: Some(site.call_offset), ..*inner }),
                        None => Some(InlinedLocation { offset: own.bits(), call_offset: site.call_offset, outer_call_offset: None }),
                    };
                    let loc = match location {
                        None => ir::SourceLoc::new(site.call_offset),
                        Some(location) => {
                            let k = *index.entry(location).or_insert_with(|| {
                                table.push(location);
                                table.len() as u32 - 1
                            });
                            ir::SourceLoc::new(INLINED_LOCATION + k)
                        }
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
