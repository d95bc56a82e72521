//! The module of a `ModuleSpec`, built with wasm-encoder.
//!
//! Index spaces: function 0 is the import `host.gc`, function 1 the
//! imported `prev.chain` (if imported), then the `EXPORTS` in order, then
//! the start function. Imported globals and tables come first, in `ITEMS`
//! order, then the defined ones in the same order. Type 0 is `$cell`,
//! identical in every module, so cells cross instances with their type.

use super::{EXPORTS, Export, ITEMS, Item, MAX_PAGES, MAX_TABLE, ModuleSpec, TABLE_MIN};
use wasm_encoder::{
    AbstractHeapType, BlockType, CodeSection, ConstExpr, DataSection, ElementSection, Elements, EntityType, ExportKind, ExportSection, FieldType,
    Function, FunctionSection, GlobalSection, GlobalType, HeapType, ImportSection, MemArg, MemArgTarget, MemorySection, MemoryType, Module, RefType,
    StartSection, StorageType, TableSection, TableType, TypeSection, ValType,
};

/// Bytes per memory page.
pub const PAGE: u64 = 1 << 16;
/// What `tabread` returns for null; for an i31 it adds the value to
/// `TAB_READ_I31`.
pub const TAB_READ_NULL: i64 = -1;
pub const TAB_READ_I31: i64 = 1 << 40;

const GC_FUNC: u32 = 0;
const PREV_CHAIN_FUNC: u32 = 1;
const CELL_TYPE: u32 = 0;

const CELL_REF: RefType = RefType { nullable: true, heap_type: HeapType::Concrete(CELL_TYPE) };

fn abstract_ht(ty: AbstractHeapType) -> HeapType {
    HeapType::Abstract { shared: false, ty }
}

/// Function types, by index (type 0 is `$cell`).
const FUNC_TYPES: [(&[ValType], &[ValType]); 9] = [
    (&[], &[]),
    (&[ValType::I64], &[ValType::I64]),
    (&[], &[ValType::I64]),
    (&[ValType::I64], &[]),
    (&[ValType::I32], &[ValType::I64]),
    (&[ValType::I32], &[]),
    (&[ValType::I32, ValType::I64], &[]),
    (&[ValType::I32, ValType::I32], &[]),
    (&[ValType::I32], &[ValType::I32]),
];
const VOID_TYPE: u32 = 1;
const I64_I64_TYPE: u32 = 2;
const ID_TYPE: u32 = 3;

/// The type index of `e`'s function.
fn type_of(e: Export) -> u32 {
    1 + match e {
        Export::Collect => 0,
        Export::Chain | Export::GAdd => 1,
        Export::Id | Export::CellGet => 2,
        Export::CellNew | Export::CellSet => 3,
        Export::MemLoad | Export::TabRead | Export::FtCall => 4,
        Export::TabStore | Export::CellFromTab | Export::FtPut => 5,
        Export::MemStore => 6,
        Export::TabStoreI31 => 7,
        Export::MemGrow | Export::TabGrow | Export::FtGrow => 8,
    }
}

struct Layout<'a> {
    spec: &'a ModuleSpec,
}

impl Layout<'_> {
    /// `item`'s index among `kinds`: imported ones first.
    fn space(&self, kinds: [Item; 2], item: Item) -> u32 {
        let imported = kinds.iter().filter(|k| self.spec.imports(**k));
        let defined = kinds.iter().filter(|k| !self.spec.imports(**k));
        imported.chain(defined).position(|k| *k == item).expect("a listed item") as u32
    }
    fn global(&self, item: Item) -> u32 {
        self.space([Item::Counter, Item::Cell], item)
    }
    fn table(&self, item: Item) -> u32 {
        self.space([Item::Refs, Item::Funcs], item)
    }
    fn func(&self, e: Export) -> u32 {
        let imported = 1 + u32::from(self.spec.imports(Item::Chain));
        imported + EXPORTS.iter().position(|x| *x == e).expect("a listed export") as u32
    }
    fn start_func(&self) -> u32 {
        self.func(Export::Collect) + 1
    }
}

fn memory_type(maximum: Option<u64>) -> MemoryType {
    MemoryType { minimum: 1, maximum, memory64: false, shared: false, page_size_log2: None }
}

