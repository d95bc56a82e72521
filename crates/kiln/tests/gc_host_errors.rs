//! The host never crashes because of what the GC heap does: a full heap
//! is an error, a panicking `Drop` of host data freed by a collection
//! (even one that runs under Wasm frames) resumes as an ordinary panic on
//! the host side, and the store stays usable.

use kiln::*;
use std::num::NonZeroU32;
use std::panic::{AssertUnwindSafe, catch_unwind};

struct PanicsOnDrop;

impl Drop for PanicsOnDrop {
    fn drop(&mut self) {
        panic!("host data drop panicked");
    }
}

#[test]
fn a_panicking_host_data_drop_during_a_collection_in_wasm_resumes_on_the_host() {
    let mut config = Config::new();
    config.gc_zeal_alloc_counter(NonZeroU32::new(1)).unwrap();
    let engine = Engine::new(&config).unwrap();
    let module = Module::new(
        &engine,
        r#"(module
            (type $s (struct (field i32)))
            (import "host" "make" (func $make (result externref)))
            (func (export "run") (result i32)
                (drop (call $make))
                ;; Collects (zeal 1) while Wasm frames are on the stack: the
                ;; host value dies there.
                (struct.get $s 0 (struct.new $s (i32.const 5)))))"#,
    )
    .unwrap();
    let mut linker = Linker::new(&engine);
    linker
        .func_wrap("host", "make", |mut caller: Caller<'_, ()>| -> anyhow::Result<Option<kiln::Rooted<ExternRef>>> {
            Ok(Some(ExternRef::new(&mut caller, PanicsOnDrop)?))
        })
        .unwrap();
    let mut store = Store::new(&engine, ());
    let instance = linker.instantiate(&mut store, &module).unwrap();
    let run = instance.get_typed_func::<(), i32>(&mut store, "run").unwrap();
    let panic = catch_unwind(AssertUnwindSafe(|| run.call(&mut store, ()))).expect_err("the drop's panic reaches the caller");
    assert_eq!(panic.downcast_ref::<&str>(), Some(&"host data drop panicked"));
    // The collection itself completed: the store goes on working.
    let run = instance.get_typed_func::<(), i32>(&mut store, "run").unwrap();
    let again = catch_unwind(AssertUnwindSafe(|| run.call(&mut store, ())));
    assert!(again.is_err(), "the second value's drop panics too");
    store.gc(None).unwrap();
}

#[test]
fn a_panicking_host_data_drop_in_store_gc_is_an_ordinary_panic() {
    let engine = Engine::default();
    let module = Module::new(
        &engine,
        r#"(module
            (import "host" "make" (func $make (result externref)))
            (func (export "run") (drop (call $make))))"#,
    )
    .unwrap();
    let mut linker = Linker::new(&engine);
    linker
        .func_wrap("host", "make", |mut caller: Caller<'_, ()>| -> anyhow::Result<Option<kiln::Rooted<ExternRef>>> {
            Ok(Some(ExternRef::new(&mut caller, PanicsOnDrop)?))
        })
        .unwrap();
    let mut store = Store::new(&engine, ());
    let instance = linker.instantiate(&mut store, &module).unwrap();
    instance.get_typed_func::<(), ()>(&mut store, "run").unwrap().call(&mut store, ()).unwrap();
    let panic = catch_unwind(AssertUnwindSafe(|| store.gc(None))).expect_err("the drop panics");
    assert_eq!(panic.downcast_ref::<&str>(), Some(&"host data drop panicked"));
    store.gc(None).unwrap();
}

#[test]
fn externref_new_in_a_full_heap_is_an_error_not_a_panic() {
    let mut config = Config::new();
    config.collector(Collector::Null).max_gc_heap_size(1 << 20);
    let engine = Engine::new(&config).unwrap();
    let mut store = Store::new(&engine, ());
    let mut made = 0;
    let err = loop {
        match ExternRef::new(&mut store, made) {
            Ok(_) => made += 1,
            Err(err) => break err,
        }
        assert!(made < 1 << 20, "a 1 MiB heap fills up");
    };
    assert!(made > 1000, "{made}");
    assert_eq!(err.root_cause().downcast_ref::<Trap>(), Some(&Trap::GcHeapOutOfMemory), "{err:#}");
    assert!(format!("{err:#}").contains("allocating an externref"), "{err:#}");
}
