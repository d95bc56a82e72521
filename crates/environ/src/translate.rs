//! Decoding and validating a module binary into [`ModuleInfo`].
//!
//! The whole module, function bodies included, is validated here before
//! anything is compiled, so the compiler may assume every body is valid.
//! Name-section errors are ignored, as the spec requires of custom sections.

use crate::*;
use wasmparser::{Parser, Payload, Validator, WasmFeatures};

/// The features Kiln's validator accepts: Wasm 3.0. Threads are not part of
/// 3.0 and shared memories are refused at validation with wasmparser's
/// message naming the feature.
pub fn wasm_features() -> WasmFeatures {
    WasmFeatures::WASM3.difference(WasmFeatures::THREADS | WasmFeatures::SHARED_EVERYTHING_THREADS)
}

/// Every feature Kiln implements: the default ones ([`wasm_features`]) and
/// those an embedder may switch on (`kiln::Config::wasm_wide_arithmetic`,
/// `wasm_custom_page_sizes`, `wasm_legacy_exceptions`, `wasm_threads`).
pub fn implemented_features() -> WasmFeatures {
    wasm_features() | WasmFeatures::WIDE_ARITHMETIC | WasmFeatures::CUSTOM_PAGE_SIZES | WasmFeatures::LEGACY_EXCEPTIONS | WasmFeatures::THREADS
}

/// Decodes and validates `wasm` with every feature Kiln implements
/// ([`wasm_features`]), returning the module IR.
pub fn translate_module(wasm: &[u8]) -> Result<ModuleInfo, WasmError> {
    translate_module_with_features(wasm, wasm_features())
}

/// Decodes and validates `wasm` accepting only `features`, returning the
/// module IR. `features` must be a subset of [`wasm_features`]: a module
/// using anything else would pass validation and then reach a compiler
/// that does not implement it.
pub fn translate_module_with_features(wasm: &[u8], features: WasmFeatures) -> Result<ModuleInfo, WasmError> {
    translate(wasm, features, true)
}

/// [`translate_module_with_features`] for a module whose function bodies
/// were validated before, when it was compiled into an artifact whose
/// integrity has been checked since: the module's structure (types,
/// imports, exports, segments...) is validated again, the bodies are not.
pub fn translate_prevalidated_module(wasm: &[u8], features: WasmFeatures) -> Result<ModuleInfo, WasmError> {
    translate(wasm, features, false)
}

fn translate(wasm: &[u8], features: WasmFeatures, validate_bodies: bool) -> Result<ModuleInfo, WasmError> {
    debug_assert!(implemented_features().contains(features), "features Kiln does not implement: {:?}", features.difference(implemented_features()));
    let mut validator = Validator::new_with_features(features);
    let mut t = ModuleTranslator { info: ModuleInfo::default() };
    for payload in Parser::new(0).parse_all(wasm) {
        let payload = payload?;
        if let wasmparser::ValidPayload::Func(func, body) = validator.payload(&payload)?
            && validate_bodies
        {
            let mut v = func.into_validator(Default::default());
            v.validate(&body)?;
        }
        t.payload(payload)?;
    }
    Ok(t.info)
}

struct ModuleTranslator {
    info: ModuleInfo,
}

