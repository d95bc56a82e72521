//! The module of a `GcOps` test case, built with wasm-encoder.
//!
//! Layout: the GC types in one recursion group (structs, then arrays),
//! then the function types; imports `host.gc` (function 0) and
//! `host.observe` (1); `describe` (2), `hold` (3) and the exported `run`
//! (4); two `anyref` globals and one `anyref` table of `TABLE_SIZE`
//! elements, all null at first. `run` has `LOCALS` `anyref` locals, then
//! an `i32` loop counter and an `anyref` scratch local.

use super::{GcOp, GcOps, GcTypes, Init, LOCALS, RefSrc, Slot, Storage, TABLE_SIZE, Target, all_slots};
use wasm_encoder::{
    AbstractHeapType, ArrayType, BlockType, CodeSection, CompositeInnerType, CompositeType, ConstExpr, EntityType, ExportKind, ExportSection,
    FieldType, Function, FunctionSection, GlobalSection, GlobalType, HeapType, ImportSection, InstructionSink, Module, RefType, StorageType,
    StructType, SubType, TableSection, TableType, TypeSection, ValType,
};

/// What `describe` returns for null; for an i31 it adds the value to
/// `DESCRIBE_I31`, for an array its length to `DESCRIBE_ARRAY`, and for a
/// struct it returns the id (small and non-negative).
pub const DESCRIBE_NULL: i64 = -1;
pub const DESCRIBE_I31: i64 = 1 << 40;
pub const DESCRIBE_ARRAY: i64 = 2 << 40;

const GC_FUNC: u32 = 0;
const OBSERVE_FUNC: u32 = 1;
const DESCRIBE_FUNC: u32 = 2;
const HOLD_FUNC: u32 = 3;
const COUNTER_LOCAL: u32 = LOCALS;
const SCRATCH_LOCAL: u32 = LOCALS + 1;

const ANYREF: ValType = ValType::Ref(RefType::ANYREF);

fn abstract_ht(ty: AbstractHeapType) -> HeapType {
    HeapType::Abstract { shared: false, ty }
}

/// Type indices of the GC types.
struct Indices<'a> {
    types: &'a GcTypes,
}

impl Indices<'_> {
    fn strukt(&self, i: usize) -> u32 {
        i as u32
    }
    fn array(&self, i: usize) -> u32 {
        (self.types.structs.len() + i) as u32
    }
    /// The first function type.
    fn funcs(&self) -> u32 {
        (self.types.structs.len() + self.types.arrays.len()) as u32
    }
    fn heap(&self, t: Target) -> HeapType {
        match t {
            Target::Any => abstract_ht(AbstractHeapType::Any),
            Target::Eq => abstract_ht(AbstractHeapType::Eq),
            Target::I31 => abstract_ht(AbstractHeapType::I31),
            Target::Struct => abstract_ht(AbstractHeapType::Struct),
            Target::Array => abstract_ht(AbstractHeapType::Array),
            Target::None => abstract_ht(AbstractHeapType::None),
            Target::ConcreteStruct(i) => HeapType::Concrete(self.strukt(i)),
            Target::ConcreteArray(i) => HeapType::Concrete(self.array(i)),
        }
    }
}

fn storage_type(s: Storage) -> StorageType {
    match s {
        Storage::I64 => StorageType::Val(ValType::I64),
        Storage::I8 => StorageType::I8,
        Storage::Ref => StorageType::Val(ANYREF),
    }
}

fn sub_type(is_final: bool, parent: Option<u32>, inner: CompositeInnerType) -> SubType {
    SubType { is_final, supertype_idxs: parent.into_iter().collect(), composite_type: CompositeType { inner, shared: false, descriptor: None, describes: None } }
}

fn type_section(ix: &Indices<'_>) -> TypeSection {
    let t = ix.types;
    let structs = t.structs.iter().map(|s| {
        let fields = s.fields.iter().enumerate().map(|(i, f)| FieldType { element_type: storage_type(*f), mutable: i > 0 }).collect();
        sub_type(s.is_final, s.parent.map(|p| ix.strukt(p)), CompositeInnerType::Struct(StructType { fields }))
    });
    let arrays = t.arrays.iter().map(|a| {
        let elem = FieldType { element_type: storage_type(a.elem), mutable: true };
        sub_type(a.is_final, a.parent.map(|p| ix.array(p)), CompositeInnerType::Array(ArrayType(elem)))
    });
    let mut types = TypeSection::new();
    types.ty().rec(structs.chain(arrays).collect::<Vec<_>>());
    types.ty().function([], []);
    types.ty().function([ValType::I64], []);
    types.ty().function([ANYREF], [ValType::I64]);
    types.ty().function([ANYREF], [ANYREF]);
    types
}

