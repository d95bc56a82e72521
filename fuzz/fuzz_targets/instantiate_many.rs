//! Many instances of linked modules in several stores, calling across
//! them and checked against a model (`oracles::instantiate_many`).
#![no_main]

use kiln_fuzzing::arbitrary::Unstructured;

libfuzzer_sys::fuzz_target!(
    init: {
        // `RUST_LOG=debug` logs each input's configuration and module (see `kiln_fuzzing::repro`).
        let _ = env_logger::try_init();
    },
    |data: &[u8]| {
        // Running out of input is not a finding.
        let _ = kiln_fuzzing::oracles::instantiate_many::instantiate_many(&mut Unstructured::new(data));
    }
);
