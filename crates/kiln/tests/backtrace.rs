//! Wasm backtraces attached to traps: one frame per active Wasm function,
//! innermost first, with function indices, names from the name section and
//! the module offset of the instruction each frame is executing.
//! Small functions are inlined into their callers (the default), which
//! must not show: an inlined function keeps its own frame.

use kiln::*;
use std::ops::Range;

/// Reads an unsigned LEB128 number at `*pos`, advancing past it.
fn leb_u32(bytes: &[u8], pos: &mut usize) -> u32 {
    let mut result = 0u32;
    let mut shift = 0;
    loop {
        let byte = bytes[*pos];
        *pos += 1;
        result |= u32::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return result;
        }
        shift += 7;
    }
}

/// The byte range of each defined function's body (locals and code) in a
/// module binary, in definition order.
fn function_bodies(wasm: &[u8]) -> Vec<Range<usize>> {
    let mut pos = 8;
    while pos < wasm.len() {
        let id = wasm[pos];
        pos += 1;
        let size = leb_u32(wasm, &mut pos) as usize;
        let end = pos + size;
        if id == 10 {
            let count = leb_u32(wasm, &mut pos);
            return (0..count)
                .map(|_| {
                    let len = leb_u32(wasm, &mut pos) as usize;
                    let body = pos..pos + len;
                    pos += len;
                    body
                })
                .collect();
        }
        pos = end;
    }
    panic!("no code section")
}

const OP_UNREACHABLE: u8 = 0x00;
const OP_CALL: u8 = 0x10;
const OP_I32_DIV_U: u8 = 0x6e;
const OP_CALL_INDIRECT: u8 = 0x11;

/// Function 0 is an import, so defined functions start at index 1. The
/// functions are defined outermost first: the deeper the frame, the larger
/// its module offset.
const CHAIN: &str = r#"(module $chain
    (import "host" "nop" (func $nop))
    (func $outer (export "run") (param i32) (result i32)
        local.get 0
        call $middle)
    (func $middle (param i32) (result i32)
        call $nop
        local.get 0
        i32.const 1
        i32.add
        call $inner)
    (func $inner (param i32) (result i32)
        local.get 0
        drop
        unreachable))"#;

struct Trapped {
    wasm: Vec<u8>,
    err: Error,
}

fn run_chain(wat: &str) -> Trapped {
    run_chain_with(wat, &Config::new())
}

fn run_chain_with(wat: &str, config: &Config) -> Trapped {
    let wasm = wat::parse_str(wat).unwrap();
    let engine = Engine::new(config).unwrap();
    let module = Module::new(&engine, &wasm).unwrap();
    let mut store = Store::new(&engine, ());
    let mut linker = Linker::new(&engine);
    linker.func_wrap("host", "nop", || {}).unwrap();
    let instance = linker.instantiate(&mut store, &module).unwrap();
    let run = instance.get_typed_func::<i32, i32>(&mut store, "run").unwrap();
    let err = run.call(&mut store, 5).unwrap_err();
    Trapped { wasm, err }
}

fn frames(err: &Error) -> &[FrameInfo] {
    err.downcast_ref::<WasmBacktrace>().unwrap_or_else(|| panic!("no backtrace attached: {err:?}")).frames()
}

#[test]
fn a_trap_deep_in_a_call_chain_still_reports_the_trap() {
    let Trapped { err, .. } = run_chain(CHAIN);
    assert_eq!(err.downcast_ref::<Trap>(), Some(&Trap::UnreachableCodeReached), "{err:?}");
}

#[test]
fn backtrace_lists_function_indices_innermost_first() {
    let Trapped { err, .. } = run_chain(CHAIN);
    let indices: Vec<u32> = frames(&err).iter().map(|f| f.func_index()).collect();
    assert_eq!(indices, [3, 2, 1], "{err:?}");
}

#[test]
fn backtrace_names_functions_from_the_name_section() {
    let Trapped { err, .. } = run_chain(CHAIN);
    let names: Vec<Option<&str>> = frames(&err).iter().map(|f| f.func_name()).collect();
    assert_eq!(names, [Some("inner"), Some("middle"), Some("outer")], "{err:?}");
}

