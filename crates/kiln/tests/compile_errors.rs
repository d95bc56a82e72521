//! Modules that cannot be compiled are errors from `Module::new`, never
//! panics or aborts.

use kiln::*;
use std::panic::{AssertUnwindSafe, catch_unwind};

/// Compiles `wat`, failing the test if compilation panics.
fn compile(wat: &str) -> Result<Module> {
    let engine = Engine::default();
    catch_unwind(AssertUnwindSafe(|| Module::new(&engine, wat))).unwrap_or_else(|_| panic!("Module::new panicked on {wat}"))
}

#[test]
fn malformed_binary_is_an_error() {
    let engine = Engine::default();
    assert!(Module::new(&engine, b"\0asm\x01\0\0\0\x01").is_err());
    assert!(Module::new(&engine, b"not wasm at all").is_err());
}

#[test]
fn invalid_module_is_an_error() {
    let err = compile(r#"(module (func (result i32) i64.const 1))"#).unwrap_err();
    assert!(format!("{err:#}").contains("type mismatch"), "{err:#}");
}

#[test]
fn module_whose_only_function_uses_an_unimplemented_instruction_does_not_panic() {
    // SIMD is not implemented yet: today this is an "unsupported" error;
    // once it is, the module compiles. Either way, no panic.
    if let Err(err) = compile(r#"(module (memory 1) (func (drop (v128.load (i32.const 0)))))"#) {
        assert!(format!("{err:#}").contains("unsupported"), "{err:#}");
    }
}

#[test]
fn failing_function_followed_by_other_functions_is_an_error_not_a_panic() {
    if let Err(err) = compile(r#"(module (memory 1) (func (drop (v128.load (i32.const 0)))) (func))"#) {
        assert!(format!("{err:#}").contains("unsupported"), "{err:#}");
    }
}

#[test]
fn failing_function_in_a_large_module_compiled_in_parallel_is_an_error_not_a_panic() {
    let mut wat = String::from(r#"(module (memory 1) (func (drop (v128.load (i32.const 0))))"#);
    for i in 0..16 {
        wat.push_str(&format!("(func (result i32) i32.const {i})"));
    }
    wat.push(')');
    if let Err(err) = compile(&wat) {
        assert!(format!("{err:#}").contains("unsupported"), "{err:#}");
    }
}

#[test]
fn proposals_the_config_disables_are_validation_errors() {
    let gc_module = r#"(module (type (struct (field i32))) (func (result anyref) (struct.new 0 (i32.const 1))))"#;
    let tail_call = r#"(module (func $f (return_call $f)))"#;
    let exceptions = r#"(module (tag) (func (throw 0)))"#;
    let typed_funcref = r#"(module (type $f (func)) (func (param (ref $f))))"#;
    let default = Engine::default();
    for wat in [gc_module, tail_call, exceptions, typed_funcref] {
        Module::new(&default, wat).unwrap();
    }

    let mut config = Config::new();
    config.wasm_gc(false).wasm_tail_call(false).wasm_exceptions(false).wasm_function_references(false);
    let engine = Engine::new(&config).unwrap();
    for (wat, feature) in [(gc_module, "gc"), (tail_call, "tail call"), (exceptions, "exceptions"), (typed_funcref, "function references")] {
        let err = Module::new(&engine, wat).unwrap_err();
        assert!(format!("{err:#}").contains(feature), "{err:#}");
        let wasm = wat::parse_str(wat).unwrap();
        assert!(Module::validate(&engine, &wasm).is_err());
        Module::validate(&default, &wasm).unwrap();
    }
}
