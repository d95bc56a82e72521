//! Errors and panics raised by host functions, crossing Wasm frames and
//! nested host -> Wasm -> host activations on their way back to the
//! embedder.

use kiln::*;
use std::panic::{AssertUnwindSafe, catch_unwind};

/// The embedder's own error type, to check that the error the caller gets
/// is the one the host function returned.
#[derive(Debug, PartialEq)]
struct HostFailure {
    code: u32,
}

impl std::fmt::Display for HostFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "host failure {}", self.code)
    }
}

impl std::error::Error for HostFailure {}

/// The panic payload of the host function that panics.
#[derive(Debug, PartialEq)]
struct HostPanic(u32);

/// `run(n)` calls the host's `enter(n)`. `enter(n)` calls back into Wasm,
/// `nested(n - 1)`, which goes through `inner` to `enter(n - 1)`; at 0,
/// `enter` does whatever the test asks. So `run(3)` is:
/// run -> enter(3) -> nested -> inner -> enter(2) -> ... -> enter(0).
const LADDER: &str = r#"(module
    (import "host" "enter" (func $enter (param i32) (result i32)))
    (func $run (export "run") (param i32) (result i32)
        (call $enter (local.get 0)))
    (func $nested (export "nested") (param i32) (result i32)
        (i32.add (call $inner (local.get 0)) (i32.const 1)))
    (func $inner (param i32) (result i32)
        (call $enter (local.get 0))))"#;

#[derive(Clone, Copy)]
enum AtBottom {
    Return(i32),
    Fail,
    Panic,
    Trap,
}

struct Ladder {
    store: Store<Vec<i32>>,
    run: TypedFunc<i32, i32>,
}

/// Instantiates `LADDER` with an `enter` that records each level it sees
/// in the store data and acts as `bottom` says at level 0.
fn ladder(bottom: AtBottom) -> Ladder {
    let engine = Engine::default();
    ladder_in(&engine, bottom)
}

fn ladder_in(engine: &Engine, bottom: AtBottom) -> Ladder {
    let module = Module::new(engine, LADDER).unwrap();
    let mut store = Store::new(engine, Vec::new());
    let mut linker = Linker::new(engine);
    linker
        .func_wrap("host", "enter", move |mut caller: Caller<'_, Vec<i32>>, n: i32| -> Result<i32> {
            caller.data_mut().push(n);
            if n > 0 {
                let nested = caller.get_export("nested").unwrap().into_func().unwrap();
                let mut result = [Val::I32(0)];
                nested.call(&mut caller, &[Val::I32(n - 1)], &mut result)?;
                return Ok(result[0].unwrap_i32() * 10);
            }
            match bottom {
                AtBottom::Return(v) => Ok(v),
                AtBottom::Fail => Err(HostFailure { code: 42 }.into()),
                AtBottom::Panic => std::panic::panic_any(HostPanic(7)),
                AtBottom::Trap => {
                    let trap = Module::new(caller.engine(), r#"(module (func (export "trap") unreachable))"#).unwrap();
                    let instance = Instance::new(&mut caller, &trap, &[]).unwrap();
                    instance.get_typed_func::<(), ()>(&mut caller, "trap").unwrap().call(&mut caller, ())?;
                    unreachable!("the call traps")
                }
            }
        })
        .unwrap();
    let instance = linker.instantiate(&mut store, &module).unwrap();
    let run = instance.get_typed_func::<i32, i32>(&mut store, "run").unwrap();
    Ladder { store, run }
}

#[test]
fn nested_host_and_wasm_calls_return_values_through_every_level() {
    let Ladder { mut store, run } = ladder(AtBottom::Return(5));
    // Going back up, each Wasm level adds 1 and each host level above the
    // bottom multiplies by 10.
    assert_eq!(run.call(&mut store, 3).unwrap(), (((5 + 1) * 10 + 1) * 10 + 1) * 10);
    assert_eq!(store.data(), &[3, 2, 1, 0]);
}

