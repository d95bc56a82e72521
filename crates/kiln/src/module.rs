//! Compiled modules.
//!
//! `Module::new` validates the binary (or WAT text), compiles all its
//! functions, maps the code executable, and registers the module's types
//! with the engine. A module is immutable and cheap to clone; it can be
//! instantiated in any store of its engine.

use crate::artifact;
use crate::engine::Engine;
use crate::type_registry::engine_val_type;
use crate::types::{ExternType, FuncType, GlobalType, MemoryType, TableType, ValType};
use crate::vm::code_memory::{CodeMemory, ModuleCode};
use anyhow::{Context, Result};
use kiln_environ::{EntityType, ModuleInfo, WasmFuncType};
use std::sync::Arc;

#[derive(Clone)]
pub struct Module {
    inner: Arc<ModuleInner>,
}

struct ModuleInner {
    engine: Engine,
    info: Arc<ModuleInfo>,
    wasm: Box<[u8]>,
    code: Arc<ModuleCode>,
    /// Engine type id of each module type index.
    type_ids: Box<[u32]>,
    /// Copy-on-write images of the defined memories' initial contents,
    /// made at the first instantiation (see `vm/memory_image.rs`).
    memory_images: std::sync::OnceLock<Vec<Option<crate::vm::memory_image::MemoryImage>>>,
    /// The types of the globals the module defines, made at the first
    /// instantiation.
    defined_global_types: std::sync::OnceLock<Box<[GlobalType]>>,
}

impl Module {
    /// The types of the globals this module defines, in order.
    pub(crate) fn defined_global_types(&self) -> &[GlobalType] {
        self.inner.defined_global_types.get_or_init(|| {
            let info = &self.inner.info;
            let defined = &info.globals[info.num_imported_globals as usize..];
            defined
                .iter()
                .map(|g| match self.extern_type(EntityType::Global(*g)) {
                    ExternType::Global(ty) => ty,
                    _ => unreachable!("a global's type"),
                })
                .collect()
        })
    }

    /// The image of defined memory `defined_index`, if it has one.
    pub(crate) fn memory_image(&self, defined_index: usize) -> Option<&crate::vm::memory_image::MemoryImage> {
        let images = self.inner.memory_images.get_or_init(|| crate::vm::memory_image::memory_images(&self.inner.info, &self.inner.wasm));
        images.get(defined_index)?.as_ref()
    }
}

impl std::fmt::Debug for Module {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Module").field("name", &self.name()).finish_non_exhaustive()
    }
}

impl Module {
    /// Compiles a module from its binary or WAT text.
    pub fn new(engine: &Engine, bytes: impl AsRef<[u8]>) -> Result<Module> {
        let wasm = wat::parse_bytes(bytes.as_ref())?;
        Module::from_binary(engine, &wasm)
    }

    /// Compiles a module from its binary encoding.
    pub fn from_binary(engine: &Engine, wasm: &[u8]) -> Result<Module> {
        let compile = || {
            let info = kiln_environ::translate_module_with_features(wasm, engine.config().features)?;
            let compiled = engine.inner.compiler.compile_module(&info, wasm)?;
            Module::from_compiled(engine, wasm, info, compiled)
        };
        match &engine.config().cache {
            Some(cache) => cache.get_or_compile(engine, wasm, compile),
            None => compile(),
        }
    }

    /// The compiled module as bytes (a `.cwasm` artifact), which
    /// [`Module::deserialize`] loads into an engine with the same settings
    /// without compiling again.
    pub fn serialize(&self) -> Result<Vec<u8>> {
        let code = self.code();
        Ok(artifact::write(self.inner.engine.fingerprint(), self.wasm(), code.memory.bytes(), &code.funcs, &code.metadata))
    }

    /// Loads a module from [`Module::serialize`]'s bytes (or
    /// [`Engine::precompile_module`]'s). An artifact that is truncated,
    /// modified, or made by an engine with other settings (another
    /// collector, opt level, Kiln version, CPU features...) is refused with
    /// an error saying so.
    ///
    /// # Safety
    /// The artifact's machine code runs as is: its integrity is checked,
    /// its origin cannot be. Only load bytes that Kiln produced, from a
    /// source as trusted as the program itself.
    pub unsafe fn deserialize(engine: &Engine, bytes: impl AsRef<[u8]>) -> Result<Module> {
        let artifact = artifact::read(bytes.as_ref(), engine.fingerprint())?;
        // The bodies were validated when the artifact was compiled, and the
        // checksum vouches that they are those bytes.
        let info = kiln_environ::translate_prevalidated_module(artifact.wasm, engine.config().features)
            .context("the precompiled module's wasm does not validate")?;
        artifact::check_against_module(&artifact.compiled, &info)?;
        Module::from_compiled(engine, artifact.wasm, info, artifact.compiled)
    }

