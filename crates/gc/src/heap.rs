//! The `GcHeap` trait: one store's GC heap, as the runtime sees it.
//!
//! Every method that touches heap contents returns `Result`: the heap's
//! bytes are untrusted, so each validates what it reads and fails with an
//! error (never a panic) when the contents make no sense. The
//! provided methods here (object access, field reads and writes) are
//! written once over the required ones, so every collector checks object
//! accesses the same way.
//!
//! Reference-handling rules, which the runtime must follow for the
//! collectors' bookkeeping to be right (breaking them can leak objects or
//! free them early, but never breaks memory safety):
//! - A `VMGcRef` returned by an allocation or by `clone_gc_ref` /
//!   `read_gc_ref_field` is *owned*: it must end in `drop_gc_ref`,
//!   `expose_gc_ref_to_wasm`, or a slot that is itself counted (via
//!   `write_gc_ref`).
//! - A slot that holds references for the heap, a table, a global or a host
//!   handle is only ever written through `write_gc_ref`.
//! - A reference handed to Wasm code goes through `expose_gc_ref_to_wasm`.

use crate::header::{object, read_field_u32};
use crate::memory::{copy_within, slice, slice_mut, write_u32};
use crate::{
    Collector, GcError, GcRoots, GcStats, HeapMemory, HostDataId, HostDataTable, Result, VMGcHeader, VMGcKind, VMGcRef, VerifyReport,
};
use kiln_environ::gc_layout::{
    ARRAY_ELEMS_MIN_OFFSET, ARRAY_LENGTH_OFFSET, EXTERNREF_HOST_DATA_GENERATION_OFFSET, EXTERNREF_HOST_DATA_INDEX_OFFSET, EXTERNREF_SIZE,
    GC_REF_SIZE, HEADER_SIZE,
};

/// Units of work per step used by [`GcHeap::collect_all`] and
/// [`GarbageCollection::finish`].
pub const DEFAULT_STEP_BUDGET: u32 = 4096;

/// Where a collection is after a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GcProgress {
    Continue,
    Complete,
}

impl GcProgress {
    /// What a step that met `errors` (the first is kept) returns, the
    /// collection being `done` or not.
    pub(crate) fn after_step(errors: Option<GcError>, done: bool) -> Result<GcProgress> {
        match errors {
            Some(e) => Err(e),
            None if done => Ok(GcProgress::Complete),
            None => Ok(GcProgress::Continue),
        }
    }
}

/// A collection in progress: a sequence of bounded steps, so an async
/// embedder can yield between them. The collection borrows the heap, the
/// roots and the host-data table, so nothing else touches them until it is
/// dropped.
///
/// A unit of work is one root examined, one entry of a collector's root
/// log reconciled, one reference slot visited or one object freed or
/// copied. A step does at most `budget` units (and at least one while work
/// remains, so any budget finishes).
///
/// A step that meets corrupt heap contents returns the error after
/// skipping past them; stepping again continues with the rest. Dropping an
/// unfinished collection leaves the heap consistent: work left over is done
/// by a later collection, or, for a moving collector whose roots already
/// point into both spaces, by the drop itself (which then finishes the
/// collection; a collection dropped before its first step changes nothing).
pub trait GarbageCollection {
    fn step(&mut self, budget: u32) -> Result<GcProgress>;

    /// Units of work done so far.
    fn work_done(&self) -> u64;

