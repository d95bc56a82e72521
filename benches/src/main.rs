//! Kiln's benchmark driver: every workload on every engine, checksums
//! checked for agreement, medians, ratios and peak memory printed as
//! Markdown tables. See ../README.md for how to run it and read it.
//!
//! Each (engine, workload) runs in a worker process of its own: this same
//! binary started as `--worker ENGINE MODE FILE` (`worker.rs`), or Node with
//! `v8/driver.mjs` for V8. The harness (`child.rs`, `measure.rs`) asks the
//! workers for one sample at a time, interleaving the engines.

mod child;
mod engines;
mod generate;
mod json;
mod measure;
mod report;
mod worker;
mod workloads;

use anyhow::{Context, Result, bail};
use engines::EngineId;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::time::Instant;
use workloads::Kind;

struct Options {
    runs: usize,
    warmup: usize,
    quick: bool,
    only: Vec<String>,
    /// Engine keys to run (all when empty).
    engines: Vec<String>,
    emit: Option<String>,
}

fn parse_args(args: &[String]) -> Result<Options> {
    let mut o = Options { runs: 5, warmup: 1, quick: false, only: Vec::new(), engines: Vec::new(), emit: None };
    let mut args = args.iter();
    let mut runs_given = false;
    while let Some(a) = args.next() {
        let mut value = |name: &str| args.next().with_context(|| format!("{name} needs a value"));
        match a.as_str() {
            "--runs" => {
                o.runs = value("--runs")?.parse().context("--runs")?;
                runs_given = true;
            }
            "--warmup" => o.warmup = value("--warmup")?.parse().context("--warmup")?,
            "--quick" => o.quick = true,
            "--only" => o.only.extend(value("--only")?.split(',').map(str::to_owned)),
            "--engines" => o.engines.extend(value("--engines")?.split(',').map(str::to_owned)),
            "--emit" => o.emit = Some(value("--emit")?.clone()),
            "-h" | "--help" => {
                println!(
                    "kiln-benches [--runs N] [--warmup N] [--quick] [--only NAME[,NAME...]] [--engines KEY[,KEY...]] [--emit DIR]\n\
                     \n  --runs N     measured samples per engine and workload (default 5; the median is reported)\
                     \n  --warmup N   unmeasured samples first (default 1)\
                     \n  --quick      tiny inputs and one run: a smoke test of the harness, not a measurement\
                     \n  --only LIST  workloads whose name contains one of the comma-separated words\
                     \n  --engines LIST  only these engines (keys: kiln, kiln-generational, wasmtime, v8, kiln-drc, wasmtime-drc, wasmi, kiln-null, wasmtime-null)\
                     \n  --emit DIR   write every workload's .wasm (the exact bytes each engine gets) to DIR and exit\
                     \n\nV8 runs in the Node.js that `sh v8/install.sh` installs, or in $KILN_BENCH_NODE."
                );
                std::process::exit(0);
            }
            other => bail!("unknown argument `{other}` (try --help)"),
        }
    }
    if o.quick && !runs_given {
        o.runs = 1;
    }
    if o.runs == 0 {
        bail!("--runs must be at least 1");
    }
    if let Some(bad) = o.engines.iter().find(|k| EngineId::from_key(k).is_none()) {
        bail!("unknown engine `{bad}` in --engines (try --help)");
    }
    Ok(o)
}

/// Runs `f`, turning a panic into an error so that one engine's crash is
/// reported precisely instead of ending the whole worker.
pub fn guarded<T>(f: impl FnOnce() -> Result<T>) -> Result<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(p) => {
            let msg = p.downcast_ref::<String>().cloned().or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()));
            bail!("panicked: {}", msg.unwrap_or_else(|| "(no message)".into()))
        }
    }
}

/// The engines that run workloads of `kind` (V8 only if there is a Node),
/// among those `chosen` (by key; all when empty).
fn engines_for(kind: Kind, v8: bool, chosen: &[String]) -> Vec<EngineId> {
    columns(v8, chosen)
        .into_iter()
        .filter(|e| match kind {
            Kind::Gc => e.supports_gc(),
            // Collectors do not matter without GC: one engine per runtime.
            _ => matches!(e, EngineId::Kiln | EngineId::Wasmtime | EngineId::V8 | EngineId::Wasmi),
        })
        .collect()
}

