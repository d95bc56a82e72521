//! One wasm-smith GC module under every collector (null, copying, DRC,
//! zeal in half the inputs), which must agree
//! (`oracles::collectors`).
#![no_main]

use kiln_fuzzing::arbitrary::Unstructured;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    // Running out of input is not a finding.
    let _ = kiln_fuzzing::oracles::collectors::collector_differential(&mut Unstructured::new(data));
});
