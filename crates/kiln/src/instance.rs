//! Instantiation and instances.
//!
//! Instantiation follows the spec's order: imports are type-checked, then
//! globals, tables and memories are created, active element and data
//! segments are applied in order (a failing one traps, leaving earlier
//! writes to imported tables and memories in place), and finally the start
//! function runs.

use crate::const_eval;
use crate::externals::{Extern, Global, Memory, Table, Tag, table_repr};
use crate::func::{Func, TypedFunc, WasmParams, WasmResults};
use crate::module::Module;
use crate::engine::Engine;
use crate::shared_memory::SharedMemory;
use crate::store::{AsContextMut, GlobalData, StoreMemory, StoreOpaque};
use crate::types::{ExternType, GlobalType, TableType, ValType};
use crate::vm::instance::{Instance as VmInstance, InstanceId};
use crate::vm::memory::LinearMemory;
use crate::gc::RefBarriers;
use crate::vm::table::{Table as VmTable, TableError};
use crate::{Mutability, Trap};
use anyhow::{Context, Result, anyhow, bail};
use kiln_environ::{ElemItems, EntityIndex, EntityType, SegmentMode};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Instance {
    store: u64,
    index: InstanceId,
}

impl Instance {
    /// Instantiates `module` with `imports`, given in the module's import
    /// order.
    pub fn new<T: 'static>(mut store: impl AsContextMut<Data = T>, module: &Module, imports: &[Extern]) -> Result<Instance> {
        let mut cx = store.as_context_mut();
        let store: &mut StoreOpaque = &mut cx;
        if !crate::Engine::same(store.engine(), module.engine()) {
            bail!("cross-engine instantiation is not supported");
        }
        let index = instantiate(store, module, imports);
        // Constant expressions may have collected garbage.
        store.resume_host_data_drop_panic();
        let index = index?;
        let instance = Instance { store: store.id(), index };
        if let Some(start) = module.info().start {
            let func_ref = store.instances[index].func_ref(start);
            let func = Func::for_instance_func(store, func_ref);
            func.call(&mut cx, &[], &mut [])?;
        }
        Ok(instance)
    }

    pub(crate) fn from_id(store: &StoreOpaque, index: InstanceId) -> Instance {
        Instance { store: store.id(), index }
    }

    pub fn get_export(&self, mut store: impl AsContextMut, name: &str) -> Option<Extern> {
        let mut cx = store.as_context_mut();
        let store: &mut StoreOpaque = &mut cx;
        store.check(self.store);
        let module = store.instances[self.index].module.clone();
        let export = module.info().exports.iter().find(|e| e.name == name)?;
        Some(export_extern(store, self.index, export.index))
    }

    /// Every export, in the module's order.
    pub fn exports(&self, mut store: impl AsContextMut) -> Vec<(String, Extern)> {
        let mut cx = store.as_context_mut();
        let store: &mut StoreOpaque = &mut cx;
        store.check(self.store);
        let module = store.instances[self.index].module.clone();
        module.info().exports.iter().map(|e| (e.name.clone(), export_extern(store, self.index, e.index))).collect()
    }

    pub fn get_func(&self, store: impl AsContextMut, name: &str) -> Option<Func> {
        self.get_export(store, name)?.into_func()
    }

    pub fn get_memory(&self, store: impl AsContextMut, name: &str) -> Option<Memory> {
        self.get_export(store, name)?.into_memory()
    }

    pub fn get_table(&self, store: impl AsContextMut, name: &str) -> Option<Table> {
        self.get_export(store, name)?.into_table()
    }

    pub fn get_global(&self, store: impl AsContextMut, name: &str) -> Option<Global> {
        self.get_export(store, name)?.into_global()
    }

    pub fn get_typed_func<P: WasmParams, R: WasmResults>(&self, mut store: impl AsContextMut, name: &str) -> Result<TypedFunc<P, R>> {
        let f = self.get_func(&mut store, name).ok_or_else(|| anyhow!("failed to find function export `{name}`"))?;
        f.typed::<P, R>(&store).with_context(|| format!("failed to convert function `{name}` to the given type"))
    }
}

