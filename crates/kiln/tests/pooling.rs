//! The pooling allocator: slots reserved once and reused by store after
//! store, reset between tenants, limits that name their knob, slots given
//! back after a failed instantiation, and concurrent use from threads.

use kiln::*;

mod common;

use common::{TENANT, pooling_engine};

#[test]
fn a_slot_reused_by_the_next_tenant_shows_none_of_the_previous_one() {
    for collector in [Collector::Copying, Collector::Drc, Collector::Generational] {
        let engine = pooling_engine(collector, |p| {
            p.total_memories(1).total_gc_heaps(1);
        });
        let module = Module::new(&engine, TENANT).unwrap();
        let mut bases = Vec::new();
        for tenant in 0..3 {
            let mut store = Store::new(&engine, ());
            let instance = Linker::new(&engine).instantiate(&mut store, &module).unwrap();
            let memory = instance.get_memory(&mut store, "memory").unwrap();
            bases.push(memory.data(&store).as_ptr() as usize);
            let data = memory.data(&store);
            assert_eq!(&data[100..104], b"seed");
            assert!(data[..100].iter().chain(&data[104..]).all(|b| *b == 0), "{collector:?}: tenant {tenant} sees an earlier tenant's bytes");
            let table = instance.get_table(&mut store, "table").unwrap();
            assert!((0..4).all(|i| table.get(&mut store, i).unwrap().unwrap_externref().is_none()));
            let boxed = instance.get_typed_func::<(), i64>(&mut store, "boxed").unwrap();
            assert_eq!(boxed.call(&mut store, ()).unwrap(), 0);
            if let Some(stats) = store.gc_stats() {
                assert_eq!(stats.objects_allocated, 0, "a reused heap starts empty");
            }

            let secret = ExternRef::new(&mut store, "secret").unwrap();
            let write = instance.get_typed_func::<(i64, Option<Rooted<ExternRef>>), ()>(&mut store, "write_secret").unwrap();
            write.call(&mut store, (0x5ec2e7, Some(secret))).unwrap();
            assert_eq!(boxed.call(&mut store, ()).unwrap(), 0x5ec2e7);
        }
        assert!(bases.windows(2).all(|w| w[0] == w[1]), "one memory slot, reused: {bases:x?}");
    }
}

#[test]
fn limits_are_errors_naming_their_knob() {
    let engine = pooling_engine(Collector::Copying, |p| {
        p.total_memories(1);
    });
    let module = Module::new(&engine, TENANT).unwrap();
    let mut store = Store::new(&engine, ());
    Linker::new(&engine).instantiate(&mut store, &module).unwrap();
    let err = Linker::new(&engine).instantiate(&mut store, &module).unwrap_err();
    assert!(format!("{err:#}").contains("total_memories"), "{err:#}");
    drop(store);
    let mut store = Store::new(&engine, ());
    Linker::new(&engine).instantiate(&mut store, &module).unwrap();

    let two = Module::new(&engine, "(module (memory 1) (memory 1))").unwrap();
    let err = Linker::new(&engine).instantiate(&mut store, &two).unwrap_err();
    assert!(format!("{err:#}").contains("max_memories_per_module"), "{err:#}");
    let big = Module::new(&engine, "(module (memory 17))").unwrap();
    let mut other = Store::new(&engine, ());
    drop(store);
    let err = Linker::new(&engine).instantiate(&mut other, &big).unwrap_err();
    assert!(format!("{err:#}").contains("max_memory_size"), "{err:#}");
    let long = Module::new(&engine, "(module (table 30000 funcref))").unwrap();
    let err = Linker::new(&engine).instantiate(&mut other, &long).unwrap_err();
    assert!(format!("{err:#}").contains("table_elements"), "{err:#}");
    let grows = Module::new(&engine, r#"(module (memory 1) (func (export "grow") (result i32) (memory.grow (i32.const 16))))"#).unwrap();
    let mut store = Store::new(&engine, ());
    let instance = Linker::new(&engine).instantiate(&mut store, &grows).unwrap();
    let grow = instance.get_typed_func::<(), i32>(&mut store, "grow").unwrap();
    assert_eq!(grow.call(&mut store, ()).unwrap(), -1, "a pooled memory grows at most to max_memory_size");
}

#[test]
fn a_trap_in_the_start_function_gives_every_slot_back() {
    let engine = pooling_engine(Collector::Copying, |p| {
        p.total_memories(1).total_tables(1).total_core_instances(1).total_gc_heaps(1);
    });
    let module = Module::new(
        &engine,
        r#"(module (type $s (struct)) (memory 1) (table 1 funcref) (global (mut anyref) (ref.null any))
            (func $start (drop (struct.new $s)) unreachable) (start $start))"#,
    )
    .unwrap();
    for _ in 0..5 {
        let mut store = Store::new(&engine, ());
        let err = Linker::new(&engine).instantiate(&mut store, &module).unwrap_err();
        assert_eq!(err.downcast_ref::<Trap>(), Some(&Trap::UnreachableCodeReached), "{err:?}");
    }
}

#[test]
fn stores_in_four_threads_instantiate_from_one_engine() {
    let engine = pooling_engine(Collector::Drc, |p| {
        p.total_memories(4).total_gc_heaps(4).total_core_instances(4).total_tables(4);
    });
    let module = Module::new(&engine, TENANT).unwrap();
    std::thread::scope(|s| {
        for t in 0..4 {
            let (engine, module) = (&engine, &module);
            s.spawn(move || {
                for i in 0..300 {
                    let mut store = Store::new(engine, ());
                    let instance = Linker::new(engine).instantiate(&mut store, module).unwrap();
                    let write = instance.get_typed_func::<(i64, Option<Rooted<ExternRef>>), ()>(&mut store, "write_secret").unwrap();
                    let peek = instance.get_typed_func::<i32, i64>(&mut store, "peek").unwrap();
                    assert_eq!(peek.call(&mut store, 8).unwrap(), 0, "thread {t}, round {i}: a fresh slot");
                    write.call(&mut store, (t * 1000 + i, None)).unwrap();
                    assert_eq!(peek.call(&mut store, 8).unwrap(), t * 1000 + i);
                }
            });
        }
    });
}

