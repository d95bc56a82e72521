//! The null collector never frees and never moves: bump allocation
//! inline, no barriers (the trait's plain loads and stores).

use super::{ArrayContents, GcCompiler, bump};
use crate::translate::FuncTranslator;
use cranelift_codegen::ir::Value;
use kiln_environ::gc_layout::{GcArrayLayout, GcStructLayout};

pub(crate) struct NullCompiler;

impl GcCompiler for NullCompiler {
    fn alloc_struct(&self, t: &mut FuncTranslator<'_, '_>, type_id: Value, layout: &GcStructLayout) -> Value {
        bump::alloc_struct(t, type_id, layout, bump::CollectorHeader::default())
    }

    fn alloc_array(&self, t: &mut FuncTranslator<'_, '_>, type_id: Value, len: Value, layout: &GcArrayLayout, contents: ArrayContents) -> Value {
        bump::alloc_array(t, type_id, len, layout, bump::CollectorHeader::default(), contents, None)
    }
}
