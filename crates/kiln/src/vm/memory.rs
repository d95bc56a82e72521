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
//!
//! A *shared* memory (threads proposal) is used by several threads at
//! once, each with its own store: it reserves its maximum size up front so
//! that it never moves, grows through `&self` under a lock, and publishes
//! its length atomically. Its bytes are only ever reached through raw
//! pointers (Wasm on other threads writes them concurrently), never
//! through a Rust slice.

use super::mmap::{Mmap, page_size};
use super::pool::{Reservation, Slot};
use anyhow::{Result, bail};
use kiln_environ::MemoryType;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// What compiled code reads: see `vmoffsets::memory`. First field of
/// [`LinearMemory`], so a pointer to one is a pointer to the other.
#[repr(C)]
#[derive(Debug)]
pub struct VMMemoryDefinition {
    pub base: *mut u8,
    /// Atomic because another thread may grow a shared memory while this
    /// one reads its length; it only ever increases.
    pub current_length: AtomicUsize,
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
    /// Serializes the growth of a shared memory (`ty.shared`).
    grow_lock: Mutex<()>,
}

// SAFETY: the raw base pointer points into `reservation`, owned by this
// value.
unsafe impl Send for LinearMemory {}
// SAFETY: through `&self`, only a shared memory changes (its length, under
// `grow_lock`, atomically; its bytes through raw pointers, as Wasm's own
// accesses from several threads do); the base never moves.
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
                // A shared memory cannot move: it reserves its maximum.
                let len = match guard_pages {
                    true => GUARD_RESERVATION,
                    false if ty.shared => usize::try_from(max_bytes).unwrap_or(usize::MAX),
                    false => initial as usize,
                };
                let mmap = Mmap::reserve(len.max(page_size()))?;
                mmap.make_accessible(0, initial as usize)?;
                (Reservation::Owned(mmap), None)
            }
        };
        let base = reservation.base();
        let def = VMMemoryDefinition { base, current_length: AtomicUsize::new(initial as usize) };
        Ok(Box::new(LinearMemory { def, reservation, ty, max_bytes, guard_pages, image, grow_lock: Mutex::new(()) }))
    }

    /// Creates a shared memory of `ty.minimum` pages: `ty` must be shared
    /// and have a maximum (validation requires both of a module's shared
    /// memories).
    pub fn new_shared(ty: MemoryType, guard_pages: bool, limit_bytes: u64) -> Result<Box<LinearMemory>> {
        if !ty.shared || ty.maximum.is_none() {
            bail!("a shared memory must be declared `shared` and have a maximum size");
        }
        LinearMemory::with(ty, guard_pages, limit_bytes, None, None)
    }

    pub fn is_shared(&self) -> bool {
        self.ty.shared
    }

    pub fn ty(&self) -> MemoryType {
        self.ty
    }

    pub fn byte_size(&self) -> usize {
        self.def.current_length.load(Ordering::Acquire)
    }

    pub fn pages(&self) -> u64 {
        (self.byte_size() as u64) >> self.ty.page_size_log2
    }

    /// The native address of `[start, start + len)`, if that lies in the
    /// memory. Writing through it is sound for a shared memory too: the
    /// bytes are never behind a Rust reference (see the module docs).
    pub fn range_ptr(&self, start: u64, len: u64) -> Option<*mut u8> {
        let end = start.checked_add(len)?;
        // SAFETY: `start <= end <= byte_size()`, inside the reservation.
        (end <= self.byte_size() as u64).then(|| unsafe { self.def.base.add(start as usize) })
    }

    /// Copies `bytes` to `offset`; false if that is out of bounds.
    pub fn write_at(&self, offset: u64, bytes: &[u8]) -> bool {
        let Some(dst) = self.range_ptr(offset, bytes.len() as u64) else { return false };
        // SAFETY: the range is accessible (checked above) and cannot
        // overlap `bytes`, which no Rust reference into this memory is.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), dst, bytes.len()) };
        true
    }

    /// Grows an unshared memory by `delta` pages, returning the old size in
    /// pages, or `None` if the memory cannot grow that much (which Wasm
    /// sees as -1). A shared memory grows through `grow_shared`.
    pub fn grow(&mut self, delta: u64) -> Option<u64> {
        debug_assert!(!self.is_shared(), "a shared memory grows through `&self`");
        let old_pages = self.pages();
        let page = 1u64 << self.ty.page_size_log2;
        let new_bytes = old_pages.checked_add(delta)?.checked_mul(page)?;
        if new_bytes > self.max_bytes {
            return None;
        }
        let new_bytes = new_bytes as usize;
        let old_bytes = self.byte_size();
        if new_bytes > self.reservation.len() {
            // Pooled memories are capped at their slot (`max_bytes`).
            debug_assert!(!self.guard_pages, "guard-page memories never outgrow their reservation");
            // Move to a reservation with room to grow again without copying.
            let bigger = Mmap::reserve(new_bytes.max(self.reservation.len().saturating_mul(2)).min(self.max_bytes as usize)).ok()?;
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
        self.def.current_length.store(new_bytes, Ordering::Release);
        Some(old_pages)
    }

    /// `grow` for a shared memory, which other threads may be growing or
    /// using: it never moves (its maximum is reserved), so growing only
    /// makes pages accessible and then publishes the new length.
    pub fn grow_shared(&self, delta: u64) -> Option<u64> {
        debug_assert!(self.is_shared());
        let _growing = self.grow_lock.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let old_bytes = self.byte_size();
        let page = 1u64 << self.ty.page_size_log2;
        let old_pages = old_bytes as u64 >> self.ty.page_size_log2;
        let new_bytes = old_pages.checked_add(delta)?.checked_mul(page)?;
        if new_bytes > self.max_bytes || new_bytes as usize > self.reservation.len() {
            return None;
        }
        let Reservation::Owned(mmap) = &self.reservation else { return None };
        let start = old_bytes.next_multiple_of(page_size());
        if new_bytes as usize > start {
            mmap.make_accessible(start, new_bytes as usize - start).ok()?;
        }
        self.def.current_length.store(new_bytes as usize, Ordering::Release);
        Some(old_pages)
    }

    /// Maps `image` over this memory's first pages, copy-on-write. The
    /// memory must be new: untouched since it was made.
    pub fn map_image(&mut self, image: &super::memory_image::MemoryImage) -> Result<()> {
        if self.image == Some(image.id()) {
            // A pool slot that already held it (see `vm/pool.rs`).
            return Ok(());
        }
        if image.len() > self.byte_size() {
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

    /// The bytes of an unshared memory (a shared one's are reached
    /// through `range_ptr`: other threads write them).
    pub fn data(&self) -> &[u8] {
        assert!(!self.is_shared(), "the bytes of a shared memory are not a slice");
        // SAFETY: the first `byte_size()` bytes are accessible and owned
        // by this memory, which no other thread uses; Wasm does not run
        // while this borrow lives.
        unsafe { std::slice::from_raw_parts(self.def.base, self.byte_size()) }
    }

    pub fn data_mut(&mut self) -> &mut [u8] {
        assert!(!self.is_shared(), "the bytes of a shared memory are not a slice");
        // SAFETY: as in `data`, with exclusive access through `&mut self`.
        unsafe { std::slice::from_raw_parts_mut(self.def.base, self.byte_size()) }
    }
}
