//! Kiln's own description of Wasm types.
//!
//! These mirror the spec's types but are independent of wasmparser's, so the
//! rest of the engine never depends on a parser's representation. Concrete
//! heap types refer to a type index *of the module that declared them*;
//! engine-wide canonical ids are assigned by the runtime's type registry.

use std::fmt;

/// A value type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WasmValType {
    I32,
    I64,
    F32,
    F64,
    V128,
    Ref(WasmRefType),
}

/// A reference type: nullability plus a heap type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct WasmRefType {
    pub nullable: bool,
    pub heap: WasmHeapType,
}

/// A heap type. `Concrete` holds a module-level type index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WasmHeapType {
    Func,
    NoFunc,
    Extern,
    NoExtern,
    Any,
    Eq,
    I31,
    Struct,
    Array,
    None,
    Exn,
    NoExn,
    Concrete(u32),
}

impl WasmRefType {
    pub const FUNCREF: Self = Self { nullable: true, heap: WasmHeapType::Func };
    pub const EXTERNREF: Self = Self { nullable: true, heap: WasmHeapType::Extern };
}

/// How a reference is represented in machine code and in the VM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefRepr {
    /// A pointer to a `VMFuncRef` (null is 0). Pointer-sized.
    FuncRef,
    /// A 32-bit reference: a host-data id for externref today, a `VMGcRef`
    /// heap offset (or tagged i31) once the GC heap lands. Null is 0.
    GcRef,
}

/// Answers whether a type index names a function type: a module answers
/// for its type indices, the engine's registry for engine-wide ids.
pub trait FuncTypeLookup {
    fn is_func_type(&self, index: u32) -> bool;
}

impl WasmHeapType {
    /// How references to this heap type are represented. This is the one
    /// place that decides whether a reference is a function reference (a
    /// `VMFuncRef` pointer, never in the GC heap) or a GC-heap reference;
    /// the compiler, the collectors' layouts and the runtime all ask it.
    pub fn repr(self, types: &(impl FuncTypeLookup + ?Sized)) -> RefRepr {
        match self {
            WasmHeapType::Func | WasmHeapType::NoFunc => RefRepr::FuncRef,
            WasmHeapType::Concrete(i) if types.is_func_type(i) => RefRepr::FuncRef,
            _ => RefRepr::GcRef,
        }
    }
}

impl WasmRefType {
    pub fn repr(self, types: &(impl FuncTypeLookup + ?Sized)) -> RefRepr {
        self.heap.repr(types)
    }
}

impl WasmValType {
    /// Does a value of this type point into the GC heap (a reference of
    /// the any, extern or exn hierarchy; an i31 is told apart at run
    /// time)? Numbers and function references do not.
    pub fn is_gc_heap_ref(self, types: &(impl FuncTypeLookup + ?Sized)) -> bool {
        matches!(self, WasmValType::Ref(r) if r.repr(types) == RefRepr::GcRef)
    }
}

impl WasmHeapType {
    /// The top type of this heap type's hierarchy, for the types where it is
    /// known without consulting the module's types (concrete types need
    /// them: see [`WasmRefType::repr`]).
    pub fn abstract_top(self) -> Option<WasmHeapType> {
        use WasmHeapType::*;
        Some(match self {
            Func | NoFunc => Func,
            Extern | NoExtern => Extern,
            Any | Eq | I31 | Struct | Array | None => Any,
            Exn | NoExn => Exn,
            Concrete(_) => return Option::None,
        })
    }
}

impl fmt::Display for WasmValType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WasmValType::I32 => f.write_str("i32"),
            WasmValType::I64 => f.write_str("i64"),
            WasmValType::F32 => f.write_str("f32"),
            WasmValType::F64 => f.write_str("f64"),
            WasmValType::V128 => f.write_str("v128"),
            WasmValType::Ref(r) => write!(f, "{r}"),
        }
    }
}

impl fmt::Display for WasmRefType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let null = if self.nullable { "null " } else { "" };
        write!(f, "(ref {null}{})", self.heap)
    }
}

