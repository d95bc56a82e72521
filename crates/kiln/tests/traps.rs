//! Every trap code Wasm code can raise reaches the embedder as an error
//! whose root cause is the matching `kiln::Trap` variant, with the spec
//! test suite's wording as its Display text.

use kiln::*;

/// Instantiates `wat` (no imports) and calls its export `name`.
fn call(wat: &str, name: &str, params: &[Val]) -> Result<Vec<Val>> {
    let engine = Engine::default();
    let module = Module::new(&engine, wat)?;
    let mut store = Store::new(&engine, ());
    let instance = Linker::new(&engine).instantiate(&mut store, &module)?;
    let func = instance.get_func(&mut store, name).expect("export exists");
    let mut results = vec![Val::I32(0); func.ty(&store).results().len()];
    func.call(&mut store, params, &mut results)?;
    Ok(results)
}

/// Asserts that calling `name` traps with `expected`, whose Display is `text`.
#[track_caller]
fn assert_trap(wat: &str, name: &str, params: &[Val], expected: Trap, text: &str) {
    let err = match call(wat, name, params) {
        Ok(results) => panic!("`{name}({params:?})` returned {results:?}, expected the trap `{text}`"),
        Err(err) => err,
    };
    let trap = err.downcast_ref::<Trap>();
    assert_eq!(trap, Some(&expected), "`{name}({params:?})`: wrong error: {err:?}");
    assert_eq!(trap.unwrap().to_string(), text);
    assert_eq!(err.root_cause().to_string(), text);
    assert!(format!("{err:#}").contains(text), "the error chain mentions the trap: {err:#}");
}

#[test]
fn unreachable_instruction_traps_with_unreachable() {
    assert_trap(r#"(module (func (export "f") unreachable))"#, "f", &[], Trap::UnreachableCodeReached, "unreachable");
}

#[test]
fn unreachable_after_other_work_traps_with_unreachable() {
    let wat = r#"(module (func (export "f") (param i32) (result i32)
        (if (i32.eqz (local.get 0)) (then (return (i32.const 1))))
        unreachable))"#;
    assert_eq!(call(wat, "f", &[Val::I32(0)]).unwrap()[0].unwrap_i32(), 1);
    assert_trap(wat, "f", &[Val::I32(5)], Trap::UnreachableCodeReached, "unreachable");
}

#[test]
fn signed_division_of_min_by_minus_one_traps_with_integer_overflow() {
    let wat = r#"(module
        (func (export "i32.div_s") (param i32 i32) (result i32) (i32.div_s (local.get 0) (local.get 1)))
        (func (export "i64.div_s") (param i64 i64) (result i64) (i64.div_s (local.get 0) (local.get 1))))"#;
    assert_trap(wat, "i32.div_s", &[Val::I32(i32::MIN), Val::I32(-1)], Trap::IntegerOverflow, "integer overflow");
    assert_trap(wat, "i64.div_s", &[Val::I64(i64::MIN), Val::I64(-1)], Trap::IntegerOverflow, "integer overflow");
}

#[test]
fn signed_remainder_of_min_by_minus_one_is_zero_not_a_trap() {
    let wat = r#"(module
        (func (export "i32.rem_s") (param i32 i32) (result i32) (i32.rem_s (local.get 0) (local.get 1)))
        (func (export "i64.rem_s") (param i64 i64) (result i64) (i64.rem_s (local.get 0) (local.get 1))))"#;
    assert_eq!(call(wat, "i32.rem_s", &[Val::I32(i32::MIN), Val::I32(-1)]).unwrap()[0].unwrap_i32(), 0);
    assert_eq!(call(wat, "i64.rem_s", &[Val::I64(i64::MIN), Val::I64(-1)]).unwrap()[0].unwrap_i64(), 0);
}

