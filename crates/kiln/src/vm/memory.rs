//! Linear memories.
//!
//! A memory is a reservation of address space whose first
//! `current_length` bytes are accessible. With guard pages (32-bit
//! memories) the reservation is 8 GiB plus a page, so every
//! `base + index + offset` compiled code can form lands inside it and
//! faults when out of bounds; the memory never moves. With explicit bounds
//! checks the reservation is only what is needed and the memory moves to a
//! larger one when it outgrows it (compiled code reloads the base on every
//! access).

use super::mmap::{Mmap, page_size};
use super::pool::{Reservation, Slot};
use anyhow::{Result, bail};
use kiln_environ::MemoryType;

/// What compiled code reads: see `vmoffsets::memory`. First field of
/// [`LinearMemory`], so a pointer to one is a pointer to the other.
#[repr(C)]
#[derive(Debug)]
pub struct VMMemoryDefinition {
    pub base: *mut u8,
    pub current_length: usize,
}

#[repr(C)]
#[derive(Debug)]
pub struct LinearMemory {
    pub def: VMMemoryDefinition,
    reservation: Reservation,
    ty: MemoryType,
    /// Largest size in bytes this memory may grow to.
    max_bytes: u64,
    guard_pages: bool,
    /// The copy-on-write image mapped at the start, if any.
    image: Option<u64>,
}

// SAFETY: the raw base pointer points into `mmap`, owned by this value.
unsafe impl Send for LinearMemory {}
// SAFETY: shared access only reads the definition.
unsafe impl Sync for LinearMemory {}

/// Reservation for a 32-bit memory with guard pages: any 32-bit index plus
/// any 32-bit offset plus an access of up to 16 bytes.
pub(crate) const GUARD_RESERVATION: usize = (8 << 30) + (64 << 10);

impl LinearMemory {
    /// Creates a memory of `ty.minimum` pages. `limit_bytes` caps growth
    /// (the engine's configured maximum).
    pub fn new(ty: MemoryType, guard_pages: bool, limit_bytes: u64) -> Result<Box<LinearMemory>> {
        LinearMemory::with(ty, guard_pages, limit_bytes, None, None)
    }

    /// The same in a pool's slot: it never moves, and grows at most to the
    /// slot's size. `image` is the image the memory will be given: a slot
    /// that already holds it is used as it is.
    pub fn in_slot(ty: MemoryType, guard_pages: bool, limit_bytes: u64, slot: Slot, image: Option<&super::memory_image::MemoryImage>) -> Result<Box<LinearMemory>> {
        let limit = limit_bytes.min(slot.len() as u64);
        let image = image.map(|i| i.id());
        LinearMemory::with(ty, guard_pages, limit, Some(slot), image).map_err(|e| e.context("the memory does not fit a pooling allocator slot (`PoolingAllocationConfig::max_memory_size`)"))
    }

    fn with(ty: MemoryType, guard_pages: bool, limit_bytes: u64, slot: Option<Slot>, image: Option<u64>) -> Result<Box<LinearMemory>> {
        let page = 1u64 << ty.page_size_log2;
        let index_max = ty.max_pages_for_index_type().saturating_mul(page);
        let declared_max = ty.maximum.map_or(u64::MAX, |m| m.saturating_mul(page));
        let max_bytes = declared_max.min(index_max).min(limit_bytes);
        let initial = ty.minimum.checked_mul(page).filter(|b| *b <= max_bytes);
        let Some(initial) = initial else {
            bail!("memory minimum size of {} pages exceeds the limit of {} bytes", ty.minimum, max_bytes);
        };
        // Compiled code checks the bounds of 64-bit and small-page memories
        // (`heap_address`): they need no guard region.
        let guard_pages = guard_pages && !ty.memory64 && ty.page_size_log2 >= 16;
        let (reservation, image) = match slot {
            Some(mut slot) => {
                let mapped = slot.prepare(image, initial as usize)?;
                (Reservation::Pooled(slot), image.filter(|_| mapped))
            }
            None => {
                let mut mmap = Mmap::reserve(if guard_pages { GUARD_RESERVATION } else { (initial as usize).max(page_size()) })?;
                mmap.make_accessible(0, initial as usize)?;
                (Reservation::Owned(mmap), None)
            }
        };
        let base = reservation.base();
        Ok(Box::new(LinearMemory { def: VMMemoryDefinition { base, current_length: initial as usize }, reservation, ty, max_bytes, guard_pages, image }))
    }