fn table_type(element_type: RefType, maximum: Option<u64>) -> TableType {
    TableType { element_type, table64: false, minimum: TABLE_MIN, maximum, shared: false }
}

fn global_type(item: Item) -> GlobalType {
    let val_type = if item == Item::Cell { ValType::Ref(CELL_REF) } else { ValType::I64 };
    GlobalType { val_type, mutable: true, shared: false }
}

/// The type of `item` as imported (no maxima: any provider's fits).
fn import_type(item: Item) -> EntityType {
    match item {
        Item::Memory => EntityType::Memory(memory_type(None)),
        Item::Counter | Item::Cell => EntityType::Global(global_type(item)),
        Item::Refs => EntityType::Table(table_type(RefType::ANYREF, None)),
        Item::Funcs => EntityType::Table(table_type(RefType::FUNCREF, None)),
        Item::Chain => EntityType::Function(I64_I64_TYPE),
    }
}

fn export_kind(item: Item) -> ExportKind {
    match item {
        Item::Memory => ExportKind::Memory,
        Item::Counter | Item::Cell => ExportKind::Global,
        Item::Refs | Item::Funcs => ExportKind::Table,
        Item::Chain => ExportKind::Func,
    }
}

fn types() -> TypeSection {
    let mut types = TypeSection::new();
    types.ty().struct_([FieldType { element_type: StorageType::Val(ValType::I64), mutable: true }]);
    for (params, results) in FUNC_TYPES {
        types.ty().function(params.iter().copied(), results.iter().copied());
    }
    types
}

/// The module of `spec` (see the module docs for its layout).
pub fn module(spec: &ModuleSpec) -> Vec<u8> {
    let l = Layout { spec };
    let mut imports = ImportSection::new();
    imports.import("host", "gc", EntityType::Function(VOID_TYPE));
    for item in ITEMS.into_iter().filter(|i| spec.imports(*i)) {
        imports.import("prev", item.name(), import_type(item));
    }
    let mut funcs = FunctionSection::new();
    for e in EXPORTS {
        funcs.function(type_of(e));
    }
    if spec.start {
        funcs.function(VOID_TYPE);
    }
    let (tables, memories, globals) = definitions(spec);
    let mut module = Module::new();
    module.section(&types()).section(&imports).section(&funcs).section(&tables).section(&memories).section(&globals).section(&exports(&l));
    if spec.start {
        module.section(&StartSection { function_index: l.start_func() });
    }
    module.section(&elements(&l)).section(&code(&l)).section(&data(spec));
    module.finish()
}

/// The tables, memory and globals `spec` defines rather than imports.
fn definitions(spec: &ModuleSpec) -> (TableSection, MemorySection, GlobalSection) {
    let mut tables = TableSection::new();
    for (item, ty) in [(Item::Refs, RefType::ANYREF), (Item::Funcs, RefType::FUNCREF)] {
        if !spec.imports(item) {
            tables.table(table_type(ty, Some(MAX_TABLE)));
        }
    }
    let mut memories = MemorySection::new();
    if !spec.imports(Item::Memory) {
        memories.memory(memory_type(Some(MAX_PAGES)));
    }
    let mut globals = GlobalSection::new();
    if !spec.imports(Item::Counter) {
        globals.global(global_type(Item::Counter), &ConstExpr::i64_const(0));
    }
    if !spec.imports(Item::Cell) {
        globals.global(global_type(Item::Cell), &ConstExpr::ref_null(HeapType::Concrete(CELL_TYPE)));
    }
    (tables, memories, globals)
}

fn exports(l: &Layout<'_>) -> ExportSection {
    let mut exports = ExportSection::new();
    for item in [Item::Memory, Item::Counter, Item::Cell, Item::Refs, Item::Funcs] {
        let index = match item {
            Item::Memory => 0,
            Item::Counter | Item::Cell => l.global(item),
            _ => l.table(item),
        };
        exports.export(item.name(), export_kind(item), index);
    }
    for e in EXPORTS {
        exports.export(&e.name(), ExportKind::Func, l.func(e));
    }
    exports
}