#[test]
fn float_to_int_truncation_out_of_range_traps_with_integer_overflow() {
    let wat = r#"(module
        (func (export "i32.trunc_f32_s") (param f32) (result i32) (i32.trunc_f32_s (local.get 0)))
        (func (export "i32.trunc_f64_u") (param f64) (result i32) (i32.trunc_f64_u (local.get 0)))
        (func (export "i64.trunc_f64_s") (param f64) (result i64) (i64.trunc_f64_s (local.get 0)))
        (func (export "i64.trunc_f32_u") (param f32) (result i64) (i64.trunc_f32_u (local.get 0))))"#;
    let cases = [
        ("i32.trunc_f32_s", Val::from(3.0e9f32)),
        ("i32.trunc_f32_s", Val::from(f32::NEG_INFINITY)),
        ("i32.trunc_f64_u", Val::from(-1.0f64)),
        ("i32.trunc_f64_u", Val::from(4294967296.0f64)),
        ("i64.trunc_f64_s", Val::from(9.3e18f64)),
        ("i64.trunc_f32_u", Val::from(-1.0f32)),
    ];
    for (name, arg) in cases {
        assert_trap(wat, name, &[arg], Trap::IntegerOverflow, "integer overflow");
    }
}

#[test]
fn integer_division_and_remainder_by_zero_trap_with_integer_divide_by_zero() {
    let wat = r#"(module
        (func (export "i32.div_s") (param i32 i32) (result i32) (i32.div_s (local.get 0) (local.get 1)))
        (func (export "i32.div_u") (param i32 i32) (result i32) (i32.div_u (local.get 0) (local.get 1)))
        (func (export "i32.rem_s") (param i32 i32) (result i32) (i32.rem_s (local.get 0) (local.get 1)))
        (func (export "i32.rem_u") (param i32 i32) (result i32) (i32.rem_u (local.get 0) (local.get 1)))
        (func (export "i64.div_s") (param i64 i64) (result i64) (i64.div_s (local.get 0) (local.get 1)))
        (func (export "i64.div_u") (param i64 i64) (result i64) (i64.div_u (local.get 0) (local.get 1)))
        (func (export "i64.rem_s") (param i64 i64) (result i64) (i64.rem_s (local.get 0) (local.get 1)))
        (func (export "i64.rem_u") (param i64 i64) (result i64) (i64.rem_u (local.get 0) (local.get 1))))"#;
    for op in ["i32.div_s", "i32.div_u", "i32.rem_s", "i32.rem_u"] {
        assert_trap(wat, op, &[Val::I32(7), Val::I32(0)], Trap::IntegerDivisionByZero, "integer divide by zero");
    }
    for op in ["i64.div_s", "i64.div_u", "i64.rem_s", "i64.rem_u"] {
        assert_trap(wat, op, &[Val::I64(7), Val::I64(0)], Trap::IntegerDivisionByZero, "integer divide by zero");
    }
}

#[test]
fn division_by_a_constant_zero_traps_with_integer_divide_by_zero() {
    // Constant operands must not let the compiler fold the trap away.
    let wat = r#"(module (func (export "f") (result i32) (i32.div_u (i32.const 1) (i32.const 0))))"#;
    assert_trap(wat, "f", &[], Trap::IntegerDivisionByZero, "integer divide by zero");
}

#[test]
fn nan_truncation_traps_with_invalid_conversion_to_integer() {
    let wat = r#"(module
        (func (export "i32.trunc_f32_s") (param f32) (result i32) (i32.trunc_f32_s (local.get 0)))
        (func (export "i32.trunc_f32_u") (param f32) (result i32) (i32.trunc_f32_u (local.get 0)))
        (func (export "i64.trunc_f64_s") (param f64) (result i64) (i64.trunc_f64_s (local.get 0)))
        (func (export "i64.trunc_f64_u") (param f64) (result i64) (i64.trunc_f64_u (local.get 0))))"#;
    for name in ["i32.trunc_f32_s", "i32.trunc_f32_u"] {
        assert_trap(wat, name, &[Val::from(f32::NAN)], Trap::BadConversionToInteger, "invalid conversion to integer");
    }
    for name in ["i64.trunc_f64_s", "i64.trunc_f64_u"] {
        assert_trap(wat, name, &[Val::from(f64::NAN)], Trap::BadConversionToInteger, "invalid conversion to integer");
    }
}

#[test]
fn saturating_truncation_of_nan_is_zero_not_a_trap() {
    let wat = r#"(module (func (export "f") (param f32) (result i32) (i32.trunc_sat_f32_s (local.get 0))))"#;
    assert_eq!(call(wat, "f", &[Val::from(f32::NAN)]).unwrap()[0].unwrap_i32(), 0);
}

