//! Engine configuration.

pub use kiln_cranelift::{BoundsChecks, OptLevel};
pub use kiln_gc::Collector;
use kiln_cranelift::Tunables;
pub use crate::profiling::ProfilingStrategy;
use std::num::NonZeroU32;
use wasmparser::WasmFeatures;

/// Settings an [`crate::Engine`] is created with.
#[derive(Debug, Clone)]
pub struct Config {
    pub(crate) max_wasm_stack: usize,
    pub(crate) tunables: Tunables,
    pub(crate) opt_level: OptLevel,
    pub(crate) max_memory_bytes: u64,
    pub(crate) max_table_elements: u64,
    pub(crate) max_gc_heap_bytes: u64,
    pub(crate) initial_gc_heap_bytes: u64,
    pub(crate) gc_zeal_alloc_counter: Option<NonZeroU32>,
    pub(crate) profiler: ProfilingStrategy,
    pub(crate) cache: Option<crate::Cache>,
    pub(crate) allocation: crate::InstanceAllocationStrategy,
    /// The proposals modules may use. Always a subset of
    /// `kiln_environ::wasm_features()` (the setters only toggle features in
    /// it), so validation never lets through what the compiler lacks.
    pub(crate) features: WasmFeatures,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_wasm_stack: 512 * 1024,
            tunables: Tunables { bounds_checks: BoundsChecks::GuardPages, epoch_interruption: false, consume_fuel: false, collector: Collector::Copying, inlining: true },
            opt_level: OptLevel::Speed,
            max_memory_bytes: 4 << 30,
            max_table_elements: 10_000_000,
            max_gc_heap_bytes: 1 << 30,
            initial_gc_heap_bytes: 1 << 20,
            gc_zeal_alloc_counter: None,
            profiler: ProfilingStrategy::None,
            cache: None,
            allocation: crate::InstanceAllocationStrategy::OnDemand,
            features: kiln_environ::wasm_features(),
        }
    }
}

impl Config {
    pub fn new() -> Self {
        Self::default()
    }

    /// Caches compiled modules on disk (default: no cache): `Module::new`
    /// of a module compiled before with the same settings loads it instead
    /// of compiling. See [`crate::Cache`].
    pub fn cache(&mut self, cache: Option<crate::Cache>) -> &mut Self {
        self.cache = cache;
        self
    }

    /// Describes compiled code to a native profiler (default: none); see
    /// [`ProfilingStrategy`].
    pub fn profiler(&mut self, profile: ProfilingStrategy) -> &mut Self {
        self.profiler = profile;
        self
    }

    /// Native stack Wasm code may use per host-to-Wasm entry, in bytes
    /// (default 512 KiB). Exceeding it traps with "call stack exhausted".
    /// It is further capped by the real size of the calling thread's stack.
    pub fn max_wasm_stack(&mut self, bytes: usize) -> &mut Self {
        self.max_wasm_stack = bytes;
        self
    }

    /// How linear-memory accesses are bounds-checked (default: guard
    /// pages, which reserves 8 GiB of address space per 32-bit memory).
    pub fn bounds_checks(&mut self, mode: BoundsChecks) -> &mut Self {
        self.tunables.bounds_checks = mode;
        self
    }

    /// Compile checks of the engine's epoch at function entries and loop
    /// headers: once `Engine::increment_epoch` reaches a store's deadline
    /// (`Store::set_epoch_deadline`), its Wasm code traps with
    /// `Trap::Interrupt`. Off by default.
    pub fn epoch_interruption(&mut self, enable: bool) -> &mut Self {
        self.tunables.epoch_interruption = enable;
        self
    }

    /// Charge one unit of fuel per Wasm operator executed; a store out of
    /// fuel (`Store::set_fuel`) traps with `Trap::OutOfFuel`. Off by default.
    pub fn consume_fuel(&mut self, enable: bool) -> &mut Self {
        self.tunables.consume_fuel = enable;
        self
    }

