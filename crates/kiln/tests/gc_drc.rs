//! The DRC collector running compiled code: objects are freed as soon as
//! their last counted reference goes, garbage of any shape (cycles
//! included) fits in a bounded heap, and host data is dropped exactly once.

use kiln::*;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

fn drc_engine(max_heap: u64) -> Engine {
    let mut config = Config::new();
    config.collector(Collector::Drc).max_gc_heap_size(max_heap);
    Engine::new(&config).unwrap()
}

fn instantiate(engine: &Engine, wat: &str) -> (Store<()>, Instance) {
    let module = Module::new(engine, wat).unwrap();
    let mut store = Store::new(engine, ());
    let instance = Linker::new(engine).instantiate(&mut store, &module).unwrap();
    (store, instance)
}

#[test]
fn a_million_short_lists_run_in_a_16_mib_heap() {
    let (mut store, instance) = instantiate(
        &drc_engine(16 << 20),
        r#"(module
            (type $node (struct (field i32) (field (ref null $node))))
            (func (export "run") (param $n i32) (result i32)
                (local $l (ref null $node)) (local $sum i32)
                (block $done (loop $next
                    (br_if $done (i32.eqz (local.get $n)))
                    (local.set $l (struct.new $node (i32.const 1)
                        (struct.new $node (i32.const 2) (struct.new $node (i32.const 3) (ref.null $node)))))
                    (local.set $sum (i32.add (local.get $sum)
                        (struct.get $node 0 (struct.get $node 1 (ref.as_non_null (local.get $l))))))
                    (local.set $n (i32.sub (local.get $n) (i32.const 1)))
                    (br $next)))
                (local.get $sum)))"#,
    );
    let run = instance.get_typed_func::<i32, i32>(&mut store, "run").unwrap();
    assert_eq!(run.call(&mut store, 1_000_000).unwrap(), 2_000_000);
    let stats = store.gc_stats().unwrap();
    assert!(stats.collections > 0, "{stats:?}");
    assert!(stats.heap_size <= 16 << 20, "{stats:?}");
}

#[test]
fn a_million_two_object_cycles_run_in_a_16_mib_heap() {
    let (mut store, instance) = instantiate(
        &drc_engine(16 << 20),
        r#"(module
            (type $node (struct (field i32) (field (mut (ref null $node)))))
            (func (export "run") (param $n i32) (result i32)
                (local $a (ref null $node)) (local $b (ref null $node)) (local $sum i32)
                (block $done (loop $next
                    (br_if $done (i32.eqz (local.get $n)))
                    (local.set $a (struct.new $node (i32.const 1) (ref.null $node)))
                    (local.set $b (struct.new $node (i32.const 2) (local.get $a)))
                    (struct.set $node 1 (local.get $a) (local.get $b))
                    (local.set $sum (i32.add (local.get $sum)
                        (struct.get $node 0 (struct.get $node 1 (ref.as_non_null (local.get $a))))))
                    (local.set $n (i32.sub (local.get $n) (i32.const 1)))
                    (br $next)))
                (local.get $sum)))"#,
    );
    let run = instance.get_typed_func::<i32, i32>(&mut store, "run").unwrap();
    assert_eq!(run.call(&mut store, 1_000_000).unwrap(), 2_000_000);
    let stats = store.gc_stats().unwrap();
    assert!(stats.heap_size <= 16 << 20, "{stats:?}");
    store.gc(None).unwrap();
    assert!(store.gc_stats().unwrap().bytes_in_use < 1 << 10, "the cycles were freed: {:?}", store.gc_stats());
}

#[test]
fn an_acyclic_object_is_freed_when_its_last_reference_is_overwritten() {
    let (mut store, instance) = instantiate(
        &drc_engine(16 << 20),
        r#"(module
            (type $big (array i8))
            (global $g (mut (ref null $big)) (ref.null $big))
            (func (export "make") (global.set $g (array.new_default $big (i32.const 100000))))
            (func (export "clear") (global.set $g (ref.null $big))))"#,
    );
    let make = instance.get_typed_func::<(), ()>(&mut store, "make").unwrap();
    let clear = instance.get_typed_func::<(), ()>(&mut store, "clear").unwrap();
    make.call(&mut store, ()).unwrap();
    // The collection takes the array off the stack root log: the global
    // holds its only count.
    store.gc(None).unwrap();
    let before = store.gc_stats().unwrap();
    assert!(before.bytes_in_use >= 100_000, "{before:?}");
    clear.call(&mut store, ()).unwrap();
    let after = store.gc_stats().unwrap();
    assert_eq!(after.collections, before.collections, "no collection ran");
    assert!(after.bytes_in_use < 1_000, "freed by the global.set's barrier: {after:?}");
}

