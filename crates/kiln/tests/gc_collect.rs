//! Collection in running programs: with the copying collector, garbage is
//! reclaimed while Wasm runs, and every root (the Wasm stack through stack
//! maps, globals, tables, host handles, exception payloads) survives with
//! its references rewritten.

use kiln::*;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

fn engine(collector: Collector, max_heap: u64) -> Engine {
    let mut config = Config::new();
    config.collector(collector).max_gc_heap_size(max_heap);
    Engine::new(&config).unwrap()
}

/// Builds a list of `n` nodes, then drops it, `rounds` times; returns the
/// sum of the last list. Live data is one list; garbage is all the others.
const CHURN: &str = r#"(module
    (type $node (struct (field $v i32) (field $next (ref null $node))))
    (func $build (param $n i32) (result (ref null $node))
        (local $l (ref null $node))
        (block $done (loop $next
            (br_if $done (i32.eqz (local.get $n)))
            (local.set $l (struct.new $node (local.get $n) (local.get $l)))
            (local.set $n (i32.sub (local.get $n) (i32.const 1)))
            (br $next)))
        (local.get $l))
    (func $sum (param $l (ref null $node)) (result i32)
        (local $s i32)
        (block $done (loop $next
            (br_if $done (ref.is_null (local.get $l)))
            (local.set $s (i32.add (local.get $s) (struct.get $node $v (local.get $l))))
            (local.set $l (struct.get $node $next (local.get $l)))
            (br $next)))
        (local.get $s))
    (func (export "churn") (param $rounds i32) (param $n i32) (result i32)
        (local $keep (ref null $node)) (local $s i32)
        (local.set $keep (call $build (i32.const 100)))
        (block $done (loop $next
            (br_if $done (i32.eqz (local.get $rounds)))
            (local.set $s (call $sum (call $build (local.get $n))))
            (local.set $rounds (i32.sub (local.get $rounds) (i32.const 1)))
            (br $next)))
        ;; The list held across all the collections is intact.
        (i32.add (local.get $s) (call $sum (local.get $keep)))))"#;

#[test]
fn copying_collector_reclaims_garbage_so_a_small_heap_suffices() {
    // ~2,000 rounds of 1,000 nodes of 24 bytes: ~48 MB allocated in all,
    // through a heap capped at 4 MiB.
    let engine = engine(Collector::Copying, 4 << 20);
    let module = Module::new(&engine, CHURN).unwrap();
    let mut store = Store::new(&engine, ());
    let instance = Linker::new(&engine).instantiate(&mut store, &module).unwrap();
    let churn = instance.get_typed_func::<(i32, i32), i32>(&mut store, "churn").unwrap();
    assert_eq!(churn.call(&mut store, (2_000, 1_000)).unwrap(), 500_500 + 5_050);
    let stats = store.gc_stats().unwrap();
    assert!(stats.collections > 0, "{stats:?}");
}

#[test]
fn the_null_collector_runs_out_of_the_same_heap_and_traps() {
    let engine = engine(Collector::Null, 4 << 20);
    let module = Module::new(&engine, CHURN).unwrap();
    let mut store = Store::new(&engine, ());
    let instance = Linker::new(&engine).instantiate(&mut store, &module).unwrap();
    let churn = instance.get_typed_func::<(i32, i32), i32>(&mut store, "churn").unwrap();
    let err = churn.call(&mut store, (2_000, 1_000)).unwrap_err();
    assert_eq!(err.downcast_ref::<Trap>(), Some(&Trap::GcHeapOutOfMemory), "{err:?}");
}

#[test]
fn globals_tables_host_handles_and_frames_survive_a_moving_collection() {
    let engine = engine(Collector::Copying, 64 << 20);
    let module = Module::new(
        &engine,
        r#"(module
            (type $box (struct (field i32)))
            (import "host" "collect" (func $collect))
            (global $g (mut (ref null $box)) (ref.null $box))
            (table $t 2 (ref null $box))
            (func (export "make") (param i32) (result (ref $box)) (struct.new $box (local.get 0)))
            (func (export "get") (param (ref null $box)) (result i32) (struct.get $box 0 (local.get 0)))
            (func (export "run") (result i32)
                (local $l (ref null $box))
                ;; Garbage first, so the live objects move when collected.
                (drop (struct.new $box (i32.const -1)))
                (local.set $l (struct.new $box (i32.const 1)))
                (global.set $g (struct.new $box (i32.const 10)))
                (table.set $t (i32.const 1) (struct.new $box (i32.const 100)))
                (call $collect)
                (i32.add (i32.add
                    (struct.get $box 0 (local.get $l))
                    (struct.get $box 0 (global.get $g)))
                    (struct.get $box 0 (table.get $t (i32.const 1))))))"#,
    )
    .unwrap();
    let mut store = Store::new(&engine, ());
    let mut linker = Linker::new(&engine);
    linker.func_wrap("host", "collect", |mut caller: Caller<'_, ()>| caller.gc(None)).unwrap();
    let instance = linker.instantiate(&mut store, &module).unwrap();
    let make = instance.get_func(&mut store, "make").unwrap();
    let mut held = [Val::I32(0)];
    make.call(&mut store, &[Val::I32(1000)], &mut held).unwrap();
    let run = instance.get_typed_func::<(), i32>(&mut store, "run").unwrap();
    assert_eq!(run.call(&mut store, ()).unwrap(), 111);
    store.gc(None).unwrap();
    // The host's handle still reaches its object after two collections.
    let get = instance.get_func(&mut store, "get").unwrap();
    let mut out = [Val::I32(0)];
    get.call(&mut store, &held, &mut out).unwrap();
    assert_eq!(out[0].unwrap_i32(), 1000);
}