#[test]
fn host_error_reaches_the_caller_as_the_same_error() {
    let Ladder { mut store, run } = ladder(AtBottom::Fail);
    let err = run.call(&mut store, 3).unwrap_err();
    assert_eq!(err.root_cause().downcast_ref::<HostFailure>(), Some(&HostFailure { code: 42 }), "{err:?}");
    assert_eq!(err.downcast_ref::<HostFailure>(), Some(&HostFailure { code: 42 }), "{err:?}");
    assert_eq!(store.data(), &[3, 2, 1, 0], "every level ran once");
}

#[test]
fn host_error_is_not_reported_as_a_trap() {
    let Ladder { mut store, run } = ladder(AtBottom::Fail);
    let err = run.call(&mut store, 3).unwrap_err();
    assert_eq!(err.downcast_ref::<Trap>(), None, "{err:?}");
    assert!(format!("{err:?}").contains("host failure 42"), "{err:?}");
}

#[test]
fn host_error_through_several_wasm_frames_has_a_backtrace() {
    let Ladder { mut store, run } = ladder(AtBottom::Fail);
    let err = run.call(&mut store, 3).unwrap_err();
    let bt = err.downcast_ref::<WasmBacktrace>().unwrap_or_else(|| panic!("no backtrace: {err:?}"));
    assert!(!bt.frames().is_empty());
    assert!(bt.frames().iter().all(|f| f.module_offset().is_some()), "{bt:?}");
}

#[test]
fn host_error_in_a_single_activation_has_the_wasm_frames_innermost_first() {
    let engine = Engine::default();
    let module = Module::new(
        &engine,
        r#"(module
            (import "host" "fail" (func $fail))
            (func $a (export "a") call $b)
            (func $b call $c)
            (func $c call $fail))"#,
    )
    .unwrap();
    let mut store = Store::new(&engine, ());
    let mut linker = Linker::new(&engine);
    linker.func_wrap("host", "fail", || -> Result<()> { Err(HostFailure { code: 1 }.into()) }).unwrap();
    let instance = linker.instantiate(&mut store, &module).unwrap();
    let err = instance.get_typed_func::<(), ()>(&mut store, "a").unwrap().call(&mut store, ()).unwrap_err();
    assert_eq!(err.root_cause().downcast_ref::<HostFailure>(), Some(&HostFailure { code: 1 }));
    let frames = err.downcast_ref::<WasmBacktrace>().expect("backtrace").frames();
    let names: Vec<_> = frames.iter().map(|f| f.func_name()).collect();
    assert_eq!(names, [Some("c"), Some("b"), Some("a")], "{err:?}");
    let indices: Vec<_> = frames.iter().map(|f| f.func_index()).collect();
    assert_eq!(indices, [3, 2, 1]);
}

#[test]
fn host_error_backtrace_starts_where_the_error_was_raised() {
    // The failing `enter(0)` was called by `inner`, so the backtrace the
    // caller gets should start there, not at the outermost `run`.
    let Ladder { mut store, run } = ladder(AtBottom::Fail);
    let err = run.call(&mut store, 3).unwrap_err();
    let bt = err.downcast_ref::<WasmBacktrace>().expect("backtrace");
    assert_eq!(bt.frames()[0].func_name(), Some("inner"), "{bt:?}");
}

#[test]
fn host_error_with_anyhow_message_keeps_its_text() {
    let engine = Engine::default();
    let module = Module::new(
        &engine,
        r#"(module (import "host" "boom" (func $boom)) (func (export "run") call $boom))"#,
    )
    .unwrap();
    let mut store = Store::new(&engine, ());
    let mut linker = Linker::new(&engine);
    linker.func_wrap("host", "boom", || -> Result<()> { Err(Error::msg("boom")) }).unwrap();
    let instance = linker.instantiate(&mut store, &module).unwrap();
    let err = instance.get_typed_func::<(), ()>(&mut store, "run").unwrap().call(&mut store, ()).unwrap_err();
    assert_eq!(err.root_cause().to_string(), "boom");
    assert!(err.downcast_ref::<WasmBacktrace>().is_some(), "{err:?}");
}