#[test]
fn load_past_the_end_of_memory_traps_with_out_of_bounds_memory_access() {
    let wat = r#"(module (memory 1) (func (export "f") (param i32) (result i32) (i32.load (local.get 0))))"#;
    assert_trap(wat, "f", &[Val::I32(65536)], Trap::MemoryOutOfBounds, "out of bounds memory access");
}

#[test]
fn store_past_the_end_of_memory_traps_with_out_of_bounds_memory_access() {
    let wat = r#"(module (memory 1) (func (export "f") (param i32) (i64.store (local.get 0) (i64.const 1))))"#;
    assert_trap(wat, "f", &[Val::I32(65536)], Trap::MemoryOutOfBounds, "out of bounds memory access");
}

#[test]
fn bulk_memory_fill_past_the_end_traps_with_out_of_bounds_memory_access() {
    let wat = r#"(module (memory 1) (func (export "f") (param i32 i32) (memory.fill (local.get 0) (i32.const 0) (local.get 1))))"#;
    assert!(call(wat, "f", &[Val::I32(65536), Val::I32(0)]).is_ok(), "a zero-length fill at the end is in bounds");
    assert_trap(wat, "f", &[Val::I32(65535), Val::I32(2)], Trap::MemoryOutOfBounds, "out of bounds memory access");
}

#[test]
fn table_get_past_the_end_traps_with_out_of_bounds_table_access() {
    let wat = r#"(module (table 2 funcref) (func (export "f") (param i32) (result funcref) (table.get (local.get 0))))"#;
    assert!(call(wat, "f", &[Val::I32(1)]).is_ok());
    assert_trap(wat, "f", &[Val::I32(2)], Trap::TableOutOfBounds, "undefined element: out of bounds table access");
}

#[test]
fn table_set_past_the_end_traps_with_out_of_bounds_table_access() {
    let wat = r#"(module (table 2 externref) (func (export "f") (param i32) (table.set (local.get 0) (ref.null extern))))"#;
    assert_trap(wat, "f", &[Val::I32(-1)], Trap::TableOutOfBounds, "undefined element: out of bounds table access");
}

#[test]
fn call_indirect_past_the_end_of_the_table_traps_with_out_of_bounds_table_access() {
    let wat = r#"(module
        (type $t (func))
        (table 1 funcref)
        (func (export "f") (param i32) (call_indirect (type $t) (local.get 0))))"#;
    assert_trap(wat, "f", &[Val::I32(1)], Trap::TableOutOfBounds, "undefined element: out of bounds table access");
}

#[test]
fn call_indirect_to_a_null_element_traps_with_uninitialized_element() {
    let wat = r#"(module
        (type $t (func (result i32)))
        (table 2 funcref)
        (elem (i32.const 0) $one)
        (func $one (result i32) i32.const 1)
        (func (export "f") (param i32) (result i32) (call_indirect (type $t) (local.get 0))))"#;
    assert_eq!(call(wat, "f", &[Val::I32(0)]).unwrap()[0].unwrap_i32(), 1);
    assert_trap(wat, "f", &[Val::I32(1)], Trap::IndirectCallToNull, "uninitialized element");
}

#[test]
fn call_indirect_with_the_wrong_signature_traps_with_indirect_call_type_mismatch() {
    let wat = r#"(module
        (type $expected (func (result i32)))
        (table funcref (elem $takes_param))
        (func $takes_param (param i32) (result i32) local.get 0)
        (func (export "f") (result i32) (call_indirect (type $expected) (i32.const 0))))"#;
    assert_trap(wat, "f", &[], Trap::BadSignature, "indirect call type mismatch");
}

#[test]
fn call_indirect_to_a_structurally_equal_type_does_not_trap() {
    // Two separately declared but identical function types are the same
    // type: the signature check must not compare type indices.
    let wat = r#"(module
        (type $a (func (param i32) (result i32)))
        (type $b (func (param i32) (result i32)))
        (table funcref (elem $double))
        (func $double (type $a) (i32.mul (local.get 0) (i32.const 2)))
        (func (export "f") (param i32) (result i32) (call_indirect (type $b) (local.get 0) (i32.const 0))))"#;
    assert_eq!(call(wat, "f", &[Val::I32(21)]).unwrap()[0].unwrap_i32(), 42);
}

