//! Types of GC objects the host can name and allocate: [`StructType`],
//! [`ArrayType`] and their [`FieldType`]s.
//!
//! A `StructType` or `ArrayType` is an engine type: registered in the
//! engine's type registry (as a recursion group of its own), so it is the
//! same type as any module's structurally equal single-type group, and
//! values of it pass to and from every module of the engine.

use crate::engine::Engine;
use crate::types::{Mutability, ValType, val_type_matches};
use anyhow::{Result, bail};
use kiln_environ::{WasmCompositeType, WasmFieldType, WasmStorageType, WasmSubType};

/// What a field stores: a packed integer or a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StorageType {
    I8,
    I16,
    ValType(ValType),
}

impl StorageType {
    /// The value type reads give and writes take (`i32` for packed types).
    pub fn unpack(&self) -> ValType {
        match self {
            StorageType::I8 | StorageType::I16 => ValType::I32,
            StorageType::ValType(v) => *v,
        }
    }

    fn to_wasm(self) -> WasmStorageType {
        match self {
            StorageType::I8 => WasmStorageType::I8,
            StorageType::I16 => WasmStorageType::I16,
            StorageType::ValType(v) => WasmStorageType::Val(v.to_wasm()),
        }
    }

    pub(crate) fn from_wasm(s: WasmStorageType) -> StorageType {
        match s {
            WasmStorageType::I8 => StorageType::I8,
            WasmStorageType::I16 => StorageType::I16,
            WasmStorageType::Val(v) => StorageType::ValType(ValType::from_wasm(v)),
        }
    }
}

/// A struct field or array element type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FieldType {
    mutability: Mutability,
    element_type: StorageType,
}

impl FieldType {
    pub fn new(mutability: Mutability, element_type: StorageType) -> FieldType {
        FieldType { mutability, element_type }
    }

    pub fn mutability(&self) -> Mutability {
        self.mutability
    }

    pub fn element_type(&self) -> &StorageType {
        &self.element_type
    }

    pub(crate) fn to_wasm(self) -> WasmFieldType {
        WasmFieldType { storage: self.element_type.to_wasm(), mutable: self.mutability == Mutability::Var }
    }

    pub(crate) fn from_wasm(f: WasmFieldType) -> FieldType {
        let mutability = if f.mutable { Mutability::Var } else { Mutability::Const };
        FieldType { mutability, element_type: StorageType::from_wasm(f.storage) }
    }

    /// Wasm's field subtyping: immutable fields are covariant, mutable
    /// ones invariant.
    fn matches(&self, engine: &Engine, sup: &FieldType) -> bool {
        let types = &engine.inner.types;
        if self.mutability != sup.mutability {
            return false;
        }
        match (self.element_type, sup.element_type) {
            (StorageType::ValType(a), StorageType::ValType(b)) if self.mutability == Mutability::Const => val_type_matches(types, &a, &b),
            (a, b) => a == b,
        }
    }
}

/// Whether a type may have subtypes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Finality {
    Final,
    NonFinal,
}

/// A struct type, registered with an engine.
#[derive(Debug, Clone)]
pub struct StructType {
    engine: Engine,
    id: u32,
}

impl StructType {
    /// A final struct type with no supertype.
    pub fn new(engine: &Engine, fields: impl IntoIterator<Item = FieldType>) -> Result<StructType> {
        StructType::with_finality_and_supertype(engine, Finality::Final, None, fields)
    }

    /// A struct type declared a subtype of `supertype` (whose fields must
    /// begin its own, as Wasm's subtyping requires).
    pub fn with_finality_and_supertype(engine: &Engine, finality: Finality, supertype: Option<&StructType>, fields: impl IntoIterator<Item = FieldType>) -> Result<StructType> {
        let fields: Vec<FieldType> = fields.into_iter().collect();
        if let Some(sup) = supertype {
            check_supertype(engine, sup.engine(), sup.id)?;
            let sup_fields: Vec<FieldType> = sup.fields().collect();
            let prefix_matches = sup_fields.len() <= fields.len() && fields.iter().zip(&sup_fields).all(|(f, s)| f.matches(engine, s));
            if !prefix_matches {
                bail!("struct type does not match its supertype: its fields must start with subtypes of the supertype's");
            }
        }
        let composite = WasmCompositeType::Struct(fields.iter().map(|f| f.to_wasm()).collect());
        let id = register(engine, finality, supertype.map(|s| s.id), composite)?;
        Ok(StructType { engine: engine.clone(), id })
    }