/// The report's columns: the engines `chosen` (by key; all when empty),
/// V8 only if there is a Node.
fn columns(v8: bool, chosen: &[String]) -> Vec<EngineId> {
    EngineId::ALL.into_iter().filter(|&e| e != EngineId::V8 || v8).filter(|e| chosen.is_empty() || chosen.iter().any(|k| k == e.key())).collect()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--worker") {
        std::process::exit(worker::main(&args[1..]));
    }
    match real_main(&args) {
        Ok(true) => {}
        Ok(false) => std::process::exit(1),
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::exit(2);
        }
    }
}

/// A scratch directory for the workers' inputs and stderr, removed on drop.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Returns whether every engine ran every workload and all agreed.
fn real_main(args: &[String]) -> Result<bool> {
    let o = parse_args(args)?;
    let ws = workloads::workloads(o.quick, &o.only);
    let mut wasm_of = Vec::new();
    for w in &ws {
        wasm_of.push(wat::parse_str(&w.wat).with_context(|| format!("assembling workload {}", w.name))?);
    }
    if let Some(dir) = &o.emit {
        std::fs::create_dir_all(dir)?;
        for (w, wasm) in ws.iter().zip(&wasm_of) {
            let path = format!("{dir}/{}.wasm", w.name);
            std::fs::write(&path, wasm)?;
            println!("{path}: run({}) ({})", w.request(), w.input);
        }
        return Ok(true);
    }

    let started = report::utc_now();
    let load_before = report::loadavg();
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let node = child::find_node();
    if let Err(why) = &node {
        eprintln!("V8 column skipped: {why}");
    }
    let scratch = Scratch(std::env::temp_dir().join(format!("kiln-benches-{}", std::process::id())));
    std::fs::create_dir_all(&scratch.0).with_context(|| format!("creating {}", scratch.0.display()))?;

    let mut errors: Vec<String> = Vec::new();
    let mut rows = Vec::new();
    for (w, wasm) in ws.iter().zip(&wasm_of) {
        let path = scratch.0.join(format!("{}.wasm", w.name));
        std::fs::write(&path, wasm).with_context(|| format!("writing {}", path.display()))?;
        let engines = engines_for(w.kind, node.is_ok(), &o.engines);
        eprint!("{:<14} {:<22}", w.name, w.input);
        let t = Instant::now();
        let files = measure::Files { wasm: &path, dir: &scratch.0 };
        let cells = measure::measure(w, &files, &engines, node.as_ref().ok(), o.warmup, o.runs);
        eprintln!(" {:.1} s", t.elapsed().as_secs_f64());
        for c in &cells {
            if let Some(e) = &c.error {
                errors.push(format!("{} ({}) on {}: {e}", w.name, w.input, c.engine.label()));
            }
        }
        // Agreement: every engine that finished must have the same checksum.
        let done: Vec<&measure::Cell> = cells.iter().filter(|c| c.error.is_none() && c.checksum.is_some()).collect();
        if let Some(first) = done.first()
            && done.iter().any(|c| c.checksum != first.checksum)
        {
            let all = done.iter().map(|c| format!("{} = {}", c.engine.label(), c.checksum.unwrap())).collect::<Vec<_>>().join(", ");
            errors.push(format!("{} run({}) ({}): checksums disagree: {all}", w.name, w.arg, w.input));
        }
        rows.push((w, cells));
    }

    let columns = columns(node.is_ok(), &o.engines);
    let empty = scratch.0.join("empty.wasm");
    std::fs::write(&empty, wat::parse_str(workloads::EMPTY_MODULE)?)?;
    let baseline_rss = measure::baseline_rss(&empty, &scratch.0, &columns, node.as_ref().ok());

    let report = report::Report {
        started,
        load_before,
        cpus,
        runs: o.runs,
        warmup: o.warmup,
        quick: o.quick,
        columns,
        v8: node.as_ref().map(|n| format!("V8 {} (Node {})", n.v8, n.version)).map_err(String::clone),
        rows,
        baseline_rss,
        errors,
    };
    print!("{}", report.render());
    Ok(report.errors.is_empty())
}