#[test]
fn backtrace_frames_carry_the_module_name() {
    let Trapped { err, .. } = run_chain(CHAIN);
    for frame in frames(&err) {
        assert_eq!(frame.module_name(), Some("chain"), "{frame:?}");
    }
}

#[test]
fn backtrace_module_offsets_lie_inside_each_frames_function() {
    let Trapped { wasm, err } = run_chain(CHAIN);
    let bodies = function_bodies(&wasm);
    for frame in frames(&err) {
        let offset = frame.module_offset().unwrap_or_else(|| panic!("no module offset: {frame:?}")) as usize;
        let body = &bodies[frame.func_index() as usize - 1];
        assert!(body.contains(&offset), "{frame:?} offset {offset:#x} is outside its function body {body:x?}");
    }
}

#[test]
fn backtrace_module_offsets_increase_from_outer_to_inner_frame() {
    let Trapped { err, .. } = run_chain(CHAIN);
    let offsets: Vec<u32> = frames(&err).iter().map(|f| f.module_offset().expect("module offset")).collect();
    assert!(offsets.windows(2).all(|w| w[0] > w[1]), "innermost-first offsets should decrease: {offsets:x?}");
}

#[test]
fn innermost_frame_offset_points_at_the_trapping_instruction() {
    let Trapped { wasm, err } = run_chain(CHAIN);
    let offset = frames(&err)[0].module_offset().unwrap() as usize;
    assert_eq!(wasm[offset], OP_UNREACHABLE, "byte at {offset:#x} is not `unreachable`");
}

#[test]
fn caller_frame_offsets_point_at_the_call_to_the_next_frame() {
    let Trapped { wasm, err } = run_chain(CHAIN);
    let frames = frames(&err);
    for pair in frames.windows(2) {
        let (callee, caller) = (&pair[0], &pair[1]);
        let mut pos = caller.module_offset().unwrap() as usize;
        assert_eq!(wasm[pos], OP_CALL, "{caller:?}: byte at {pos:#x} is not `call`");
        pos += 1;
        assert_eq!(leb_u32(&wasm, &mut pos), callee.func_index(), "{caller:?} does not point at its call of {callee:?}");
    }
}

#[test]
fn backtrace_display_names_the_functions() {
    let Trapped { err, .. } = run_chain(CHAIN);
    let text = format!("{err:?}");
    for name in ["inner", "middle", "outer"] {
        assert!(text.contains(name), "`{name}` missing from {text}");
    }
}

#[test]
fn functions_without_names_are_reported_by_index() {
    let engine = Engine::default();
    let module = Module::new(
        &engine,
        r#"(module
            (func (export "run") call 1)
            (func unreachable))"#,
    )
    .unwrap();
    let mut store = Store::new(&engine, ());
    let instance = Linker::new(&engine).instantiate(&mut store, &module).unwrap();
    let err = instance.get_typed_func::<(), ()>(&mut store, "run").unwrap().call(&mut store, ()).unwrap_err();
    let frames = frames(&err);
    assert_eq!(frames.iter().map(|f| (f.func_index(), f.func_name())).collect::<Vec<_>>(), [(1, None), (0, None)]);
    assert!(format!("{err:?}").contains("<wasm function 1>"), "{err:?}");
}

#[test]
fn backtrace_goes_through_call_indirect() {
    let wat = r#"(module
        (type $t (func (param i32) (result i32)))
        (table funcref (elem $div))
        (func $div (param i32) (result i32) (i32.div_u (i32.const 1) (local.get 0)))
        (func $dispatch (export "run") (param i32) (result i32)
            (call_indirect (type $t) (local.get 0) (i32.const 0))))"#;
    let wasm = wat::parse_str(wat).unwrap();
    let engine = Engine::default();
    let module = Module::new(&engine, &wasm).unwrap();
    let mut store = Store::new(&engine, ());
    let instance = Linker::new(&engine).instantiate(&mut store, &module).unwrap();
    let err = instance.get_typed_func::<i32, i32>(&mut store, "run").unwrap().call(&mut store, 0).unwrap_err();
    assert_eq!(err.downcast_ref::<Trap>(), Some(&Trap::IntegerDivisionByZero));
    let frames = frames(&err);
    let names: Vec<_> = frames.iter().map(|f| f.func_name()).collect();
    assert_eq!(names, [Some("div"), Some("dispatch")]);
    let caller_offset = frames[1].module_offset().unwrap() as usize;
    assert_eq!(wasm[caller_offset], OP_CALL_INDIRECT, "byte at {caller_offset:#x} is not `call_indirect`");
}

