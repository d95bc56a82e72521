//! GC heap memory for compiled code: a reservation of
//! `GC_HEAP_RESERVATION` bytes of which a prefix is accessible.
//!
//! Compiled code adds a 32-bit reference and a struct field offset below
//! 4 GiB to the base, so every struct access lands in the reservation and
//! either reads heap bytes or faults in the inaccessible rest, which traps.
//! The base never moves: the heap grows by making more of the reservation
//! accessible. The reservation is the memory's own, or a slot of the
//! pooling allocator's GC heap region (which is exactly as large).

use super::mmap::{Mmap, discard, page_size};
use super::pool::{Reservation, Slot};
use kiln_environ::vmoffsets::GC_HEAP_RESERVATION;
use kiln_gc::{GcError, HeapMemory};

pub struct MmapHeapMemory {
    reservation: Reservation,
    /// For a pooled heap: the bytes `clear` zeroes in place rather than
    /// decommitting.
    keep_resident: Option<usize>,
    len: usize,
    capacity: usize,
}

impl MmapHeapMemory {
    /// A heap of `initial` bytes that may grow to `capacity` (at most
    /// 4 GiB, the range of a reference).
    pub fn new(initial: usize, capacity: usize) -> anyhow::Result<MmapHeapMemory> {
        let mmap = Mmap::reserve(GC_HEAP_RESERVATION as usize)?;
        MmapHeapMemory::with(Reservation::Owned(mmap), None, initial, capacity)
    }

    /// The same in a pool slot (of `GC_HEAP_RESERVATION` bytes); clearing
    /// it keeps `keep_resident` bytes and decommits the rest.
    pub fn in_slot(slot: Slot, initial: usize, capacity: usize, keep_resident: usize) -> anyhow::Result<MmapHeapMemory> {
        assert!(slot.len() >= GC_HEAP_RESERVATION as usize, "GC heap slots are whole reservations");
        MmapHeapMemory::with(Reservation::Pooled(slot), Some(keep_resident), initial, capacity)
    }

    fn with(mut reservation: Reservation, keep_resident: Option<usize>, initial: usize, capacity: usize) -> anyhow::Result<MmapHeapMemory> {
        let capacity = capacity.min(kiln_gc::MAX_HEAP_SIZE as usize);
        let initial = initial.min(capacity);
        reservation.make_accessible(0, initial)?;
        Ok(MmapHeapMemory { reservation, keep_resident, len: initial, capacity })
    }

    pub fn base(&self) -> *mut u8 {
        self.reservation.base()
    }
}

impl HeapMemory for MmapHeapMemory {
    fn bytes(&self) -> &[u8] {
        // SAFETY: the first `len` bytes of the reservation are accessible
        // and owned by this value; compiled code does not run while this
        // borrow lives (the heap is only touched from builtins and the
        // host).
        unsafe { std::slice::from_raw_parts(self.base(), self.len) }
    }

    fn bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `bytes`, exclusively through `&mut self`.
        unsafe { std::slice::from_raw_parts_mut(self.base(), self.len) }
    }

    fn grow(&mut self, new_len: usize) -> kiln_gc::Result<()> {
        if new_len <= self.len {
            return Ok(());
        }
        if new_len > self.capacity {
            return Err(GcError::HeapLimit { requested: new_len as u64, limit: self.capacity as u64 });
        }
        let start = self.len.next_multiple_of(page_size());
        if new_len > start {
            self.reservation.make_accessible(start, new_len - start).map_err(|_| GcError::OutOfMemory { requested: new_len as u64 })?;
        }
        self.len = new_len;
        Ok(())
    }

    fn capacity(&self) -> usize {
        self.capacity
    }

    /// A mapping of its own, accessible at once and backed by the kernel's
    /// zero pages until written.
    fn side_table(&self, len: usize) -> Option<Box<dyn HeapMemory>> {
        let table = MmapHeapMemory::with(Reservation::Owned(Mmap::reserve(len).ok()?), None, len, len).ok()?;
        Some(Box::new(table))
    }

    /// The whole pages of `range` go back to the system; the bytes of the
    /// partial pages at its ends are zeroed in place.
    fn discard(&mut self, range: std::ops::Range<usize>) {
        let end = range.end.min(self.len);
        let start = range.start.min(end);
        let (first, last) = (start.next_multiple_of(page_size()).min(end), end / page_size() * page_size());
        if first >= last {
            self.bytes_mut()[start..end].fill(0);
            return;
        }
        self.bytes_mut()[start..first].fill(0);
        self.bytes_mut()[last..end].fill(0);
        // SAFETY: `[first, last)` is page-aligned anonymous memory of this
        // heap (it reads zero again), and nothing borrows it (we hold
        // `&mut self`).
        if unsafe { discard(self.base().add(first), last - first) }.is_err() {
            self.bytes_mut()[first..last].fill(0);
        }
    }

    /// A pooled heap zeroes its first `keep_resident` bytes in place and
    /// gives the rest back to the system (it reads as zeros when touched
    /// again), an owned one gives back everything (a large object at the
    /// top of the capacity makes its length the whole capacity). The
    /// length stays: the pages cost nothing until used.
    fn clear(&mut self) {
        let keep = self.keep_resident.unwrap_or(0).next_multiple_of(page_size()).min(self.len);
        self.bytes_mut()[..keep].fill(0);
        // Contents must not survive either way: `discard` zeroes in place
        // should the kernel refuse.
        self.discard(keep..self.len);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vm::pool::SlotPool;

    /// A side table (the card table) is zeroed, as long as asked, and
    /// writable throughout; clearing it zeroes it again.
    #[test]
    fn side_tables_are_zeroed_writable_mappings() {
        let memory = MmapHeapMemory::new(page_size(), 1 << 30).unwrap();
        let len = (1 << 30) / 512;
        let mut table = memory.side_table(len).unwrap();
        assert_eq!(table.len(), len);
        assert!(table.bytes().iter().all(|b| *b == 0));
        table.bytes_mut()[0] = 1;
        table.bytes_mut()[len - 1] = 1;
        table.clear();
        assert!(table.bytes().iter().all(|b| *b == 0));
    }

    /// A pooled heap's memory, cleared for the next tenant: the kept
    /// prefix zeroed in place, the rest discarded; every byte reads zero,
    /// growing further too.
    #[test]
    fn clearing_a_pooled_heap_leaves_no_old_bytes() {
        let page = page_size();
        let pool = SlotPool::new(1, GC_HEAP_RESERVATION as usize, 0, 1, "GC heap", "total_gc_heaps").unwrap();
        let mut memory = MmapHeapMemory::in_slot(pool.acquire().unwrap(), page, 64 * page, page).unwrap();
        memory.grow(8 * page).unwrap();
        memory.bytes_mut().fill(0xee);
        memory.clear();
        assert!(memory.bytes().iter().all(|b| *b == 0));
        memory.grow(16 * page).unwrap();
        assert!(memory.bytes().iter().all(|b| *b == 0), "discarded pages come back zeroed");
    }
}
