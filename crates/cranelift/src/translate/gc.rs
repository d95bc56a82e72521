//! GC operators: structs, arrays, i31, `ref.eq`, casts and the
//! extern/any conversions.
//!
//! Objects live in the store's GC heap, a reservation whose base and
//! accessible length are in the store context. A reference is a 32-bit
//! offset into it; objects follow `kiln_environ::gc_layout`. Struct field
//! accesses add a field offset below 4 GiB to a 32-bit reference and so
//! always land inside the reservation: they need no check beyond the null
//! check. Array element offsets depend on a length read from the heap,
//! which is untrusted, so every element access is checked against the
//! heap's bound as well as the array's length: a corrupted heap can make
//! Wasm read garbage from inside the heap, never memory outside it.
//!
//! Allocation and the operations on segments go through builtins; the
//! allocation builtins write the header (and array length) and zero the
//! body, so default values need no stores.

use super::control::block_args;
use super::{FuncTranslator, trap_code};
use crate::CompileError;
use crate::gc::{ArrayContents, Counted, RefSlot};
use crate::func_env::POINTER;
use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{self, BlockArg, InstBuilder, MemFlagsData, Value, types::*};
use kiln_environ::gc_layout::{self, ARRAY_LENGTH_OFFSET, GcArrayLayout, GcStructLayout, HEADER_KIND_OFFSET, HEADER_TYPE_INDEX_OFFSET, MAX_OBJECT_SIZE, VMGcKind};
use kiln_environ::vmoffsets::type_display::{DISPLAY_CAPACITY, ENTRY_SIZE, INLINE_DEPTH, RECORD_OFFSET};
use kiln_environ::vmoffsets::{VMCTX_GC_HEAP_BASE_OFFSET, VMCTX_NO_TYPE_OFFSET, VMCTX_STORE_CONTEXT_OFFSET, VMCTX_TYPE_DISPLAYS_OFFSET, VMCTX_TYPE_IDS_OFFSET, func_ref, store_context};
use kiln_environ::{Builtin, RefRepr, Trap, WasmCompositeType, WasmFieldType, WasmHeapType, WasmRefType, WasmStorageType, WasmValType};
use wasmparser::Operator;

/// Whether a field store initialises a fresh object (no old value) or
/// overwrites one: the collector's init or write barrier.
#[derive(Clone, Copy)]
enum FieldWrite {
    Init,
    /// A field of the object with this reference, counted as said (see
    /// `moves.rs`).
    Overwrite(Value, Counted),
}

/// A mask that keeps every length an array of `layout` can have in a heap
/// of at most 4 GiB (its elements end within 4 GiB of its start) and makes
/// any other length one whose elements end at most `layout.base` bytes
/// past 4 GiB from the array's start: `2^32 / elem_size - 1` (element
/// sizes are powers of two), or none for bytes, whose u32 index cannot
/// reach further.
fn array_len_mask(layout: &GcArrayLayout) -> Option<u32> {
    debug_assert!(layout.elem_size.is_power_of_two());
    (layout.elem_size > 1).then(|| ((1u64 << 32) / u64::from(layout.elem_size) - 1) as u32)
}

// Element accesses rely on the reservation reaching 4 GiB and an array's
// header past any reference (see `array_elem_addr`).
const _: () = assert!(kiln_environ::vmoffsets::GC_HEAP_RESERVATION >= (2 << 32) + 64);

impl FuncTranslator<'_, '_> {
    fn struct_fields(&self, type_index: u32) -> &[WasmFieldType] {
        match &self.env.module.types[type_index as usize].composite {
            WasmCompositeType::Struct(fields) => fields,
            other => unreachable!("validated struct type, found {other:?}"),
        }
    }

    fn array_elem(&self, type_index: u32) -> WasmFieldType {
        match &self.env.module.types[type_index as usize].composite {
            WasmCompositeType::Array(elem) => *elem,
            other => unreachable!("validated array type, found {other:?}"),
        }
    }

    fn struct_layout(&self, type_index: u32) -> GcStructLayout {
        gc_layout::struct_layout(self.struct_fields(type_index), &|r| self.env.module.ref_repr(r))
    }

    fn array_layout(&self, type_index: u32) -> GcArrayLayout {
        gc_layout::array_layout(&self.array_elem(type_index), &|r| self.env.module.ref_repr(r))
    }

    fn store_ctx(&mut self) -> Value {
        self.env.load_vmctx_ptr(&mut self.b, self.vmctx, VMCTX_STORE_CONTEXT_OFFSET)
    }

    /// The native address of object `r` (non-null, not i31): the heap's
    /// base plus the 32-bit reference, so any `r` lands in the heap's
    /// reservation.
    pub(crate) fn gc_object_addr(&mut self, r: Value) -> Value {
        let base = self.gc_heap_base();
        let r = self.b.ins().uextend(I64, r);
        self.b.ins().iadd(base, r)
    }

    /// The GC heap's base address. The heap never moves once created, and
    /// a module whose code reads the base gets its store's heap at
    /// instantiation, before that code first runs: so the load is
    /// invariant, free to be shared and hoisted out of loops.
    pub(crate) fn gc_heap_base(&mut self) -> Value {
        self.facts.reads_gc_heap = true;
        self.env.load_vmctx_ptr(&mut self.b, self.vmctx, VMCTX_GC_HEAP_BASE_OFFSET)
    }