#[test]
fn stack_overflow_backtrace_keeps_the_innermost_recursive_frames() {
    let engine = Engine::default();
    let module = Module::new(&engine, r#"(module (func $recurse (export "run") call $recurse))"#).unwrap();
    let mut store = Store::new(&engine, ());
    let instance = Linker::new(&engine).instantiate(&mut store, &module).unwrap();
    let err = instance.get_typed_func::<(), ()>(&mut store, "run").unwrap().call(&mut store, ()).unwrap_err();
    assert_eq!(err.downcast_ref::<Trap>(), Some(&Trap::StackOverflow));
    let frames = frames(&err);
    assert!(frames.len() > 100, "only {} frames", frames.len());
    assert!(frames.iter().all(|f| f.func_name() == Some("recurse")), "{frames:?}");
}

#[test]
fn successive_traps_get_their_own_backtraces() {
    let engine = Engine::default();
    let module = Module::new(
        &engine,
        r#"(module
            (func $a (export "a") call $trap_a)
            (func $trap_a unreachable)
            (func $b (export "b") call $mid_b)
            (func $mid_b call $trap_b)
            (func $trap_b unreachable))"#,
    )
    .unwrap();
    let mut store = Store::new(&engine, ());
    let instance = Linker::new(&engine).instantiate(&mut store, &module).unwrap();
    let a = instance.get_typed_func::<(), ()>(&mut store, "a").unwrap();
    let b = instance.get_typed_func::<(), ()>(&mut store, "b").unwrap();
    let names = |err: &Error| frames(err).iter().map(|f| f.func_name().unwrap().to_string()).collect::<Vec<_>>();
    assert_eq!(names(&a.call(&mut store, ()).unwrap_err()), ["trap_a", "a"]);
    assert_eq!(names(&b.call(&mut store, ()).unwrap_err()), ["trap_b", "mid_b", "b"]);
    assert_eq!(names(&a.call(&mut store, ()).unwrap_err()), ["trap_a", "a"]);
}

/// Runs export `run` of `wat` under `config` and returns the byte at the
/// innermost frame's module offset.
fn opcode_at_trap(config: &Config, wat: &str) -> u8 {
    let wasm = wat::parse_str(wat).unwrap();
    let engine = Engine::new(config).unwrap();
    let module = Module::new(&engine, &wasm).unwrap();
    let mut store = Store::new(&engine, ());
    let instance = Linker::new(&engine).instantiate(&mut store, &module).unwrap();
    let err = instance.get_typed_func::<(), ()>(&mut store, "run").unwrap().call(&mut store, ()).unwrap_err();
    let offset = frames(&err)[0].module_offset().unwrap_or_else(|| panic!("no offset: {err:?}")) as usize;
    assert!(function_bodies(&wasm)[0].contains(&offset));
    wasm[offset]
}

const OOB_LOAD: &str = r#"(module (memory 1)
    (func (export "run") (drop (i64.add (i64.const 1) (i64.load offset=8 (i32.const 65530))))))"#;
const OP_I64_LOAD: u8 = 0x29;

#[test]
fn guard_page_fault_offset_points_at_the_load() {
    assert_eq!(opcode_at_trap(Config::new().bounds_checks(BoundsChecks::GuardPages), OOB_LOAD), OP_I64_LOAD);
}

#[test]
fn explicit_bounds_check_offset_points_at_the_load() {
    assert_eq!(opcode_at_trap(Config::new().bounds_checks(BoundsChecks::Explicit), OOB_LOAD), OP_I64_LOAD);
}

#[test]
fn division_by_zero_offset_points_at_the_division() {
    let wat = r#"(module (global $zero (mut i32) (i32.const 0))
        (func (export "run") (drop (i32.div_u (i32.const 7) (global.get $zero)))))"#;
    assert_eq!(opcode_at_trap(&Config::new(), wat), OP_I32_DIV_U);
}