#[test]
fn host_data_of_unreachable_externrefs_is_dropped_by_a_collection() {
    struct Counted(Arc<AtomicUsize>);
    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let engine = engine(Collector::Copying, 64 << 20);
    let module = Module::new(
        &engine,
        r#"(module
            (import "host" "make" (func $make (result externref)))
            (global $a (mut externref) (ref.null extern))
            (global $b (mut externref) (ref.null extern))
            (func (export "fill") (global.set $a (call $make)) (global.set $b (call $make)))
            (func (export "forget_a") (global.set $a (ref.null extern))))"#,
    )
    .unwrap();
    let drops = Arc::new(AtomicUsize::new(0));
    let mut store = Store::new(&engine, ());
    let mut linker = Linker::new(&engine);
    let counter = drops.clone();
    linker
        .func_wrap("host", "make", move |mut caller: Caller<'_, ()>| -> anyhow::Result<Option<kiln::Rooted<ExternRef>>> { Ok(Some(ExternRef::new(&mut caller, Counted(counter.clone()))?)) })
        .unwrap();
    let instance = linker.instantiate(&mut store, &module).unwrap();
    instance.get_typed_func::<(), ()>(&mut store, "fill").unwrap().call(&mut store, ()).unwrap();
    store.gc(None).unwrap();
    assert_eq!(drops.load(Ordering::SeqCst), 0, "both are held by globals");
    instance.get_typed_func::<(), ()>(&mut store, "forget_a").unwrap().call(&mut store, ()).unwrap();
    store.gc(None).unwrap();
    assert_eq!(drops.load(Ordering::SeqCst), 1, "the one no global holds is dropped");
    store.gc(None).unwrap();
    assert_eq!(drops.load(Ordering::SeqCst), 1, "and only once");
}

#[test]
fn structs_allocated_inline_are_accounted_when_wasm_returns() {
    // Struct allocation advances the store's bump cursor in compiled code;
    // the heap takes the cursor back on the way out of Wasm.
    for collector in [Collector::Null, Collector::Copying] {
        let engine = engine(collector, 64 << 20);
        let module = Module::new(
            &engine,
            r#"(module
                (type $pair (struct (field i32) (field i32)))
                (func (export "alloc") (param $n i32) (result i32)
                    (local $last (ref null $pair))
                    (block $done (loop $next
                        (br_if $done (i32.eqz (local.get $n)))
                        (local.set $last (struct.new $pair (local.get $n) (i32.const 1)))
                        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
                        (br $next)))
                    (struct.get $pair 0 (local.get $last))))"#,
        )
        .unwrap();
        let mut store = Store::new(&engine, ());
        let instance = Linker::new(&engine).instantiate(&mut store, &module).unwrap();
        let alloc = instance.get_typed_func::<i32, i32>(&mut store, "alloc").unwrap();
        assert_eq!(alloc.call(&mut store, 1000).unwrap(), 1);
        let stats = store.gc_stats().unwrap();
        // Each pair: an 8-byte header and two i32s.
        assert!(stats.bytes_allocated >= 1000 * 16, "{collector:?}: {stats:?}");
        // Allocation continues where compiled code left off.
        assert_eq!(alloc.call(&mut store, 10).unwrap(), 1);
        assert!(store.gc_stats().unwrap().bytes_allocated >= 1010 * 16);
    }
}

