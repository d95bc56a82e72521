//! Every generator/oracle pair, run a few hundred times from fixed seeds.
//!
//! The input of iteration `i` is a byte buffer filled by a xorshift
//! generator seeded with `i` (and the oracle's name), so a failure names
//! its seed and reruns identically: `reproduce` below turns a seed back
//! into the buffer. Besides "no oracle panicked", each test checks that
//! its generator reaches the states the oracle is there to check (modules
//! that instantiate, calls that return and calls that trap, table
//! operations out of bounds, ...), so a generator that silently degrades
//! to trivial inputs fails here.
//!
//! Budget: the whole file runs in well under a minute in a debug build on
//! two cores. `KILN_FUZZING_SCALE=N` runs N times as many iterations (new
//! seeds after the usual ones), for a longer hunt without cargo-fuzz.

use kiln_fuzzing::arbitrary::Unstructured;
use kiln_fuzzing::oracles::{self, Outcome};

/// Fills a buffer from a xorshift64* stream. Lengths vary with the seed
/// so generators see both short and long inputs.
fn seeded_bytes(seed: u64, max_len: usize) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut next = move || {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        state.wrapping_mul(0x2545_f491_4f6c_dd1d)
    };
    let len = max_len / 4 + (next() as usize % (max_len - max_len / 4));
    (0..len).map(|_| (next() >> 56) as u8).collect()
}

/// The seed of iteration `i` of the oracle `name`: distinct oracles see
/// distinct inputs.
fn seed(name: &str, i: u64) -> u64 {
    name.bytes().fold(i, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)))
}

/// Runs `f` on `iterations` seeded buffers (times `KILN_FUZZING_SCALE`),
/// saying which seed failed.
fn for_each_seed(name: &str, iterations: u64, max_len: usize, mut f: impl FnMut(&mut Unstructured<'_>)) {
    let scale: u64 = std::env::var("KILN_FUZZING_SCALE").ok().and_then(|s| s.parse().ok()).unwrap_or(1);
    for i in 0..iterations * scale {
        let bytes = seeded_bytes(seed(name, i), max_len);
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&mut Unstructured::new(&bytes))));
        if let Err(panic) = result {
            eprintln!("{name}: iteration {i} failed (reproduce with `reproduce(\"{name}\", {i}, {max_len})`)");
            std::panic::resume_unwind(panic);
        }
    }
}

/// The buffer of one iteration, for turning a failure into a regression
/// test.
#[allow(dead_code)]
fn reproduce(name: &str, i: u64, max_len: usize) -> Vec<u8> {
    seeded_bytes(seed(name, i), max_len)
}

#[test]
fn compile_random_and_mutated_bytes() {
    let (mut compiled, mut total) = (0, 0);
    for_each_seed("compile", 300, 4096, |u| {
        let bytes = if u.arbitrary::<bool>().unwrap() {
            // A header, so the parser gets past the magic number.
            let mut b = b"\0asm\x01\0\0\0".to_vec();
            let rest = u.len();
            b.extend_from_slice(u.bytes(rest).unwrap());
            b
        } else {
            // A valid module with a few bytes changed: mostly invalid,
            // but close enough to valid to reach deep into validation.
            let Ok(mut wasm) = kiln_fuzzing::generators::smith::valid_module(u) else { return };
            for _ in 0..u.int_in_range(0..=3).unwrap() {
                let at = u.choose_index(wasm.len()).unwrap();
                wasm[at] = u.arbitrary().unwrap();
            }
            wasm
        };
        total += 1;
        compiled += usize::from(oracles::compile::compile(&bytes));
    });
    eprintln!("compile: {compiled} of {total} compiled");
    assert!(compiled > 0 && compiled < total, "{compiled} of {total} inputs compiled: both outcomes should occur");
}

#[test]
fn compile_maybe_invalid() {
    let (mut compiled, mut total) = (0, 0);
    for_each_seed("compile_maybe_invalid", 300, 4096, |u| {
        if let Ok(ok) = oracles::compile::compile_maybe_invalid(u) {
            total += 1;
            compiled += usize::from(ok);
        }
    });
    eprintln!("compile_maybe_invalid: {compiled} of {total} compiled");
    assert!(compiled > 0 && compiled < total, "{compiled} of {total} modules compiled: both outcomes should occur");
}

#[test]
fn instantiate() {
    let (mut modules, mut instantiated, mut returned, mut trapped) = (0, 0, 0, 0);
    for_each_seed("instantiate", 300, 8192, |u| {
        let Ok(report) = oracles::instantiate::instantiate(u) else { return };
        modules += 1;
        instantiated += usize::from(report.instantiation == Some(Outcome::Ok));
        for (_, outcome) in &report.calls {
            returned += usize::from(*outcome == Outcome::Ok);
            trapped += usize::from(matches!(outcome, Outcome::Trap(_)));
        }
    });
    eprintln!("instantiate: {instantiated} of {modules} instantiated; calls: {returned} returned, {trapped} trapped");
    assert!(instantiated * 2 > modules, "only {instantiated} of {modules} modules instantiated");
    assert!(returned > 0 && trapped > 0, "calls: {returned} returned, {trapped} trapped");
}

