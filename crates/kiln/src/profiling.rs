//! Naming compiled Wasm code for native profilers.
//!
//! With [`ProfilingStrategy::PerfMap`], every module's functions are
//! appended to `/tmp/perf-<pid>.map` as they are mapped, in the format
//! Linux `perf` reads for JIT code (`START SIZE NAME`, hex), so `perf
//! report` shows `wasm[3]::unbox` rather than a bare address. Lines are
//! only appended: a map names code that may since have been unmapped,
//! as every JIT's does.

use crate::vm::code_memory::ModuleCode;
use std::io::Write as _;
use std::sync::Mutex;

/// Which profiler compiled code is described to (Wasmtime's names).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProfilingStrategy {
    /// No profiler (the default).
    #[default]
    None,
    /// `/tmp/perf-<pid>.map`, for Linux `perf`.
    PerfMap,
}

/// Appends `code`'s functions to this process's perf map. Best effort: a
/// profiler's map that cannot be written must not fail the compilation,
/// so the error goes to the log.
pub(crate) fn register(strategy: ProfilingStrategy, code: &ModuleCode) {
    if strategy != ProfilingStrategy::PerfMap {
        return;
    }
    // One writer at a time, so lines from modules compiled on several
    // threads do not interleave.
    static PERF_MAP: Mutex<()> = Mutex::new(());
    let _guard = PERF_MAP.lock().unwrap_or_else(|e| e.into_inner());
    let mut text = String::new();
    for (i, f) in code.funcs.iter().enumerate() {
        let func_index = code.info.num_imported_funcs + i as u32;
        let module = code.info.name.as_deref().unwrap_or("wasm");
        let name = match code.info.func_name(func_index) {
            Some(name) => format!("{module}[{func_index}]::{name}"),
            None => format!("{module}[{func_index}]"),
        };
        text.push_str(&format!("{:x} {:x} {name}\n", code.memory.start() + f.start as usize, f.len));
    }
    let path = format!("/tmp/perf-{}.map", std::process::id());
    let written = std::fs::OpenOptions::new().create(true).append(true).open(&path).and_then(|mut file| file.write_all(text.as_bytes()));
    if let Err(e) = written {
        log::warn!("cannot write the perf map {path}: {e}");
    }
}
