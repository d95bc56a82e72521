//! The engines under test. The in-process ones (Kiln, Wasmtime, wasmi) sit
//! behind one small interface: compile a binary once, then run `run(arg)` in
//! a fresh store, or instantiate many times. V8 runs in Node (`v8/driver.mjs`);
//! every engine, V8 included, runs in a worker process of its own
//! (`worker.rs`, `child.rs`).
//!
//! Every engine gets the same `.wasm` bytes. Each measured call gets a fresh
//! store (and so a fresh GC heap), so the null collectors start empty every
//! time and no run inherits another's garbage.

use anyhow::{Result, anyhow};
use std::time::{Duration, Instant};

/// One column of the results table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EngineId {
    /// Kiln with its default collector (copying).
    Kiln,
    /// Kiln with its generational collector.
    KilnGenerational,
    /// Wasmtime with its default collector (copying in Wasmtime 48).
    Wasmtime,
    /// V8 in Node.js, its default (generational) collector. Out of process.
    V8,
    /// Kiln with its deferred reference-counting collector.
    KilnDrc,
    /// Wasmtime with its deferred reference-counting collector.
    WasmtimeDrc,
    /// The wasmi interpreter (no Wasm GC; non-GC workloads only).
    Wasmi,
    /// Kiln with the null collector.
    KilnNull,
    /// Wasmtime with the null collector.
    WasmtimeNull,
}

impl EngineId {
    /// In column order.
    pub const ALL: [EngineId; 9] = [
        EngineId::Kiln,
        EngineId::KilnGenerational,
        EngineId::Wasmtime,
        EngineId::V8,
        EngineId::KilnDrc,
        EngineId::WasmtimeDrc,
        EngineId::Wasmi,
        EngineId::KilnNull,
        EngineId::WasmtimeNull,
    ];

    pub fn label(self) -> &'static str {
        match self {
            EngineId::Kiln => "Kiln copying",
            EngineId::KilnGenerational => "Kiln generational",
            EngineId::Wasmtime => "Wasmtime copying",
            EngineId::V8 => "V8",
            EngineId::KilnDrc => "Kiln DRC",
            EngineId::WasmtimeDrc => "Wasmtime DRC",
            EngineId::Wasmi => "wasmi",
            EngineId::KilnNull => "Kiln null",
            EngineId::WasmtimeNull => "Wasmtime null",
        }
    }

    /// The name a worker process is started with (`--worker KEY ...`).
    pub fn key(self) -> &'static str {
        match self {
            EngineId::Kiln => "kiln",
            EngineId::KilnGenerational => "kiln-generational",
            EngineId::Wasmtime => "wasmtime",
            EngineId::V8 => "v8",
            EngineId::KilnDrc => "kiln-drc",
            EngineId::WasmtimeDrc => "wasmtime-drc",
            EngineId::Wasmi => "wasmi",
            EngineId::KilnNull => "kiln-null",
            EngineId::WasmtimeNull => "wasmtime-null",
        }
    }

    pub fn from_key(key: &str) -> Option<EngineId> {
        EngineId::ALL.into_iter().find(|e| e.key() == key)
    }

    /// The Kiln engine this engine's ratio is taken against (the same
    /// collector kind), or `None` for a Kiln engine itself.
    pub fn baseline(self) -> Option<EngineId> {
        match self {
            EngineId::Kiln | EngineId::KilnDrc | EngineId::KilnNull => None,
            // Against the default collector: below 1.00 generational is faster.
            EngineId::KilnGenerational => Some(EngineId::Kiln),
            EngineId::Wasmtime | EngineId::V8 | EngineId::Wasmi => Some(EngineId::Kiln),
            EngineId::WasmtimeDrc => Some(EngineId::KilnDrc),
            EngineId::WasmtimeNull => Some(EngineId::KilnNull),
        }
    }

    pub fn supports_gc(self) -> bool {
        self != EngineId::Wasmi
    }
}

/// What one measured call produced.
pub struct Outcome {
    pub checksum: i32,
    pub time: Duration,
    /// Engine-specific detail worth printing (Kiln's GC statistics).
    pub note: Option<String>,
}

pub trait Runtime {
    fn compile(&self, wasm: &[u8]) -> Result<Box<dyn Loaded>>;
}