#[test]
fn table_ops() {
    let mut total = oracles::table_ops::Stats::default();
    for_each_seed("table_ops", 300, 512, |u| {
        let Ok(stats) = oracles::table_ops::table_ops(u) else { return };
        total.ops += stats.ops;
        total.traps += stats.traps;
        total.refused_grows += stats.refused_grows;
        total.refs_matched += stats.refs_matched;
        total.collections += stats.collections;
    });
    eprintln!("table_ops: {total:?}");
    assert!(total.ops > 1000, "{total:?}");
    assert!(total.traps > 0 && total.refused_grows > 0 && total.refs_matched > 100, "{total:?}");
    assert!(total.collections > 50, "collections should happen, by request and when full: {total:?}");
}

#[test]
fn api_calls() {
    let mut total = oracles::api_calls::Stats::default();
    for_each_seed("api_calls", 300, 1024, |u| {
        let Ok(stats) = oracles::api_calls::api_calls(u) else { return };
        total.performed += stats.performed;
        total.instances += stats.instances;
        total.func_calls += stats.func_calls;
        total.func_returns += stats.func_returns;
        total.checked_calls += stats.checked_calls;
    });
    eprintln!("api_calls: {total:?}");
    assert!(total.instances > 100, "{total:?}");
    assert!(total.func_returns > 100 && total.func_returns < total.func_calls, "{total:?}");
    assert!(total.checked_calls > 50, "{total:?}");
}

#[cfg(feature = "wasmi")]
#[test]
fn differential_against_wasmi() {
    let mut total = oracles::differential::Stats::default();
    for_each_seed("differential", 300, 8192, |u| {
        let Ok(stats) = oracles::differential::differential(u) else { return };
        total.instantiated += stats.instantiated;
        total.calls += stats.calls;
        total.returns += stats.returns;
        total.abandoned += stats.abandoned;
        total.peer_rejected += stats.peer_rejected;
    });
    eprintln!("differential: {total:?}");
    assert!(total.instantiated > 150 && total.returns > 100, "{total:?}");
    assert!(total.calls > total.returns, "some compared calls should trap on both sides: {total:?}");
}

#[test]
fn collector_differential() {
    let mut total = oracles::collectors::Stats::default();
    for_each_seed("collectors", 300, 8192, |u| {
        let Ok(stats) = oracles::collectors::collector_differential(u) else { return };
        total.instantiated += stats.instantiated;
        total.calls += stats.calls;
        total.returns += stats.returns;
        total.traps += stats.traps;
        total.abandoned += stats.abandoned;
    });
    eprintln!("collector_differential: {total:?}");
    assert!(total.instantiated > 50 && total.returns > 50, "{total:?}");
    assert!(total.traps > 0, "some compared calls should trap everywhere: {total:?}");
}

#[test]
fn spectests() {
    // Small scripts only: a debug build runs the large SIMD scripts slowly,
    // and cargo-fuzz (release) takes them all.
    let mut ran = std::collections::BTreeSet::new();
    for_each_seed("spectests", 12, 256, |u| {
        if let Ok(report) = oracles::spectests::spectests(u, 20_000) {
            ran.insert(report.script);
        }
    });
    eprintln!("spectests: {} scripts: {ran:?}", ran.len());
    assert!(ran.len() >= 6, "{ran:?}");
}

#[test]
fn instantiate_many() {
    let mut total = oracles::instantiate_many::Stats::default();
    for_each_seed("instantiate_many", 150, 1024, |u| {
        if let Ok(stats) = oracles::instantiate_many::instantiate_many(u) {
            total.add(stats);
        }
    });
    eprintln!("instantiate_many: {total:?}");
    assert!(total.linked > 100 && total.returns > 300 && total.traps > 20, "{total:?}");
    assert!(total.stores_dropped > 0 && total.instances_dropped > 0 && total.checked_exports > 100, "{total:?}");
}

#[test]
fn gc_ops() {
    let mut total = oracles::gc_ops::Stats::default();
    for_each_seed("gc_ops", 150, 1024, |u| {
        if let Ok(stats) = oracles::gc_ops::gc_ops(u) {
            total.add(stats);
        }
    });
    eprintln!("gc_ops: {total:?}");
    assert!(total.runs > 300 && total.observations > 5000, "{total:?}");
    assert!(total.traps > 10 && total.collections > 100, "{total:?}");
}

#[test]
fn cranelift_fuzzgen() {
    let mut total = oracles::agree::Stats::default();
    for_each_seed("cranelift_fuzzgen", 120, 8192, |u| {
        if let Ok(stats) = oracles::cranelift_fuzzgen::cranelift_fuzzgen(u) {
            total.add(stats);
        }
    });
    eprintln!("cranelift_fuzzgen: {total:?}");
    assert!(total.instantiated > 30 && total.returns > 30, "{total:?}");
    assert!(total.traps > 0, "some compared calls should trap in every build: {total:?}");
}

#[test]
fn cranelift_icache() {
    let mut total = oracles::agree::Stats::default();
    for_each_seed("cranelift_icache", 80, 8192, |u| {
        if let Ok(stats) = oracles::cranelift_icache::cranelift_icache(u) {
            total.add(stats);
        }
    });
    eprintln!("cranelift_icache: {total:?}");
    assert!(total.instantiated > 20 && total.returns > 20, "{total:?}");
}
