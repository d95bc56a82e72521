//! Public descriptions of Wasm types.
//!
//! Concrete heap types carry engine-wide type ids (see `type_registry`), so
//! a type means the same thing in every module of an engine.

use kiln_environ::{WasmFuncType, WasmHeapType, WasmRefType, WasmValType};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ValType {
    I32,
    I64,
    F32,
    F64,
    V128,
    Ref(RefType),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RefType {
    nullable: bool,
    heap: HeapType,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HeapType {
    Func,
    Extern,
    Any,
    Eq,
    I31,
    Struct,
    Array,
    None,
    NoFunc,
    NoExtern,
    Exn,
    NoExn,
    /// A type defined by a module, by engine-wide type id.
    Concrete(u32),
}

impl ValType {
    pub const FUNCREF: ValType = ValType::Ref(RefType { nullable: true, heap: HeapType::Func });
    pub const EXTERNREF: ValType = ValType::Ref(RefType { nullable: true, heap: HeapType::Extern });

    pub(crate) fn from_wasm(t: WasmValType) -> ValType {
        match t {
            WasmValType::I32 => ValType::I32,
            WasmValType::I64 => ValType::I64,
            WasmValType::F32 => ValType::F32,
            WasmValType::F64 => ValType::F64,
            WasmValType::V128 => ValType::V128,
            WasmValType::Ref(r) => ValType::Ref(RefType::from_wasm(r)),
        }
    }

    pub(crate) fn to_wasm(self) -> WasmValType {
        match self {
            ValType::I32 => WasmValType::I32,
            ValType::I64 => WasmValType::I64,
            ValType::F32 => WasmValType::F32,
            ValType::F64 => WasmValType::F64,
            ValType::V128 => WasmValType::V128,
            ValType::Ref(r) => WasmValType::Ref(r.to_wasm()),
        }
    }

    pub fn is_ref(&self) -> bool {
        matches!(self, ValType::Ref(_))
    }
}

impl RefType {
    pub fn new(nullable: bool, heap: HeapType) -> RefType {
        RefType { nullable, heap }
    }

    pub fn nullable(&self) -> bool {
        self.nullable
    }

    pub fn heap_type(&self) -> HeapType {
        self.heap
    }

    pub(crate) fn from_wasm(r: WasmRefType) -> RefType {
        use WasmHeapType as W;
        let heap = match r.heap {
            W::Func => HeapType::Func,
            W::NoFunc => HeapType::NoFunc,
            W::Extern => HeapType::Extern,
            W::NoExtern => HeapType::NoExtern,
            W::Any => HeapType::Any,
            W::Eq => HeapType::Eq,
            W::I31 => HeapType::I31,
            W::Struct => HeapType::Struct,
            W::Array => HeapType::Array,
            W::None => HeapType::None,
            W::Exn => HeapType::Exn,
            W::NoExn => HeapType::NoExn,
            W::Concrete(i) => HeapType::Concrete(i),
        };
        RefType { nullable: r.nullable, heap }
    }

    pub(crate) fn to_wasm(self) -> WasmRefType {
        use WasmHeapType as W;
        let heap = match self.heap {
            HeapType::Func => W::Func,
            HeapType::NoFunc => W::NoFunc,
            HeapType::Extern => W::Extern,
            HeapType::NoExtern => W::NoExtern,
            HeapType::Any => W::Any,
            HeapType::Eq => W::Eq,
            HeapType::I31 => W::I31,
            HeapType::Struct => W::Struct,
            HeapType::Array => W::Array,
            HeapType::None => W::None,
            HeapType::Exn => W::Exn,
            HeapType::NoExn => W::NoExn,
            HeapType::Concrete(i) => W::Concrete(i),
        };
        WasmRefType { nullable: self.nullable, heap }
    }
}

impl fmt::Display for ValType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_wasm())
    }
}

/// A function signature.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FuncType {
    params: Box<[ValType]>,
    results: Box<[ValType]>,
}

