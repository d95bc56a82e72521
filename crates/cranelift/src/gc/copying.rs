//! The copying (Cheney semi-space) collector finds every reference by
//! tracing from precise roots, so compiled code needs no barriers; it
//! allocates by bumping a cursor through the current space, inline; arrays
//! of numbers of `PLAIN_OBJECT_MIN` bytes or more by bumping the cursor of
//! the plain-object region instead (kiln-gc's `plain.rs`), where they are
//! never copied.

use super::{ArrayContents, GcCompiler, bump};
use crate::translate::FuncTranslator;
use cranelift_codegen::ir::Value;
use kiln_environ::gc_layout::{GcArrayLayout, GcStructLayout};
use kiln_gc::PLAIN_OBJECT_MIN;

pub(crate) struct CopyingCompiler;

impl GcCompiler for CopyingCompiler {
    fn alloc_struct(&self, t: &mut FuncTranslator<'_, '_>, type_id: Value, layout: &GcStructLayout) -> Value {
        bump::alloc_struct(t, type_id, layout, bump::CollectorHeader::default())
    }

    fn alloc_array(&self, t: &mut FuncTranslator<'_, '_>, type_id: Value, len: Value, layout: &GcArrayLayout, contents: ArrayContents) -> Value {
        let plain_from = (!layout.elems_are_gc_refs).then_some(PLAIN_OBJECT_MIN);
        bump::alloc_array(t, type_id, len, layout, bump::CollectorHeader::default(), contents, plain_from)
    }
}
