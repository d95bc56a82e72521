//! Memories shared between threads (`SharedMemory`), with
//! `memory.atomic.wait32/64` and `notify` blocking and waking real
//! threads, each with its own store.

use kiln::*;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

const INCREMENTS: i32 = 100_000;

/// Counts into the cell at 0 with `i32.atomic.rmw.add`, then counts itself
/// done at 4 and wakes whoever waits there; `wait_for` blocks until `n`
/// workers are done and returns the count (-1 if a wait times out after
/// 10 s: a test that fails rather than hangs).
const COUNTER: &str = r#"(module
    (import "env" "memory" (memory 1 1 shared))
    (func (export "work") (param $n i32)
      (loop $more
        (drop (i32.atomic.rmw.add (i32.const 0) (i32.const 1)))
        (br_if $more (local.tee $n (i32.sub (local.get $n) (i32.const 1)))))
      (drop (i32.atomic.rmw.add (i32.const 4) (i32.const 1)))
      (drop (memory.atomic.notify (i32.const 4) (i32.const -1))))
    (func (export "wait_for") (param $workers i32) (result i32)
      (local $done i32)
      (block $all
        (loop $wait
          (local.set $done (i32.atomic.load (i32.const 4)))
          (br_if $all (i32.ge_u (local.get $done) (local.get $workers)))
          (if (i32.eq (memory.atomic.wait32 (i32.const 4) (local.get $done) (i64.const 10_000_000_000)) (i32.const 2))
            (then (return (i32.const -1))))
          (br $wait)))
      (i32.atomic.load (i32.const 0))))"#;

fn threads_engine(checks: BoundsChecks) -> Engine {
    Engine::new(Config::new().wasm_threads(true).bounds_checks(checks)).unwrap()
}

/// An instance of `wat` in a new store whose `env::memory` is `memory`.
fn instantiate(engine: &Engine, wat: &str, memory: &SharedMemory) -> (Store<()>, Instance) {
    let module = Module::new(engine, wat).unwrap();
    let mut store = Store::new(engine, ());
    let mut linker = Linker::new(engine);
    linker.define(&store, "env", "memory", memory.clone()).unwrap();
    let instance = linker.instantiate(&mut store, &module).unwrap();
    (store, instance)
}

fn four_threads_count_exactly(checks: BoundsChecks) {
    let engine = threads_engine(checks);
    let memory = SharedMemory::new(&engine, MemoryType::shared(1, 1)).unwrap();
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let (engine, memory) = (engine.clone(), memory.clone());
            std::thread::spawn(move || {
                let (mut store, instance) = instantiate(&engine, COUNTER, &memory);
                let work = instance.get_typed_func::<i32, ()>(&mut store, "work").unwrap();
                work.call(&mut store, INCREMENTS).unwrap();
            })
        })
        .collect();
    let (mut store, instance) = instantiate(&engine, COUNTER, &memory);
    let wait_for = instance.get_typed_func::<i32, i32>(&mut store, "wait_for").unwrap();
    assert_eq!(wait_for.call(&mut store, 4).unwrap(), 4 * INCREMENTS);
    workers.into_iter().for_each(|w| w.join().unwrap());
    // SAFETY: every thread that wrote the cell has been joined.
    let count = unsafe { *memory.data()[0..4].as_ptr().cast::<[u8; 4]>() };
    assert_eq!(i32::from_le_bytes(count), 4 * INCREMENTS);
}

#[test]
fn four_threads_count_exactly_with_guard_pages() {
    four_threads_count_exactly(BoundsChecks::GuardPages);
}

#[test]
fn four_threads_count_exactly_with_explicit_checks() {
    four_threads_count_exactly(BoundsChecks::Explicit);
}

#[test]
fn a_defined_shared_memory_is_exported_shared_and_grows_for_every_thread() {
    let engine = threads_engine(BoundsChecks::GuardPages);
    let module = Module::new(
        &engine,
        r#"(module (memory (export "m") 1 3 shared)
             (func (export "grow") (result i32) (memory.grow (i32.const 1))))"#,
    )
    .unwrap();
    let mut store = Store::new(&engine, ());
    let instance = Instance::new(&mut store, &module, &[]).unwrap();
    assert!(instance.get_memory(&mut store, "m").is_none(), "a shared memory is no `Memory`");
    let memory = instance.get_export(&mut store, "m").unwrap().into_shared_memory().unwrap();
    assert!(memory.ty().is_shared());
    assert_eq!(memory.size(), 1);

    let size = "(module (import \"env\" \"memory\" (memory 1 3 shared)) (func (export \"size\") (result i32) (memory.size)))";
    let seen = std::thread::spawn({
        let (engine, memory) = (engine.clone(), memory.clone());
        move || {
            let (mut store, instance) = instantiate(&engine, size, &memory);
            let size = instance.get_typed_func::<(), i32>(&mut store, "size").unwrap();
            let before = size.call(&mut store, ()).unwrap();
            memory.grow(1).unwrap();
            (before, size.call(&mut store, ()).unwrap())
        }
    })
    .join()
    .unwrap();
    assert_eq!(seen, (1, 2));
    let grow = instance.get_typed_func::<(), i32>(&mut store, "grow").unwrap();
    assert_eq!(grow.call(&mut store, ()).unwrap(), 2);
    assert_eq!(grow.call(&mut store, ()).unwrap(), -1, "the maximum is 3 pages");
    assert_eq!(memory.data_size(), 3 * 65536);
}