impl FuncType {
    pub fn new(params: impl IntoIterator<Item = ValType>, results: impl IntoIterator<Item = ValType>) -> FuncType {
        FuncType { params: params.into_iter().collect(), results: results.into_iter().collect() }
    }

    pub fn params(&self) -> &[ValType] {
        &self.params
    }

    pub fn results(&self) -> &[ValType] {
        &self.results
    }

    pub(crate) fn from_wasm(t: &WasmFuncType) -> FuncType {
        FuncType::new(t.params.iter().map(|p| ValType::from_wasm(*p)), t.results.iter().map(|r| ValType::from_wasm(*r)))
    }

    pub(crate) fn to_wasm(&self) -> WasmFuncType {
        WasmFuncType { params: self.params.iter().map(|p| p.to_wasm()).collect(), results: self.results.iter().map(|r| r.to_wasm()).collect() }
    }
}

impl fmt::Display for FuncType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_wasm())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mutability {
    Const,
    Var,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GlobalType {
    content: ValType,
    mutability: Mutability,
}

impl GlobalType {
    pub fn new(content: ValType, mutability: Mutability) -> GlobalType {
        GlobalType { content, mutability }
    }

    pub fn content(&self) -> &ValType {
        &self.content
    }

    pub fn mutability(&self) -> Mutability {
        self.mutability
    }

    pub(crate) fn is_mutable(&self) -> bool {
        self.mutability == Mutability::Var
    }
}

impl fmt::Display for GlobalType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.mutability {
            Mutability::Const => write!(f, "(global {})", self.content),
            Mutability::Var => write!(f, "(global (mut {}))", self.content),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TableType {
    element: RefType,
    minimum: u64,
    maximum: Option<u64>,
    table64: bool,
}

impl TableType {
    pub fn new(element: RefType, minimum: u64, maximum: Option<u64>) -> TableType {
        TableType { element, minimum, maximum, table64: false }
    }

    pub fn new64(element: RefType, minimum: u64, maximum: Option<u64>) -> TableType {
        TableType { element, minimum, maximum, table64: true }
    }

    pub fn element(&self) -> &RefType {
        &self.element
    }

    pub fn minimum(&self) -> u64 {
        self.minimum
    }

    pub fn maximum(&self) -> Option<u64> {
        self.maximum
    }

    pub fn is_64(&self) -> bool {
        self.table64
    }

    pub(crate) fn from_wasm(t: kiln_environ::TableType) -> TableType {
        TableType { element: RefType::from_wasm(t.element), minimum: t.minimum, maximum: t.maximum, table64: t.table64 }
    }

    pub(crate) fn to_wasm(self) -> kiln_environ::TableType {
        kiln_environ::TableType { element: self.element.to_wasm(), minimum: self.minimum, maximum: self.maximum, table64: self.table64 }
    }
}

impl fmt::Display for TableType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let idx = if self.table64 { "i64 " } else { "" };
        match self.maximum {
            Some(max) => write!(f, "(table {idx}{} {max} {})", self.minimum, self.element.to_wasm()),
            None => write!(f, "(table {idx}{} {})", self.minimum, self.element.to_wasm()),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MemoryType {
    inner: kiln_environ::MemoryType,
}

impl MemoryType {
    pub fn new(minimum: u64, maximum: Option<u64>) -> MemoryType {
        MemoryType { inner: kiln_environ::MemoryType { minimum, maximum, memory64: false, shared: false, page_size_log2: 16 } }
    }

    pub fn new64(minimum: u64, maximum: Option<u64>) -> MemoryType {
        MemoryType { inner: kiln_environ::MemoryType { minimum, maximum, memory64: true, shared: false, page_size_log2: 16 } }
    }

    /// A shared 32-bit memory of `minimum` to `maximum` pages (the
    /// threads proposal; see [`crate::SharedMemory`]).
    pub fn shared(minimum: u32, maximum: u32) -> MemoryType {
        let (minimum, maximum) = (u64::from(minimum), Some(u64::from(maximum)));
        MemoryType { inner: kiln_environ::MemoryType { minimum, maximum, memory64: false, shared: true, page_size_log2: 16 } }
    }

    pub fn is_shared(&self) -> bool {
        self.inner.shared
    }

    pub fn minimum(&self) -> u64 {
        self.inner.minimum
    }

    pub fn maximum(&self) -> Option<u64> {
        self.inner.maximum
    }

    pub fn is_64(&self) -> bool {
        self.inner.memory64
    }

    pub(crate) fn from_wasm(inner: kiln_environ::MemoryType) -> MemoryType {
        MemoryType { inner }
    }

    pub(crate) fn to_wasm(self) -> kiln_environ::MemoryType {
        self.inner
    }
}

impl fmt::Display for MemoryType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let idx = if self.inner.memory64 { "i64 " } else { "" };
        let shared = if self.inner.shared { " shared" } else { "" };
        match self.inner.maximum {
            Some(max) => write!(f, "(memory {idx}{} {max}{shared})", self.inner.minimum),
            None => write!(f, "(memory {idx}{}{shared})", self.inner.minimum),
        }
    }
}

/// The type of an import or export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExternType {
    Func(FuncType),
    Global(GlobalType),
    Table(TableType),
    Memory(MemoryType),
    Tag(TagType),
}

