//! What a reference value's static type guarantees at run time, so null
//! and i31 tests that validation already rules out are not emitted.
//!
//! Facts are attached to a CLIF value where it is defined from a place
//! whose declared type is known (a local, a field or element, a call
//! result, a block parameter, a typed select, a table element, an
//! exception payload, a new object), and hold for every use of that value:
//! validation guarantees every value stored in such a place has its type
//! (a non-nullable local is read only after a `local.set`). Nothing is
//! learnt from a test (`ref.cast`, `ref.as_non_null`, `br_on_*`): what a
//! test proves holds only where it dominates, and the same value may be
//! used elsewhere.
//!
//! A wrong fact on a corrupted heap is still sandboxed: an object access
//! through a bad reference reads heap bytes or faults in the heap's guard
//! region, which traps.

use super::FuncTranslator;
use cranelift_codegen::ir::Value;
use kiln_environ::{WasmHeapType, WasmRefType, WasmValType};

/// Guarantees about one reference value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct RefFacts {
    /// It is never null.
    pub non_null: bool,
    /// It is a GC object (never null, never an i31).
    pub object: bool,
    /// It is never an i31 (types below `struct`, `array` or `exn`, and
    /// the bottom types).
    pub not_i31: bool,
}

impl RefFacts {
    fn of_type(env_is_func_type: impl Fn(u32) -> bool, r: WasmRefType) -> RefFacts {
        let not_i31 = match r.heap {
            WasmHeapType::Struct | WasmHeapType::Array | WasmHeapType::Exn | WasmHeapType::None | WasmHeapType::NoExn | WasmHeapType::NoExtern => true,
            WasmHeapType::Concrete(t) => !env_is_func_type(t),
            _ => false,
        };
        let object = not_i31 && !r.nullable && !matches!(r.heap, WasmHeapType::None | WasmHeapType::NoExn | WasmHeapType::NoExtern);
        RefFacts { non_null: !r.nullable, object, not_i31 }
    }

    /// What `self` and `other`, both true of a value, guarantee together.
    pub(crate) fn and(self, other: RefFacts) -> RefFacts {
        RefFacts { non_null: self.non_null || other.non_null, object: self.object || other.object, not_i31: self.not_i31 || other.not_i31 }
    }
}

impl FuncTranslator<'_, '_> {
    /// Records what `v`'s static type `ty` guarantees.
    pub(crate) fn note_static_type(&mut self, ty: WasmValType, v: Value) {
        let WasmValType::Ref(r) = ty else { return };
        let facts = self.facts_of_type(r);
        if facts != RefFacts::default() {
            self.ref_facts.insert(v, facts);
        }
    }

    /// What a value of type `r` is guaranteed to be.
    pub(crate) fn facts_of_type(&self, r: WasmRefType) -> RefFacts {
        let module = self.env.module;
        RefFacts::of_type(|t| module.is_func_type(t), r)
    }

    /// Records that `v` is a newly allocated object.
    pub(crate) fn note_new_object(&mut self, v: Value) {
        self.ref_facts.insert(v, RefFacts { non_null: true, object: true, not_i31: true });
    }

    pub(crate) fn facts(&self, v: Value) -> RefFacts {
        self.ref_facts.get(&v).copied().unwrap_or_default()
    }
}
