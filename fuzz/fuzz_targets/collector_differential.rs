//! One wasm-smith GC module under every collector (null, copying, DRC,
//! zeal in half the inputs), which must agree
//! (`oracles::collectors`).
#![no_main]

use kiln_fuzzing::arbitrary::Unstructured;

libfuzzer_sys::fuzz_target!(
    init: {
        // Lazily made per-thread state (thread-local destructors the
        // compiler's dependencies register on first use) is set up before
        // fuzzing, so LeakSanitizer does not report it against the first
        // input that happens to touch it.
        for seed in 0..64u8 {
            let bytes: Vec<u8> = (0..4096u32).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect();
            let _ = kiln_fuzzing::oracles::collectors::collector_differential(&mut Unstructured::new(&bytes));
        }
    },
    |data: &[u8]| {
        // Running out of input is not a finding.
        let _ = kiln_fuzzing::oracles::collectors::collector_differential(&mut Unstructured::new(data));
    }
);
