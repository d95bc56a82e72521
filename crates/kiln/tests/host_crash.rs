//! Kiln's signal handler only turns faults of Wasm code into traps: a crash
//! in host code still kills the process, even when Wasm is on the stack.
//!
//! Each test re-runs this test binary on itself (just that test, with
//! `KILN_HOST_CRASH_CHILD` set). In the child the test crashes on purpose;
//! the parent checks the child died of the expected signal after reaching
//! the crash.

use kiln::*;
use std::os::unix::process::ExitStatusExt;
use std::process::Command;

const CHILD_ENV: &str = "KILN_HOST_CRASH_CHILD";
const SIGILL: i32 = 4;
const SIGSEGV: i32 = 11;
const ABOUT_TO_CRASH: &str = "child: about to crash";
const SURVIVED: &str = "child: survived the crash";

/// Whether this process is the child run of test `name`.
fn is_child(name: &str) -> bool {
    std::env::var(CHILD_ENV).is_ok_and(|v| v == name)
}

/// Runs test `name` of this binary in a child process and asserts it was
/// killed by `signal` after printing `ABOUT_TO_CRASH`. Returns its stderr.
fn assert_child_killed_by(name: &str, signal: i32) -> String {
    let exe = std::env::current_exe().unwrap();
    // Through a shell only to disable core dumps; `exec` keeps the status.
    let output = Command::new("sh")
        .arg("-c")
        .arg(r#"ulimit -c 0; exec "$0" "$@""#)
        .arg(exe)
        .args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, name)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let report = format!("status: {:?}\n--- stdout\n{stdout}\n--- stderr\n{stderr}", output.status);
    assert!(stdout.contains(ABOUT_TO_CRASH), "the child did not reach the crash\n{report}");
    assert!(!stdout.contains(SURVIVED), "the crash was swallowed\n{report}");
    assert_eq!(output.status.signal(), Some(signal), "the child was not killed by signal {signal}\n{report}");
    stderr.into_owned()
}

fn announce_crash() {
    use std::io::Write;
    println!("{ABOUT_TO_CRASH}");
    std::io::stdout().flush().unwrap();
}

fn announce_survival() {
    println!("{SURVIVED}");
}

