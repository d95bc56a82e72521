//! Structured control flow, locals, `select`, `drop` and `unreachable`.
//!
//! Each Wasm block maps to a CLIF block `following` (with one parameter per
//! block result) that code jumps to on `end` or a branch. A loop also has a
//! `header` block (one parameter per block parameter) that branches target.
//! An `if` has an `else_block` taking the block parameters; without an
//! `else` it simply forwards them to `following`.

use super::{FuncTranslator, trap_code};
use crate::CompileError;
use cranelift_codegen::ir::{self, Block, BlockArg, InstBuilder, Value};
use kiln_environ::{Trap, WasmRefType, WasmValType};
use wasmparser::{BlockType, Operator};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameKind {
    /// The function body itself.
    Function,
    Block,
    Loop { header: Block },
    If { else_block: Block, seen_else: bool },
    TryTable,
    /// A legacy `try` (`legacy_exceptions.rs`).
    LegacyTry,
}

#[derive(Debug, Clone)]
pub struct ControlFrame {
    pub kind: FrameKind,
    pub following: Block,
    pub num_params: usize,
    pub num_results: usize,
    /// Operand stack height below this frame's parameters.
    pub height: usize,
    /// Some branch targets `following`, so it is reachable even if the end
    /// of the body is not.
    pub following_reached: bool,
    /// For `try_table`: its landing pad and clauses.
    pub try_table: Option<super::exceptions::TryTable>,
    /// For an `if` whose condition is a `ref.test`, until its `else`: the
    /// tested value and type, which the `then` arm's code knows it has
    /// (see `FuncTranslator::cast_proven`).
    pub proven_cast: Option<(Value, WasmRefType)>,
    /// For a legacy `try` past its body (in a `catch` or `catch_all`): its
    /// landing pad, dispatch and the handlers so far, which no longer
    /// cover the code being translated.
    pub legacy_handlers: Option<super::exceptions::TryTable>,
    /// In a legacy `catch` or `catch_all`: the exception it caught, which
    /// `rethrow` throws again.
    pub caught: Option<Value>,
}

impl ControlFrame {
    pub fn function(exit: Block, num_results: usize) -> Self {
        ControlFrame::new(FrameKind::Function, exit, 0, num_results, 0)
    }

    fn new(kind: FrameKind, following: Block, num_params: usize, num_results: usize, height: usize) -> Self {
        ControlFrame {
            kind,
            following,
            num_params,
            num_results,
            height,
            following_reached: false,
            try_table: None,
            proven_cast: None,
            legacy_handlers: None,
            caught: None,
        }
    }

    /// Where a branch to this frame goes, and how many values it carries.
    fn branch_target(&self) -> (Block, usize) {
        match self.kind {
            FrameKind::Loop { header } => (header, self.num_params),
            _ => (self.following, self.num_results),
        }
    }
}

pub fn block_args(values: &[Value]) -> Vec<BlockArg> {
    values.iter().map(|v| BlockArg::Value(*v)).collect()
}

impl FuncTranslator<'_, '_> {
    pub(super) fn block_type(&self, bt: BlockType) -> (Vec<WasmValType>, Vec<WasmValType>) {
        match bt {
            BlockType::Empty => (vec![], vec![]),
            BlockType::Type(t) => (vec![], vec![self.env_val_type(t)]),
            BlockType::FuncType(i) => {
                let f = self.env.module.func_type(i);
                (f.params.to_vec(), f.results.to_vec())
            }
        }
    }

    pub(super) fn jump(&mut self, target: Block, args: &[Value]) {
        self.b.ins().jump(target, &block_args(args));
    }