impl fmt::Display for ExternType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExternType::Func(t) => write!(f, "{t}"),
            ExternType::Global(t) => write!(f, "{t}"),
            ExternType::Table(t) => write!(f, "{t}"),
            ExternType::Memory(t) => write!(f, "{t}"),
            ExternType::Tag(t) => write!(f, "(tag {})", t.ty()),
        }
    }
}

impl ExternType {
    pub fn func(&self) -> Option<&FuncType> {
        match self {
            ExternType::Func(t) => Some(t),
            _ => None,
        }
    }
}

/// Is `a` a subtype of `b`? Concrete types by engine id, with their
/// declared supertypes.
pub(crate) fn val_type_matches(types: &crate::type_registry::TypeRegistry, a: &ValType, b: &ValType) -> bool {
    match (a, b) {
        (ValType::Ref(a), ValType::Ref(b)) => (!a.nullable() || b.nullable()) && heap_type_matches(types, a.heap_type(), b.heap_type()),
        _ => a == b,
    }
}

/// Is heap type `a` a subtype of `b`?
pub(crate) fn heap_type_matches(types: &crate::type_registry::TypeRegistry, a: HeapType, b: HeapType) -> bool {
    use HeapType as H;
    use kiln_environ::WasmCompositeType as C;
    if a == b {
        return true;
    }
    // The abstract type directly above a concrete one.
    let abstract_of = |id: u32| match types.try_get(id).map(|t| t.composite.clone()) {
        Some(C::Struct(_)) => H::Struct,
        Some(C::Array(_)) => H::Array,
        Some(C::Func(_)) | None => H::Func,
    };
    match (a, b) {
        (H::Concrete(x), H::Concrete(y)) => types.is_subtype(x, y),
        (H::Concrete(x), _) => heap_type_matches(types, abstract_of(x), b),
        (H::I31 | H::Struct | H::Array, H::Eq | H::Any) | (H::Eq, H::Any) => true,
        (H::None, H::Concrete(y)) => abstract_of(y) != H::Func,
        (H::None, H::Any | H::Eq | H::I31 | H::Struct | H::Array) => true,
        (H::NoFunc, H::Func) => true,
        (H::NoFunc, H::Concrete(y)) => abstract_of(y) == H::Func,
        (H::NoExtern, H::Extern) | (H::NoExn, H::Exn) => true,
        _ => false,
    }
}

/// The type of an exception tag: the function type whose parameters are
/// its payload (and which has no results).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TagType {
    ty: FuncType,
}

impl TagType {
    pub fn new(ty: FuncType) -> TagType {
        TagType { ty }
    }

    pub fn ty(&self) -> &FuncType {
        &self.ty
    }
}
