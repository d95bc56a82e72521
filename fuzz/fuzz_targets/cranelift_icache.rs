//! One wasm-smith module compiled fresh, deserialized and loaded from a
//! module cache: all three must agree (`oracles::cranelift_icache`).
#![no_main]

use kiln_fuzzing::arbitrary::Unstructured;

libfuzzer_sys::fuzz_target!(
    init: {
        // `RUST_LOG=debug` logs each input's configuration and module (see `kiln_fuzzing::repro`).
        let _ = env_logger::try_init();
    },
    |data: &[u8]| {
        // Running out of input is not a finding.
        let _ = kiln_fuzzing::oracles::cranelift_icache::cranelift_icache(&mut Unstructured::new(data));
    }
);
