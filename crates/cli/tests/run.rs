//! `kiln run` as a user runs it: the built binary, WASI command programs
//! from kiln-wasi's test suite, and checks of exit status, stdout, stderr
//! and the files left behind.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn program(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../wasi/tests/programs")
        .join(name);
    path.to_str().unwrap().to_string()
}

fn example(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples")
        .join(name);
    path.to_str().unwrap().to_string()
}

fn kiln(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args(args)
        .env_remove("RUST_BACKTRACE")
        .env_remove("RUST_LOG")
        // Never the user's own module cache.
        .env("XDG_CACHE_HOME", std::env::temp_dir().join("kiln-cli-tests-cache"))
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).unwrap()
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn command_output_and_success() {
    let out = kiln(&["run", &program("hello.wat")]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(text(&out.stdout), "hello, world\n");
    assert_eq!(text(&out.stderr), "");
}

#[test]
fn proc_exit_code_is_the_process_status() {
    let out = kiln(&["run", &program("exit.wat")]);
    assert_eq!(out.status.code(), Some(42));
    assert_eq!(text(&out.stdout), "before\n");
    assert_eq!(text(&out.stderr), "");
}

#[test]
fn a_trap_prints_the_error_and_exits_134() {
    let out = kiln(&["run", &program("trap.wat")]);
    assert_eq!(out.status.code(), Some(134));
    assert_eq!(text(&out.stdout), "about to trap\n");
    let stderr = text(&out.stderr);
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert!(stderr.contains("unreachable"), "{stderr}");
}

#[test]
fn args_and_env_flags() {
    let out = Command::new(env!("CARGO_BIN_EXE_kiln"))
        .env("XDG_CACHE_HOME", std::env::temp_dir().join("kiln-cli-tests-cache"))
        .args([
            "run",
            "--env",
            "FOO=bar",
            "--env",
            "KILN_TEST_INHERITED",
            "--env",
            "KILN_TEST_UNSET",
        ])
        .args([&program("args_env.wat"), "one", "--two", "3"])
        .env("KILN_TEST_INHERITED", "from host")
        .env_remove("KILN_TEST_UNSET")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "argc 4\nargv_buf_size 25\narg args_env.wat\narg one\narg --two\narg 3\n\
         envc 2\nenviron_buf_size 38\nenv FOO=bar\nenv KILN_TEST_INHERITED=from host\n"
    );
}

#[test]
fn dir_flag_names_preopens() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let guest_a = format!("{}::/data", path(a.path()));
    let out = kiln(&[
        "run",
        "--dir",
        &guest_a,
        "--dir",
        path(b.path()),
        &program("prestat.wat"),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let expected = format!(
        "preopen 3 /data\npreopen 4 {}\nend 8\nstdin_prestat 8\nname_too_long 37\nfdstat 0\nfiletype 3\n",
        path(b.path())
    );
    assert_eq!(text(&out.stdout), expected);
}

#[test]
fn files_through_a_preopen() {
    let dir = tempfile::tempdir().unwrap();
    let out = kiln(&[
        "run",
        "--dir",
        &format!("{}::.", path(dir.path())),
        &program("files.wat"),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("\nwrote 18\n"));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("out.txt")).unwrap(),
        "line one\nline two\nline three\n"
    );
}