/// The module of `case` (see the module docs for its layout).
pub fn module(case: &GcOps) -> Vec<u8> {
    let ix = Indices { types: &case.types };
    let f = ix.funcs();
    let mut imports = ImportSection::new();
    imports.import("host", "gc", EntityType::Function(f));
    imports.import("host", "observe", EntityType::Function(f + 1));
    let mut funcs = FunctionSection::new();
    funcs.function(f + 2).function(f + 3).function(f);
    let mut tables = TableSection::new();
    tables.table(TableType { element_type: RefType::ANYREF, table64: false, minimum: TABLE_SIZE.into(), maximum: Some(TABLE_SIZE.into()), shared: false });
    let mut globals = GlobalSection::new();
    for _ in 0..super::GLOBALS {
        globals.global(GlobalType { val_type: ANYREF, mutable: true, shared: false }, &ConstExpr::ref_null(abstract_ht(AbstractHeapType::Any)));
    }
    let mut exports = ExportSection::new();
    exports.export("run", ExportKind::Func, HOLD_FUNC + 1);
    let mut code = CodeSection::new();
    code.function(&describe()).function(&hold()).function(&run(&ix, &case.ops));
    let mut module = Module::new();
    module.section(&type_section(&ix)).section(&imports).section(&funcs).section(&tables).section(&globals).section(&exports).section(&code);
    module.finish()
}

/// `describe(anyref) -> i64`: see `DESCRIBE_NULL`.
fn describe() -> Function {
    let mut func = Function::new([]);
    let i64_result = BlockType::Result(ValType::I64);
    let i31 = abstract_ht(AbstractHeapType::I31);
    let mut s = func.instructions();
    s.local_get(0).ref_is_null().if_(i64_result).i64_const(DESCRIBE_NULL).else_();
    s.local_get(0).ref_test_non_null(i31).if_(i64_result);
    s.i64_const(DESCRIBE_I31).local_get(0).ref_cast_non_null(i31).i31_get_s().i64_extend_i32_s().i64_add().else_();
    s.local_get(0).ref_test_non_null(HeapType::Concrete(0)).if_(i64_result);
    s.local_get(0).ref_cast_non_null(HeapType::Concrete(0)).struct_get(0, 0).else_();
    s.i64_const(DESCRIBE_ARRAY).local_get(0).ref_cast_non_null(abstract_ht(AbstractHeapType::Array)).array_len().i64_extend_i32_u().i64_add();
    s.end().end().end().end();
    func
}

/// `hold(anyref) -> anyref`: collects while its parameter holds the
/// reference, then returns it.
fn hold() -> Function {
    let mut func = Function::new([]);
    func.instructions().call(GC_FUNC).local_get(0).end();
    func
}

fn run(ix: &Indices<'_>, ops: &[GcOp]) -> Function {
    let mut func = Function::new([(LOCALS, ANYREF), (1, ValType::I32), (1, ANYREF)]);
    let mut e = Emitter { ix, next_id: 0 };
    let mut s = func.instructions();
    for op in ops {
        e.op(&mut s, op);
    }
    for slot in all_slots() {
        get(&mut s, slot);
        s.call(DESCRIBE_FUNC).call(OBSERVE_FUNC);
    }
    s.end();
    func
}

fn get(s: &mut InstructionSink<'_>, slot: Slot) {
    match slot {
        Slot::Local(i) => s.local_get(i),
        Slot::Global(i) => s.global_get(i),
        Slot::Table(i) => s.i32_const(i as i32).table_get(0),
    };
}

/// Stores into `slot` the value `push` leaves on the stack.
fn set(s: &mut InstructionSink<'_>, slot: Slot, push: impl FnOnce(&mut InstructionSink<'_>)) {
    match slot {
        Slot::Local(i) => {
            push(s);
            s.local_set(i);
        }
        Slot::Global(i) => {
            push(s);
            s.global_set(i);
        }
        Slot::Table(i) => {
            s.i32_const(i as i32);
            push(s);
            s.table_set(0);
        }
    }
}

