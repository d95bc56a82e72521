//! Typed GC operation sequences compiled to a module, run under every
//! collector and checked against a model of the object graph
//! (`oracles::gc_ops`).
#![no_main]

use kiln_fuzzing::arbitrary::Unstructured;

libfuzzer_sys::fuzz_target!(
    init: {
        // `RUST_LOG=debug` logs each input's configuration and module (see `kiln_fuzzing::repro`).
        let _ = env_logger::try_init();
    },
    |data: &[u8]| {
        // Running out of input is not a finding.
        let _ = kiln_fuzzing::oracles::gc_ops::gc_ops(&mut Unstructured::new(data));
    }
);
