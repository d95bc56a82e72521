//! The gc_ops oracle: a generated sequence of typed GC operations (see
//! `generators::gc_ops`), compiled to one module, runs under every
//! collector and must match a model of the object graph (`model`).
//!
//! The collectors are those of `collector_differential`: null with the
//! largest heap, copying and DRC with an input-chosen heap (64 KiB makes
//! collections frequent) and, in half the inputs, zeal (a collection and a
//! heap verification at every allocation); the code generation settings
//! are input-chosen, once for all. On each, `run` is called once; every
//! value it reads reaches the host's `observe`, and the observations and
//! how `run` ended (returned, or the trap the model predicts) must equal
//! the model's, exactly. Only a full GC heap is beyond the model (the
//! heap's size and what the collector can reclaim decide it): a run that
//! traps with it must have observed a prefix of the model's observations.
//!
//! Everything GC-related happens inside the module; the host sees only
//! numbers, so this oracle needs none of the embedder's GC handle types.

mod model;

use super::Outcome;
use super::compile::{checked_compile, show};
use crate::generators::gc_ops::{GcOp, GcOps, module};
use arbitrary::{Arbitrary, Unstructured};
use kiln::{Caller, Config, Engine, Linker, Store, Trap};

pub use model::{Expected, expected};

/// Fuel for `run`: far more than the longest sequence needs (a fuel
/// trap would be a finding, not a bound).
pub const FUEL: u64 = 10_000_000;

/// What a test case exercised, summed over the collectors.
#[derive(Debug, Default, Clone, Copy)]
pub struct Stats {
    /// Runs compared with the model (one per collector).
    pub runs: usize,
    pub observations: usize,
    /// Runs ending in the trap the model predicted.
    pub traps: usize,
    /// Runs cut short by a full GC heap.
    pub heap_full: usize,
    /// Collections the runs' stores made.
    pub collections: u64,
}

impl Stats {
    pub fn add(&mut self, other: Stats) {
        self.runs += other.runs;
        self.observations += other.observations;
        self.traps += other.traps;
        self.heap_full += other.heap_full;
        self.collections += other.collections;
    }
}

/// Generates engines and a sequence, then runs it everywhere.
pub fn gc_ops(u: &mut Unstructured<'_>) -> arbitrary::Result<Stats> {
    let configs = super::collectors::engine_configs(u)?;
    let case = GcOps::arbitrary(u)?;
    Ok(run(&configs, &case))
}

/// Runs `case` under each configuration.
///
/// # Panics
/// When a run's observations or ending differ from the model's.
pub fn run(configs: &[(&'static str, Config)], case: &GcOps) -> Stats {
    let wasm = module(case);
    crate::repro::log_case("gc_ops", &(configs, case), &wasm);
    let want = expected(case);
    let mut stats = Stats::default();
    for (collector, config) in configs {
        let (observed, outcome, collections) = run_on(config, &wasm);
        if let Err(msg) = check(&want, &observed, &outcome, case) {
            panic!("gc_ops on {collector}: {msg}\nconfiguration: {config:?}\nall operations: {case:#?}\nmodule:\n{}", show(&wasm));
        }
        stats.runs += 1;
        stats.observations += observed.len();
        stats.traps += usize::from(want.trap.is_some() && outcome != Outcome::Trap(Trap::GcHeapOutOfMemory));
        stats.heap_full += usize::from(outcome == Outcome::Trap(Trap::GcHeapOutOfMemory));
        stats.collections += collections;
    }
    stats
}

/// Instantiates `wasm` on an engine made with `config` and calls `run`:
/// what it observed, how it ended, and how many collections happened.
fn run_on(config: &Config, wasm: &[u8]) -> (Vec<i64>, Outcome, u64) {
    let engine = Engine::new(config).expect("fuzzing configurations are valid");
    let module = checked_compile(&engine, wasm).expect("gc_ops modules are valid");
    let mut linker = Linker::<Vec<i64>>::new(&engine);
    linker
        .func_wrap("host", "gc", |mut caller: Caller<'_, Vec<i64>>| caller.gc(None))
        .expect("a fresh linker")
        .func_wrap("host", "observe", |mut caller: Caller<'_, Vec<i64>>, v: i64| caller.data_mut().push(v))
        .expect("a fresh linker");
    let mut store = Store::new(&engine, Vec::new());
    store.set_fuel(FUEL).expect("fuzzing configurations meter fuel");
    let instance = linker.instantiate(&mut store, &module).unwrap_or_else(|e| panic!("gc_ops: instantiation failed: {e:#}\nmodule:\n{}", show(wasm)));
    let run = instance.get_typed_func::<(), ()>(&mut store, "run").expect("`run` is exported");
    let outcome = Outcome::of(&run.call(&mut store, ()));
    let collections = store.gc_stats().map_or(0, |s| s.collections);
    (store.into_data(), outcome, collections)
}

/// `Err(what differs)` unless the run matches the model.
fn check(want: &Expected, observed: &[i64], outcome: &Outcome, case: &GcOps) -> Result<(), String> {
    let heap_full = *outcome == Outcome::Trap(Trap::GcHeapOutOfMemory);
    if let Some(i) = (0..want.observed.len().min(observed.len())).find(|i| want.observed[*i] != observed[*i]) {
        let op = want.origin[i];
        return Err(format!("observation {i} (of operation {op}: {}) is {}, the model says {}", describe_op(case, op), observed[i], want.observed[i]));
    }
    if heap_full {
        return if observed.len() <= want.observed.len() { Ok(()) } else { Err(format!("{} observations before the heap filled, the model has {}", observed.len(), want.observed.len())) };
    }
    if observed.len() != want.observed.len() {
        return Err(format!("{} observations, the model says {}; run ended with {outcome:?}, the model says {:?}", observed.len(), want.observed.len(), want.trap));
    }
    let expected_outcome = want.trap.map_or(Outcome::Ok, Outcome::Trap);
    if *outcome != expected_outcome {
        return Err(format!("run ended with {outcome:?}, the model says {expected_outcome:?}"));
    }
    Ok(())
}

fn describe_op(case: &GcOps, op: usize) -> String {
    case.ops.get(op).map_or_else(|| "the final observation of every slot".to_string(), |o: &GcOp| format!("{o:?}"))
}
