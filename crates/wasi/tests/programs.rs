//! WASI command programs (WAT, under `tests/programs/`) run through the
//! kiln-wasi API. Each program prints what it observed, one `label value`
//! line per check (errno values included), and the tests compare that
//! output, exit codes and the files left on the host.

use kiln::{Engine, Linker, Module, Store, Trap};
use kiln_wasi::{I32Exit, InputStream, OutputBuffer, OutputStream, WasiCtx, WasiCtxBuilder};
use std::path::{Path, PathBuf};

fn program(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/programs")
        .join(name)
}

/// How a run ended, and what it wrote.
struct Outcome {
    /// The exit code (0 when `_start` returned), or the error that ended it.
    exit: Result<i32, kiln::Error>,
    stdout: String,
    stderr: String,
}

impl Outcome {
    /// Asserts a clean exit with status 0 and returns stdout.
    fn ok(self) -> String {
        match self.exit {
            Ok(0) => self.stdout,
            Ok(code) => panic!("exit code {code}; stdout:\n{}", self.stdout),
            Err(e) => panic!("run failed: {e:?}; stdout:\n{}", self.stdout),
        }
    }
}

/// Runs `_start` of the program `name` with a context that has the
/// program name as argv[0], captured stdout/stderr, and whatever
/// `configure` adds. `preload` instances are defined first, by name.
fn run_with(
    name: &str,
    preload: &[(&str, &str)],
    configure: impl FnOnce(&mut WasiCtxBuilder),
) -> Outcome {
    let engine = Engine::default();
    let mut linker = Linker::new(&engine);
    kiln_wasi::add_to_linker(&mut linker, |cx: &mut WasiCtx| cx).unwrap();
    let (stdout, stderr) = (OutputBuffer::new(), OutputBuffer::new());
    let mut builder = WasiCtx::builder();
    builder
        .arg(name)
        .unwrap()
        .stdout(OutputStream::buffer(&stdout))
        .stderr(OutputStream::buffer(&stderr));
    configure(&mut builder);
    let mut store = Store::new(&engine, builder.build());
    for (as_name, file) in preload {
        let module = Module::new(&engine, std::fs::read(program(file)).unwrap()).unwrap();
        let instance = linker.instantiate(&mut store, &module).unwrap();
        linker.instance(&mut store, as_name, instance).unwrap();
    }
    let module = Module::new(&engine, std::fs::read(program(name)).unwrap()).unwrap();
    let instance = linker.instantiate(&mut store, &module).unwrap();
    let start = instance
        .get_typed_func::<(), ()>(&mut store, "_start")
        .unwrap();
    let exit = match start.call(&mut store, ()) {
        Ok(()) => Ok(0),
        Err(e) => match e.downcast_ref::<I32Exit>() {
            Some(exit) => Ok(exit.0),
            None => Err(e),
        },
    };
    let text = |b: &OutputBuffer| String::from_utf8(b.contents()).unwrap();
    Outcome {
        exit,
        stdout: text(&stdout),
        stderr: text(&stderr),
    }
}

fn run(name: &str, configure: impl FnOnce(&mut WasiCtxBuilder)) -> Outcome {
    run_with(name, &[], configure)
}

/// A fresh directory to preopen as `.`.
fn sandbox() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

fn lines(s: &[&str]) -> String {
    s.iter().map(|l| format!("{l}\n")).collect()
}

#[test]
fn hello_writes_stdout_and_exits_zero() {
    assert_eq!(run("hello.wat", |_| {}).ok(), "hello, world\n");
}

#[test]
fn proc_exit_preserves_the_code_and_stops_the_program() {
    let out = run("exit.wat", |_| {});
    assert_eq!(out.exit.unwrap(), 42);
    assert_eq!(out.stdout, "before\n");
}

#[test]
fn a_trap_is_an_error_not_an_exit_code() {
    let out = run("trap.wat", |_| {});
    let err = out.exit.unwrap_err();
    assert!(err.downcast_ref::<Trap>().is_some(), "{err:?}");
    assert_eq!(out.stdout, "about to trap\n");
}

#[test]
fn args_and_environment() {
    let out = run("args_env.wat", |b| {
        b.args(["one", "two words"]).unwrap();
        b.env("FOO", "bar")
            .unwrap()
            .env("EMPTY", "")
            .unwrap()
            .env("FOO", "baz")
            .unwrap();
    })
    .ok();
    assert_eq!(
        out,
        lines(&[
            "argc 3",
            "argv_buf_size 27",
            "arg args_env.wat",
            "arg one",
            "arg two words",
            "envc 2",
            "environ_buf_size 15",
            "env FOO=baz",
            "env EMPTY=",
        ])
    );
}

