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
    assert!(text(&out.stderr).contains("unknown runtime option `no-such-thing`; known: gc-zeal-alloc-counter"), "{}", text(&out.stderr));

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
    assert!(text(&out.stderr).contains("unknown collector `mark-sweep`; known: null, copying, drc"), "{}", text(&out.stderr));
    let out = kiln(&["wast", "-C", "nope=1", path(&wat)]);
    assert!(text(&out.stderr).contains("unknown code generation option `nope`; known: collector"), "{}", text(&out.stderr));
    let out = kiln(&["run", "-C", "help", path(&wat)]);
    assert!(text(&out.stdout).contains("-C collector=null|copying|drc"), "{}", text(&out.stdout));
}