fn push_ref(s: &mut InstructionSink<'_>, r: RefSrc) {
    match r {
        RefSrc::Null => {
            s.ref_null(abstract_ht(AbstractHeapType::Any));
        }
        RefSrc::I31(v) => {
            s.i32_const(v).ref_i31();
        }
        RefSrc::Slot(slot) => get(s, slot),
    }
}

fn push_init(s: &mut InstructionSink<'_>, init: Init, storage: Storage) {
    match (init, storage) {
        (Init::Num(v), Storage::I64) => {
            s.i64_const(v);
        }
        (Init::Num(v), Storage::I8) => {
            s.i32_const(v as i32);
        }
        (Init::Ref(r), Storage::Ref) => push_ref(s, r),
        (init, storage) => unreachable!("the generator matches values to storage: {init:?} for {storage:?}"),
    }
}

/// Observes the i32 on the stack (a test result).
fn observe_i32(s: &mut InstructionSink<'_>) {
    s.i64_extend_i32_u().call(OBSERVE_FUNC);
}

/// Turns a loaded field or element of `storage` into an observed `i64`.
fn observe_loaded(s: &mut InstructionSink<'_>, storage: Storage) {
    match storage {
        Storage::I64 => s.call(OBSERVE_FUNC),
        Storage::I8 => s.i64_extend_i32_u().call(OBSERVE_FUNC),
        Storage::Ref => s.call(DESCRIBE_FUNC).call(OBSERVE_FUNC),
    };
}

struct Emitter<'a> {
    ix: &'a Indices<'a>,
    /// The id the next `struct.new` of the sequence gets.
    next_id: i64,
}

