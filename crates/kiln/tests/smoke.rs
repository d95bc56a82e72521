use kiln::*;

#[test]
fn add() -> Result<()> {
    let engine = Engine::default();
    let module = Module::new(&engine, r#"(module (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add))"#)?;
    let mut store = Store::new(&engine, ());
    let instance = Linker::new(&engine).instantiate(&mut store, &module)?;
    let add = instance.get_typed_func::<(i32, i32), i32>(&mut store, "add")?;
    assert_eq!(add.call(&mut store, (2, 3))?, 5);
    Ok(())
}

#[test]
fn trap_and_host() -> Result<()> {
    let engine = Engine::default();
    let module = Module::new(&engine, r#"(module
        (import "host" "double" (func $double (param i32) (result i32)))
        (memory 1)
        (func (export "boom") unreachable)
        (func (export "call_host") (param i32) (result i32) local.get 0 call $double)
        (func (export "oob") (result i32) i32.const 65536 i32.load)
        (func $rec (export "rec") call $rec))"#)?;
    let mut store = Store::new(&engine, ());
    let mut linker = Linker::new(&engine);
    linker.func_wrap("host", "double", |x: i32| x * 2)?;
    let instance = linker.instantiate(&mut store, &module)?;
    let err = instance.get_typed_func::<(), ()>(&mut store, "boom")?.call(&mut store, ()).unwrap_err();
    assert_eq!(err.downcast_ref::<Trap>(), Some(&Trap::UnreachableCodeReached), "{err:?}");
    assert_eq!(instance.get_typed_func::<i32, i32>(&mut store, "call_host")?.call(&mut store, 21)?, 42);
    let err = instance.get_typed_func::<(), i32>(&mut store, "oob")?.call(&mut store, ()).unwrap_err();
    assert_eq!(err.downcast_ref::<Trap>(), Some(&Trap::MemoryOutOfBounds), "{err:?}");
    let err = instance.get_typed_func::<(), ()>(&mut store, "rec")?.call(&mut store, ()).unwrap_err();
    assert_eq!(err.downcast_ref::<Trap>(), Some(&Trap::StackOverflow), "{err:?}");
    assert_eq!(instance.get_typed_func::<i32, i32>(&mut store, "call_host")?.call(&mut store, 1)?, 2);
    Ok(())
}

#[test]
fn fuel_and_epoch_stop_infinite_loops() -> Result<()> {
    let wat = r#"(module (func (export "spin") (loop $l (br $l))) (func (export "ok") (result i32) i32.const 7))"#;
    let mut config = Config::new();
    config.consume_fuel(true);
    let engine = Engine::new(&config)?;
    let module = Module::new(&engine, wat)?;
    let mut store = Store::new(&engine, ());
    store.set_fuel(10_000)?;
    let instance = Linker::new(&engine).instantiate(&mut store, &module)?;
    let err = instance.get_typed_func::<(), ()>(&mut store, "spin")?.call(&mut store, ()).unwrap_err();
    assert_eq!(err.downcast_ref::<Trap>(), Some(&Trap::OutOfFuel));
    store.set_fuel(10)?;
    assert_eq!(instance.get_typed_func::<(), i32>(&mut store, "ok")?.call(&mut store, ())?, 7);
    assert!(store.get_fuel()? < 10);

    let mut config = Config::new();
    config.epoch_interruption(true);
    let engine = Engine::new(&config)?;
    let module = Module::new(&engine, wat)?;
    let mut store = Store::new(&engine, ());
    store.set_epoch_deadline(1);
    let instance = Linker::new(&engine).instantiate(&mut store, &module)?;
    let spin = instance.get_typed_func::<(), ()>(&mut store, "spin")?;
    let ticker = {
        let engine = engine.clone();
        std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(50));
            engine.increment_epoch();
        })
    };
    let err = spin.call(&mut store, ()).unwrap_err();
    ticker.join().unwrap();
    assert_eq!(err.downcast_ref::<Trap>(), Some(&Trap::Interrupt));
    Ok(())
}