impl ModuleTranslator {
    fn payload(&mut self, payload: Payload<'_>) -> Result<(), WasmError> {
        match payload {
            Payload::TypeSection(s) => {
                for group in s {
                    self.rec_group(group?)?;
                }
            }
            Payload::ImportSection(s) => {
                for import in s.into_imports() {
                    self.import(import?)?;
                }
            }
            Payload::FunctionSection(s) => {
                for ty in s {
                    self.info.funcs.push(ty?);
                }
            }
            Payload::TableSection(s) => {
                for table in s {
                    let table = table?;
                    let init = match table.init {
                        wasmparser::TableInit::RefNull => None,
                        wasmparser::TableInit::Expr(e) => Some(self.const_expr(&e)?),
                    };
                    let ty = self.table_type(&table.ty);
                    self.info.tables.push(TablePlan { ty, init });
                }
            }
            Payload::MemorySection(s) => {
                for m in s {
                    let m = self.memory_type(&m?);
                    self.info.memories.push(m);
                }
            }
            Payload::TagSection(s) => {
                for tag in s {
                    self.info.tags.push(TagType { func_type: tag?.func_type_idx });
                }
            }
            Payload::GlobalSection(s) => {
                for g in s {
                    let g = g?;
                    let ty = self.global_type(&g.ty);
                    let init = self.const_expr(&g.init_expr)?;
                    self.info.globals.push(ty);
                    self.info.global_inits.push(init);
                }
            }
            Payload::ExportSection(s) => {
                for e in s {
                    let e = e?;
                    use wasmparser::ExternalKind as K;
                    let index = match e.kind {
                        K::Func | K::FuncExact => EntityIndex::Function(e.index),
                        K::Table => EntityIndex::Table(e.index),
                        K::Memory => EntityIndex::Memory(e.index),
                        K::Global => EntityIndex::Global(e.index),
                        K::Tag => EntityIndex::Tag(e.index),
                    };
                    self.info.exports.push(Export { name: e.name.to_string(), index });
                }
            }
            Payload::StartSection { func, .. } => self.info.start = Some(func),
            Payload::ElementSection(s) => {
                for e in s {
                    self.element(e?)?;
                }
            }
            Payload::DataSection(s) => {
                for d in s {
                    let d = d?;
                    let mode = match d.kind {
                        wasmparser::DataKind::Passive => SegmentMode::Passive,
                        wasmparser::DataKind::Active { memory_index, offset_expr } => {
                            SegmentMode::Active { index: memory_index, offset: self.const_expr(&offset_expr)? }
                        }
                    };
                    let end = d.range.end as usize;
                    let start = end - d.data.len();
                    self.info.data.push(DataSegment { mode, bytes: start..end });
                }
            }
            Payload::CodeSectionEntry(body) => {
                let range = body.range();
                self.info.bodies.push(FunctionBodyRange { range: range.start as usize..range.end as usize });
            }
            Payload::CustomSection(c) => {
                if let wasmparser::KnownCustom::Name(names) = c.as_known() {
                    // Malformed name sections are ignored, per the spec's
                    // treatment of custom sections.
                    let _ = self.names(names);
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn rec_group(&mut self, group: wasmparser::RecGroup) -> Result<(), WasmError> {
        let start = self.info.types.len() as u32;
        let len = group.types().len() as u32;
        for sub in group.into_types() {
            let supertype = sub.supertype_idxs.first().map(|i| self.type_index(*i, start));
            let composite = match &sub.composite_type.inner {
                wasmparser::CompositeInnerType::Func(f) => WasmCompositeType::Func(WasmFuncType {
                    params: f.params().iter().map(|t| self.val_type(*t, start)).collect(),
                    results: f.results().iter().map(|t| self.val_type(*t, start)).collect(),
                }),
                wasmparser::CompositeInnerType::Struct(s) => {
                    WasmCompositeType::Struct(s.fields.iter().map(|f| self.field_type(f, start)).collect())
                }
                wasmparser::CompositeInnerType::Array(a) => WasmCompositeType::Array(self.field_type(&a.0, start)),
                wasmparser::CompositeInnerType::Cont(_) => {
                    return Err(WasmError::Unsupported { what: "continuation types (stack switching)".into(), offset: 0 });
                }
            };
            self.info.types.push(WasmSubType {
                is_final: sub.is_final,
                supertype,
                composite,
                rec_group_start: start,
                rec_group_len: len,
            });
        }
        Ok(())
    }

    fn import(&mut self, import: wasmparser::Import<'_>) -> Result<(), WasmError> {
        use wasmparser::TypeRef;
        let ty = match import.ty {
            TypeRef::Func(i) | TypeRef::FuncExact(i) => {
                self.info.funcs.push(i);
                self.info.num_imported_funcs += 1;
                EntityType::Function(i)
            }
            TypeRef::Table(t) => {
                let ty = self.table_type(&t);
                self.info.tables.push(TablePlan { ty, init: None });
                self.info.num_imported_tables += 1;
                EntityType::Table(ty)
            }
            TypeRef::Memory(m) => {
                let ty = self.memory_type(&m);
                self.info.memories.push(ty);
                self.info.num_imported_memories += 1;
                EntityType::Memory(ty)
            }
            TypeRef::Global(g) => {
                let ty = self.global_type(&g);
                self.info.globals.push(ty);
                self.info.num_imported_globals += 1;
                EntityType::Global(ty)
            }
            TypeRef::Tag(t) => {
                let ty = TagType { func_type: t.func_type_idx };
                self.info.tags.push(ty);
                self.info.num_imported_tags += 1;
                EntityType::Tag(ty)
            }
        };
        self.info.imports.push(Import { module: import.module.to_string(), name: import.name.to_string(), ty });
        Ok(())
    }

    fn element(&mut self, e: wasmparser::Element<'_>) -> Result<(), WasmError> {
        let mode = match e.kind {
            wasmparser::ElementKind::Passive => SegmentMode::Passive,
            wasmparser::ElementKind::Declared => SegmentMode::Declared,
            wasmparser::ElementKind::Active { table_index, offset_expr } => {
                SegmentMode::Active { index: table_index.unwrap_or(0), offset: self.const_expr(&offset_expr)? }
            }
        };
        let (ty, items) = match e.items {
            wasmparser::ElementItems::Functions(funcs) => {
                let funcs = funcs.into_iter().collect::<Result<Vec<_>, _>>()?;
                (WasmRefType { nullable: false, heap: WasmHeapType::Func }, ElemItems::Functions(funcs.into()))
            }
            wasmparser::ElementItems::Expressions(ty, exprs) => {
                let mut items = Vec::new();
                for expr in exprs {
                    items.push(self.const_expr(&expr?)?);
                }
                (self.ref_type(ty, 0), ElemItems::Exprs(items.into()))
            }
        };
        self.info.elems.push(ElemSegment { mode, ty, items });
        Ok(())
    }

    fn names(&mut self, names: wasmparser::NameSectionReader<'_>) -> Result<(), WasmError> {
        for name in names {
            match name? {
                wasmparser::Name::Module { name, .. } => self.info.name = Some(name.to_string()),
                wasmparser::Name::Function(map) => {
                    for naming in map {
                        let naming = naming?;
                        self.info.func_names.insert(naming.index, naming.name.to_string());
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn const_expr(&self, e: &wasmparser::ConstExpr<'_>) -> Result<ConstExpr, WasmError> {
        ConstExpr::from_wasmparser(e, |h| self.heap_type(h, 0))
    }

    fn type_index(&self, index: wasmparser::PackedIndex, rec_group_start: u32) -> u32 {
        match index.unpack() {
            wasmparser::UnpackedIndex::Module(i) => i,
            wasmparser::UnpackedIndex::RecGroup(i) => rec_group_start + i,
            // Only the validator produces canonical ids; the readers this
            // translator uses never do.
            wasmparser::UnpackedIndex::Id(_) => unreachable!("reader produced a canonical type id"),
        }
    }

    fn heap_type(&self, h: wasmparser::HeapType, rec_group_start: u32) -> WasmHeapType {
        use wasmparser::AbstractHeapType as A;
        match h {
            wasmparser::HeapType::Abstract { ty, .. } => match ty {
                A::Func => WasmHeapType::Func,
                A::Extern => WasmHeapType::Extern,
                A::Any => WasmHeapType::Any,
                A::None => WasmHeapType::None,
                A::NoExtern => WasmHeapType::NoExtern,
                A::NoFunc => WasmHeapType::NoFunc,
                A::Eq => WasmHeapType::Eq,
                A::Struct => WasmHeapType::Struct,
                A::Array => WasmHeapType::Array,
                A::I31 => WasmHeapType::I31,
                A::Exn => WasmHeapType::Exn,
                A::NoExn => WasmHeapType::NoExn,
                // Continuations are rejected by the validator's feature set.
                A::Cont | A::NoCont => unreachable!("stack-switching types are not enabled"),
            },
            wasmparser::HeapType::Concrete(i) | wasmparser::HeapType::Exact(i) => {
                WasmHeapType::Concrete(match i {
                    wasmparser::UnpackedIndex::Module(i) => i,
                    wasmparser::UnpackedIndex::RecGroup(i) => rec_group_start + i,
                    wasmparser::UnpackedIndex::Id(_) => unreachable!("reader produced a canonical type id"),
                })
            }
        }
    }

    fn ref_type(&self, r: wasmparser::RefType, rec_group_start: u32) -> WasmRefType {
        WasmRefType { nullable: r.is_nullable(), heap: self.heap_type(r.heap_type(), rec_group_start) }
    }

    fn val_type(&self, t: wasmparser::ValType, rec_group_start: u32) -> WasmValType {
        match t {
            wasmparser::ValType::I32 => WasmValType::I32,
            wasmparser::ValType::I64 => WasmValType::I64,
            wasmparser::ValType::F32 => WasmValType::F32,
            wasmparser::ValType::F64 => WasmValType::F64,
            wasmparser::ValType::V128 => WasmValType::V128,
            wasmparser::ValType::Ref(r) => WasmValType::Ref(self.ref_type(r, rec_group_start)),
        }
    }

    fn field_type(&self, f: &wasmparser::FieldType, rec_group_start: u32) -> WasmFieldType {
        let storage = match f.element_type {
            wasmparser::StorageType::I8 => WasmStorageType::I8,
            wasmparser::StorageType::I16 => WasmStorageType::I16,
            wasmparser::StorageType::Val(v) => WasmStorageType::Val(self.val_type(v, rec_group_start)),
        };
        WasmFieldType { storage, mutable: f.mutable }
    }

    fn table_type(&self, t: &wasmparser::TableType) -> TableType {
        TableType { element: self.ref_type(t.element_type, 0), minimum: t.initial, maximum: t.maximum, table64: t.table64 }
    }

    fn memory_type(&self, m: &wasmparser::MemoryType) -> MemoryType {
        MemoryType {
            minimum: m.initial,
            maximum: m.maximum,
            memory64: m.memory64,
            shared: m.shared,
            page_size_log2: m.page_size_log2() as u8,
        }
    }

    fn global_type(&self, g: &wasmparser::GlobalType) -> GlobalType {
        GlobalType { content: self.val_type(g.content_type, 0), mutable: g.mutable }
    }
}
