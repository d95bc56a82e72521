//! The pooling allocator's mechanism: regions reserved once, at engine
//! creation, and split into equal slots; and counted limits for the
//! resources that need no reserved memory of their own.
//!
//! Invariants:
//! - A slot is owned by at most one tenant (a memory or a GC heap) at a
//!   time; its guard returns it when dropped.
//! - A returned slot is reset before anyone gets it again: its first
//!   `keep_resident` bytes are zeroed in place, the rest of what the
//!   tenant touched is replaced by fresh anonymous pages (which also drops
//!   any copy-on-write image mapped there), and all of it is made
//!   inaccessible. A new tenant therefore sees zeros and faults beyond
//!   what it makes accessible, exactly as with a fresh reservation.
//! - A memory slot whose tenant had a copy-on-write image keeps it: the
//!   reset discards the tenant's private pages (the image's reappear, the
//!   rest reads zero) and makes what the tenant grew into inaccessible
//!   again, leaving the slot exactly as a new instance of the same module
//!   would set it up. The next tenant with that image and initial size
//!   needs no system call; any other tenant first replaces the prefix with
//!   fresh inaccessible pages ([`Slot::prepare`]).
//! - Resets are batched (`decommit_batch_size`): returned slots wait in a
//!   pending list, reset together when the list is full or when a slot is
//!   needed and none is free.
//! - Every operation takes the pool's lock: stores in different threads
//!   allocate from one engine's pools concurrently.

use super::mmap::{Mmap, page_size};
use anyhow::{Result, bail};
use std::sync::{Arc, Mutex};

/// A region of `count` slots of `slot_size` bytes.
pub struct SlotPool {
    region: Mmap,
    slot_size: usize,
    keep_resident: usize,
    batch: usize,
    /// For errors: what a slot holds and the knob that sets the count.
    what: &'static str,
    knob: &'static str,
    state: Mutex<PoolState>,
}

#[derive(Default)]
struct PoolState {
    /// Free slots, reset; the most recently freed last (reused first: its
    /// page tables are warm).
    free: Vec<u32>,
    /// Returned slots awaiting their reset, with how many bytes their
    /// tenant may have touched.
    pending: Vec<(u32, usize)>,
    /// What each slot holds between tenants.
    slots: Vec<SlotContents>,
}

/// A slot's contents between tenants, once reset: its first `accessible`
/// bytes are readable and writable and hold image `image` (zeros after
/// it); the rest is inaccessible and decommitted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SlotContents {
    pub image: Option<u64>,
    pub accessible: usize,
}

impl SlotPool {
    pub fn new(count: u32, slot_size: usize, keep_resident: usize, batch: usize, what: &'static str, knob: &'static str) -> Result<Arc<SlotPool>> {
        let slot_size = slot_size.next_multiple_of(page_size());
        let Some(total) = slot_size.checked_mul(count as usize) else {
            bail!("the pooling allocator cannot reserve {count} {what} slots of {slot_size} bytes: too large");
        };
        let region = Mmap::reserve(total)?;
        let free = (0..count).rev().collect();
        let slots = vec![SlotContents::default(); count as usize];
        Ok(Arc::new(SlotPool {
            region,
            slot_size,
            keep_resident: keep_resident.next_multiple_of(page_size()).min(slot_size),
            batch: batch.max(1),
            what,
            knob,
            state: Mutex::new(PoolState { free, pending: Vec::new(), slots }),
        }))
    }

