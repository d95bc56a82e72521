//! Instantiation rate: new store, instantiate, drop, in a loop, for Kiln
//! and Wasmtime, each with its pooling and its on-demand allocator, all in
//! this one process and run (rounds interleave the engines).
//!
//! Two modules: one with a 1 MiB data segment (both engines lay it out
//! once as a copy-on-write image), and one with 100 globals each holding a
//! new GC struct (every instantiation allocates in a GC heap). Both
//! engines use the copying collector.
//!
//! `cargo run --release --bin instantiate [-- ROUNDS [PER_ROUND]]`

use anyhow::{Result, anyhow};
use std::time::Instant;

fn data_module() -> String {
    let segment = "\\2a".repeat(1 << 20);
    format!(r#"(module (memory (export "memory") 17) (data (i32.const 0) "{segment}") (func (export "first") (result i32) (i32.load8_u (i32.const 0))))"#)
}

fn i32_globals_module() -> String {
    let globals: String = (0..100).map(|i| format!("(global (mut i32) (i32.const {i}))\n")).collect();
    format!("(module {globals})")
}

fn gc_globals_module() -> String {
    let globals: String = (0..100).map(|i| format!("(global (mut (ref null $s)) (struct.new $s (i32.const {i})))\n")).collect();
    format!("(module (type $s (struct (field (mut i32)))) {globals})")
}

/// Instantiates the module `count` times, each in a new store.
trait Instantiator {
    fn run(&self, count: u32) -> Result<()>;
}

struct Kiln {
    engine: kiln::Engine,
    module: kiln::Module,
}

impl Kiln {
    fn new(wasm: &[u8], pooling: bool) -> Result<Kiln> {
        let mut config = kiln::Config::new();
        config.collector(kiln::Collector::Copying);
        if pooling {
            config.allocation_strategy(kiln::InstanceAllocationStrategy::pooling());
        }
        let engine = kiln::Engine::new(&config)?;
        let module = kiln::Module::new(&engine, wasm)?;
        Ok(Kiln { engine, module })
    }
}

impl Instantiator for Kiln {
    fn run(&self, count: u32) -> Result<()> {
        let linker = kiln::Linker::new(&self.engine);
        for _ in 0..count {
            let mut store = kiln::Store::new(&self.engine, ());
            linker.instantiate(&mut store, &self.module)?;
        }
        Ok(())
    }
}

struct Wasmtime {
    engine: wasmtime::Engine,
    module: wasmtime::Module,
}

fn wt<T>(r: wasmtime::Result<T>) -> Result<T> {
    r.map_err(|e| anyhow!("{e:#}"))
}

impl Wasmtime {
    fn new(wasm: &[u8], pooling: bool) -> Result<Wasmtime> {
        let mut config = wasmtime::Config::new();
        config.wasm_gc(true).wasm_function_references(true).collector(wasmtime::Collector::Copying);
        if pooling {
            config.allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(wasmtime::PoolingAllocationConfig::default()));
        }
        let engine = wt(wasmtime::Engine::new(&config))?;
        let module = wt(wasmtime::Module::new(&engine, wasm))?;
        Ok(Wasmtime { engine, module })
    }
}

impl Instantiator for Wasmtime {
    fn run(&self, count: u32) -> Result<()> {
        let linker = wasmtime::Linker::new(&self.engine);
        for _ in 0..count {
            let mut store = wasmtime::Store::new(&self.engine, ());
            wt(linker.instantiate(&mut store, &self.module))?;
        }
        Ok(())
    }
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn main() -> Result<()> {
    let args: Vec<u32> = std::env::args().skip(1).map(|a| a.parse()).collect::<Result<_, _>>()?;
    let rounds = args.first().copied().unwrap_or(5);
    let per_round = args.get(1).copied().unwrap_or(2000);
    println!("| module | Kiln pooling | Wasmtime pooling | Kiln on-demand | Wasmtime on-demand | Kiln pooling ÷ Wasmtime pooling |");
    println!("|---|---|---|---|---|---|");
    // `INSTANTIATE_MODULE=WORD` runs only the modules whose name has it.
    let module_filter = std::env::var("INSTANTIATE_MODULE").unwrap_or_default();
    for (name, wat) in [("1 MiB data segment", data_module()), ("100 i32 globals", i32_globals_module()), ("100 GC globals", gc_globals_module())] {
        if !name.contains(module_filter.as_str()) {
            continue;
        }
        let wasm = wat::parse_str(&wat)?;
        let engines: Vec<Box<dyn Instantiator>> = vec![
            Box::new(Kiln::new(&wasm, true)?),
            Box::new(Wasmtime::new(&wasm, true)?),
            Box::new(Kiln::new(&wasm, false)?),
            Box::new(Wasmtime::new(&wasm, false)?),
        ];
        let mut samples = vec![Vec::new(); engines.len()];
        for engine in &engines {
            engine.run(per_round / 10)?;
        }
        // `INSTANTIATE_ONLY=N` runs only column N (0-3), for profiling.
        let only: Option<usize> = std::env::var("INSTANTIATE_ONLY").ok().and_then(|v| v.parse().ok());
        for _ in 0..rounds {
            for (i, (engine, samples)) in engines.iter().zip(&mut samples).enumerate() {
                if only.is_some_and(|o| o != i) {
                    samples.push(f64::NAN);
                    continue;
                }
                let start = Instant::now();
                engine.run(per_round)?;
                samples.push(f64::from(per_round) / start.elapsed().as_secs_f64());
            }
        }
        let rates: Vec<f64> = samples.into_iter().map(median).collect();
        let cells: Vec<String> = rates.iter().map(|r| format!("{:.0}/s", r)).collect();
        println!("| {name} | {} | {:.2} |", cells.join(" | "), rates[0] / rates[1]);
    }
    Ok(())
}
