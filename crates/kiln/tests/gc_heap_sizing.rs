//! Heap sizing on the collectors that copy: a heap grows while much of it
//! is live, and gives memory back once its live data falls — and can grow
//! again into what it gave back.

use kiln::*;

/// `n` arrays of `LEN` i32s held by a global, summed by their last
/// elements.
fn arrays_program(len: u32) -> String {
    let program = r#"(module
    (type $ints (array (mut i32)))
    (type $all (array (mut (ref null $ints))))
    (global $live (mut (ref null $all)) (ref.null $all))
    (func (export "build") (param $n i32) (result i32)
        (local $i i32) (local $sum i32)
        (global.set $live (array.new_default $all (local.get $n)))
        (block $done (loop $next
            (br_if $done (i32.eq (local.get $i) (local.get $n)))
            (array.set $all (global.get $live) (local.get $i) (array.new $ints (local.get $i) (i32.const LEN)))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $next)))
        (local.set $i (i32.const 0))
        (block $done (loop $next
            (br_if $done (i32.eq (local.get $i) (local.get $n)))
            (local.set $sum (i32.add (local.get $sum) (array.get $ints (array.get $all (global.get $live) (local.get $i)) (i32.const LAST))))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $next)))
        (local.get $sum))
    (func (export "drop_all") (global.set $live (ref.null $all))))"#;
    program.replace("LEN", &len.to_string()).replace("LAST", &(len - 1).to_string())
}

/// `wat` instantiated in a store of its own, under `collector`.
fn instantiate(collector: Collector, wat: &str) -> (Store<()>, Instance) {
    let mut config = Config::new();
    config.collector(collector);
    let engine = Engine::new(&config).unwrap();
    let module = Module::new(&engine, wat).unwrap();
    let mut store = Store::new(&engine, ());
    let instance = Linker::new(&engine).instantiate(&mut store, &module).unwrap();
    (store, instance)
}

#[test]
fn a_heap_whose_live_data_falls_shrinks_and_grows_again() {
    for collector in [Collector::Copying, Collector::Generational] {
        // 200 i32s: copied, not plain objects.
        let (mut store, instance) = instantiate(collector, &arrays_program(200));
        let build = instance.get_typed_func::<i32, i32>(&mut store, "build").unwrap();
        let drop_all = instance.get_typed_func::<(), ()>(&mut store, "drop_all").unwrap();

        // 40 MB live.
        let n = 50_000;
        assert_eq!(build.call(&mut store, n).unwrap(), (0..n).sum::<i32>());
        // A semi-space heap is at least twice its live data; the
        // generational one compacts its mature space in place and needs
        // only the live data and a nursery, which it keeps after shrinking.
        let min_peak = if collector == Collector::Copying { 80 << 20 } else { 40 << 20 };
        let peak = store.gc_stats().unwrap().heap_size;
        let max_shrunk = if collector == Collector::Copying { peak / 4 } else { 20 << 20 };
        assert!(peak >= min_peak, "{collector:?}: {peak}");

        drop_all.call(&mut store, ()).unwrap();
        for _ in 0..6 {
            store.gc(None).unwrap();
        }
        let shrunk = store.gc_stats().unwrap().heap_size;
        assert!(shrunk <= max_shrunk, "{collector:?}: {peak} -> {shrunk}");

        assert_eq!(build.call(&mut store, n).unwrap(), (0..n).sum::<i32>(), "{collector:?}");
        assert!(store.gc_stats().unwrap().heap_size >= min_peak, "{collector:?}");
    }
}

/// Under the copying collector, arrays of numbers of a kilobyte or more
/// are not copied, so not held twice; their space gives its memory back
/// once they die.
#[test]
fn arrays_of_numbers_are_not_held_twice() {
    let (mut store, instance) = instantiate(Collector::Copying, &arrays_program(1000));
    let build = instance.get_typed_func::<i32, i32>(&mut store, "build").unwrap();
    let drop_all = instance.get_typed_func::<(), ()>(&mut store, "drop_all").unwrap();
    // 40 MB live: a semi-space heap would take 80 MB at least.
    let n = 10_000;
    assert_eq!(build.call(&mut store, n).unwrap(), (0..n).sum::<i32>());
    let peak = store.gc_stats().unwrap().heap_size;
    assert!(peak < 64 << 20, "{peak}");
    drop_all.call(&mut store, ()).unwrap();
    store.gc(None).unwrap();
    let after = store.gc_stats().unwrap().heap_size;
    assert!(after < 16 << 20, "{peak} -> {after}");
    assert_eq!(build.call(&mut store, n).unwrap(), (0..n).sum::<i32>());
}