#[test]
fn ref_as_non_null_on_null_traps_with_null_reference() {
    let wat = r#"(module (func (export "f") (ref.as_non_null (ref.null func)) drop))"#;
    assert_trap(wat, "f", &[], Trap::NullReference, "null reference");
}

#[test]
fn ref_as_non_null_on_a_null_parameter_traps_with_null_reference() {
    let wat = r#"(module (func (export "f") (param externref) (ref.as_non_null (local.get 0)) drop))"#;
    assert_trap(wat, "f", &[Val::ExternRef(None)], Trap::NullReference, "null reference");
}

#[test]
fn call_ref_on_null_traps_with_null_function_reference() {
    let wat = r#"(module
        (type $t (func (result i32)))
        (func (export "f") (param (ref null $t)) (result i32) (call_ref $t (local.get 0))))"#;
    assert_trap(wat, "f", &[Val::FuncRef(None)], Trap::NullFunctionReference, "null function reference");
}

#[test]
fn call_ref_on_a_non_null_reference_calls_the_function() {
    let wat = r#"(module
        (type $t (func (result i32)))
        (elem declare func $seven)
        (func $seven (result i32) i32.const 7)
        (func (export "f") (result i32) (call_ref $t (ref.func $seven))))"#;
    assert_eq!(call(wat, "f", &[]).unwrap()[0].unwrap_i32(), 7);
}

#[test]
fn infinite_recursion_traps_with_call_stack_exhausted() {
    let wat = r#"(module (func $f (export "f") call $f))"#;
    assert_trap(wat, "f", &[], Trap::StackOverflow, "call stack exhausted");
}

#[test]
fn infinite_mutual_recursion_with_large_frames_traps_with_call_stack_exhausted() {
    // Many live values make each frame large; the check in the prologue must
    // still fire before the frame overruns the guard.
    let wat = r#"(module
        (func $a (export "f") (param i64) (result i64)
            (local i64 i64 i64 i64 i64 i64 i64 i64)
            (local.set 1 (i64.add (local.get 0) (i64.const 1)))
            (local.set 2 (i64.mul (local.get 1) (i64.const 3)))
            (local.set 3 (i64.mul (local.get 2) (i64.const 5)))
            (local.set 4 (i64.mul (local.get 3) (i64.const 7)))
            (i64.add (call $b (local.get 4))
                (i64.add (local.get 1) (i64.add (local.get 2) (i64.add (local.get 3) (local.get 4))))))
        (func $b (param i64) (result i64) (call $a (local.get 0))))"#;
    assert_trap(wat, "f", &[Val::I64(0)], Trap::StackOverflow, "call stack exhausted");
}

#[test]
fn every_trap_variant_has_the_spec_wording() {
    let expected = [
        (Trap::UnreachableCodeReached, "unreachable"),
        (Trap::IntegerOverflow, "integer overflow"),
        (Trap::IntegerDivisionByZero, "integer divide by zero"),
        (Trap::BadConversionToInteger, "invalid conversion to integer"),
        (Trap::MemoryOutOfBounds, "out of bounds memory access"),
        (Trap::TableOutOfBounds, "undefined element: out of bounds table access"),
        (Trap::IndirectCallToNull, "uninitialized element"),
        (Trap::BadSignature, "indirect call type mismatch"),
        (Trap::NullReference, "null reference"),
        (Trap::NullFunctionReference, "null function reference"),
        (Trap::StackOverflow, "call stack exhausted"),
    ];
    for (trap, text) in expected {
        assert_eq!(trap.to_string(), text, "{trap:?}");
    }
}

#[test]
fn a_trap_leaves_the_store_usable() {
    let engine = Engine::default();
    let module = Module::new(
        &engine,
        r#"(module
            (global $g (mut i32) (i32.const 0))
            (func (export "bump_then_trap") (global.set $g (i32.add (global.get $g) (i32.const 1))) unreachable)
            (func (export "get") (result i32) global.get $g))"#,
    )
    .unwrap();
    let mut store = Store::new(&engine, ());
    let instance = Linker::new(&engine).instantiate(&mut store, &module).unwrap();
    let bump = instance.get_typed_func::<(), ()>(&mut store, "bump_then_trap").unwrap();
    let get = instance.get_typed_func::<(), i32>(&mut store, "get").unwrap();
    for i in 1..=3 {
        let err = bump.call(&mut store, ()).unwrap_err();
        assert_eq!(err.downcast_ref::<Trap>(), Some(&Trap::UnreachableCodeReached));
        // Effects before the trap stay; the trap does not roll them back.
        assert_eq!(get.call(&mut store, ()).unwrap(), i);
    }
}