    /// The struct type with engine id `id` (which must be one).
    pub(crate) fn from_id(engine: &Engine, id: u32) -> StructType {
        StructType { engine: engine.clone(), id }
    }

    pub(crate) fn id(&self) -> u32 {
        self.id
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    pub fn fields(&self) -> impl ExactSizeIterator<Item = FieldType> + '_ {
        let WasmCompositeType::Struct(fields) = self.engine.inner.types.get(self.id).composite.clone() else { unreachable!("a struct type's id") };
        fields.into_vec().into_iter().map(FieldType::from_wasm)
    }

    pub fn field(&self, index: usize) -> Option<FieldType> {
        self.fields().nth(index)
    }

    pub fn supertype(&self) -> Option<StructType> {
        self.engine.inner.types.get(self.id).supertype.map(|id| StructType::from_id(&self.engine, id))
    }

    pub fn finality(&self) -> Finality {
        finality_of(&self.engine, self.id)
    }

    /// Is this type a subtype of `other` (or the same type)?
    pub fn matches(&self, other: &StructType) -> bool {
        Engine::same(&self.engine, &other.engine) && self.engine.inner.types.is_subtype(self.id, other.id)
    }
}

/// An array type, registered with an engine.
#[derive(Debug, Clone)]
pub struct ArrayType {
    engine: Engine,
    id: u32,
}

impl ArrayType {
    /// A final array type with no supertype.
    pub fn new(engine: &Engine, field_type: FieldType) -> ArrayType {
        let id = register(engine, Finality::Final, None, WasmCompositeType::Array(field_type.to_wasm())).expect("a type without a supertype needs no display");
        ArrayType { engine: engine.clone(), id }
    }

    /// An array type declared a subtype of `supertype`.
    pub fn with_finality_and_supertype(engine: &Engine, finality: Finality, supertype: Option<&ArrayType>, field_type: FieldType) -> Result<ArrayType> {
        if let Some(sup) = supertype {
            check_supertype(engine, sup.engine(), sup.id)?;
            if !field_type.matches(engine, &sup.field_type()) {
                bail!("array type does not match its supertype: its element type must be a subtype of the supertype's");
            }
        }
        let id = register(engine, finality, supertype.map(|s| s.id), WasmCompositeType::Array(field_type.to_wasm()))?;
        Ok(ArrayType { engine: engine.clone(), id })
    }

    pub(crate) fn from_id(engine: &Engine, id: u32) -> ArrayType {
        ArrayType { engine: engine.clone(), id }
    }

    pub(crate) fn id(&self) -> u32 {
        self.id
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    pub fn field_type(&self) -> FieldType {
        let WasmCompositeType::Array(f) = self.engine.inner.types.get(self.id).composite.clone() else { unreachable!("an array type's id") };
        FieldType::from_wasm(f)
    }

    pub fn element_type(&self) -> StorageType {
        *self.field_type().element_type()
    }

    pub fn mutability(&self) -> Mutability {
        self.field_type().mutability()
    }

    pub fn supertype(&self) -> Option<ArrayType> {
        self.engine.inner.types.get(self.id).supertype.map(|id| ArrayType::from_id(&self.engine, id))
    }

    pub fn finality(&self) -> Finality {
        finality_of(&self.engine, self.id)
    }

    pub fn matches(&self, other: &ArrayType) -> bool {
        Engine::same(&self.engine, &other.engine) && self.engine.inner.types.is_subtype(self.id, other.id)
    }
}

fn check_supertype(engine: &Engine, sup_engine: &Engine, sup: u32) -> Result<()> {
    if !Engine::same(engine, sup_engine) {
        bail!("the supertype belongs to another engine");
    }
    if engine.inner.types.get(sup).is_final {
        bail!("the supertype is final: it cannot have subtypes");
    }
    Ok(())
}

fn finality_of(engine: &Engine, id: u32) -> Finality {
    if engine.inner.types.get(id).is_final { Finality::Final } else { Finality::NonFinal }
}

fn register(engine: &Engine, finality: Finality, supertype: Option<u32>, composite: WasmCompositeType) -> Result<u32> {
    engine.inner.types.register_single(WasmSubType { is_final: finality == Finality::Final, supertype, composite, rec_group_start: 0, rec_group_len: 0 })
}