/// The read barrier logs every object it hands to the Wasm stack, in a
/// log of 16 Ki entries that the runtime takes on its next visit. A loop
/// that reads more objects than that while allocating only inline must
/// not leak the counts of those the full log refused: the barrier sets
/// their bit and count anyway and flags the overflow, and the next
/// collection finds them by their bits. So the list below is freed by
/// counting alone, in a collection that does not trace (when a full log
/// leaked, the whole list stayed until a trace).
#[test]
fn reading_more_objects_than_the_barrier_log_holds_leaks_nothing() {
    let (mut store, instance) = instantiate(
        &drc_engine(64 << 20),
        r#"(module
            (type $node (struct (field i32) (field (ref null $node))))
            (type $junk (struct (field i32)))
            (global $list (mut (ref null $node)) (ref.null $node))
            (func (export "build") (param $n i32)
                (block $done (loop $next
                    (br_if $done (i32.eqz (local.get $n)))
                    (global.set $list (struct.new $node (local.get $n) (global.get $list)))
                    (local.set $n (i32.sub (local.get $n) (i32.const 1)))
                    (br $next))))
            ;; Reads every node (each one logged) and allocates inline as
            ;; it goes, then drops the list.
            (func (export "walk_and_drop") (result i32)
                (local $l (ref null $node)) (local $sum i32)
                (local.set $l (global.get $list))
                (block $done (loop $next
                    (br_if $done (ref.is_null (local.get $l)))
                    (local.set $sum (i32.add (local.get $sum)
                        (struct.get $junk 0 (struct.new $junk (struct.get $node 0 (local.get $l))))))
                    (local.set $l (struct.get $node 1 (local.get $l)))
                    (br $next)))
                (global.set $list (ref.null $node))
                (local.get $sum))
            ;; Short-lived garbage until the heap runs out and collects.
            (func (export "churn") (param $n i32)
                (block $done (loop $next
                    (br_if $done (i32.eqz (local.get $n)))
                    (drop (struct.new $junk (local.get $n)))
                    (local.set $n (i32.sub (local.get $n) (i32.const 1)))
                    (br $next)))))"#,
    );
    let nodes = 40_000;
    instance.get_typed_func::<i32, ()>(&mut store, "build").unwrap().call(&mut store, nodes).unwrap();
    // Reconciles the log: from now on the list's only counts are its own.
    store.gc(None).unwrap();
    let walk = instance.get_typed_func::<(), i32>(&mut store, "walk_and_drop").unwrap();
    assert_eq!(walk.call(&mut store, ()).unwrap(), nodes * (nodes + 1) / 2);
    let churn = instance.get_typed_func::<i32, ()>(&mut store, "churn").unwrap();
    let before = store.gc_stats().unwrap();
    while store.gc_stats().unwrap().collections < before.collections + 2 {
        churn.call(&mut store, 100_000).unwrap();
    }
    // A node is 24 bytes with its count: 40,000 of them are 960 KB.
    let after = store.gc_stats().unwrap();
    assert!(after.bytes_in_use < 200_000, "the list was freed by counting: {after:?}");
}

struct Counted(Arc<AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn host_data_is_dropped_exactly_once() {
    let engine = drc_engine(1 << 20);
    let drops = Arc::new(AtomicUsize::new(0));
    let module = Module::new(
        &engine,
        r#"(module
            (type $pair (struct (field (mut externref)) (field (mut (ref null $pair)))))
            (import "host" "make" (func $make (result externref)))
            (table $t 2 externref)
            (func (export "run")
                (local $a (ref null $pair)) (local $b (ref null $pair))
                ;; One externref in a table slot, overwritten, then copied
                ;; around and released.
                (table.set $t (i32.const 0) (call $make))
                (table.copy $t $t (i32.const 1) (i32.const 0) (i32.const 1))
                (table.set $t (i32.const 0) (ref.null extern))
                (table.fill $t (i32.const 0) (ref.null extern) (i32.const 2))
                ;; Another in a cycle of two structs, left as garbage.
                (local.set $a (struct.new $pair (call $make) (ref.null $pair)))
                (local.set $b (struct.new $pair (ref.null extern) (local.get $a)))
                (struct.set $pair 1 (local.get $a) (local.get $b))))"#,
    )
    .unwrap();
    let mut linker = Linker::new(&engine);
    let counter = drops.clone();
    linker
        .func_wrap("host", "make", move |mut caller: Caller<'_, ()>| -> anyhow::Result<Option<kiln::Rooted<ExternRef>>> {
            Ok(Some(ExternRef::new(&mut caller, Counted(counter.clone()))?))
        })
        .unwrap();
    let mut store = Store::new(&engine, ());
    let instance = linker.instantiate(&mut store, &module).unwrap();
    instance.get_typed_func::<(), ()>(&mut store, "run").unwrap().call(&mut store, ()).unwrap();
    for _ in 0..3 {
        store.gc(None).unwrap();
    }
    // The table's one is gone once the log lets go; the cycle's once a
    // trace runs (the heap is nearly empty, so none has yet).
    assert!(drops.load(Ordering::SeqCst) >= 1);
    assert!(drops.load(Ordering::SeqCst) <= 2);
    drop(store);
    assert_eq!(drops.load(Ordering::SeqCst), 2, "each host value dropped once, by a collection or with the store");
}