#[test]
fn trap_in_a_nested_activation_reaches_the_outermost_caller_as_that_trap() {
    let Ladder { mut store, run } = ladder(AtBottom::Trap);
    let err = run.call(&mut store, 2).unwrap_err();
    assert_eq!(err.downcast_ref::<Trap>(), Some(&Trap::UnreachableCodeReached), "{err:?}");
    assert_eq!(err.root_cause().to_string(), "unreachable");
}

#[test]
fn store_is_usable_after_a_host_error() {
    let Ladder { mut store, run } = ladder(AtBottom::Fail);
    run.call(&mut store, 3).unwrap_err();
    store.data_mut().clear();
    // A second call fails the same way, having run every level again.
    let err = run.call(&mut store, 2).unwrap_err();
    assert_eq!(err.root_cause().downcast_ref::<HostFailure>(), Some(&HostFailure { code: 42 }));
    assert_eq!(store.data(), &[2, 1, 0]);
    // And other Wasm code runs normally in the same store.
    let module = Module::new(store.engine(), r#"(module (func (export "one") (result i32) i32.const 1))"#).unwrap();
    let instance = Instance::new(&mut store, &module, &[]).unwrap();
    assert_eq!(instance.get_typed_func::<(), i32>(&mut store, "one").unwrap().call(&mut store, ()).unwrap(), 1);
}

#[test]
fn host_function_may_handle_an_error_from_a_nested_wasm_call() {
    let engine = Engine::default();
    let module = Module::new(
        &engine,
        r#"(module
            (import "host" "try" (func $try (result i32)))
            (func (export "run") (result i32) (i32.add (call $try) (i32.const 100)))
            (func (export "trap") (result i32) unreachable))"#,
    )
    .unwrap();
    let mut store = Store::new(&engine, ());
    let mut linker = Linker::new(&engine);
    linker
        .func_wrap("host", "try", |mut caller: Caller<'_, ()>| -> i32 {
            let trap = caller.get_export("trap").unwrap().into_func().unwrap();
            let err = trap.call(&mut caller, &[], &mut [Val::I32(0)]).unwrap_err();
            assert_eq!(err.downcast_ref::<Trap>(), Some(&Trap::UnreachableCodeReached));
            1
        })
        .unwrap();
    let instance = linker.instantiate(&mut store, &module).unwrap();
    assert_eq!(instance.get_typed_func::<(), i32>(&mut store, "run").unwrap().call(&mut store, ()).unwrap(), 101);
}

#[test]
fn host_panic_through_several_wasm_frames_resumes_on_the_host_side() {
    let Ladder { mut store, run } = ladder(AtBottom::Panic);
    let payload = catch_unwind(AssertUnwindSafe(|| run.call(&mut store, 3))).expect_err("the host panic resumes");
    assert_eq!(payload.downcast_ref::<HostPanic>(), Some(&HostPanic(7)));
    assert_eq!(store.data(), &[3, 2, 1, 0]);
}

