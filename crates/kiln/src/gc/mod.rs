//! A store's GC heap: created on first use with the engine's collector,
//! in memory compiled code can address (`vm::gc_memory`), with the store's
//! host-data table for externrefs and its table of function references.
//!
//! Invariants:
//! - The heap's base, accessible length and inline allocation region are
//!   mirrored in the store context for compiled code; every operation that
//!   may grow the heap or move its cursor updates them on every way out,
//!   errors included ([`StoreOpaque::gc_alloc`]).
//! - A collection sees every root ([`roots`]): a reference the runtime
//!   holds anywhere else across an allocation is held through
//!   [`StoreOpaque::with_roots`].
//! - Under zeal (`Config::gc_zeal_alloc_counter`) every Nth allocation
//!   collects first, compiled code's inline region is kept empty so every
//!   allocation comes here, and every collection is followed by a full
//!   heap verification (as it is in debug builds).

mod barriers;
mod func_refs;
mod host_roots;
mod roots;

pub(crate) use barriers::RefBarriers;
pub(crate) use func_refs::{BadFuncRefId, FuncRefTable};
pub(crate) use host_roots::{HostRoots, RootIndex};

use crate::engine::Engine;
use crate::store::StoreOpaque;
use crate::vm::gc_memory::MmapHeapMemory;
use anyhow::{Context as _, Result};
use kiln_environ::gc_layout::StandardLayouts;
use kiln_environ::{GcTypeLayouts, WasmCompositeType};
use kiln_gc::{GcError, GcHeap, GcLayout, GcTypes, HostDataTable, VMGcRef};
use std::sync::Arc;

/// Entries of the log compiled code's barriers (DRC's) fill
/// between two visits to the runtime (64 KiB).
const BARRIER_LOG_ENTRIES: usize = 16 * 1024;

/// Where compiled code's allocation region reaches fresh memory, the
/// runtime backs this many bytes of it first (`HeapMemory::prefault`) and
/// hands out no more: one system call per chunk instead of a page fault
/// per page, and never much more memory backed than the program
/// allocated.
const PREFAULT_CHUNK: u32 = 1 << 20;

/// The end of the inline allocation region `[next, end)` to hand compiled
/// code: as far as its pages are backed, after backing at least a
/// `PREFAULT_CHUNK` of them. A region whose memory was backed before (a
/// semi-space's second round, a nursery) is handed out whole.
fn prefaulted_region(memory: &dyn kiln_gc::HeapMemory, next: u32, end: u32) -> u32 {
    if next == end {
        return end;
    }
    let chunk_end = end.min(next.saturating_add(PREFAULT_CHUNK));
    let backed = memory.prefault(next as usize..chunk_end as usize);
    end.min(u32::try_from(backed).unwrap_or(u32::MAX).max(chunk_end))
}

pub(crate) struct GcStore {
    pub heap: StoreHeap,
    /// The barriers' log (empty for collectors whose barriers log
    /// nothing); compiled code appends to it through the store context,
    /// `sync_gc_cursor_in` hands it to the heap.
    barrier_log: Box<[u32]>,
    pub host_data: HostDataTable,
    pub func_refs: FuncRefTable,
    /// Allocations left until zeal forces a collection, if zeal is on.
    zeal_countdown: Option<u32>,
    /// Compiled code's allocation region ends before the heap's, where
    /// the runtime stopped backing pages (`prefaulted_region`).
    region_cut: std::cell::Cell<bool>,
}

impl GcStore {
    /// Counts an allocation; true when zeal wants a collection before it.
    fn zeal_due(&mut self, period: Option<std::num::NonZeroU32>) -> bool {
        let (Some(period), Some(left)) = (period, self.zeal_countdown.as_mut()) else { return false };
        *left -= 1;
        if *left == 0 {
            *left = period.get();
            return true;
        }
        false
    }
}

/// A store's heap; with the pooling allocator, handed back to the pool
/// (which resets it) when the store drops.
pub(crate) struct StoreHeap {
    heap: Option<Box<dyn GcHeap>>,
    pool: Option<Arc<crate::allocation::PoolingAllocator>>,
}

impl std::ops::Deref for StoreHeap {
    type Target = dyn GcHeap;
    fn deref(&self) -> &(dyn GcHeap + 'static) {
        self.heap.as_deref().expect("only taken on drop")
    }
}