fn export_extern(store: &mut StoreOpaque, instance: InstanceId, index: EntityIndex) -> Extern {
    let inst = &store.instances[instance];
    match index {
        EntityIndex::Function(i) => {
            let func_ref = inst.func_ref(i);
            Extern::Func(Func::for_instance_func(store, func_ref))
        }
        EntityIndex::Memory(i) => match &store.memories[inst.memories[i as usize]] {
            StoreMemory::Shared(m) => Extern::SharedMemory(m.clone()),
            StoreMemory::Own(_) => Extern::Memory(Memory { store: store.id(), index: inst.memories[i as usize] }),
        },
        EntityIndex::Table(i) => Extern::Table(Table { store: store.id(), index: inst.tables[i as usize] }),
        EntityIndex::Global(i) => Extern::Global(Global { store: store.id(), index: inst.globals[i as usize] }),
        EntityIndex::Tag(i) => Extern::Tag(Tag { store: store.id(), index: inst.tags[i as usize] }),
    }
}

fn instantiate(store: &mut StoreOpaque, module: &Module, imports: &[Extern]) -> Result<InstanceId> {
    let info = module.info();
    if imports.len() != info.imports.len() {
        bail!("expected {} imports, found {}", info.imports.len(), imports.len());
    }
    for (import, ext) in info.imports.iter().zip(imports) {
        let expected = module.extern_type(import.ty);
        check_import(store, module, import.ty, ext).with_context(|| {
            format!("incompatible import type for `{}::{}`: expected {expected}, found {}", import.module, import.name, describe(store, ext))
        })?;
    }

    // Compiled code that touches GC objects takes the heap's base to be
    // fixed (`CodeMetadata::reads_gc_heap`): the heap exists before the
    // module's code first runs, and never moves.
    if module.code().metadata.reads_gc_heap {
        store.gc_store()?;
    }
    let pool = store.engine().inner.pool.clone();
    let instance_slot = pool.as_deref().map(|pool| pooled_instance_slot(pool, module)).transpose()?;

    let id = store.instances.len();
    let store_ptr: *mut StoreOpaque = store;
    let mut inst = VmInstance::new(module.clone(), store_ptr, id);
    inst.pool_slot = instance_slot;
    let (mut funcs, mut tables, mut memories, mut globals) = (0, 0, 0, 0);
    for ext in imports {
        match ext {
            Extern::Func(f) => {
                inst.set_func_ref(funcs, f.func_ref_addr(store) as *const _);
                funcs += 1;
            }
            Extern::Table(t) => {
                inst.tables.push(t.index);
                inst.set_table(tables, &mut *store.tables[t.index]);
                tables += 1;
            }
            Extern::Memory(m) => {
                inst.memories.push(m.index);
                inst.set_memory(memories, store.memories[m.index].vm_ptr());
                memories += 1;
            }
            Extern::SharedMemory(m) => {
                // One entry per shared memory, however often it is imported.
                let known = store.memories.iter().position(|e| matches!(e, StoreMemory::Shared(s) if s == m));
                let index = known.unwrap_or_else(|| {
                    store.memories.push(StoreMemory::Shared(m.clone()));
                    store.memories.len() - 1
                });
                inst.memories.push(index);
                inst.set_memory(memories, m.vm_ptr());
                memories += 1;
            }
            Extern::Global(g) => {
                inst.globals.push(g.index);
                inst.set_global(globals, &mut store.globals[g.index].cell);
                globals += 1;
            }
            Extern::Tag(t) => inst.tags.push(t.index),
        }
    }
    for tag in &info.tags[info.num_imported_tags as usize..] {
        let type_id = module.type_ids()[tag.func_type as usize];
        inst.tags.push(Tag::push(store, type_id).index);
    }
    let code = module.code();
    for defined in 0..info.num_defined_funcs() {
        let index = info.num_imported_funcs + defined;
        let type_id = module.type_ids()[info.funcs[index as usize] as usize];
        let f = inst.init_defined_func_ref(defined, code.func_address(defined), type_id);
        inst.set_func_ref(index, f);
    }
    // The defined globals, in one chunk, null until evaluated in order
    // (an initialiser reads only earlier globals); the cells are roots
    // from the start, so an allocation in a later initialiser keeps the
    // earlier ones' objects.
    let defined = module.defined_global_types();
    let cells: Vec<GlobalData> = defined.iter().map(|ty| GlobalData { cell: crate::vm::ValRaw::default(), ty: *ty }).collect();
    let first = store.globals.push_chunk(cells);
    inst.globals.reserve(defined.len());
    for i in 0..defined.len() {
        inst.globals.push(first + i);
        inst.set_global(info.num_imported_globals + i as u32, &mut store.globals[first + i].cell);
    }
    for (i, init) in info.global_inits.iter().enumerate() {
        store.globals[first + i].cell = const_eval::eval(&inst, init, Some(store))?;
    }
    let config = store.engine().config().clone();
    for plan in &info.tables[info.num_imported_tables as usize..] {
        let ExternType::Table(ty) = module.extern_type(EntityType::Table(plan.ty)) else { unreachable!() };
        let init = match &plan.init {
            Some(e) => const_eval::eval(&inst, e, Some(store))?.u64(),
            None => 0,
        };
        let repr = table_repr(store, &ty);
        let (limit, pool_slot) = match pool.as_deref() {
            Some(pool) => (config.max_table_elements.min(pool.config.table_elements as u64), Some(pool.table_slot()?)),
            None => (config.max_table_elements, None),
        };
        let mut b = RefBarriers::of(&mut store.gc);
        let table = VmTable::new(ty.to_wasm(), repr, init, limit, &mut b);
        if repr == kiln_environ::RefRepr::GcRef {
            // The table took its own counts of the evaluated value.
            b.drop_ref(init as u32)?;
        }
        let mut table = match table {
            Err(e) if pool.is_some() => return Err(e.context("a pooled table holds at most `PoolingAllocationConfig::table_elements` elements")),
            table => table?,
        };
        table.pool_slot = pool_slot;
        let t = Table::push(store, table);
        inst.tables.push(t.index);
        inst.set_table(tables, &mut *store.tables[t.index]);
        tables += 1;
    }
    for (defined, ty) in info.memories[info.num_imported_memories as usize..].iter().enumerate() {
        let guard = config.guard_pages();
        let limit = pool.as_deref().map_or(config.max_memory_bytes, |p| config.max_memory_bytes.min(p.config.max_memory_size as u64));
        let mem = match pool.as_deref() {
            // Shared memories outlive the instance (other stores hold
            // them): never in a pool slot, but no larger than one.
            _ if ty.shared => StoreMemory::Shared(SharedMemory::from_vm(LinearMemory::new_shared(*ty, guard, limit)?, store.engine())),
            Some(pool) => StoreMemory::Own(LinearMemory::in_slot(*ty, guard, limit, pool.memory_slot()?, module.memory_image(defined))?),
            None => StoreMemory::Own(LinearMemory::new(*ty, guard, limit)?),
        };
        store.memories.push(mem);
        let index = store.memories.len() - 1;
        inst.memories.push(index);
        inst.set_memory(memories, store.memories[index].vm_ptr());
        memories += 1;
    }
    inst.elements = evaluate_element_segments(store, &inst)?;
    inst.dropped_data = vec![false; info.data.len()];
    store.instances.push(inst);
    initialize_segments(store, id)?;
    Ok(id)
}

