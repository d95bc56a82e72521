//! Every kind of GC root, tested under zeal: `gc_zeal_alloc_counter(1)`
//! makes every allocation collect first, and the copying collector moves
//! every live object each time. A reference the runtime keeps somewhere a
//! collection does not see is left pointing at the old copy, so each test
//! reads its objects back through one kind of root after collections and
//! checks their contents.

use kiln::*;
use std::num::NonZeroU32;

fn zeal_engine(collector: Collector, every: u32) -> Engine {
    let mut config = Config::new();
    config.collector(collector).gc_zeal_alloc_counter(NonZeroU32::new(every)).unwrap();
    Engine::new(&config).unwrap()
}

/// Instantiates `wat` on a zeal-1 copying engine and calls the export
/// `run`, returning its result and the store (for its GC statistics).
fn run_i32(wat: &str) -> (i32, Store<()>) {
    let engine = zeal_engine(Collector::Copying, 1);
    let module = Module::new(&engine, wat).unwrap();
    let mut store = Store::new(&engine, ());
    let instance = Linker::new(&engine).instantiate(&mut store, &module).unwrap();
    let run = instance.get_typed_func::<(), i32>(&mut store, "run").unwrap();
    let result = run.call(&mut store, ()).unwrap();
    (result, store)
}

fn collections(store: &Store<()>) -> u64 {
    store.gc_stats().map_or(0, |s| s.collections)
}

/// Allocates `$n` throwaway structs: with zeal 1, `$n` collections.
const CHURN: &str = r#"
    (type $junk (struct (field i64)))
    (func $churn (param $n i32)
        (block $done (loop $next
            (br_if $done (i32.eqz (local.get $n)))
            (drop (struct.new $junk (i64.const 0)))
            (local.set $n (i32.sub (local.get $n) (i32.const 1)))
            (br $next))))"#;

fn module(body: &str) -> String {
    format!("(module {body}\n{CHURN})")
}

#[test]
fn zeal_collects_before_every_nth_allocation_inline_ones_included() {
    let wat = module(r#"(func (export "run") (result i32) (call $churn (i32.const 100)) (i32.const 0))"#);
    for (every, expected) in [(1, 100), (10, 10), (7, 14)] {
        let engine = zeal_engine(Collector::Copying, every);
        let module = Module::new(&engine, &wat).unwrap();
        let mut store = Store::new(&engine, ());
        let instance = Linker::new(&engine).instantiate(&mut store, &module).unwrap();
        instance.get_typed_func::<(), i32>(&mut store, "run").unwrap().call(&mut store, ()).unwrap();
        assert_eq!(collections(&store), expected, "zeal {every}");
    }
}

#[test]
fn passive_element_segment_items_survive_collections_through_array_new_elem() {
    // The items are made at instantiation (each allocation collects, so
    // earlier items move while later ones are made) and read after more
    // collections.
    let (sum, store) = run_i32(&module(
        r#"
        (type $s (struct (field i32)))
        (type $arr (array (ref null $s)))
        (elem $e (ref null $s) (item (struct.new $s (i32.const 1))) (item (struct.new $s (i32.const 20))) (item (struct.new $s (i32.const 300))))
        (func (export "run") (result i32)
            (local $a (ref $arr))
            (call $churn (i32.const 5))
            (local.set $a (array.new_elem $arr $e (i32.const 0) (i32.const 3)))
            (call $churn (i32.const 5))
            (i32.add (i32.add
                (struct.get $s 0 (array.get $arr (local.get $a) (i32.const 0)))
                (struct.get $s 0 (array.get $arr (local.get $a) (i32.const 1))))
                (struct.get $s 0 (array.get $arr (local.get $a) (i32.const 2)))))"#,
    ));
    assert_eq!(sum, 321);
    assert!(collections(&store) >= 10);
}

#[test]
fn passive_element_segment_items_survive_collections_through_array_init_elem_and_table_init() {
    let (sum, _) = run_i32(&module(
        r#"
        (type $s (struct (field i32)))
        (type $arr (array (mut (ref null $s))))
        (table $t 2 (ref null $s))
        (elem $e (ref null $s) (item (struct.new $s (i32.const 4))) (item (struct.new $s (i32.const 50))))
        (func (export "run") (result i32)
            (local $a (ref $arr))
            (local.set $a (array.new_default $arr (i32.const 2)))
            (call $churn (i32.const 5))
            (array.init_elem $arr $e (local.get $a) (i32.const 0) (i32.const 0) (i32.const 2))
            (table.init $t $e (i32.const 0) (i32.const 0) (i32.const 2))
            (call $churn (i32.const 5))
            (i32.add
                (i32.add (struct.get $s 0 (array.get $arr (local.get $a) (i32.const 0))) (struct.get $s 0 (array.get $arr (local.get $a) (i32.const 1))))
                (i32.add (struct.get $s 0 (table.get $t (i32.const 0))) (struct.get $s 0 (table.get $t (i32.const 1))))))"#,
    ));
    assert_eq!(sum, 108);
}

#[test]
fn a_dropped_element_segment_releases_its_items() {
    let engine = zeal_engine(Collector::Copying, 1);
    let wat = r#"(module
        (type $big (array i8))
        (elem $e (ref null $big) (item (array.new_default $big (i32.const 100000))))
        (func (export "drop") (elem.drop $e)))"#;
    let module = Module::new(&engine, wat).unwrap();
    let mut store = Store::new(&engine, ());
    let instance = Linker::new(&engine).instantiate(&mut store, &module).unwrap();
    store.gc(None).unwrap();
    let held = store.gc_stats().unwrap().bytes_in_use;
    assert!(held >= 100_000, "the segment keeps its array: {held}");
    instance.get_typed_func::<(), ()>(&mut store, "drop").unwrap().call(&mut store, ()).unwrap();
    store.gc(None).unwrap();
    let after = store.gc_stats().unwrap().bytes_in_use;
    assert!(after < 1_000, "elem.drop released the array: {after} bytes still live");
}

