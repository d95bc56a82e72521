//! Raw bytes into `Module::from_binary`: it must answer, never crash, and
//! agree with the reference validator (`oracles::compile`).
#![no_main]

libfuzzer_sys::fuzz_target!(
    init: {
        // `RUST_LOG=debug` logs each input's configuration and module (see `kiln_fuzzing::repro`).
        let _ = env_logger::try_init();
    },
    |data: &[u8]| {
        kiln_fuzzing::oracles::compile::compile(data);
    }
);