    /// Takes a free slot (resetting pending ones if none is free).
    pub fn acquire(self: &Arc<Self>) -> Result<Slot> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if state.free.is_empty() {
            self.reset_pending(&mut state);
        }
        let Some(index) = state.free.pop() else {
            let total = self.region.len() / self.slot_size;
            bail!("all {total} {} slots of the pooling allocator are in use; raise `PoolingAllocationConfig::{}`", self.what, self.knob);
        };
        // SAFETY: `index` is below the slot count, so the offset is inside
        // the region.
        let base = unsafe { self.region.as_ptr().add(index as usize * self.slot_size) };
        let contents = state.slots[index as usize];
        Ok(Slot { pool: self.clone(), index, base, touched: contents.accessible, contents })
    }

    fn release(&self, index: u32, touched: usize, contents: SlotContents) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.slots[index as usize] = contents;
        state.pending.push((index, touched));
        if state.pending.len() >= self.batch {
            self.reset_pending(&mut state);
        }
    }

    fn reset_pending(&self, state: &mut PoolState) {
        for (index, touched) in std::mem::take(&mut state.pending) {
            let contents = &mut state.slots[index as usize];
            // A slot that cannot be reset (the kernel refused: out of
            // memory for page tables) is never handed out again.
            if self.reset(index, touched, contents).is_ok() {
                state.free.push(index);
            }
        }
    }

    /// Resets slot `index`, of which the first `touched` bytes may hold a
    /// tenant's data, to `contents` (see the module docs).
    fn reset(&self, index: u32, touched: usize, contents: &mut SlotContents) -> Result<()> {
        let start = index as usize * self.slot_size;
        let touched = touched.next_multiple_of(page_size()).min(self.slot_size);
        // SAFETY: `[start, start + touched)` is this slot's, no tenant owns
        // it (it was released), so no reference into it exists.
        let base = unsafe { self.region.as_ptr().add(start) };
        if contents.image.is_some() {
            let accessible = contents.accessible.min(touched);
            // SAFETY: as above; the prefix is the image's private mapping
            // and anonymous memory after it.
            unsafe {
                super::mmap::discard(base, touched)?;
                if touched > accessible && libc::mprotect(base.add(accessible).cast(), touched - accessible, libc::PROT_NONE) != 0 {
                    bail!("resetting a pool slot: {}", std::io::Error::last_os_error());
                }
            }
            return Ok(());
        }
        *contents = SlotContents::default();
        let keep = self.keep_resident.min(touched);
        // SAFETY: as above.
        unsafe {
            if keep > 0 {
                std::ptr::write_bytes(base, 0, keep);
            }
            super::mmap::decommit(base.add(keep), touched - keep)?;
            if keep > 0 && libc::mprotect(base.cast(), keep, libc::PROT_NONE) != 0 {
                bail!("resetting a pool slot: {}", std::io::Error::last_os_error());
            }
        }
        Ok(())
    }
}

/// A slot a tenant owns; returned to its pool on drop.
pub struct Slot {
    pool: Arc<SlotPool>,
    index: u32,
    base: *mut u8,
    /// The high-water mark of bytes made accessible: what a reset covers.
    touched: usize,
    /// What the slot holds (its previous tenant's reset contents until
    /// [`Slot::prepare`] or [`Slot::make_accessible`] change it).
    contents: SlotContents,
}

// SAFETY: the slot's memory is owned by its tenant alone; the pool behind
// the `Arc` synchronises with its lock.
unsafe impl Send for Slot {}
// SAFETY: as above; `&Slot` only exposes the address.
unsafe impl Sync for Slot {}

impl Slot {
    pub fn base(&self) -> *mut u8 {
        self.base
    }

    pub fn len(&self) -> usize {
        self.pool.slot_size
    }

    /// Makes `[start, start + len)` of the slot readable and writable.
    pub fn make_accessible(&mut self, start: usize, len: usize) -> Result<()> {
        if len == 0 {
            return Ok(());
        }
        assert!(start.is_multiple_of(page_size()) && start + len <= self.len(), "slot range outside the slot");
        let len = len.next_multiple_of(page_size()).min(self.len() - start);
        // SAFETY: the range lies inside this slot, which this value owns.
        if unsafe { libc::mprotect(self.base.add(start).cast(), len, libc::PROT_READ | libc::PROT_WRITE) } != 0 {
            bail!("mprotect failed: {}", std::io::Error::last_os_error());
        }
        self.touched = self.touched.max(start + len);
        Ok(())
    }

    /// Sets the slot up for a memory of `initial` accessible bytes whose
    /// data will come from image `image`: true if the slot already holds
    /// exactly that (a previous tenant's, reset), so the image need not be
    /// mapped again. Otherwise the previous contents are replaced by fresh
    /// pages first.
    pub fn prepare(&mut self, image: Option<u64>, initial: usize) -> Result<bool> {
        let wanted = SlotContents { image, accessible: initial.next_multiple_of(page_size()).min(self.len()) };
        if image.is_some() && self.contents == wanted {
            return Ok(true);
        }
        if self.contents.accessible > 0 {
            // SAFETY: the prefix is this slot's own, and nothing refers to
            // it yet.
            unsafe { super::mmap::decommit(self.base, self.contents.accessible)? };
        }
        self.contents = SlotContents::default();
        self.make_accessible(0, initial)?;
        self.contents.accessible = wanted.accessible;
        Ok(false)
    }

