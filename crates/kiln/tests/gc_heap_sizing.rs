//! Heap sizing on the collectors that copy: a heap grows while much of it
//! is live, and gives memory back once its live data falls — and can grow
//! again into what it gave back.

use kiln::*;

const PROGRAM: &str = r#"(module
    (type $ints (array (mut i32)))
    (type $all (array (mut (ref null $ints))))
    (global $live (mut (ref null $all)) (ref.null $all))
    ;; `n` arrays of 1,000 i32s (4 KB each) held by a global.
    (func (export "build") (param $n i32) (result i32)
        (local $i i32) (local $sum i32)
        (global.set $live (array.new_default $all (local.get $n)))
        (block $done (loop $next
            (br_if $done (i32.eq (local.get $i) (local.get $n)))
            (array.set $all (global.get $live) (local.get $i) (array.new $ints (local.get $i) (i32.const 1000)))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $next)))
        (local.set $i (i32.const 0))
        (block $done (loop $next
            (br_if $done (i32.eq (local.get $i) (local.get $n)))
            (local.set $sum (i32.add (local.get $sum) (array.get $ints (array.get $all (global.get $live) (local.get $i)) (i32.const 999))))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $next)))
        (local.get $sum))
    (func (export "drop_all") (global.set $live (ref.null $all))))"#;

#[test]
fn a_heap_whose_live_data_falls_shrinks_and_grows_again() {
    for collector in [Collector::Copying, Collector::Generational] {
        let mut config = Config::new();
        config.collector(collector);
        let engine = Engine::new(&config).unwrap();
        let module = Module::new(&engine, PROGRAM).unwrap();
        let mut store = Store::new(&engine, ());
        let instance = Linker::new(&engine).instantiate(&mut store, &module).unwrap();
        let build = instance.get_typed_func::<i32, i32>(&mut store, "build").unwrap();
        let drop_all = instance.get_typed_func::<(), ()>(&mut store, "drop_all").unwrap();

        // 40 MB live.
        let n = 10_000;
        assert_eq!(build.call(&mut store, n).unwrap(), (0..n).sum::<i32>());
        let peak = store.gc_stats().unwrap().heap_size;
        assert!(peak >= 80 << 20, "{collector:?}: {peak}");

        drop_all.call(&mut store, ()).unwrap();
        for _ in 0..6 {
            store.gc(None).unwrap();
        }
        let shrunk = store.gc_stats().unwrap().heap_size;
        assert!(shrunk <= peak / 4, "{collector:?}: {peak} -> {shrunk}");

        assert_eq!(build.call(&mut store, n).unwrap(), (0..n).sum::<i32>(), "{collector:?}");
        assert!(store.gc_stats().unwrap().heap_size >= 80 << 20, "{collector:?}");
    }
}
