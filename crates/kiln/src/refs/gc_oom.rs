//! `GcHeapOutOfMemory`: what a collection may be told about the
//! allocation that prompted it.

use std::fmt;

/// A GC allocation of `bytes_needed` bytes that did not fit, carrying
/// `inner` (what the allocation was for).
pub struct GcHeapOutOfMemory<T> {
    inner: T,
    bytes_needed: u64,
}

impl<T> GcHeapOutOfMemory<T> {
    pub fn new(inner: T, bytes_needed: u64) -> GcHeapOutOfMemory<T> {
        GcHeapOutOfMemory { inner, bytes_needed }
    }

    pub fn bytes_needed(&self) -> u64 {
        self.bytes_needed
    }

    pub fn inner(&self) -> &T {
        &self.inner
    }

    pub fn into_inner(self) -> T {
        self.inner
    }
}

impl<T> fmt::Debug for GcHeapOutOfMemory<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GcHeapOutOfMemory").field("bytes_needed", &self.bytes_needed).finish_non_exhaustive()
    }
}

impl<T> fmt::Display for GcHeapOutOfMemory<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "GC heap out of memory: an allocation of {} bytes did not fit", self.bytes_needed)
    }
}

impl<T> std::error::Error for GcHeapOutOfMemory<T> {}