    /// The native address of byte `offset` of object `r` (non-null, not i31).
    fn gc_addr(&mut self, r: Value, offset: Value) -> Value {
        let object = self.gc_object_addr(r);
        self.b.ins().iadd(object, offset)
    }

    fn gc_addr_const(&mut self, r: Value, offset: u32) -> Value {
        let offset = self.b.ins().iconst(I64, offset as i64);
        self.gc_addr(r, offset)
    }

    /// The engine-wide id of module type `type_index`.
    fn engine_type_id(&mut self, type_index: u32) -> Value {
        let ids = self.env.load_vmctx_ptr(&mut self.b, self.vmctx, VMCTX_TYPE_IDS_OFFSET);
        self.b.ins().load(I32, self.flags.vm_fixed, ids, (type_index * 4) as i32)
    }

    fn null_check(&mut self, r: Value, trap: Trap) {
        if !self.facts(r).non_null {
            self.b.ins().trapz(r, trap_code(trap));
        }
    }

    /// Allocates a struct of `type_index` and stores `values` (or zero, for
    /// `struct.new_default`) into its fields.
    fn new_struct(&mut self, type_index: u32, values: Option<Vec<Value>>) -> Value {
        let layout = self.struct_layout(type_index);
        let storages: Vec<_> = self.struct_fields(type_index).iter().map(|f| f.storage).collect();
        let type_id = self.engine_type_id(type_index);
        let gc = self.gc;
        let r = gc.alloc_struct(self, type_id, &layout);
        self.b.declare_value_needs_stack_map(r);
        self.note_new_object(r);
        for (i, (storage, field)) in storages.into_iter().zip(layout.fields.iter()).enumerate() {
            let addr = self.gc_addr_const(r, field.offset);
            match &values {
                Some(values) => self.store_field(addr, storage, values[i], FieldWrite::Init),
                // Inline allocation leaves old bytes in the body: default
                // fields are written too. Zero is the null of every
                // reference field and of funcref ids.
                None => {
                    // Fields are 1 to 16 bytes; 16-byte ones take two stores.
                    let ty = ir::Type::int(field.size.min(8) as u16 * 8).expect("field sizes are powers of two");
                    let zero = self.b.ins().iconst(ty, 0);
                    for part in 0..field.size.div_ceil(8) {
                        self.b.ins().store(self.flags.gc, zero, addr, (part * 8) as i32);
                    }
                }
            }
        }
        r
    }

    fn storage_is_func_ref(&self, storage: WasmStorageType) -> bool {
        matches!(storage, WasmStorageType::Val(WasmValType::Ref(r)) if self.env.module.ref_repr(r) == RefRepr::FuncRef)
    }

    /// Stores a field value at `addr`, through the collector's init or
    /// write barrier when it is a GC reference.
    fn store_field(&mut self, addr: Value, storage: WasmStorageType, v: Value, write: FieldWrite) {
        let flags = self.flags.gc;
        match storage {
            WasmStorageType::Val(t @ WasmValType::Ref(r)) if self.env.is_gc_heap_ref(t) => {
                let (gc, held) = (self.gc, self.facts_of_type(r));
                match write {
                    FieldWrite::Init => gc.init_gc_ref(self, flags, addr, v, held),
                    FieldWrite::Overwrite(obj, Counted::Both) => gc.store_gc_ref(self, flags, RefSlot::Object(obj), addr, v, held),
                    FieldWrite::Overwrite(obj, counted) => gc.store_moved_gc_ref(self, flags, RefSlot::Object(obj), addr, v, held, counted),
                }
            }
            WasmStorageType::I8 => {
                self.b.ins().istore8(flags, v, addr, 0);
            }
            WasmStorageType::I16 => {
                self.b.ins().istore16(flags, v, addr, 0);
            }
            s if self.storage_is_func_ref(s) => {
                let id = self.env.call_builtin(&mut self.b, self.vmctx, Builtin::func_ref_to_id, &[v]).unwrap();
                self.b.ins().store(flags, id, addr, 0);
            }
            _ => {
                self.b.ins().store(flags, v, addr, 0);
            }
        }
    }

    /// Whether a field of `storage` holds a GC heap reference.
    fn is_gc_ref_storage(&self, storage: WasmStorageType) -> bool {
        matches!(storage, WasmStorageType::Val(t @ WasmValType::Ref(_)) if self.env.is_gc_heap_ref(t))
    }

    /// Loads a field value at `addr`; packed fields extend as `signed` says.
    fn load_field(&mut self, addr: Value, storage: WasmStorageType, signed: bool) -> Value {
        let flags = self.flags.gc;
        match storage {
            WasmStorageType::I8 if signed => self.b.ins().sload8(I32, flags, addr, 0),
            WasmStorageType::I8 => self.b.ins().uload8(I32, flags, addr, 0),
            WasmStorageType::I16 if signed => self.b.ins().sload16(I32, flags, addr, 0),
            WasmStorageType::I16 => self.b.ins().uload16(I32, flags, addr, 0),
            WasmStorageType::Val(t @ WasmValType::Ref(r)) if self.env.ref_repr(r) == RefRepr::FuncRef => {
                let id = self.b.ins().load(I32, flags, addr, 0);
                let v = self.func_ref_from_id(id, r);
                self.note_static_type(t, v);
                v
            }
            WasmStorageType::Val(t) if self.env.is_gc_heap_ref(t) => {
                let gc = self.gc;
                let v = gc.load_gc_ref(self, flags, addr);
                self.b.declare_value_needs_stack_map(v);
                self.note_static_type(t, v);
                v
            }
            WasmStorageType::Val(t) => {
                let ty = self.env.clif_type(t);
                self.b.ins().load(ty, flags, addr, 0)
            }
        }
    }

