//! The generational collector running compiled code: a young object whose
//! only reference is stored in an old object (or a table or global) by
//! each kind of store survives nursery collections, large objects born in
//! the mature space (or its large-object space) keep the young objects
//! they were filled with or given later, and a program with 10 MB of live
//! data runs in a heap under 64 MB.
//!
//! Test builds verify the heap after every collection, so a reference the
//! write barrier missed fails the collection itself (it points into the
//! emptied nursery), not only the value read back.

use kiln::*;

fn engine() -> Engine {
    let mut config = Config::new();
    config.collector(Collector::Generational);
    Engine::new(&config).unwrap()
}

fn instantiate(engine: &Engine, wat: &str) -> (Store<()>, Instance) {
    let module = Module::new(engine, wat).unwrap();
    let mut store = Store::new(engine, ());
    let instance = Linker::new(engine).instantiate(&mut store, &module).unwrap();
    (store, instance)
}

/// Old containers (made, then promoted by a full collection), one way to
/// store a new box into each, a way to read each back, and garbage.
const OLD_TO_YOUNG: &str = r#"(module
    (type $box (struct (field i32)))
    (type $holder (struct (field (mut (ref null $box)))))
    (type $boxes (array (mut (ref null $box))))
    (type $junk (struct (field i32) (field i32)))
    (global $holder (mut (ref null $holder)) (ref.null $holder))
    (global $old_array (mut (ref null $boxes)) (ref.null $boxes))
    (global $young (mut (ref null $box)) (ref.null $box))
    (table $table 1 (ref null $box))

    (func (export "make_old")
        (global.set $holder (struct.new $holder (ref.null $box)))
        (global.set $old_array (array.new_default $boxes (i32.const 4))))

    (func (export "store_by_struct_set") (param $v i32)
        (struct.set $holder 0 (global.get $holder) (struct.new $box (local.get $v))))
    (func (export "store_by_array_set") (param $v i32)
        (array.set $boxes (global.get $old_array) (i32.const 1) (struct.new $box (local.get $v))))
    ;; The box's only other reference is in a young array that dies.
    (func (export "store_by_array_copy") (param $v i32)
        (array.copy $boxes $boxes (global.get $old_array) (i32.const 2)
            (array.new $boxes (struct.new $box (local.get $v)) (i32.const 3)) (i32.const 0) (i32.const 1)))
    (func (export "store_by_table_set") (param $v i32)
        (table.set $table (i32.const 0) (struct.new $box (local.get $v))))
    (func (export "store_by_global_set") (param $v i32)
        (global.set $young (struct.new $box (local.get $v))))

    (func (export "read_struct_set") (result i32)
        (struct.get $box 0 (struct.get $holder 0 (global.get $holder))))
    (func (export "read_array_set") (result i32)
        (struct.get $box 0 (array.get $boxes (global.get $old_array) (i32.const 1))))
    (func (export "read_array_copy") (result i32)
        (struct.get $box 0 (array.get $boxes (global.get $old_array) (i32.const 2))))
    (func (export "read_table_set") (result i32)
        (struct.get $box 0 (table.get $table (i32.const 0))))
    (func (export "read_global_set") (result i32)
        (struct.get $box 0 (global.get $young)))

    (func (export "churn") (param $n i32)
        (block $done (loop $next
            (br_if $done (i32.eqz (local.get $n)))
            (drop (struct.new $junk (local.get $n) (local.get $n)))
            (local.set $n (i32.sub (local.get $n) (i32.const 1)))
            (br $next)))))"#;