#[test]
fn imports_check_sharedness_and_engine() {
    let engine = threads_engine(BoundsChecks::GuardPages);
    let shared_import = Module::new(&engine, r#"(module (import "env" "memory" (memory 1 1 shared)))"#).unwrap();
    let plain_import = Module::new(&engine, r#"(module (import "env" "memory" (memory 1 1)))"#).unwrap();
    let mut store = Store::new(&engine, ());

    let plain = Memory::new(&mut store, MemoryType::new(1, Some(1))).unwrap();
    let err = Instance::new(&mut store, &shared_import, &[plain.into()]).unwrap_err();
    assert!(format!("{err:#}").contains("shared and unshared memories differ"), "{err:#}");

    let shared = SharedMemory::new(&engine, MemoryType::shared(1, 1)).unwrap();
    let err = Instance::new(&mut store, &plain_import, &[shared.clone().into()]).unwrap_err();
    assert!(format!("{err:#}").contains("shared and unshared memories differ"), "{err:#}");

    let other = SharedMemory::new(&threads_engine(BoundsChecks::Explicit), MemoryType::shared(1, 1)).unwrap();
    let err = Instance::new(&mut store, &shared_import, &[other.into()]).unwrap_err();
    assert!(format!("{err:#}").contains("another engine"), "{err:#}");

    Instance::new(&mut store, &shared_import, &[shared.into()]).unwrap();

    let err = Memory::new(&mut store, MemoryType::shared(1, 1)).unwrap_err();
    assert!(err.to_string().contains("SharedMemory::new"), "{err}");
    let err = SharedMemory::new(&Engine::default(), MemoryType::shared(1, 1)).unwrap_err();
    assert!(err.to_string().contains("-W threads"), "{err}");
}

#[test]
fn the_host_waits_and_notifies_with_wasm() {
    let engine = threads_engine(BoundsChecks::GuardPages);
    let memory = SharedMemory::new(&engine, MemoryType::shared(1, 1)).unwrap();
    assert_eq!(memory.atomic_wait32(0, 1, None), Ok(WaitResult::Mismatch));
    assert_eq!(memory.atomic_wait64(8, 0, Some(Duration::from_millis(1))), Ok(WaitResult::TimedOut));
    assert_eq!(memory.atomic_wait32(2, 0, None), Err(Trap::HeapMisaligned));
    assert_eq!(memory.atomic_wait32(65536, 0, None), Err(Trap::MemoryOutOfBounds));
    assert_eq!(memory.atomic_notify(65533, 1), Err(Trap::MemoryOutOfBounds));
    assert_eq!(memory.atomic_notify(0, 1), Ok(0));

    let wat = r#"(module (import "env" "memory" (memory 1 1 shared))
        (func (export "notify") (result i32) (memory.atomic.notify (i32.const 0) (i32.const 1)))
        (func (export "wait") (result i32) (memory.atomic.wait32 (i32.const 0) (i32.const 0) (i64.const 10_000_000_000))))"#;
    // The host waits; Wasm wakes it.
    let host = std::thread::spawn({
        let memory = memory.clone();
        move || memory.atomic_wait32(0, 0, Some(Duration::from_secs(60)))
    });
    let (mut store, instance) = instantiate(&engine, wat, &memory);
    let notify = instance.get_typed_func::<(), i32>(&mut store, "notify").unwrap();
    until_one_is_woken(|| notify.call(&mut store, ()).unwrap() as u32);
    assert_eq!(host.join().unwrap(), Ok(WaitResult::Ok));

    // Wasm waits; the host wakes it.
    let woken = std::sync::Arc::new(AtomicU32::new(u32::MAX));
    let guest = std::thread::spawn({
        let (engine, memory, woken) = (engine.clone(), memory.clone(), woken.clone());
        move || {
            let (mut store, instance) = instantiate(&engine, wat, &memory);
            let wait = instance.get_typed_func::<(), i32>(&mut store, "wait").unwrap();
            woken.store(wait.call(&mut store, ()).unwrap() as u32, Ordering::SeqCst);
        }
    });
    until_one_is_woken(|| memory.atomic_notify(0, 1).unwrap());
    guest.join().unwrap();
    assert_eq!(woken.load(Ordering::SeqCst), 0, "`ok`: woken by a notify");
}

/// Calls `notify` until it wakes someone (the waiter may not be waiting
/// yet); fails after 10 s rather than hang.
fn until_one_is_woken(mut notify: impl FnMut() -> u32) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while notify() == 0 {
        assert!(std::time::Instant::now() < deadline, "no waiter to wake after 10 s");
        std::thread::yield_now();
    }
}

