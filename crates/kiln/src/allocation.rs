//! How an engine allocates instances, memories, tables and GC heaps:
//! on demand (a fresh reservation each time) or from pools reserved once,
//! at engine creation, whose slots are reset and reused (see
//! `vm/pool.rs`). The knobs keep Wasmtime's names.
//!
//! With pooling, the memories and GC heaps instances define (and every
//! store's GC heap) take slots; instances and tables count against their
//! totals. Memories and tables the host makes with `Memory::new` and
//! `Table::new` are allocated on demand.

/// The strategy [`Config::allocation_strategy`](crate::Config::allocation_strategy) selects.
#[derive(Debug, Clone, Default)]
pub enum InstanceAllocationStrategy {
    /// Every memory and GC heap gets its own reservation, unmapped when
    /// its store drops.
    #[default]
    OnDemand,
    /// Memories and GC heaps live in slots of regions reserved when the
    /// engine is made; a dropped store's slots are reset (zeroed or
    /// decommitted) and reused by the next store.
    Pooling(PoolingAllocationConfig),
}

impl InstanceAllocationStrategy {
    /// The pooling strategy with its default limits.
    pub fn pooling() -> InstanceAllocationStrategy {
        InstanceAllocationStrategy::Pooling(PoolingAllocationConfig::default())
    }
}

/// Limits and reset policy of the pooling allocator.
#[derive(Debug, Clone)]
pub struct PoolingAllocationConfig {
    pub(crate) total_core_instances: u32,
    pub(crate) total_memories: u32,
    pub(crate) total_tables: u32,
    pub(crate) total_gc_heaps: u32,
    pub(crate) max_memory_size: usize,
    pub(crate) table_elements: usize,
    pub(crate) max_core_instance_size: usize,
    pub(crate) max_memories_per_module: u32,
    pub(crate) max_tables_per_module: u32,
    pub(crate) linear_memory_keep_resident: usize,
    pub(crate) table_keep_resident: usize,
    pub(crate) gc_heap_keep_resident: usize,
    pub(crate) decommit_batch_size: usize,
}

impl Default for PoolingAllocationConfig {
    fn default() -> Self {
        PoolingAllocationConfig {
            total_core_instances: 1000,
            total_memories: 1000,
            total_tables: 1000,
            total_gc_heaps: 1000,
            max_memory_size: 4 << 30,
            table_elements: 20_000,
            max_core_instance_size: 1 << 20,
            max_memories_per_module: 1,
            max_tables_per_module: 1,
            linear_memory_keep_resident: 0,
            table_keep_resident: 0,
            // The first page holds a heap's first objects: kept, every
            // tenant is spared a page fault (and the zeroing is one page).
            gc_heap_keep_resident: 4096,
            decommit_batch_size: 1,
        }
    }
}