    /// Handles control operators; returns false for any other operator.
    pub(super) fn control_operator(&mut self, op: &Operator<'_>) -> Result<bool, CompileError> {
        match *op {
            Operator::Nop => {}
            Operator::Unreachable => {
                self.b.ins().trap(trap_code(Trap::UnreachableCodeReached));
                self.reachable = false;
            }
            Operator::Block { blockty } => {
                let (params, results) = self.block_type(blockty);
                let following = self.block_with_params(&results);
                self.push_frame(FrameKind::Block, following, params.len(), results.len());
            }
            Operator::Loop { blockty } => {
                let (params, results) = self.block_type(blockty);
                let header = self.block_with_params(&params);
                let following = self.block_with_params(&results);
                let args = self.popn(params.len());
                self.jump(header, &args);
                self.b.switch_to_block(header);
                self.check_epoch();
                let header_params = self.b.block_params(header).to_vec();
                self.stack.extend(header_params);
                self.push_frame(FrameKind::Loop { header }, following, params.len(), results.len());
            }
            Operator::If { blockty } => {
                let (params, results) = self.block_type(blockty);
                let cond = self.pop();
                let then_block = self.b.create_block();
                let else_block = self.block_with_params(&params);
                let following = self.block_with_params(&results);
                let args = self.peekn(params.len()).to_vec();
                self.b.ins().brif(cond, then_block, &[], else_block, &block_args(&args));
                self.b.seal_block(then_block);
                self.b.seal_block(else_block);
                self.b.switch_to_block(then_block);
                self.push_frame(FrameKind::If { else_block, seen_else: false }, following, params.len(), results.len());
                self.control.last_mut().unwrap().proven_cast = self.ref_tests.get(&cond).copied();
            }
            Operator::TryTable { ref try_table } => {
                let (params, results) = self.block_type(try_table.ty);
                let following = self.block_with_params(&results);
                let handlers = self.begin_try_table(try_table);
                self.push_frame(FrameKind::TryTable, following, params.len(), results.len());
                self.control.last_mut().unwrap().try_table = Some(handlers);
            }
            Operator::Try { blockty } => self.translate_try(blockty),
            Operator::Catch { tag_index } => self.translate_catch(Some(tag_index)),
            Operator::CatchAll => self.translate_catch(None),
            Operator::Delegate { relative_depth } => self.translate_delegate(relative_depth),
            Operator::Rethrow { relative_depth } => self.translate_rethrow(relative_depth),
            Operator::Throw { tag_index } => self.translate_throw(tag_index),
            Operator::ThrowRef => self.translate_throw_ref(),
            Operator::Else => self.translate_else(),
            Operator::End => self.translate_end(),
            Operator::Br { relative_depth } => {
                self.translate_br(relative_depth);
                self.reachable = false;
            }
            Operator::BrIf { relative_depth } => {
                let cond = self.pop();
                let (target, arity) = self.branch_target_of(relative_depth);
                let args = self.peekn(arity).to_vec();
                let next = self.b.create_block();
                self.b.ins().brif(cond, target, &block_args(&args), next, &[]);
                self.b.seal_block(next);
                self.b.switch_to_block(next);
            }
            Operator::BrTable { ref targets } => {
                let index = self.pop();
                let default = targets.default();
                let (_, arity) = self.frame_at(default).branch_target();
                let args = block_args(self.peekn(arity));
                let mut calls = Vec::with_capacity(targets.len() as usize);
                for depth in targets.targets() {
                    let depth = depth?;
                    let (block, _) = self.branch_target_of(depth);
                    calls.push(self.b.func.dfg.block_call(block, &args));
                }
                let (default_block, _) = self.branch_target_of(default);
                let default_call = self.b.func.dfg.block_call(default_block, &args);
                let jt = self.b.create_jump_table(ir::JumpTableData::new(default_call, &calls));
                self.b.ins().br_table(index, jt);
                self.reachable = false;
            }
            Operator::Return => {
                let n = self.control[0].num_results;
                let values = self.popn(n);
                self.return_values(&values);
                self.reachable = false;
            }
            Operator::Drop => {
                self.pop();
            }
            Operator::Select | Operator::TypedSelect { .. } | Operator::TypedSelectMulti { .. } => {
                let (a, b, cond) = self.pop3();
                let v = self.b.ins().select(cond, a, b);
                // Untyped select never chooses between references.
                if let Operator::TypedSelect { ty } = *op {
                    self.declare_if_gc_ref(super::convert_val_type(ty), v);
                } else if let Operator::TypedSelectMulti { ref tys } = *op
                    && let Some(ty) = tys.first()
                {
                    self.declare_if_gc_ref(super::convert_val_type(*ty), v);
                }
                self.push(v);
            }
            Operator::LocalGet { local_index } => {
                let v = self.b.use_var(self.locals[local_index as usize]);
                self.note_static_type(self.local_types[local_index as usize], v);
                self.push(v);
            }
            Operator::LocalSet { local_index } => {
                let v = self.pop();
                self.b.def_var(self.locals[local_index as usize], v);
            }
            Operator::LocalTee { local_index } => {
                let v = *self.stack.last().unwrap();
                self.b.def_var(self.locals[local_index as usize], v);
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Returns `values` from the function. A call-free function's GC
    /// references pass the collector's return barrier first: its loads
    /// skipped the read barrier, and the caller may hold what it returns
    /// across calls.
    fn return_values(&mut self, values: &[Value]) {
        if self.call_free {
            let gc = self.gc;
            for (&v, &ty) in values.iter().zip(self.results) {
                if let WasmValType::Ref(r) = ty
                    && self.env.is_gc_heap_ref(ty)
                {
                    let held = self.facts_of_type(r);
                    gc.return_gc_ref(self, v, held);
                }
            }
        }
        self.b.ins().return_(values);
    }

    pub(super) fn push_frame(&mut self, kind: FrameKind, following: Block, num_params: usize, num_results: usize) {
        let height = self.stack.len() - num_params;
        self.control.push(ControlFrame::new(kind, following, num_params, num_results, height));
    }

    pub(super) fn frame_at(&self, depth: u32) -> &ControlFrame {
        &self.control[self.control.len() - 1 - depth as usize]
    }

    /// The target and arity of a branch to `depth`, which is now reached.
    pub(super) fn branch_target_of(&mut self, depth: u32) -> (Block, usize) {
        self.mark_reached(depth);
        self.frame_at(depth).branch_target()
    }

    pub(super) fn mark_label_reached(&mut self, depth: u32) {
        self.mark_reached(depth);
    }

    fn mark_reached(&mut self, depth: u32) {
        let i = self.control.len() - 1 - depth as usize;
        self.control[i].following_reached = true;
    }

    fn translate_br(&mut self, depth: u32) {
        let (target, arity) = self.branch_target_of(depth);
        let args = self.peekn(arity).to_vec();
        self.jump(target, &args);
    }

    fn translate_else(&mut self) {
        let frame = self.control.last_mut().unwrap();
        let FrameKind::If { else_block, .. } = frame.kind else { unreachable!("else outside if") };
        frame.kind = FrameKind::If { else_block, seen_else: true };
        frame.proven_cast = None;
        self.end_arm();
        self.b.switch_to_block(else_block);
        let params = self.b.block_params(else_block).to_vec();
        self.stack.extend(params);
        self.reachable = true;
    }

    /// Ends an arm of the innermost frame that another arm follows (an
    /// `if`'s `then`, a legacy `try`'s body or handler): its results, if
    /// it is reachable, go to the frame's end, and the operand stack
    /// drops back to the frame's height.
    pub(super) fn end_arm(&mut self) {
        let frame = self.control.last_mut().unwrap();
        let (following, num_results, height) = (frame.following, frame.num_results, frame.height);
        if self.reachable {
            frame.following_reached = true;
            let results = self.popn(num_results);
            self.jump(following, &results);
        }
        self.stack.truncate(height);
    }

    pub(super) fn translate_end(&mut self) {
        let mut frame = self.control.pop().expect("end without frame");
        let mut reached = frame.following_reached;
        if self.reachable {
            let results = self.popn(frame.num_results);
            self.jump(frame.following, &results);
            reached = true;
        }
        if let Some(t) = frame.try_table.take().or(frame.legacy_handlers.take()) {
            self.end_try_table(t);
        }
        match frame.kind {
            FrameKind::Loop { header } => self.b.seal_block(header),
            FrameKind::If { else_block, seen_else: false } => {
                // No else: the else branch passes the parameters through.
                self.b.switch_to_block(else_block);
                let params = self.b.block_params(else_block).to_vec();
                self.jump(frame.following, &params);
                reached = true;
            }
            _ => {}
        }
        self.stack.truncate(frame.height);
        if reached {
            self.b.switch_to_block(frame.following);
            self.b.seal_block(frame.following);
            let results = self.b.block_params(frame.following).to_vec();
            if frame.kind == FrameKind::Function {
                self.return_values(&results);
                self.reachable = false;
                return;
            }
            self.stack.extend(results);
            self.reachable = true;
        } else {
            self.reachable = false;
        }
    }

    /// Skips operators in unreachable code, tracking nesting so the frame's
    /// own `else` and `end` are still handled.
    pub(super) fn unreachable_operator(&mut self, op: &Operator<'_>) -> Result<(), CompileError> {
        match op {
            Operator::Block { .. } | Operator::Loop { .. } | Operator::If { .. } | Operator::TryTable { .. } | Operator::Try { .. } => {
                self.unreachable_depth += 1;
            }
            Operator::Else if self.unreachable_depth == 0 => self.translate_else(),
            Operator::Catch { tag_index } if self.unreachable_depth == 0 => self.translate_catch(Some(*tag_index)),
            Operator::CatchAll if self.unreachable_depth == 0 => self.translate_catch(None),
            Operator::Delegate { relative_depth } if self.unreachable_depth == 0 => self.translate_delegate(*relative_depth),
            Operator::End if self.unreachable_depth == 0 => self.translate_end(),
            Operator::End | Operator::Delegate { .. } => self.unreachable_depth -= 1,
            _ => {}
        }
        Ok(())
    }
}
