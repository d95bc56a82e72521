//! wasm-smith modules compiled, instantiated with dummy imports and their
//! exports called, under fuel (`oracles::instantiate`).
#![no_main]

use kiln_fuzzing::arbitrary::Unstructured;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    // Running out of input is not a finding.
    let _ = kiln_fuzzing::oracles::instantiate::instantiate(&mut Unstructured::new(data));
});