/// `run` calls the host, which calls back into `boom`, which traps: the
/// trap crosses the host frame and a second activation.
fn trap_in_nested_activation() -> Error {
    let engine = Engine::default();
    let module = Module::new(
        &engine,
        r#"(module
            (import "host" "reenter" (func $reenter))
            (func $run (export "run") call $reenter)
            (func $boom (export "boom") call $deepest)
            (func $deepest unreachable))"#,
    )
    .unwrap();
    let mut store = Store::new(&engine, ());
    let mut linker = Linker::new(&engine);
    linker
        .func_wrap("host", "reenter", |mut caller: Caller<'_, ()>| -> Result<()> {
            let boom = caller.get_export("boom").unwrap().into_func().unwrap();
            boom.call(&mut caller, &[], &mut [])
        })
        .unwrap();
    let instance = linker.instantiate(&mut store, &module).unwrap();
    instance.get_typed_func::<(), ()>(&mut store, "run").unwrap().call(&mut store, ()).unwrap_err()
}

#[test]
fn trap_in_a_nested_activation_keeps_its_trap_code() {
    let err = trap_in_nested_activation();
    assert_eq!(err.downcast_ref::<Trap>(), Some(&Trap::UnreachableCodeReached), "{err:?}");
}

#[test]
fn trap_in_a_nested_activation_backtrace_starts_at_the_trapping_function() {
    let err = trap_in_nested_activation();
    let names: Vec<_> = frames(&err).iter().map(|f| f.func_name()).collect();
    assert_eq!(names.first(), Some(&Some("deepest")), "{err:?}");
    assert!(names.starts_with(&[Some("deepest"), Some("boom")]), "{names:?}");
}

#[test]
fn backtrace_spans_instances_of_different_modules() {
    let lib_wasm = wat::parse_str(
        r#"(module $lib
            (func $unused)
            (func $lib_fail (export "fail") (param i32) (result i32) (i32.rem_u (i32.const 1) (local.get 0))))"#,
    )
    .unwrap();
    let app_wasm = wat::parse_str(
        r#"(module $app
            (import "lib" "fail" (func $imported_fail (param i32) (result i32)))
            (func $app_main (export "main") (result i32) (call $imported_fail (i32.const 0))))"#,
    )
    .unwrap();
    let engine = Engine::default();
    let mut store = Store::new(&engine, ());
    let mut linker = Linker::new(&engine);
    let lib = linker.instantiate(&mut store, &Module::new(&engine, &lib_wasm).unwrap()).unwrap();
    linker.instance(&mut store, "lib", lib).unwrap();
    let app = linker.instantiate(&mut store, &Module::new(&engine, &app_wasm).unwrap()).unwrap();
    let err = app.get_typed_func::<(), i32>(&mut store, "main").unwrap().call(&mut store, ()).unwrap_err();
    assert_eq!(err.downcast_ref::<Trap>(), Some(&Trap::IntegerDivisionByZero));
    let frames = frames(&err);
    let summary: Vec<_> = frames.iter().map(|f| (f.module_name(), f.func_index(), f.func_name())).collect();
    assert_eq!(summary, [(Some("lib"), 1, Some("lib_fail")), (Some("app"), 1, Some("app_main"))]);
    // Each offset is in its own module's binary.
    let lib_offset = frames[0].module_offset().unwrap() as usize;
    assert!(function_bodies(&lib_wasm)[1].contains(&lib_offset));
    let app_offset = frames[1].module_offset().unwrap() as usize;
    assert!(function_bodies(&app_wasm)[0].contains(&app_offset));
    assert_eq!(app_wasm[app_offset], OP_CALL);
}

