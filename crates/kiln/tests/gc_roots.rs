//! Stack maps: the GC references compiled code keeps live across a call
//! are found by walking the suspended Wasm frames, which is what a
//! collection uses as stack roots.

use kiln::*;
use std::sync::{Arc, Mutex};

/// What one probe saw: the roots' kinds, read while the handles are live
/// (they belong to the host call and are released when it returns).
#[derive(Debug, Default)]
struct Roots {
    structs: usize,
    arrays: usize,
    i31s: Vec<u32>,
}

type Seen = Arc<Mutex<Vec<Roots>>>;

fn linker_recording_roots(engine: &Engine, seen: &Seen) -> Linker<()> {
    let mut linker = Linker::new(engine);
    let seen = seen.clone();
    linker
        .func_wrap("host", "probe", move |mut caller: Caller<'_, ()>| {
            let roots = caller.stack_gc_roots().unwrap();
            let summary = Roots {
                structs: roots.iter().filter(|r| r.is_struct(&caller).unwrap()).count(),
                arrays: roots.iter().filter(|r| r.is_array(&caller).unwrap()).count(),
                i31s: roots.iter().filter_map(|r| r.as_i31(&caller).unwrap()).map(|i| i.get_u32()).collect(),
            };
            seen.lock().unwrap().push(summary);
        })
        .unwrap();
    linker
}

#[test]
fn a_struct_live_across_a_call_is_a_stack_root() {
    let engine = Engine::default();
    let seen: Seen = Arc::default();
    let linker = linker_recording_roots(&engine, &seen);
    let module = Module::new(
        &engine,
        r#"(module
            (type $point (struct (field i32) (field i32)))
            (import "host" "probe" (func $probe))
            (func (export "run") (result i32)
                (local $p (ref null $point))
                (local.set $p (struct.new $point (i32.const 40) (i32.const 2)))
                (call $probe)
                (i32.add (struct.get $point 0 (local.get $p)) (struct.get $point 1 (local.get $p)))))"#,
    )
    .unwrap();
    let mut store = Store::new(&engine, ());
    let instance = linker.instantiate(&mut store, &module).unwrap();
    let run = instance.get_typed_func::<(), i32>(&mut store, "run").unwrap();
    assert_eq!(run.call(&mut store, ()).unwrap(), 42);
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].structs, 1, "the struct held in a local across the call: {:?}", seen[0]);
}

#[test]
fn a_reference_dead_before_the_call_is_not_a_root() {
    let engine = Engine::default();
    let seen: Seen = Arc::default();
    let linker = linker_recording_roots(&engine, &seen);
    let module = Module::new(
        &engine,
        r#"(module
            (type $box (struct (field i32)))
            (import "host" "probe" (func $probe))
            (func (export "run") (result i32)
                (struct.get $box 0 (struct.new $box (i32.const 7)))
                (call $probe)))"#,
    )
    .unwrap();
    let mut store = Store::new(&engine, ());
    let instance = linker.instantiate(&mut store, &module).unwrap();
    let run = instance.get_typed_func::<(), i32>(&mut store, "run").unwrap();
    assert_eq!(run.call(&mut store, ()).unwrap(), 7);
    assert_eq!(seen.lock().unwrap()[0].structs, 0);
}

#[test]
fn roots_are_found_in_every_frame_and_every_activation() {
    // run (holds $a) -> middle (holds an array and an i31) -> host
    // -> reenter (holds $b) -> probe: every reference must be seen.
    let engine = Engine::default();
    let seen: Seen = Arc::default();
    let mut linker = linker_recording_roots(&engine, &seen);
    linker
        .func_wrap("host", "reenter", |mut caller: Caller<'_, ()>| {
            let f = caller.get_export("inner").unwrap().into_func().unwrap();
            f.call(&mut caller, &[], &mut []).unwrap();
        })
        .unwrap();
    let module = Module::new(
        &engine,
        r#"(module
            (type $s (struct (field i32)))
            (type $a (array i8))
            (import "host" "probe" (func $probe))
            (import "host" "reenter" (func $reenter))
            (func (export "inner")
                (local $b (ref null $s))
                (local.set $b (struct.new $s (i32.const 2)))
                (call $probe)
                (drop (struct.get $s 0 (local.get $b))))
            (func $middle (result i32)
                (local $arr (ref null $a)) (local $i (ref null i31))
                (local.set $arr (array.new_default $a (i32.const 3)))
                (local.set $i (ref.i31 (i32.const 5)))
                (call $reenter)
                (i32.add (array.len (local.get $arr)) (i31.get_u (local.get $i))))
            (func (export "run") (result i32)
                (local $a (ref null $s))
                (local.set $a (struct.new $s (i32.const 1)))
                (i32.add (call $middle) (struct.get $s 0 (local.get $a)))))"#,
    )
    .unwrap();
    let mut store = Store::new(&engine, ());
    let instance = linker.instantiate(&mut store, &module).unwrap();
    let run = instance.get_typed_func::<(), i32>(&mut store, "run").unwrap();
    assert_eq!(run.call(&mut store, ()).unwrap(), 9);
    let seen = seen.lock().unwrap();
    let roots = &seen[0];
    assert_eq!(roots.structs, 2, "{roots:?}");
    assert_eq!(roots.arrays, 1, "{roots:?}");
    assert!(roots.i31s.contains(&5), "{roots:?}");
}
