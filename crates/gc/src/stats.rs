//! Statistics a heap keeps about itself.

use std::time::Duration;

/// A snapshot of a heap's statistics. Reset by `GcHeap::reset`.
///
/// A pause is one step of a collection (the time the mutator cannot run);
/// an incremental collection of several steps records several pauses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GcStats {
    /// Bytes of memory the heap manages (the end of its usable part).
    pub heap_size: u64,
    /// Bytes occupied by objects now.
    pub bytes_in_use: u64,
    /// Bytes allocated since the heap was made or reset (never decreases).
    pub bytes_allocated: u64,
    pub objects_allocated: u64,
    /// `bytes_in_use` when the last collection completed.
    pub live_bytes_after_last_collection: u64,
    /// Collections run to completion (nursery collections included).
    pub collections: u64,
    /// Of those, the collections of a generational collector's nursery
    /// alone.
    pub minor_collections: u64,
    /// Of those, the ones that promoted the whole nursery in place
    /// (without tracing or copying it) because most of it survived.
    pub promotions_in_place: u64,
    pub total_pause: Duration,
    pub longest_pause: Duration,
    /// Roots the embedder's handles hold (filled in by the runtime that
    /// owns the heap; the heap itself leaves it 0).
    pub host_roots: u64,
}

impl GcStats {
    pub(crate) fn record_allocation(&mut self, size: u32) {
        self.bytes_allocated += u64::from(size);
        self.objects_allocated += 1;
        self.bytes_in_use += u64::from(size);
    }

    /// Compiled code allocated `bytes` inline since the runtime last took
    /// its cursor back: counted as one allocation of that size.
    pub(crate) fn record_inline_allocation(&mut self, bytes: u64) {
        if bytes > 0 {
            self.record_allocation(u32::try_from(bytes).unwrap_or(u32::MAX));
        }
    }

    pub(crate) fn record_free(&mut self, size: u32) {
        self.bytes_in_use = self.bytes_in_use.saturating_sub(u64::from(size));
    }

    pub(crate) fn record_pause(&mut self, pause: Duration) {
        self.total_pause += pause;
        self.longest_pause = self.longest_pause.max(pause);
    }

    pub(crate) fn record_collection(&mut self) {
        self.collections += 1;
        self.live_bytes_after_last_collection = self.bytes_in_use;
    }
}