#[test]
fn constant_expression_operands_survive_the_allocations_after_them() {
    // The inner structs sit on the evaluation stack while the next one is
    // allocated (and every allocation collects).
    let (sum, _) = run_i32(&module(
        r#"
        (type $s (struct (field i32)))
        (type $pair (struct (field (ref $s)) (field (ref $s))))
        (type $arr (array (ref $s)))
        (global $p (ref $pair) (struct.new $pair (struct.new $s (i32.const 1)) (struct.new $s (i32.const 20))))
        (global $a (ref $arr) (array.new_fixed $arr 2 (struct.new $s (i32.const 300)) (struct.new $s (i32.const 4000))))
        (global $r (ref $arr) (array.new $arr (struct.new $s (i32.const 50000)) (i32.const 3)))
        (func (export "run") (result i32)
            (call $churn (i32.const 3))
            (i32.add (i32.add (i32.add (i32.add
                (struct.get $s 0 (struct.get $pair 0 (global.get $p)))
                (struct.get $s 0 (struct.get $pair 1 (global.get $p))))
                (struct.get $s 0 (array.get $arr (global.get $a) (i32.const 0))))
                (struct.get $s 0 (array.get $arr (global.get $a) (i32.const 1))))
                (struct.get $s 0 (array.get $arr (global.get $r) (i32.const 2)))))"#,
    ));
    assert_eq!(sum, 54321);
}

#[test]
fn a_throw_that_collects_keeps_the_references_of_twenty_frames() {
    // Twenty frames each hold a struct in a local; the innermost throws
    // (the exception's allocation collects), catches, and every frame then
    // adds its own struct's field on the way back.
    let (sum, store) = run_i32(&module(
        r#"
        (type $s (struct (field i32)))
        (tag $e (param (ref $s)))
        (func $rec (param $n i32) (result i32)
            (local $mine (ref null $s))
            (local.set $mine (struct.new $s (local.get $n)))
            (if (result i32) (i32.eqz (local.get $n))
                (then
                    (block $caught (result (ref $s))
                        (try_table (catch $e $caught)
                            (throw $e (struct.new $s (i32.const 1000))))
                        (unreachable))
                    (struct.get $s 0))
                (else (call $rec (i32.sub (local.get $n) (i32.const 1)))))
            (struct.get $s 0 (local.get $mine))
            (i32.add))
        (func (export "run") (result i32) (call $rec (i32.const 20)))"#,
    ));
    assert_eq!(sum, 1000 + (1..=20).sum::<i32>());
    assert!(collections(&store) >= 22);
}

#[test]
fn an_exception_payload_survives_the_collection_of_its_own_allocation() {
    // The payload's references are only in the throw's payload buffer
    // while the exception object is allocated.
    let (sum, _) = run_i32(&module(
        r#"
        (type $s (struct (field i32)))
        (tag $e (param (ref $s) i32 (ref $s)))
        (func $thrower (throw $e (struct.new $s (i32.const 7)) (i32.const 30) (struct.new $s (i32.const 500))))
        (func (export "run") (result i32)
            (local $b (ref null $s)) (local $i i32)
            (block $caught (result (ref $s) i32 (ref $s))
                (try_table (catch $e $caught) (call $thrower))
                (unreachable))
            (local.set $b)
            (local.set $i)
            (call $churn (i32.const 3))
            (struct.get $s 0)
            (i32.add (local.get $i))
            (i32.add (struct.get $s 0 (local.get $b))))"#,
    ));
    assert_eq!(sum, 537);
}

