//! The `GcRuntime` trait (one per collector, used as `Box<dyn GcRuntime>`)
//! and the `Collector` enum that picks one.
//!
//! A runtime is engine-wide and stateless; it makes one [`GcHeap`] per
//! store. Heaps receive their memory rather than reserving it, so the
//! runtime layer decides how it is mapped (and can pool it).

use crate::collectors::{copying::CopyingRuntime, drc::DrcRuntime, generational::GenerationalRuntime, null::NullRuntime};
use crate::{GcHeap, GcTypes, HeapMemory, Result};
use kiln_environ::GcTypeLayouts;
use std::sync::Arc;

pub trait GcRuntime: Send + Sync {
    fn collector(&self) -> Collector;

    /// How this collector lays out objects (the compiler emits inline code
    /// from the same layouts).
    fn layouts(&self) -> &dyn GcTypeLayouts;

    /// A new, empty heap in `memory`. `types` answers the layouts of the
    /// engine type indices stored in object headers.
    fn new_gc_heap(&self, memory: Box<dyn HeapMemory>, types: Arc<dyn GcTypes>) -> Result<Box<dyn GcHeap>>;
}

/// The collectors an engine can be configured with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Collector {
    /// Bump allocation, never frees: a throughput ceiling and a baseline.
    Null,
    /// Deferred reference counting: counts kept by barriers, stack
    /// references logged rather than counted, a backup trace for cycles.
    Drc,
    /// Cheney semi-space copying: bump allocation, no barriers; a
    /// collection copies the live objects into the reserve half of the heap
    /// (rewriting the roots and their references) and frees everything
    /// else, cycles included. Growing the heap picks a larger to-space;
    /// about half of the growth is allocation room at once. The engine's
    /// default.
    #[default]
    Copying,
    /// Generational: a bump-allocated nursery collected often by copying
    /// its survivors into a mature space, which is collected rarely (by
    /// compacting it in place); an inline card-marking write barrier
    /// records which mature objects may reference the nursery.
    Generational,
}

impl Collector {
    pub fn gc_runtime(self) -> Result<Box<dyn GcRuntime>> {
        match self {
            Collector::Null => Ok(Box::new(NullRuntime)),
            Collector::Drc => Ok(Box::new(DrcRuntime)),
            Collector::Copying => Ok(Box::new(CopyingRuntime)),
            Collector::Generational => Ok(Box::new(GenerationalRuntime)),
        }
    }
}