fn elements(l: &Layout<'_>) -> ElementSection {
    let mut elements = ElementSection::new();
    let id = [l.func(Export::Id)];
    elements.active(Some(l.table(Item::Funcs)), &ConstExpr::i32_const(l.spec.elem_at as i32), Elements::Functions(id[..].into()));
    elements
}

fn data(spec: &ModuleSpec) -> DataSection {
    let mut data = DataSection::new();
    data.active(0, &ConstExpr::i32_const(spec.data_at as i32), spec.constant.to_le_bytes());
    data
}

fn code(l: &Layout<'_>) -> CodeSection {
    let mut code = CodeSection::new();
    for e in EXPORTS {
        code.function(&body(l, e));
    }
    if l.spec.start {
        let mut f = Function::new([]);
        let g = l.global(Item::Counter);
        f.instructions().global_get(g).i64_const(l.spec.constant).i64_add().global_set(g).end();
        code.function(&f);
    }
    code
}

const MEM_ARG: MemArg = MemArg { offset: 0, align: 3, target: MemArgTarget::Memory(0), ordering: None };

fn body(l: &Layout<'_>, e: Export) -> Function {
    let c = l.spec.constant;
    let (g, cell, tab, ft) = (l.global(Item::Counter), l.global(Item::Cell), l.table(Item::Refs), l.table(Item::Funcs));
    let locals: Vec<(u32, ValType)> = match e {
        Export::TabRead => vec![(1, ValType::Ref(RefType::ANYREF))],
        Export::Collect => vec![(1, ValType::Ref(CELL_REF))],
        _ => vec![],
    };
    let mut f = Function::new(locals);
    let mut s = f.instructions();
    match e {
        Export::Id => s.i64_const(c),
        Export::Chain if l.spec.imports(Item::Chain) => s.local_get(0).call(PREV_CHAIN_FUNC).i64_const(3).i64_mul().i64_const(c).i64_add(),
        Export::Chain => s.local_get(0).i64_const(c).i64_add(),
        Export::GAdd => s.global_get(g).local_get(0).i64_add().global_set(g).global_get(g),
        Export::MemStore => s.local_get(0).local_get(1).i64_store(MEM_ARG),
        Export::MemLoad => s.local_get(0).i64_load(MEM_ARG),
        Export::MemGrow => s.local_get(0).memory_grow(0),
        Export::CellNew => s.local_get(0).struct_new(CELL_TYPE).global_set(cell),
        Export::CellGet => s.global_get(cell).struct_get(CELL_TYPE, 0),
        Export::CellSet => s.global_get(cell).local_get(0).struct_set(CELL_TYPE, 0),
        Export::TabStore => s.local_get(0).global_get(cell).table_set(tab),
        Export::TabStoreI31 => s.local_get(0).local_get(1).ref_i31().table_set(tab),
        Export::TabRead => {
            let i31 = abstract_ht(AbstractHeapType::I31);
            let result = BlockType::Result(ValType::I64);
            s.local_get(0).table_get(tab).local_tee(1).ref_is_null().if_(result).i64_const(TAB_READ_NULL).else_();
            s.local_get(1).ref_test_non_null(i31).if_(result);
            s.i64_const(TAB_READ_I31).local_get(1).ref_cast_non_null(i31).i31_get_s().i64_extend_i32_s().i64_add().else_();
            s.local_get(1).ref_cast_non_null(HeapType::Concrete(CELL_TYPE)).struct_get(CELL_TYPE, 0).end().end()
        }
        Export::CellFromTab => s.local_get(0).table_get(tab).ref_cast_nullable(HeapType::Concrete(CELL_TYPE)).global_set(cell),
        Export::TabGrow => s.ref_null(abstract_ht(AbstractHeapType::Any)).local_get(0).table_grow(tab),
        Export::FtPut => s.local_get(0).ref_func(l.func(Export::Id)).table_set(ft),
        Export::FtCall => s.local_get(0).call_indirect(ft, ID_TYPE),
        Export::FtGrow => s.ref_null(abstract_ht(AbstractHeapType::Func)).local_get(0).table_grow(ft),
        Export::Collect => {
            s.global_get(cell).local_set(0).ref_null(HeapType::Concrete(CELL_TYPE)).global_set(cell);
            s.call(GC_FUNC).local_get(0).global_set(cell)
        }
    };
    s.end();
    f
}