#[test]
fn host_panic_with_a_message_keeps_the_message() {
    let engine = Engine::default();
    let module = Module::new(&engine, r#"(module (import "host" "p" (func $p)) (func (export "run") call $p))"#).unwrap();
    let mut store = Store::new(&engine, ());
    let mut linker = Linker::new(&engine);
    linker.func_wrap("host", "p", || -> () { panic!("host function panicked: {}", 99) }).unwrap();
    let instance = linker.instantiate(&mut store, &module).unwrap();
    let run = instance.get_typed_func::<(), ()>(&mut store, "run").unwrap();
    let payload = catch_unwind(AssertUnwindSafe(|| run.call(&mut store, ()))).expect_err("panics");
    let message = payload.downcast_ref::<String>().map(String::as_str).or_else(|| payload.downcast_ref::<&str>().copied());
    assert_eq!(message, Some("host function panicked: 99"));
}

#[test]
fn store_is_usable_after_a_host_panic() {
    let engine = Engine::default();
    let panicking = ladder_in(&engine, AtBottom::Panic);
    let Ladder { mut store, run } = panicking;
    catch_unwind(AssertUnwindSafe(|| run.call(&mut store, 3))).expect_err("panics");
    // The same store runs Wasm again: a call that does not reach the
    // panicking level, and one into a fresh instance.
    let module = Module::new(&engine, r#"(module (func (export "sq") (param i32) (result i32) (i32.mul (local.get 0) (local.get 0))))"#).unwrap();
    let instance = Instance::new(&mut store, &module, &[]).unwrap();
    let sq = instance.get_typed_func::<i32, i32>(&mut store, "sq").unwrap();
    assert_eq!(sq.call(&mut store, 12).unwrap(), 144);
    // A trap afterwards is still caught (no stale activation state).
    let trap = Module::new(&engine, r#"(module (func (export "t") unreachable))"#).unwrap();
    let trap = Instance::new(&mut store, &trap, &[]).unwrap();
    let err = trap.get_typed_func::<(), ()>(&mut store, "t").unwrap().call(&mut store, ()).unwrap_err();
    assert_eq!(err.downcast_ref::<Trap>(), Some(&Trap::UnreachableCodeReached));
    // And the panicking ladder panics again, the same way.
    let payload = catch_unwind(AssertUnwindSafe(|| run.call(&mut store, 1))).expect_err("panics again");
    assert_eq!(payload.downcast_ref::<HostPanic>(), Some(&HostPanic(7)));
}

#[test]
fn host_function_called_directly_from_the_host_returns_its_error() {
    let engine = Engine::default();
    let mut store = Store::new(&engine, ());
    let f = Func::wrap(&mut store, |x: i32| -> Result<i32> { if x < 0 { Err(HostFailure { code: 3 }.into()) } else { Ok(x) } });
    let f = f.typed::<i32, i32>(&store).unwrap();
    assert_eq!(f.call(&mut store, 4).unwrap(), 4);
    let err = f.call(&mut store, -1).unwrap_err();
    assert_eq!(err.root_cause().downcast_ref::<HostFailure>(), Some(&HostFailure { code: 3 }));
}

#[test]
fn host_function_returning_a_value_of_the_wrong_type_is_an_error() {
    let engine = Engine::default();
    let module = Module::new(&engine, r#"(module (import "host" "bad" (func $bad (result i32))) (func (export "run") (result i32) call $bad))"#).unwrap();
    let mut store = Store::new(&engine, ());
    let mut linker = Linker::new(&engine);
    linker
        .func_new("host", "bad", FuncType::new([], [ValType::I32]), |_caller, _params, results| {
            results[0] = Val::I64(1);
            Ok(())
        })
        .unwrap();
    let instance = linker.instantiate(&mut store, &module).unwrap();
    let err = instance.get_typed_func::<(), i32>(&mut store, "run").unwrap().call(&mut store, ()).unwrap_err();
    assert_eq!(err.downcast_ref::<Trap>(), None);
    assert!(format!("{err:?}").contains("wrong type"), "{err:?}");
}

#[test]
fn host_functions_receive_arguments_of_every_value_type() {
    let engine = Engine::default();
    let module = Module::new(
        &engine,
        r#"(module
            (import "host" "mix" (func $mix (param i32 i64 f32 f64) (result f64)))
            (func (export "run") (result f64)
                (call $mix (i32.const -7) (i64.const 0x100000000) (f32.const 1.5) (f64.const -0.25))))"#,
    )
    .unwrap();
    let mut store = Store::new(&engine, ());
    let mut linker = Linker::new(&engine);
    linker
        .func_wrap("host", "mix", |a: i32, b: i64, c: f32, d: f64| -> f64 {
            assert_eq!((a, b, c, d), (-7, 1 << 32, 1.5, -0.25));
            a as f64 + b as f64 + c as f64 + d
        })
        .unwrap();
    let instance = linker.instantiate(&mut store, &module).unwrap();
    let run = instance.get_typed_func::<(), f64>(&mut store, "run").unwrap();
    assert_eq!(run.call(&mut store, ()).unwrap(), -7.0 + 4294967296.0 + 1.5 - 0.25);
}

#[test]
fn host_error_from_a_host_function_called_through_a_table_propagates() {
    let engine = Engine::default();
    let module = Module::new(
        &engine,
        r#"(module
            (import "host" "fail" (func $fail (param i32) (result i32)))
            (type $t (func (param i32) (result i32)))
            (table funcref (elem $fail))
            (func $dispatch (export "run") (param i32) (result i32)
                (call_indirect (type $t) (local.get 0) (i32.const 0))))"#,
    )
    .unwrap();
    let mut store = Store::new(&engine, ());
    let mut linker = Linker::new(&engine);
    linker
        .func_wrap("host", "fail", |x: i32| -> Result<i32> { if x == 0 { Err(HostFailure { code: 5 }.into()) } else { Ok(x + 1) } })
        .unwrap();
    let instance = linker.instantiate(&mut store, &module).unwrap();
    let run = instance.get_typed_func::<i32, i32>(&mut store, "run").unwrap();
    assert_eq!(run.call(&mut store, 1).unwrap(), 2);
    let err = run.call(&mut store, 0).unwrap_err();
    assert_eq!(err.root_cause().downcast_ref::<HostFailure>(), Some(&HostFailure { code: 5 }));
    let names: Vec<_> = err.downcast_ref::<WasmBacktrace>().expect("backtrace").frames().iter().map(|f| f.func_name()).collect();
    assert_eq!(names, [Some("dispatch")]);
}

#[test]
fn host_error_from_a_host_funcref_passed_in_by_the_host_propagates() {
    let engine = Engine::default();
    let module = Module::new(
        &engine,
        r#"(module
            (type $t (func (result i32)))
            (func $apply (export "apply") (param (ref null $t)) (result i32) (call_ref $t (local.get 0))))"#,
    )
    .unwrap();
    let mut store = Store::new(&engine, ());
    let instance = Linker::new(&engine).instantiate(&mut store, &module).unwrap();
    let ok = Func::wrap(&mut store, || 9);
    let failing = Func::wrap(&mut store, || -> Result<i32> { Err(HostFailure { code: 6 }.into()) });
    let apply = instance.get_func(&mut store, "apply").unwrap();
    let mut results = [Val::I32(0)];
    apply.call(&mut store, &[Val::FuncRef(Some(ok))], &mut results).unwrap();
    assert_eq!(results[0].unwrap_i32(), 9);
    let err = apply.call(&mut store, &[Val::FuncRef(Some(failing))], &mut results).unwrap_err();
    assert_eq!(err.root_cause().downcast_ref::<HostFailure>(), Some(&HostFailure { code: 6 }));
}

#[test]
fn host_panic_from_a_host_function_called_through_a_table_resumes() {
    let engine = Engine::default();
    let module = Module::new(
        &engine,
        r#"(module
            (import "host" "p" (func $p))
            (type $t (func))
            (table funcref (elem $p))
            (func (export "run") (call_indirect (type $t) (i32.const 0))))"#,
    )
    .unwrap();
    let mut store = Store::new(&engine, ());
    let mut linker = Linker::new(&engine);
    linker.func_wrap("host", "p", || -> () { std::panic::panic_any(HostPanic(11)) }).unwrap();
    let instance = linker.instantiate(&mut store, &module).unwrap();
    let run = instance.get_typed_func::<(), ()>(&mut store, "run").unwrap();
    let payload = catch_unwind(AssertUnwindSafe(|| run.call(&mut store, ()))).expect_err("panics");
    assert_eq!(payload.downcast_ref::<HostPanic>(), Some(&HostPanic(11)));
}