/// Calls Wasm `run`, which calls host function `crash` through two Wasm
/// frames; `crash` runs `f`.
fn wasm_calls_host(config: &Config, f: impl Fn(&mut Caller<'_, ()>) + Send + Sync + 'static) {
    let engine = Engine::new(config).unwrap();
    let module = Module::new(
        &engine,
        r#"(module
            (import "host" "crash" (func $crash))
            (memory (export "mem") 1)
            (func (export "run") call $middle)
            (func $middle call $crash))"#,
    )
    .unwrap();
    let mut store = Store::new(&engine, ());
    let mut linker = Linker::new(&engine);
    linker.func_wrap("host", "crash", move |mut caller: Caller<'_, ()>| f(&mut caller)).unwrap();
    let instance = linker.instantiate(&mut store, &module).unwrap();
    let run = instance.get_typed_func::<(), ()>(&mut store, "run").unwrap();
    let result = run.call(&mut store, ());
    println!("call returned {result:?}");
}

fn write_through_null() {
    announce_crash();
    // SAFETY: not safe at all: this is the crash under test.
    unsafe { std::ptr::null_mut::<u32>().write_volatile(1) };
    announce_survival();
}

#[test]
fn segfault_in_a_host_function_called_from_wasm_kills_the_process() {
    const NAME: &str = "segfault_in_a_host_function_called_from_wasm_kills_the_process";
    if is_child(NAME) {
        wasm_calls_host(&Config::new(), |_| write_through_null());
        return;
    }
    assert_child_killed_by(NAME, SIGSEGV);
}

#[test]
fn segfault_in_a_host_function_kills_the_process_with_explicit_bounds_checks() {
    const NAME: &str = "segfault_in_a_host_function_kills_the_process_with_explicit_bounds_checks";
    if is_child(NAME) {
        wasm_calls_host(Config::new().bounds_checks(BoundsChecks::Explicit), |_| write_through_null());
        return;
    }
    assert_child_killed_by(NAME, SIGSEGV);
}

#[test]
fn segfault_in_host_code_after_wasm_has_run_kills_the_process() {
    const NAME: &str = "segfault_in_host_code_after_wasm_has_run_kills_the_process";
    if is_child(NAME) {
        // Run Wasm that traps, so the handler is installed and has been
        // used, then crash with no Wasm on the stack.
        let engine = Engine::default();
        let module = Module::new(&engine, r#"(module (func (export "t") unreachable))"#).unwrap();
        let mut store = Store::new(&engine, ());
        let instance = Linker::new(&engine).instantiate(&mut store, &module).unwrap();
        instance.get_typed_func::<(), ()>(&mut store, "t").unwrap().call(&mut store, ()).unwrap_err();
        write_through_null();
        return;
    }
    assert_child_killed_by(NAME, SIGSEGV);
}

/// The faulting address is in a Wasm memory's guard region, exactly where
/// a Wasm out-of-bounds access would fault, but the faulting instruction is
/// host code: that is a host bug, not a trap.
#[test]
fn host_access_to_a_wasm_memory_guard_region_kills_the_process() {
    const NAME: &str = "host_access_to_a_wasm_memory_guard_region_kills_the_process";
    if is_child(NAME) {
        wasm_calls_host(Config::new().bounds_checks(BoundsChecks::GuardPages), |caller| {
            let mem = caller.get_export("mem").unwrap().into_memory().unwrap();
            let data = mem.data(&*caller);
            let past_the_end = data.as_ptr().wrapping_add(data.len() + 4096);
            announce_crash();
            // SAFETY: not safe: reads the guard region on purpose.
            let byte = unsafe { past_the_end.read_volatile() };
            println!("read {byte}");
            announce_survival();
        });
        return;
    }
    assert_child_killed_by(NAME, SIGSEGV);
}

#[cfg(target_arch = "x86_64")]
#[test]
fn illegal_instruction_in_a_host_function_kills_the_process() {
    const NAME: &str = "illegal_instruction_in_a_host_function_kills_the_process";
    if is_child(NAME) {
        wasm_calls_host(&Config::new(), |_| {
            announce_crash();
            // SAFETY: not safe: raises SIGILL on purpose (the same
            // instruction Cranelift uses for its traps).
            unsafe { std::arch::asm!("ud2") };
            announce_survival();
        });
        return;
    }
    assert_child_killed_by(NAME, SIGILL);
}

#[test]
fn segfault_in_a_host_function_on_a_spawned_thread_kills_the_process() {
    const NAME: &str = "segfault_in_a_host_function_on_a_spawned_thread_kills_the_process";
    if is_child(NAME) {
        std::thread::spawn(|| wasm_calls_host(&Config::new(), |_| write_through_null())).join().unwrap();
        return;
    }
    assert_child_killed_by(NAME, SIGSEGV);
}

/// Unbounded recursion in host code (not Wasm) is the host's own stack
/// overflow: Rust's handler reports it and aborts, as without Kiln.
#[test]
fn stack_overflow_in_a_host_function_is_reported_by_rust_and_aborts() {
    const NAME: &str = "stack_overflow_in_a_host_function_is_reported_by_rust_and_aborts";
    const SIGABRT: i32 = 6;
    fn recurse(n: u64) -> u64 {
        let buf = std::hint::black_box([n; 64]);
        if std::hint::black_box(true) { recurse(n + 1) + buf[0] } else { 0 }
    }
    if is_child(NAME) {
        wasm_calls_host(&Config::new(), |_| {
            announce_crash();
            println!("{}", recurse(0));
            announce_survival();
        });
        return;
    }
    let stderr = assert_child_killed_by(NAME, SIGABRT);
    assert!(stderr.contains("has overflowed its stack"), "{stderr}");
}