/// Checks `module` against the pooling allocator's per-module limits and
/// takes an instance slot.
fn pooled_instance_slot(pool: &crate::allocation::PoolingAllocator, module: &Module) -> Result<crate::vm::pool::CountedSlot> {
    let info = module.info();
    let limits = &pool.config;
    let memories = info.memories.len() - info.num_imported_memories as usize;
    if memories > limits.max_memories_per_module as usize {
        bail!("the module defines {memories} memories, more than the pooling allocator's `PoolingAllocationConfig::max_memories_per_module` ({})", limits.max_memories_per_module);
    }
    let tables = info.tables.len() - info.num_imported_tables as usize;
    if tables > limits.max_tables_per_module as usize {
        bail!("the module defines {tables} tables, more than the pooling allocator's `PoolingAllocationConfig::max_tables_per_module` ({})", limits.max_tables_per_module);
    }
    let size = crate::vm::instance::vmctx_size(info);
    if size > limits.max_core_instance_size {
        bail!("the instance's state takes {size} bytes, more than the pooling allocator's `PoolingAllocationConfig::max_core_instance_size` ({})", limits.max_core_instance_size);
    }
    pool.instance_slot()
}

/// Evaluates the items of every element segment. The instance is not in
/// the store yet, so its segments are not roots: items that are GC
/// references are held as roots until all are evaluated, since a later
/// item's allocation may collect and move the objects of earlier ones.
fn evaluate_element_segments(store: &mut StoreOpaque, inst: &VmInstance) -> Result<Vec<Vec<u64>>> {
    let info = inst.module.info();
    let mut segments = Vec::with_capacity(info.elems.len());
    let mut rooted: Vec<(usize, usize, crate::gc::RootIndex)> = Vec::new();
    let height = store.gc_host_roots.lifo_height();
    let evaluated = info.elems.iter().try_for_each(|seg| {
        let items = match &seg.items {
            ElemItems::Functions(fs) => fs.iter().map(|f| inst.func_ref(*f) as u64).collect(),
            ElemItems::Exprs(es) => {
                let is_gc = info.ref_repr(seg.ty) == kiln_environ::RefRepr::GcRef;
                let mut items = Vec::with_capacity(es.len());
                for e in es.iter() {
                    let v = const_eval::eval(inst, e, Some(&mut *store))?;
                    if let Some(r) = kiln_gc::VMGcRef::from_raw_u32(v.u32()).filter(|_| is_gc) {
                        // The item is owned (the segment's); the root slot
                        // takes a count of its own for the while.
                        let root = store.root_lifo(r);
                        rooted.push((segments.len(), items.len(), root));
                    }
                    items.push(v.u64());
                }
                items
            }
        };
        segments.push(items);
        anyhow::Ok(())
    });
    // After a failure the last segment is incomplete: nothing to write.
    for (segment, item, root) in rooted.into_iter().filter(|_| evaluated.is_ok()) {
        segments[segment][item] = u64::from(store.resolve_root(root).expect("roots of a live scope resolve"));
    }
    store.release_lifo_roots(height);
    evaluated.map(|()| segments)
}