    /// The funcref a GC object holds as `id`, for a field of type `r`. The
    /// builtin checks the id and the function's type against the field's
    /// (heap contents are untrusted); a refused one traps here, so a stale
    /// or corrupted field never reaches `call_ref`.
    fn func_ref_from_id(&mut self, id: Value, r: WasmRefType) -> Value {
        let expected = match r.heap {
            WasmHeapType::Concrete(t) => self.engine_type_id(t),
            _ => self.b.ins().iconst(I32, i64::from(kiln_environ::ANY_FUNC_TYPE as i32)),
        };
        let func_ref = self.env.call_builtin(&mut self.b, self.vmctx, Builtin::func_ref_from_id, &[id, expected]).unwrap();
        let bad = self.b.ins().icmp_imm_u(IntCC::Equal, func_ref, kiln_environ::BAD_FUNC_REF as i64);
        self.b.ins().trapnz(bad, trap_code(Trap::BadGcFuncRef));
        func_ref
    }

    /// Address of element `index` of array `r`, trapping unless it is in
    /// bounds of the array.
    ///
    /// The length is heap data, so a corrupted one could name any index.
    /// It is masked first (`array_len_mask`), which changes no length an
    /// array of a heap of at most 4 GiB can have: then the element ends
    /// below 4 GiB and a header from `r`, so in the heap's reservation
    /// (`GC_HEAP_RESERVATION`, more than that past any reference), where
    /// it either is heap memory or faults in the inaccessible rest, which
    /// traps, as for struct fields. No check against the heap's current
    /// bound, no load of it: one `and` more than the length check.
    fn array_elem_addr(&mut self, r: Value, index: Value, layout: &GcArrayLayout) -> Value {
        let len = self.array_len(r);
        let limit = match array_len_mask(layout) {
            Some(mask) => self.b.ins().band_imm_u(len, i64::from(mask)),
            None => len,
        };
        let oob = self.b.ins().icmp(IntCC::UnsignedGreaterThanOrEqual, index, limit);
        self.b.ins().trapnz(oob, trap_code(Trap::ArrayOutOfBounds));
        let index = self.b.ins().uextend(I64, index);
        let scaled = self.b.ins().imul_imm_u(index, layout.elem_size as i64);
        let offset = self.b.ins().iadd_imm_u(scaled, layout.base as i64);
        self.gc_addr(r, offset)
    }

    /// Traps unless `[r + offset, r + offset + size)` lies in the
    /// accessible heap. Only a corrupted length can make this fail.
    fn check_in_heap(&mut self, r: Value, offset: Value, size: u32) {
        let ctx = self.store_ctx();
        let bound = self.b.ins().load(I64, self.flags.vm, ctx, store_context::GC_HEAP_BOUND as i32);
        let r = self.b.ins().uextend(I64, r);
        let start = self.b.ins().iadd(r, offset);
        let end = self.b.ins().iadd_imm_u(start, size as i64);
        let outside = self.b.ins().icmp(IntCC::UnsignedGreaterThan, end, bound);
        self.b.ins().trapnz(outside, trap_code(Trap::MemoryOutOfBounds));
    }

    fn array_len(&mut self, r: Value) -> Value {
        let addr = self.gc_addr_const(r, ARRAY_LENGTH_OFFSET);
        self.b.ins().load(I32, self.flags.gc_array_length, addr, 0)
    }

    /// Allocates an array of `len` (i32) elements, zeroed unless the caller
    /// overwrites them (see [`ArrayContents`]), trapping if it would be
    /// larger than an object can be.
    fn alloc_array(&mut self, type_index: u32, len: Value, contents: ArrayContents) -> Value {
        let layout = self.array_layout(type_index);
        let len64 = self.b.ins().uextend(I64, len);
        let bytes = self.b.ins().imul_imm_u(len64, layout.elem_size as i64);
        let end = self.b.ins().iadd_imm_u(bytes, layout.base as i64 + 7);
        let size = self.b.ins().band_imm_s(end, !7i64);
        let too_large = self.b.ins().icmp_imm_u(IntCC::UnsignedGreaterThan, size, MAX_OBJECT_SIZE as i64);
        self.b.ins().trapnz(too_large, trap_code(Trap::AllocationTooLarge));
        let type_id = self.engine_type_id(type_index);
        let gc = self.gc;
        let r = gc.alloc_array(self, type_id, len, &layout, contents);
        self.b.declare_value_needs_stack_map(r);
        self.note_new_object(r);
        r
    }