    /// The garbage collector of every store of the engine. The default,
    /// `Collector::Copying`, moves live objects and frees the rest (cycles
    /// included) when the heap fills; `Collector::Drc` counts references
    /// (compiled code keeps the counts inline) and frees an object as soon
    /// as its last counted reference goes, with a backup trace for cycles;
    /// `Collector::Generational` allocates in a small nursery collected
    /// often (its survivors promoted to a mature space collected rarely,
    /// by copying), with an inline write barrier; `Collector::Null` never frees (a throughput baseline, trapping when
    /// the heap is exhausted).
    pub fn collector(&mut self, collector: Collector) -> &mut Self {
        self.tunables.collector = collector;
        self
    }

    /// Largest size of a store's GC heap, in bytes (default 1 GiB, at most
    /// 4 GiB). Allocation beyond it traps.
    pub fn max_gc_heap_size(&mut self, bytes: u64) -> &mut Self {
        self.max_gc_heap_bytes = bytes;
        self
    }

    /// Size of a store's GC heap when it is created, in bytes (default
    /// 1 MiB; at most the maximum). The heap grows from there as its live
    /// data needs: a program known to keep much alive starts larger and
    /// skips the collections of the early growth.
    pub fn gc_heap_initial_size(&mut self, bytes: u64) -> &mut Self {
        self.initial_gc_heap_bytes = bytes;
        self
    }

    /// GC zeal, for testing the runtime's roots: `Some(n)` collects
    /// garbage before every `n`th allocation of every store (inline
    /// allocations in compiled code included: they all take the slow path)
    /// and verifies the whole heap after every collection. With `n = 1` a
    /// reference the runtime fails to treat as a root is moved or freed
    /// at the next allocation, so a missed root shows up at once. Slow;
    /// for tests and fuzzing. `None` (the default) turns it off.
    pub fn gc_zeal_alloc_counter(&mut self, counter: Option<NonZeroU32>) -> anyhow::Result<&mut Self> {
        self.gc_zeal_alloc_counter = counter;
        Ok(self)
    }

    pub(crate) fn collector_kind(&self) -> Collector {
        self.tunables.collector
    }

    /// How instances, memories, tables and GC heaps are allocated
    /// (default: on demand). With pooling, the engine reserves its pools
    /// when it is made.
    pub fn allocation_strategy(&mut self, strategy: crate::InstanceAllocationStrategy) -> &mut Self {
        self.allocation = strategy;
        self
    }

    pub(crate) fn features(&self) -> WasmFeatures {
        self.features
    }

    pub(crate) fn guard_pages(&self) -> bool {
        self.tunables.bounds_checks == BoundsChecks::GuardPages
    }

    /// Inline small functions into their callers within a module (default
    /// on; Wasmtime's `Config::compiler_inlining`). Only at optimising
    /// levels. Backtraces do not change: a function inlined into another
    /// keeps its own frame, and the caller's frame the offset of its call.
    pub fn compiler_inlining(&mut self, inlining: bool) -> &mut Self {
        self.tunables.inlining = inlining;
        self
    }

    /// How hard Cranelift optimises (default `OptLevel::Speed`).
    pub fn cranelift_opt_level(&mut self, level: OptLevel) -> &mut Self {
        self.opt_level = level;
        self
    }

    /// Largest size a linear memory may grow to, in bytes (default 4 GiB).
    pub fn max_memory_size(&mut self, bytes: u64) -> &mut Self {
        self.max_memory_bytes = bytes;
        self
    }

    /// Largest number of elements a table may grow to (default 10 million).
    pub fn max_table_elements(&mut self, n: u64) -> &mut Self {
        self.max_table_elements = n;
        self
    }

    fn wasm_feature(&mut self, feature: WasmFeatures, enable: bool) -> &mut Self {
        self.features.set(feature, enable);
        self
    }

    /// Whether modules may use the GC proposal (structs, arrays, `i31`,
    /// the `any`/`eq` hierarchy). On by default, like every proposal below.
    pub fn wasm_gc(&mut self, enable: bool) -> &mut Self {
        self.wasm_feature(WasmFeatures::GC, enable)
    }

    /// Whether modules may use typed function references (`call_ref`,
    /// non-nullable references).
    pub fn wasm_function_references(&mut self, enable: bool) -> &mut Self {
        self.wasm_feature(WasmFeatures::FUNCTION_REFERENCES, enable)
    }