/// Applies active element and data segments, then drops them (and the
/// declarative element segments), as the spec's instantiation does. When
/// an element segment fails, the instance's memories hold no data, as the
/// spec's order requires, even where a pool slot kept the image.
fn initialize_segments(store: &mut StoreOpaque, id: InstanceId) -> Result<()> {
    if let Err(e) = initialize_elements(store, id) {
        let inst = &mut store.instances[id];
        for index in inst.module.info().num_imported_memories..inst.module.info().memories.len() as u32 {
            let memory = inst.memory(index);
            // SAFETY: the memory slot points at a memory the store owns or
            // shares; only an unshared one (which no other thread can
            // reach) is borrowed mutably.
            unsafe {
                if !(*memory).is_shared() {
                    (*memory).hide_premapped_image();
                }
            }
        }
        return Err(e);
    }
    initialize_data(store, id)
}

/// Applies active element segments and drops them (and the declarative
/// ones).
fn initialize_elements(store: &mut StoreOpaque, id: InstanceId) -> Result<()> {
    let module = store.instances[id].module.clone();
    let info = module.info();
    for (i, seg) in info.elems.iter().enumerate() {
        let items = match &seg.mode {
            SegmentMode::Active { index, offset } => {
                let inst = &mut store.instances[id];
                let dst = const_eval::eval(inst, offset, None)?.u64();
                let dst = if info.tables[*index as usize].ty.table64 { dst } else { dst as u32 as u64 };
                let items = std::mem::take(&mut inst.elements[i]);
                // SAFETY: the table slot points at a table owned by the store.
                let table = unsafe { &mut *inst.table(*index) };
                let mut b = RefBarriers::of(&mut store.gc);
                match table.init(dst, &items, &mut b) {
                    Ok(()) => {}
                    Err(TableError::OutOfBounds) => return Err(Trap::TableOutOfBounds.into()),
                    Err(TableError::Gc(e)) => return Err(e),
                }
                items
            }
            SegmentMode::Declared => std::mem::take(&mut store.instances[id].elements[i]),
            SegmentMode::Passive => continue,
        };
        // The segment's own counts go with it (the table took its own).
        if store.instances[id].elem_is_gc(i as u32) {
            let mut b = RefBarriers::of(&mut store.gc);
            for raw in items {
                b.drop_ref(raw as u32)?;
            }
        }
    }
    Ok(())
}