#[test]
fn thrown_exceptions_are_collected_so_a_throw_loop_runs_in_a_small_heap() {
    // Each throw allocates an exception object carrying a struct; a
    // million of them would need tens of MB, the heap is capped at 1 MiB.
    let engine = engine(Collector::Copying, 1 << 20);
    let module = Module::new(
        &engine,
        r#"(module
            (type $box (struct (field i32)))
            (tag $e (param (ref $box) i32))
            (func $throw (param i32) (throw $e (struct.new $box (local.get 0)) (local.get 0)))
            (func (export "run") (param $n i32) (result i32)
                (local $sum i32) (local $k i32) (local $b (ref null $box))
                (block $done (loop $next
                    (br_if $done (i32.eqz (local.get $n)))
                    (block $h (result (ref $box) i32)
                        (try_table (catch $e $h) (call $throw (local.get $n)))
                        (unreachable))
                    (local.set $k)
                    (local.set $b)
                    ;; The payload's struct and number agree.
                    (local.set $sum (i32.add (local.get $sum)
                        (i32.sub (struct.get $box 0 (local.get $b)) (local.get $k))))
                    (local.set $n (i32.sub (local.get $n) (i32.const 1)))
                    (br $next)))
                (local.get $sum)))"#,
    );
    // The sum of (box - n) over the loop is 0 when payloads are intact.
    let module = module.unwrap();
    let mut store = Store::new(&engine, ());
    let instance = Linker::new(&engine).instantiate(&mut store, &module).unwrap();
    let run = instance.get_typed_func::<i32, i32>(&mut store, "run").unwrap();
    assert_eq!(run.call(&mut store, 200_000).unwrap(), 0);
    assert!(store.gc_stats().unwrap().collections > 0);
}

#[test]
fn huge_arrays_in_constant_expressions_trap_without_host_allocation() {
    let engine = engine(Collector::Copying, 1 << 20);
    let mut store = Store::new(&engine, ());
    for (wat, trap) in [
        // Larger than any object can be.
        ("(module (type $a (array i8)) (global (ref $a) (array.new_default $a (i32.const -1))))", Trap::AllocationTooLarge),
        ("(module (type $a (array i64)) (global (ref $a) (array.new $a (i64.const 7) (i32.const 0x7fffffff))))", Trap::AllocationTooLarge),
        // A valid size, but beyond this heap's 1 MiB limit.
        ("(module (type $a (array i8)) (global (ref $a) (array.new $a (i32.const 1) (i32.const 100000000))))", Trap::GcHeapOutOfMemory),
    ] {
        let module = Module::new(&engine, wat).unwrap();
        let err = Linker::new(&engine).instantiate(&mut store, &module).unwrap_err();
        assert_eq!(err.downcast_ref::<Trap>(), Some(&trap), "{wat}: {err:?}");
    }
    // A large array that fits is filled with its initial value.
    let module = Module::new(
        &engine,
        r#"(module (type $a (array i16))
            (global $g (ref $a) (array.new $a (i32.const 7) (i32.const 10000)))
            (func (export "at") (param i32) (result i32) (array.get_u $a (global.get $g) (local.get 0))))"#,
    )
    .unwrap();
    let instance = Linker::new(&engine).instantiate(&mut store, &module).unwrap();
    let at = instance.get_typed_func::<i32, i32>(&mut store, "at").unwrap();
    assert_eq!(at.call(&mut store, 0).unwrap(), 7);
    assert_eq!(at.call(&mut store, 9999).unwrap(), 7);
}

#[test]
fn a_handle_kept_past_its_host_call_is_refused_not_used_as_null() {
    let engine = engine(Collector::Copying, 64 << 20);
    let module = Module::new(
        &engine,
        r#"(module (import "host" "keep" (func $keep (param externref)))
            (global $g (export "g") (mut externref) (ref.null extern))
            (func (export "run") (param externref) (call $keep (local.get 0))))"#,
    )
    .unwrap();
    let kept: Arc<std::sync::Mutex<Option<kiln::Rooted<ExternRef>>>> = Arc::default();
    let mut linker = Linker::new(&engine);
    let slot = kept.clone();
    linker.func_wrap("host", "keep", move |r: Option<kiln::Rooted<ExternRef>>| *slot.lock().unwrap() = r).unwrap();
    let mut store = Store::new(&engine, ());
    let instance = linker.instantiate(&mut store, &module).unwrap();
    let outer = ExternRef::new(&mut store, 5u32).unwrap();
    instance.get_func(&mut store, "run").unwrap().call(&mut store, &[Val::ExternRef(Some(outer))], &mut []).unwrap();
    let stale = kept.lock().unwrap().unwrap();
    let g = instance.get_global(&mut store, "g").unwrap();
    let err = g.set(&mut store, Val::ExternRef(Some(stale))).unwrap_err();
    assert!(err.to_string().contains("root was released"), "{err}");
    // The handle made outside host calls is still good.
    g.set(&mut store, Val::ExternRef(Some(outer))).unwrap();
}