    /// [`Module::deserialize`] of a file's contents.
    ///
    /// # Safety
    /// As [`Module::deserialize`].
    pub unsafe fn deserialize_file(engine: &Engine, path: impl AsRef<std::path::Path>) -> Result<Module> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        // SAFETY: the caller vouches for the file.
        unsafe { Module::deserialize(engine, bytes) }.with_context(|| format!("loading precompiled module {}", path.display()))
    }

    /// Maps compiled code and registers the module's types.
    fn from_compiled(engine: &Engine, wasm: &[u8], info: ModuleInfo, compiled: kiln_cranelift::CompiledModule) -> Result<Module> {
        let info = Arc::new(info);
        let memory = CodeMemory::new(&compiled.code).context("mapping compiled code")?;
        let code = ModuleCode::register(ModuleCode { memory, funcs: compiled.funcs, metadata: compiled.metadata, info: info.clone() });
        crate::profiling::register(engine.config().profiler, &code);
        let type_ids = engine.inner.types.register_module(&info.types)?.into_boxed_slice();
        Ok(Module { inner: Arc::new(ModuleInner { engine: engine.clone(), info, wasm: wasm.into(), code, type_ids, memory_images: Default::default(), defined_global_types: Default::default() }) })
    }

    /// Validates a binary, with the features the engine enables, without
    /// compiling it.
    pub fn validate(engine: &Engine, wasm: &[u8]) -> Result<()> {
        kiln_environ::translate_module_with_features(wasm, engine.config().features)?;
        Ok(())
    }

    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    /// The module's name from the name section.
    pub fn name(&self) -> Option<&str> {
        self.inner.info.name.as_deref()
    }

    pub(crate) fn info(&self) -> &ModuleInfo {
        &self.inner.info
    }

    pub(crate) fn wasm(&self) -> &[u8] {
        &self.inner.wasm
    }

    pub(crate) fn code(&self) -> &ModuleCode {
        &self.inner.code
    }

    pub(crate) fn type_ids(&self) -> &[u32] {
        &self.inner.type_ids
    }

    /// A module-level function type with its references made engine-level.
    pub(crate) fn engine_func_type(&self, type_index: u32) -> WasmFuncType {
        let t = self.info().func_type(type_index);
        WasmFuncType {
            params: t.params.iter().map(|p| engine_val_type(*p, self.type_ids())).collect(),
            results: t.results.iter().map(|r| engine_val_type(*r, self.type_ids())).collect(),
        }
    }

    pub(crate) fn extern_type(&self, ty: EntityType) -> ExternType {
        let val = |t| ValType::from_wasm(engine_val_type(t, self.type_ids()));
        match ty {
            EntityType::Function(i) => ExternType::Func(FuncType::from_wasm(&self.engine_func_type(i))),
            EntityType::Global(g) => ExternType::Global(GlobalType::new(
                val(g.content),
                if g.mutable { crate::Mutability::Var } else { crate::Mutability::Const },
            )),
            EntityType::Table(t) => {
                let mut t = t;
                if let kiln_environ::WasmValType::Ref(r) = engine_val_type(kiln_environ::WasmValType::Ref(t.element), self.type_ids()) {
                    t.element = r;
                }
                ExternType::Table(TableType::from_wasm(t))
            }
            EntityType::Memory(m) => ExternType::Memory(MemoryType::from_wasm(m)),
            EntityType::Tag(t) => ExternType::Tag(crate::TagType::new(FuncType::from_wasm(&self.engine_func_type(t.func_type)))),
        }
    }

    pub fn imports(&self) -> impl ExactSizeIterator<Item = ImportType<'_>> + '_ {
        self.info().imports.iter().map(move |i| ImportType { module: &i.module, name: &i.name, ty: self.extern_type(i.ty) })
    }

    pub fn exports(&self) -> impl ExactSizeIterator<Item = ExportType<'_>> + '_ {
        self.info().exports.iter().map(move |e| ExportType { name: &e.name, ty: self.extern_type(self.info().entity_type(e.index)) })
    }

    pub fn get_export(&self, name: &str) -> Option<ExternType> {
        self.exports().find(|e| e.name == name).map(|e| e.ty)
    }
}

/// A module's import: where from, and what type.
#[derive(Debug, Clone)]
pub struct ImportType<'a> {
    module: &'a str,
    name: &'a str,
    ty: ExternType,
}

impl<'a> ImportType<'a> {
    pub fn module(&self) -> &'a str {
        self.module
    }
    pub fn name(&self) -> &'a str {
        self.name
    }
    pub fn ty(&self) -> ExternType {
        self.ty.clone()
    }
}

/// A module's export: its name and type.
#[derive(Debug, Clone)]
pub struct ExportType<'a> {
    name: &'a str,
    ty: ExternType,
}

impl<'a> ExportType<'a> {
    pub fn name(&self) -> &'a str {
        self.name
    }
    pub fn ty(&self) -> ExternType {
        self.ty.clone()
    }
}