pub trait Loaded {
    /// Instantiates in a fresh store (not timed) and times `run(arg)`.
    fn run(&self, arg: i32) -> Result<Outcome>;
    /// Times `count` rounds of: new store, instantiate, call `run(i)`, drop.
    /// The checksum is the wrapping sum of the results.
    fn instantiate_many(&self, count: u32) -> Result<Outcome>;
}

/// The largest GC heap either engine allows (4 GiB): the null collectors
/// never free, so they get all the room there is.
const GC_HEAP_MAX: u64 = 4 << 30;

/// An in-process engine (all but V8, which runs in Node).
pub fn new_runtime(id: EngineId) -> Result<Box<dyn Runtime>> {
    Ok(match id {
        EngineId::V8 => anyhow::bail!("V8 runs in Node, not in this process"),
        EngineId::Kiln => Box::new(KilnRuntime::new(kiln::Collector::Copying)?),
        EngineId::KilnDrc => Box::new(KilnRuntime::new(kiln::Collector::Drc)?),
        EngineId::KilnGenerational => Box::new(KilnRuntime::new(kiln::Collector::Generational)?),
        EngineId::KilnNull => Box::new(KilnRuntime::new(kiln::Collector::Null)?),
        EngineId::Wasmtime => Box::new(WasmtimeRuntime::new(wasmtime::Collector::Copying)?),
        EngineId::WasmtimeDrc => Box::new(WasmtimeRuntime::new(wasmtime::Collector::DeferredReferenceCounting)?),
        EngineId::WasmtimeNull => Box::new(WasmtimeRuntime::new(wasmtime::Collector::Null)?),
        EngineId::Wasmi => Box::new(WasmiRuntime::new()),
    })
}

// ---------------------------------------------------------------- Kiln

struct KilnRuntime {
    engine: kiln::Engine,
}

impl KilnRuntime {
    fn new(collector: kiln::Collector) -> Result<Self> {
        let mut config = kiln::Config::new();
        config.collector(collector).max_gc_heap_size(GC_HEAP_MAX);
        // `KILN_BENCH_PERFMAP=1`: name compiled functions for `perf report`.
        if std::env::var_os("KILN_BENCH_PERFMAP").is_some_and(|v| v == "1") {
            config.profiler(kiln::ProfilingStrategy::PerfMap);
        }
        Ok(KilnRuntime { engine: kiln::Engine::new(&config)? })
    }
}

impl Runtime for KilnRuntime {
    fn compile(&self, wasm: &[u8]) -> Result<Box<dyn Loaded>> {
        Ok(Box::new(KilnLoaded { engine: self.engine.clone(), module: kiln::Module::from_binary(&self.engine, wasm)? }))
    }
}

struct KilnLoaded {
    engine: kiln::Engine,
    module: kiln::Module,
}

impl Loaded for KilnLoaded {
    fn run(&self, arg: i32) -> Result<Outcome> {
        let mut store = kiln::Store::new(&self.engine, ());
        let instance = kiln::Instance::new(&mut store, &self.module, &[])?;
        let run = instance.get_typed_func::<i32, i32>(&mut store, "run")?;
        let start = Instant::now();
        let checksum = run.call(&mut store, arg)?;
        let time = start.elapsed();
        // Only collection counts and pauses: Kiln's byte and object counts
        // lag behind inline (compiled-code) bump allocation until the next
        // slow-path allocation or collection.
        let note = store.gc_stats().map(|s| {
            format!(
                "{} collections, total pause {:.1} ms (longest {:.1} ms), heap {:.0} MB at the end",
                s.collections,
                s.total_pause.as_secs_f64() * 1e3,
                s.longest_pause.as_secs_f64() * 1e3,
                s.heap_size as f64 / 1e6
            )
        });
        Ok(Outcome { checksum, time, note })
    }

    fn instantiate_many(&self, count: u32) -> Result<Outcome> {
        let mut checksum = 0i32;
        let start = Instant::now();
        for i in 0..count {
            let mut store = kiln::Store::new(&self.engine, ());
            let instance = kiln::Instance::new(&mut store, &self.module, &[])?;
            let run = instance.get_typed_func::<i32, i32>(&mut store, "run")?;
            checksum = checksum.wrapping_add(run.call(&mut store, i as i32)?);
        }
        Ok(Outcome { checksum, time: start.elapsed(), note: None })
    }
}

// ---------------------------------------------------------------- Wasmtime