#[test]
fn arrays_allocated_inline_are_zero_in_reused_memory() {
    // Fills arrays with ones and drops them, so collections hand their
    // memory back to the bump region; arrays made later (small ones
    // inline, large ones by the builtin) must still read as zeros.
    let engine = engine(Collector::Copying, 1 << 20);
    let module = Module::new(
        &engine,
        r#"(module
            (type $bytes (array (mut i8)))
            (type $refs (array (mut anyref)))
            (func (export "run") (param $rounds i32) (result i32)
                (local $sum i32) (local $b (ref null $bytes)) (local $r (ref null $refs)) (local $i i32)
                (block $done (loop $next
                    (br_if $done (i32.eqz (local.get $rounds)))
                    (drop (array.new $bytes (i32.const -1) (i32.add (i32.const 1) (i32.rem_u (local.get $rounds) (i32.const 900)))))
                    (drop (array.new $refs (ref.i31 (i32.const 7)) (i32.const 30)))
                    (local.set $b (array.new_default $bytes (i32.rem_u (local.get $rounds) (i32.const 2000))))
                    (local.set $r (array.new_default $refs (i32.const 30)))
                    (local.set $i (i32.const 0))
                    (block $checked (loop $each
                        (br_if $checked (i32.ge_u (local.get $i) (array.len (local.get $b))))
                        (local.set $sum (i32.add (local.get $sum) (array.get_u $bytes (local.get $b) (local.get $i))))
                        (local.set $i (i32.add (local.get $i) (i32.const 1)))
                        (br $each)))
                    (local.set $sum (i32.add (local.get $sum) (i32.eqz (ref.is_null (array.get $refs (local.get $r) (i32.const 29))))))
                    (local.set $rounds (i32.sub (local.get $rounds) (i32.const 1)))
                    (br $next)))
                (local.get $sum)))"#,
    )
    .unwrap();
    let mut store = Store::new(&engine, ());
    let instance = Linker::new(&engine).instantiate(&mut store, &module).unwrap();
    let run = instance.get_typed_func::<i32, i32>(&mut store, "run").unwrap();
    assert_eq!(run.call(&mut store, 3_000).unwrap(), 0, "every element of a new default array is zero");
    assert!(store.gc_stats().unwrap().collections > 0);
}

#[test]
fn array_copy_of_overlapping_ranges_larger_than_one_chunk_is_a_memmove() {
    // The builtin copies in chunks of 16 Ki elements; overlapping ranges
    // must still read every element before it is overwritten, both ways.
    let engine = Engine::default();
    let module = Module::new(
        &engine,
        r#"(module
            (type $ints (array (mut i32)))
            (func $make (result (ref $ints))
                (local $a (ref $ints)) (local $i i32)
                (local.set $a (array.new_default $ints (i32.const 100000)))
                (loop $fill
                    (array.set $ints (local.get $a) (local.get $i) (local.get $i))
                    (local.set $i (i32.add (local.get $i) (i32.const 1)))
                    (br_if $fill (i32.lt_u (local.get $i) (i32.const 100000))))
                (local.get $a))
            (func $check (param $a (ref $ints)) (param $shift i32) (param $from i32) (param $to i32) (result i32)
                (local $i i32) (local $bad i32)
                (local.set $i (local.get $from))
                (loop $each
                    (local.set $bad (i32.add (local.get $bad)
                        (i32.ne (array.get $ints (local.get $a) (local.get $i)) (i32.sub (local.get $i) (local.get $shift)))))
                    (local.set $i (i32.add (local.get $i) (i32.const 1)))
                    (br_if $each (i32.lt_u (local.get $i) (local.get $to))))
                (local.get $bad))
            (func (export "up") (result i32)
                (local $a (ref $ints))
                (local.set $a (call $make))
                (array.copy $ints $ints (local.get $a) (i32.const 10) (local.get $a) (i32.const 0) (i32.const 99990))
                (call $check (local.get $a) (i32.const 10) (i32.const 10) (i32.const 100000)))
            (func (export "down") (result i32)
                (local $a (ref $ints))
                (local.set $a (call $make))
                (array.copy $ints $ints (local.get $a) (i32.const 0) (local.get $a) (i32.const 10) (i32.const 99990))
                (call $check (local.get $a) (i32.const -10) (i32.const 0) (i32.const 99990))))"#,
    )
    .unwrap();
    let mut store = Store::new(&engine, ());
    let instance = Linker::new(&engine).instantiate(&mut store, &module).unwrap();
    for name in ["up", "down"] {
        let f = instance.get_typed_func::<(), i32>(&mut store, name).unwrap();
        assert_eq!(f.call(&mut store, ()).unwrap(), 0, "{name}: every element moved by exactly the shift");
    }
}
