//! Raw bytes into `Module::from_binary`: it must answer, never crash, and
//! agree with the reference validator (`oracles::compile`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    kiln_fuzzing::oracles::compile::compile(data);
});
