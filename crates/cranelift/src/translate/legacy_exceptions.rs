//! The legacy exception instructions (`try`, `catch`, `catch_all`,
//! `rethrow`, `delegate`), which older Emscripten and LLVM builds emit,
//! on `try_table`'s machinery (`exceptions.rs`).
//!
//! A `try` is a block whose body is covered like a `try_table`'s: calls in
//! it land on its landing pad and throws jump to its dispatch. At its first
//! `catch` or `catch_all` the body ends (its results go to the block's
//! end) and the coverage with it: the dispatch and its clauses move to the
//! frame's `legacy_handlers`, so an exception thrown in a handler goes to
//! the enclosing handlers. Each `catch` adds a handler block taking the
//! tag's payload and the exnref, which the handler keeps for `rethrow`. At
//! `end` the dispatch is emitted with the clauses in order, as a
//! `try_table`'s; an exception no clause takes goes outward. `delegate`
//! ends the `try` with one clause: hand the exception to the handlers of
//! the label it names (the innermost covering code at that label), or to
//! the caller.

use super::FuncTranslator;
use super::control::FrameKind;
use super::exceptions::Clause;
use cranelift_codegen::ir::types::I32;
use wasmparser::BlockType;

impl FuncTranslator<'_, '_> {
    pub(super) fn translate_try(&mut self, blockty: BlockType) {
        let (params, results) = self.block_type(blockty);
        let following = self.block_with_params(&results);
        let table = self.new_try_table();
        self.push_frame(FrameKind::LegacyTry, following, params.len(), results.len());
        self.control.last_mut().unwrap().try_table = Some(table);
    }

    /// `catch tag` (`Some`) or `catch_all` (`None`): ends the body or the
    /// previous handler and starts this one.
    pub(super) fn translate_catch(&mut self, tag: Option<u32>) {
        let frame = self.control.last_mut().unwrap();
        debug_assert_eq!(frame.kind, FrameKind::LegacyTry, "catch outside try");
        if let Some(table) = frame.try_table.take() {
            frame.legacy_handlers = Some(table);
        }
        self.end_arm();
        let payload = tag.map(|t| self.tag_params(t)).unwrap_or_default();
        let handler = self.block_with_params(&payload);
        let exn = self.b.append_block_param(handler, I32);
        self.b.declare_value_needs_stack_map(exn);
        let frame = self.control.last_mut().unwrap();
        frame.legacy_handlers.as_mut().expect("moved above").clauses.push(Clause::Handler { tag, block: handler });
        frame.caught = Some(exn);
        // Sealed once the dispatch, its only predecessor, is emitted.
        self.b.switch_to_block(handler);
        let params = self.b.block_params(handler).to_vec();
        self.stack.extend_from_slice(&params[..payload.len()]);
        self.reachable = true;
    }

    /// `delegate depth`: ends the `try`, whose body's exceptions go to the
    /// handlers covering the label at `depth` (counted from outside the
    /// `try`), or to the caller.
    pub(super) fn translate_delegate(&mut self, depth: u32) {
        let frame = self.control.last_mut().unwrap();
        debug_assert_eq!(frame.kind, FrameKind::LegacyTry, "delegate outside try");
        let outside = self.control.len() - 1;
        let target = outside.checked_sub(1 + depth as usize).expect("validated label");
        let handler = self.control[..=target].iter().rev().find_map(|f| f.try_table.as_ref()).map(|t| t.dispatch);
        let frame = self.control.last_mut().unwrap();
        frame.try_table.as_mut().expect("delegate follows the body").clauses.push(Clause::Delegate(handler));
        self.translate_end();
    }

    /// `rethrow depth`: throws again the exception the `catch` or
    /// `catch_all` at `depth` caught.
    pub(super) fn translate_rethrow(&mut self, depth: u32) {
        let exn = self.frame_at(depth).caught.expect("validated: rethrow names a catch");
        self.throw_exception(exn);
    }
}
