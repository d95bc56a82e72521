//! The null collector: bump allocation that never frees.
//!
//! A throughput ceiling and a baseline for the others. Barriers do nothing;
//! a "collection" completes at once and frees nothing. When the bump cursor
//! reaches the end of the heap, allocation reports out of memory (the
//! runtime turns it into a trap unless it grows the heap). Host data of
//! externrefs lives until the store's table is dropped.
//!
//! Objects lie back to back from the first object offset to the cursor, so
//! the used part of the heap is walkable and has no free blocks.

use super::{bump_alloc_object, init_array_len};
use crate::alloc::bump::BumpAllocator;
use crate::memory::{grow_memory, usable_end};
use crate::types::TypeCache;
use crate::verify::verify_packed;
use crate::{
    Collector, GarbageCollection, GcHeap, GcProgress, GcRoots, GcRuntime, GcStats, GcTypes, HeapMemory, HostDataTable, Result,
    VMGcHeader, VMGcKind, VMGcRef, VerifyReport,
};
use kiln_environ::gc_layout::FIRST_OBJECT_OFFSET;
use kiln_environ::{GcTypeLayouts, StandardLayouts};
use std::sync::Arc;
use std::time::Instant;

pub(crate) struct NullRuntime;

impl GcRuntime for NullRuntime {
    fn collector(&self) -> Collector {
        Collector::Null
    }

    fn layouts(&self) -> &dyn GcTypeLayouts {
        &StandardLayouts
    }

    fn new_gc_heap(&self, memory: Box<dyn HeapMemory>, types: Arc<dyn GcTypes>) -> Result<Box<dyn GcHeap>> {
        Ok(Box::new(NullHeap::new(memory, types)))
    }
}

pub(crate) struct NullHeap {
    memory: Box<dyn HeapMemory>,
    types: TypeCache,
    bump: BumpAllocator,
    stats: GcStats,
}

impl NullHeap {
    pub(crate) fn new(memory: Box<dyn HeapMemory>, types: Arc<dyn GcTypes>) -> NullHeap {
        let end = usable_end(memory.len());
        let stats = GcStats { heap_size: end, ..GcStats::default() };
        NullHeap { memory, types: TypeCache::new(types), bump: BumpAllocator::new(u64::from(FIRST_OBJECT_OFFSET), end), stats }
    }

    fn alloc_block(&mut self, header: VMGcHeader, size: u32) -> Result<VMGcRef> {
        bump_alloc_object(&mut self.bump, self.memory.bytes_mut(), &mut self.stats, header, size)
    }
}

impl GcHeap for NullHeap {
    fn collector(&self) -> Collector {
        Collector::Null
    }

    fn memory(&self) -> &dyn HeapMemory {
        &*self.memory
    }

    fn memory_mut(&mut self) -> &mut dyn HeapMemory {
        &mut *self.memory
    }

    fn alloc_raw(&mut self, header: VMGcHeader, size: u32) -> Result<VMGcRef> {
        super::check_raw_kind(&header)?;
        self.alloc_block(header, size)
    }

    fn alloc_uninit_struct(&mut self, type_index: u32) -> Result<VMGcRef> {
        let size = self.types.struct_size(type_index)?;
        self.alloc_block(VMGcHeader::new(VMGcKind::StructRef, type_index), size)
    }

    fn alloc_uninit_array(&mut self, type_index: u32, len: u32) -> Result<VMGcRef> {
        let (header, size) = self.types.array_header(type_index, len)?;
        let r = self.alloc_block(header, size)?;
        init_array_len(self.memory.bytes_mut(), &r, len)?;
        Ok(r)
    }

    fn collect<'a>(&'a mut self, _roots: GcRoots<'a>, _host_data: &'a mut HostDataTable) -> Box<dyn GarbageCollection + 'a> {
        Box::new(NullCollection { heap: self, done: false })
    }

    fn reset(&mut self, zero: bool) {
        if zero {
            self.memory.clear();
        }
        self.bump.reset(u64::from(FIRST_OBJECT_OFFSET));
        self.bump.set_end(usable_end(self.memory.len()));
        self.types.clear();
        self.stats = GcStats { heap_size: self.bump.end(), ..GcStats::default() };
    }

    fn grow(&mut self, additional: u64) -> Result<()> {
        let len = self.memory.len() as u64;
        let end = grow_memory(&mut *self.memory, len, additional)?;
        self.bump.set_end(end);
        self.stats.heap_size = self.bump.end();
        Ok(())
    }

    fn stats(&self) -> GcStats {
        self.stats
    }

    fn bump_region(&self) -> Option<(u32, u32)> {
        crate::collectors::bump_region(&self.bump)
    }

    fn set_bump_next(&mut self, next: u32) -> Result<()> {
        crate::collectors::advance_bump(&mut self.bump, &mut self.stats, next)
    }

    fn verify(&self) -> Result<VerifyReport> {
        Ok(verify_packed(self.memory.bytes(), u64::from(FIRST_OBJECT_OFFSET), self.bump.top(), self.types.types())?.report)
    }
}

struct NullCollection<'a> {
    heap: &'a mut NullHeap,
    done: bool,
}

impl GarbageCollection for NullCollection<'_> {
    fn step(&mut self, _budget: u32) -> Result<GcProgress> {
        if !self.done {
            let start = Instant::now();
            self.done = true;
            self.heap.stats.record_collection();
            self.heap.stats.record_pause(start.elapsed());
        }
        Ok(GcProgress::Complete)
    }

    fn work_done(&self) -> u64 {
        0
    }
}