macro_rules! knobs {
    ($($(#[$doc:meta])* $name:ident: $t:ty;)*) => {$(
        $(#[$doc])*
        pub fn $name(&mut self, value: $t) -> &mut Self {
            self.$name = value;
            self
        }
    )*};
}

impl PoolingAllocationConfig {
    pub fn new() -> Self {
        Self::default()
    }

    knobs! {
        /// Instances alive at once, over all stores of the engine.
        total_core_instances: u32;
        /// Linear memories alive at once (each a slot of the reserved
        /// region).
        total_memories: u32;
        /// Tables alive at once.
        total_tables: u32;
        /// GC heaps (one per store that allocates GC objects) alive at once.
        total_gc_heaps: u32;
        /// The largest a pooled memory may grow, in bytes.
        max_memory_size: usize;
        /// The largest a pooled table may grow, in elements.
        table_elements: usize;
        /// The largest instance state (VMContext) in bytes.
        max_core_instance_size: usize;
        /// Memories a module may define.
        max_memories_per_module: u32;
        /// Tables a module may define.
        max_tables_per_module: u32;
        /// Bytes of a memory slot zeroed in place (kept resident) when it
        /// is reset; the rest is decommitted.
        linear_memory_keep_resident: usize;
        /// Accepted for Wasmtime compatibility; Kiln keeps nothing of a
        /// table: each pooled table's storage is allocated fresh (zeroed by
        /// construction) and freed with it, only the count is pooled.
        table_keep_resident: usize;
        /// Bytes of a GC heap slot zeroed in place when it is reset; the
        /// rest is decommitted (default: one page).
        gc_heap_keep_resident: usize;
        /// Slots reset together: a released slot waits until this many are
        /// pending (or a slot is needed) before being decommitted.
        decommit_batch_size: usize;
    }
}

use crate::vm::pool::{CountedPool, CountedSlot, Slot, SlotPool};
use anyhow::Result;
use kiln_gc::GcHeap;
use std::sync::{Arc, Mutex};

/// An engine's pools (see `vm/pool.rs` for the mechanism).
pub(crate) struct PoolingAllocator {
    pub config: PoolingAllocationConfig,
    memories: Arc<SlotPool>,
    gc_heaps: Arc<SlotPool>,
    instances: Arc<CountedPool>,
    tables: Arc<CountedPool>,
    /// GC heaps of dropped stores, reset (`GcHeap::reset`), each in its
    /// slot: the next store takes one instead of making a heap.
    idle_gc_heaps: Mutex<Vec<Box<dyn GcHeap>>>,
}

impl PoolingAllocator {
    pub fn new(config: &PoolingAllocationConfig, guard_pages: bool) -> Result<Arc<PoolingAllocator>> {
        // A memory slot is a whole guard-page reservation when compiled
        // code relies on one, else the largest memory.
        let guard_reservation = crate::vm::memory::GUARD_RESERVATION;
        let memory_slot = if guard_pages { config.max_memory_size.max(guard_reservation) } else { config.max_memory_size };
        let gc_slot = kiln_environ::vmoffsets::GC_HEAP_RESERVATION as usize;
        let batch = config.decommit_batch_size;
        Ok(Arc::new(PoolingAllocator {
            memories: SlotPool::new(config.total_memories, memory_slot, config.linear_memory_keep_resident, batch, "memory", "total_memories")?,
            gc_heaps: SlotPool::new(config.total_gc_heaps, gc_slot, 0, 1, "GC heap", "total_gc_heaps")?,
            instances: CountedPool::new(config.total_core_instances, "instance", "total_core_instances"),
            tables: CountedPool::new(config.total_tables, "table", "total_tables"),
            config: config.clone(),
            idle_gc_heaps: Mutex::new(Vec::new()),
        }))
    }

    pub fn memory_slot(&self) -> Result<Slot> {
        self.memories.acquire()
    }

    pub fn instance_slot(&self) -> Result<CountedSlot> {
        self.instances.acquire()
    }

    pub fn table_slot(&self) -> Result<CountedSlot> {
        self.tables.acquire()
    }

    /// A reset GC heap of a dropped store, or a new one made by `make` in
    /// a free slot.
    pub fn take_gc_heap(&self, make: impl FnOnce(Slot, usize) -> Result<Box<dyn GcHeap>>) -> Result<Box<dyn GcHeap>> {
        if let Some(heap) = self.idle_gc_heaps.lock().unwrap_or_else(|e| e.into_inner()).pop() {
            return Ok(heap);
        }
        make(self.gc_heaps.acquire()?, self.config.gc_heap_keep_resident)
    }

    /// Takes back a dropped store's heap: reset (its memory zeroed and
    /// mostly decommitted) before anyone can take it again.
    pub fn return_gc_heap(&self, mut heap: Box<dyn GcHeap>) {
        heap.reset(true);
        self.idle_gc_heaps.lock().unwrap_or_else(|e| e.into_inner()).push(heap);
    }
}
