//! Collector-specific code generation: the seed's `GcCompiler`.
//!
//! The translator asks a `GcCompiler` (a trait object picked from the
//! engine's collector) for the parts of GC code that differ between
//! collectors, so each collector gets inline fast paths without the rest
//! of the translator knowing about it:
//! - [`BumpAllocation`] (null and copying collectors): structs are
//!   allocated inline by advancing the store context's bump cursor and
//!   writing the header; when the region is exhausted the allocation
//!   builtin runs (it may collect, grow the heap, and refill the region).
//! - [`BuiltinAllocation`] (any other collector): every allocation calls
//!   the builtin.
//!
//! Neither current collector needs read or write barriers: the null
//! collector never frees and the copying collector finds references by
//! tracing from precise roots. A reference-counting collector will add its
//! barriers here.

use super::{FuncTranslator, trap_code};
use crate::func_env::POINTER;
use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{BlockArg, InstBuilder, Value, types::*};
use kiln_environ::gc_layout::{GcStructLayout, HEADER_COLLECTOR_WORD_OFFSET, HEADER_KIND_OFFSET, HEADER_SIZE_OFFSET, HEADER_TYPE_INDEX_OFFSET, VMGcKind};
use kiln_environ::vmoffsets::{VMCTX_STORE_CONTEXT_OFFSET, store_context};
use kiln_environ::{Builtin, Trap};

pub(crate) trait GcCompiler: Sync {
    /// Allocates a struct of module type `type_index` (engine id
    /// `type_id`) with `layout`, returning its reference. Its fields hold
    /// unspecified values: the caller writes every one.
    fn alloc_struct(&self, t: &mut FuncTranslator<'_, '_>, type_id: Value, layout: &GcStructLayout) -> Value;
}

pub(crate) struct BumpAllocation;
pub(crate) struct BuiltinAllocation;

pub(crate) fn for_tunables(bump: bool) -> &'static dyn GcCompiler {
    if bump { &BumpAllocation } else { &BuiltinAllocation }
}

/// The out-of-line allocation: the builtin, trapping when the heap is
/// exhausted.
fn alloc_struct_builtin(t: &mut FuncTranslator<'_, '_>, type_id: Value) -> Value {
    let fp = t.b.ins().get_frame_pointer(POINTER);
    let r = t.env.call_builtin(&mut t.b, t.vmctx, Builtin::gc_alloc_struct, &[type_id, fp]).unwrap();
    t.b.ins().trapz(r, trap_code(Trap::GcHeapOutOfMemory));
    r
}

impl GcCompiler for BuiltinAllocation {
    fn alloc_struct(&self, t: &mut FuncTranslator<'_, '_>, type_id: Value, _layout: &GcStructLayout) -> Value {
        alloc_struct_builtin(t, type_id)
    }
}

impl GcCompiler for BumpAllocation {
    fn alloc_struct(&self, t: &mut FuncTranslator<'_, '_>, type_id: Value, layout: &GcStructLayout) -> Value {
        let ctx = t.env.load_vmctx_ptr(&mut t.b, t.vmctx, VMCTX_STORE_CONTEXT_OFFSET);
        let flags = t.flags.vm;
        let next = t.b.ins().load(I32, flags, ctx, store_context::GC_BUMP_NEXT as i32);
        let end = t.b.ins().load(I32, flags, ctx, store_context::GC_BUMP_END as i32);
        // In 64 bits, so the sum cannot wrap; an empty region (0, 0)
        // never fits.
        let next64 = t.b.ins().uextend(I64, next);
        let new_next = t.b.ins().iadd_imm_u(next64, layout.size as i64);
        let end64 = t.b.ins().uextend(I64, end);
        let fits = t.b.ins().icmp(IntCC::UnsignedLessThanOrEqual, new_next, end64);

        let fast = t.b.create_block();
        let slow = t.b.create_block();
        let done = t.b.create_block();
        t.b.append_block_param(done, I32);
        t.b.ins().brif(fits, fast, &[], slow, &[]);
        t.b.seal_block(fast);
        t.b.seal_block(slow);

        t.b.switch_to_block(fast);
        let new_next32 = t.b.ins().ireduce(I32, new_next);
        t.b.ins().store(flags, new_next32, ctx, store_context::GC_BUMP_NEXT as i32);
        let base = t.b.ins().load(POINTER, flags, ctx, store_context::GC_HEAP_BASE as i32);
        let object = t.b.ins().iadd(base, next64);
        let gc = t.flags.gc;
        let kind = t.b.ins().iconst(I32, VMGcKind::StructRef.as_u32() as i64);
        t.b.ins().store(gc, kind, object, HEADER_KIND_OFFSET as i32);
        t.b.ins().store(gc, type_id, object, HEADER_TYPE_INDEX_OFFSET as i32);
        let size = t.b.ins().iconst(I32, layout.size as i64);
        t.b.ins().store(gc, size, object, HEADER_SIZE_OFFSET as i32);
        let zero = t.b.ins().iconst(I32, 0);
        t.b.ins().store(gc, zero, object, HEADER_COLLECTOR_WORD_OFFSET as i32);
        t.b.ins().jump(done, &[BlockArg::Value(next)]);

        t.b.switch_to_block(slow);
        let r = alloc_struct_builtin(t, type_id);
        t.b.ins().jump(done, &[BlockArg::Value(r)]);

        t.b.seal_block(done);
        t.b.switch_to_block(done);
        t.b.block_params(done)[0]
    }
}