/// Promotes the containers, stores a young box by `how`, churns until
/// nursery collections ran, and reads the box back.
fn old_to_young_survives(how: &str) {
    let (mut store, instance) = instantiate(&engine(), OLD_TO_YOUNG);
    instance.get_typed_func::<(), ()>(&mut store, "make_old").unwrap().call(&mut store, ()).unwrap();
    store.gc(None).unwrap();
    let store_box = instance.get_typed_func::<i32, ()>(&mut store, &format!("store_by_{how}")).unwrap();
    store_box.call(&mut store, 4242).unwrap();
    let minor_before = store.gc_stats().unwrap().minor_collections;
    let churn = instance.get_typed_func::<i32, ()>(&mut store, "churn").unwrap();
    churn.call(&mut store, 300_000).unwrap();
    let stats = store.gc_stats().unwrap();
    assert!(stats.minor_collections >= minor_before + 2, "no nursery collections: {stats:?}");
    let read = instance.get_typed_func::<(), i32>(&mut store, &format!("read_{how}")).unwrap();
    assert_eq!(read.call(&mut store, ()).unwrap(), 4242);
    // And after a full collection too.
    store.gc(None).unwrap();
    assert_eq!(read.call(&mut store, ()).unwrap(), 4242);
}

#[test]
fn old_to_young_by_struct_set_survives_a_minor_collection() {
    old_to_young_survives("struct_set");
}

#[test]
fn old_to_young_by_array_set_survives_a_minor_collection() {
    old_to_young_survives("array_set");
}

#[test]
fn old_to_young_by_array_copy_survives_a_minor_collection() {
    old_to_young_survives("array_copy");
}

#[test]
fn young_object_in_a_table_survives_a_minor_collection() {
    old_to_young_survives("table_set");
}

#[test]
fn young_object_in_a_global_survives_a_minor_collection() {
    old_to_young_survives("global_set");
}

/// A large array of boxes in a global: made filled with one new box
/// (`fill`) or empty (`empty`), given a new box at an index (`put`, by
/// compiled code's `array.set`), read back; and garbage (`churn`).
const LARGE_BOXES: &str = r#"(module
    (type $box (struct (field i32)))
    (type $boxes (array (mut (ref null $box))))
    (type $junk (struct (field i32) (field i32)))
    (global $big (mut (ref null $boxes)) (ref.null $boxes))
    (func (export "fill") (param $v i32)
        (global.set $big (array.new $boxes (struct.new $box (local.get $v)) (i32.const 400000))))
    (func (export "empty") (param $len i32)
        (global.set $big (array.new_default $boxes (local.get $len))))
    (func (export "put") (param $i i32) (param $v i32)
        (array.set $boxes (global.get $big) (local.get $i) (struct.new $box (local.get $v))))
    (func (export "clear") (global.set $big (ref.null $boxes)))
    (func (export "churn") (param $n i32)
        (block $done (loop $next
            (br_if $done (i32.eqz (local.get $n)))
            (drop (struct.new $junk (local.get $n) (local.get $n)))
            (local.set $n (i32.sub (local.get $n) (i32.const 1)))
            (br $next))))
    (func (export "read") (param $i i32) (result i32)
        (struct.get $box 0 (array.get $boxes (global.get $big) (local.get $i)))))"#;

#[test]
fn a_large_array_born_mature_keeps_the_young_objects_it_was_filled_with() {
    // 400,000 references (1.6 MB), larger than the nursery: the array is
    // allocated outside it and filled by stores without a barrier.
    let (mut store, instance) = instantiate(
        &engine(),
        LARGE_BOXES,
    );
    let fill = instance.get_typed_func::<i32, ()>(&mut store, "fill").unwrap();
    // The first array grows the heap; once it is garbage, the second fits
    // beside the nursery without a collection, so its box is still young
    // when the array is filled with it.
    fill.call(&mut store, 1).unwrap();
    instance.get_typed_func::<(), ()>(&mut store, "clear").unwrap().call(&mut store, ()).unwrap();
    store.gc(None).unwrap();
    let collections = store.gc_stats().unwrap().collections;
    fill.call(&mut store, 77).unwrap();
    assert_eq!(store.gc_stats().unwrap().collections, collections, "allocating the array collected: the test needs it not to");
    instance.get_typed_func::<i32, ()>(&mut store, "churn").unwrap().call(&mut store, 300_000).unwrap();
    assert!(store.gc_stats().unwrap().minor_collections >= 2);
    let read = instance.get_typed_func::<i32, i32>(&mut store, "read").unwrap();
    assert_eq!(read.call(&mut store, 0).unwrap(), 77);
    assert_eq!(read.call(&mut store, 399_999).unwrap(), 77);
}

