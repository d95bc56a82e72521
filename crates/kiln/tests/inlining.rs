//! Inlining small functions into their callers (on by default) must not
//! change what a program does: GC roots live across calls the inlined
//! body makes, exceptions thrown through it, tail calls in it. Each program
//! runs with inlining on and off and must give the same, expected, answer.

use kiln::*;
use std::num::NonZeroU32;

/// Runs export `run` of `wat` with `arg` on the copying collector with a
/// collection before every allocation (so a reference the inlined code
/// kept outside the stack maps would be left pointing at a moved object).
fn run(wat: &str, arg: i32, inlining: bool) -> i32 {
    let mut config = Config::new();
    config.compiler_inlining(inlining).collector(Collector::Copying);
    config.gc_zeal_alloc_counter(NonZeroU32::new(1)).unwrap();
    let engine = Engine::new(&config).unwrap();
    let module = Module::new(&engine, wat).unwrap();
    let mut store = Store::new(&engine, ());
    let instance = Instance::new(&mut store, &module, &[]).unwrap();
    let run = instance.get_typed_func::<i32, i32>(&mut store, "run").unwrap();
    run.call(&mut store, arg).unwrap()
}

fn same_with_and_without_inlining(wat: &str, arg: i32, expected: i32) {
    assert_eq!(run(wat, arg, true), expected, "with inlining");
    assert_eq!(run(wat, arg, false), expected, "without inlining");
}

#[test]
fn references_live_across_an_inlined_allocation_survive_collections() {
    // `$pair` is inlined into `run`'s loop; each allocation in it collects
    // while `run` holds `$list` and `$p`.
    let wat = r#"(module
        (type $cell (struct (field $v i32) (field $next (ref null $cell))))
        (func $pair (param $v i32) (param $next (ref null $cell)) (result (ref $cell))
            (struct.new $cell (local.get $v) (struct.new $cell (i32.add (local.get $v) (i32.const 1)) (local.get $next))))
        (func (export "run") (param $n i32) (result i32)
            (local $list (ref null $cell)) (local $sum i32)
            (loop $build
                (local.set $list (call $pair (local.get $n) (local.get $list)))
                (local.set $n (i32.sub (local.get $n) (i32.const 1)))
                (br_if $build (local.get $n)))
            (block $done
                (loop $walk
                    (br_if $done (ref.is_null (local.get $list)))
                    (local.set $sum (i32.add (local.get $sum) (struct.get $cell $v (local.get $list))))
                    (local.set $list (struct.get $cell $next (local.get $list)))
                    (br $walk)))
            (local.get $sum)))"#;
    // Cells v and v + 1 for v = 1..=50.
    same_with_and_without_inlining(wat, 50, (1..=50).map(|v| 2 * v + 1).sum());
}

#[test]
fn an_exception_from_a_call_inside_an_inlined_body_reaches_the_callers_handler() {
    // `$checked` is inlined inside `run`'s `try_table`; its call to `$fail`
    // must then carry `run`'s handler. (`$fail` calls itself, so it is no
    // leaf and stays a call in `$checked`: a leaf would be inlined into
    // it, and a body that throws is not inlined at a `try_table`.)
    let wat = r#"(module
        (tag $e (param i32))
        (func $fail (param i32)
            (if (i32.eqz (local.get 0)) (then (call $fail (i32.const -1))))
            (throw $e (local.get 0)))
        (func $checked (param i32) (result i32)
            (if (i32.gt_s (local.get 0) (i32.const 10)) (then (call $fail (local.get 0))))
            (i32.mul (local.get 0) (i32.const 2)))
        (func (export "run") (param i32) (result i32)
            (block $caught (result i32)
                (try_table (result i32) (catch $e $caught)
                    (call $checked (local.get 0)))
                (return))
            (i32.add (i32.const 1000))))"#;
    same_with_and_without_inlining(wat, 4, 8);
    same_with_and_without_inlining(wat, 11, 1011);
}

#[test]
fn a_throw_two_levels_down_is_caught_by_the_outer_try_table() {
    // The leaf `$fail` is inlined into `$checked`, which then throws
    // itself, so it must not be inlined at `run`'s `try_table` (the
    // runtime starts the search for a handler at the caller of the frame
    // that throws); `$wrapper` calls `$checked` with no handler and is
    // inlined into `run` with it.
    let wat = r#"(module
        (tag $e (param i32))
        (func $fail (param i32) (throw $e (local.get 0)))
        (func $checked (param i32) (result i32)
            (if (i32.gt_s (local.get 0) (i32.const 10)) (then (call $fail (local.get 0))))
            (i32.mul (local.get 0) (i32.const 2)))
        (func $wrapper (param i32) (result i32)
            (i32.add (call $checked (local.get 0)) (i32.const 1)))
        (func (export "run") (param i32) (result i32)
            (block $caught (result i32)
                (try_table (result i32) (catch $e $caught)
                    (i32.add (call $checked (local.get 0)) (call $wrapper (local.get 0))))
                (return))
            (i32.add (i32.const 1000))))"#;
    same_with_and_without_inlining(wat, 4, 17);
    same_with_and_without_inlining(wat, 11, 1011);
}

