//! The native stack: running out of it is a catchable trap that leaves the
//! store usable; `Config::max_wasm_stack` bounds it; deep host <-> Wasm
//! re-entrancy works when the stack allows it.

use kiln::*;

const MIB: usize = 1 << 20;

/// `depth(n)` recurses `n` times and returns `n`; `forever` never stops.
const RECURSION: &str = r#"(module
    (func $depth (export "depth") (param i32) (result i32)
        (if (result i32) (i32.eqz (local.get 0))
            (then (i32.const 0))
            (else (i32.add (call $depth (i32.sub (local.get 0) (i32.const 1))) (i32.const 1)))))
    (func $forever (export "forever") call $forever)
    (func (export "add") (param i32 i32) (result i32) (i32.add (local.get 0) (local.get 1))))"#;

struct Recursion {
    store: Store<()>,
    depth: TypedFunc<i32, i32>,
    forever: TypedFunc<(), ()>,
    add: TypedFunc<(i32, i32), i32>,
}

fn recursion(config: &Config) -> Recursion {
    let engine = Engine::new(config).unwrap();
    let module = Module::new(&engine, RECURSION).unwrap();
    let mut store = Store::new(&engine, ());
    let instance = Linker::new(&engine).instantiate(&mut store, &module).unwrap();
    Recursion {
        depth: instance.get_typed_func(&mut store, "depth").unwrap(),
        forever: instance.get_typed_func(&mut store, "forever").unwrap(),
        add: instance.get_typed_func(&mut store, "add").unwrap(),
        store,
    }
}

/// Runs `f` on a thread with a `stack`-byte native stack.
fn on_big_stack<R: Send + 'static>(stack: usize, f: impl FnOnce() -> R + Send + 'static) -> R {
    std::thread::Builder::new().stack_size(stack).spawn(f).unwrap().join().unwrap()
}

#[track_caller]
fn assert_stack_overflow<T: std::fmt::Debug>(result: Result<T>) {
    let err = result.expect_err("expected call stack exhausted");
    assert_eq!(err.downcast_ref::<Trap>(), Some(&Trap::StackOverflow), "{err:?}");
    assert_eq!(err.root_cause().to_string(), "call stack exhausted");
}

#[test]
fn infinite_recursion_then_a_normal_call_on_the_same_store_succeeds() {
    let Recursion { mut store, forever, add, .. } = recursion(&Config::new());
    assert_stack_overflow(forever.call(&mut store, ()));
    assert_eq!(add.call(&mut store, (2, 3)).unwrap(), 5);
}

#[test]
fn deep_but_finite_recursion_still_works_after_a_stack_overflow() {
    let Recursion { mut store, forever, depth, .. } = recursion(&Config::new());
    assert_stack_overflow(forever.call(&mut store, ()));
    assert_eq!(depth.call(&mut store, 1000).unwrap(), 1000);
}

#[test]
fn stack_overflow_can_happen_many_times_in_a_row() {
    let Recursion { mut store, forever, add, .. } = recursion(&Config::new());
    for i in 0..50 {
        assert_stack_overflow(forever.call(&mut store, ()));
        assert_eq!(add.call(&mut store, (i, 1)).unwrap(), i + 1);
    }
}

#[test]
fn max_wasm_stack_bounds_recursion_depth() {
    on_big_stack(64 * MIB, || {
        let mut big = recursion(Config::new().max_wasm_stack(32 * MIB));
        assert_eq!(big.depth.call(&mut big.store, 20_000).unwrap(), 20_000);
        let mut small = recursion(Config::new().max_wasm_stack(64 * 1024));
        assert_stack_overflow(small.depth.call(&mut small.store, 20_000));
        assert_eq!(small.depth.call(&mut small.store, 10).unwrap(), 10);
    });
}

#[test]
fn stack_overflow_on_a_thread_whose_stack_is_smaller_than_max_wasm_stack_traps() {
    // 512 KiB thread, 32 MiB allowed for Wasm: the real stack end must win.
    on_big_stack(512 * 1024, || {
        let mut r = recursion(Config::new().max_wasm_stack(32 * MIB));
        assert_stack_overflow(r.forever.call(&mut r.store, ()));
        assert_eq!(r.add.call(&mut r.store, (1, 1)).unwrap(), 2);
    });
}

/// `down(n)` calls the host's `up(n)` for `n > 0`; `up(n)` calls `down(n - 1)`
/// and adds `n`. Each Wasm level adds 1.
const PING_PONG: &str = r#"(module
    (import "host" "up" (func $up (param i32) (result i64)))
    (func (export "down") (param i32) (result i64)
        (if (result i64) (i32.eqz (local.get 0))
            (then (i64.const 0))
            (else (i64.add (call $up (local.get 0)) (i64.const 1))))))"#;