    /// Whether modules may use exception handling (`try_table`, `throw`).
    pub fn wasm_exceptions(&mut self, enable: bool) -> &mut Self {
        self.wasm_feature(WasmFeatures::EXCEPTIONS, enable)
    }

    /// Whether modules may use tail calls (`return_call*`).
    pub fn wasm_tail_call(&mut self, enable: bool) -> &mut Self {
        self.wasm_feature(WasmFeatures::TAIL_CALL, enable)
    }

    /// Whether modules may use 128-bit SIMD.
    pub fn wasm_simd(&mut self, enable: bool) -> &mut Self {
        self.wasm_feature(WasmFeatures::SIMD, enable)
    }

    /// Whether modules may use relaxed SIMD.
    pub fn wasm_relaxed_simd(&mut self, enable: bool) -> &mut Self {
        self.wasm_feature(WasmFeatures::RELAXED_SIMD, enable)
    }

    /// Whether modules may use 64-bit memories and tables.
    pub fn wasm_memory64(&mut self, enable: bool) -> &mut Self {
        self.wasm_feature(WasmFeatures::MEMORY64, enable)
    }

    /// Whether modules may have more than one memory.
    pub fn wasm_multi_memory(&mut self, enable: bool) -> &mut Self {
        self.wasm_feature(WasmFeatures::MULTI_MEMORY, enable)
    }

    /// Whether modules may use reference types (`externref`, several
    /// tables, `table.*` instructions).
    pub fn wasm_reference_types(&mut self, enable: bool) -> &mut Self {
        self.wasm_feature(WasmFeatures::REFERENCE_TYPES, enable)
    }

    /// Whether modules may use bulk memory operations (`memory.copy`,
    /// `memory.fill`, passive segments).
    pub fn wasm_bulk_memory(&mut self, enable: bool) -> &mut Self {
        self.wasm_feature(WasmFeatures::BULK_MEMORY, enable)
    }

    /// Whether functions and blocks may return several values.
    pub fn wasm_multi_value(&mut self, enable: bool) -> &mut Self {
        self.wasm_feature(WasmFeatures::MULTI_VALUE, enable)
    }

    /// Whether modules may use the wide-arithmetic proposal (`i64.add128`,
    /// `i64.sub128`, `i64.mul_wide_s`, `i64.mul_wide_u`). Off by default,
    /// as in Wasmtime: the proposal is not yet part of the standard.
    pub fn wasm_wide_arithmetic(&mut self, enable: bool) -> &mut Self {
        self.wasm_feature(WasmFeatures::WIDE_ARITHMETIC, enable)
    }

    /// Whether memories may declare a page size other than 64 KiB (the
    /// custom-page-sizes proposal: `(pagesize 1)`). Off by default, as in
    /// Wasmtime. Such memories are bounds-checked by compiled code.
    pub fn wasm_custom_page_sizes(&mut self, enable: bool) -> &mut Self {
        self.wasm_feature(WasmFeatures::CUSTOM_PAGE_SIZES, enable)
    }

    /// Whether modules may use the legacy exception instructions (`try`,
    /// `catch`, `catch_all`, `rethrow`, `delegate`) that older Emscripten
    /// and LLVM builds emit. Off by default, as in Wasmtime.
    pub fn wasm_legacy_exceptions(&mut self, enable: bool) -> &mut Self {
        self.wasm_feature(WasmFeatures::LEGACY_EXCEPTIONS, enable)
    }

    /// Whether modules may use the threads proposal: shared memories
    /// ([`crate::SharedMemory`], usable from stores on several threads),
    /// atomic instructions, and `memory.atomic.wait*`/`notify`, which
    /// block and wake real threads. Off by default, as in Wasmtime.
    pub fn wasm_threads(&mut self, enable: bool) -> &mut Self {
        self.wasm_feature(WasmFeatures::THREADS, enable)
    }

    /// Whether constant expressions may use `i32.add` and friends.
    pub fn wasm_extended_const(&mut self, enable: bool) -> &mut Self {
        self.wasm_feature(WasmFeatures::EXTENDED_CONST, enable)
    }
}