#[test]
fn escapes_are_refused_through_the_cli_too() {
    use std::os::unix::fs::symlink;
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    std::fs::create_dir_all(root.join("sub")).unwrap();
    std::fs::write(root.join("inside.txt"), "inside").unwrap();
    std::fs::write(tmp.path().join("outside.txt"), "secret").unwrap();
    symlink("../outside.txt", root.join("link_out")).unwrap();
    symlink(tmp.path().join("outside.txt"), root.join("link_abs")).unwrap();
    symlink("..", root.join("link_up")).unwrap();
    symlink("sub/../inside.txt", root.join("link_in")).unwrap();
    let out = kiln(&[
        "run",
        "--dir",
        &format!("{}::.", path(&root)),
        &program("escape.wat"),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    for line in [
        "dotdot 76",
        "absolute 76",
        "link_out 76",
        "link_abs 76",
        "link_up_through 76",
        "rename_out 76",
        "content inside",
    ] {
        assert!(
            stdout.lines().any(|l| l == line),
            "missing {line:?} in:\n{stdout}"
        );
    }
    assert_eq!(
        std::fs::read_to_string(tmp.path().join("outside.txt")).unwrap(),
        "secret"
    );
}

#[test]
fn stdin_is_the_host_stdin() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kiln"))
        .env("XDG_CACHE_HOME", std::env::temp_dir().join("kiln-cli-tests-cache"))
        .args(["run", &program("stdin.wat")])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"piped\ninput\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "piped\ninput\ncopied 12\n");
    assert_eq!(text(&out.stderr), "bytes\n");
}

/// The `[bench] elapsed_ns N` line the hooks write, checked and removed.
fn check_bench_report(stderr: &str) {
    let n = stderr
        .strip_prefix("[bench] elapsed_ns ")
        .and_then(|s| s.strip_suffix('\n'));
    assert!(
        n.is_some_and(|n| n.parse::<u64>().is_ok()),
        "stderr: {stderr:?}"
    );
}

#[test]
fn sightglass_style_benchmark_with_preloaded_hooks() {
    let hooks = format!("bench={}", program("bench_hooks.wat"));
    let out = kiln(&["run", "--preload", &hooks, &program("bench_primes.wat")]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "primes below 20000: 2262\n");
    check_bench_report(&text(&out.stderr));
}

#[test]
fn sightglass_style_benchmark_reading_its_input() {
    let dir = tempfile::tempdir().unwrap();
    let input: Vec<u8> = (0..20_000u32).map(|i| (i * 7 + i / 13) as u8).collect();
    std::fs::write(dir.path().join("input.txt"), &input).unwrap();
    let fnv = input.iter().fold(0x811c_9dc5u32, |h, &b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });

    let hooks = format!("bench={}", program("bench_hooks.wat"));
    let out = kiln(&[
        "run",
        "--preload",
        &hooks,
        "--dir",
        &format!("{}::.", path(dir.path())),
        &program("bench_checksum.wat"),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), format!("bytes 20000\nfnv1a {fnv:08x}\n"));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("output.txt")).unwrap(),
        format!("{fnv:08x}\n")
    );
    check_bench_report(&text(&out.stderr));
}