impl Emitter<'_> {
    fn struct_storage(&self, ty: usize, field: u32) -> Storage {
        self.ix.types.structs[ty].fields[field as usize]
    }

    fn elem(&self, ty: usize) -> Storage {
        self.ix.types.arrays[ty].elem
    }

    /// `if (ref.test (ref $heap) slot)`, observing the test; the body
    /// follows, with `guarded_get` pushing the slot cast to the type.
    fn guard(&self, s: &mut InstructionSink<'_>, slot: Slot, heap: HeapType) {
        get(s, slot);
        s.ref_test_non_null(heap).local_tee(COUNTER_LOCAL);
        observe_i32(s);
        s.local_get(COUNTER_LOCAL).if_(BlockType::Empty);
    }

    fn guarded_get(&self, s: &mut InstructionSink<'_>, slot: Slot, heap: HeapType) {
        get(s, slot);
        s.ref_cast_non_null(heap);
    }

    fn op(&mut self, s: &mut InstructionSink<'_>, op: &GcOp) {
        let ix = self.ix;
        match *op {
            GcOp::NewStruct { dst, ty, ref inits } => {
                let id = self.next_id;
                self.next_id += 1;
                set(s, dst, |s| {
                    s.i64_const(id);
                    for (k, init) in inits.iter().enumerate() {
                        push_init(s, *init, self.struct_storage(ty, k as u32 + 1));
                    }
                    s.struct_new(ix.strukt(ty));
                });
            }
            GcOp::NewArray { dst, ty, len, init } => set(s, dst, |s| {
                push_init(s, init, self.elem(ty));
                s.i32_const(len as i32).array_new(ix.array(ty));
            }),
            GcOp::NewArrayFixed { dst, ty, ref inits } => set(s, dst, |s| {
                for init in inits {
                    push_init(s, *init, self.elem(ty));
                }
                s.array_new_fixed(ix.array(ty), inits.len() as u32);
            }),
            GcOp::Set { dst, value } => set(s, dst, |s| push_ref(s, value)),
            GcOp::Observe { src } => {
                get(s, src);
                s.call(DESCRIBE_FUNC).call(OBSERVE_FUNC);
            }
            GcOp::GetField { src, ty, field } => {
                let heap = HeapType::Concrete(ix.strukt(ty));
                self.guard(s, src, heap);
                self.guarded_get(s, src, heap);
                match self.struct_storage(ty, field) {
                    Storage::I8 => s.struct_get_u(ix.strukt(ty), field),
                    _ => s.struct_get(ix.strukt(ty), field),
                };
                observe_loaded(s, self.struct_storage(ty, field));
                s.end();
            }
            GcOp::SetField { dst, ty, field, value } => {
                let heap = HeapType::Concrete(ix.strukt(ty));
                self.guard(s, dst, heap);
                self.guarded_get(s, dst, heap);
                push_init(s, value, self.struct_storage(ty, field));
                s.struct_set(ix.strukt(ty), field).end();
            }
            GcOp::ArrayLen { src } => {
                let heap = abstract_ht(AbstractHeapType::Array);
                self.guard(s, src, heap);
                self.guarded_get(s, src, heap);
                s.array_len();
                observe_i32(s);
                s.end();
            }
            GcOp::ArrayGet { src, ty, index } => {
                let heap = HeapType::Concrete(ix.array(ty));
                self.guard(s, src, heap);
                self.guarded_get(s, src, heap);
                s.i32_const(index as i32);
                match self.elem(ty) {
                    Storage::I8 => s.array_get_u(ix.array(ty)),
                    _ => s.array_get(ix.array(ty)),
                };
                observe_loaded(s, self.elem(ty));
                s.end();
            }
            GcOp::ArraySet { dst, ty, index, value } => {
                let heap = HeapType::Concrete(ix.array(ty));
                self.guard(s, dst, heap);
                self.guarded_get(s, dst, heap);
                s.i32_const(index as i32);
                push_init(s, value, self.elem(ty));
                s.array_set(ix.array(ty)).end();
            }
            GcOp::ArrayFill { dst, ty, offset, value, len } => {
                let heap = HeapType::Concrete(ix.array(ty));
                self.guard(s, dst, heap);
                self.guarded_get(s, dst, heap);
                s.i32_const(offset as i32);
                push_init(s, value, self.elem(ty));
                s.i32_const(len as i32).array_fill(ix.array(ty)).end();
            }
            GcOp::ArrayCopy { dst, dst_ty, dst_offset, src, src_ty, src_offset, len } => {
                let (dh, sh) = (HeapType::Concrete(ix.array(dst_ty)), HeapType::Concrete(ix.array(src_ty)));
                get(s, dst);
                s.ref_test_non_null(dh);
                get(s, src);
                s.ref_test_non_null(sh).i32_and().local_tee(COUNTER_LOCAL);
                observe_i32(s);
                s.local_get(COUNTER_LOCAL).if_(BlockType::Empty);
                self.guarded_get(s, dst, dh);
                s.i32_const(dst_offset as i32);
                self.guarded_get(s, src, sh);
                s.i32_const(src_offset as i32).i32_const(len as i32).array_copy(ix.array(dst_ty), ix.array(src_ty)).end();
            }
            GcOp::Test { src, target, nullable } => {
                get(s, src);
                if nullable { s.ref_test_nullable(ix.heap(target)) } else { s.ref_test_non_null(ix.heap(target)) };
                observe_i32(s);
            }
            GcOp::Cast { src, target, nullable } => {
                get(s, src);
                if nullable { s.ref_cast_nullable(ix.heap(target)) } else { s.ref_cast_non_null(ix.heap(target)) };
                s.drop();
            }
            GcOp::RefEq { a, b } => {
                let eq = abstract_ht(AbstractHeapType::Eq);
                get(s, a);
                s.ref_cast_nullable(eq);
                get(s, b);
                s.ref_cast_nullable(eq).ref_eq();
                observe_i32(s);
            }
            GcOp::Gc => {
                s.call(GC_FUNC);
            }
            GcOp::GcHolding { slot } => {
                get(s, slot);
                s.local_set(SCRATCH_LOCAL);
                set(s, slot, |s| push_ref(s, RefSrc::Null));
                s.local_get(SCRATCH_LOCAL).ref_null(abstract_ht(AbstractHeapType::Any)).local_set(SCRATCH_LOCAL);
                s.call(HOLD_FUNC).local_set(SCRATCH_LOCAL);
                set(s, slot, |s| {
                    s.local_get(SCRATCH_LOCAL);
                });
                s.ref_null(abstract_ht(AbstractHeapType::Any)).local_set(SCRATCH_LOCAL);
            }
            GcOp::Churn { count } => {
                // counter = count; while counter != 0 { drop(new $obj(-1)); counter -= 1 }
                s.i32_const(count as i32).local_set(COUNTER_LOCAL);
                s.block(BlockType::Empty).loop_(BlockType::Empty);
                s.local_get(COUNTER_LOCAL).i32_eqz().br_if(1);
                s.i64_const(-1).struct_new(ix.strukt(0)).drop();
                s.local_get(COUNTER_LOCAL).i32_const(1).i32_sub().local_set(COUNTER_LOCAL).br(0);
                s.end().end();
            }
        }
    }
}