impl std::ops::DerefMut for StoreHeap {
    fn deref_mut(&mut self) -> &mut (dyn GcHeap + 'static) {
        self.heap.as_deref_mut().expect("only taken on drop")
    }
}

impl Drop for StoreHeap {
    fn drop(&mut self) {
        if let (Some(pool), Some(heap)) = (&self.pool, self.heap.take()) {
            pool.return_gc_heap(heap);
        }
    }
}

/// Layouts of engine types, for the heap's tracer and allocator. Weak:
/// a pooled heap outlives its stores in the engine's pool, and must not
/// keep the engine alive.
struct EngineGcTypes(std::sync::Weak<crate::engine::EngineInner>);

impl GcTypes for EngineGcTypes {
    fn layout(&self, type_index: u32) -> Option<GcLayout> {
        engine_gc_layout(&Engine { inner: self.0.upgrade()? }, type_index)
    }
}

/// The layout of objects of engine type `type_index` (an id read from an
/// untrusted header: unknown ids give `None`).
pub(crate) fn engine_gc_layout(engine: &Engine, type_index: u32) -> Option<GcLayout> {
    let types = &engine.inner.types;
    let ty = types.try_get(type_index)?;
    let ref_repr = |r: kiln_environ::WasmRefType| r.repr(types);
    match &ty.composite {
        // Objects whose type is a function type are exceptions.
        WasmCompositeType::Func(f) => Some(GcLayout::Struct(kiln_environ::gc_layout::exception_layout(&f.params, &ref_repr))),
        other => StandardLayouts.gc_layout(other, &ref_repr),
    }
}

impl StoreOpaque {
    /// The store's GC heap, created on first use.
    pub(crate) fn gc_store(&mut self) -> Result<&mut GcStore> {
        if self.gc.is_none() {
            let config = self.engine().config();
            let zeal_countdown = config.gc_zeal_alloc_counter.map(|n| n.get());
            // The heap starts at the configured size (within its limit)
            // and doubles as it fills.
            let max = config.max_gc_heap_bytes as usize;
            let initial = usize::try_from(config.initial_gc_heap_bytes).unwrap_or(max).min(max);
            let engine = self.engine().clone();
            let types = Arc::new(EngineGcTypes(Arc::downgrade(&engine.inner)));
            let new_heap = |memory: MmapHeapMemory| -> Result<Box<dyn GcHeap>> { Ok(engine.inner.gc_runtime.new_gc_heap(Box::new(memory), types)?) };
            let pool = engine.inner.pool.clone();
            let heap = match &pool {
                Some(pool) => pool.take_gc_heap(|slot, keep| new_heap(MmapHeapMemory::in_slot(slot, initial, max, keep)?))?,
                None => new_heap(MmapHeapMemory::new(initial, max)?)?,
            };
            let base = heap.memory().bytes().as_ptr();
            // SAFETY: no Wasm of this store runs while we hold `&mut self`
            // except through builtins, which are called between
            // instructions that reload these fields.
            unsafe { *self.vm_store_context().gc_heap_base.get() = base as usize };
            let barrier_log = if heap.counts_references() { vec![0; BARRIER_LOG_ENTRIES].into_boxed_slice() } else { Box::default() };
            self.gc = Some(GcStore {
                heap: StoreHeap { heap: Some(heap), pool },
                barrier_log,
                host_data: HostDataTable::new(),
                func_refs: FuncRefTable::default(),
                zeal_countdown,
                region_cut: std::cell::Cell::new(false),
            });
            self.sync_gc_bound();
        }
        Ok(self.gc.as_mut().expect("created above"))
    }

    fn gc_zeal(&self) -> Option<std::num::NonZeroU32> {
        self.engine().config().gc_zeal_alloc_counter
    }