    /// Steps until complete, through errors (each step makes progress, so
    /// this ends), and returns the first error met.
    fn finish(&mut self) -> Result<()> {
        let mut first_err = None;
        loop {
            match self.step(DEFAULT_STEP_BUDGET) {
                Ok(GcProgress::Complete) => break,
                Ok(GcProgress::Continue) => {}
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        first_err.map_or(Ok(()), Err)
    }
}

pub trait GcHeap: Send {
    fn collector(&self) -> Collector;

    /// The memory holding the heap (the runtime reads its base and length
    /// for compiled code).
    fn memory(&self) -> &dyn HeapMemory;
    fn memory_mut(&mut self) -> &mut dyn HeapMemory;

    // ----- Allocation. New objects are zeroed: "uninitialised" means every
    // field holds zero (null), so the object can be traced at once; the
    // caller then initialises the fields with `write_data` and
    // `write_gc_ref_field`. Out of memory is `Err(OutOfMemory)`: the caller
    // collects or grows the heap and retries.

    /// Allocates `size` bytes (rounded up to a multiple of 8) for an object
    /// with `header`'s kind and type. The caller vouches that `size` fits
    /// the type (tracing checks it anyway).
    fn alloc_raw(&mut self, header: VMGcHeader, size: u32) -> Result<VMGcRef>;

    /// A struct of engine type `type_index`, every field zero.
    fn alloc_uninit_struct(&mut self, type_index: u32) -> Result<VMGcRef>;

    /// An array of engine type `type_index` with `len` zero elements.
    fn alloc_uninit_array(&mut self, type_index: u32, len: u32) -> Result<VMGcRef>;

    /// An externref object holding `host_data`'s id.
    fn alloc_externref(&mut self, host_data: HostDataId) -> Result<VMGcRef> {
        let r = self.alloc_raw(VMGcHeader::externref(), EXTERNREF_SIZE)?;
        let obj = u64::from(r.as_raw_u32());
        let mem = self.memory_mut().bytes_mut();
        write_u32(mem, obj + u64::from(EXTERNREF_HOST_DATA_INDEX_OFFSET), host_data.index())?;
        write_u32(mem, obj + u64::from(EXTERNREF_HOST_DATA_GENERATION_OFFSET), host_data.generation())?;
        Ok(r)
    }

    // ----- Barriers. i31 references pass through all of them untouched.
    // The provided bodies are those of a collector that does not count
    // references (`counts_references` false): plain copies. A collector
    // that counts overrides all four, and `counts_references`.

    /// A new owned copy of `r`.
    fn clone_gc_ref(&mut self, r: &VMGcRef) -> Result<VMGcRef> {
        Ok(r.unchecked_copy())
    }

    /// Gives up the owned reference `r`; may free objects (and drop host
    /// data of freed externrefs).
    fn drop_gc_ref(&mut self, host_data: &mut HostDataTable, r: VMGcRef) -> Result<()> {
        let _ = (host_data, r);
        Ok(())
    }

    /// Stores a copy of `src` in the counted slot `dest` (a heap field, a
    /// table element, a global, a host handle), releasing what it held.
    fn write_gc_ref(&mut self, host_data: &mut HostDataTable, dest: &mut Option<VMGcRef>, src: Option<&VMGcRef>) -> Result<()> {
        let _ = host_data;
        *dest = src.map(VMGcRef::unchecked_copy);
        Ok(())
    }

    /// Hands the owned reference `r` to Wasm code: the caller passes
    /// `r.as_raw_u32()` on and the heap takes over `r`.
    fn expose_gc_ref_to_wasm(&mut self, r: VMGcRef) -> Result<()> {
        let _ = r;
        Ok(())
    }

    // ----- Collection and housekeeping.

    /// Starts a collection; see [`GarbageCollection`].
    fn collect<'a>(&'a mut self, roots: GcRoots<'a>, host_data: &'a mut HostDataTable) -> Box<dyn GarbageCollection + 'a>;

    /// Empties the heap for reuse by another store: every object is gone,
    /// statistics restart. With `zero`, the memory is zeroed too (defence
    /// in depth: a bug could otherwise show the next store old data).
    /// Host data belongs to the old store's table, not to the heap.
    fn reset(&mut self, zero: bool);

    /// Grows the heap memory by `additional` bytes, in place (the memory's
    /// base does not move). How much of it becomes allocation room at once
    /// is the collector's business: all of it for null and DRC, about half
    /// for copying (the rest enlarges the reserve the next collection
    /// copies into).
    fn grow(&mut self, additional: u64) -> Result<()>;

    fn stats(&self) -> GcStats;

    /// The region compiled code may bump-allocate from directly, as
    /// `(next, end)` offsets, for collectors whose allocation is a bump
    /// cursor. Objects compiled code allocates there are written by it in
    /// full (header included) before the cursor is handed back with
    /// [`GcHeap::set_bump_next`].
    fn bump_region(&self) -> Option<(u32, u32)> {
        None
    }

    /// Does the collector count references (so that every copy of a
    /// reference outside Wasm's stack must go through the barriers)? When
    /// false, `clone_gc_ref`, `drop_gc_ref`, `write_gc_ref` and
    /// `expose_gc_ref_to_wasm` are plain copies, and callers may skip them.
    fn counts_references(&self) -> bool {
        false
    }

    /// The reference count of the object `r` refers to, for a collector
    /// that counts references (tests and diagnostics).
    fn ref_count(&self, r: &VMGcRef) -> Result<Option<u32>> {
        let _ = r;
        Ok(None)
    }

    /// Does the collector want a collection before the next allocation,
    /// although the heap is not full (DRC: its root log grew too long)?
    fn collection_due(&self) -> bool {
        false
    }

    /// A generational collector's card table: one byte per
    /// `1 << gc_layout::CARD_SHIFT` bytes of the memory's capacity, which
    /// compiled code's write barrier sets to `CARD_MARKED` at the card of
    /// every object it stores a reference into. Its address is fixed for
    /// the heap's life; compiled code writes it only while no borrow of
    /// the heap is live, and only at cards of objects below the memory's
    /// length.
    fn card_table(&self) -> Option<*mut u8> {
        None
    }

    /// The write barrier of a generational collector, for references
    /// stored into the heap object `obj` other than through
    /// `write_gc_ref_field` (which calls it): builtins that copy or fill
    /// references in bulk. A collector that needs no such barrier ignores
    /// it.
    fn record_ref_write(&mut self, obj: &VMGcRef) -> Result<()> {
        let _ = obj;
        Ok(())
    }

    /// Takes over what compiled code's barriers logged since the runtime
    /// last asked, in the collector's own terms (`kiln_environ::gc_layout`
    /// says what each collector logs); `overflowed` says the log filled and
    /// compiled code took its overflow path. Untrusted: entries that are
    /// not objects of the heap are reported and ignored. May free objects
    /// (and drop host data of freed externrefs).
    fn adopt_barrier_log(&mut self, host_data: &mut HostDataTable, entries: &[u32], overflowed: bool) -> Result<()> {
        let _ = (host_data, entries, overflowed);
        Ok(())
    }

    /// Asks that the next collection be a full one (a generational
    /// collector otherwise often collects only its nursery): an embedder's
    /// explicit `gc()` frees everything unreachable.
    fn request_full_collection(&mut self) {}

    /// How many bytes the heap wants to grow by, judged after a
    /// collection: all of its size (doubling) when the collection left
    /// too much of it live, more than a quarter (for a semi-space
    /// collector, a space more than half full) or, while the heap is
    /// small, more than an eighth; else nothing. Otherwise the next
    /// collections come soon and recopy the same long-lived data; a small
    /// heap can afford the extra room, a large one keeps its peak memory
    /// down.
    fn wanted_growth(&self) -> u64 {
        wanted_growth(self.stats().heap_size, self.stats().bytes_in_use, 4)
    }

    /// How many bytes the heap can still grow by (its memory's capacity
    /// past its size, which may be less than the memory's length after a
    /// shrink).
    fn growth_room(&self) -> u64 {
        (self.memory().capacity() as u64).saturating_sub(self.stats().heap_size)
    }

    /// The region compiled code may bump-allocate *plain objects* in
    /// (arrays whose elements hold no references, of
    /// [`crate::PLAIN_OBJECT_MIN`] bytes or more, for a collector that
    /// keeps them apart: the copying one), as `(next, end)` offsets, and
    /// the start table where it sets the bit of each such object's start
    /// (byte `offset / 64`, bit `offset / 8 % 8`). The table's address is
    /// fixed for the heap's life; compiled code writes it only while no
    /// borrow of the heap is live, and only for objects it allocated in
    /// the region. The cursor comes back through
    /// [`GcHeap::set_plain_next`].
    fn plain_region(&self) -> Option<(u32, u32)> {
        None
    }

    fn plain_start_table(&self) -> Option<*mut u8> {
        None
    }

    /// Compiled code allocated plain objects up to `next` in the region
    /// `plain_region` gave; refused outside it, as for `set_bump_next`.
    fn set_plain_next(&mut self, next: u32) -> Result<()> {
        let _ = next;
        Err(GcError::Unsupported("inline allocation of plain objects"))
    }

    /// Compiled code allocated up to `next` in the region `bump_region`
    /// gave. A `next` outside that region is refused (the heap keeps its
    /// cursor): the value comes from memory Wasm could have corrupted.
    fn set_bump_next(&mut self, next: u32) -> Result<()> {
        let _ = next;
        Err(GcError::Unsupported("inline bump allocation"))
    }

    /// Checks the whole heap (see `verify.rs`); for tests and debug builds.
    fn verify(&self) -> Result<VerifyReport>;

    // ----- Provided: object access, checked the same way for every
    // collector.

    /// The validated header of the object `r` refers to.
    fn header(&self, r: &VMGcRef) -> Result<VMGcHeader> {
        Ok(object(self.memory().bytes(), r)?.1)
    }

    /// An array's length. It is heap data: element accesses are checked
    /// against the object's size, not against this.
    fn array_len(&self, r: &VMGcRef) -> Result<u32> {
        let mem = self.memory().bytes();
        let (obj, header) = object(mem, r)?;
        if header.kind() != Some(VMGcKind::ArrayRef) {
            return Err(GcError::corrupt("array access on an object that is not an array", obj));
        }
        read_field_u32(mem, obj, ARRAY_LENGTH_OFFSET)
    }

    /// The whole object, header included.
    fn object_data(&self, r: &VMGcRef) -> Result<&[u8]> {
        let mem = self.memory().bytes();
        let (obj, header) = object(mem, r)?;
        slice(mem, u64::from(obj), u64::from(header.size()))
    }

    /// `len` bytes of the object's body at `offset` (relative to the object).
    fn read_data(&self, r: &VMGcRef, offset: u32, len: u32) -> Result<&[u8]> {
        let mem = self.memory().bytes();
        let (obj, header) = object(mem, r)?;
        check_body_access(&header, offset, len, HEADER_SIZE)?;
        slice(mem, u64::from(obj) + u64::from(offset), u64::from(len))
    }

    /// Writes plain data (never references: those go through
    /// `write_gc_ref_field`) into the object's body. An array's length and
    /// an externref's id cannot be written.
    fn write_data(&mut self, r: &VMGcRef, offset: u32, bytes: &[u8]) -> Result<()> {
        let mem = self.memory_mut().bytes_mut();
        let (obj, header) = object(mem, r)?;
        let min = match header.kind() {
            Some(VMGcKind::ArrayRef) => ARRAY_ELEMS_MIN_OFFSET,
            Some(VMGcKind::ExternRef) => EXTERNREF_SIZE.max(header.size()),
            _ => HEADER_SIZE,
        };
        let len = u32::try_from(bytes.len()).map_err(|_| GcError::OutOfBounds { offset: u64::from(offset), len: bytes.len() as u64 })?;
        check_body_access(&header, offset, len, min)?;
        slice_mut(mem, u64::from(obj) + u64::from(offset), u64::from(len))?.copy_from_slice(bytes);
        Ok(())
    }

    /// Copies `len` bytes of plain data from the body of `src` at
    /// `src_offset` into the body of `dst` at `dst_offset` (`memmove`: the
    /// two may be one object and overlap). As `write_data`, never for
    /// references of a collector that counts them; the caller then runs
    /// `record_ref_write` on `dst` if it copied references.
    fn copy_data(&mut self, dst: &VMGcRef, dst_offset: u32, src: &VMGcRef, src_offset: u32, len: u32) -> Result<()> {
        let mem = self.memory_mut().bytes_mut();
        let (from, src_header) = object(mem, src)?;
        check_body_access(&src_header, src_offset, len, HEADER_SIZE)?;
        let (to, dst_header) = object(mem, dst)?;
        let min = if dst_header.kind() == Some(VMGcKind::ArrayRef) { ARRAY_ELEMS_MIN_OFFSET } else { HEADER_SIZE };
        check_body_access(&dst_header, dst_offset, len, min)?;
        copy_within(mem, u64::from(from) + u64::from(src_offset), u64::from(to) + u64::from(dst_offset), u64::from(len))
    }

    /// The host-data id an externref object holds.
    fn externref_host_data_id(&self, r: &VMGcRef) -> Result<HostDataId> {
        let mem = self.memory().bytes();
        let (obj, header) = object(mem, r)?;
        if header.kind() != Some(VMGcKind::ExternRef) || header.size() < EXTERNREF_SIZE {
            return Err(GcError::corrupt("externref access on an object that is not an externref", obj));
        }
        let index = read_field_u32(mem, obj, EXTERNREF_HOST_DATA_INDEX_OFFSET)?;
        let generation = read_field_u32(mem, obj, EXTERNREF_HOST_DATA_GENERATION_OFFSET)?;
        Ok(HostDataId::from_parts(index, generation))
    }

    /// Reads the reference field at `offset`: an owned copy (the barrier
    /// runs).
    fn read_gc_ref_field(&mut self, r: &VMGcRef, offset: u32) -> Result<Option<VMGcRef>> {
        let raw = read_raw_field(self.read_data(r, offset, GC_REF_SIZE)?);
        match VMGcRef::from_raw_u32(raw) {
            // `field` is the heap's own reference, not a new one: it is only
            // borrowed here to clone it.
            Some(field) => Ok(Some(self.clone_gc_ref(&field)?)),
            None => Ok(None),
        }
    }

    /// Writes `src` into the reference field at `offset` (the barrier runs).
    /// The caller guarantees `offset` is a reference field of the object's
    /// type: a wrong offset miscounts, it cannot break the heap's bounds.
    fn write_gc_ref_field(&mut self, host_data: &mut HostDataTable, r: &VMGcRef, offset: u32, src: Option<&VMGcRef>) -> Result<()> {
        let raw = read_raw_field(self.read_data(r, offset, GC_REF_SIZE)?);
        let mut slot = VMGcRef::from_raw_u32(raw);
        let result = self.write_gc_ref(host_data, &mut slot, src);
        // Store whatever the barrier left in the slot, even if it failed
        // half way, so the field agrees with the counts.
        let new_raw = slot.as_ref().map_or(0, VMGcRef::as_raw_u32);
        write_raw_field(self.memory_mut().bytes_mut(), r, offset, new_raw)?;
        result?;
        if new_raw != 0 {
            self.record_ref_write(r)?;
        }
        Ok(())
    }

    /// Runs a whole collection (see [`GarbageCollection::finish`]).
    fn collect_all(&mut self, roots: GcRoots<'_>, host_data: &mut HostDataTable) -> Result<()> {
        self.collect(roots, host_data).finish()
    }
}

/// Below this, a heap doubles once an eighth of it is live.
const SMALL_HEAP: u64 = 16 << 20;

/// [`GcHeap::wanted_growth`] for a heap of `len` bytes with `live` bytes
/// live, which doubles once more than `1 / live_share` of it is live (an
/// eighth while it is small).
pub(crate) fn wanted_growth(len: u64, live: u64, live_share: u64) -> u64 {
    let live_share = if len < SMALL_HEAP { 8 } else { live_share };
    if live.saturating_mul(live_share) > len { len } else { 0 }
}

fn read_raw_field(b: &[u8]) -> u32 {
    let mut raw = [0; 4];
    raw.copy_from_slice(&b[..4]);
    u32::from_le_bytes(raw)
}

/// Writes a raw reference into a field, without barriers.
fn write_raw_field(mem: &mut [u8], r: &VMGcRef, offset: u32, raw: u32) -> Result<()> {
    let (obj, header) = object(mem, r)?;
    check_body_access(&header, offset, GC_REF_SIZE, HEADER_SIZE)?;
    write_u32(mem, u64::from(obj) + u64::from(offset), raw)
}

/// Checks that `[offset, offset + len)` lies in the object's body, from
/// `min` on.
fn check_body_access(header: &VMGcHeader, offset: u32, len: u32, min: u32) -> Result<()> {
    let end = u64::from(offset) + u64::from(len);
    if offset < min || end > u64::from(header.size()) {
        return Err(GcError::OutOfBounds { offset: u64::from(offset), len: u64::from(len) });
    }
    Ok(())
}