#[test]
fn an_epoch_deadline_interrupts_a_wait_nobody_notifies() {
    let engine = Engine::new(Config::new().wasm_threads(true).epoch_interruption(true)).unwrap();
    let module = Module::new(
        &engine,
        r#"(module (memory 1 1 shared)
             (func (export "wait") (result i32) (memory.atomic.wait32 (i32.const 0) (i32.const 0) (i64.const -1))))"#,
    )
    .unwrap();
    let mut store = Store::new(&engine, ());
    store.set_epoch_deadline(1);
    let instance = Instance::new(&mut store, &module, &[]).unwrap();
    let wait = instance.get_typed_func::<(), i32>(&mut store, "wait").unwrap();
    let ticker = std::thread::spawn({
        let engine = engine.clone();
        move || {
            std::thread::sleep(Duration::from_millis(50));
            engine.increment_epoch();
        }
    });
    let err = wait.call(&mut store, ()).unwrap_err();
    assert_eq!(err.downcast_ref::<Trap>(), Some(&Trap::Interrupt), "{err:#}");
    ticker.join().unwrap();
}

#[test]
fn a_shared_memory_too_large_to_reserve_is_an_error() {
    let engine = Engine::new(Config::new().wasm_threads(true).max_memory_size(u64::MAX)).unwrap();
    let module = Module::new(&engine, "(module (memory i64 1 0x1_0000_0000_0000 shared))").unwrap();
    let mut store = Store::new(&engine, ());
    let err = Instance::new(&mut store, &module, &[]).unwrap_err();
    assert!(format!("{err:#}").contains("failed to reserve"), "{err:#}");
}

#[test]
fn a_thread_polling_memory_size_sees_another_threads_growth() {
    let engine = threads_engine(BoundsChecks::GuardPages);
    let memory = SharedMemory::new(&engine, MemoryType::shared(1, 2)).unwrap();
    // Reads the size once, then polls it (a few billion times at most);
    // nothing in the loop stores, so only an atomic read sees the growth.
    let poller = std::thread::spawn({
        let (engine, memory) = (engine.clone(), memory.clone());
        move || {
            let wat = r#"(module (import "env" "memory" (memory 1 2 shared))
                (func (export "poll") (result i32) (local $i i32)
                  (drop (memory.size))
                  (loop $again
                    (local.set $i (i32.add (local.get $i) (i32.const 1)))
                    (br_if $again (i32.and (i32.lt_u (memory.size) (i32.const 2))
                                           (i32.lt_u (local.get $i) (i32.const 2_000_000_000)))))
                  (memory.size)))"#;
            let (mut store, instance) = instantiate(&engine, wat, &memory);
            instance.get_typed_func::<(), i32>(&mut store, "poll").unwrap().call(&mut store, ()).unwrap()
        }
    });
    std::thread::sleep(Duration::from_millis(20));
    memory.grow(1).unwrap();
    assert_eq!(poller.join().unwrap(), 2);
}

#[test]
fn a_shared_memory_defined_under_pooling_is_no_larger_than_a_pool_slot() {
    let mut pool = PoolingAllocationConfig::new();
    pool.max_memory_size(2 << 16);
    let mut config = Config::new();
    config.wasm_threads(true).allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    let engine = Engine::new(&config).unwrap();
    let module = Module::new(&engine, r#"(module (memory 1 100 shared) (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0))))"#).unwrap();
    let mut store = Store::new(&engine, ());
    let instance = Instance::new(&mut store, &module, &[]).unwrap();
    let grow = instance.get_typed_func::<i32, i32>(&mut store, "grow").unwrap();
    assert_eq!(grow.call(&mut store, 1).unwrap(), 1);
    assert_eq!(grow.call(&mut store, 1).unwrap(), -1, "past the pool's memory size");
}