#[test]
fn references_live_across_allocations_two_levels_down_survive_collections() {
    // `$cell` (a leaf that allocates) is inlined into `$push`, and that
    // into `run`'s loop: `run`'s list and `$push`'s argument must be in the
    // stack maps of the allocation two levels down.
    let wat = r#"(module
        (type $cell (struct (field $v i32) (field $next (ref null $cell))))
        (func $cell (param $v i32) (param $next (ref null $cell)) (result (ref $cell))
            (struct.new $cell (local.get $v) (local.get $next)))
        (func $push (param $v i32) (param $list (ref null $cell)) (result (ref $cell))
            (call $cell (i32.mul (local.get $v) (i32.const 3)) (call $cell (local.get $v) (local.get $list))))
        (func (export "run") (param $n i32) (result i32)
            (local $list (ref null $cell)) (local $sum i32)
            (loop $build
                (local.set $list (call $push (local.get $n) (local.get $list)))
                (local.set $n (i32.sub (local.get $n) (i32.const 1)))
                (br_if $build (local.get $n)))
            (block $done
                (loop $walk
                    (br_if $done (ref.is_null (local.get $list)))
                    (local.set $sum (i32.add (local.get $sum) (struct.get $cell $v (local.get $list))))
                    (local.set $list (struct.get $cell $next (local.get $list)))
                    (br $walk)))
            (local.get $sum)))"#;
    // Cells 3v and v for v = 1..=40.
    same_with_and_without_inlining(wat, 40, (1..=40).map(|v| 4 * v).sum());
}

#[test]
fn a_function_that_throws_is_caught_by_the_callers_try_table() {
    // `$fail` throws out of itself: called inside a `try_table` it stays a
    // call (the runtime searches for a handler from its caller's frame).
    let wat = r#"(module
        (tag $e (param i32))
        (func $fail (param i32) (result i32) (throw $e (i32.add (local.get 0) (i32.const 1))))
        (func (export "run") (param i32) (result i32)
            (block $caught (result i32)
                (try_table (result i32) (catch $e $caught)
                    (call $fail (local.get 0)))
                (return))))"#;
    same_with_and_without_inlining(wat, 41, 42);
}

#[test]
fn tail_calls_inside_an_inlined_body_return_to_its_caller() {
    let wat = r#"(module
        (func $double (param i32) (result i32) (i32.add (local.get 0) (local.get 0)))
        (func $via_tail (param i32) (result i32) (return_call $double (i32.add (local.get 0) (i32.const 1))))
        (func (export "run") (param i32) (result i32)
            (i32.add (call $via_tail (local.get 0)) (i32.const 3))))"#;
    same_with_and_without_inlining(wat, 5, 15);
}

#[test]
fn a_recursive_function_inlined_into_itself_builds_and_checks_trees_under_collections() {
    // `$tree` is inlined into itself (one level): the references its
    // inlined copy holds across the recursive calls' allocations must
    // survive a collection at each of them.
    let wat = r#"(module
        (type $node (struct (field $l (ref null $node)) (field $r (ref null $node))))
        (func $tree (param $d i32) (result (ref $node))
            (if (result (ref $node)) (i32.eqz (local.get $d))
                (then (struct.new $node (ref.null $node) (ref.null $node)))
                (else (struct.new $node
                    (call $tree (i32.sub (local.get $d) (i32.const 1)))
                    (call $tree (i32.sub (local.get $d) (i32.const 1)))))))
        (func $count (param $t (ref null $node)) (result i32)
            (if (result i32) (ref.is_null (local.get $t))
                (then (i32.const 0))
                (else (i32.add (i32.const 1)
                    (i32.add (call $count (struct.get $node $l (local.get $t)))
                             (call $count (struct.get $node $r (local.get $t))))))))
        (func (export "run") (param $d i32) (result i32)
            (call $count (call $tree (local.get $d)))))"#;
    same_with_and_without_inlining(wat, 6, (1 << 7) - 1);
}