#[test]
fn clocks_and_sleeping() {
    let out = run("clock.wat", |_| {}).ok();
    let (first, rest) = out.split_once('\n').unwrap();
    let secs: u64 = first.strip_prefix("realtime_s ").unwrap().parse().unwrap();
    let host = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(
        secs.abs_diff(host) < 60,
        "guest realtime {secs}, host {host}"
    );
    assert_eq!(
        rest,
        lines(&[
            "res_positive 1",
            "poll 0",
            "slept_20ms 1",
            "monotonic 1",
            "nevents 1",
            "userdata 7",
            "error 0",
            "type 0",
            "poll_abs 0",
            "abs_nevents 1",
            "slept_abs 1",
            "poll_past 0",
            "past_nevents 1",
            "bad_clock 28",
            "bad_res 28",
            "poll_none 28",
            "cputime 0",
            "yield 0",
        ])
    );
}

#[test]
fn random_bytes() {
    let out = run("random.wat", |_| {}).ok();
    assert_eq!(
        out,
        lines(&[
            "first 0",
            "second 0",
            "nonzero 1",
            "differ 1",
            "past_end 21",
            "empty_at_end 0"
        ])
    );
}

#[test]
fn files() {
    let dir = sandbox();
    let out = run("files.wat", |b| {
        b.preopened_dir(dir.path(), ".").unwrap();
    })
    .ok();
    assert_eq!(
        out,
        lines(&[
            "open_write 0",
            "write 0",
            "wrote 18",
            "tell 0",
            "position 18",
            "close 0",
            "close_again 8",
            "open_read 0",
            "seek 0",
            "offset 5",
            "read 0",
            "got one",
            "seek_end 0",
            "offset 14",
            "read 0",
            "got two",
            "read_at_eof 0",
            "eof_count 0",
            "seek_negative 28",
            "seek_bad_whence 28",
            "write_read_only 8",
            "filestat 0",
            "filetype 4",
            "size 18",
            "fdstat 0",
            "fdstat_filetype 4",
            "can_read 1",
            "can_write 0",
            "path_filestat 0",
            "path_size 18",
            "open_missing 44",
            "open_excl 20",
            "open_through_file 54",
            "open_in_closed 8",
            "open_append 0",
            "append 0",
            "open_rw 0",
            "pwrite 0",
            "pwritten 3",
            "pread 0",
            "pread_count 4",
            "pread_byte0 0",
            "pread_byte1 97",
            "position_unchanged 0",
            "position 0",
            "set_size 0",
            "size 4",
            "allocate 0",
            "size 100",
            "seek_stdout 70",
            "read_dir 31",
        ])
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("out.txt")).unwrap(),
        "line one\nline two\nline three\n"
    );
    assert_eq!(
        std::fs::metadata(dir.path().join("p.bin")).unwrap().len(),
        100
    );
}

#[test]
fn directories() {
    let dir = sandbox();
    let out = run("dirs.wat", |b| {
        b.preopened_dir(dir.path(), ".").unwrap();
    })
    .ok();
    assert_eq!(
        out,
        lines(&[
            "mkdir 0",
            "mkdir_again 20",
            "touch_a 0",
            "touch_b 0",
            "open_dir 0",
            "readdir 0",
            "entry . 3",
            "entry .. 3",
            "entry a.txt 4",
            "entry b.txt 4",
            "readdir_small 0",
            "small_used 30",
            "readdir_cookie2 0",
            "entry a.txt 4",
            "entry b.txt 4",
            "readdir_past_end 0",
            "past_end_used 0",
            "rmdir_not_empty 55",
            "unlink_dir 31",
            "rmdir_file 54",
            "rename 0",
            "rename_out 0",
            "rename_missing 44",
            "unlink 0",
            "unlink_again 44",
            "rmdir 0",
            "stat_removed 44",
            "mkdir_slash 0",
            "stat_slash 0",
            "stat_dir_type 3",
            "stat_file_slash 54",
            "unlink_file_slash 54",
            "readdir_file 54",
        ])
    );
    assert!(dir.path().join("moved.txt").is_file());
    assert!(dir.path().join("d2").is_dir());
    assert!(!dir.path().join("sub").exists());
}