#[test]
fn traps_are_caught_on_a_freshly_spawned_thread() {
    std::thread::spawn(|| {
        assert_trap(r#"(module (func (export "f") unreachable))"#, "f", &[], Trap::UnreachableCodeReached, "unreachable");
        assert_trap(
            r#"(module (memory 0) (func (export "f") (drop (i32.load (i32.const 0)))))"#,
            "f",
            &[],
            Trap::MemoryOutOfBounds,
            "out of bounds memory access",
        );
        assert_trap(r#"(module (func $f (export "f") call $f))"#, "f", &[], Trap::StackOverflow, "call stack exhausted");
    })
    .join()
    .unwrap();
}

#[test]
fn traps_on_several_threads_at_once_reach_their_own_callers() {
    let engine = Engine::default();
    let module = Module::new(
        &engine,
        r#"(module (memory 1)
            (func (export "f") (param i32) (result i32)
                (if (i32.eq (local.get 0) (i32.const 0)) (then unreachable))
                (if (i32.eq (local.get 0) (i32.const 1)) (then (drop (i32.load (i32.const 70000)))))
                (if (i32.eq (local.get 0) (i32.const 2)) (then (drop (i32.div_u (i32.const 1) (i32.sub (local.get 0) (i32.const 2))))))
                (local.get 0)))"#,
    )
    .unwrap();
    let expected = [Trap::UnreachableCodeReached, Trap::MemoryOutOfBounds, Trap::IntegerDivisionByZero];
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let (engine, module) = (engine.clone(), module.clone());
            std::thread::spawn(move || {
                let mut store = Store::new(&engine, ());
                let instance = Linker::new(&engine).instantiate(&mut store, &module).unwrap();
                let f = instance.get_typed_func::<i32, i32>(&mut store, "f").unwrap();
                for i in 0..300 {
                    let which = (i + t) % 4;
                    match f.call(&mut store, which) {
                        Ok(v) => assert_eq!((which, v), (3, 3)),
                        Err(err) => assert_eq!(err.downcast_ref::<Trap>(), Some(&expected[which as usize]), "{err:?}"),
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

#[test]
fn return_call_indirect_to_a_null_element_traps_with_uninitialized_element() {
    let wat = r#"(module
        (type $t (func (result i32)))
        (table 1 funcref)
        (func (export "f") (result i32) (return_call_indirect (type $t) (i32.const 0))))"#;
    assert_trap(wat, "f", &[], Trap::IndirectCallToNull, "uninitialized element");
}

#[test]
fn return_call_indirect_with_the_wrong_signature_traps_with_indirect_call_type_mismatch() {
    let wat = r#"(module
        (type $t (func (result i32)))
        (table funcref (elem $g))
        (func $g (result i64) i64.const 0)
        (func (export "f") (result i32) (return_call_indirect (type $t) (i32.const 0))))"#;
    assert_trap(wat, "f", &[], Trap::BadSignature, "indirect call type mismatch");
}

#[test]
fn return_call_indirect_past_the_end_of_the_table_traps_with_out_of_bounds_table_access() {
    let wat = r#"(module
        (type $t (func))
        (table 1 funcref)
        (func (export "f") (return_call_indirect (type $t) (i32.const 1))))"#;
    assert_trap(wat, "f", &[], Trap::TableOutOfBounds, "undefined element: out of bounds table access");
}

#[test]
fn return_call_ref_on_null_traps_with_null_function_reference() {
    let wat = r#"(module
        (type $t (func))
        (func (export "f") (return_call_ref $t (ref.null $t))))"#;
    assert_trap(wat, "f", &[], Trap::NullFunctionReference, "null function reference");
}

#[test]
fn trap_in_a_tail_called_function_is_reported() {
    let wat = r#"(module
        (func $g (param i32) (result i32) (i32.div_s (i32.const 1) (local.get 0)))
        (func (export "f") (param i32) (result i32) (return_call $g (local.get 0))))"#;
    assert_trap(wat, "f", &[Val::I32(0)], Trap::IntegerDivisionByZero, "integer divide by zero");
}
