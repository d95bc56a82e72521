//! GC heap memory for compiled code: a reservation of
//! `GC_HEAP_RESERVATION` bytes of which a prefix is accessible.
//!
//! Compiled code adds a 32-bit reference and a struct field offset below
//! 4 GiB to the base, so every struct access lands in the reservation and
//! either reads heap bytes or faults in the inaccessible rest, which traps.
//! The base never moves: the heap grows by making more of the reservation
//! accessible. The reservation is the memory's own, or a slot of the
//! pooling allocator's GC heap region (which is exactly as large).
//!
//! Pages are backed on first touch, or ahead of it when a collector asks
//! (`HeapMemory::prefault`, bookkeeping in `prefault.rs`).

use super::mmap::{Mmap, discard, page_size};
use super::pool::{Reservation, Slot};
use super::prefault::{PREFAULT_STRETCH, Prefaulted, populate_write};
use kiln_environ::vmoffsets::GC_HEAP_RESERVATION;
use kiln_gc::{GcError, HeapMemory};
use std::cell::RefCell;
use std::ops::Range;

pub struct MmapHeapMemory {
    reservation: Reservation,
    /// For a pooled heap: the bytes `clear` zeroes in place rather than
    /// decommitting.
    keep_resident: Option<usize>,
    /// The stretches whose pages were all prefaulted and not discarded
    /// since (`HeapMemory::prefault`).
    prefaulted: RefCell<Prefaulted>,
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
        Ok(MmapHeapMemory { reservation, keep_resident, prefaulted: RefCell::default(), len: initial, capacity })
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
        // The last stretch, if the old end cut it short, is not all backed.
        self.prefaulted.get_mut().remove(self.len..self.len + 1);
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

    /// Backs the pages of the stretches `range` touches that are not yet
    /// (Linux's `MADV_POPULATE_WRITE`). Elsewhere, on a kernel without it,
    /// or when the kernel refuses (no memory), the pages fault in when
    /// written, as without the hint, and this returns `usize::MAX`.
    ///
    /// Whole stretches are backed, even where `range` covers part of one:
    /// a part would be backed again at every ask (the bookkeeping is per
    /// stretch), and the rest of a stretch is written soon in the heaps
    /// that ask (bump allocation, a copy's to-space).
    fn prefault(&self, range: Range<usize>) -> usize {
        let limit = self.len / page_size() * page_size();
        let end = range.end.next_multiple_of(PREFAULT_STRETCH).min(limit);
        let mut prefaulted = self.prefaulted.borrow_mut();
        if range.start >= end || prefaulted.unsupported {
            return usize::MAX;
        }
        for stretch in prefaulted.missing(range.start..end) {
            // SAFETY: the stretch is page-aligned accessible memory of this
            // heap (below `len`, rounded down to a page); backing its pages
            // changes no byte and invalidates no borrow.
            if unsafe { populate_write(self.base().add(stretch.start), stretch.len()) } {
                // A stretch cut short by the end of the memory counts as
                // whole until the memory grows (`grow` forgets it): else
                // it would be backed again at every ask.
                let whole_end = if stretch.end == limit { limit.next_multiple_of(PREFAULT_STRETCH) } else { stretch.end };
                prefaulted.insert(stretch.start..whole_end);
            } else {
                // EINVAL: a kernel before 5.14, which will never know the
                // advice; anything else may pass, so it is asked again.
                prefaulted.unsupported |= std::io::Error::last_os_error().raw_os_error() == Some(libc::EINVAL);
                return usize::MAX;
            }
        }
        prefaulted.backed_from(range.start).max(end)
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
        self.prefaulted.get_mut().remove(start..end);
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

    /// Prefaulting backs the whole stretches a range touches, keeps every
    /// byte and says how far from the range's start pages are backed;
    /// after a discard the same range is backed again, reading zero.
    #[test]
    #[cfg(target_os = "linux")]
    fn prefaulting_backs_pages_and_keeps_contents() {
        let len = 4 * PREFAULT_STRETCH;
        let mut memory = MmapHeapMemory::new(len, len).unwrap();
        let resident = |m: &MmapHeapMemory, range: Range<usize>| {
            let mut vec = vec![0u8; range.len().div_ceil(page_size())];
            // SAFETY: the range is page-aligned and mapped; `vec` has a
            // byte per page.
            assert_eq!(unsafe { libc::mincore(m.base().add(range.start).cast(), range.len(), vec.as_mut_ptr()) }, 0);
            vec.iter().all(|b| b & 1 == 1)
        };
        memory.bytes_mut()[5] = 7;
        memory.bytes_mut()[PREFAULT_STRETCH + 9] = 9;
        assert!(!resident(&memory, 2 * PREFAULT_STRETCH..3 * PREFAULT_STRETCH));
        let backed = memory.prefault(PREFAULT_STRETCH / 2..2 * PREFAULT_STRETCH + 1);
        if memory.prefaulted.borrow().unsupported {
            assert_eq!(backed, usize::MAX);
            return;
        }
        // Whole stretches: the run from the one holding the start.
        assert_eq!(backed, 3 * PREFAULT_STRETCH);
        assert!(resident(&memory, 0..3 * PREFAULT_STRETCH));
        assert!(!resident(&memory, 3 * PREFAULT_STRETCH..len));
        assert_eq!((memory.bytes()[5], memory.bytes()[PREFAULT_STRETCH + 9]), (7, 9));

        memory.discard(PREFAULT_STRETCH..2 * PREFAULT_STRETCH);
        assert!(!resident(&memory, PREFAULT_STRETCH..2 * PREFAULT_STRETCH));
        assert_eq!(memory.prefault(0..1), PREFAULT_STRETCH);
        assert_eq!(memory.prefault(PREFAULT_STRETCH..PREFAULT_STRETCH + 1), 3 * PREFAULT_STRETCH);
        assert_eq!((memory.bytes()[5], memory.bytes()[PREFAULT_STRETCH + 9]), (7, 0));
    }

    /// A stretch cut short by the memory's end is backed once, not at
    /// every ask, and again after the memory grows past it.
    #[test]
    #[cfg(target_os = "linux")]
    fn a_stretch_cut_short_by_the_end_is_remembered_until_growth() {
        let len = PREFAULT_STRETCH + 16 * page_size();
        let mut memory = MmapHeapMemory::new(len, 4 * PREFAULT_STRETCH).unwrap();
        memory.prefault(0..len);
        if memory.prefaulted.borrow().unsupported {
            return;
        }
        assert_eq!(memory.prefaulted.borrow().missing(0..len), vec![]);
        memory.grow(3 * PREFAULT_STRETCH).unwrap();
        assert_eq!(memory.prefaulted.borrow().missing(0..3 * PREFAULT_STRETCH), vec![PREFAULT_STRETCH..3 * PREFAULT_STRETCH]);
        assert_eq!(memory.prefault(len - 1..len), 2 * PREFAULT_STRETCH);
    }

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
