//! Sequences of externref table operations checked against a model
//! (`oracles::table_ops`).
#![no_main]

use kiln_fuzzing::arbitrary::Unstructured;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    // Running out of input is not a finding.
    let _ = kiln_fuzzing::oracles::table_ops::table_ops(&mut Unstructured::new(data));
});
