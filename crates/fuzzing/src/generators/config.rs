//! Kiln engine configurations for fuzzing.
//!
//! Every configuration meters fuel, so no input runs forever, and caps
//! what Wasm can make the host allocate (memory and table growth, the GC
//! heap), so no input exhausts the machine. The code-generation and
//! runtime choices (bounds-check strategy, optimisation level, stack size,
//! collector, GC heap size) are left to the input: each is a different
//! path through the compiler and runtime. Small GC heaps make collections
//! happen within a few allocations, which is where collector bugs show;
//! GC zeal makes every allocation collect.

use arbitrary::{Result, Unstructured};
use kiln::{BoundsChecks, Collector, Config, OptLevel};
use std::num::NonZeroU32;

/// Largest size a linear memory may grow to (1024 pages).
pub const MAX_MEMORY_BYTES: u64 = 64 << 20;
/// Largest number of elements a table may grow to.
pub const MAX_TABLE_ELEMENTS: u64 = 10_000;
/// Largest GC heap, in bytes.
pub const MAX_GC_HEAP_BYTES: u64 = 16 << 20;
/// GC heap sizes an input may choose: tiny (collections every few
/// allocations), small, and the largest.
pub const GC_HEAP_CHOICES: [u64; 3] = [64 << 10, 1 << 20, MAX_GC_HEAP_BYTES];
/// Every collector.
pub const COLLECTORS: [Collector; 4] = [Collector::Copying, Collector::Null, Collector::Drc, Collector::Generational];
/// Fuel given to a store before each call into Wasm: enough for loops to
/// do real work, little enough that a debug build finishes an input in
/// milliseconds.
pub const FUEL: u64 = 100_000;

/// The fixed part of every fuzzing configuration.
pub fn base_config() -> Config {
    let mut config = Config::new();
    config
        .consume_fuel(true)
        .max_memory_size(MAX_MEMORY_BYTES)
        .max_table_elements(MAX_TABLE_ELEMENTS)
        .max_gc_heap_size(MAX_GC_HEAP_BYTES);
    config
}

/// A configuration with input-chosen code generation.
pub fn kiln_config(u: &mut Unstructured<'_>) -> Result<Config> {
    let mut config = base_config();
    config
        .bounds_checks(if u.arbitrary()? { BoundsChecks::GuardPages } else { BoundsChecks::Explicit })
        .cranelift_opt_level(if u.arbitrary()? { OptLevel::Speed } else { OptLevel::None })
        // Small stacks reach the overflow check sooner; all stay well
        // below the 2 MiB of a test thread.
        .max_wasm_stack(*u.choose(&[64 << 10, 256 << 10, 512 << 10])?)
        .collector(*u.choose(&COLLECTORS)?)
        .max_gc_heap_size(*u.choose(&GC_HEAP_CHOICES)?)
        // Zeal in one configuration of four: every Nth allocation
        // collects, so roots the runtime misses show up.
        .gc_zeal_alloc_counter(*u.choose(&[None, None, None, NonZeroU32::new(1)])?)
        .expect("zeal is supported");
    Ok(config)
}