    /// Mirrors the heap's accessible length and inline allocation region
    /// into the store context, for compiled code. Called after every
    /// operation that may grow the heap or move its bump cursor.
    pub(crate) fn sync_gc_bound(&self) {
        if let Some(gc) = &self.gc {
            let ctx = self.vm_store_context_ptr();
            // Under zeal compiled code gets no region, so that every
            // allocation is counted here.
            let zeal = self.gc_zeal().is_some();
            let region = if zeal { None } else { gc.heap.bump_region() };
            let (next, end) = region.unwrap_or((0, 0));
            let (plain_next, plain_end) = if zeal { None } else { gc.heap.plain_region() }.unwrap_or((0, 0));
            let plain_starts = gc.heap.plain_start_table().unwrap_or(std::ptr::null_mut());
            let (region_end, end) = (end, prefaulted_region(gc.heap.memory(), next, end));
            gc.region_cut.set(end < region_end);
            // Null outside a generational heap, whose code has no card
            // marking barrier.
            let card_table = gc.heap.card_table().unwrap_or(std::ptr::null_mut());
            // SAFETY: as in `gc_store`. The log is the store's, and lives
            // as long as the heap it serves; the card table and the plain
            // objects' start table are the heap's, at addresses fixed for
            // its life.
            unsafe {
                let ctx = &*ctx;
                *ctx.gc_heap_bound.get() = gc.heap.memory().len();
                *ctx.gc_bump_next.get() = next;
                *ctx.gc_bump_end.get() = end;
                *ctx.gc_plain_next.get() = plain_next;
                *ctx.gc_plain_end.get() = plain_end;
                *ctx.gc_plain_starts.get() = plain_starts;
                *ctx.gc_card_table.get() = card_table;
                *ctx.gc_barrier_log.get() = gc.barrier_log.as_ptr().cast_mut();
                *ctx.gc_barrier_log_cap.get() = gc.barrier_log.len() as u32;
            }
        }
    }

    /// Hands the heap back the bump cursor compiled code advanced, and
    /// what its barriers logged, before Rust code uses the heap. Called on
    /// every way out of Wasm (a return to the host, a host call, a GC
    /// builtin).
    pub(crate) fn sync_gc_cursor_in(&mut self) {
        let ctx = self.vm_store_context_ptr();
        // SAFETY: as in `gc_store`.
        let (next, plain_next, logged, overflowed) = unsafe {
            let ctx = &*ctx;
            (*ctx.gc_bump_next.get(), *ctx.gc_plain_next.get(), *ctx.gc_barrier_log_len.get(), *ctx.gc_barrier_log_overflow.get())
        };
        let Some(gc) = &mut self.gc else { return };
        if next != 0 {
            // A cursor outside the region (corrupted store context) is
            // refused and the heap keeps its own.
            let _ = gc.heap.set_bump_next(next);
        }
        if plain_next != 0 {
            let _ = gc.heap.set_plain_next(plain_next);
        }
        if logged != 0 || overflowed != 0 {
            let logged = (logged as usize).min(gc.barrier_log.len());
            // Entries that are not objects (a corrupted heap) are ignored.
            let _ = gc.heap.adopt_barrier_log(&mut gc.host_data, &gc.barrier_log[..logged], overflowed != 0);
            // SAFETY: as in `gc_store`.
            unsafe {
                *(*ctx).gc_barrier_log_len.get() = 0;
                *(*ctx).gc_barrier_log_overflow.get() = 0;
            }
        }
    }

    /// Allocates with `alloc`. When the heap is full it first collects
    /// garbage (unless the collector never frees), then grows the heap
    /// (doubling, up to its limit). Under zeal, every Nth allocation
    /// collects first.
    ///
    /// The caller must hold every reference it keeps across this call as
    /// a root (see `with_roots`): a moving collection rewrites only roots.
    pub(crate) fn gc_alloc(&mut self, mut alloc: impl FnMut(&mut dyn GcHeap) -> kiln_gc::Result<VMGcRef>) -> Result<VMGcRef> {
        self.sync_gc_cursor_in();
        let result = self.alloc_or_collect(&mut alloc);
        // On every way out, errors included: compiled code must never keep
        // a cursor or bound the heap no longer agrees with.
        self.sync_gc_bound();
        result
    }

    fn alloc_or_collect(&mut self, alloc: &mut dyn FnMut(&mut dyn GcHeap) -> kiln_gc::Result<VMGcRef>) -> Result<VMGcRef> {
        let zeal = self.gc_zeal();
        let gc = self.gc_store()?;
        // A collection the collector wants early waits for the end of the
        // allocation region, not of a stretch of it cut short to back its
        // pages: collecting at different points would change the
        // collector's decisions (the generational one's sizing).
        if gc.zeal_due(zeal) || (gc.heap.collection_due() && !gc.region_cut.get()) {
            self.collect_now()?;
            self.grow_if_mostly_live();
        }
        // A failed allocation collects once, or twice when the first
        // collection leaves the collector wanting another (a generational
        // collector's nursery collection that left the mature space full),
        // before the heap grows.
        let mut collected = self.engine().config().collector_kind() == kiln_gc::Collector::Null;
        let mut collected_again = collected;
        loop {
            let gc = self.gc_store()?;
            match alloc(&mut *gc.heap) {
                Err(GcError::OutOfMemory { .. }) if !collected || (!collected_again && gc.heap.collection_due()) => {
                    collected_again = collected;
                    collected = true;
                    self.collect_now()?;
                    self.grow_if_mostly_live();
                }
                Err(GcError::OutOfMemory { requested }) => {
                    let len = gc.heap.stats().heap_size;
                    let capacity = gc.heap.memory().capacity() as u64;
                    let additional = len.max(requested).min(capacity.saturating_sub(len));
                    if additional == 0 || gc.heap.grow(additional).is_err() {
                        return Err(anyhow::Error::new(crate::Trap::GcHeapOutOfMemory));
                    }
                }
                other => return other.map_err(anyhow::Error::from),
            }
        }
    }