#[test]
fn host_error_backtrace_offset_points_at_the_call_to_the_host_function() {
    const OP_CALL: u8 = 0x10;
    let wasm = wat::parse_str(
        r#"(module
            (import "host" "fail" (func $fail))
            (func $a (export "a") nop nop call $fail nop))"#,
    )
    .unwrap();
    let engine = Engine::default();
    let module = Module::new(&engine, &wasm).unwrap();
    let mut store = Store::new(&engine, ());
    let mut linker = Linker::new(&engine);
    linker.func_wrap("host", "fail", || -> Result<()> { Err(HostFailure { code: 2 }.into()) }).unwrap();
    let instance = linker.instantiate(&mut store, &module).unwrap();
    let err = instance.get_typed_func::<(), ()>(&mut store, "a").unwrap().call(&mut store, ()).unwrap_err();
    let frame = &err.downcast_ref::<WasmBacktrace>().expect("backtrace").frames()[0];
    let offset = frame.module_offset().expect("offset") as usize;
    assert_eq!(&wasm[offset..offset + 2], [OP_CALL, 0], "not `call $fail` (function 0) at {offset:#x}");
}

/// Counts its drops.
struct DropCounter(std::sync::Arc<std::sync::atomic::AtomicUsize>);

impl Drop for DropCounter {
    fn drop(&mut self) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// `run(n)` recurses through the host `n` times; every host level holds a
/// `DropCounter` across its nested call; the innermost level fails or
/// panics. Returns the number of drops after the call ended.
fn drops_after_unwinding(panic: bool) -> usize {
    let drops = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let engine = Engine::default();
    let module = Module::new(&engine, LADDER).unwrap();
    let mut store = Store::new(&engine, ());
    let mut linker = Linker::new(&engine);
    let counter = drops.clone();
    linker
        .func_wrap("host", "enter", move |mut caller: Caller<'_, ()>, n: i32| -> Result<i32> {
            let _guard = DropCounter(counter.clone());
            if n == 0 {
                if panic {
                    std::panic::panic_any(HostPanic(0));
                }
                return Err(HostFailure { code: 0 }.into());
            }
            let nested = caller.get_export("nested").unwrap().into_func().unwrap();
            nested.call(&mut caller, &[Val::I32(n - 1)], &mut [Val::I32(0)])?;
            Ok(0)
        })
        .unwrap();
    let instance = linker.instantiate(&mut store, &module).unwrap();
    let run = instance.get_typed_func::<i32, i32>(&mut store, "run").unwrap();
    let outcome = catch_unwind(AssertUnwindSafe(|| run.call(&mut store, 4)));
    match outcome {
        Ok(result) => assert!(!panic && result.is_err()),
        Err(payload) => assert!(panic && payload.downcast_ref::<HostPanic>().is_some()),
    }
    drops.load(std::sync::atomic::Ordering::SeqCst)
}

