//! The compile oracles: any bytes go into `Module::from_binary`, which
//! must answer `Ok` or `Err` and never crash.
//!
//! Beyond not crashing, Kiln must agree with a reference validator:
//! wasmparser configured with Kiln's own feature set. A module it accepts
//! must compile (a compile error after validation means the translator or
//! compiler cannot handle valid code) and a module it rejects must not.

use arbitrary::Unstructured;
use kiln::{Engine, Module};

/// Compiles `wasm` with a default fuzzing engine; returns whether it
/// compiled.
pub fn compile(wasm: &[u8]) -> bool {
    crate::repro::log_case("compile", &"the default fuzzing engine (`generators::config::base_config`)", wasm);
    let engine = Engine::new(&crate::generators::config::base_config()).expect("the fuzzing configuration is valid");
    compile_with(&engine, wasm)
}

/// Compiles `wasm` with `engine`; returns whether it compiled.
pub fn compile_with(engine: &Engine, wasm: &[u8]) -> bool {
    checked_compile(engine, wasm).is_some()
}

/// Compiles `wasm` with `engine`, returning the module if it is valid.
///
/// # Panics
/// If Kiln and the reference validator disagree on whether `wasm` is
/// valid, or if compiling crashes.
pub fn checked_compile(engine: &Engine, wasm: &[u8]) -> Option<Module> {
    let reference = wasmparser::Validator::new_with_features(kiln_environ::wasm_features()).validate_all(wasm);
    let kiln = Module::from_binary(engine, wasm);
    match (reference, kiln) {
        (Ok(_), Ok(module)) => Some(module),
        (Err(_), Err(_)) => None,
        (Ok(_), Err(e)) => panic!("Kiln rejected a valid module: {e:#}\nmodule: {}", show(wasm)),
        (Err(e), Ok(_)) => panic!("Kiln accepted an invalid module (the validator says: {e})\nmodule: {}", show(wasm)),
    }
}

/// A wasm-smith module whose function bodies may be invalid; returns
/// whether it compiled.
pub fn compile_maybe_invalid(u: &mut Unstructured<'_>) -> arbitrary::Result<bool> {
    let wasm = crate::generators::smith::maybe_invalid_module(u)?;
    crate::repro::log_case("compile_maybe_invalid", &"the default fuzzing engine (`generators::config::base_config`)", &wasm);
    let engine = Engine::new(&crate::generators::config::base_config()).expect("the fuzzing configuration is valid");
    Ok(compile_with(&engine, &wasm))
}

/// A module for panic messages: as text to read, and as hex to reproduce
/// exactly (`xxd -r -p`), since text loses e.g. non-minimal LEB encodings.
pub(crate) fn show(wasm: &[u8]) -> String {
    let hex: String = wasm.iter().map(|b| format!("{b:02x}")).collect();
    match wasmprinter::print_bytes(wasm) {
        Ok(text) => format!("{text}\nbinary: {hex}"),
        Err(_) => format!("binary: {hex}"),
    }
}
