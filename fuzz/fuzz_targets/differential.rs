//! wasm-smith modules run on Kiln and on wasmi, which must agree
//! (`oracles::differential`). Needs `--features wasmi`.
#![no_main]

use kiln_fuzzing::arbitrary::Unstructured;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    // Running out of input is not a finding.
    let _ = kiln_fuzzing::oracles::differential::differential(&mut Unstructured::new(data));
});