#[test]
fn the_default_collector_is_the_engines_default() {
    assert_eq!(Collector::default(), Collector::Copying);
}

/// A function that makes no call skips DRC's read barrier: nothing can
/// free an object while it runs. So it can drop the last count of an
/// object it holds and store the object again (a splay rotation does):
/// the object is revived, and must stay. And what it returns is logged on
/// return, since its caller may hold it across calls.
const CALL_FREE_MOVES: &str = r#"(module
    (type $n (struct (field i32) (field (mut (ref null $n)))))
    (type $junk (struct (field i32) (field i32)))
    (global $a (mut (ref null $n)) (ref.null $n))
    (global $b (mut (ref null $n)) (ref.null $n))
    (func (export "make") (global.set $a (struct.new $n (i32.const 42) (ref.null $n))))
    ;; Call-free: $a's object loses its only count, then $b counts it.
    (func (export "move") (local $x (ref null $n))
        (local.set $x (global.get $a))
        (global.set $a (ref.null $n))
        (global.set $b (local.get $x)))
    (func (export "read_b") (result i32) (struct.get $n 0 (global.get $b)))
    (func (export "clear_b") (global.set $b (ref.null $n)))
    ;; Call-free: returns $a's object after dropping its only count.
    (func $detach (result (ref null $n)) (local $x (ref null $n))
        (local.set $x (global.get $a))
        (global.set $a (ref.null $n))
        (local.get $x))
    ;; Holds what $detach returned while allocating lots.
    (func (export "detach_and_churn") (param $n i32) (result i32) (local $x (ref null $n))
        (local.set $x (call $detach))
        (block $done (loop $next
            (br_if $done (i32.eqz (local.get $n)))
            (drop (struct.new $junk (i32.const -1) (i32.const -1)))
            (local.set $n (i32.sub (local.get $n) (i32.const 1)))
            (br $next)))
        (struct.get $n 0 (local.get $x))))"#;

/// Instantiates `CALL_FREE_MOVES` under DRC, verifying the heap at every
/// collection and collecting every 64 allocations, with `make` called and
/// its object's log count reconciled away (only `$a` counts it).
fn call_free_moves() -> (Store<()>, Instance) {
    let mut config = Config::new();
    config.collector(Collector::Drc).max_gc_heap_size(16 << 20);
    config.gc_zeal_alloc_counter(std::num::NonZeroU32::new(64)).unwrap();
    let (mut store, instance) = instantiate(&Engine::new(&config).unwrap(), CALL_FREE_MOVES);
    instance.get_typed_func::<(), ()>(&mut store, "make").unwrap().call(&mut store, ()).unwrap();
    store.gc(None).unwrap();
    (store, instance)
}

#[test]
fn an_object_a_call_free_function_drops_and_stores_again_survives() {
    let (mut store, instance) = call_free_moves();
    let in_use = store.gc_stats().unwrap().bytes_in_use;
    instance.get_typed_func::<(), ()>(&mut store, "move").unwrap().call(&mut store, ()).unwrap();
    store.gc(None).unwrap();
    let read_b = instance.get_typed_func::<(), i32>(&mut store, "read_b").unwrap();
    assert_eq!(read_b.call(&mut store, ()).unwrap(), 42);
    assert_eq!(store.gc_stats().unwrap().bytes_in_use, in_use, "the object moved from $a to $b, nothing freed");
    // Counted by $b alone, it goes with $b's reference (a revived object
    // left pending would never be queued again: a leak).
    instance.get_typed_func::<(), ()>(&mut store, "clear_b").unwrap().call(&mut store, ()).unwrap();
    assert!(store.gc_stats().unwrap().bytes_in_use < in_use, "freed by the barrier, not a trace: {:?}", store.gc_stats());
}