#[test]
fn ten_megabytes_live_run_in_a_heap_under_64_megabytes() {
    // 2,500 live arrays of 1,000 i32s (10 MB), each replaced now and then
    // (so the mature space gets garbage too), and 100 MB of short-lived
    // structs around them.
    let (mut store, instance) = instantiate(
        &engine(),
        r#"(module
            (type $ints (array (mut i32)))
            (type $live (array (mut (ref null $ints))))
            (type $junk (struct (field i32) (field i32)))
            (func (export "run") (param $steps i32) (result i32)
                (local $live (ref $live)) (local $i i32) (local $j i32) (local $sum i32)
                (local.set $live (array.new_default $live (i32.const 2500)))
                (block $built (loop $build
                    (br_if $built (i32.eq (local.get $i) (i32.const 2500)))
                    (array.set $live (local.get $live) (local.get $i) (array.new $ints (local.get $i) (i32.const 1000)))
                    (local.set $i (i32.add (local.get $i) (i32.const 1)))
                    (br $build)))
                (block $done (loop $step
                    (br_if $done (i32.eqz (local.get $steps)))
                    (local.set $j (i32.const 0))
                    (block $churned (loop $churn
                        (br_if $churned (i32.eq (local.get $j) (i32.const 100)))
                        (drop (struct.new $junk (local.get $j) (local.get $steps)))
                        (local.set $j (i32.add (local.get $j) (i32.const 1)))
                        (br $churn)))
                    (local.set $i (i32.rem_u (i32.mul (local.get $steps) (i32.const 7919)) (i32.const 2500)))
                    (if (i32.eqz (i32.rem_u (local.get $steps) (i32.const 8)))
                        (then (array.set $live (local.get $live) (local.get $i) (array.new $ints (local.get $i) (i32.const 1000)))))
                    (local.set $sum (i32.add (local.get $sum)
                        (array.get $ints (array.get $live (local.get $live) (local.get $i)) (i32.const 999))))
                    (local.set $steps (i32.sub (local.get $steps) (i32.const 1)))
                    (br $step)))
                (local.get $sum)))"#,
    );
    let run = instance.get_typed_func::<i32, i32>(&mut store, "run").unwrap();
    let steps = 40_000;
    let expected: i32 = (1..=steps).map(|s: i32| ((s as u32 * 7919) % 2500) as i32).sum();
    assert_eq!(run.call(&mut store, steps).unwrap(), expected);
    let stats = store.gc_stats().unwrap();
    assert!(stats.minor_collections > 0 && stats.collections > stats.minor_collections, "{stats:?}");
    assert!(stats.heap_size < 64_000_000, "peak GC heap {} bytes: {stats:?}", stats.heap_size);
}

/// Full collections compact the mature space in place: no copy reserve,
/// so 40 MB of live data (kept from before the first full collection to
/// after the last, and read back) fits in a heap under three times as
/// much. A semi-space mature space would want four times the live data.
#[test]
fn forty_megabytes_live_run_in_a_heap_under_three_times_as_much() {
    let (mut store, instance) = instantiate(
        &engine(),
        r#"(module
            (type $ints (array (mut i32)))
            (type $live (array (mut (ref null $ints))))
            (type $junk (struct (field i32) (field i32)))
            (global $live (mut (ref null $live)) (ref.null $live))
            ;; 10,000 arrays of 1,000 i32s, the i-th holding i, and garbage
            ;; between them, so that the survivors slide down.
            (func (export "build")
                (local $i i32)
                (global.set $live (array.new_default $live (i32.const 10000)))
                (block $built (loop $build
                    (br_if $built (i32.eq (local.get $i) (i32.const 10000)))
                    (array.set $live (global.get $live) (local.get $i) (array.new $ints (local.get $i) (i32.const 1000)))
                    (drop (array.new $ints (local.get $i) (i32.const 500)))
                    (local.set $i (i32.add (local.get $i) (i32.const 1)))
                    (br $build))))
            (func (export "sum") (result i32)
                (local $i i32) (local $sum i32)
                (block $done (loop $next
                    (br_if $done (i32.eq (local.get $i) (i32.const 10000)))
                    (local.set $sum (i32.add (local.get $sum)
                        (array.get $ints (array.get $live (global.get $live) (local.get $i)) (i32.const 999))))
                    (local.set $i (i32.add (local.get $i) (i32.const 1)))
                    (br $next)))
                (local.get $sum)))"#,
    );
    instance.get_typed_func::<(), ()>(&mut store, "build").unwrap().call(&mut store, ()).unwrap();
    store.gc(None).unwrap();
    let stats = store.gc_stats().unwrap();
    assert!(stats.collections > stats.minor_collections + 1, "several full collections: {stats:?}");
    assert!(stats.bytes_in_use >= 40_000_000, "{stats:?}");
    assert!(stats.heap_size < 3 * 40_200_000, "GC heap {} bytes for 40 MB live: {stats:?}", stats.heap_size);
    let sum = instance.get_typed_func::<(), i32>(&mut store, "sum").unwrap();
    assert_eq!(sum.call(&mut store, ()).unwrap(), (0..10_000).sum::<i32>());
}