#[test]
fn recursion_shows_as_one_line_per_run_of_identical_frames() {
    let wat = r#"(module
        (func $f (export "f") (param i32) (result i32)
            (if (result i32) (local.get 0)
                (then (call $f (i32.sub (local.get 0) (i32.const 1))))
                (else (unreachable)))))"#;
    let engine = Engine::default();
    let module = Module::new(&engine, wat).unwrap();
    let mut store = Store::new(&engine, ());
    let instance = Instance::new(&mut store, &module, &[]).unwrap();
    let f = instance.get_typed_func::<i32, i32>(&mut store, "f").unwrap();
    let err = f.call(&mut store, 1000).unwrap_err();
    let bt = err.downcast_ref::<WasmBacktrace>().unwrap();
    assert_eq!(bt.frames().len(), 1001);
    let text = bt.to_string();
    let lines: Vec<&str> = text.lines().collect();
    // The trapping frame, then the 1000 calls, all at the same offset.
    assert_eq!(lines.len(), 3, "{text}");
    assert!(lines[1].starts_with("    0: ") && !lines[1].contains('×'), "{text}");
    assert!(lines[2].starts_with("    1: ") && lines[2].ends_with(" - f × 1000"), "{text}");
}

#[test]
fn inlining_does_not_change_the_frames() {
    // In `CHAIN` the leaf `$inner` is inlined into `$middle`, and that
    // body into `$outer` (two levels): the trap's one code offset stands
    // for three frames, each at its own module offset.
    let frames_with = |inlining: bool| {
        let Trapped { err, .. } = run_chain_with(CHAIN, Config::new().compiler_inlining(inlining));
        assert_eq!(err.downcast_ref::<Trap>(), Some(&Trap::UnreachableCodeReached));
        frames(&err).to_vec()
    };
    let inlined = frames_with(true);
    let names: Vec<_> = inlined.iter().map(|f| f.func_name().unwrap()).collect();
    assert_eq!(names, ["inner", "middle", "outer"]);
    assert_eq!(inlined, frames_with(false));
}

#[test]
fn a_trap_inside_an_inlined_function_has_its_frame_and_offset() {
    let wat = r#"(module
        (func $check (param i32) (result i32)
            (i32.div_u (i32.const 20) (local.get 0)))
        (func $run (export "run") (param i32) (result i32)
            (i32.add (call $check (local.get 0)) (i32.const 1))))"#;
    let wasm = wat::parse_str(wat).unwrap();
    let frames_with = |inlining: bool| {
        let engine = Engine::new(Config::new().compiler_inlining(inlining)).unwrap();
        let module = Module::new(&engine, &wasm).unwrap();
        let mut store = Store::new(&engine, ());
        let instance = Instance::new(&mut store, &module, &[]).unwrap();
        let run = instance.get_typed_func::<i32, i32>(&mut store, "run").unwrap();
        assert_eq!(run.call(&mut store, 4).unwrap(), 6);
        frames(&run.call(&mut store, 0).unwrap_err()).to_vec()
    };
    let inlined = frames_with(true);
    let names: Vec<_> = inlined.iter().map(|f| f.func_name().unwrap()).collect();
    assert_eq!(names, ["check", "run"]);
    let trap_at = inlined[0].module_offset().unwrap() as usize;
    assert_eq!(wasm[trap_at], OP_I32_DIV_U);
    let call_at = inlined[1].module_offset().unwrap() as usize;
    assert_eq!(wasm[call_at], OP_CALL);
    assert_eq!(inlined, frames_with(false));
}

#[test]
fn a_recursive_function_inlined_into_itself_keeps_one_frame_per_call() {
    // `$down` is small, so its recursive call is inlined into its own
    // body (one level): a trap five calls deep must still show five
    // `$down` frames, each at its own offset, as without inlining.
    let wat = r#"(module
        (func $down (param i32) (result i32)
            (if (i32.eqz (local.get 0)) (then unreachable))
            (i32.add (call $down (i32.sub (local.get 0) (i32.const 1))) (i32.const 1)))
        (func $run (export "run") (param i32) (result i32)
            (call $down (local.get 0))))"#;
    let frames_with = |inlining: bool| {
        let Trapped { err, .. } = run_chain_with(wat, Config::new().compiler_inlining(inlining));
        assert_eq!(err.downcast_ref::<Trap>(), Some(&Trap::UnreachableCodeReached));
        frames(&err).to_vec()
    };
    let inlined = frames_with(true);
    let names: Vec<_> = inlined.iter().map(|f| f.func_name().unwrap()).collect();
    assert_eq!(names, ["down", "down", "down", "down", "down", "down", "run"]);
    assert_eq!(inlined, frames_with(false));
}