    /// Writes the element `bits` (see [`Self::element_bits`]) into every
    /// element of the new array `r` of `len` elements, and whatever
    /// padding follows them: the array may hold stale bytes
    /// ([`ArrayContents::Overwritten`]). The element, repeated to 16 bytes
    /// (a `splat` of its low bits: no masking, see `store_repeated`), is
    /// stored 16 bytes at a time up to the object's (8-aligned) size.
    fn fill_new_array_bits(&mut self, type_index: u32, r: Value, bits: Value, len: Value) {
        let layout = self.array_layout(type_index);
        let lanes = match layout.elem_size {
            1 => {
                let byte = self.b.ins().ireduce(I8, bits);
                self.b.ins().splat(I8X16, byte)
            }
            2 => {
                let half = self.b.ins().ireduce(I16, bits);
                self.b.ins().splat(I16X8, half)
            }
            4 => {
                let word = self.b.ins().ireduce(I32, bits);
                self.b.ins().splat(I32X4, word)
            }
            _ => self.b.ins().splat(I64X2, bits),
        };
        let len64 = self.b.ins().uextend(I64, len);
        let bytes = self.b.ins().imul_imm_u(len64, layout.elem_size as i64);
        let end = self.b.ins().iadd_imm_u(bytes, layout.base as i64 + 7);
        let size = self.b.ins().band_imm_s(end, !7i64);
        self.check_in_heap(r, size, 0);
        let object = self.gc_addr_const(r, 0);
        crate::gc::store_repeated(self, object, layout.base, size, lanes);
    }

    /// Stores `value` into `len` elements of `r` from `start` (already
    /// bounds-checked), with a loop.
    fn fill_array(&mut self, type_index: u32, r: Value, start: Value, value: Value, len: Value, write: FieldWrite) {
        let layout = self.array_layout(type_index);
        let storage = self.array_elem(type_index).storage;
        // The range is within the array's (untrusted) length: checking
        // that its end lies in the heap, once, bounds every store. The
        // heap's base never moves, so the object's address is computed
        // once too.
        let end = self.b.ins().iadd(start, len);
        let end64 = self.b.ins().uextend(I64, end);
        let end_scaled = self.b.ins().imul_imm_u(end64, layout.elem_size as i64);
        let end_offset = self.b.ins().iadd_imm_u(end_scaled, layout.base as i64);
        self.check_in_heap(r, end_offset, 0);
        let object = self.gc_addr_const(r, 0);
        let header = self.b.create_block();
        let body = self.b.create_block();
        let done = self.b.create_block();
        self.b.append_block_param(header, I32);
        self.b.ins().jump(header, &[BlockArg::Value(start)]);
        self.b.switch_to_block(header);
        let i = self.b.block_params(header)[0];
        let more = self.b.ins().icmp(IntCC::UnsignedLessThan, i, end);
        self.b.ins().brif(more, body, &[], done, &[]);
        self.b.switch_to_block(body);
        self.b.seal_block(body);
        let i64v = self.b.ins().uextend(I64, i);
        let scaled = self.b.ins().imul_imm_u(i64v, layout.elem_size as i64);
        let offset = self.b.ins().iadd_imm_u(scaled, layout.base as i64);
        let addr = self.b.ins().iadd(object, offset);
        self.store_field(addr, storage, value, write);
        let next = self.b.ins().iadd_imm_u(i, 1);
        self.b.ins().jump(header, &[BlockArg::Value(next)]);
        self.b.seal_block(header);
        self.b.switch_to_block(done);
        self.b.seal_block(done);
    }

    /// A numeric element value of at most 8 bytes as the i64 whose low
    /// bytes are its little-endian encoding; `None` for references and
    /// v128 (filled by a loop, through the barriers for references).
    fn element_bits(&mut self, storage: WasmStorageType, value: Value) -> Option<Value> {
        let bits = match storage {
            WasmStorageType::I8 | WasmStorageType::I16 | WasmStorageType::Val(WasmValType::I32) => self.b.ins().uextend(I64, value),
            WasmStorageType::Val(WasmValType::F32) => {
                let int = self.b.ins().bitcast(I32, MemFlagsData::new(), value);
                self.b.ins().uextend(I64, int)
            }
            WasmStorageType::Val(WasmValType::I64) => value,
            WasmStorageType::Val(WasmValType::F64) => self.b.ins().bitcast(I64, MemFlagsData::new(), value),
            _ => return None,
        };
        Some(bits)
    }

    /// Traps with `trap` unless `len` units of `unit` bytes from `src` lie
    /// in the segment: `array.new_data/elem` check before allocating.
    fn check_segment_range(&mut self, segment_len: Builtin, segment: u32, src: Value, len: Value, unit: u32, trap: Trap) {
        let seg = self.b.ins().iconst(I32, segment as i64);
        let seg_len = self.env.call_builtin(&mut self.b, self.vmctx, segment_len, &[seg]).unwrap();
        let seg_len = self.b.ins().uextend(I64, seg_len);
        let len = self.b.ins().uextend(I64, len);
        let bytes = self.b.ins().imul_imm_u(len, unit as i64);
        let src = self.b.ins().uextend(I64, src);
        let end = self.b.ins().iadd(src, bytes);
        let oob = self.b.ins().icmp(IntCC::UnsignedGreaterThan, end, seg_len);
        self.b.ins().trapnz(oob, trap_code(trap));
    }

    /// Calls a segment builtin returning 0 (ok), 1 (array out of bounds)
    /// or 2 (segment out of bounds, trapping with `segment_trap`).
    fn checked_array_builtin(&mut self, f: Builtin, args: &[Value], segment_trap: Trap) {
        let status = self.env.call_builtin(&mut self.b, self.vmctx, f, args).unwrap();
        let array_oob = self.b.ins().icmp_imm_u(IntCC::Equal, status, 1);
        self.b.ins().trapnz(array_oob, trap_code(Trap::ArrayOutOfBounds));
        let segment_oob = self.b.ins().icmp_imm_u(IntCC::Equal, status, 2);
        self.b.ins().trapnz(segment_oob, trap_code(segment_trap));
    }