/// A nursery that mostly survives is promoted in place (no copy); one
/// that mostly dies is evacuated. Either way every live object keeps its
/// contents, through the full collections that free what the promoted
/// nurseries held dead.
#[test]
fn nurseries_that_mostly_survive_are_promoted_in_place() {
    let (mut store, instance) = instantiate(
        &engine(),
        r#"(module
            (type $node (struct (field i32) (field (ref null $node))))
            (global $list (mut (ref null $node)) (ref.null $node))
            ;; Prepends `n` nodes to the kept list, with a dead node after
            ;; every fourth.
            (func (export "grow") (param $n i32)
                (block $done (loop $next
                    (br_if $done (i32.eqz (local.get $n)))
                    (global.set $list (struct.new $node (local.get $n) (global.get $list)))
                    (if (i32.eqz (i32.and (local.get $n) (i32.const 3)))
                        (then (drop (struct.new $node (local.get $n) (ref.null $node)))))
                    (local.set $n (i32.sub (local.get $n) (i32.const 1)))
                    (br $next))))
            ;; `n` nodes, all garbage.
            (func (export "churn") (param $n i32)
                (block $done (loop $next
                    (br_if $done (i32.eqz (local.get $n)))
                    (drop (struct.new $node (local.get $n) (ref.null $node)))
                    (local.set $n (i32.sub (local.get $n) (i32.const 1)))
                    (br $next))))
            (func (export "sum") (result i32)
                (local $at (ref null $node)) (local $sum i32)
                (local.set $at (global.get $list))
                (block $done (loop $next
                    (br_if $done (ref.is_null (local.get $at)))
                    (local.set $sum (i32.add (local.get $sum) (struct.get $node 0 (local.get $at))))
                    (local.set $at (struct.get $node 1 (local.get $at)))
                    (br $next)))
                (local.get $sum)))"#,
    );
    let churn = instance.get_typed_func::<i32, ()>(&mut store, "churn").unwrap();
    churn.call(&mut store, 500_000).unwrap();
    let stats = store.gc_stats().unwrap();
    assert!(stats.minor_collections > 4 && stats.promotions_in_place == 0, "garbage is evacuated, not promoted: {stats:?}");

    instance.get_typed_func::<i32, ()>(&mut store, "grow").unwrap().call(&mut store, 250_000).unwrap();
    let stats = store.gc_stats().unwrap();
    assert!(stats.promotions_in_place > 0, "{stats:?}");
    churn.call(&mut store, 500_000).unwrap();
    store.gc(None).unwrap();
    let sum = instance.get_typed_func::<(), i32>(&mut store, "sum").unwrap();
    assert_eq!(sum.call(&mut store, ()).unwrap(), (1..=250_000i64).sum::<i64>() as i32);
    // 16 bytes a node: the list and nothing else.
    let stats = store.gc_stats().unwrap();
    assert!(stats.bytes_in_use < 4_100_000, "the promoted nurseries' dead nodes are freed: {stats:?}");
}