#[test]
fn an_exnref_held_across_collections_is_rethrown_intact() {
    let (sum, _) = run_i32(&module(
        r#"
        (type $s (struct (field i32)))
        (tag $e (param (ref $s)))
        (global $kept (mut exnref) (ref.null exn))
        (func (export "run") (result i32)
            (local $x exnref)
            (local.set $x
                (block $caught (result exnref)
                    (try_table (catch_all_ref $caught) (throw $e (struct.new $s (i32.const 11))))
                    (unreachable)))
            (block $caught (result (ref $s) exnref)
                (try_table (catch_ref $e $caught) (throw $e (struct.new $s (i32.const 22))))
                (unreachable))
            (global.set $kept)
            (drop)
            (call $churn (i32.const 5))
            (block $a (result (ref $s))
                (try_table (catch $e $a) (throw_ref (local.get $x)))
                (unreachable))
            (struct.get $s 0)
            (call $churn (i32.const 5))
            (block $b (result (ref $s))
                (try_table (catch $e $b) (throw_ref (global.get $kept)))
                (unreachable))
            (struct.get $s 0)
            (i32.add))"#,
    ));
    assert_eq!(sum, 33);
}

#[test]
fn funcrefs_in_struct_fields_are_called_after_collections() {
    let (sum, _) = run_i32(&module(
        r#"
        (type $f (func (result i32)))
        (type $holder (struct (field (ref $f)) (field (mut (ref null $f)))))
        (type $arr (array (ref null $f)))
        (func $one (type $f) (i32.const 1))
        (func $ten (type $f) (i32.const 10))
        (func $hundred (type $f) (i32.const 100))
        (elem declare func $one $ten $hundred)
        (func (export "run") (result i32)
            (local $h (ref null $holder)) (local $a (ref null $arr))
            (local.set $h (struct.new $holder (ref.func $one) (ref.func $ten)))
            (local.set $a (array.new_fixed $arr 1 (ref.func $hundred)))
            (call $churn (i32.const 5))
            (i32.add (i32.add
                (call_ref $f (struct.get $holder 0 (local.get $h)))
                (call_ref $f (struct.get $holder 1 (local.get $h))))
                (call_ref $f (array.get $arr (local.get $a) (i32.const 0)))))"#,
    ));
    assert_eq!(sum, 111);
}

#[test]
fn globals_and_tables_shared_between_two_instances_are_roots() {
    let engine = zeal_engine(Collector::Copying, 1);
    let types = r#"(type $s (struct (field i32)))"#;
    let owner = Module::new(
        &engine,
        format!(
            r#"(module {types}
                (global (export "g") (mut (ref null $s)) (ref.null $s))
                (table (export "t") 1 (ref null $s))
                (func (export "read") (result i32)
                    (call $churn (i32.const 5))
                    (i32.add (struct.get $s 0 (global.get 0)) (struct.get $s 0 (table.get 0 (i32.const 0)))))
                {CHURN})"#
        ),
    )
    .unwrap();
    let user = Module::new(
        &engine,
        format!(
            r#"(module {types}
                (import "owner" "g" (global $g (mut (ref null $s))))
                (import "owner" "t" (table $t 1 (ref null $s)))
                (func (export "write")
                    (global.set $g (struct.new $s (i32.const 40)))
                    (call $churn (i32.const 3))
                    (table.set $t (i32.const 0) (struct.new $s (i32.const 2)))
                    (call $churn (i32.const 3)))
                {CHURN})"#
        ),
    )
    .unwrap();
    let mut store = Store::new(&engine, ());
    let mut linker = Linker::new(&engine);
    let owner = linker.instantiate(&mut store, &owner).unwrap();
    linker.instance(&mut store, "owner", owner).unwrap();
    let user = linker.instantiate(&mut store, &user).unwrap();
    user.get_typed_func::<(), ()>(&mut store, "write").unwrap().call(&mut store, ()).unwrap();
    store.gc(None).unwrap();
    let read = owner.get_typed_func::<(), i32>(&mut store, "read").unwrap();
    assert_eq!(read.call(&mut store, ()).unwrap(), 42);
}