    /// Grows the heap as much as the collector wants after a collection
    /// (`GcHeap::wanted_growth`), within its limit. Best effort: if the
    /// heap cannot grow, allocation goes on in what there is.
    fn grow_if_mostly_live(&mut self) {
        let Some(gc) = self.gc.as_mut() else { return };
        let room = gc.heap.growth_room();
        let growth = gc.heap.wanted_growth().min(room);
        if growth > 0 {
            let _ = gc.heap.grow(growth);
        }
    }

    /// Runs a full collection with every root of the store (see
    /// [`roots`]). A host value whose `Drop` panicked during the
    /// collection has its panic resumed here, on the host side.
    ///
    /// `bytes_needed` (by a failed allocation) first
    /// grows the heap by as much, within its limit (best effort). The
    /// collection is a full one, whatever the collector.
    pub(crate) fn collect_garbage_for(&mut self, bytes_needed: Option<u64>) -> Result<()> {
        self.sync_gc_cursor_in();
        if let Some(gc) = self.gc.as_mut() {
            if let Some(bytes) = bytes_needed {
                let room = gc.heap.growth_room();
                let _ = gc.heap.grow(bytes.min(room));
            }
            gc.heap.request_full_collection();
        }
        let result = self.collect_now();
        self.sync_gc_bound();
        self.resume_host_data_drop_panic();
        result
    }

    /// The collection itself; the heap must hold the current cursor.
    fn collect_now(&mut self) -> Result<()> {
        if self.gc.is_none() {
            return Ok(());
        }
        self.sweep_owned_roots();
        let verify = cfg!(debug_assertions) || self.gc_zeal().is_some();
        self.with_root_set(|heap, host_data, roots| {
            // Before too, for a generational heap: a barrier compiled code
            // missed (a mature object referencing the nursery with its card
            // unmarked) shows here, before the collection loses the object;
            // and for plain objects compiled code allocated, whose start
            // bits it set. (A DRC heap whose barrier log overflowed is
            // consistent only once a collection has recovered the log.)
            if verify && (heap.card_table().is_some() || heap.plain_start_table().is_some()) {
                heap.verify().context("GC heap verification before a collection failed")?;
            }
            let start = std::time::Instant::now();
            let result = heap.collect_all(roots, host_data);
            let stats = heap.stats();
            log::debug!(
                "GC: {:?} collection #{} in {:?}: {} of {} bytes in use after it",
                heap.collector(),
                stats.collections,
                start.elapsed(),
                stats.bytes_in_use,
                stats.heap_size
            );
            result?;
            if verify {
                heap.verify().context("GC heap verification after a collection failed")?;
            }
            Ok(())
        })
    }

    /// Resumes, on the host side, a panic that a host value's `Drop`
    /// raised while a collection (possibly under Wasm frames) freed it.
    pub(crate) fn resume_host_data_drop_panic(&mut self) {
        if let Some(panic) = self.gc.as_mut().and_then(|gc| gc.host_data.take_drop_panic()) {
            std::panic::resume_unwind(panic);
        }
    }

    /// Holds `r` (borrowed) in a new LIFO root of the innermost scope.
    /// A failing barrier (a corrupted heap) leaves the root uncounted: at
    /// worst its object is freed early, inside the heap.
    pub(crate) fn root_lifo(&mut self, r: VMGcRef) -> RootIndex {
        let _ = RefBarriers::of(&mut self.gc).clone_ref(r.as_raw_u32());
        self.gc_host_roots.push_lifo(r)
    }

