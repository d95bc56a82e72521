//! Instantiation failures: unresolved or mismatched imports are errors that
//! name the import; traps while applying segments or running the start
//! function reach the caller as those traps.

use kiln::*;

fn engine_store() -> (Engine, Store<()>) {
    let engine = Engine::default();
    let store = Store::new(&engine, ());
    (engine, store)
}

#[test]
fn missing_import_is_an_error_naming_module_and_name() {
    let (engine, mut store) = engine_store();
    let module = Module::new(&engine, r#"(module (import "env" "missing_fn" (func (param i32))))"#).unwrap();
    let err = Linker::new(&engine).instantiate(&mut store, &module).unwrap_err();
    let text = format!("{err:#}");
    assert!(text.contains("env"), "module name missing from: {text}");
    assert!(text.contains("missing_fn"), "import name missing from: {text}");
    assert_eq!(err.downcast_ref::<Trap>(), None);
}

#[test]
fn missing_import_error_names_the_first_unresolved_import() {
    let (engine, mut store) = engine_store();
    let module = Module::new(
        &engine,
        r#"(module
            (import "host" "present" (func))
            (import "other" "absent_memory" (memory 1)))"#,
    )
    .unwrap();
    let mut linker = Linker::new(&engine);
    linker.func_wrap("host", "present", || {}).unwrap();
    let err = linker.instantiate(&mut store, &module).unwrap_err();
    let text = format!("{err:#}");
    assert!(text.contains("other") && text.contains("absent_memory"), "{text}");
    assert!(!text.contains("present"), "the resolved import is not blamed: {text}");
}