impl fmt::Display for WasmHeapType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use WasmHeapType::*;
        let s = match self {
            Func => "func",
            NoFunc => "nofunc",
            Extern => "extern",
            NoExtern => "noextern",
            Any => "any",
            Eq => "eq",
            I31 => "i31",
            Struct => "struct",
            Array => "array",
            None => "none",
            Exn => "exn",
            NoExn => "noexn",
            Concrete(i) => return write!(f, "{i}"),
        };
        f.write_str(s)
    }
}

/// A function signature.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WasmFuncType {
    pub params: Box<[WasmValType]>,
    pub results: Box<[WasmValType]>,
}

impl fmt::Display for WasmFuncType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("(func")?;
        if !self.params.is_empty() {
            f.write_str(" (param")?;
            for p in self.params.iter() {
                write!(f, " {p}")?;
            }
            f.write_str(")")?;
        }
        if !self.results.is_empty() {
            f.write_str(" (result")?;
            for r in self.results.iter() {
                write!(f, " {r}")?;
            }
            f.write_str(")")?;
        }
        f.write_str(")")
    }
}

/// A storage type of a struct field or array element.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WasmStorageType {
    I8,
    I16,
    Val(WasmValType),
}

/// A struct or array field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct WasmFieldType {
    pub storage: WasmStorageType,
    pub mutable: bool,
}

/// The body of a type definition.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum WasmCompositeType {
    Func(WasmFuncType),
    Struct(Box<[WasmFieldType]>),
    Array(WasmFieldType),
}

/// One entry of the module's type section, with its place in the subtyping
/// hierarchy and its recursion group.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WasmSubType {
    pub is_final: bool,
    /// Module-level index of the declared supertype.
    pub supertype: Option<u32>,
    pub composite: WasmCompositeType,
    /// Module-level index of the first type of this type's recursion group,
    /// and the group's length.
    pub rec_group_start: u32,
    pub rec_group_len: u32,
}

/// Memory limits in pages (64 KiB each).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MemoryType {
    pub minimum: u64,
    pub maximum: Option<u64>,
    pub memory64: bool,
    pub shared: bool,
    pub page_size_log2: u8,
}

impl MemoryType {
    pub const WASM_PAGE_SIZE: u64 = 65536;

    /// The largest size in pages the index type can address.
    pub fn max_pages_for_index_type(&self) -> u64 {
        if self.memory64 { 1 << (64 - self.page_size_log2 as u32) } else { 1 << (32 - self.page_size_log2 as u32) }
    }
}

/// Table type: element type plus limits in elements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TableType {
    pub element: WasmRefType,
    pub minimum: u64,
    pub maximum: Option<u64>,
    pub table64: bool,
}

/// Global type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GlobalType {
    pub content: WasmValType,
    pub mutable: bool,
}

/// Exception tag type: the index of its function type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TagType {
    pub func_type: u32,
}

/// The type of anything a module can import or export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntityType {
    /// A function, by module type index.
    Function(u32),
    Table(TableType),
    Memory(MemoryType),
    Global(GlobalType),
    Tag(TagType),
}

/// An index into one of the module's index spaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntityIndex {
    Function(u32),
    Table(u32),
    Memory(u32),
    Global(u32),
    Tag(u32),
}

/// How a value is represented in registers, in the argument array of
/// host<->Wasm calls, and in globals: what trampolines and the runtime need
/// to know about a type, independent of which module declared it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ValRepr {
    I32,
    I64,
    F32,
    F64,
    V128,
    /// Pointer-sized `VMFuncRef` pointer.
    FuncRef,
    /// 32-bit reference.
    GcRef,
}

impl From<RefRepr> for ValRepr {
    fn from(r: RefRepr) -> Self {
        match r {
            RefRepr::FuncRef => ValRepr::FuncRef,
            RefRepr::GcRef => ValRepr::GcRef,
        }
    }
}

/// The representations of a signature's parameters and results: functions
/// with equal signature reprs share trampolines.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SignatureRepr {
    pub params: Box<[ValRepr]>,
    pub results: Box<[ValRepr]>,
}