/// Applies active data segments (from the memories' images where they
/// have one) and drops them.
fn initialize_data(store: &mut StoreOpaque, id: InstanceId) -> Result<()> {
    let module = store.instances[id].module.clone();
    let info = module.info();
    let inst = &mut store.instances[id];
    let mut imaged = vec![false; info.memories.len()];
    for (i, seg) in info.data.iter().enumerate() {
        if let SegmentMode::Active { index, offset } = &seg.mode {
            // A defined memory with an image gets every segment at once.
            let defined = (*index as usize).checked_sub(info.num_imported_memories as usize);
            let image = defined.and_then(|d| module.memory_image(d)).filter(|_| !info.memories[*index as usize].shared);
            if let Some(image) = image {
                if !imaged[*index as usize] {
                    // SAFETY: the memory slot points at a memory owned by the store.
                    unsafe { &mut *inst.memory(*index) }.map_image(image)?;
                    imaged[*index as usize] = true;
                }
                inst.dropped_data[i] = true;
                continue;
            }
            let dst = const_eval::eval(inst, offset, None)?.u64();
            let dst = if info.memories[*index as usize].memory64 { dst } else { dst as u32 as u64 };
            let bytes = &module.wasm()[seg.bytes.clone()];
            // SAFETY: the memory slot points at a memory the store owns or
            // shares; `write_at` needs only shared access.
            let memory = unsafe { &*inst.memory(*index) };
            if !memory.write_at(dst, bytes) {
                return Err(Trap::MemoryOutOfBounds.into());
            }
            inst.dropped_data[i] = true;
        }
    }
    Ok(())
}

fn describe(store: &StoreOpaque, ext: &Extern) -> String {
    match ext {
        Extern::Func(f) => format!("{}", f.ty_in(store)),
        Extern::Global(g) => format!("{}", g.data(store).ty),
        Extern::Table(t) => format!("{}", TableType::from_wasm(store.tables[t.index].ty())),
        Extern::Memory(m) => format!("{}", crate::MemoryType::from_wasm(store.memories[m.index].vm().ty())),
        Extern::SharedMemory(m) => format!("{}", m.ty()),
        Extern::Tag(t) => format!("(tag {})", t.type_id(store)),
    }
}