#[test]
fn import_with_the_wrong_function_type_is_an_error_naming_it() {
    let (engine, mut store) = engine_store();
    let module = Module::new(&engine, r#"(module (import "host" "wrong_sig" (func (param i32) (result i32))))"#).unwrap();
    let mut linker = Linker::new(&engine);
    linker.func_wrap("host", "wrong_sig", |x: i64| x).unwrap();
    let err = linker.instantiate(&mut store, &module).unwrap_err();
    let text = format!("{err:#}");
    assert!(text.contains("host") && text.contains("wrong_sig"), "{text}");
    assert_eq!(err.downcast_ref::<Trap>(), None);
}

#[test]
fn import_of_the_wrong_kind_is_an_error() {
    let (engine, mut store) = engine_store();
    let module = Module::new(&engine, r#"(module (import "host" "thing" (memory 1)))"#).unwrap();
    let mut linker = Linker::new(&engine);
    linker.func_wrap("host", "thing", || {}).unwrap();
    let err = linker.instantiate(&mut store, &module).unwrap_err();
    assert!(format!("{err:#}").contains("thing"), "{err:#}");
}

#[test]
fn instance_new_with_too_few_imports_is_an_error() {
    let (engine, mut store) = engine_store();
    let module = Module::new(&engine, r#"(module (import "a" "b" (func)) (import "a" "c" (func)))"#).unwrap();
    let f = Func::wrap(&mut store, || {});
    assert!(Instance::new(&mut store, &module, &[f.into()]).is_err());
}

#[test]
fn start_function_trap_is_returned_by_instantiation() {
    let (engine, mut store) = engine_store();
    let module = Module::new(&engine, r#"(module (func $start unreachable) (start $start))"#).unwrap();
    let err = Linker::new(&engine).instantiate(&mut store, &module).unwrap_err();
    assert_eq!(err.downcast_ref::<Trap>(), Some(&Trap::UnreachableCodeReached), "{err:?}");
    assert_eq!(err.root_cause().to_string(), "unreachable");
}

#[test]
fn start_function_trap_has_a_backtrace() {
    let (engine, mut store) = engine_store();
    let module = Module::new(
        &engine,
        r#"(module
            (func $start call $helper)
            (func $helper (drop (i32.div_s (i32.const 1) (i32.const 0))))
            (start $start))"#,
    )
    .unwrap();
    let err = Instance::new(&mut store, &module, &[]).unwrap_err();
    assert_eq!(err.downcast_ref::<Trap>(), Some(&Trap::IntegerDivisionByZero), "{err:?}");
    let names: Vec<_> = err.downcast_ref::<WasmBacktrace>().expect("backtrace").frames().iter().map(|f| f.func_name()).collect();
    assert_eq!(names, [Some("helper"), Some("start")]);
}

#[test]
fn start_function_host_error_is_returned_by_instantiation() {
    let (engine, mut store) = engine_store();
    let module = Module::new(&engine, r#"(module (import "host" "fail" (func $fail)) (start $fail))"#).unwrap();
    let mut linker = Linker::new(&engine);
    linker.func_wrap("host", "fail", || -> Result<()> { Err(Error::msg("start failed")) }).unwrap();
    let err = linker.instantiate(&mut store, &module).unwrap_err();
    assert_eq!(err.root_cause().to_string(), "start failed");
}

#[test]
fn start_function_runs_after_data_segments_are_applied() {
    let (engine, mut store) = engine_store();
    let module = Module::new(
        &engine,
        r#"(module
            (import "host" "seen" (func $seen (param i32)))
            (memory 1)
            (data (i32.const 100) "\2a")
            (func $start (call $seen (i32.load8_u (i32.const 100))))
            (start $start))"#,
    )
    .unwrap();
    let mut linker = Linker::new(&engine);
    let seen = std::sync::Arc::new(std::sync::Mutex::new(None));
    let seen2 = seen.clone();
    linker.func_wrap("host", "seen", move |v: i32| *seen2.lock().unwrap() = Some(v)).unwrap();
    linker.instantiate(&mut store, &module).unwrap();
    assert_eq!(*seen.lock().unwrap(), Some(42));
}

#[test]
fn active_data_segment_out_of_bounds_traps_instantiation() {
    let (engine, mut store) = engine_store();
    let module = Module::new(&engine, r#"(module (memory 1) (data (i32.const 65535) "ab"))"#).unwrap();
    let err = Linker::new(&engine).instantiate(&mut store, &module).unwrap_err();
    assert_eq!(err.downcast_ref::<Trap>(), Some(&Trap::MemoryOutOfBounds), "{err:?}");
    assert_eq!(err.root_cause().to_string(), "out of bounds memory access");
}

#[test]
fn active_data_segment_ending_exactly_at_the_end_of_memory_is_fine() {
    let (engine, mut store) = engine_store();
    let module = Module::new(
        &engine,
        r#"(module (memory (export "mem") 1) (data (i32.const 65534) "ab") (data (i32.const 65536) ""))"#,
    )
    .unwrap();
    let instance = Linker::new(&engine).instantiate(&mut store, &module).unwrap();
    let mem = instance.get_memory(&mut store, "mem").unwrap();
    assert_eq!(&mem.data(&store)[65534..], b"ab");
}

#[test]
fn empty_data_segment_past_the_end_of_memory_traps_instantiation() {
    let (engine, mut store) = engine_store();
    let module = Module::new(&engine, r#"(module (memory 1) (data (i32.const 65537) ""))"#).unwrap();
    let err = Linker::new(&engine).instantiate(&mut store, &module).unwrap_err();
    assert_eq!(err.downcast_ref::<Trap>(), Some(&Trap::MemoryOutOfBounds), "{err:?}");
}

#[test]
fn data_segment_with_a_negative_offset_traps_instantiation() {
    // The offset is an unsigned 32-bit address: -1 is 0xFFFF_FFFF.
    let (engine, mut store) = engine_store();
    let module = Module::new(&engine, r#"(module (memory 1) (data (i32.const -1) "a"))"#).unwrap();
    let err = Linker::new(&engine).instantiate(&mut store, &module).unwrap_err();
    assert_eq!(err.downcast_ref::<Trap>(), Some(&Trap::MemoryOutOfBounds), "{err:?}");
}

#[test]
fn earlier_data_segments_stay_written_to_an_imported_memory_after_a_later_one_traps() {
    let (engine, mut store) = engine_store();
    let memory = Memory::new(&mut store, MemoryType::new(1, None)).unwrap();
    let mut linker = Linker::new(&engine);
    linker.define(&store, "env", "mem", memory).unwrap();
    let module = Module::new(
        &engine,
        r#"(module
            (import "env" "mem" (memory 1))
            (data (i32.const 0) "ok")
            (data (i32.const 65535) "too long"))"#,
    )
    .unwrap();
    let err = linker.instantiate(&mut store, &module).unwrap_err();
    assert_eq!(err.downcast_ref::<Trap>(), Some(&Trap::MemoryOutOfBounds));
    assert_eq!(&memory.data(&store)[..2], b"ok");
    assert_eq!(memory.data(&store)[65535], 0, "the failing segment writes nothing");
}

#[test]
fn active_element_segment_out_of_bounds_traps_instantiation() {
    let (engine, mut store) = engine_store();
    let module = Module::new(&engine, r#"(module (table 1 funcref) (func $f) (elem (i32.const 1) $f))"#).unwrap();
    let err = Linker::new(&engine).instantiate(&mut store, &module).unwrap_err();
    assert_eq!(err.downcast_ref::<Trap>(), Some(&Trap::TableOutOfBounds), "{err:?}");
    assert!(err.root_cause().to_string().contains("out of bounds table access"), "{err:?}");
}

#[test]
fn element_segments_are_applied_before_data_segments() {
    // A trapping element segment stops instantiation before any data
    // segment is written.
    let (engine, mut store) = engine_store();
    let memory = Memory::new(&mut store, MemoryType::new(1, None)).unwrap();
    let mut linker = Linker::new(&engine);
    linker.define(&store, "env", "mem", memory).unwrap();
    let module = Module::new(
        &engine,
        r#"(module
            (import "env" "mem" (memory 1))
            (table 1 funcref)
            (func $f)
            (elem (i32.const 5) $f)
            (data (i32.const 0) "x"))"#,
    )
    .unwrap();
    let err = linker.instantiate(&mut store, &module).unwrap_err();
    assert_eq!(err.downcast_ref::<Trap>(), Some(&Trap::TableOutOfBounds));
    assert_eq!(memory.data(&store)[0], 0);
}

#[test]
fn start_function_does_not_run_when_a_segment_traps() {
    let (engine, mut store) = engine_store();
    let module = Module::new(
        &engine,
        r#"(module
            (import "host" "started" (func $started))
            (memory 1)
            (data (i32.const 65536) "x")
            (start $started))"#,
    )
    .unwrap();
    let mut linker = Linker::new(&engine);
    let started = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let started2 = started.clone();
    linker.func_wrap("host", "started", move || started2.store(true, std::sync::atomic::Ordering::SeqCst)).unwrap();
    let err = linker.instantiate(&mut store, &module).unwrap_err();
    assert_eq!(err.downcast_ref::<Trap>(), Some(&Trap::MemoryOutOfBounds));
    assert!(!started.load(std::sync::atomic::Ordering::SeqCst));
}

#[test]
fn store_is_usable_after_a_failed_instantiation() {
    let (engine, mut store) = engine_store();
    let bad = Module::new(&engine, r#"(module (func $start unreachable) (start $start))"#).unwrap();
    Linker::new(&engine).instantiate(&mut store, &bad).unwrap_err();
    let good = Module::new(&engine, r#"(module (func (export "two") (result i32) i32.const 2))"#).unwrap();
    let instance = Linker::new(&engine).instantiate(&mut store, &good).unwrap();
    assert_eq!(instance.get_typed_func::<(), i32>(&mut store, "two").unwrap().call(&mut store, ()).unwrap(), 2);
}
