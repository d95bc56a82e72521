//! The embedder's GC API, written as a Wasmtime embedder writes it:
//! rooting (`Rooted`, `OwnedRooted`, `RootScope`), host-made structs and
//! arrays passed through Wasm and back, i31 and externref round trips,
//! exceptions in both directions, and the errors for handles used after
//! their scope or with another store. Every test runs on every collector
//! that frees memory, the moving one included.

use kiln::*;

const COLLECTORS: [Collector; 3] = [Collector::Copying, Collector::Drc, Collector::Generational];

fn engine(collector: Collector) -> Engine {
    let mut config = Config::new();
    config.collector(collector).max_gc_heap_size(64 << 20);
    Engine::new(&config).unwrap()
}

/// A struct type `$point` = (mut i32, mut i8, mut anyref) and an array of
/// i16, as a module declares them; the host builds the same types.
const POINTS: &str = r#"(module
    (type $point (struct (field (mut i32)) (field (mut i8)) (field (mut anyref))))
    (type $shorts (array (mut i16)))
    (func (export "x") (param (ref $point)) (result i32) (struct.get $point 0 (local.get 0)))
    (func (export "tag_u") (param (ref $point)) (result i32) (struct.get_u $point 1 (local.get 0)))
    (func (export "next") (param (ref $point)) (result anyref) (struct.get $point 2 (local.get 0)))
    (func (export "make") (param i32) (result (ref $point))
        (struct.new $point (local.get 0) (i32.const -1) (ref.null any)))
    (func (export "sum") (param (ref $shorts)) (result i32)
        (local $i i32) (local $s i32)
        (block $done (loop $next
            (br_if $done (i32.ge_u (local.get $i) (array.len (local.get 0))))
            (local.set $s (i32.add (local.get $s) (array.get_s $shorts (local.get 0) (local.get $i))))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $next)))
        (local.get $s))
    (func (export "identity") (param anyref) (result anyref) (local.get 0))
    (func (export "garbage") (param i32)
        (block $done (loop $next
            (br_if $done (i32.eqz (local.get 0)))
            (drop (struct.new $point (local.get 0) (i32.const 0) (ref.null any)))
            (local.set 0 (i32.sub (local.get 0) (i32.const 1)))
            (br $next)))))"#;

fn point_type(engine: &Engine) -> StructType {
    let field = |t| FieldType::new(Mutability::Var, t);
    StructType::new(engine, [field(StorageType::ValType(ValType::I32)), field(StorageType::I8), field(StorageType::ValType(ValType::Ref(RefType::new(true, HeapType::Any))))]).unwrap()
}

fn shorts_type(engine: &Engine) -> ArrayType {
    ArrayType::new(engine, FieldType::new(Mutability::Var, StorageType::I16))
}

fn points(collector: Collector) -> (Store<()>, Instance) {
    let engine = engine(collector);
    let module = Module::new(&engine, POINTS).unwrap();
    let mut store = Store::new(&engine, ());
    let instance = Linker::new(&engine).instantiate(&mut store, &module).unwrap();
    (store, instance)
}