#[test]
fn an_object_a_call_free_function_returns_survives_its_callers_calls() {
    let (mut store, instance) = call_free_moves();
    let churn = instance.get_typed_func::<i32, i32>(&mut store, "detach_and_churn").unwrap();
    assert_eq!(churn.call(&mut store, 100_000).unwrap(), 42);
    store.gc(None).unwrap();
    assert!(store.gc_stats().unwrap().bytes_in_use < 1_000, "freed once its caller dropped it: {:?}", store.gc_stats());
}

/// Tree rotations move references between fields, which compiled code
/// neither counts in nor releases (`translate/moves.rs`): the counts stay
/// exact, so the rotated tree stays whole and is freed, by counting alone,
/// as soon as its root is dropped.
#[test]
fn rotations_keep_counts_exact() {
    let (mut store, instance) = instantiate(
        &drc_engine(16 << 20),
        r#"(module
            (type $n (struct (field $key i32) (field $l (mut (ref null $n))) (field $r (mut (ref null $n)))))
            (global $root (mut (ref null $n)) (ref.null $n))
            (func $leaf (param i32) (result (ref $n)) (struct.new $n (local.get 0) (ref.null $n) (ref.null $n)))
            ;; d(b(a, c), e)
            (func (export "build")
              (global.set $root (struct.new $n (i32.const 4)
                (struct.new $n (i32.const 2) (call $leaf (i32.const 1)) (call $leaf (i32.const 3)))
                (call $leaf (i32.const 5)))))
            (func $rotate_right
              (local $t (ref null $n)) (local $y (ref null $n))
              (local.set $t (global.get $root))
              (local.set $y (struct.get $n $l (local.get $t)))
              (struct.set $n $l (local.get $t) (struct.get $n $r (local.get $y)))
              (struct.set $n $r (local.get $y) (local.get $t))
              (global.set $root (local.get $y)))
            (func $rotate_left
              (local $t (ref null $n)) (local $y (ref null $n))
              (local.set $t (global.get $root))
              (local.set $y (struct.get $n $r (local.get $t)))
              (struct.set $n $r (local.get $t) (struct.get $n $l (local.get $y)))
              (struct.set $n $l (local.get $y) (local.get $t))
              (global.set $root (local.get $y)))
            ;; n right-left pairs, then one right rotation: b(a, d(c, e)).
            (func (export "rotate") (param $n i32)
              (loop $again
                (call $rotate_right)
                (call $rotate_left)
                (br_if $again (local.tee $n (i32.sub (local.get $n) (i32.const 1)))))
              (call $rotate_right))
            ;; In-order keys as decimal digits.
            (func $digits (param $t (ref null $n)) (param $acc i32) (result i32)
              (if (result i32) (ref.is_null (local.get $t))
                (then (local.get $acc))
                (else
                  (call $digits (struct.get $n $r (local.get $t))
                    (i32.add (i32.mul (call $digits (struct.get $n $l (local.get $t)) (local.get $acc)) (i32.const 10))
                      (struct.get $n $key (local.get $t)))))))
            (func (export "keys") (result i32)
              (i32.add (i32.mul (call $digits (global.get $root) (i32.const 0)) (i32.const 10))
                (struct.get $n $key (global.get $root))))
            (func (export "clear") (global.set $root (ref.null $n))))"#,
    );
    let call = |store: &mut Store<()>, name: &str| instance.get_typed_func::<(), ()>(&mut *store, name).unwrap().call(&mut *store, ()).unwrap();
    let rotate = instance.get_typed_func::<i32, ()>(&mut store, "rotate").unwrap();
    let keys = instance.get_typed_func::<(), i32>(&mut store, "keys").unwrap();
    // The tree stays whole: keys 1 to 5 in order, b at the root.
    call(&mut store, "build");
    rotate.call(&mut store, 1000).unwrap();
    assert_eq!(keys.call(&mut store, ()).unwrap(), 123452);
    // The counts stay exact: with the collection's trace (which recounts)
    // before the rotations and none after, dropping the root frees all.
    call(&mut store, "build");
    store.gc(None).unwrap();
    let before = store.gc_stats().unwrap();
    assert!(before.bytes_in_use >= 5 * 16, "{before:?}");
    rotate.call(&mut store, 1000).unwrap();
    call(&mut store, "clear");
    let after = store.gc_stats().unwrap();
    assert_eq!(after.collections, before.collections, "no collection ran");
    assert_eq!(after.bytes_in_use, 0, "every node freed by counting: {after:?}");
}