    /// Holds `raw` (borrowed, not null) in a new owned root; returns its
    /// index and the liveness token its handles share.
    pub(crate) fn root_owned(&mut self, raw: u32) -> Result<(RootIndex, std::sync::Arc<()>)> {
        let r = VMGcRef::from_raw_u32(raw).ok_or_else(|| anyhow::anyhow!("null references are not rooted"))?;
        if self.gc_host_roots.owned_sweep_due() {
            self.sweep_owned_roots();
        }
        RefBarriers::of(&mut self.gc).clone_ref(raw)?;
        Ok(self.gc_host_roots.insert_owned(r))
    }

    /// The raw reference behind a handle's root.
    pub(crate) fn resolve_root(&self, root: RootIndex) -> Result<u32> {
        Ok(self.gc_host_roots.get(root)?.as_raw_u32())
    }

    /// Releases the LIFO roots above `height` (a scope's end).
    pub(crate) fn release_lifo_roots(&mut self, height: usize) {
        let released = self.gc_host_roots.truncate_lifo(height);
        self.drop_root_counts(released);
    }

    /// Frees the owned roots whose handles were all dropped.
    pub(crate) fn sweep_owned_roots(&mut self) {
        let released = self.gc_host_roots.sweep_owned();
        self.drop_root_counts(released);
    }

    fn drop_root_counts(&mut self, released: Vec<VMGcRef>) {
        let mut b = RefBarriers::of(&mut self.gc);
        for r in released {
            // A failure (a corrupted heap) leaks the object.
            let _ = b.drop_ref(r.as_raw_u32());
        }
    }

    /// Replaces the pending exception (`raw`, borrowed; 0 for none).
    pub(crate) fn set_pending_exception(&mut self, raw: u32) -> Result<()> {
        RefBarriers::of(&mut self.gc).clone_ref(raw)?;
        let old = self.gc_host_roots.set_pending_exception(VMGcRef::from_raw_u32(raw));
        self.drop_root_counts(old.into_iter().collect());
        Ok(())
    }

    /// Runs `f` with `values` (raw GC references, i31s or 0) held as
    /// roots, and writes them back afterwards: where a moving collection
    /// inside `f` moved an object, the value follows it.
    pub(crate) fn with_roots<R>(&mut self, values: &mut [u32], f: impl FnOnce(&mut Self) -> Result<R>) -> Result<R> {
        if values.iter().all(|v| *v == 0) {
            return f(self);
        }
        let height = self.gc_host_roots.lifo_height();
        let roots: Vec<Option<RootIndex>> = values.iter().map(|v| VMGcRef::from_raw_u32(*v).map(|r| self.root_lifo(r))).collect();
        let result = f(self);
        for (v, root) in values.iter_mut().zip(roots) {
            if let Some(root) = root {
                *v = self.resolve_root(root).expect("roots of a live scope resolve");
            }
        }
        self.release_lifo_roots(height);
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A memory that backs pages up to a fixed offset.
    struct BackedTo(usize);

    impl kiln_gc::HeapMemory for BackedTo {
        fn bytes(&self) -> &[u8] {
            &[]
        }
        fn bytes_mut(&mut self) -> &mut [u8] {
            &mut []
        }
        fn grow(&mut self, _: usize) -> kiln_gc::Result<()> {
            Ok(())
        }
        fn capacity(&self) -> usize {
            0
        }
        fn prefault(&self, range: std::ops::Range<usize>) -> usize {
            self.0.max(range.end)
        }
    }

    /// Compiled code's allocation region stops where the pages known to
    /// be backed end, at least a chunk past the cursor; a memory that
    /// does not back pages ahead gets the whole region.
    #[test]
    fn the_inline_allocation_region_ends_where_backed_pages_end() {
        let mib = PREFAULT_CHUNK;
        assert_eq!(prefaulted_region(&BackedTo(0), 16, 10 * mib), 16 + mib);
        assert_eq!(prefaulted_region(&BackedTo(4 * mib as usize), 16, 10 * mib), 4 * mib);
        assert_eq!(prefaulted_region(&BackedTo(40 * mib as usize), 16, 10 * mib), 10 * mib);
        assert_eq!(prefaulted_region(&BackedTo(usize::MAX), 16, 10 * mib), 10 * mib);
        assert_eq!(prefaulted_region(&BackedTo(0), 16, 1000), 1000);
        assert_eq!(prefaulted_region(&BackedTo(0), 0, 0), 0);
    }
}