#[test]
fn paths_cannot_escape_the_preopen() {
    use std::os::unix::fs::symlink;
    let tmp = sandbox();
    let root = tmp.path().join("root");
    std::fs::create_dir_all(root.join("sub")).unwrap();
    std::fs::write(root.join("inside.txt"), "inside").unwrap();
    let outside = tmp.path().join("outside.txt");
    std::fs::write(&outside, "secret").unwrap();
    symlink("../outside.txt", root.join("link_out")).unwrap();
    symlink(&outside, root.join("link_abs")).unwrap();
    symlink("..", root.join("link_up")).unwrap();
    symlink("sub/../inside.txt", root.join("link_in")).unwrap();

    let out = run("escape.wat", |b| {
        b.preopened_dir(&root, ".").unwrap();
    })
    .ok();
    assert_eq!(
        out,
        lines(&[
            "dotdot 76",
            "dotdot_nested 76",
            "dotdot_dir 76",
            "absolute 76",
            "stat_dotdot 76",
            "mkdir_dotdot 76",
            "unlink_dotdot 76",
            "rename_out 76",
            "rename_in 76",
            "link_out 76",
            "link_out_nofollow 32",
            "link_abs 76",
            "link_up_through 76",
            "stat_link_out 76",
            "lstat_link_out 0",
            "lstat_type 7",
            "mkdir_through_link 76",
            "hardlink_out 76",
            "readlink 0",
            "target ../outside.txt",
            "symlink_abs 76",
            "symlink_out 0",
            "follow_new_out 76",
            "link_in 0",
            "read_in 0",
            "content inside",
            "dot 0",
            "sub_dotdot 0",
        ])
    );
    // Nothing outside the preopen changed.
    assert_eq!(std::fs::read_to_string(&outside).unwrap(), "secret");
    let mut names: Vec<String> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["outside.txt", "root"]);
    assert!(root.join("inside.txt").is_file());
    assert!(
        !root.join("hard").exists()
            && !root.join("new_abs").exists()
            && !root.join("got.txt").exists()
    );
}

#[test]
fn preopens_are_listed_in_order() {
    let (a, b) = (sandbox(), sandbox());
    let out = run("prestat.wat", |ctx| {
        ctx.preopened_dir(a.path(), ".")
            .unwrap()
            .preopened_dir(b.path(), "/data")
            .unwrap();
    })
    .ok();
    assert_eq!(
        out,
        lines(&[
            "preopen 3 .",
            "preopen 4 /data",
            "end 8",
            "stdin_prestat 8",
            "name_too_long 37",
            "fdstat 0",
            "filetype 3"
        ])
    );
}

#[test]
fn stdin_is_polled_and_read() {
    let out = run("stdin.wat", |b| {
        b.stdin(InputStream::bytes("hello\nworld\n"));
    });
    assert_eq!(out.stderr, "bytes\n");
    assert_eq!(out.ok(), "hello\nworld\ncopied 12\n");
}

#[test]
fn bad_pointers_and_descriptors_are_errno_values() {
    let dir = sandbox();
    let out = run("fault.wat", |b| {
        b.preopened_dir(dir.path(), ".").unwrap();
    })
    .ok();
    assert_eq!(
        out,
        lines(&[
            "iovec_array 21",
            "iovec_count 21",
            "iovec_buffer 21",
            "read_buffer 21",
            "iovec_wrap 21",
            "nwritten 21",
            "args_sizes 21",
            "args_buf 21",
            "clock_out 21",
            "path_ptr 21",
            "path_open_out 21",
            "poll_subs 21",
            "poll_events 21",
            "prestat_name 21",
            "bad_fd 8",
            "negative_fd 8",
        ])
    );
}

#[test]
fn benchmark_with_preloaded_hooks() {
    let out = run_with("bench_primes.wat", &[("bench", "bench_hooks.wat")], |_| {});
    let elapsed = out
        .stderr
        .strip_prefix("[bench] elapsed_ns ")
        .and_then(|s| s.strip_suffix('\n'))
        .unwrap_or_else(|| panic!("stderr: {:?}", out.stderr));
    elapsed.parse::<u64>().unwrap();
    assert_eq!(out.ok(), "primes below 20000: 2262\n");
}

/// A module without an exported memory gets EFAULT for any pointer, and
/// exits with it.
#[test]
fn no_memory_export_means_efault() {
    let engine = Engine::default();
    let mut linker = Linker::new(&engine);
    kiln_wasi::add_to_linker(&mut linker, |cx: &mut WasiCtx| cx).unwrap();
    let module = Module::new(
        &engine,
        r#"(module
            (import "wasi_snapshot_preview1" "args_sizes_get" (func $sizes (param i32 i32) (result i32)))
            (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
            (memory 1)
            (func (export "_start") (call $exit (call $sizes (i32.const 0) (i32.const 4)))))"#,
    )
    .unwrap();
    let mut store = Store::new(&engine, WasiCtx::builder().build());
    let instance = linker.instantiate(&mut store, &module).unwrap();
    let err = instance
        .get_typed_func::<(), ()>(&mut store, "_start")
        .unwrap()
        .call(&mut store, ())
        .unwrap_err();
    assert_eq!(err.downcast_ref::<I32Exit>(), Some(&I32Exit(21)));
}