fn ping_pong(config: &Config) -> (Store<()>, TypedFunc<i32, i64>) {
    let engine = Engine::new(config).unwrap();
    let module = Module::new(&engine, PING_PONG).unwrap();
    let mut store = Store::new(&engine, ());
    let mut linker = Linker::new(&engine);
    linker
        .func_wrap("host", "up", |mut caller: Caller<'_, ()>, n: i32| -> Result<i64> {
            let down = caller.get_export("down").unwrap().into_func().unwrap();
            let down = down.typed::<i32, i64>(&caller)?;
            Ok(down.call(&mut caller, n - 1)? + n as i64)
        })
        .unwrap();
    let instance = linker.instantiate(&mut store, &module).unwrap();
    let down = instance.get_typed_func::<i32, i64>(&mut store, "down").unwrap();
    (store, down)
}

#[test]
fn thousand_deep_host_wasm_reentrancy_returns_the_right_value() {
    let result = on_big_stack(64 * MIB, || {
        let (mut store, down) = ping_pong(Config::new().max_wasm_stack(32 * MIB));
        down.call(&mut store, 1000).unwrap()
    });
    // 1000 Wasm levels add 1 each; the host levels add 1 + 2 + ... + 1000.
    assert_eq!(result, 1000 + 1000 * 1001 / 2);
}

#[test]
fn unbounded_host_wasm_reentrancy_traps_with_call_stack_exhausted() {
    on_big_stack(64 * MIB, || {
        let (mut store, down) = ping_pong(Config::new().max_wasm_stack(4 * MIB));
        // Far deeper than 4 MiB of stack allows.
        assert_stack_overflow(down.call(&mut store, 10_000_000));
        assert_eq!(down.call(&mut store, 3).unwrap(), 3 + 6);
    });
}

#[test]
fn stack_overflow_in_a_nested_activation_reaches_the_outer_caller() {
    let engine = Engine::default();
    let module = Module::new(
        &engine,
        r#"(module
            (import "host" "recurse" (func $recurse))
            (func (export "run") call $recurse)
            (func $forever (export "forever") call $forever))"#,
    )
    .unwrap();
    let mut store = Store::new(&engine, ());
    let mut linker = Linker::new(&engine);
    linker
        .func_wrap("host", "recurse", |mut caller: Caller<'_, ()>| -> Result<()> {
            let forever = caller.get_export("forever").unwrap().into_func().unwrap();
            forever.call(&mut caller, &[], &mut [])
        })
        .unwrap();
    let instance = linker.instantiate(&mut store, &module).unwrap();
    let run = instance.get_typed_func::<(), ()>(&mut store, "run").unwrap();
    assert_stack_overflow(run.call(&mut store, ()));
    assert_stack_overflow(run.call(&mut store, ()));
}

#[test]
fn host_function_called_at_the_deepest_wasm_frame_has_stack_to_run() {
    // The thread's stack is smaller than max_wasm_stack, so Wasm recursion
    // stops at the runtime's reserve near the real end of the stack; a host
    // function called from the deepest frame must still be able to use a
    // reasonable amount of stack (here 32 KiB) without crashing.
    on_big_stack(2 * MIB, || {
        let engine = Engine::new(Config::new().max_wasm_stack(32 * MIB)).unwrap();
        let module = Module::new(
            &engine,
            r#"(module
                (import "host" "work" (func $work (result i32)))
                (func $f (export "f") (result i32) (i32.add (call $work) (call $f))))"#,
        )
        .unwrap();
        let mut store = Store::new(&engine, 0u64);
        let mut linker = Linker::new(&engine);
        linker
            .func_wrap("host", "work", |mut caller: Caller<'_, u64>| -> i32 {
                let buf = std::hint::black_box([1u8; 32 * 1024]);
                *caller.data_mut() += 1;
                buf[std::hint::black_box(32 * 1024 - 1)] as i32 - 1
            })
            .unwrap();
        let instance = linker.instantiate(&mut store, &module).unwrap();
        let f = instance.get_typed_func::<(), i32>(&mut store, "f").unwrap();
        assert_stack_overflow(f.call(&mut store, ()));
        assert!(*store.data() > 100, "the host function ran at every level ({})", store.data());
    });
}

#[test]
fn tail_calls_run_in_constant_stack() {
    // A million tail calls would exhaust any stack if each kept its frame.
    let engine = Engine::default();
    let module = Module::new(
        &engine,
        r#"(module
            (func $count (export "count") (param i32 i64) (result i64)
                (if (result i64) (i32.eqz (local.get 0))
                    (then (local.get 1))
                    (else (return_call $count (i32.sub (local.get 0) (i32.const 1)) (i64.add (local.get 1) (i64.const 2)))))))"#,
    )
    .unwrap();
    let mut store = Store::new(&engine, ());
    let instance = Linker::new(&engine).instantiate(&mut store, &module).unwrap();
    let count = instance.get_typed_func::<(i32, i64), i64>(&mut store, "count").unwrap();
    assert_eq!(count.call(&mut store, (1_000_000, 0)).unwrap(), 2_000_000);
}
