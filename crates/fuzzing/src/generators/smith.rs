//! Wasm modules from wasm-smith, shaped for Kiln.
//!
//! The swarm configuration (`wasm_smith::Config`'s `Arbitrary`) picks which
//! features and instruction kinds a module may use; we then switch off
//! what Kiln does not implement (everything outside Wasm 3.0, and
//! threads) and clamp every size, so a module compiles in milliseconds and
//! its memories and tables stay small. Memories are at most 16 pages and
//! tables 1000 elements at instantiation; growth is capped by the engine
//! (see `generators::config`).

use arbitrary::{Result, Unstructured};
use wasm_smith::Config;

/// Largest initial or maximum size of a generated memory, in bytes.
pub const MAX_MEMORY_BYTES: u64 = 16 << 16;
/// Largest initial or maximum size of a generated table, in elements.
pub const MAX_TABLE_ELEMENTS: u64 = 1000;

/// A swarm configuration within what Kiln supports.
pub fn kiln_config(u: &mut Unstructured<'_>) -> Result<Config> {
    let mut config: Config = u.arbitrary()?;
    restrict_to_wasm3(&mut config);
    bound_sizes(&mut config);
    set_floors(u, &mut config)?;
    Ok(config)
}

/// A valid module Kiln should compile.
pub fn valid_module(u: &mut Unstructured<'_>) -> Result<Vec<u8>> {
    let config = kiln_config(u)?;
    Ok(wasm_smith::Module::new(config, u)?.to_bytes())
}

/// A module whose function bodies may be raw bytes, so it may be invalid:
/// this reaches the validator and translator with almost-valid code that
/// plain random bytes rarely get to.
pub fn maybe_invalid_module(u: &mut Unstructured<'_>) -> Result<Vec<u8>> {
    let mut config = kiln_config(u)?;
    config.allow_invalid_funcs = true;
    Ok(wasm_smith::Module::new(config, u)?.to_bytes())
}

/// Switches off proposals Kiln's validator rejects: Kiln accepts
/// `WasmFeatures::WASM3` minus threads (see `kiln_environ::wasm_features`).
/// Only switching off keeps the configuration consistent: wasm-smith's own
/// sanitising already made dependent features agree.
fn restrict_to_wasm3(config: &mut Config) {
    config.threads_enabled = false;
    config.shared_everything_threads_enabled = false;
    config.wide_arithmetic_enabled = false;
    config.custom_page_sizes_enabled = false;
    config.compact_imports_enabled = false;
    config.custom_descriptors_enabled = false;
    config.acquire_release_atomics_enabled = false;
    config.multibyte_array_access_enabled = false;
}

/// Clamps counts and sizes: small modules find most bugs, and debug-build
/// test runs must stay fast.
fn bound_sizes(config: &mut Config) {
    config.max_types = config.max_types.min(16);
    config.max_type_size = config.max_type_size.min(64);
    config.max_imports = config.max_imports.min(8);
    config.max_funcs = config.max_funcs.min(10);
    config.max_instructions = config.max_instructions.min(80);
    config.max_globals = config.max_globals.min(8);
    config.max_tags = config.max_tags.min(4);
    config.max_exports = config.max_exports.min(16);
    config.max_element_segments = config.max_element_segments.min(4);
    config.max_elements = config.max_elements.min(16);
    config.max_data_segments = config.max_data_segments.min(4);
    config.max_memories = config.max_memories.min(2);
    config.max_tables = config.max_tables.min(3);
    config.max_memory32_bytes = config.max_memory32_bytes.min(MAX_MEMORY_BYTES);
    config.max_memory64_bytes = config.max_memory64_bytes.min(MAX_MEMORY_BYTES as u128);
    config.max_table_elements = config.max_table_elements.min(MAX_TABLE_ELEMENTS);
}

/// Input-chosen minimum counts. wasm-smith decides "one more?" with one
/// input bit per item, so from uniform bytes (a fixed-seed test, an early
/// fuzzing corpus) most modules would have no types and hence no
/// functions; a small floor makes them worth running.
fn set_floors(u: &mut Unstructured<'_>, config: &mut Config) -> Result<()> {
    config.min_types = u.int_in_range(0..=4)?.min(config.max_types);
    if config.gc_enabled {
        // wasm-smith 0.263 can loop for ever filling a type floor with GC
        // on: once the input is used up, each round "clones" a rec group
        // that does not fit and adds nothing. Seen by the
        // collector_differential target.
        config.min_types = 0;
    }
    config.min_funcs = u.int_in_range(0..=4)?.min(config.max_funcs);
    config.min_globals = u.int_in_range(0..=2)?.min(config.max_globals);
    Ok(())
}

/// A configuration for differential execution against wasmi: only what
/// wasmi 1.1 implements (no GC, function references or exceptions),
/// deterministic (no relaxed SIMD; NaNs canonicalised, since engines may
/// produce different NaN bits), no imports (nothing to match between the
/// engines), everything exported (so memories and globals can be compared)
/// and every memory and table with a maximum (so `memory.grow` and
/// `table.grow` fail at the same size on both engines, whatever their own
/// limits).
#[cfg(feature = "wasmi")]
pub fn wasmi_config(u: &mut Unstructured<'_>) -> Result<Config> {
    let mut config = kiln_config(u)?;
    config.gc_enabled = false;
    config.exceptions_enabled = false;
    config.relaxed_simd_enabled = false;
    config.max_tags = 0;
    config.canonicalize_nans = true;
    config.max_imports = 0;
    config.export_everything = true;
    config.memory_max_size_required = true;
    config.table_max_size_required = true;
    Ok(config)
}

/// A valid module both Kiln and wasmi should run identically.
#[cfg(feature = "wasmi")]
pub fn wasmi_module(u: &mut Unstructured<'_>) -> Result<Vec<u8>> {
    let config = wasmi_config(u)?;
    Ok(wasm_smith::Module::new(config, u)?.to_bytes())
}