#[test]
fn host_structs_and_arrays_pass_through_wasm_and_back() {
    for collector in COLLECTORS {
        let (mut store, instance) = points(collector);
        let engine = store.engine().clone();
        let pre = StructRefPre::new(&mut store, point_type(&engine));
        let inner = StructRef::new(&mut store, &pre, &[Val::I32(1), Val::I32(2), Val::AnyRef(None)]).unwrap();
        let outer = StructRef::new(&mut store, &pre, &[Val::I32(10), Val::I32(300), inner.to_anyref().into()]).unwrap();

        let x = instance.get_typed_func::<Rooted<StructRef>, i32>(&mut store, "x").unwrap();
        assert_eq!(x.call(&mut store, outer).unwrap(), 10, "{collector:?}");
        let tag_u = instance.get_typed_func::<Rooted<StructRef>, i32>(&mut store, "tag_u").unwrap();
        assert_eq!(tag_u.call(&mut store, outer).unwrap(), 300 & 0xff, "an i8 field keeps the low 8 bits");
        let next = instance.get_typed_func::<Rooted<StructRef>, Option<Rooted<AnyRef>>>(&mut store, "next").unwrap();
        let back = next.call(&mut store, outer).unwrap().expect("the inner struct");
        assert!(Rooted::ref_eq(&store, &back, &inner).unwrap(), "the same object comes back");

        let array_pre = ArrayRefPre::new(&mut store, shorts_type(&engine));
        let shorts = ArrayRef::new_fixed(&mut store, &array_pre, &[Val::I32(1), Val::I32(-2), Val::I32(0x1_0003)]).unwrap();
        let sum = instance.get_typed_func::<Rooted<ArrayRef>, i32>(&mut store, "sum").unwrap();
        assert_eq!(sum.call(&mut store, shorts).unwrap(), 1 - 2 + 3, "i16 elements wrap on write and sign-extend in Wasm");
        assert_eq!(shorts.get(&mut store, 1).unwrap().unwrap_i32(), 0xfffe, "the host reads packed elements zero-extended");

        let filled = ArrayRef::new(&mut store, &array_pre, &Val::I32(7), 1000).unwrap();
        assert_eq!(filled.len(&store).unwrap(), 1000);
        assert_eq!(sum.call(&mut store, filled).unwrap(), 7000);
    }
}

#[test]
fn wasm_made_objects_are_read_and_written_by_the_host() {
    for collector in COLLECTORS {
        let (mut store, instance) = points(collector);
        let make = instance.get_typed_func::<i32, Rooted<StructRef>>(&mut store, "make").unwrap();
        let p = make.call(&mut store, 42).unwrap();
        assert!(p.matches_ty(&store, &point_type(store.engine())).unwrap(), "a module's type is the host's structurally equal type");
        let fields: Vec<Val> = p.fields(&mut store).unwrap().collect();
        assert_eq!(fields[0].unwrap_i32(), 42);
        assert_eq!(fields[1].unwrap_i32(), 0xff, "packed fields read zero-extended");
        assert!(fields[2].unwrap_anyref().is_none());
        p.set_field(&mut store, 0, Val::I32(-5)).unwrap();
        let i31 = AnyRef::from_i31(&mut store, I31::wrapping_i32(-7));
        p.set_field(&mut store, 2, i31.into()).unwrap();
        let x = instance.get_typed_func::<Rooted<StructRef>, i32>(&mut store, "x").unwrap();
        assert_eq!(x.call(&mut store, p).unwrap(), -5);
        let field = p.field(&mut store, 2).unwrap().unwrap_anyref().unwrap();
        assert_eq!(field.as_i31(&store).unwrap().map(|i| i.get_i32()), Some(-7));

        let err = p.set_field(&mut store, 0, Val::I64(1)).unwrap_err();
        assert!(err.to_string().contains("type mismatch"), "{err}");
        let err = p.field(&mut store, 3).unwrap_err();
        assert!(err.to_string().contains("no field 3"), "{err}");
    }
}