/// Every preview1 import, with the signature the witx gives it, resolves.
#[test]
fn every_preview1_function_is_defined_with_its_signature() {
    let imports = [
        ("args_get", "(param i32 i32) (result i32)"),
        ("args_sizes_get", "(param i32 i32) (result i32)"),
        ("environ_get", "(param i32 i32) (result i32)"),
        ("environ_sizes_get", "(param i32 i32) (result i32)"),
        ("clock_res_get", "(param i32 i32) (result i32)"),
        ("clock_time_get", "(param i32 i64 i32) (result i32)"),
        ("fd_advise", "(param i32 i64 i64 i32) (result i32)"),
        ("fd_allocate", "(param i32 i64 i64) (result i32)"),
        ("fd_close", "(param i32) (result i32)"),
        ("fd_datasync", "(param i32) (result i32)"),
        ("fd_fdstat_get", "(param i32 i32) (result i32)"),
        ("fd_fdstat_set_flags", "(param i32 i32) (result i32)"),
        ("fd_fdstat_set_rights", "(param i32 i64 i64) (result i32)"),
        ("fd_filestat_get", "(param i32 i32) (result i32)"),
        ("fd_filestat_set_size", "(param i32 i64) (result i32)"),
        (
            "fd_filestat_set_times",
            "(param i32 i64 i64 i32) (result i32)",
        ),
        ("fd_pread", "(param i32 i32 i32 i64 i32) (result i32)"),
        ("fd_prestat_get", "(param i32 i32) (result i32)"),
        ("fd_prestat_dir_name", "(param i32 i32 i32) (result i32)"),
        ("fd_pwrite", "(param i32 i32 i32 i64 i32) (result i32)"),
        ("fd_read", "(param i32 i32 i32 i32) (result i32)"),
        ("fd_readdir", "(param i32 i32 i32 i64 i32) (result i32)"),
        ("fd_renumber", "(param i32 i32) (result i32)"),
        ("fd_seek", "(param i32 i64 i32 i32) (result i32)"),
        ("fd_sync", "(param i32) (result i32)"),
        ("fd_tell", "(param i32 i32) (result i32)"),
        ("fd_write", "(param i32 i32 i32 i32) (result i32)"),
        ("path_create_directory", "(param i32 i32 i32) (result i32)"),
        (
            "path_filestat_get",
            "(param i32 i32 i32 i32 i32) (result i32)",
        ),
        (
            "path_filestat_set_times",
            "(param i32 i32 i32 i32 i64 i64 i32) (result i32)",
        ),
        (
            "path_link",
            "(param i32 i32 i32 i32 i32 i32 i32) (result i32)",
        ),
        (
            "path_open",
            "(param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)",
        ),
        (
            "path_readlink",
            "(param i32 i32 i32 i32 i32 i32) (result i32)",
        ),
        ("path_remove_directory", "(param i32 i32 i32) (result i32)"),
        (
            "path_rename",
            "(param i32 i32 i32 i32 i32 i32) (result i32)",
        ),
        ("path_symlink", "(param i32 i32 i32 i32 i32) (result i32)"),
        ("path_unlink_file", "(param i32 i32 i32) (result i32)"),
        ("poll_oneoff", "(param i32 i32 i32 i32) (result i32)"),
        ("proc_exit", "(param i32)"),
        ("proc_raise", "(param i32) (result i32)"),
        ("sched_yield", "(result i32)"),
        ("random_get", "(param i32 i32) (result i32)"),
        ("sock_accept", "(param i32 i32 i32) (result i32)"),
        ("sock_recv", "(param i32 i32 i32 i32 i32 i32) (result i32)"),
        ("sock_send", "(param i32 i32 i32 i32 i32) (result i32)"),
        ("sock_shutdown", "(param i32 i32) (result i32)"),
    ];
    let wat: String = imports
        .iter()
        .map(|(name, sig)| format!(r#"(import "wasi_snapshot_preview1" "{name}" (func {sig}))"#))
        .collect();
    let engine = Engine::default();
    let mut linker = Linker::new(&engine);
    kiln_wasi::add_to_linker(&mut linker, |cx: &mut WasiCtx| cx).unwrap();
    let module = Module::new(&engine, format!("(module {wat})")).unwrap();
    let mut store = Store::new(&engine, WasiCtx::default());
    linker.instantiate(&mut store, &module).unwrap();
}
