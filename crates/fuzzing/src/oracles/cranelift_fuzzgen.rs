//! The cranelift_fuzzgen oracle (Kiln's adaptation of Cranelift's
//! fuzzgen): one wasm-smith module, compiled by Cranelift unoptimised
//! (`OptLevel::None`) and optimised (`OptLevel::Speed`), each with
//! explicit bounds checks and with guard pages, must behave the same in
//! all four builds: equal results, the same traps, the same exported
//! memories, globals and tables, the same fuel left (see `agree`).
//!
//! Everything else (collector, GC heap, zeal, stack size) is chosen once
//! by the input for all four, so only code generation differs. Fuel is
//! charged per Wasm operator at translation time, before Cranelift
//! optimises, so it is part of the comparison; running out of it is an
//! ordinary trap that every build must hit at the same operator. Builds
//! may part ways on a stack overflow (optimisation changes frame sizes)
//! and on a full GC heap (liveness, and so what the DRC collector frees,
//! may differ), where the module is abandoned.

use super::agree::{self, Stats, Variant};
use super::compile::checked_compile;
use crate::generators::{config, smith};
use arbitrary::Unstructured;
use kiln::{BoundsChecks, Config, Engine, OptLevel, Trap};

/// Traps after which the builds may legitimately part ways.
const ABANDON_ON: [Trap; 2] = [Trap::StackOverflow, Trap::GcHeapOutOfMemory];

/// Generates the shared settings and a module, then compares the builds.
pub fn cranelift_fuzzgen(u: &mut Unstructured<'_>) -> arbitrary::Result<Stats> {
    let shared = config::kiln_config(u)?;
    let mut smith_config = smith::kiln_config(u)?;
    smith_config.export_everything = true;
    let wasm = wasm_smith::Module::new(smith_config, u)?.to_bytes();
    let configs = codegen_configs(&shared);
    crate::repro::log_case("cranelift_fuzzgen", &configs, &wasm);
    let variants = configs
        .into_iter()
        .map(|(name, config)| {
            let engine = Engine::new(&config).expect("fuzzing configurations are valid");
            let module = checked_compile(&engine, &wasm).expect("wasm-smith produced an invalid module");
            Variant { name, module }
        })
        .collect();
    Ok(agree::compare("cranelift_fuzzgen", variants, &wasm, u, &ABANDON_ON))
}

/// `shared` at each optimisation level with each bounds-check strategy.
pub fn codegen_configs(shared: &Config) -> Vec<(String, Config)> {
    let mut configs = Vec::new();
    for opt in [OptLevel::None, OptLevel::Speed] {
        for bounds in [BoundsChecks::Explicit, BoundsChecks::GuardPages] {
            let mut c = shared.clone();
            c.cranelift_opt_level(opt).bounds_checks(bounds);
            configs.push((format!("{opt:?}/{bounds:?}"), c));
        }
    }
    configs
}