#[test]
fn an_owned_root_keeps_its_object_across_a_thousand_collections() {
    for collector in COLLECTORS {
        let (mut store, instance) = points(collector);
        let engine = store.engine().clone();
        let pre = StructRefPre::new(&mut store, point_type(&engine));
        let owned: OwnedRooted<StructRef> = {
            let mut scope = RootScope::new(&mut store);
            let s = StructRef::new(&mut scope, &pre, &[Val::I32(77), Val::I32(1), Val::AnyRef(None)]).unwrap();
            s.to_owned_rooted(&mut scope).unwrap()
        };
        let garbage = instance.get_typed_func::<i32, ()>(&mut store, "garbage").unwrap();
        for _ in 0..1000 {
            garbage.call(&mut store, 20).unwrap();
            store.gc(None).unwrap();
        }
        assert!(store.gc_stats().unwrap().collections >= 1000);
        assert_eq!(owned.field(&mut store, 0).unwrap().unwrap_i32(), 77, "{collector:?}: read after the object moved");
        let rooted = owned.to_rooted(&mut store);
        let x = instance.get_typed_func::<Rooted<StructRef>, i32>(&mut store, "x").unwrap();
        assert_eq!(x.call(&mut store, rooted).unwrap(), 77);
        let x_owned = instance.get_typed_func::<OwnedRooted<StructRef>, i32>(&mut store, "x").unwrap();
        assert_eq!(x_owned.call(&mut store, owned.clone()).unwrap(), 77);

        // Dropping the last clone frees its root (at the next collection).
        let before = store.gc_stats().unwrap().host_roots;
        drop(owned);
        store.gc(None).unwrap();
        assert_eq!(store.gc_stats().unwrap().host_roots, before - 1);
    }
}

#[test]
fn externref_host_data_and_i31_values_round_trip() {
    for collector in COLLECTORS {
        let (mut store, instance) = points(collector);
        let identity = instance.get_typed_func::<Option<Rooted<AnyRef>>, Option<Rooted<AnyRef>>>(&mut store, "identity").unwrap();
        let e = ExternRef::new(&mut store, String::from("host data")).unwrap();
        let any = AnyRef::convert_extern(&mut store, e).unwrap();
        let back = identity.call(&mut store, Some(any)).unwrap().unwrap();
        let e2 = ExternRef::convert_any(&mut store, back).unwrap();
        store.gc(None).unwrap();
        let data = e2.data(&store).unwrap().unwrap();
        assert_eq!(data.downcast_ref::<String>().map(String::as_str), Some("host data"));
        e2.data_mut(&mut store).unwrap().unwrap().downcast_mut::<String>().unwrap().push('!');
        assert_eq!(e.data(&store).unwrap().unwrap().downcast_ref::<String>().map(String::as_str), Some("host data!"));

        for value in [0, 1, -1, (1 << 30) - 1, -(1 << 30)] {
            let i = I31::new_i32(value).unwrap();
            let arg = AnyRef::from_i31(&mut store, i);
            let back = identity.call(&mut store, Some(arg)).unwrap().unwrap();
            assert_eq!(back.unwrap_i31(&store).unwrap().get_i32(), value);
            assert!(back.matches_ty(&store, &HeapType::I31).unwrap());
        }
        assert_eq!(I31::new_i32(1 << 30), None, "out of range for 31 bits");
    }
}

const EXCEPTIONS: &str = r#"(module
    (import "host" "throw" (func $host_throw (param i32)))
    (tag $e (export "e") (param i32 anyref))
    (func (export "uncaught") (param i32) (throw $e (local.get 0) (ref.i31 (i32.const 9))))
    (func (export "catch_host") (param i32) (result i32)
        (block $h (result i32 anyref)
            (try_table (catch $e $h) (call $host_throw (local.get 0)))
            (return (i32.const -1)))
        (drop)))"#;