const BIG_ARRAYS: &str = r#"(module
    (type $bytes (array (mut i8)))
    (type $node (struct (field (mut (ref null $node)))))
    (global $kept (mut (ref null $bytes)) (ref.null $bytes))
    ;; A new array of `len` bytes, its last byte set, kept in a global
    ;; instead of the last one; then enough small garbage to collect a few
    ;; times.
    (func (export "keep_big") (param $len i32) (result i32)
        (local $i i32) (local $list (ref null $node))
        (global.set $kept (ref.null $bytes))
        (global.set $kept (array.new_default $bytes (local.get $len)))
        (array.set $bytes (global.get $kept) (i32.sub (local.get $len) (i32.const 1)) (i32.const 7))
        (block $done (loop $next
            (br_if $done (i32.eq (local.get $i) (i32.const 1000000)))
            (local.set $list (struct.new $node (local.get $list)))
            (if (i32.eqz (i32.and (local.get $i) (i32.const 1023))) (then (local.set $list (ref.null $node))))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $next)))
        (i32.add (array.len (global.get $kept))
                 (array.get_u $bytes (global.get $kept) (i32.sub (local.get $len) (i32.const 1)))))
    ;; A second array while the first is kept.
    (func (export "another") (param $len i32) (result i32)
        (array.len (array.new_default $bytes (local.get $len)))))"#;

/// A single object larger than half of the heap's limit: a semi-space
/// heap keeps it in its large-object space (no copy reserve), so it fits
/// under every collector, and a second one that does not fit traps.
#[test]
fn an_array_of_more_than_half_the_default_heap_limit_fits() {
    const LEN: i32 = 540_000_000;
    for collector in [Collector::Null, Collector::Drc, Collector::Copying, Collector::Generational] {
        let (mut store, instance) = instantiate(collector, BIG_ARRAYS);
        let keep_big = instance.get_typed_func::<i32, i32>(&mut store, "keep_big").unwrap();
        let another = instance.get_typed_func::<i32, i32>(&mut store, "another").unwrap();

        let kept = keep_big.call(&mut store, LEN).unwrap_or_else(|e| panic!("{collector:?}: {e:?}"));
        assert_eq!(kept, LEN + 7, "{collector:?}");
        assert!(store.gc_stats().unwrap().heap_size <= 1 << 30, "{collector:?}");
        let trap = another.call(&mut store, LEN).unwrap_err();
        assert_eq!(trap.downcast_ref::<Trap>(), Some(&Trap::GcHeapOutOfMemory), "{collector:?}: {trap:?}");
        if collector != Collector::Null {
            // The first one, no longer kept, makes room for the next.
            let kept = keep_big.call(&mut store, LEN).unwrap_or_else(|e| panic!("{collector:?}: {e:?}"));
            assert_eq!(kept, LEN + 7, "{collector:?}");
        }
    }
}

/// Garbage made only of large arrays (which live apart from the spaces and
/// are freed only by full collections) is collected as it comes: 2,000
/// arrays of 100 KiB or 300 KiB, each dropped at once, run in a heap of a
/// few tens of megabytes, not the heap's whole limit.
#[test]
fn a_churn_of_large_arrays_runs_in_a_bounded_heap() {
    const CHURN: &str = r#"(module
        (type $a (array (mut i32)))
        (func (export "churn") (param $n i32) (param $len i32) (result i32)
            (local $i i32) (local $acc i32) (local $x (ref null $a))
            (loop $l
                (local.set $x (array.new $a (local.get $i) (local.get $len)))
                (local.set $acc (i32.add (local.get $acc) (array.get $a (local.get $x) (i32.const 7))))
                (local.set $i (i32.add (local.get $i) (i32.const 1)))
                (br_if $l (i32.lt_u (local.get $i) (local.get $n))))
            (local.get $acc)))"#;
    for collector in [Collector::Copying, Collector::Generational] {
        for len in [25_600, 76_800] {
            let (mut store, instance) = instantiate(collector, CHURN);
            let churn = instance.get_typed_func::<(i32, i32), i32>(&mut store, "churn").unwrap();
            assert_eq!(churn.call(&mut store, (2_000, len)).unwrap(), (0..2_000).sum::<i32>());
            let stats = store.gc_stats().unwrap();
            assert!(stats.collections > 0, "{collector:?}, {len} elements: no collection");
            assert!(stats.heap_size < 64 << 20, "{collector:?}, {len} elements: a heap of {} bytes", stats.heap_size);
        }
    }
}