    pub fn ty(&self) -> MemoryType {
        self.ty
    }

    pub fn byte_size(&self) -> usize {
        self.def.current_length
    }

    pub fn pages(&self) -> u64 {
        (self.def.current_length as u64) >> self.ty.page_size_log2
    }

    /// Grows by `delta` pages, returning the old size in pages, or `None`
    /// if the memory cannot grow that much (which Wasm sees as -1).
    pub fn grow(&mut self, delta: u64) -> Option<u64> {
        let old_pages = self.pages();
        let page = 1u64 << self.ty.page_size_log2;
        let new_bytes = old_pages.checked_add(delta)?.checked_mul(page)?;
        if new_bytes > self.max_bytes {
            return None;
        }
        let new_bytes = new_bytes as usize;
        let old_bytes = self.def.current_length;
        if new_bytes > self.reservation.len() {
            // Pooled memories are capped at their slot (`max_bytes`).
            debug_assert!(!self.guard_pages, "guard-page memories never outgrow their reservation");
            // Move to a reservation with room to grow again without copying.
            let mut bigger = Mmap::reserve(new_bytes.max(self.reservation.len().saturating_mul(2)).min(self.max_bytes as usize)).ok()?;
            bigger.make_accessible(0, new_bytes).ok()?;
            // SAFETY: both ranges are accessible, `old_bytes` long, and in
            // distinct mappings.
            unsafe { std::ptr::copy_nonoverlapping(self.reservation.base(), bigger.as_ptr(), old_bytes) };
            self.reservation = Reservation::Owned(bigger);
            self.def.base = self.reservation.base();
            self.image = None;
        } else {
            let start = old_bytes.next_multiple_of(page_size());
            if new_bytes > start {
                self.reservation.make_accessible(start, new_bytes - start).ok()?;
            }
        }
        self.def.current_length = new_bytes;
        Some(old_pages)
    }

    /// Maps `image` over this memory's first pages, copy-on-write. The
    /// memory must be new: untouched since it was made.
    pub fn map_image(&mut self, image: &super::memory_image::MemoryImage) -> Result<()> {
        if self.image == Some(image.id()) {
            // A pool slot that already held it (see `vm/pool.rs`).
            return Ok(());
        }
        if image.len() > self.def.current_length {
            bail!("a memory image larger than its memory");
        }
        // SAFETY: the image's range is an accessible page-aligned prefix of
        // this memory (checked above), which the caller says holds nothing
        // yet; `&mut self` rules out references into it.
        unsafe { image.map_at(self.def.base)? };
        self.image = Some(image.id());
        if let Reservation::Pooled(slot) = &mut self.reservation {
            slot.set_image(image.id());
        }
        Ok(())
    }

    /// Called when instantiation failed before applying data segments: a
    /// memory whose pool slot already held its image (see `vm/pool.rs`)
    /// must not show data the spec never wrote, so it is zeroed.
    pub fn hide_premapped_image(&mut self) {
        if self.image.take().is_some() {
            self.data_mut().fill(0);
        }
    }

    pub fn data(&self) -> &[u8] {
        // SAFETY: the first `current_length` bytes are accessible and owned
        // by this memory; Wasm does not run while this borrow lives.
        unsafe { std::slice::from_raw_parts(self.def.base, self.def.current_length) }
    }

    pub fn data_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `data`, with exclusive access through `&mut self`.
        unsafe { std::slice::from_raw_parts_mut(self.def.base, self.def.current_length) }
    }
}
