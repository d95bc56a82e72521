//! The module IR: everything about a module except its function bodies'
//! machine code.
//!
//! Index spaces follow the spec: imported entities come first, then defined
//! ones, so `funcs[i]` is the type of function `i` whether imported or not,
//! and `i < num_imported_funcs` says which.

use crate::{ConstExpr, EntityIndex, EntityType, GlobalType, MemoryType, TableType, TagType, WasmCompositeType, WasmFuncType, WasmRefType, WasmSubType};
use std::collections::HashMap;
use std::ops::Range;

/// An import: where it comes from and what it must be.
#[derive(Debug, Clone)]
pub struct Import {
    pub module: String,
    pub name: String,
    pub ty: EntityType,
}

/// An export: its name and what it names.
#[derive(Debug, Clone)]
pub struct Export {
    pub name: String,
    pub index: EntityIndex,
}

/// A table declaration; `init` is the initial element for every slot (null
/// when absent).
#[derive(Debug, Clone)]
pub struct TablePlan {
    pub ty: TableType,
    pub init: Option<ConstExpr>,
}

/// A global declaration of this module (imported globals have none).
#[derive(Debug, Clone)]
pub struct GlobalInit {
    pub ty: GlobalType,
    pub init: ConstExpr,
}

/// How a segment is applied.
#[derive(Debug, Clone)]
pub enum SegmentMode {
    Passive,
    /// Declarative element segments only make functions referencable.
    Declared,
    Active { index: u32, offset: ConstExpr },
}

/// Elements of an element segment.
#[derive(Debug, Clone)]
pub enum ElemItems {
    Functions(Box<[u32]>),
    Exprs(Box<[ConstExpr]>),
}

impl ElemItems {
    pub fn len(&self) -> usize {
        match self {
            ElemItems::Functions(f) => f.len(),
            ElemItems::Exprs(e) => e.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[derive(Debug, Clone)]
pub struct ElemSegment {
    pub mode: SegmentMode,
    pub ty: WasmRefType,
    pub items: ElemItems,
}

/// A data segment; `bytes` is a range of the module's original binary.
#[derive(Debug, Clone)]
pub struct DataSegment {
    pub mode: SegmentMode,
    pub bytes: Range<usize>,
}

/// A defined function's body: where it sits in the original binary.
#[derive(Debug, Clone)]
pub struct FunctionBodyRange {
    pub range: Range<usize>,
}

/// Everything the runtime and compiler need to know about a module.
#[derive(Debug, Default, Clone)]
pub struct ModuleInfo {
    pub name: Option<String>,
    pub types: Vec<WasmSubType>,
    pub imports: Vec<Import>,
    pub exports: Vec<Export>,
    /// Module type index of every function (imported first).
    pub funcs: Vec<u32>,
    pub tables: Vec<TablePlan>,
    pub memories: Vec<MemoryType>,
    pub globals: Vec<GlobalType>,
    /// Initialisers of the defined globals, in order.
    pub global_inits: Vec<ConstExpr>,
    pub tags: Vec<TagType>,
    pub elems: Vec<ElemSegment>,
    pub data: Vec<DataSegment>,
    pub start: Option<u32>,
    pub num_imported_funcs: u32,
    pub num_imported_tables: u32,
    pub num_imported_memories: u32,
    pub num_imported_globals: u32,
    pub num_imported_tags: u32,
    pub func_names: HashMap<u32, String>,
    /// Bodies of the defined functions, in order.
    pub bodies: Vec<FunctionBodyRange>,
}

impl ModuleInfo {
    pub fn num_defined_funcs(&self) -> u32 {
        self.funcs.len() as u32 - self.num_imported_funcs
    }

    pub fn is_imported_func(&self, index: u32) -> bool {
        index < self.num_imported_funcs
    }

    pub fn is_imported_memory(&self, index: u32) -> bool {
        index < self.num_imported_memories
    }

    pub fn is_imported_table(&self, index: u32) -> bool {
        index < self.num_imported_tables
    }

    pub fn is_imported_global(&self, index: u32) -> bool {
        index < self.num_imported_globals
    }

    /// The function type with module type index `index`.
    ///
    /// # Panics
    /// If the type is not a function type; validation rules that out for
    /// every index the compiler and runtime look up.
    pub fn func_type(&self, index: u32) -> &WasmFuncType {
        match &self.types[index as usize].composite {
            WasmCompositeType::Func(f) => f,
            other => panic!("type {index} is not a function type: {other:?}"),
        }
    }

    /// The signature of function `func`.
    pub fn func_sig(&self, func: u32) -> &WasmFuncType {
        self.func_type(self.funcs[func as usize])
    }

    /// Is the concrete type `index` a function type?
    pub fn is_func_type(&self, index: u32) -> bool {
        matches!(self.types[index as usize].composite, WasmCompositeType::Func(_))
    }

    pub fn entity_type(&self, index: EntityIndex) -> EntityType {
        match index {
            EntityIndex::Function(i) => EntityType::Function(self.funcs[i as usize]),
            EntityIndex::Table(i) => EntityType::Table(self.tables[i as usize].ty),
            EntityIndex::Memory(i) => EntityType::Memory(self.memories[i as usize]),
            EntityIndex::Global(i) => EntityType::Global(self.globals[i as usize]),
            EntityIndex::Tag(i) => EntityType::Tag(self.tags[i as usize]),
        }
    }

    /// The function (module-wide index) whose body holds module offset
    /// `offset`. Bodies lie in the code section in order.
    pub fn func_at_offset(&self, offset: u32) -> Option<u32> {
        let offset = offset as usize;
        let i = self.bodies.partition_point(|b| b.range.start <= offset).checked_sub(1)?;
        self.bodies[i].range.contains(&offset).then(|| self.num_imported_funcs + i as u32)
    }

    /// The function's name from the name section, if any.
    pub fn func_name(&self, index: u32) -> Option<&str> {
        self.func_names.get(&index).map(|s| s.as_str())
    }
}

impl crate::FuncTypeLookup for ModuleInfo {
    fn is_func_type(&self, index: u32) -> bool {
        ModuleInfo::is_func_type(self, index)
    }
}

impl ModuleInfo {
    /// How references of type `r` are represented.
    pub fn ref_repr(&self, r: crate::WasmRefType) -> crate::RefRepr {
        r.repr(self)
    }

    pub fn val_repr(&self, t: crate::WasmValType) -> crate::ValRepr {
        use crate::{ValRepr, WasmValType as V};
        match t {
            V::I32 => ValRepr::I32,
            V::I64 => ValRepr::I64,
            V::F32 => ValRepr::F32,
            V::F64 => ValRepr::F64,
            V::V128 => ValRepr::V128,
            V::Ref(r) => self.ref_repr(r).into(),
        }
    }

    pub fn signature_repr(&self, ty: &WasmFuncType) -> crate::SignatureRepr {
        crate::SignatureRepr {
            params: ty.params.iter().map(|t| self.val_repr(*t)).collect(),
            results: ty.results.iter().map(|t| self.val_repr(*t)).collect(),
        }
    }
}
