//! A store's GC heap: created on first use with the engine's collector,
//! in memory compiled code can address (`vm::gc_memory`), with the store's
//! host-data table for externrefs.
//!
//! The heap's base and accessible length are mirrored in the store context
//! for compiled code; every operation that may grow the heap updates them.

use crate::engine::Engine;
use crate::store::StoreOpaque;
use crate::vm::gc_memory::MmapHeapMemory;
use anyhow::Result;
use kiln_environ::gc_layout::StandardLayouts;
use kiln_environ::{GcTypeLayouts, RefRepr, WasmCompositeType, WasmHeapType};
use kiln_gc::{GcError, GcHeap, GcLayout, GcTypes, HostDataTable, VMGcRef};
use std::sync::Arc;

/// First size of a heap; it doubles as it fills, up to the engine's limit.
const INITIAL_HEAP_BYTES: usize = 1 << 20;

pub(crate) struct GcStore {
    pub heap: Box<dyn GcHeap>,
    pub host_data: HostDataTable,
}

/// Layouts of engine types, for the heap's tracer and allocator.
struct EngineGcTypes(Engine);

impl GcTypes for EngineGcTypes {
    fn layout(&self, type_index: u32) -> Option<GcLayout> {
        engine_gc_layout(&self.0, type_index)
    }
}

/// The layout of objects of engine type `type_index` (an id read from an
/// untrusted header: unknown ids give `None`).
pub(crate) fn engine_gc_layout(engine: &Engine, type_index: u32) -> Option<GcLayout> {
    let types = &engine.inner.types;
    let ty = types.try_get(type_index)?;
    let ref_repr = |r: kiln_environ::WasmRefType| match r.heap {
        WasmHeapType::Func | WasmHeapType::NoFunc => RefRepr::FuncRef,
        WasmHeapType::Concrete(id) if types.try_get(id).is_some_and(|t| matches!(t.composite, WasmCompositeType::Func(_))) => RefRepr::FuncRef,
        _ => RefRepr::GcRef,
    };
    StandardLayouts.gc_layout(&ty.composite, &ref_repr)
}

impl StoreOpaque {
    /// The store's GC heap, created on first use.
    pub(crate) fn gc_store(&mut self) -> Result<&mut GcStore> {
        if self.gc.is_none() {
            let config = self.engine().config();
            let memory = MmapHeapMemory::new(INITIAL_HEAP_BYTES, config.max_gc_heap_bytes as usize)?;
            let base = memory.base();
            let types = Arc::new(EngineGcTypes(self.engine().clone()));
            let heap = self.engine().inner.gc_runtime.new_gc_heap(Box::new(memory), types)?;
            // SAFETY: no Wasm of this store runs while we hold `&mut self`
            // except through builtins, which are called between
            // instructions that reload these fields.
            unsafe { *self.vm_store_context().gc_heap_base.get() = base as usize };
            self.gc = Some(GcStore { heap, host_data: HostDataTable::new() });
            self.sync_gc_bound();
        }
        Ok(self.gc.as_mut().expect("created above"))
    }

    /// Mirrors the heap's accessible length into the store context.
    pub(crate) fn sync_gc_bound(&self) {
        if let Some(gc) = &self.gc {
            // SAFETY: as in `gc_store`.
            unsafe { *self.vm_store_context().gc_heap_bound.get() = gc.heap.memory().len() };
        }
    }

    /// Allocates with `alloc`, growing the heap (doubling, up to its
    /// limit) while it reports out of memory. The null collector never
    /// frees, so growing is the only way to make room.
    pub(crate) fn gc_alloc(&mut self, mut alloc: impl FnMut(&mut dyn GcHeap) -> kiln_gc::Result<VMGcRef>) -> Result<VMGcRef> {
        let gc = self.gc_store()?;
        let result = loop {
            match alloc(&mut *gc.heap) {
                Err(GcError::OutOfMemory { requested }) => {
                    let len = gc.heap.memory().len() as u64;
                    let capacity = gc.heap.memory().capacity() as u64;
                    let additional = len.max(requested).min(capacity.saturating_sub(len));
                    if additional == 0 || gc.heap.grow(additional).is_err() {
                        break Err(anyhow::Error::new(crate::Trap::GcHeapOutOfMemory));
                    }
                }
                other => break other.map_err(anyhow::Error::from),
            }
        };
        self.sync_gc_bound();
        result
    }
}