#[test]
fn young_objects_stored_into_many_old_objects_survive() {
    // 40,000 old holders, over a thousand cards, each given a new box in
    // one call: the minor collections find every box through the holders'
    // marked cards.
    let (mut store, instance) = instantiate(
        &engine(),
        r#"(module
            (type $box (struct (field i32)))
            (type $holder (struct (field (mut (ref null $box)))))
            (type $holders (array (mut (ref null $holder))))
            (type $junk (struct (field i32) (field i32)))
            (global $holders (mut (ref null $holders)) (ref.null $holders))
            (func (export "make_old") (param $n i32)
                (local $i i32)
                (global.set $holders (array.new_default $holders (local.get $n)))
                (block $done (loop $next
                    (br_if $done (i32.eq (local.get $i) (local.get $n)))
                    (array.set $holders (global.get $holders) (local.get $i) (struct.new $holder (ref.null $box)))
                    (local.set $i (i32.add (local.get $i) (i32.const 1)))
                    (br $next))))
            (func (export "link_and_churn") (param $n i32) (result i32)
                (local $i i32) (local $sum i32)
                (block $done (loop $next
                    (br_if $done (i32.eq (local.get $i) (local.get $n)))
                    (struct.set $holder 0 (array.get $holders (global.get $holders) (local.get $i)) (struct.new $box (local.get $i)))
                    (local.set $i (i32.add (local.get $i) (i32.const 1)))
                    (br $next)))
                (local.set $i (i32.const 300000))
                (block $done (loop $next
                    (br_if $done (i32.eqz (local.get $i)))
                    (drop (struct.new $junk (local.get $i) (local.get $i)))
                    (local.set $i (i32.sub (local.get $i) (i32.const 1)))
                    (br $next)))
                (block $done (loop $next
                    (br_if $done (i32.eq (local.get $i) (local.get $n)))
                    (local.set $sum (i32.add (local.get $sum)
                        (struct.get $box 0 (struct.get $holder 0 (array.get $holders (global.get $holders) (local.get $i))))))
                    (local.set $i (i32.add (local.get $i) (i32.const 1)))
                    (br $next)))
                (local.get $sum)))"#,
    );
    let n = 40_000;
    instance.get_typed_func::<i32, ()>(&mut store, "make_old").unwrap().call(&mut store, n).unwrap();
    store.gc(None).unwrap();
    let minor_before = store.gc_stats().unwrap().minor_collections;
    let link = instance.get_typed_func::<i32, i32>(&mut store, "link_and_churn").unwrap();
    assert_eq!(link.call(&mut store, n).unwrap(), (0..n).sum::<i32>());
    assert!(store.gc_stats().unwrap().minor_collections > minor_before);
}

#[test]
fn young_objects_stored_into_a_large_array_by_compiled_code_survive_minor_collections() {
    // 100,000 references (400 KB): the array lives in the large-object
    // space. Compiled code's `array.set` stores new boxes into it between
    // nursery collections; its write barrier must remember the array.
    let (mut store, instance) = instantiate(&engine(), LARGE_BOXES);
    let len = 100_000;
    let slot = |i: i32| i * 97 % len;
    instance.get_typed_func::<i32, ()>(&mut store, "empty").unwrap().call(&mut store, len).unwrap();
    let put = instance.get_typed_func::<(i32, i32), ()>(&mut store, "put").unwrap();
    let churn = instance.get_typed_func::<i32, ()>(&mut store, "churn").unwrap();
    let n = 2000;
    for i in 0..n {
        put.call(&mut store, (slot(i), i)).unwrap();
        churn.call(&mut store, 300).unwrap();
    }
    assert!(store.gc_stats().unwrap().minor_collections >= 5, "{:?}", store.gc_stats());
    let read = instance.get_typed_func::<i32, i32>(&mut store, "read").unwrap();
    let sum: i32 = (0..n).map(|i| read.call(&mut store, slot(i)).unwrap()).sum();
    assert_eq!(sum, (0..n).sum::<i32>());
}