#[test]
fn arguments_and_results_crossing_host_calls_survive_collections() {
    // A host function receives a struct, collects (its parameter is held
    // by its handle), and hands it back; Wasm reads it after more
    // allocation.
    let engine = zeal_engine(Collector::Copying, 1);
    let module = Module::new(
        &engine,
        module(
            r#"
            (type $s (struct (field i32)))
            (import "host" "bounce" (func $bounce (param anyref) (result anyref)))
            (func (export "run") (result i32)
                (local $back anyref)
                (local.set $back (call $bounce (struct.new $s (i32.const 77))))
                (call $churn (i32.const 3))
                (struct.get $s 0 (ref.cast (ref $s) (local.get $back))))"#,
        ),
    )
    .unwrap();
    let mut linker = Linker::new(&engine);
    let anyref = ValType::Ref(RefType::new(true, HeapType::Any));
    linker
        .func_new("host", "bounce", FuncType::new([anyref.clone()], [anyref]), |mut caller: Caller<'_, ()>, params: &[Val], results: &mut [Val]| {
            caller.gc(None)?;
            results[0] = params[0];
            Ok(())
        })
        .unwrap();
    let mut store = Store::new(&engine, ());
    let instance = linker.instantiate(&mut store, &module).unwrap();
    let run = instance.get_typed_func::<(), i32>(&mut store, "run").unwrap();
    assert_eq!(run.call(&mut store, ()).unwrap(), 77);
}