    /// Records that image `image` is now mapped at the slot's start.
    pub fn set_image(&mut self, image: u64) {
        self.contents.image = Some(image);
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.pool.release(self.index, self.touched, self.contents);
    }
}

/// A limit on live objects of one kind (instances, tables) that need no
/// reserved region.
pub struct CountedPool {
    limit: u32,
    used: Mutex<u32>,
    what: &'static str,
    knob: &'static str,
}

impl CountedPool {
    pub fn new(limit: u32, what: &'static str, knob: &'static str) -> Arc<CountedPool> {
        Arc::new(CountedPool { limit, used: Mutex::new(0), what, knob })
    }

    pub fn acquire(self: &Arc<Self>) -> Result<CountedSlot> {
        let mut used = self.used.lock().unwrap_or_else(|e| e.into_inner());
        if *used >= self.limit {
            bail!("all {} {} slots of the pooling allocator are in use; raise `PoolingAllocationConfig::{}`", self.limit, self.what, self.knob);
        }
        *used += 1;
        Ok(CountedSlot(self.clone()))
    }
}

/// One of a [`CountedPool`]'s slots, given back on drop.
pub struct CountedSlot(Arc<CountedPool>);

impl std::fmt::Debug for CountedSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CountedSlot({})", self.0.what)
    }
}

impl Drop for CountedSlot {
    fn drop(&mut self) {
        *self.0.used.lock().unwrap_or_else(|e| e.into_inner()) -= 1;
    }
}

/// Address space a memory lives in: its own mapping, or a pool's slot.
pub enum Reservation {
    Owned(Mmap),
    Pooled(Slot),
}

impl Reservation {
    pub fn base(&self) -> *mut u8 {
        match self {
            Reservation::Owned(mmap) => mmap.as_ptr(),
            Reservation::Pooled(slot) => slot.base(),
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Reservation::Owned(mmap) => mmap.len(),
            Reservation::Pooled(slot) => slot.len(),
        }
    }

    pub fn make_accessible(&mut self, start: usize, len: usize) -> Result<()> {
        match self {
            Reservation::Owned(mmap) => mmap.make_accessible(start, len),
            Reservation::Pooled(slot) => slot.make_accessible(start, len),
        }
    }
}

impl std::fmt::Debug for Reservation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = if matches!(self, Reservation::Owned(_)) { "Owned" } else { "Pooled" };
        f.debug_struct(kind).field("base", &self.base()).field("len", &self.len()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(slot: &mut Slot, len: usize, byte: u8) {
        slot.make_accessible(0, len).unwrap();
        // SAFETY: `len` bytes of the slot were just made accessible.
        unsafe { std::ptr::write_bytes(slot.base(), byte, len) };
    }

    fn bytes(slot: &mut Slot, len: usize) -> Vec<u8> {
        slot.make_accessible(0, len).unwrap();
        // SAFETY: as in `write`.
        unsafe { std::slice::from_raw_parts(slot.base(), len) }.to_vec()
    }

    #[test]
    fn a_reused_slot_reads_zeros_whether_kept_resident_or_decommitted() {
        let page = page_size();
        let pool = SlotPool::new(1, 4 * page, page, 1, "test", "total_tests").unwrap();
        let mut slot = pool.acquire().unwrap();
        write(&mut slot, 3 * page, 0xee);
        let base = slot.base();
        drop(slot);
        let mut again = pool.acquire().unwrap();
        assert_eq!(again.base(), base, "the one slot is reused");
        assert!(bytes(&mut again, 3 * page).iter().all(|b| *b == 0));
    }

    #[test]
    fn resets_wait_for_a_full_batch_or_for_a_slot_to_be_needed() {
        let pool = SlotPool::new(2, page_size(), 0, 3, "test", "total_tests").unwrap();
        let (a, b) = (pool.acquire().unwrap(), pool.acquire().unwrap());
        let err = pool.acquire().err().expect("both slots are taken").to_string();
        assert!(err.contains("all 2 test slots") && err.contains("total_tests"), "{err}");
        drop(a);
        drop(b);
        assert_eq!(pool.state.lock().unwrap().pending.len(), 2, "below the batch size, the resets wait");
        let mut slot = pool.acquire().expect("a pending slot is reset when needed");
        assert!(bytes(&mut slot, 8).iter().all(|b| *b == 0));
        assert!(pool.state.lock().unwrap().pending.is_empty());
    }
}