/// Wasmtime's own error type is not `std::error::Error`; keep its full
/// rendering (the chain and any Wasm backtrace).
fn wt<T>(r: wasmtime::Result<T>) -> Result<T> {
    r.map_err(|e| anyhow!("{e:?}"))
}

struct WasmtimeRuntime {
    engine: wasmtime::Engine,
}

impl WasmtimeRuntime {
    fn new(collector: wasmtime::Collector) -> Result<Self> {
        let mut config = wasmtime::Config::new();
        config
            .wasm_gc(true)
            .wasm_function_references(true)
            .collector(collector)
            .cranelift_opt_level(wasmtime::OptLevel::Speed);
        Ok(WasmtimeRuntime { engine: wt(wasmtime::Engine::new(&config))? })
    }
}

impl Runtime for WasmtimeRuntime {
    fn compile(&self, wasm: &[u8]) -> Result<Box<dyn Loaded>> {
        let module = wt(wasmtime::Module::new(&self.engine, wasm))?;
        Ok(Box::new(WasmtimeLoaded { engine: self.engine.clone(), module }))
    }
}

struct WasmtimeLoaded {
    engine: wasmtime::Engine,
    module: wasmtime::Module,
}

impl Loaded for WasmtimeLoaded {
    fn run(&self, arg: i32) -> Result<Outcome> {
        let mut store = wasmtime::Store::new(&self.engine, ());
        let instance = wt(wasmtime::Instance::new(&mut store, &self.module, &[]))?;
        let run = wt(instance.get_typed_func::<i32, i32>(&mut store, "run"))?;
        let start = Instant::now();
        let checksum = wt(run.call(&mut store, arg))?;
        Ok(Outcome { checksum, time: start.elapsed(), note: None })
    }

    fn instantiate_many(&self, count: u32) -> Result<Outcome> {
        let mut checksum = 0i32;
        let start = Instant::now();
        for i in 0..count {
            let mut store = wasmtime::Store::new(&self.engine, ());
            let instance = wt(wasmtime::Instance::new(&mut store, &self.module, &[]))?;
            let run = wt(instance.get_typed_func::<i32, i32>(&mut store, "run"))?;
            checksum = checksum.wrapping_add(wt(run.call(&mut store, i as i32))?);
        }
        Ok(Outcome { checksum, time: start.elapsed(), note: None })
    }
}

// ---------------------------------------------------------------- wasmi

struct WasmiRuntime {
    engine: wasmi::Engine,
}

impl WasmiRuntime {
    fn new() -> Self {
        let mut config = wasmi::Config::default();
        // wasmi translates lazily by default; the compile-time workload
        // must measure translating every function, as the JITs do.
        config.compilation_mode(wasmi::CompilationMode::Eager);
        WasmiRuntime { engine: wasmi::Engine::new(&config) }
    }
}

impl Runtime for WasmiRuntime {
    fn compile(&self, wasm: &[u8]) -> Result<Box<dyn Loaded>> {
        let module = wasmi::Module::new(&self.engine, wasm)?;
        Ok(Box::new(WasmiLoaded { engine: self.engine.clone(), module }))
    }
}

struct WasmiLoaded {
    engine: wasmi::Engine,
    module: wasmi::Module,
}

impl WasmiLoaded {
    fn instantiate(&self) -> Result<(wasmi::Store<()>, wasmi::TypedFunc<i32, i32>)> {
        let mut store = wasmi::Store::new(&self.engine, ());
        let instance = wasmi::Linker::<()>::new(&self.engine).instantiate_and_start(&mut store, &self.module)?;
        let run = instance.get_typed_func::<i32, i32>(&store, "run")?;
        Ok((store, run))
    }
}

impl Loaded for WasmiLoaded {
    fn run(&self, arg: i32) -> Result<Outcome> {
        let (mut store, run) = self.instantiate()?;
        let start = Instant::now();
        let checksum = run.call(&mut store, arg)?;
        Ok(Outcome { checksum, time: start.elapsed(), note: None })
    }

    fn instantiate_many(&self, count: u32) -> Result<Outcome> {
        let mut checksum = 0i32;
        let start = Instant::now();
        for i in 0..count {
            let (mut store, run) = self.instantiate()?;
            checksum = checksum.wrapping_add(run.call(&mut store, i as i32)?);
        }
        Ok(Outcome { checksum, time: start.elapsed(), note: None })
    }
}
