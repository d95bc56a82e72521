//! Exception handling: `throw`, `try_table` catch clauses, `throw_ref`,
//! unwinding across frames and modules, and uncaught exceptions.

use kiln::*;

fn instance(wat: &str) -> (Store<()>, Instance) {
    let engine = Engine::default();
    let module = Module::new(&engine, wat).unwrap();
    let mut store = Store::new(&engine, ());
    let instance = Linker::new(&engine).instantiate(&mut store, &module).unwrap();
    (store, instance)
}

const THROWER: &str = r#"(module
    (tag $e (param i32 i64))
    (tag $other)
    (func $throw (param i32) (throw $e (local.get 0) (i64.const 7)))
    (func $deep (param i32) (call $throw (local.get 0)))

    (func (export "catch_local") (result i32 i64)
        (block $h (result i32 i64)
            (try_table (catch $e $h) (throw $e (i32.const 1) (i64.const 2)))
            (unreachable)))

    (func (export "catch_across_frames") (param i32) (result i32)
        (block $h (result i32 i64)
            (try_table (catch $e $h) (call $deep (local.get 0)))
            (return (i32.const -1)))
        drop)

    (func (export "catch_all") (result i32)
        (block $h
            (try_table (catch_all $h) (call $deep (i32.const 3)))
            (return (i32.const 0)))
        (i32.const 1))

    (func (export "inner_misses_outer_catches") (result i32)
        (block $outer (result i32 i64)
            (block $inner
                (try_table (catch $e $outer)
                    (try_table (catch $other $inner) (call $deep (i32.const 42))))
                (return (i32.const -1)))
            (return (i32.const -2)))
        drop)

    (func (export "rethrow") (result i32)
        (block $h (result i32 i64)
            (try_table (catch $e $h)
                (block $r (result exnref)
                    (try_table (catch_all_ref $r) (call $deep (i32.const 9)))
                    (return (i32.const -1)))
                (throw_ref))
            (return (i32.const -2)))
        drop)

    (func (export "throw_ref_null") (throw_ref (ref.null exn)))
    (func (export "uncaught") (call $deep (i32.const 5)))
    (func (export "after") (result i32) (i32.const 99)))"#;

#[test]
fn throw_is_caught_by_an_enclosing_try_table_in_the_same_function() {
    let (mut store, i) = instance(THROWER);
    let f = i.get_typed_func::<(), (i32, i64)>(&mut store, "catch_local").unwrap();
    assert_eq!(f.call(&mut store, ()).unwrap(), (1, 2));
}

#[test]
fn exception_unwinds_through_callers_to_the_handler_with_its_payload() {
    let (mut store, i) = instance(THROWER);
    let f = i.get_typed_func::<i32, i32>(&mut store, "catch_across_frames").unwrap();
    assert_eq!(f.call(&mut store, 17).unwrap(), 17);
    // The landing pad leaves the frame usable: call again.
    assert_eq!(f.call(&mut store, -4).unwrap(), -4);
}

#[test]
fn catch_all_catches_any_tag() {
    let (mut store, i) = instance(THROWER);
    let f = i.get_typed_func::<(), i32>(&mut store, "catch_all").unwrap();
    assert_eq!(f.call(&mut store, ()).unwrap(), 1);
}

#[test]
fn a_clause_that_does_not_match_passes_the_exception_outward() {
    let (mut store, i) = instance(THROWER);
    let f = i.get_typed_func::<(), i32>(&mut store, "inner_misses_outer_catches").unwrap();
    assert_eq!(f.call(&mut store, ()).unwrap(), 42);
}

#[test]
fn catch_all_ref_and_throw_ref_rethrow_the_same_exception() {
    let (mut store, i) = instance(THROWER);
    let f = i.get_typed_func::<(), i32>(&mut store, "rethrow").unwrap();
    assert_eq!(f.call(&mut store, ()).unwrap(), 9);
}

#[test]
fn throw_ref_of_null_traps() {
    let (mut store, i) = instance(THROWER);
    let f = i.get_typed_func::<(), ()>(&mut store, "throw_ref_null").unwrap();
    let err = f.call(&mut store, ()).unwrap_err();
    assert_eq!(err.downcast_ref::<Trap>(), Some(&Trap::NullExceptionReference));
}

#[test]
fn an_uncaught_exception_reaches_the_host_as_the_pending_exception_and_the_store_stays_usable() {
    let (mut store, i) = instance(THROWER);
    let f = i.get_typed_func::<(), ()>(&mut store, "uncaught").unwrap();
    let err = f.call(&mut store, ()).unwrap_err();
    assert!(err.is::<kiln::ThrownException>(), "{err:?}");
    let exn = store.take_pending_exception().expect("the exception is pending");
    assert!(!store.has_pending_exception(), "taken");
    assert_eq!(exn.field(&mut store, 0).unwrap().unwrap_i32(), 5, "the payload of the uncaught throw");
    let after = i.get_typed_func::<(), i32>(&mut store, "after").unwrap();
    assert_eq!(after.call(&mut store, ()).unwrap(), 99);
}

#[test]
fn exceptions_cross_module_boundaries_with_imported_tags() {
    let engine = Engine::default();
    let mut store = Store::new(&engine, ());
    let mut linker = Linker::new(&engine);
    let thrower = Module::new(
        &engine,
        r#"(module (tag $e (export "e") (param i32))
            (func (export "boom") (param i32) (throw $e (local.get 0))))"#,
    )
    .unwrap();
    linker.module(&mut store, "lib", &thrower).unwrap();
    let catcher = Module::new(
        &engine,
        r#"(module
            (import "lib" "e" (tag $e (param i32)))
            (import "lib" "boom" (func $boom (param i32)))
            (func (export "run") (param i32) (result i32)
                (block $h (result i32)
                    (try_table (catch $e $h) (call $boom (local.get 0)))
                    (i32.const -1))))"#,
    )
    .unwrap();
    let i = linker.instantiate(&mut store, &catcher).unwrap();
    let run = i.get_typed_func::<i32, i32>(&mut store, "run").unwrap();
    assert_eq!(run.call(&mut store, 123).unwrap(), 123);
}

#[test]
fn deep_recursion_unwinds_to_a_handler_at_the_bottom() {
    let (mut store, i) = instance(
        r#"(module (tag $e (param i32))
            (func $down (param i32)
                (if (i32.eqz (local.get 0)) (then (throw $e (i32.const 1000))))
                (call $down (i32.sub (local.get 0) (i32.const 1))))
            (func (export "run") (result i32)
                (block $h (result i32)
                    (try_table (catch $e $h) (call $down (i32.const 1000)))
                    (i32.const -1))))"#,
    );
    let run = i.get_typed_func::<(), i32>(&mut store, "run").unwrap();
    assert_eq!(run.call(&mut store, ()).unwrap(), 1000);
}