#[test]
fn the_null_collector_under_zeal_verifies_and_keeps_everything() {
    let engine = zeal_engine(Collector::Null, 1);
    let module = Module::new(&engine, module(r#"(func (export "run") (result i32) (call $churn (i32.const 50)) (i32.const 9))"#)).unwrap();
    let mut store = Store::new(&engine, ());
    let instance = Linker::new(&engine).instantiate(&mut store, &module).unwrap();
    assert_eq!(instance.get_typed_func::<(), i32>(&mut store, "run").unwrap().call(&mut store, ()).unwrap(), 9);
    assert_eq!(store.gc_stats().unwrap().objects_allocated, 50);
}

/// Compiled code calls the allocating builtins (`gc_alloc_struct`,
/// `gc_alloc_array`, `new_exception`) through exit trampolines that
/// preserve every register, so it keeps numbers, floats and vectors in
/// caller-saved registers across them. Under zeal every allocation takes
/// that slow path and collects: the values must come out as they do
/// without any allocation.
#[test]
fn values_in_registers_survive_allocation_slow_paths() {
    let wat = r#"(module
            (type $s (struct (field i64)))
            (type $a (array (mut i32)))
            (tag $t (param i64))
            ;; Ten i64s, four f64s and a v128 live across every allocation
            ;; (a struct, some arrays, some exceptions) when `$allocate`.
            (func (export "run") (param $seed i64) (param $allocate i32) (result i64)
                (local $i0 i64) (local $i1 i64) (local $i2 i64) (local $i3 i64) (local $i4 i64) (local $i5 i64) (local $i6 i64) (local $i7 i64) (local $i8 i64) (local $i9 i64)
                (local $f0 f64) (local $f1 f64) (local $f2 f64) (local $f3 f64) (local $v v128) (local $n i64)
                (local.set $n (i64.const 20))
                (local.set $i0 (i64.add (i64.mul (local.get $seed) (i64.const 3)) (i64.const 1)))
                (local.set $i1 (i64.add (i64.mul (local.get $seed) (i64.const 4)) (i64.const 8)))
                (local.set $i2 (i64.add (i64.mul (local.get $seed) (i64.const 5)) (i64.const 15)))
                (local.set $i3 (i64.add (i64.mul (local.get $seed) (i64.const 6)) (i64.const 22)))
                (local.set $i4 (i64.add (i64.mul (local.get $seed) (i64.const 7)) (i64.const 29)))
                (local.set $i5 (i64.add (i64.mul (local.get $seed) (i64.const 8)) (i64.const 36)))
                (local.set $i6 (i64.add (i64.mul (local.get $seed) (i64.const 9)) (i64.const 43)))
                (local.set $i7 (i64.add (i64.mul (local.get $seed) (i64.const 10)) (i64.const 50)))
                (local.set $i8 (i64.add (i64.mul (local.get $seed) (i64.const 11)) (i64.const 57)))
                (local.set $i9 (i64.add (i64.mul (local.get $seed) (i64.const 12)) (i64.const 64)))
                (local.set $f0 (f64.mul (f64.convert_i64_s (local.get $i0)) (f64.const 1.5)))
                (local.set $f1 (f64.mul (f64.convert_i64_s (local.get $i1)) (f64.const 1.5)))
                (local.set $f2 (f64.mul (f64.convert_i64_s (local.get $i2)) (f64.const 1.5)))
                (local.set $f3 (f64.mul (f64.convert_i64_s (local.get $i3)) (f64.const 1.5)))
                (local.set $v (i64x2.splat (local.get $seed)))
                (loop $l
                    (if (local.get $allocate) (then (drop (struct.new $s (local.get $i0))) (drop (array.new $a (i32.const 1) (i32.const 1))) (drop (block $caught (result i64) (try_table (catch $t $caught) (throw $t (local.get $n))) (unreachable)))))
                    (local.set $i0 (i64.add (local.get $i0) (local.get $i1)))
                    (if (local.get $allocate) (then (drop (struct.new $s (local.get $i1)))))
                    (local.set $i1 (i64.add (local.get $i1) (local.get $i2)))
                    (if (local.get $allocate) (then (drop (struct.new $s (local.get $i2)))))
                    (local.set $i2 (i64.add (local.get $i2) (local.get $i3)))
                    (if (local.get $allocate) (then (drop (struct.new $s (local.get $i3))) (drop (array.new $a (i32.const 1) (i32.const 4)))))
                    (local.set $i3 (i64.add (local.get $i3) (local.get $i4)))
                    (if (local.get $allocate) (then (drop (struct.new $s (local.get $i4)))))
                    (local.set $i4 (i64.add (local.get $i4) (local.get $i5)))
                    (if (local.get $allocate) (then (drop (struct.new $s (local.get $i5))) (drop (block $caught (result i64) (try_table (catch $t $caught) (throw $t (local.get $n))) (unreachable)))))
                    (local.set $i5 (i64.add (local.get $i5) (local.get $i6)))
                    (if (local.get $allocate) (then (drop (struct.new $s (local.get $i6))) (drop (array.new $a (i32.const 1) (i32.const 7)))))
                    (local.set $i6 (i64.add (local.get $i6) (local.get $i7)))
                    (if (local.get $allocate) (then (drop (struct.new $s (local.get $i7)))))
                    (local.set $i7 (i64.add (local.get $i7) (local.get $i8)))
                    (if (local.get $allocate) (then (drop (struct.new $s (local.get $i8)))))
                    (local.set $i8 (i64.add (local.get $i8) (local.get $i9)))
                    (if (local.get $allocate) (then (drop (struct.new $s (local.get $i9))) (drop (array.new $a (i32.const 1) (i32.const 10)))))
                    (local.set $i9 (i64.add (local.get $i9) (local.get $i0)))
                    (local.set $f0 (f64.add (local.get $f0) (f64.const 0.25)))
                    (local.set $f1 (f64.add (local.get $f1) (f64.const 0.25)))
                    (local.set $f2 (f64.add (local.get $f2) (f64.const 0.25)))
                    (local.set $f3 (f64.add (local.get $f3) (f64.const 0.25)))
                    (local.set $v (i64x2.add (local.get $v) (i64x2.splat (local.get $n))))
                    (local.set $n (i64.sub (local.get $n) (i64.const 1)))
                    (br_if $l (i64.ne (local.get $n) (i64.const 0))))
                (i64.add (i64.add (i64.add (i64.add (i64.add (i64.add (i64.add (i64.add (i64.add (i64.add (i64.add (i64.add (i64.add (i64.add (local.get $i0) (local.get $i1)) (local.get $i2)) (local.get $i3)) (local.get $i4)) (local.get $i5)) (local.get $i6)) (local.get $i7)) (local.get $i8)) (local.get $i9)) (i64.trunc_sat_f64_s (local.get $f0))) (i64.trunc_sat_f64_s (local.get $f1))) (i64.trunc_sat_f64_s (local.get $f2))) (i64.trunc_sat_f64_s (local.get $f3))) (i64.add (i64x2.extract_lane 0 (local.get $v)) (i64x2.extract_lane 1 (local.get $v))))))"#;
    for collector in [Collector::Copying, Collector::Generational, Collector::Drc, Collector::Null] {
        let engine = zeal_engine(collector, 1);
        let module = Module::new(&engine, wat).unwrap();
        let mut store = Store::new(&engine, ());
        let instance = Linker::new(&engine).instantiate(&mut store, &module).unwrap();
        let run = instance.get_typed_func::<(i64, i32), i64>(&mut store, "run").unwrap();
        for seed in [0, 1, -7, 0x1234_5678_9abc, i64::MIN / 3] {
            let expected = run.call(&mut store, (seed, 0)).unwrap();
            assert_eq!(run.call(&mut store, (seed, 1)).unwrap(), expected, "{collector:?}, seed {seed}");
        }
        assert!(collections(&store) > 0 || collector == Collector::Null, "{collector:?}: the slow paths collected");
    }
}