#[test]
fn a_benchmark_without_its_hooks_does_not_link() {
    let out = kiln(&["run", &program("bench_primes.wat")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("bench::start"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn malformed_flags_are_reported() {
    let out = kiln(&["run", "--preload", "no-equals-sign", &program("hello.wat")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("expected NAME=FILE"),
        "{}",
        text(&out.stderr)
    );

    let missing: PathBuf = tempfile::tempdir().unwrap().path().join("missing");
    let out = kiln(&["run", "--dir", path(&missing), &program("hello.wat")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("--dir"), "{}", text(&out.stderr));
}

#[test]
fn invoke_still_calls_one_export() {
    let out = kiln(&["run", &example("primes.wat"), "--invoke", "main"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "9592\n454396537\n");
    let out = kiln(&[
        "run",
        &example("primes.wat"),
        "--invoke",
        "count_primes",
        "1000",
    ]);
    assert_eq!(text(&out.stdout), "168\n");
}

/// A GC program whose answer depends on objects surviving collections.
const GC_LIST: &str = r#"(module
    (type $node (struct (field i32) (field (ref null $node))))
    (func (export "main") (result i32)
        (local $l (ref null $node)) (local $i i32) (local $s i32)
        (block $done (loop $next
            (br_if $done (i32.eq (local.get $i) (i32.const 100)))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (local.set $l (struct.new $node (local.get $i) (local.get $l)))
            (br $next)))
        (block $done (loop $next
            (br_if $done (ref.is_null (local.get $l)))
            (local.set $s (i32.add (local.get $s) (struct.get $node 0 (local.get $l))))
            (local.set $l (struct.get $node 1 (local.get $l)))
            (br $next)))
        (local.get $s)))"#;

fn temp_file(name: &str, contents: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::write(&path, contents).unwrap();
    path
}

#[test]
fn gc_zeal_runtime_option_on_run_and_wast() {
    let wat = temp_file("zeal-list.wat", GC_LIST);
    let out = kiln(&["run", "-O", "gc-zeal-alloc-counter=1", path(&wat), "--invoke", "main"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "5050\n");

    let script = temp_file("zeal-list.wast", &format!("{GC_LIST}\n(assert_return (invoke \"main\") (i32.const 5050))\n"));
    let out = kiln(&["wast", "-O", "gc-zeal-alloc-counter=3", path(&script)]);
    assert!(out.status.success(), "{}{}", text(&out.stdout), text(&out.stderr));
    assert!(text(&out.stdout).contains("2 passed, 0 failed"), "{}", text(&out.stdout));
}

#[test]
fn runtime_options_are_checked_and_listed() {
    let wat = temp_file("zeal-check.wat", GC_LIST);
    let out = kiln(&["run", "-O", "gc-zeal-alloc-counter=0", path(&wat)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("-O gc-zeal-alloc-counter=0: the counter must be at least 1"), "{}", text(&out.stderr));

    let out = kiln(&["wast", "-O", "no-such-thing=1", path(&wat)]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("-O no-such-thing=1: unknown runtime option `no-such-thing`; known: opt-level, "), "{stderr}");
    assert!(stderr.contains(", gc-zeal-alloc-counter, "), "{stderr}");

    let out = kiln(&["run", "-O", "help", path(&wat)]);
    assert!(out.status.success());
    assert!(text(&out.stdout).contains("-O gc-zeal-alloc-counter=N"), "{}", text(&out.stdout));
}

#[test]
fn collector_codegen_option() {
    let wat = temp_file("collector-list.wat", GC_LIST);
    for collector in ["null", "copying", "drc"] {
        let out = kiln(&["run", "-C", &format!("collector={collector}"), "-O", "gc-zeal-alloc-counter=2", path(&wat), "--invoke", "main"]);
        assert!(out.status.success(), "{collector}: {}", text(&out.stderr));
        assert_eq!(text(&out.stdout), "5050\n", "{collector}");
    }
    let out = kiln(&["run", "-C", "collector=mark-sweep", path(&wat)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("unknown collector `mark-sweep`; known: null, copying, drc, generational"), "{}", text(&out.stderr));
    let out = kiln(&["wast", "-C", "nope=1", path(&wat)]);
    assert!(text(&out.stderr).contains("unknown code generation option `nope`; known: collector, compiler, "), "{}", text(&out.stderr));
    let out = kiln(&["run", "-C", "help", path(&wat)]);
    assert!(text(&out.stdout).contains("-C collector=null|copying|drc"), "{}", text(&out.stdout));
}

/// Runs `kiln` with ARGS and fails the test if it has not exited after a
/// minute: the tests of interruption must not hang when it is broken.
fn kiln_with_deadline(args: &[&str]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args(args)
        .env_remove("RUST_BACKTRACE")
        .env_remove("RUST_LOG")
        // Never the user's own module cache.
        .env("XDG_CACHE_HOME", std::env::temp_dir().join("kiln-cli-tests-cache"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > std::time::Duration::from_secs(60) {
            child.kill().unwrap();
            panic!("kiln {args:?} still running after a minute");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// Asserts that `kiln ARGS` fails with status 1 and `expected` on stderr.
fn assert_refused(args: &[&str], expected: &str) {
    let out = kiln(args);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
    assert!(stderr.contains(expected), "{args:?}: expected {expected:?} in:\n{stderr}");
}

#[test]
fn wasm_proposals_can_be_switched_off() {
    let wat = temp_file("proposal-list.wat", GC_LIST);
    let out = kiln(&["run", "-W", "gc=n", path(&wat), "--invoke", "main"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("GC proposal is disabled"), "{}", text(&out.stderr));
    // Later values win, and Wasmtime's long flag works too.
    for args in [["-W", "gc=n,gc=y"], ["--wasm", "gc"]] {
        let out = kiln(&["run", args[0], args[1], path(&wat), "--invoke", "main"]);
        assert_eq!(text(&out.stdout), "5050\n", "{args:?}: {}", text(&out.stderr));
    }

    let script = temp_file(
        "proposal-tail-call.wast",
        "(module (func $f (export \"f\") (param i32) (result i32)\n\
           (if (result i32) (local.get 0) (then (return_call $f (i32.sub (local.get 0) (i32.const 1)))) (else (i32.const 7)))))\n\
         (assert_return (invoke \"f\" (i32.const 100000)) (i32.const 7))\n",
    );
    let out = kiln(&["wast", path(&script)]);
    assert!(text(&out.stdout).contains("2 passed, 0 failed"), "{}", text(&out.stdout));
    let out = kiln(&["wast", "-W", "tail-call=n", path(&script)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stdout).contains("tail call"), "{}", text(&out.stdout));
}

/// `grow` grows the memory by its argument in pages, returning the old
/// size or -1; `recurse` recurses its argument deep.
const LIMITS: &str = r#"(module
    (memory 1)
    (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))
    (func $recurse (export "recurse") (param i32) (result i32)
        (if (result i32) (local.get 0)
            (then (i32.add (i32.const 1) (call $recurse (i32.sub (local.get 0) (i32.const 1)))))
            (else (i32.const 0)))))"#;

#[test]
fn wasm_limits() {
    let wat = temp_file("limits.wat", LIMITS);
    let run = |flags: &[&str], func: &str, arg: &str| {
        let mut args = vec!["run"];
        args.extend_from_slice(flags);
        args.extend_from_slice(&[path(&wat), "--invoke", func, arg]);
        kiln(&args)
    };
    assert_eq!(text(&run(&[], "grow", "1").stdout), "1\n");
    assert_eq!(text(&run(&["-W", "max-memory-size=65536"], "grow", "1").stdout), "-1\n");
    // Wasmtime's number syntax: hex, `_` between digits.
    assert_eq!(text(&run(&["-W", "max-memory-size=0x2_0000"], "grow", "1").stdout), "1\n");
    assert_eq!(text(&run(&["-W", "max-memory-size=131_072"], "grow", "2").stdout), "-1\n");

    assert_eq!(text(&run(&[], "recurse", "5000").stdout), "5000\n");
    let out = run(&["-W", "max-wasm-stack=32768"], "recurse", "5000");
    assert_eq!(out.status.code(), Some(134));
    assert!(text(&out.stderr).contains("call stack exhausted"), "{}", text(&out.stderr));

    assert_refused(&["run", "-W", "max-wasm-stack=0", path(&wat)], "-W max-wasm-stack=0: the stack size must be at least 1");
    assert_refused(&["run", "-W", "max-memory-size=64K", path(&wat)], "-W max-memory-size=64K: expected a number");
    assert_refused(&["run", "-W", "max-gc-heap-size=0x1_0000_0001", path(&wat)], "at most 4294967296 (4 GiB)");
}

#[test]
fn gc_heap_limit() {
    let wat = temp_file(
        "gc-heap-limit.wat",
        r#"(module (type $a (array i32))
            (func (export "main") (result i32) (array.len (array.new_default $a (i32.const 100000)))))"#,
    );
    let out = kiln(&["run", path(&wat), "--invoke", "main"]);
    assert_eq!(text(&out.stdout), "100000\n", "{}", text(&out.stderr));
    let out = kiln(&["run", "-W", "max-gc-heap-size=65536", path(&wat), "--invoke", "main"]);
    assert_eq!(out.status.code(), Some(134), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("GC heap exhausted"), "{}", text(&out.stderr));
}

/// Counts down from its argument; the loop runs one iteration per count.
const COUNTDOWN: &str = r#"(module
    (func (export "count") (param i64) (result i64)
        (loop $l (br_if $l (i64.ne (local.tee 0 (i64.sub (local.get 0) (i64.const 1))) (i64.const 0))))
        (local.get 0)))"#;

#[test]
fn fuel_bounds_execution() {
    let wat = temp_file("fuel.wat", COUNTDOWN);
    let out = kiln(&["run", "-W", "fuel=1_000_000", path(&wat), "--invoke", "count", "1000"]);
    assert_eq!(text(&out.stdout), "0\n", "{}", text(&out.stderr));
    let out = kiln(&["run", "-W", "fuel=1000", path(&wat), "--invoke", "count", "1000"]);
    assert_eq!(out.status.code(), Some(134));
    assert!(text(&out.stderr).contains("fuel"), "{}", text(&out.stderr));
    assert_refused(&["wast", "-W", "fuel=1000", path(&wat)], "-W fuel: not supported by `kiln wast` yet");
}

#[test]
fn timeout_interrupts_a_long_run() {
    let wat = temp_file("timeout.wat", COUNTDOWN);
    // Far more iterations than a minute allows.
    let forever = "9223372036854775807";
    let out = kiln_with_deadline(&["run", "-W", "timeout=200ms", path(&wat), "--invoke", "count", forever]);
    assert_eq!(out.status.code(), Some(134), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("interrupt"), "{}", text(&out.stderr));
    let out = kiln_with_deadline(&["run", "-W", "timeout=60", path(&wat), "--invoke", "count", "1000"]);
    assert_eq!(text(&out.stdout), "0\n", "{}", text(&out.stderr));
    assert_refused(&["run", "-W", "timeout=soon", path(&wat)], "-W timeout=soon: expected a duration");
    assert_refused(&["wast", "-W", "timeout=1", path(&wat)], "-W timeout: not supported by `kiln wast` yet");

    // As in Wasmtime, epoch checks without a timeout have a deadline that
    // has already passed.
    let out = kiln_with_deadline(&["run", "-W", "epoch-interruption", path(&wat), "--invoke", "count", "1"]);
    assert_eq!(out.status.code(), Some(134), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("interrupt"), "{}", text(&out.stderr));
}

#[test]
fn optimisation_levels() {
    for level in ["0", "1", "2", "s"] {
        let flag = format!("opt-level={level}");
        let out = kiln(&["run", "-O", &flag, &example("primes.wat"), "--invoke", "count_primes", "1000"]);
        assert_eq!(text(&out.stdout), "168\n", "{level}: {}", text(&out.stderr));
    }
    assert_refused(&["run", "-O", "opt-level=3", &example("primes.wat")], "unknown optimisation level `3`; known: 0, 1, 2, s");
    assert_refused(&["run", "-C", "opt-level=2", &example("primes.wat")], "unknown code generation option `opt-level`; `opt-level` is a -O option");
}

#[test]
fn bounds_checked_memories_need_little_address_space() {
    // Guard-page memories reserve 8 GiB each; bounds-checked ones only
    // what they use, so they run under a small address-space limit.
    let limited = |flags: &[&str]| {
        Command::new("sh")
            .args(["-c", "ulimit -v 3000000 && exec \"$@\"", "sh", env!("CARGO_BIN_EXE_kiln"), "run"])
            .args(flags)
            .arg(program("hello.wat"))
            .output()
            .unwrap()
    };
    let out = limited(&[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("reserve"), "{}", text(&out.stderr));
    for flag in ["memory-reservation=0", "memory-guard-size=0"] {
        let out = limited(&["-O", flag]);
        assert_eq!(text(&out.stdout), "hello, world\n", "{flag}: {}", text(&out.stderr));
    }
    let out = kiln(&["run", "-O", "memory-reservation=0x1_0000_0000,memory-guard-size=0x1_0000_0000", &program("hello.wat")]);
    assert_eq!(text(&out.stdout), "hello, world\n", "{}", text(&out.stderr));
    assert_refused(&["run", "-O", "memory-reservation=1048576", &program("hello.wat")], "-O memory-reservation=1048576: not supported by Kiln yet: sizes between 0 and 4 GiB");
}

#[test]
fn a_wasi_program_with_a_shared_memory_runs_with_threads_on() {
    let out = kiln(&["run", "-W", "threads", &program("hello_shared.wat")]);
    assert_eq!(text(&out.stdout), "hello, world\n", "{}", text(&out.stderr));
    assert!(out.status.success());
    let out = kiln(&["run", &program("hello_shared.wat")]);
    assert!(text(&out.stderr).contains("threads must be enabled for shared memories"), "{}", text(&out.stderr));
}

#[test]
fn what_kiln_always_does_is_accepted_and_the_opposite_refused() {
    let hello = program("hello.wat");
    for (flag, value) in [("-W", "threads=n"), ("-O", "signals-based-traps=y"), ("-O", "pooling-allocator=n"), ("-C", "cache=n"), ("-C", "compiler=cranelift"), ("-D", "debug-info=n"), ("-D", "logging=no"), ("--debug", "address-map")] {
        let out = kiln(&["run", flag, value, &hello]);
        assert_eq!(text(&out.stdout), "hello, world\n", "{flag} {value}: {}", text(&out.stderr));
    }
    for (flag, value, expected) in [
        ("-W", "shared-memory", "-W shared-memory: not supported by Kiln yet: a shared memory made by the CLI for a module that imports one (wasi-threads); only `shared-memory=n` is accepted"),
        ("-W", "component-model-async=y", "not supported by Kiln yet: the component model; only `component-model-async=n` is accepted"),
        ("-O", "signals-based-traps=n", "not supported by Kiln yet: trapping without signal handlers; only `signals-based-traps=y` is accepted"),
        ("-C", "compiler=winch", "not supported by Kiln yet: the Winch baseline compiler"),
        ("-D", "debug-info", "-D debug-info: not supported by Kiln yet: DWARF debug info"),
        ("-D", "logging=y", "not supported by Kiln yet: log output"),
        ("-W", "threads=maybe", "-W threads=maybe: expected y or n, got `maybe`"),
    ] {
        assert_refused(&["run", flag, value, &hello], expected);
    }
}

#[test]
fn the_pooling_allocator_runs_programs_with_its_limits() {
    let hello = program("hello.wat");
    for value in ["pooling-allocator", "pooling-allocator=y,pooling-total-memories=2,pooling-max-memory-size=0x100000"] {
        let out = kiln(&["run", "-O", value, &hello]);
        assert_eq!(text(&out.stdout), "hello, world\n", "-O {value}: {}", text(&out.stderr));
    }
    assert_refused(&["run", "-O", "pooling-allocator,pooling-total-memories=0", &hello], "all 0 memory slots of the pooling allocator are in use; raise `PoolingAllocationConfig::total_memories`");
    assert_refused(&["run", "-O", "pooling-total-memories=10", &hello], "-O pooling-total-memories needs -O pooling-allocator");
}

#[test]
fn wasmtime_options_kiln_lacks_are_refused_by_name() {
    let hello = program("hello.wat");
    for (flag, value, expected) in [
        ("-W", "nan-canonicalization", "-W nan-canonicalization: not supported by Kiln yet: NaN canonicalization"),
        ("-W", "max-instances=10", "-W max-instances=10: not supported by Kiln yet"),
        ("-O", "pooling-max-unused-warm-slots=10", "-O pooling-max-unused-warm-slots=10: not supported by Kiln yet: that pooling allocator setting"),
        ("-C", "cranelift-has-avx=true", "not supported by Kiln yet: raw Cranelift settings"),
        ("-D", "coredump=core.wasm", "-D coredump=core.wasm: not supported by Kiln yet: core dumps"),
    ] {
        assert_refused(&["run", flag, value, &hello], expected);
        assert_refused(&["wast", flag, value, &hello], expected);
    }
}

#[test]
fn unknown_keys_list_the_known_ones() {
    let hello = program("hello.wat");
    for (flag, group, first) in [("-W", "wasm option", "gc, function-references, "), ("-C", "code generation option", "collector, "), ("-O", "runtime option", "opt-level, "), ("-D", "debug option", "debug-info, ")] {
        let expected = format!("{flag} frobnicate=1: unknown {group} `frobnicate`; known: {first}");
        assert_refused(&["run", flag, "frobnicate=1", &hello], &expected);
        assert_refused(&["wast", flag, "frobnicate=1", &hello], &expected);
    }
}

#[test]
fn help_lists_every_group() {
    for (flag, lines) in [
        ("-W", ["-W gc[=y|n]\n      the GC proposal", "-W max-memory-size=N\n", "-W timeout=N|Ns|Nms|..\n", "-W shared-memory[=y|n]\n      only `shared-memory=n`", "  -W all-proposals ("]),
        ("-C", ["-C collector=null|copying|drc|generational\n", "-C compiler=cranelift\n", "-C cache[=y|n]\n", "-C native-unwind-info[=y|n]\n", "-C cache-config=PATH\n"]),
        ("-O", ["-O opt-level=0|1|2|s\n", "-O memory-reservation=N\n", "-O memory-guard-size=N\n", "-O signals-based-traps[=y|n]\n", "  -O pooling-* ("]),
        ("-D", ["-D debug-info[=y|n]\n", "-D logging[=y|n]\n", "-D address-map[=y|n]\n", "Not supported by Kiln yet (-D):\n", "  -D coredump ("]),
    ] {
        for command in ["run", "wast"] {
            let out = kiln(&[command, flag, "help", "unused.wasm"]);
            assert!(out.status.success(), "{command} {flag} help: {}", text(&out.stderr));
            for line in lines {
                assert!(text(&out.stdout).contains(line), "{command} {flag} help lacks {line:?}:\n{}", text(&out.stdout));
            }
        }
    }
}

#[test]
fn wide_arithmetic_runs_only_when_switched_on() {
    let wat = temp_file(
        "wide.wat",
        r#"(module (func (export "m") (param i64 i64) (result i64 i64) (i64.mul_wide_u (local.get 0) (local.get 1))))"#,
    );
    let out = kiln(&["run", "-C", "cache=n", "--invoke", "m", path(&wat), "--", "-1", "-1"]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("wide arithmetic support is not enabled"), "{}", text(&out.stderr));
    // (2^64 - 1)^2 = 2^128 - 2^65 + 1: low 1, high 2^64 - 2.
    let out = kiln(&["run", "-C", "cache=n", "-W", "wide-arithmetic", "--invoke", "m", path(&wat), "--", "-1", "-1"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "1\n-2\n");
}

#[test]
fn legacy_exceptions_run_only_when_switched_on() {
    let wat = temp_file(
        "legacy.wat",
        r#"(module (tag $e (param i32))
            (func (export "main") (result i32)
              try (result i32)
                (throw $e (i32.const 41))
              catch $e
                i32.const 1
                i32.add
              end))"#,
    );
    let out = kiln(&["run", "-C", "cache=n", "--invoke", "main", path(&wat)]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("legacy_exceptions feature required for try instruction"), "{}", text(&out.stderr));
    let out = kiln(&["run", "-C", "cache=n", "-W", "legacy-exceptions", "--invoke", "main", path(&wat)]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "42\n");
}

#[test]
fn help_needs_no_module() {
    for command in ["run", "wast", "compile"] {
        let out = kiln(&[command, "-C", "help"]);
        assert!(out.status.success(), "{command} -C help: {}", text(&out.stderr));
        assert!(text(&out.stdout).contains("-C collector=null|copying|drc|generational\n"), "{}", text(&out.stdout));
        // Without a help request, the module is still required.
        let out = kiln(&[command, "-C", "collector=drc"]);
        assert_eq!(out.status.code(), Some(2), "{command}: {}", text(&out.stderr));
        assert!(text(&out.stderr).contains("required arguments were not provided"), "{}", text(&out.stderr));
    }
}

#[test]
fn an_uncaught_exception_exits_1() {
    let wat = temp_file(
        "uncaught.wat",
        r#"(module (tag $e (param i32))
            (func $inner (throw $e (i32.const 7)))
            (func (export "_start") (call $inner)))"#,
    );
    let out = kiln(&["run", path(&wat)]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.starts_with("error: calling `_start`\n"), "{stderr}");
    assert!(stderr.contains("uncaught exception"), "{stderr}");
}

#[test]
fn a_compile_error_prints_its_cause_once() {
    let wat = temp_file("invalid.wat", r#"(module (func (export "_start") (i32.add (i32.const 1))))"#);
    let out = kiln(&["run", path(&wat)]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(
        stderr,
        format!("error: compiling `{}`\n  caused by: type mismatch: expected i32 but nothing on stack (at offset 0x25)\n", path(&wat))
    );
}

#[test]
fn a_stack_overflow_backtrace_collapses_the_recursion() {
    let wat = temp_file("overflow.wat", r#"(module (func $f (export "_start") (call $f)))"#);
    let out = kiln(&["run", path(&wat)]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(134), "{stderr}");
    assert!(stderr.contains("call stack exhausted"), "{stderr}");
    assert!(stderr.lines().count() < 10, "{stderr}");
    let repeated = stderr.lines().find(|l| l.contains(" × ")).unwrap_or_else(|| panic!("no collapsed frames in:\n{stderr}"));
    let count: usize = repeated.rsplit(" × ").next().unwrap().parse().unwrap();
    assert!(count > 1000, "{repeated}");
}

/// The value of `--gc-stats`'s line `name:`, up to the first space.
fn gc_stat(stderr: &str, name: &str) -> u64 {
    let line = stderr.lines().find_map(|l| l.trim_start().strip_prefix(name)).unwrap_or_else(|| panic!("no `{name}` in:\n{stderr}"));
    line.split_whitespace().next().unwrap().parse().unwrap_or_else(|_| panic!("`{name}` is not a number in:\n{stderr}"))
}

#[test]
fn gc_stats_after_the_run() {
    let wat = temp_file("stats-list.wat", GC_LIST);
    let out = kiln(&["run", "--gc-stats", path(&wat), "--invoke", "main"]);
    assert_eq!(text(&out.stdout), "5050\n");
    let stderr = text(&out.stderr);
    assert!(stderr.starts_with("GC statistics:\n"), "{stderr}");
    assert_eq!(gc_stat(&stderr, "collections:"), 0);
    let allocated = gc_stat(&stderr, "allocated:");
    assert!(allocated >= 100 * 8, "100 objects of at least 8 bytes each:\n{stderr}");
    assert!(gc_stat(&stderr, "heap size:") >= gc_stat(&stderr, "in use at end:"), "{stderr}");
    for line in ["total pause:", "longest pause:"] {
        assert!(stderr.contains(line), "no {line} in:\n{stderr}");
    }

    // Collecting before every allocation changes the collections, not
    // what the program allocates.
    let out = kiln(&["run", "--gc-stats", "-O", "gc-zeal-alloc-counter=1", path(&wat), "--invoke", "main"]);
    let stderr = text(&out.stderr);
    assert!(gc_stat(&stderr, "collections:") >= 100, "{stderr}");
    assert_eq!(gc_stat(&stderr, "allocated:"), allocated, "{stderr}");

    let out = kiln(&["run", "--gc-stats", &program("hello.wat")]);
    assert_eq!(text(&out.stdout), "hello, world\n");
    assert_eq!(text(&out.stderr), "GC statistics: no GC heap (nothing was allocated in one)\n");
}

#[test]
fn gc_stats_follow_the_error_of_a_failed_run() {
    let wat = temp_file(
        "stats-trap.wat",
        r#"(module (type $s (struct (field i32)))
            (func (export "main") (drop (struct.new $s (i32.const 1))) (unreachable)))"#,
    );
    let out = kiln(&["run", "--gc-stats", path(&wat), "--invoke", "main"]);
    assert_eq!(out.status.code(), Some(134));
    let stderr = text(&out.stderr);
    let (error, stats) = stderr.split_once("GC statistics:\n").unwrap_or_else(|| panic!("no statistics in:\n{stderr}"));
    assert!(error.starts_with("error: calling `main`") && error.contains("unreachable"), "{stderr}");
    assert!(gc_stat(stats, "allocated:") >= 8, "{stderr}");
}

/// `kiln` with its own cache directory and the cache's debug log on.
fn kiln_with_cache(cache: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kiln")).args(args).env("XDG_CACHE_HOME", cache).env("RUST_LOG", "kiln::cache=debug").output().unwrap()
}

fn cache_entries(cache: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(cache.join("kiln")).map(|d| d.map(|e| e.unwrap().path()).collect()).unwrap_or_default()
}

#[test]
fn the_module_cache_serves_the_second_run() {
    let cache = tempfile::tempdir().unwrap();
    let args = ["run", &example("primes.wat"), "--invoke", "main"];
    let first = kiln_with_cache(cache.path(), &args);
    assert_eq!(first.status.code(), Some(0), "{}", text(&first.stderr));
    assert!(text(&first.stderr).contains("module cache miss"), "{}", text(&first.stderr));
    assert_eq!(cache_entries(cache.path()).len(), 1);
    let second = kiln_with_cache(cache.path(), &args);
    assert_eq!(text(&second.stdout), text(&first.stdout));
    assert!(text(&second.stderr).contains("module cache hit"), "{}", text(&second.stderr));
}

#[test]
fn a_corrupt_cache_entry_is_ignored_with_a_warning() {
    let cache = tempfile::tempdir().unwrap();
    let args = ["run", &example("primes.wat"), "--invoke", "main"];
    let first = kiln_with_cache(cache.path(), &args);
    let entry = cache_entries(cache.path()).remove(0);
    let mut bytes = std::fs::read(&entry).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    std::fs::write(&entry, bytes).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_kiln")).args(args).env("XDG_CACHE_HOME", cache.path()).env_remove("RUST_LOG").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(text(&out.stdout), text(&first.stdout));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("ignoring corrupt module cache entry") && stderr.contains("checksum"), "{stderr}");
}

#[test]
fn cache_n_never_writes_the_cache() {
    let cache = tempfile::tempdir().unwrap();
    let out = kiln_with_cache(cache.path(), &["run", "-C", "cache=n", &example("primes.wat"), "--invoke", "main"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(cache_entries(cache.path()).is_empty());
    assert!(!text(&out.stderr).contains("module cache"), "{}", text(&out.stderr));
}

/// The README's first command, exactly (from the repository root).
#[test]
fn the_readme_first_command_runs_the_gc_example_and_prints_statistics() {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md")).unwrap();
    let line = readme.lines().find(|l| l.starts_with("cargo run --release -- run")).expect("the README's run command");
    let args: Vec<&str> = line.split('#').next().unwrap().split_whitespace().skip(4).collect();
    assert_eq!(args, ["run", "--gc-stats", "examples/shapes.wat", "--invoke", "main"]);
    let out = Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args(&args)
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."))
        .env("XDG_CACHE_HOME", std::env::temp_dir().join("kiln-cli-tests-cache"))
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "54838\n2000\n");
    let stderr = text(&out.stderr);
    let collections = stderr.lines().find_map(|l| l.trim().strip_prefix("collections:")).expect(&stderr);
    let collections: u64 = collections.split_whitespace().next().unwrap().parse().unwrap();
    assert!(collections >= 3, "it collects several times: {stderr}");
}

#[test]
fn cache_config_names_the_directory_and_can_disable_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let config = dir.path().join("cache.toml");
    std::fs::write(&config, format!("[cache]\nenabled = true\ndirectory = \"{}\"\nfiles-total-size-soft-limit = \"64Mi\"\n", store.display())).unwrap();
    let flag = format!("cache-config={}", config.display());
    let home = dir.path().join("home");
    let out = kiln_with_cache(&home, &["run", "-C", &flag, &example("primes.wat"), "--invoke", "main"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(std::fs::read_dir(&store).unwrap().count(), 1, "the entry went to the configured directory");
    assert!(cache_entries(&home).is_empty());

    std::fs::write(&config, "[cache]\nenabled = false\n").unwrap();
    let out = kiln_with_cache(&home, &["run", "-C", &flag, &example("primes.wat"), "--invoke", "main"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(!text(&out.stderr).contains("module cache"), "{}", text(&out.stderr));

    std::fs::write(&config, "[cache]\nsize = 1\n").unwrap();
    let out = kiln_with_cache(&home, &["run", "-C", &flag, &example("primes.wat"), "--invoke", "main"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("unknown key `size`"), "{}", text(&out.stderr));
}

#[test]
fn gc_heap_initial_size_sets_where_the_heap_starts() {
    let stat = |out: &Output, key: &str| -> u64 {
        let stderr = text(&out.stderr);
        let line = stderr.lines().find_map(|l| l.trim().strip_prefix(key)).unwrap_or_else(|| panic!("{stderr}")).trim().to_string();
        line.split_whitespace().next().unwrap().parse().unwrap()
    };
    let small = kiln(&["run", "--gc-stats", &example("shapes.wat"), "--invoke", "main"]);
    let large = kiln(&["run", "--gc-stats", "-O", "gc-heap-initial-size=16777216", &example("shapes.wat"), "--invoke", "main"]);
    assert_eq!(text(&large.stdout), text(&small.stdout));
    assert_eq!(stat(&large, "heap size:"), 16 << 20);
    assert!(stat(&large, "collections:") * 4 < stat(&small, "collections:"), "a larger heap collects less often");
}
