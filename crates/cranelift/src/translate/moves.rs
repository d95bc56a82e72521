//! Reference moves between struct fields, for collectors that count
//! references (`GcCompiler::counts_references`: DRC).
//!
//! `struct.set $a.f (struct.get $b.g)` followed, with nothing but locals,
//! constants, `drop` and `nop` in between, by `struct.set $b.g x` *moves* a
//! reference from `b.g` to `a.f` (a tree rotation does this). Counted
//! naively, the first store increments the moved object's count and the
//! second decrements it again, when it releases `b.g`'s old value: that
//! old value is the moved reference. The two cancel, so neither is
//! emitted: the first store leaves the increment *owed*
//! (`Counted::OldOnly`), the second skips the release (`Counted::NewOnly`).
//!
//! Invariants, which make the owed count harmless:
//! - A load is a move's source only while no heap reference has been
//!   stored since (`loaded` is cleared by every reference store and every
//!   operator but those and struct loads), so at the first store
//!   `b.g` still holds the value; the first store may overwrite `b.g`
//!   itself only with that same value.
//! - Between the two stores only those operators run: nothing calls
//!   (no safepoint, so the runtime never sees the short count), nothing
//!   traps (a trap would leave the count owed for good), nothing else
//!   stores a reference. Any other operator pays the owed increment first
//!   (`flush_moves`). While the count is owed, both `a.f` and `b.g` hold
//!   the object, so its count, one short, is still at least one.
//! - The second store's object is the SSA value the source load used,
//!   which passed that load's null check: its own check cannot trap.

use super::FuncTranslator;
use super::ref_facts::RefFacts;
use crate::gc::Counted;
use cranelift_codegen::ir::Value;
use wasmparser::Operator;

/// The move state of the function being translated.
#[derive(Default)]
pub(crate) struct Moves {
    /// Reference fields loaded since the last reference store: (value,
    /// object, field offset).
    loaded: Vec<(Value, Value, u32)>,
    /// A moved reference whose count the store into its new field did not
    /// increment.
    owed: Option<Owed>,
}

struct Owed {
    /// The field the reference moved from: `object`'s field at `offset`.
    object: Value,
    offset: u32,
    value: Value,
    facts: RefFacts,
}

impl FuncTranslator<'_, '_> {
    /// Before each reachable operator: anything but locals, constants,
    /// `drop` and `nop` ends what a move needs (see the module docs).
    /// Struct accesses are handled where they are translated (a load only
    /// while no count is owed: it may trap).
    pub(super) fn moves_before_operator(&mut self, op: &Operator<'_>) {
        use Operator as O;
        if self.moves.loaded.is_empty() && self.moves.owed.is_none() {
            return;
        }
        match op {
            O::LocalGet { .. } | O::LocalSet { .. } | O::LocalTee { .. } | O::I32Const { .. } | O::I64Const { .. } | O::RefNull { .. } | O::Drop | O::Nop => {}
            O::StructGet { .. } | O::StructGetS { .. } | O::StructGetU { .. } if self.moves.owed.is_none() => {}
            O::StructSet { .. } => {}
            _ => self.flush_moves(),
        }
    }

    /// Pays an owed count and forgets the loads.
    pub(super) fn flush_moves(&mut self) {
        self.moves.loaded.clear();
        if let Some(owed) = self.moves.owed.take() {
            let gc = self.gc;
            gc.count_gc_ref(self, owed.value, owed.facts);
        }
    }

    /// `value` was loaded from reference field `offset` of `object`.
    pub(super) fn note_ref_field_load(&mut self, value: Value, object: Value, offset: u32) {
        if self.gc.counts_references() {
            self.moves.loaded.push((value, object, offset));
        }
    }

    /// How the store of `value` into reference field `offset` of `object`
    /// counts, given the moves under way; `held` is what the field's type
    /// guarantees. Call before anything of the store is emitted (its null
    /// check included: an owed count is paid first).
    pub(super) fn counted_store(&mut self, object: Value, offset: u32, value: Value, held: RefFacts) -> Counted {
        if !self.gc.counts_references() {
            return Counted::Both;
        }
        if let Some(owed) = &self.moves.owed
            && owed.object == object
            && owed.offset == offset
        {
            // The field the owed reference moved from: its release pays
            // the debt.
            self.moves.owed = None;
            self.moves.loaded.clear();
            return Counted::NewOnly;
        }
        // While a count is owed nothing was loaded (a load pays it first):
        // paying it loses no move's source.
        if self.moves.owed.is_some() {
            self.flush_moves();
        }
        let source = self.moves.loaded.iter().find(|(v, _, _)| *v == value).copied();
        self.moves.loaded.clear();
        match source {
            Some((value, from, from_offset)) => {
                let facts = held.and(self.facts(value));
                self.moves.owed = Some(Owed { object: from, offset: from_offset, value, facts });
                Counted::OldOnly
            }
            None => Counted::Both,
        }
    }
}
