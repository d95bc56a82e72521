//! The cranelift_icache oracle. Kiln has no incremental compilation
//! cache; what it caches is whole compiled modules (`Module::serialize`,
//! `Module::deserialize`, and `Config::cache` on top of them). A module
//! that comes out of any of those must be the module that was compiled:
//!
//! - the artifact of a fresh compilation loads into another engine with
//!   the same settings, and serializing the loaded module gives the same
//!   bytes back;
//! - compiling is deterministic: an engine with a cache compiles the same
//!   artifact (its first `Module::new` misses and stores it), and its
//!   second `Module::new` is a hit;
//! - the fresh, deserialized and cached modules behave the same: equal
//!   results, traps, exported state and fuel (see `agree`), with only a
//!   stack overflow (whose depth depends on the host frames below the
//!   entry) ending the comparison.

use super::agree::{self, Stats, Variant};
use super::compile::{checked_compile, show};
use crate::generators::{config, smith};
use arbitrary::Unstructured;
use kiln::{Cache, CacheConfig, Config, Engine, Module, Trap};

/// Generates settings and a module, then compares the module's ways in.
pub fn cranelift_icache(u: &mut Unstructured<'_>) -> arbitrary::Result<Stats> {
    let config = config::kiln_config(u)?;
    let mut smith_config = smith::kiln_config(u)?;
    smith_config.export_everything = true;
    let wasm = wasm_smith::Module::new(smith_config, u)?.to_bytes();
    crate::repro::log_case("cranelift_icache", &config, &wasm);
    let variants = variants(&config, &wasm);
    Ok(agree::compare("cranelift_icache", variants, &wasm, u, &[Trap::StackOverflow]))
}

/// The module compiled fresh, loaded from its artifact, and loaded from a
/// cache; checks the artifacts on the way.
///
/// # Panics
/// When an artifact does not load or differs from the fresh one.
fn variants(config: &Config, wasm: &[u8]) -> Vec<Variant> {
    let engine = Engine::new(config).expect("fuzzing configurations are valid");
    let fresh = checked_compile(&engine, wasm).expect("wasm-smith produced an invalid module");
    let artifact = fresh.serialize().unwrap_or_else(|e| panic!("cranelift_icache: serializing failed: {e:#}\nmodule:\n{}", show(wasm)));
    let loaded = deserialize(config, &artifact, wasm);
    let (cached, compiled_by_cache) = through_cache(config, wasm);
    check_same_artifact("re-serializing the deserialized module", &artifact, &loaded.serialize(), wasm);
    check_same_artifact("compiling again (the cache's miss)", &artifact, &Ok(compiled_by_cache), wasm);
    vec![
        Variant { name: "fresh".into(), module: fresh },
        Variant { name: "deserialized".into(), module: loaded },
        Variant { name: "cached".into(), module: cached },
    ]
}

/// `artifact` loaded into a new engine with `config`.
fn deserialize(config: &Config, artifact: &[u8], wasm: &[u8]) -> Module {
    let engine = Engine::new(config).expect("fuzzing configurations are valid");
    // SAFETY: the artifact was made by Kiln just now, from this module.
    unsafe { Module::deserialize(&engine, artifact) }.unwrap_or_else(|e| panic!("cranelift_icache: a fresh artifact did not load: {e:#}\nmodule:\n{}", show(wasm)))
}

/// `wasm` compiled by an engine with a cache in a new temporary directory
/// (a miss, which stores it), then loaded again (which must hit). Returns
/// the module the hit loaded and the artifact the miss stored.
fn through_cache(config: &Config, wasm: &[u8]) -> (Module, Vec<u8>) {
    let dir = tempfile::tempdir().expect("a temporary directory for the module cache");
    let cache = Cache::new(CacheConfig::new().with_directory(dir.path()).clone()).expect("a module cache in a new directory");
    let mut config = config.clone();
    config.cache(Some(cache.clone()));
    let engine = Engine::new(&config).expect("fuzzing configurations are valid");
    let fail = |what: &str, e: &dyn std::fmt::Display| -> ! { panic!("cranelift_icache: {what}: {e}\nmodule:\n{}", show(wasm)) };
    let first = Module::new(&engine, wasm).unwrap_or_else(|e| fail("compiling with a cache", &format!("{e:#}")));
    let second = Module::new(&engine, wasm).unwrap_or_else(|e| fail("loading from the cache", &format!("{e:#}")));
    if (cache.misses(), cache.hits()) != (1, 1) {
        fail("the second compilation of a module should hit the cache", &format!("{} misses, {} hits", cache.misses(), cache.hits()));
    }
    let compiled = first.serialize().unwrap_or_else(|e| fail("serializing", &format!("{e:#}")));
    (second, compiled)
}

/// Panics unless `got` is `Ok(want)`, saying where they first differ.
fn check_same_artifact(what: &str, want: &[u8], got: &anyhow::Result<Vec<u8>>, wasm: &[u8]) {
    let got = match got {
        Ok(bytes) => bytes,
        Err(e) => panic!("cranelift_icache: {what}: {e:#}\nmodule:\n{}", show(wasm)),
    };
    if got != want {
        let at = want.iter().zip(got).position(|(a, b)| a != b).unwrap_or(want.len().min(got.len()));
        panic!("cranelift_icache: {what} changed the artifact: {} bytes then {}, first difference at byte {at}\nmodule:\n{}", want.len(), got.len(), show(wasm));
    }
}
