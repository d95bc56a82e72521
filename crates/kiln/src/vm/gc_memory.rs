//! GC heap memory for compiled code: a reservation of
//! `GC_HEAP_RESERVATION` bytes of which a prefix is accessible.
//!
//! Compiled code adds a 32-bit reference and a struct field offset below
//! 4 GiB to the base, so every struct access lands in the reservation and
//! either reads heap bytes or faults in the inaccessible rest, which traps.
//! The base never moves: the heap grows by making more of the reservation
//! accessible.

use super::mmap::Mmap;
use kiln_environ::vmoffsets::GC_HEAP_RESERVATION;
use kiln_gc::{GcError, HeapMemory};

pub struct MmapHeapMemory {
    mmap: Mmap,
    len: usize,
    capacity: usize,
}

impl MmapHeapMemory {
    /// A heap of `initial` bytes that may grow to `capacity` (at most
    /// 4 GiB, the range of a reference).
    pub fn new(initial: usize, capacity: usize) -> anyhow::Result<MmapHeapMemory> {
        let capacity = capacity.min(kiln_gc::MAX_HEAP_SIZE as usize);
        let mut mmap = Mmap::reserve(GC_HEAP_RESERVATION as usize)?;
        let initial = initial.min(capacity);
        mmap.make_accessible(0, initial)?;
        Ok(MmapHeapMemory { mmap, len: initial, capacity })
    }

    pub fn base(&self) -> *mut u8 {
        self.mmap.as_ptr()
    }
}

impl HeapMemory for MmapHeapMemory {
    fn bytes(&self) -> &[u8] {
        // SAFETY: the first `len` bytes of the mapping are accessible and
        // owned by this value; compiled code does not run while this borrow
        // lives (the heap is only touched from builtins and the host).
        unsafe { std::slice::from_raw_parts(self.mmap.as_ptr(), self.len) }
    }

    fn bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `bytes`, exclusively through `&mut self`.
        unsafe { std::slice::from_raw_parts_mut(self.mmap.as_ptr(), self.len) }
    }

    fn grow(&mut self, new_len: usize) -> kiln_gc::Result<()> {
        if new_len <= self.len {
            return Ok(());
        }
        if new_len > self.capacity {
            return Err(GcError::HeapLimit { requested: new_len as u64, limit: self.capacity as u64 });
        }
        let start = self.len.next_multiple_of(super::mmap::page_size());
        if new_len > start {
            self.mmap.make_accessible(start, new_len - start).map_err(|_| GcError::OutOfMemory { requested: new_len as u64 })?;
        }
        self.len = new_len;
        Ok(())
    }

    fn capacity(&self) -> usize {
        self.capacity
    }
}