#[test]
fn exceptions_cross_between_wasm_and_the_host_both_ways() {
    for collector in COLLECTORS {
        let engine = engine(collector);
        let module = Module::new(&engine, EXCEPTIONS).unwrap();
        let mut store = Store::new(&engine, ());
        let mut linker = Linker::new(&engine);
        let tag_slot: std::sync::Arc<std::sync::Mutex<Option<Tag>>> = Default::default();
        let slot = tag_slot.clone();
        linker
            .func_wrap("host", "throw", move |mut caller: Caller<'_, ()>, value: i32| -> Result<()> {
                let tag = slot.lock().unwrap().expect("the tag is known before the call");
                let ty = ExnType::from_tag_type(&tag.ty(&caller))?;
                let pre = ExnRefPre::new(&mut caller, ty);
                let exn = ExnRef::new(&mut caller, &pre, &tag, &[Val::I32(value * 2), Val::AnyRef(None)])?;
                Err(caller.throw::<()>(exn).unwrap_err().into())
            })
            .unwrap();
        let instance = linker.instantiate(&mut store, &module).unwrap();
        let tag = instance.get_export(&mut store, "e").and_then(Extern::into_tag).unwrap();
        *tag_slot.lock().unwrap() = Some(tag);

        let catch_host = instance.get_typed_func::<i32, i32>(&mut store, "catch_host").unwrap();
        assert_eq!(catch_host.call(&mut store, 21).unwrap(), 42, "{collector:?}: Wasm caught the host's exception");
        assert!(!store.has_pending_exception());

        let uncaught = instance.get_typed_func::<i32, ()>(&mut store, "uncaught").unwrap();
        let err = uncaught.call(&mut store, 5).unwrap_err();
        assert!(err.is::<ThrownException>(), "{err:?}");
        let exn = store.take_pending_exception().unwrap();
        store.gc(None).unwrap();
        assert_eq!(exn.tag(&store).unwrap(), tag);
        let fields: Vec<Val> = exn.fields(&mut store).unwrap().collect();
        assert_eq!(fields[0].unwrap_i32(), 5);
        assert_eq!(fields[1].unwrap_anyref().unwrap().unwrap_i31(&store).unwrap().get_i32(), 9);
    }
}

#[test]
fn handles_past_their_scope_or_from_another_store_are_errors() {
    let (mut store, _) = points(Collector::Copying);
    let stale = {
        let mut scope = RootScope::new(&mut store);
        ExternRef::new(&mut scope, 1u32).unwrap()
    };
    // A new handle takes the released root's place: the stale one must
    // not read it.
    let _fresh = ExternRef::new(&mut store, 2u32).unwrap();
    let err = stale.data(&store).unwrap_err();
    assert!(err.to_string().contains("root was released"), "{err}");
    let g = Global::new(&mut store, GlobalType::new(ValType::EXTERNREF, Mutability::Var), Val::ExternRef(None)).unwrap();
    assert!(g.set(&mut store, Val::ExternRef(Some(stale))).is_err());

    let (mut other, _) = points(Collector::Copying);
    let foreign = ExternRef::new(&mut other, 3u32).unwrap();
    let err = foreign.data(&store).unwrap_err();
    assert!(err.to_string().contains("another store") || err.to_string().contains("other than the one"), "{err}");
}

/// Calls an export returning a struct 10^6 times, each in its own
/// `RootScope`: neither the roots nor the heap grow.
#[test]
fn a_root_scope_per_call_keeps_roots_and_heap_bounded() {
    for collector in COLLECTORS {
        let (mut store, instance) = points(collector);
        let make = instance.get_typed_func::<i32, Rooted<StructRef>>(&mut store, "make").unwrap();
        let mut peak_heap = 0;
        for i in 0..1_000_000 {
            let mut scope = RootScope::new(&mut store);
            let p = make.call(&mut scope, i).unwrap();
            if i % 100_000 == 0 {
                assert_eq!(p.field(&mut scope, 0).unwrap().unwrap_i32(), i);
                let stats = scope.as_context_mut().gc_stats().unwrap();
                assert!(stats.host_roots <= 2, "{collector:?}: {} roots after {i} calls", stats.host_roots);
                peak_heap = peak_heap.max(stats.heap_size);
            }
        }
        assert_eq!(store.gc_stats().unwrap().host_roots, 0);
        assert!(peak_heap <= 4 << 20, "{collector:?}: the heap grew to {peak_heap} bytes");
    }
}

const SUBTYPES: &str = r#"(module
    (type $base (sub (struct (field i32))))
    (type $derived (sub $base (struct (field i32) (field i32))))
    (type $f (sub (func)))
    (type $g (sub $f (func)))
    (func $g (export "g") (type $g))
    (func (export "takes_f") (param (ref $f)))
    (func (export "derive") (param (ref null $base)) (result (ref $derived))
        (struct.new $derived (i32.const 1) (i32.const 2)))
    (func (export "base_x") (param (ref $base)) (result i32) (struct.get $base 0 (local.get 0))))"#;