#[test]
fn host_error_drops_the_locals_of_every_host_frame_it_crosses_once() {
    assert_eq!(drops_after_unwinding(false), 5);
}

#[test]
fn host_panic_drops_the_locals_of_every_host_frame_it_crosses_once() {
    assert_eq!(drops_after_unwinding(true), 5);
}

#[test]
fn host_panic_in_the_start_function_resumes_from_instantiation() {
    let engine = Engine::default();
    let module = Module::new(&engine, r#"(module (import "host" "p" (func $p)) (start $p))"#).unwrap();
    let mut store = Store::new(&engine, ());
    let mut linker = Linker::new(&engine);
    linker.func_wrap("host", "p", || -> () { std::panic::panic_any(HostPanic(3)) }).unwrap();
    let payload = catch_unwind(AssertUnwindSafe(|| linker.instantiate(&mut store, &module))).expect_err("panics");
    assert_eq!(payload.downcast_ref::<HostPanic>(), Some(&HostPanic(3)));
    let ok = Module::new(&engine, r#"(module (func (export "f") (result i32) i32.const 4))"#).unwrap();
    let instance = Instance::new(&mut store, &ok, &[]).unwrap();
    assert_eq!(instance.get_typed_func::<(), i32>(&mut store, "f").unwrap().call(&mut store, ()).unwrap(), 4);
}