/// Data segments come from a copy-on-write image shared by the module's
/// instances: one instance's writes never show in another's memory, with
/// either allocator, and a segment offset read from a global (no image)
/// still works.
#[test]
fn memory_images_are_private_to_each_instance() {
    let on_demand = Engine::default();
    let pooled = pooling_engine(Collector::Copying, |_| {});
    let wat = r#"(module (import "env" "base" (global $base i32))
        (memory (export "memory") 2)
        (data (i32.const 70000) "image")
        (data (i32.const 0) "first page")
        (data (global.get $base) "late"))"#;
    let plain = r#"(module (memory (export "memory") 2) (data (i32.const 70000) "image") (data (i32.const 0) "first page"))"#;
    for engine in [&on_demand, &pooled] {
        for source in [wat, plain] {
            let module = Module::new(engine, source).unwrap();
            let mut store = Store::new(engine, ());
            let mut linker = Linker::new(engine);
            let base = Global::new(&mut store, GlobalType::new(ValType::I32, Mutability::Const), Val::I32(1000)).unwrap();
            linker.define(&store, "env", "base", base).unwrap();
            let a = linker.instantiate(&mut store, &module).unwrap().get_memory(&mut store, "memory").unwrap();
            a.data_mut(&mut store)[70000..70005].copy_from_slice(b"XXXXX");
            a.data_mut(&mut store)[5] = b'!';
            let b = linker.instantiate(&mut store, &module).unwrap().get_memory(&mut store, "memory").unwrap();
            let data = b.data(&store);
            assert_eq!(&data[70000..70005], b"image");
            assert_eq!(&data[..10], b"first page");
            if source == wat {
                assert_eq!(&data[1000..1004], b"late");
            }
            assert_eq!(&a.data(&store)[70000..70005], b"XXXXX");
        }
    }
}

/// A slot keeps its image between tenants of the same module (see
/// `vm/pool.rs`): each tenant still sees exactly the module's data, never
/// the previous tenant's writes or growth, and a tenant of another module
/// sees zeros.
#[test]
fn a_slot_that_kept_an_image_shows_only_the_image() {
    let engine = pooling_engine(Collector::Copying, |p| {
        p.total_memories(1);
    });
    let with_data = Module::new(
        &engine,
        r#"(module (memory (export "memory") 2 4)
            (data (i32.const 0) "AAAA") (data (i32.const 70000) "tail")
            (func (export "scribble")
                (i32.store (i32.const 0) (i32.const -1))
                (i32.store (i32.const 70000) (i32.const -1))
                (drop (memory.grow (i32.const 1)))
                (i32.store (i32.const 140000) (i32.const -1))))"#,
    )
    .unwrap();
    let without = Module::new(&engine, r#"(module (memory (export "memory") 2))"#).unwrap();
    for round in 0..3 {
        for module in [&with_data, &with_data, &without] {
            let mut store = Store::new(&engine, ());
            let instance = Linker::new(&engine).instantiate(&mut store, module).unwrap();
            let memory = instance.get_memory(&mut store, "memory").unwrap();
            assert_eq!(memory.data(&store).len(), 2 << 16, "round {round}: the initial size, not a tenant's growth");
            let data = memory.data(&store);
            if std::ptr::eq(module, &with_data) {
                assert_eq!((&data[..4], &data[70000..70004]), (&b"AAAA"[..], &b"tail"[..]), "round {round}");
                let rest = data[4..70000].iter().chain(&data[70004..]);
                assert!(rest.clone().all(|b| *b == 0), "round {round}: a previous tenant's bytes");
                instance.get_typed_func::<(), ()>(&mut store, "scribble").unwrap().call(&mut store, ()).unwrap();
            } else {
                assert!(data.iter().all(|b| *b == 0), "round {round}: another module's image");
            }
        }
    }
}

/// Element segments come before data segments: when one fails, a function
/// it already put in an imported table sees its memory without the data,
/// even in a slot that kept the module's image from an earlier tenant.
#[test]
fn a_failed_element_segment_leaves_the_memory_without_data() {
    let engine = pooling_engine(Collector::Copying, |p| {
        p.total_memories(1);
    });
    let module = Module::new(
        &engine,
        r#"(module (import "env" "table" (table 1 funcref))
            (memory 1) (data (i32.const 0) "DATA")
            (func $peek (result i32) (i32.load8_u (i32.const 0)))
            (elem (i32.const 0) $peek)
            (elem (i32.const 5) $peek))"#,
    )
    .unwrap();
    for (size, succeeds) in [(10, true), (1, false), (10, true), (1, false)] {
        let mut store = Store::new(&engine, ());
        let table = Table::new(&mut store, TableType::new(RefType::new(true, HeapType::Func), size, None), Val::FuncRef(None)).unwrap();
        let mut linker = Linker::new(&engine);
        linker.define(&store, "env", "table", table).unwrap();
        assert_eq!(linker.instantiate(&mut store, &module).is_ok(), succeeds);
        let peek = table.get(&mut store, 0).unwrap().unwrap_funcref().unwrap();
        let mut result = [Val::I32(0)];
        peek.call(&mut store, &[], &mut result).unwrap();
        assert_eq!(result[0].unwrap_i32(), if succeeds { i32::from(b'D') } else { 0 }, "table of {size}");
    }
}