#[test]
fn typed_calls_and_val_matches_use_subtyping() {
    let engine = engine(Collector::Copying);
    let module = Module::new(&engine, SUBTYPES).unwrap();
    let mut store = Store::new(&engine, ());
    let instance = Linker::new(&engine).instantiate(&mut store, &module).unwrap();

    // (ref $derived) is a subtype of (ref struct) and of (ref null eq).
    let derive = instance.get_typed_func::<Option<Rooted<StructRef>>, Rooted<StructRef>>(&mut store, "derive").unwrap();
    instance.get_typed_func::<Option<Rooted<StructRef>>, Option<Rooted<EqRef>>>(&mut store, "derive").unwrap();
    let err = instance.get_typed_func::<Option<Rooted<StructRef>>, Rooted<ArrayRef>>(&mut store, "derive").unwrap_err();
    assert!(format!("{err:#}").contains("results"), "{err:#}");

    // A $derived struct is a $base: Wasm reads it through the supertype.
    let d = derive.call(&mut store, None).unwrap();
    let base_x = instance.get_typed_func::<Rooted<StructRef>, i32>(&mut store, "base_x").unwrap();
    assert_eq!(base_x.call(&mut store, d).unwrap(), 1);
    // A value that is not a $base is refused at the call, by its type.
    let any_x = instance.get_typed_func::<Rooted<AnyRef>, i32>(&mut store, "base_x").unwrap();
    let i31 = AnyRef::from_i31(&mut store, I31::wrapping_i32(1));
    let err = any_x.call(&mut store, i31).unwrap_err();
    assert!(err.to_string().contains("type mismatch"), "{err}");

    // Val::matches: a function of type $g is a (ref $f).
    let g = instance.get_func(&mut store, "g").unwrap();
    let takes_f = instance.get_func(&mut store, "takes_f").unwrap();
    let ref_f = takes_f.ty(&store).params()[0];
    assert!(Val::FuncRef(Some(g)).matches(&store, &ref_f).unwrap());
    takes_f.call(&mut store, &[Val::FuncRef(Some(g))], &mut []).unwrap();
    assert!(!Val::FuncRef(None).matches(&store, &ref_f).unwrap(), "(ref $f) is not nullable");
}

/// An exception thrown by Wasm, uncaught inside a host function's call
/// back into Wasm, propagates through the host function (`?`) to the outer
/// Wasm frames, whose handler catches it with its payload.
#[test]
fn an_exception_crosses_a_host_function_between_two_wasm_activations() {
    for collector in COLLECTORS {
        let engine = engine(collector);
        let module = Module::new(
            &engine,
            r#"(module
                (import "host" "reenter" (func $reenter))
                (tag $e (param i32))
                (func (export "boom") (throw $e (i32.const 77)))
                (func (export "outer") (result i32)
                    (block $h (result i32)
                        (try_table (catch $e $h) (call $reenter))
                        (i32.const -1))))"#,
        )
        .unwrap();
        let mut store = Store::new(&engine, ());
        let mut linker = Linker::new(&engine);
        linker
            .func_wrap("host", "reenter", |mut caller: Caller<'_, ()>| -> Result<()> {
                let boom = caller.get_export("boom").and_then(Extern::into_func).unwrap();
                boom.call(&mut caller, &[], &mut [])
            })
            .unwrap();
        let instance = linker.instantiate(&mut store, &module).unwrap();
        let outer = instance.get_typed_func::<(), i32>(&mut store, "outer").unwrap();
        assert_eq!(outer.call(&mut store, ()).unwrap(), 77, "{collector:?}");
        assert!(!store.has_pending_exception());
    }
}
