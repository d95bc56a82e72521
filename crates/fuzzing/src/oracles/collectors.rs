//! The collector-differential oracle: one wasm-smith module, with GC and
//! exceptions enabled, runs under every collector — null (which never
//! frees, so it is the reference), copying and DRC — and all must behave
//! the same: equal results, the same traps, the same exported state.
//!
//! The engines differ only in their collector (and their GC heap size:
//! null gets the largest, the others an input-chosen one, tiny heaps
//! making collections frequent); in one input of two the copying and DRC
//! engines also run with zeal, collecting at every allocation. Every
//! exported function is called, in export order, with the same arguments
//! on each engine, and after each call the exported globals, tables and
//! memories are compared. Values are compared as the collectors cannot
//! change them: numbers exactly (any NaN equals any NaN), i31 references
//! by value, other references by null-ness and, for `anyref`, whether the
//! object is a struct or an array.
//!
//! Where collectors legitimately differ, the rest of the module is
//! abandoned rather than compared: a heap that fills (null never frees,
//! and heap sizes differ) and a stack that overflows (each collector's
//! barriers give frames their own sizes). The comparison itself is
//! `agree::compare`'s.

use super::agree::{self, Variant};
use super::compile::checked_compile;
use crate::generators::{config, smith};
use arbitrary::Unstructured;
use kiln::{Collector, Config, Engine, Trap};
use std::num::NonZeroU32;

pub use super::agree::Stats;

/// Traps after which collectors may legitimately part ways.
const ABANDON_ON: [Trap; 2] = [Trap::GcHeapOutOfMemory, Trap::StackOverflow];

/// Generates the engines and a module, then compares the collectors.
pub fn collector_differential(u: &mut Unstructured<'_>) -> arbitrary::Result<Stats> {
    let configs = engine_configs(u)?;
    let mut smith_config = smith::kiln_config(u)?;
    smith_config.gc_enabled = true;
    // See `smith::set_floors`: no type floor with GC.
    smith_config.min_types = 0;
    smith_config.reference_types_enabled = true;
    smith_config.exceptions_enabled = true;
    smith_config.export_everything = true;
    let wasm = wasm_smith::Module::new(smith_config, u)?.to_bytes();
    crate::repro::log_case("collector_differential", &configs, &wasm);
    Ok(run(&configs, &wasm, u))
}

/// Null with the largest heap, then copying and DRC with an input-chosen
/// heap and, in one input of two, zeal; code generation chosen once for
/// all.
pub(crate) fn engine_configs(u: &mut Unstructured<'_>) -> arbitrary::Result<Vec<(&'static str, Config)>> {
    let shared = config::kiln_config(u)?;
    let heap = *u.choose(&config::GC_HEAP_CHOICES)?;
    let zeal = if u.arbitrary()? { NonZeroU32::new(1) } else { None };
    let make = |collector, heap, zeal| {
        let mut c = shared.clone();
        c.collector(collector).max_gc_heap_size(heap);
        c.gc_zeal_alloc_counter(zeal).expect("zeal is supported");
        c
    };
    Ok(vec![
        ("null", make(Collector::Null, config::MAX_GC_HEAP_BYTES, None)),
        ("copying", make(Collector::Copying, heap, zeal)),
        ("drc", make(Collector::Drc, heap, zeal)),
        ("generational", make(Collector::Generational, heap, zeal)),
    ])
}

/// Runs the valid module `wasm` under each configuration (which must
/// meter fuel), with call arguments from `u`.
///
/// # Panics
/// When two collectors disagree, with every side's answer and the module.
fn run(configs: &[(&'static str, Config)], wasm: &[u8], u: &mut Unstructured<'_>) -> Stats {
    let variants = configs
        .iter()
        .map(|(collector, config)| {
            let engine = Engine::new(config).expect("fuzzing configurations are valid");
            let module = checked_compile(&engine, wasm).expect("wasm-smith produced an invalid module");
            Variant { name: collector.to_string(), module }
        })
        .collect();
    agree::compare("collector_differential", variants, wasm, u, &ABANDON_ON)
}
