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
        WasmHeapType::Concrete(id) if types.is_func_type(id) => RefRepr::FuncRef,
        _ => RefRepr::GcRef,
    };
    match &ty.composite {
        // Objects whose type is a function type are exceptions.
        WasmCompositeType::Func(f) => Some(GcLayout::Struct(kiln_environ::gc_layout::exception_layout(&f.params, &ref_repr))),
        other => StandardLayouts.gc_layout(other, &ref_repr),
    }
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

    /// Mirrors the heap's accessible length and inline allocation region
    /// into the store context, for compiled code. Called after every
    /// operation that may grow the heap or move its bump cursor.
    pub(crate) fn sync_gc_bound(&self) {
        if let Some(gc) = &self.gc {
            let ctx = self.vm_store_context();
            let (next, end) = gc.heap.bump_region().unwrap_or((0, 0));
            // SAFETY: as in `gc_store`.
            unsafe {
                *ctx.gc_heap_bound.get() = gc.heap.memory().len();
                *ctx.gc_bump_next.get() = next;
                *ctx.gc_bump_end.get() = end;
            }
        }
    }

    /// Hands the heap back the bump cursor compiled code advanced, before
    /// Rust code uses the heap. Called on every way out of Wasm (a return
    /// to the host, a host call, a GC builtin).
    pub(crate) fn sync_gc_cursor_in(&mut self) {
        // SAFETY: as in `gc_store`.
        let next = unsafe { *self.vm_store_context().gc_bump_next.get() };
        if let Some(gc) = &mut self.gc
            && next != 0
        {
            // A cursor outside the region (corrupted store context) is
            // refused and the heap keeps its own.
            let _ = gc.heap.set_bump_next(next);
        }
    }

    /// Allocates with `alloc`. When the heap is full it first collects
    /// garbage (if `may_collect` and the collector frees anything), then
    /// grows the heap (doubling, up to its limit).
    ///
    /// `may_collect` must be false when the caller holds references the
    /// collector cannot see (a moving collector would leave them stale).
    pub(crate) fn gc_alloc(&mut self, may_collect: bool, mut alloc: impl FnMut(&mut dyn GcHeap) -> kiln_gc::Result<VMGcRef>) -> Result<VMGcRef> {
        let mut collected = !may_collect || self.engine().config().collector == kiln_gc::Collector::Null;
        self.sync_gc_cursor_in();
        let result = loop {
            let gc = self.gc_store()?;
            match alloc(&mut *gc.heap) {
                Err(GcError::OutOfMemory { .. }) if !collected => {
                    collected = true;
                    self.collect_garbage()?;
                    self.grow_if_mostly_live();
                }
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

    /// Grows the heap (doubling, within its limit) when a collection left
    /// more than a quarter of it live: for a semi-space collector that is
    /// a space more than half full, which would make the next collections
    /// come soon and recopy the same long-lived data. Best effort: if the
    /// heap cannot grow, allocation goes on in what there is.
    fn grow_if_mostly_live(&mut self) {
        let Some(gc) = self.gc.as_mut() else { return };
        let len = gc.heap.memory().len() as u64;
        let room = (gc.heap.memory().capacity() as u64).saturating_sub(len);
        if gc.heap.stats().bytes_in_use.saturating_mul(4) > len && room > 0 {
            let _ = gc.heap.grow(len.min(room));
        }
    }

    /// Runs a full collection with every root of the store: the suspended
    /// Wasm frames' stack maps, globals and tables holding GC references,
    /// and host handles.
    pub(crate) fn collect_garbage(&mut self) -> Result<()> {
        if self.gc.is_none() {
            return Ok(());
        }
        self.sync_gc_cursor_in();
        let mut stack_slots = Vec::new();
        // SAFETY: Wasm of this store is suspended (we are in a builtin, a
        // host call or the host), so its frames are walkable.
        unsafe { crate::vm::stack_roots::visit_stack_roots(self.vm_store_context(), |slot| stack_slots.push(slot)) };
        let other_slots = self.non_stack_root_slots();
        let StoreOpaque { gc, gc_host_roots, .. } = self;
        let gc = gc.as_mut().expect("checked above");
        let mut roots = kiln_gc::GcRoots::new();
        for slot in stack_slots {
            // SAFETY: stack map slots of suspended frames hold references,
            // each listed once, and stay put until Wasm resumes.
            roots.add_stack_root(unsafe { crate::vm::stack_roots::root_slot(slot) });
        }
        for slot in other_slots {
            // SAFETY: cells of globals, table elements and exception
            // payload values owned by this store, each listed once.
            roots.add_non_stack_root(unsafe { crate::vm::stack_roots::root_slot(slot) });
        }
        for slot in gc_host_roots.slots_mut() {
            roots.add_non_stack_root(slot);
        }
        let GcStore { heap, host_data } = gc;
        heap.collect_all(roots, host_data)?;
        self.sync_gc_bound();
        Ok(())
    }

    /// Addresses of the store's GC reference slots outside the Wasm stack.
    fn non_stack_root_slots(&mut self) -> Vec<*mut u32> {
        let mut slots = Vec::new();
        let engine = self.engine().clone();
        for g in self.globals.iter_mut() {
            if is_gc_heap_ref(&engine, g.ty.content().to_wasm()) {
                slots.push(g.cell.0.as_mut_ptr() as *mut u32);
            }
        }
        for t in self.tables.iter_mut() {
            if let Some(elems) = t.gc_ref_elements_mut() {
                slots.extend(elems.iter_mut().map(|e| e as *mut u32));
            }
        }
        slots
    }
}

/// Does a value of engine-level type `t` point into the GC heap? (Any,
/// extern and exn hierarchies; not funcrefs or numbers.)
pub(crate) fn is_gc_heap_ref(engine: &Engine, t: kiln_environ::WasmValType) -> bool {
    let kiln_environ::WasmValType::Ref(r) = t else { return false };
    match r.heap {
        WasmHeapType::Func | WasmHeapType::NoFunc => false,
        WasmHeapType::Concrete(id) => engine.inner.types.try_get(id).is_some() && !engine.inner.types.is_func_type(id),
        _ => true,
    }
}

impl StoreOpaque {
}

/// The references host handles hold: roots of every collection.
///
/// Handles made during a host call belong to that call's scope and are
/// released when it returns (their slots get a new generation, so a handle
/// kept beyond its scope reads as no reference rather than another
/// object). Handles made outside any host call live as long as the store.
#[derive(Default)]
pub(crate) struct HostRoots {
    slots: Vec<(u32, Option<VMGcRef>)>,
    free: Vec<u32>,
    /// Slots made in each active host call scope, innermost last.
    scopes: Vec<Vec<u32>>,
}

impl HostRoots {
    pub fn insert(&mut self, r: Option<VMGcRef>) -> (u32, u32) {
        let index = match self.free.pop() {
            Some(i) => {
                self.slots[i as usize].1 = r;
                i
            }
            None => {
                self.slots.push((0, r));
                (self.slots.len() - 1) as u32
            }
        };
        if let Some(scope) = self.scopes.last_mut() {
            scope.push(index);
        }
        (index, self.slots[index as usize].0)
    }

    pub fn get(&self, index: u32, generation: u32) -> Option<&VMGcRef> {
        self.slots.get(index as usize).filter(|(g, _)| *g == generation)?.1.as_ref()
    }

    pub fn enter_scope(&mut self) {
        self.scopes.push(Vec::new());
    }

    pub fn exit_scope(&mut self) {
        for index in self.scopes.pop().unwrap_or_default() {
            let slot = &mut self.slots[index as usize];
            slot.0 = slot.0.wrapping_add(1);
            slot.1 = None;
            self.free.push(index);
        }
    }

    pub fn slots_mut(&mut self) -> impl Iterator<Item = &mut Option<VMGcRef>> {
        self.slots.iter_mut().map(|(_, r)| r)
    }
}