    /// Handles GC operators; returns false for any other operator.
    pub(super) fn gc_operator(&mut self, op: &Operator<'_>) -> Result<bool, CompileError> {
        use Operator as O;
        match *op {
            O::StructNew { struct_type_index: t } => {
                let values = self.popn(self.struct_fields(t).len());
                let r = self.new_struct(t, Some(values));
                self.push(r);
            }
            O::StructNewDefault { struct_type_index: t } => {
                let r = self.new_struct(t, None);
                self.push(r);
            }
            O::StructGet { struct_type_index: t, field_index: f }
            | O::StructGetS { struct_type_index: t, field_index: f }
            | O::StructGetU { struct_type_index: t, field_index: f } => {
                let r = self.pop();
                self.null_check(r, Trap::NullStructReference);
                let field = self.struct_layout(t).fields[f as usize];
                let storage = self.struct_fields(t)[f as usize].storage;
                let addr = self.gc_addr_const(r, field.offset);
                let v = self.load_field(addr, storage, matches!(op, O::StructGetS { .. }));
                if self.is_gc_ref_storage(storage) {
                    self.note_ref_field_load(v, r, field.offset);
                }
                self.push(v);
            }
            O::StructSet { struct_type_index: t, field_index: f } => {
                let (r, v) = self.pop2();
                let field = self.struct_layout(t).fields[f as usize];
                let storage = self.struct_fields(t)[f as usize].storage;
                // Before the null check, which must not trap with a count
                // owed (`moves.rs`).
                let counted = match storage {
                    WasmStorageType::Val(WasmValType::Ref(rt)) if self.is_gc_ref_storage(storage) => {
                        let held = self.facts_of_type(rt);
                        self.counted_store(r, field.offset, v, held)
                    }
                    _ => {
                        self.flush_moves();
                        Counted::Both
                    }
                };
                self.null_check(r, Trap::NullStructReference);
                let addr = self.gc_addr_const(r, field.offset);
                self.store_field(addr, storage, v, FieldWrite::Overwrite(r, counted));
            }
            O::ArrayNew { array_type_index: t } => {
                let (init, len) = self.pop2();
                let r = match self.element_bits(self.array_elem(t).storage, init) {
                    // Numbers: written once, 8 bytes at a time, over memory
                    // nobody zeroed first.
                    Some(bits) => {
                        let r = self.alloc_array(t, len, ArrayContents::Overwritten);
                        self.fill_new_array_bits(t, r, bits, len);
                        r
                    }
                    None => {
                        let r = self.alloc_array(t, len, ArrayContents::Zeroed);
                        let zero = self.b.ins().iconst(I32, 0);
                        self.fill_array(t, r, zero, init, len, FieldWrite::Init);
                        r
                    }
                };
                self.push(r);
            }
            O::ArrayNewDefault { array_type_index: t } => {
                let len = self.pop();
                let r = self.alloc_array(t, len, ArrayContents::Zeroed);
                self.push(r);
            }
            O::ArrayNewFixed { array_type_index: t, array_size: n } => {
                let values = self.popn(n as usize);
                let len = self.b.ins().iconst(I32, n as i64);
                let r = self.alloc_array(t, len, ArrayContents::Zeroed);
                let layout = self.array_layout(t);
                let storage = self.array_elem(t).storage;
                for (i, v) in values.into_iter().enumerate() {
                    let addr = self.gc_addr_const(r, layout.elem_offset(i as u32) as u32);
                    self.store_field(addr, storage, v, FieldWrite::Init);
                }
                self.push(r);
            }
            O::ArrayNewData { array_type_index: t, array_data_index: d } => {
                let (src, len) = self.pop2();
                let elem_size = self.array_layout(t).elem_size;
                self.check_segment_range(Builtin::data_segment_len, d, src, len, elem_size, Trap::MemoryOutOfBounds);
                let r = self.alloc_array(t, len, ArrayContents::Zeroed);
                let (zero, seg) = (self.b.ins().iconst(I32, 0), self.b.ins().iconst(I32, d as i64));
                self.checked_array_builtin(Builtin::array_init_data, &[r, zero, seg, src, len], Trap::MemoryOutOfBounds);
                self.push(r);
            }
            O::ArrayNewElem { array_type_index: t, array_elem_index: e } => {
                let (src, len) = self.pop2();
                self.check_segment_range(Builtin::elem_segment_len, e, src, len, 1, Trap::TableOutOfBounds);
                let r = self.alloc_array(t, len, ArrayContents::Zeroed);
                let (zero, seg) = (self.b.ins().iconst(I32, 0), self.b.ins().iconst(I32, e as i64));
                self.checked_array_builtin(Builtin::array_init_elem, &[r, zero, seg, src, len], Trap::TableOutOfBounds);
                self.push(r);
            }
            O::ArrayGet { array_type_index: t } | O::ArrayGetS { array_type_index: t } | O::ArrayGetU { array_type_index: t } => {
                let (r, index) = self.pop2();
                self.null_check(r, Trap::NullArrayReference);
                let layout = self.array_layout(t);
                let addr = self.array_elem_addr(r, index, &layout);
                let storage = self.array_elem(t).storage;
                let v = self.load_field(addr, storage, matches!(op, O::ArrayGetS { .. }));
                self.push(v);
            }
            O::ArraySet { array_type_index: t } => {
                let (r, index, v) = self.pop3();
                self.null_check(r, Trap::NullArrayReference);
                let layout = self.array_layout(t);
                let addr = self.array_elem_addr(r, index, &layout);
                let storage = self.array_elem(t).storage;
                self.store_field(addr, storage, v, FieldWrite::Overwrite(r, Counted::Both));
            }
            O::ArrayLen => {
                let r = self.pop();
                self.null_check(r, Trap::NullArrayReference);
                let len = self.array_len(r);
                self.push(len);
            }
            O::ArrayFill { array_type_index: t } => {
                let len = self.pop();
                let (r, start, value) = self.pop3();
                self.null_check(r, Trap::NullArrayReference);
                let array_len = self.array_len(r);
                let (start64, len64, array_len64) = (self.b.ins().uextend(I64, start), self.b.ins().uextend(I64, len), self.b.ins().uextend(I64, array_len));
                let end = self.b.ins().iadd(start64, len64);
                let oob = self.b.ins().icmp(IntCC::UnsignedGreaterThan, end, array_len64);
                self.b.ins().trapnz(oob, trap_code(Trap::ArrayOutOfBounds));
                match self.element_bits(self.array_elem(t).storage, value) {
                    // Numbers: the builtin's `memset`-speed fill.
                    Some(bits) => self.checked_array_builtin(Builtin::array_fill, &[r, start, bits, len], Trap::ArrayOutOfBounds),
                    None => self.fill_array(t, r, start, value, len, FieldWrite::Overwrite(r, Counted::Both)),
                }
            }
            O::ArrayCopy { .. } => {
                let len = self.pop();
                let (src, src_index) = self.pop2();
                let (dst, dst_index) = self.pop2();
                self.null_check(dst, Trap::NullArrayReference);
                self.null_check(src, Trap::NullArrayReference);
                self.checked_array_builtin(Builtin::array_copy, &[dst, dst_index, src, src_index, len], Trap::ArrayOutOfBounds);
            }
            O::ArrayInitData { array_data_index: d, .. } | O::ArrayInitElem { array_elem_index: d, .. } => {
                let len = self.pop();
                let (r, dst, src) = self.pop3();
                self.null_check(r, Trap::NullArrayReference);
                let seg = self.b.ins().iconst(I32, d as i64);
                let (f, trap) = match op {
                    O::ArrayInitData { .. } => (Builtin::array_init_data, Trap::MemoryOutOfBounds),
                    _ => (Builtin::array_init_elem, Trap::TableOutOfBounds),
                };
                self.checked_array_builtin(f, &[r, dst, seg, src, len], trap);
            }
            O::RefI31 => {
                let x = self.pop();
                let shifted = self.b.ins().ishl_imm_u(x, 1);
                let r = self.b.ins().bor_imm_u(shifted, 1);
                self.push(r);
            }
            O::I31GetS | O::I31GetU => {
                let r = self.pop();
                self.null_check(r, Trap::NullI31Reference);
                let v = if matches!(op, O::I31GetS) { self.b.ins().sshr_imm_u(r, 1) } else { self.b.ins().ushr_imm_u(r, 1) };
                self.push(v);
            }
            O::RefEq => {
                let (x, y) = self.pop2();
                let c = self.b.ins().icmp(IntCC::Equal, x, y);
                let v = self.b.ins().uextend(I32, c);
                self.push(v);
            }
            // Extern and any references share one representation: a host
            // reference is an externref object in the GC heap.
            O::AnyConvertExtern | O::ExternConvertAny => {}
            O::RefTestNonNull { hty } | O::RefTestNullable { hty } => {
                let target = WasmRefType { nullable: matches!(op, O::RefTestNullable { .. }), heap: super::convert_heap_type(hty) };
                let x = self.pop();
                let c = self.ref_test(x, target);
                let v = self.b.ins().uextend(I32, c);
                self.ref_tests.insert(v, (x, target));
                self.push(v);
            }
            O::RefCastNonNull { hty } | O::RefCastNullable { hty } => {
                let target = WasmRefType { nullable: matches!(op, O::RefCastNullable { .. }), heap: super::convert_heap_type(hty) };
                let x = *self.stack.last().unwrap();
                if !self.cast_proven(x, target) {
                    let c = self.ref_test(x, target);
                    self.b.ins().trapz(c, trap_code(Trap::CastFailure));
                }
            }
            O::BrOnCast { relative_depth, to_ref_type, .. } | O::BrOnCastFail { relative_depth, to_ref_type, .. } => {
                let x = *self.stack.last().unwrap();
                let c = self.ref_test(x, super::convert_ref_type(to_ref_type));
                let (target, arity) = self.branch_target_of(relative_depth);
                let args = self.peekn(arity).to_vec();
                let next = self.b.create_block();
                if matches!(op, O::BrOnCast { .. }) {
                    self.b.ins().brif(c, target, &block_args(&args), next, &[]);
                } else {
                    self.b.ins().brif(c, next, &[], target, &block_args(&args));
                }
                self.b.seal_block(next);
                self.b.switch_to_block(next);
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Is `x` known to be of type `target` here: are we in the `then` arm
    /// of an `if` on a `ref.test` of `x` against a type at least as
    /// narrow? (`if (ref.test T x) (then ... (ref.cast T x) ...)` is how
    /// compiled Java and Kotlin test and downcast.) The arm is entered
    /// only when the test held, and `x`, an SSA value, is the same
    /// reference wherever it is used.
    fn cast_proven(&self, x: Value, target: WasmRefType) -> bool {
        // A local read again after a join is an alias of the value tested.
        let dfg = &self.b.func.dfg;
        let x = dfg.resolve_aliases(x);
        self.control
            .iter()
            .filter_map(|frame| frame.proven_cast)
            .any(|(tested, t)| dfg.resolve_aliases(tested) == x && t.heap == target.heap && (target.nullable || !t.nullable))
    }

    /// Is reference `x` of type `target`? Returns an i8 boolean.
    fn ref_test(&mut self, x: Value, target: WasmRefType) -> Value {
        if let WasmHeapType::Concrete(t) = target.heap
            && !self.env.module.is_func_type(t)
            && (self.env.module.types[t as usize].is_final || self.type_depth(t) < INLINE_DEPTH)
        {
            return self.ref_test_straight(x, t, target.nullable);
        }
        // The type id is loaded before the null and i31 tests (from a
        // harmless address when there is no object), so that it dominates
        // everything after: the next test of the same value, as in a
        // `br_on_cast` chain, reuses the load instead of repeating it.
        let facts = self.facts(x);
        let actual = match target.heap {
            WasmHeapType::Concrete(t) if !facts.object && !self.env.module.is_func_type(t) => Some(self.type_id_if_object(x)),
            _ => None,
        };
        let done = self.b.create_block();
        self.b.append_block_param(done, I8);
        if !facts.non_null {
            let non_null = self.b.create_block();
            let if_null = self.b.ins().iconst(I8, target.nullable as i64);
            self.b.ins().brif(x, non_null, &[], done, &[BlockArg::Value(if_null)]);
            self.b.seal_block(non_null);
            self.b.switch_to_block(non_null);
        }
        let result = self.test_non_null(x, target.heap, done, actual);
        self.b.ins().jump(done, &[BlockArg::Value(result)]);
        self.b.seal_block(done);
        self.b.switch_to_block(done);
        self.b.block_params(done)[0]
    }

    /// The test of `x` against concrete GC type `t`, which is final or
    /// shallower than the displays' inline slots: straight-line code, no
    /// branch.
    /// Whatever `x` is, its type id can be read (`NO_TYPE`, from the
    /// vmctx, when it is no object) and its display entry with it, and the
    /// answer is the entry's slot, or for a nullable target that or "is
    /// null". The id and the display are computed where
    /// the test is, so the next tests of the same value (a `br_on_cast`
    /// chain, a `ref.test` then `ref.cast`) share them: each costs a load
    /// and a compare.
    fn ref_test_straight(&mut self, x: Value, t: u32, nullable: bool) -> Value {
        let facts = self.facts(x);
        if facts.object {
            let actual = self.object_type_id(x);
            return self.subtype_check(actual, t);
        }
        // What is not an object has an id no type has, whose display is
        // empty: the check fails for it without testing for an object.
        let actual = self.type_id_if_object(x);
        let hit = self.subtype_check(actual, t);
        if !nullable || facts.non_null {
            return hit;
        }
        let null = self.b.ins().icmp_imm_u(IntCC::Equal, x, 0);
        self.b.ins().bor(hit, null)
    }

    /// Is `x` a GC object (neither null nor an i31)? An i8 boolean.
    fn is_object(&mut self, x: Value) -> Value {
        let non_null = self.b.ins().icmp_imm_u(IntCC::NotEqual, x, 0);
        let bit = self.b.ins().band_imm_u(x, 1);
        let not_i31 = self.b.ins().icmp_imm_u(IntCC::Equal, bit, 0);
        self.b.ins().band(non_null, not_i31)
    }

    /// The engine type id in the header of object `x` (non-null, not i31).
    fn object_type_id(&mut self, x: Value) -> Value {
        let addr = self.gc_addr_const(x, HEADER_TYPE_INDEX_OFFSET);
        self.b.ins().load(I32, self.flags.gc, addr, 0)
    }

    /// The engine type id in `x`'s header if `x` is an object (neither null
    /// nor an i31), else `type_display::NO_TYPE`, read from the vmctx: a
    /// load that is valid whatever `x` is.
    fn type_id_if_object(&mut self, x: Value) -> Value {
        let object = self.is_object(x);
        let in_header = self.gc_addr_const(x, HEADER_TYPE_INDEX_OFFSET);
        let no_type = self.b.ins().iadd_imm_u(self.vmctx, i64::from(VMCTX_NO_TYPE_OFFSET));
        let addr = self.b.ins().select(object, in_header, no_type);
        self.b.ins().load(I32, self.flags.gc, addr, 0)
    }

    /// The test for a non-null `x`; may branch to `done` early. `actual`
    /// is `x`'s type id when already loaded (`type_id_if_object`).
    fn test_non_null(&mut self, x: Value, heap: WasmHeapType, done: ir::Block, actual: Option<Value>) -> Value {
        use WasmHeapType as H;
        match heap {
            H::Any | H::Func | H::Extern | H::Exn => self.b.ins().iconst(I8, 1),
            H::None | H::NoFunc | H::NoExtern | H::NoExn => self.b.ins().iconst(I8, 0),
            H::I31 => {
                let bit = self.b.ins().band_imm_u(x, 1);
                self.b.ins().icmp_imm_u(IntCC::NotEqual, bit, 0)
            }
            H::Concrete(t) if self.env.module.is_func_type(t) => {
                let actual = self.b.ins().load(I32, self.flags.vm_readonly, x, func_ref::TYPE_ID as i32);
                self.subtype_check(actual, t)
            }
            H::Struct | H::Array | H::Concrete(_) if self.facts(x).object => self.test_object(x, heap, actual),
            H::Eq | H::Struct | H::Array | H::Concrete(_) => {
                // An i31 is an eq but neither a struct, an array nor a
                // concrete type.
                let object = self.b.create_block();
                let bit = self.b.ins().band_imm_u(x, 1);
                let i31_result = self.b.ins().iconst(I8, (heap == H::Eq) as i64);
                self.b.ins().brif(bit, done, &[BlockArg::Value(i31_result)], object, &[]);
                self.b.seal_block(object);
                self.b.switch_to_block(object);
                self.test_object(x, heap, actual)
            }
        }
    }

    /// The test for `x`, a GC object, against an eq, struct, array or
    /// concrete GC type (whose type id `actual` may be loaded already).
    fn test_object(&mut self, x: Value, heap: WasmHeapType, actual: Option<Value>) -> Value {
        match heap {
            WasmHeapType::Concrete(t) => {
                let actual = match actual {
                    Some(id) => id,
                    None => self.object_type_id(x),
                };
                self.subtype_check(actual, t)
            }
            _ => {
                let kind = VMGcKind::for_abstract_heap_type(heap).expect("abstract heap type").as_u32();
                let addr = self.gc_addr_const(x, HEADER_KIND_OFFSET);
                let word = self.b.ins().load(I32, self.flags.gc, addr, 0);
                let bits = self.b.ins().band_imm_u(word, kind as i64);
                self.b.ins().icmp_imm_u(IntCC::Equal, bits, kind as i64)
            }
        }
    }

    /// Is engine type `actual` a subtype of module type `expected`? Final
    /// types have no subtypes, so for them this is an id comparison. For
    /// others, `actual`'s supertype display (see `kiln::type_displays`):
    /// `expected`, at depth `d`, is an ancestor exactly when the display's
    /// entry at `d` is it. For the usual shallow `expected` that is one
    /// load from `actual`'s entry in the display table and a compare, no
    /// branch, and the entry's address is shared by every test of the same
    /// value. No call is made.
    pub(super) fn subtype_check(&mut self, actual: Value, expected: u32) -> Value {
        let expected_id = self.engine_type_id(expected);
        if self.env.module.types[expected as usize].is_final {
            return self.b.ins().icmp(IntCC::Equal, actual, expected_id);
        }
        let entry = self.type_display_entry(actual);
        let depth = self.type_depth(expected);
        let flags = MemFlagsData::trusted().with_readonly().with_can_move();
        // Past `actual`'s depth, and in an entry never written, the slot
        // holds `NO_TYPE`, which is no type's id.
        if depth < INLINE_DEPTH {
            let slot = self.b.ins().load(I32, flags, entry, (depth * 4) as i32);
            return self.b.ins().icmp(IntCC::Equal, slot, expected_id);
        }
        let record = self.b.ins().load(POINTER, flags, entry, RECORD_OFFSET as i32);
        // `NO_TYPE`'s entry, at the table's start, is never written: as a
        // record it has depth 0.
        let empty = self.env.load_vmctx_ptr(&mut self.b, self.vmctx, VMCTX_TYPE_DISPLAYS_OFFSET);
        let record = self.b.ins().select(record, record, empty);
        let done = self.b.create_block();
        self.b.append_block_param(done, I8);
        let actual_depth = self.b.ins().load(I32, flags, record, 0);
        let shallower = self.b.ins().icmp_imm_u(IntCC::UnsignedLessThan, actual_depth, i64::from(depth));
        let deep_enough = self.b.create_block();
        let no = self.b.ins().iconst(I8, 0);
        self.b.ins().brif(shallower, done, &[BlockArg::Value(no)], deep_enough, &[]);
        self.b.seal_block(deep_enough);
        self.b.switch_to_block(deep_enough);
        let ancestor_at = ((depth + 1) * 4) as i32;
        let ancestor = self.b.ins().load(I32, MemFlagsData::trusted().with_readonly(), record, ancestor_at);
        let is_ancestor = self.b.ins().icmp(IntCC::Equal, ancestor, expected_id);
        self.b.ins().jump(done, &[BlockArg::Value(is_ancestor)]);
        self.b.seal_block(done);
        self.b.switch_to_block(done);
        self.b.block_params(done)[0]
    }

    /// The address of engine type `id`'s display entry (`id` untrusted:
    /// read from a header), without a branch. An id past the capacity
    /// (only a corrupted header holds one) wraps around to some type's
    /// entry: no worse than the corrupted header naming that type, and one
    /// instruction where clamping it takes three.
    fn type_display_entry(&mut self, id: Value) -> Value {
        let table = self.env.load_vmctx_ptr(&mut self.b, self.vmctx, VMCTX_TYPE_DISPLAYS_OFFSET);
        let index = self.b.ins().band_imm_u(id, i64::from(DISPLAY_CAPACITY - 1));
        let index = self.b.ins().uextend(I64, index);
        let offset = self.b.ins().imul_imm_u(index, i64::from(ENTRY_SIZE));
        self.b.ins().iadd(table, offset)
    }

    /// How many declared supertypes module type `t` has above it.
    fn type_depth(&self, t: u32) -> u32 {
        let mut depth = 0;
        let mut ty = self.env.module.types[t as usize].supertype;
        while let Some(s) = ty {
            depth += 1;
            ty = self.env.module.types[s as usize].supertype;
        }
        depth
    }
}
