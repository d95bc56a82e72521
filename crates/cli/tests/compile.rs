//! `kiln compile` and `kiln run --allow-precompiled`, through the binary:
//! a precompiled module runs like its source, only when allowed, and a
//! damaged or mismatched one is refused with its reason.

use std::path::Path;
use std::process::{Command, Output};

fn example(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples").join(name).to_str().unwrap().to_string()
}

fn kiln(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kiln")).args(args).env_remove("RUST_BACKTRACE")
        .env_remove("RUST_LOG")
        // Never the user's own module cache.
        .env("XDG_CACHE_HOME", std::env::temp_dir().join("kiln-cli-tests-cache")).output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).unwrap()
}

/// Compiles examples/primes.wat into `dir` with `options`; returns the
/// artifact's path.
fn compile(dir: &Path, options: &[&str]) -> String {
    let out_path = dir.join("primes.cwasm");
    let out_str = out_path.to_str().unwrap().to_string();
    let mut args = vec!["compile"];
    args.extend_from_slice(options);
    let source = example("primes.wat");
    args.extend_from_slice(&[&source, "-o", &out_str]);
    let out = kiln(&args);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    out_str
}

#[test]
fn a_precompiled_module_runs_like_its_source_when_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let cwasm = compile(dir.path(), &[]);
    let from_source = kiln(&["run", &example("primes.wat"), "--invoke", "main"]);
    let out = kiln(&["run", "--allow-precompiled", &cwasm, "--invoke", "main"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), text(&from_source.stdout));

    let refused = kiln(&["run", &cwasm, "--invoke", "main"]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(text(&refused.stderr).contains("cannot load precompiled module") && text(&refused.stderr).contains("--allow-precompiled"), "{}", text(&refused.stderr));
}

#[test]
fn compile_writes_next_to_the_source_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("m.wat");
    std::fs::write(&source, "(module (func (export \"f\") (result i32) (i32.const 7)))").unwrap();
    let out = kiln(&["compile", source.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let cwasm = dir.path().join("m.cwasm");
    let out = kiln(&["run", "--allow-precompiled", cwasm.to_str().unwrap(), "--invoke", "f"]);
    assert_eq!(text(&out.stdout), "7\n");
}

#[test]
fn an_artifact_of_another_collector_is_refused_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let cwasm = compile(dir.path(), &["-C", "collector=drc"]);
    let out = kiln(&["run", "--allow-precompiled", "-C", "collector=copying", &cwasm, "--invoke", "main"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("incompatible") && stderr.contains("collector=Drc"), "{stderr}");
    // With the same collector it runs.
    let out = kiln(&["run", "--allow-precompiled", "-C", "collector=drc", &cwasm, "--invoke", "main"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

#[test]
fn truncated_and_flipped_artifacts_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cwasm = compile(dir.path(), &[]);
    let bytes = std::fs::read(&cwasm).unwrap();
    let bad = dir.path().join("bad.cwasm");
    let bad = bad.to_str().unwrap();

    std::fs::write(bad, &bytes[..bytes.len() / 2]).unwrap();
    let out = kiln(&["run", "--allow-precompiled", bad, "--invoke", "main"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("corrupt") || text(&out.stderr).contains("truncated"), "{}", text(&out.stderr));

    let mut flipped = bytes.clone();
    let at = flipped.len() / 2;
    flipped[at] ^= 0x01;
    std::fs::write(bad, &flipped).unwrap();
    let out = kiln(&["run", "--allow-precompiled", bad, "--invoke", "main"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("corrupt"), "{}", text(&out.stderr));
}
