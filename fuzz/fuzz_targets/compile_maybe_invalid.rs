//! wasm-smith modules whose function bodies may be raw bytes, compiled
//! (`oracles::compile::compile_maybe_invalid`).
#![no_main]

use kiln_fuzzing::arbitrary::Unstructured;

libfuzzer_sys::fuzz_target!(
    init: {
        // `RUST_LOG=debug` logs each input's configuration and module (see `kiln_fuzzing::repro`).
        let _ = env_logger::try_init();
    },
    |data: &[u8]| {
        // Running out of input is not a finding.
        let _ = kiln_fuzzing::oracles::compile::compile_maybe_invalid(&mut Unstructured::new(data));
    }
);
