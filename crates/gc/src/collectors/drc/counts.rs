//! DRC's reference counts, in side memory: one `u32` per 16-byte granule
//! of the heap, entry `offset >> DRC_COUNT_SHIFT` for the object at
//! `offset`. Objects are at least 16 bytes, so no two share an entry; the
//! entries of free blocks are meaningless until an allocation sets them.
//!
//! The header has no room for a count, and side memory keeps counts out of
//! reach of heap contents: a corrupt heap cannot forge one. Compiled
//! code's barriers reach the table through the store context
//! (`GcHeap::ref_count_table`); it moves only when the heap grows, which
//! happens outside Wasm code.

use crate::{GcError, Result};
use kiln_environ::gc_layout::DRC_COUNT_SHIFT;

#[derive(Debug, Default)]
pub(super) struct RefCounts {
    counts: Vec<u32>,
}

impl RefCounts {
    /// Makes the table cover a heap ending at `end` (new entries zero).
    pub(super) fn cover(&mut self, end: u64) {
        let len = usize::try_from(end >> DRC_COUNT_SHIFT).unwrap_or(usize::MAX);
        if len > self.counts.len() {
            // A fresh zeroed allocation (lazily backed for large tables)
            // rather than `resize`, which would write every new entry.
            let mut counts = vec![0; len];
            counts[..self.counts.len()].copy_from_slice(&self.counts);
            self.counts = counts;
        }
    }

    fn index(&self, obj: u32) -> Result<usize> {
        let i = (obj >> DRC_COUNT_SHIFT) as usize;
        if i < self.counts.len() { Ok(i) } else { Err(GcError::corrupt("object outside the counted heap", obj)) }
    }

    /// The count of the object at `obj`.
    pub(super) fn get(&self, obj: u32) -> Result<u32> {
        Ok(self.counts[self.index(obj)?])
    }

    pub(super) fn set(&mut self, obj: u32, count: u32) -> Result<()> {
        let i = self.index(obj)?;
        self.counts[i] = count;
        Ok(())
    }

    /// The table's first entry and its length, for compiled code.
    pub(super) fn table(&mut self) -> (*mut u32, usize) {
        (self.counts.as_mut_ptr(), self.counts.len())
    }
}