/// Checks that `ext` may be used for an import of type `ty`.
fn check_import(store: &StoreOpaque, module: &Module, ty: EntityType, ext: &Extern) -> Result<()> {
    match (ty, ext) {
        (EntityType::Function(type_index), Extern::Func(f)) => {
            if !store.engine().inner.types.is_subtype(f.type_id(store), module.type_ids()[type_index as usize]) {
                bail!("function types differ");
            }
        }
        (EntityType::Global(g), Extern::Global(actual)) => {
            let ExternType::Global(expected) = module.extern_type(EntityType::Global(g)) else { unreachable!() };
            let actual: GlobalType = actual.data(store).ty;
            if expected.mutability() != actual.mutability() {
                bail!("mutability differs");
            }
            let ok = match expected.mutability() {
                Mutability::Var => expected.content() == actual.content(),
                Mutability::Const => val_subtype(store, actual.content(), expected.content()),
            };
            if !ok {
                bail!("value types differ");
            }
        }
        (EntityType::Table(t), Extern::Table(actual)) => {
            let ExternType::Table(expected) = module.extern_type(EntityType::Table(t)) else { unreachable!() };
            let actual_ty = TableType::from_wasm(store.tables[actual.index].ty());
            if expected.element() != actual_ty.element() || expected.is_64() != actual_ty.is_64() {
                bail!("element types differ");
            }
            limits_match(store.tables[actual.index].size(), actual_ty.maximum(), expected.minimum(), expected.maximum())?;
        }
        (EntityType::Memory(m), Extern::Memory(actual)) => check_memory(m, store.memories[actual.index].vm())?,
        (EntityType::Memory(m), Extern::SharedMemory(actual)) => {
            // Compiled code takes the engine's bounds-check scheme for
            // granted, so the memory must have been made for it.
            if !Engine::same(actual.engine(), store.engine()) {
                bail!("the shared memory belongs to another engine");
            }
            check_memory(m, actual.vm())?
        }
        (EntityType::Tag(t), Extern::Tag(actual)) => {
            if actual.type_id(store) != module.type_ids()[t.func_type as usize] {
                bail!("tag types differ");
            }
        }
        _ => bail!("kinds differ"),
    }
    Ok(())
}

fn check_memory(expected: kiln_environ::MemoryType, actual: &LinearMemory) -> Result<()> {
    let ty = actual.ty();
    if expected.memory64 != ty.memory64 || expected.page_size_log2 != ty.page_size_log2 {
        bail!("index types differ");
    }
    if expected.shared != ty.shared {
        bail!("shared and unshared memories differ");
    }
    limits_match(actual.pages(), ty.maximum, expected.minimum, expected.maximum)
}

fn limits_match(actual_size: u64, actual_max: Option<u64>, min: u64, max: Option<u64>) -> Result<()> {
    if actual_size < min {
        bail!("minimum size {min} is larger than the current size {actual_size}");
    }
    if let Some(max) = max {
        match actual_max {
            Some(a) if a <= max => {}
            _ => bail!("maximum size does not fit within {max}"),
        }
    }
    Ok(())
}

/// Value subtyping for immutable global imports (Wasm 3.0 allows a subtype).
fn val_subtype(store: &StoreOpaque, sub: &ValType, sup: &ValType) -> bool {
    use crate::HeapType as H;
    match (sub, sup) {
        (ValType::Ref(a), ValType::Ref(b)) => {
            if a.nullable() && !b.nullable() {
                return false;
            }
            let (ha, hb) = (a.heap_type(), b.heap_type());
            ha == hb
                || match (ha, hb) {
                    (H::NoFunc, _) => crate::values::is_func_hierarchy(store, hb),
                    (H::Concrete(_), H::Func) => crate::values::is_func_hierarchy(store, ha),
                    (H::NoExtern, H::Extern) => true,
                    (H::None, H::Any | H::Eq | H::I31 | H::Struct | H::Array) => true,
                    (H::I31 | H::Struct | H::Array | H::Eq, H::Any) => true,
                    (H::I31 | H::Struct | H::Array, H::Eq) => true,
                    _ => false,
                }
        }
        _ => sub == sup,
    }
}
