//! Reproduction logging: what an oracle is about to run, at `debug` level.
//!
//! With logging at `debug` (`RUST_LOG=debug` in the fuzz targets, which
//! initialise `env_logger`), every oracle logs the configuration it
//! generated and every module-based oracle writes each generated module to
//! `<temp dir>/kiln-fuzz/<target>-<hash>.wasm` and logs that path, so a
//! crash can be replayed outside the fuzzer with `kiln run` or `kiln wast`.
//!
//! Invariants: nothing is written, hashed or formatted unless `debug` is
//! enabled (fuzzing speed is unaffected otherwise); a file's name is a
//! hash of its bytes, so the same module always lands at the same path and
//! a campaign writes each distinct module once; failing to write is logged,
//! never a panic (a full disk is not a Kiln bug).

use std::fmt;
use std::path::PathBuf;

/// FNV-1a over `bytes`: a stable (toolchain- and run-independent) hash,
/// for file names and for comparing large memories by digest.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3))
}

/// Whether reproduction logging is on.
pub fn enabled() -> bool {
    log::log_enabled!(log::Level::Debug)
}

/// Logs the configuration `target` generated.
pub fn log_config(target: &str, config: &dyn fmt::Debug) {
    if enabled() {
        log::debug!("{target}: configuration {config:#?}");
    }
}

/// Logs `config` and writes `wasm` to a file named after `target` and the
/// module's hash, logging its path. Returns the path written, if any.
pub fn log_case(target: &str, config: &dyn fmt::Debug, wasm: &[u8]) -> Option<PathBuf> {
    if !enabled() {
        return None;
    }
    log_config(target, config);
    log_module(target, wasm)
}

/// Writes `wasm` (one of possibly several modules of a test case) and logs
/// its path.
pub fn log_module(target: &str, wasm: &[u8]) -> Option<PathBuf> {
    if !enabled() {
        return None;
    }
    let dir = std::env::temp_dir().join("kiln-fuzz");
    let path = dir.join(format!("{target}-{:016x}.wasm", fnv1a(wasm)));
    match std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&path, wasm)) {
        Ok(()) => {
            log::debug!("{target}: module written to {} ({} bytes)", path.display(), wasm.len());
            Some(path)
        }
        Err(e) => {
            log::warn!("{target}: could not write the module to {}: {e}", path.display());
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Turns `debug` logging on for this test binary (a logger that keeps
    /// nothing: the tests only need `log_enabled!` to answer yes).
    fn enable_debug() {
        struct Quiet;
        impl log::Log for Quiet {
            fn enabled(&self, _: &log::Metadata<'_>) -> bool {
                true
            }
            fn log(&self, _: &log::Record<'_>) {}
            fn flush(&self) {}
        }
        static QUIET: Quiet = Quiet;
        let _ = log::set_logger(&QUIET);
        log::set_max_level(log::LevelFilter::Debug);
    }

    #[test]
    fn modules_land_under_their_hash_and_read_back() {
        enable_debug();
        let wasm = b"\0asm\x01\0\0\0".to_vec();
        let path = log_case("repro-test", &"config", &wasm).expect("debug is on: the module is written");
        assert!(path.ends_with(format!("kiln-fuzz/repro-test-{:016x}.wasm", fnv1a(&wasm))), "{}", path.display());
        assert_eq!(std::fs::read(&path).unwrap(), wasm);
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn fnv1a_is_the_reference_function() {
        // Test vectors of the FNV-1a 64-bit reference.
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}
