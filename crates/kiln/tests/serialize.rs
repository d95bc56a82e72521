//! Precompiled modules: `Module::serialize` and `Module::deserialize`
//! round-trip a module (GC code, traps and exceptions included), and a
//! truncated, modified or foreign artifact, or one from an engine with
//! other settings, is refused with an error saying why.

use kiln::*;

/// Collects while Wasm holds references (stack maps), traps, and catches an
/// exception: the metadata an artifact carries must all survive the trip.
const PROGRAM: &str = r#"(module
    (type $node (struct (field $v i32) (field $next (ref null $node))))
    (tag $oops (param i32))
    (func $build (param $n i32) (result (ref null $node))
        (local $l (ref null $node))
        (block $done (loop $next
            (br_if $done (i32.eqz (local.get $n)))
            (local.set $l (struct.new $node (local.get $n) (local.get $l)))
            (local.set $n (i32.sub (local.get $n) (i32.const 1)))
            (br $next)))
        (local.get $l))
    (func (export "sum") (param $n i32) (result i32)
        (local $l (ref null $node)) (local $s i32) (local $i i32)
        ;; Garbage between building and walking the kept list: collections
        ;; must find it through the stack map.
        (local.set $l (call $build (local.get $n)))
        (loop $churn
            (drop (call $build (i32.const 1000)))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br_if $churn (i32.lt_u (local.get $i) (i32.const 200))))
        (block $done (loop $next
            (br_if $done (ref.is_null (local.get $l)))
            (local.set $s (i32.add (local.get $s) (struct.get $node $v (local.get $l))))
            (local.set $l (struct.get $node $next (local.get $l)))
            (br $next)))
        (local.get $s))
    (func (export "divide") (param i32 i32) (result i32) (i32.div_s (local.get 0) (local.get 1)))
    (func (export "catch") (param i32) (result i32)
        (block $h (result i32)
            (try_table (catch $oops $h) (throw $oops (local.get 0)))
            (i32.const -1))
        (i32.add (i32.const 1))))"#;

fn engine(collector: Collector) -> Engine {
    let mut config = Config::new();
    // Null never frees: it gets room for all the garbage.
    config.collector(collector).max_gc_heap_size(if collector == Collector::Null { 64 << 20 } else { 4 << 20 });
    Engine::new(&config).unwrap()
}

fn check_runs(engine: &Engine, collector: Collector, module: &Module) {
    let mut store = Store::new(engine, ());
    let instance = Instance::new(&mut store, module, &[]).unwrap();
    let sum = instance.get_typed_func::<i32, i32>(&mut store, "sum").unwrap();
    assert_eq!(sum.call(&mut store, 100).unwrap(), 5050);
    if collector != Collector::Null {
        assert!(store.gc_stats().unwrap().collections > 0, "collections ran");
    }
    let divide = instance.get_typed_func::<(i32, i32), i32>(&mut store, "divide").unwrap();
    let err = divide.call(&mut store, (1, 0)).unwrap_err();
    assert_eq!(err.downcast_ref::<Trap>(), Some(&Trap::IntegerDivisionByZero), "{err:?}");
    let catch = instance.get_typed_func::<i32, i32>(&mut store, "catch").unwrap();
    assert_eq!(catch.call(&mut store, 41).unwrap(), 42);
}

#[test]
fn a_serialized_module_runs_like_the_original_on_every_collector() {
    for collector in [Collector::Null, Collector::Copying, Collector::Drc, Collector::Generational] {
        let engine = engine(collector);
        let bytes = Module::new(&engine, PROGRAM).unwrap().serialize().unwrap();
        assert_eq!(bytes, engine.precompile_module(PROGRAM.as_bytes()).unwrap(), "compilation is deterministic");
        // SAFETY: these bytes come from Kiln.
        let module = unsafe { Module::deserialize(&engine, &bytes) }.unwrap();
        check_runs(&engine, collector, &module);
        // Into another engine with the same settings too.
        let other = crate::engine(collector);
        check_runs(&other, collector, &unsafe { Module::deserialize(&other, &bytes) }.unwrap());
    }
}

#[test]
fn deserialize_file_reads_the_artifact() {
    let engine = engine(Collector::Copying);
    let path = std::env::temp_dir().join(format!("kiln-serialize-test-{}.cwasm", std::process::id()));
    std::fs::write(&path, engine.precompile_module(PROGRAM.as_bytes()).unwrap()).unwrap();
    let module = unsafe { Module::deserialize_file(&engine, &path) }.unwrap();
    std::fs::remove_file(&path).unwrap();
    check_runs(&engine, Collector::Copying, &module);
    let missing = unsafe { Module::deserialize_file(&engine, &path) }.unwrap_err();
    assert!(format!("{missing:#}").contains("reading"), "{missing:#}");
}

fn refusal(engine: &Engine, bytes: &[u8]) -> String {
    // SAFETY: the bytes are Kiln's, damaged: loading must refuse them.
    format!("{:#}", unsafe { Module::deserialize(engine, bytes) }.unwrap_err())
}

#[test]
fn truncated_and_modified_artifacts_are_refused() {
    let engine = engine(Collector::Copying);
    let bytes = engine.precompile_module(PROGRAM.as_bytes()).unwrap();
    for len in [0, 5, 12, 20, bytes.len() / 2, bytes.len() - 9, bytes.len() - 1] {
        let e = refusal(&engine, &bytes[..len]);
        assert!(e.contains("truncated") || e.contains("corrupt") || e.contains("not a Kiln"), "{len} bytes: {e}");
    }
    // A flipped bit anywhere past the header: in the wasm, the code, the
    // metadata or the checksum itself.
    for at in [40, bytes.len() / 3, bytes.len() / 2, bytes.len() - 20, bytes.len() - 1] {
        let mut bad = bytes.clone();
        bad[at] ^= 0x10;
        let e = refusal(&engine, &bad);
        assert!(e.contains("corrupt") || e.contains("incompatible"), "flipped byte {at}: {e}");
    }
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(refusal(&engine, &longer).contains("corrupt"));
}

#[test]
fn what_is_not_a_kiln_artifact_is_refused() {
    let engine = engine(Collector::Copying);
    let wasm = wat::parse_str(PROGRAM).unwrap();
    assert!(refusal(&engine, &wasm).contains("not a Kiln precompiled module"));
    assert!(refusal(&engine, b"").contains("not a Kiln precompiled module"));
}

#[test]
fn an_artifact_from_an_engine_with_other_settings_is_refused_naming_the_setting() {
    let drc = engine(Collector::Drc).precompile_module(PROGRAM.as_bytes()).unwrap();
    let e = refusal(&engine(Collector::Copying), &drc);
    assert!(e.contains("incompatible") && e.contains("collector=Drc") && e.contains("collector=Copying"), "{e}");

    let mut config = Config::new();
    config.cranelift_opt_level(OptLevel::None);
    let unoptimized = Engine::new(&config).unwrap().precompile_module(PROGRAM.as_bytes()).unwrap();
    let e = refusal(&Engine::default(), &unoptimized);
    assert!(e.contains("opt_level"), "{e}");
}
