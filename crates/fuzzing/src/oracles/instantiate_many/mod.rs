//! The instantiate_many oracle: runs a generated sequence of store,
//! instantiation and call operations over a family of linked modules (see
//! `generators::instantiate_many`) and checks every step against a model.
//!
//! The model (`model`) knows every memory, global, table and GC cell each
//! store holds, which instance sees which of them (its own, or the ones it
//! imported along its chain of providers), and what each export does. So:
//! - every instantiation succeeds, and its data segment, element segment
//!   and start function change exactly the shared state the model says;
//! - every call returns what the model computes (a value read from a
//!   shared memory, global, table or cell is the last one written by any
//!   instance sharing it; `chain` sums its way down the providers;
//!   `ftcall` reaches the instance whose `id` was put there) or traps
//!   where the model says (out of bounds, null cell, failed cast, null
//!   function), never panics or crashes;
//! - after each `Store::gc` and at the end, every live instance's exports
//!   read through the embedder API (memories byte for byte, the `i64`
//!   global, table sizes and which `ft` elements are null) match the
//!   model.
//!
//! Dropping a store drops everything in it; dropping an instance's handle
//! changes nothing observable (the store keeps the instance, and its
//! functions may still be called through other instances' `ft`).

mod model;

use super::Outcome;
use super::compile::{checked_compile, show};
use crate::generators::config;
use crate::generators::instantiate_many::{Export, ITEMS, InstantiateMany, MAX_INSTANCES, MAX_STORES, ManyOp, ModuleSpec, module};
use arbitrary::{Arbitrary, Unstructured};
use kiln::{Caller, Config, Engine, Extern, Func, Instance, Module, Store, Val, ValType};
use model::{InstanceModel, StoreModel};

/// What a run exercised, for tests to check the generator's reach.
#[derive(Debug, Default, Clone, Copy)]
pub struct Stats {
    pub instances: usize,
    /// Instances that imported from another one.
    pub linked: usize,
    pub calls: usize,
    pub returns: usize,
    /// Calls that trapped, as the model predicted.
    pub traps: usize,
    pub stores_dropped: usize,
    pub instances_dropped: usize,
    /// Exports read through the API and compared with the model.
    pub checked_exports: usize,
}

impl Stats {
    pub fn add(&mut self, o: Stats) {
        self.instances += o.instances;
        self.linked += o.linked;
        self.calls += o.calls;
        self.returns += o.returns;
        self.traps += o.traps;
        self.stores_dropped += o.stores_dropped;
        self.instances_dropped += o.instances_dropped;
        self.checked_exports += o.checked_exports;
    }
}

/// Generates a configuration and a test case, and runs it.
pub fn instantiate_many(u: &mut Unstructured<'_>) -> arbitrary::Result<Stats> {
    let config = config::kiln_config(u)?;
    let case = InstantiateMany::arbitrary(u)?;
    Ok(run(&config, &case))
}

/// `Err(what contradicted the model)`.
type Check = Result<(), String>;

/// A store with its host `gc` function and its model (which holds the
/// live instance handles).
struct StoreEntry {
    store: Store<()>,
    gc: Func,
    model: StoreModel,
}

struct Runner<'a> {
    engine: Engine,
    specs: &'a [ModuleSpec],
    modules: Vec<Module>,
    stores: Vec<StoreEntry>,
    stats: Stats,
}

/// The `n`-th of `items` (modulo their count), if any.
fn pick<T>(items: &[T], n: u8) -> Option<usize> {
    (!items.is_empty()).then(|| n as usize % items.len())
}

/// Runs `case` on an engine made with `config` (which must meter fuel).
///
/// # Panics
/// When Kiln's answer to an operation differs from the model's.
pub fn run(config: &Config, case: &InstantiateMany) -> Stats {
    let wasms: Vec<Vec<u8>> = case.modules.iter().map(module).collect();
    crate::repro::log_config("instantiate_many", &(config, case));
    for (i, wasm) in wasms.iter().enumerate() {
        crate::repro::log_module(&format!("instantiate_many-module{i}"), wasm);
    }
    let engine = Engine::new(config).expect("fuzzing configurations are valid");
    let modules = wasms.iter().map(|w| checked_compile(&engine, w).expect("instantiate_many modules are valid")).collect();
    let mut runner = Runner { engine, specs: &case.modules, modules, stores: Vec::new(), stats: Stats::default() };
    let fail = |what: String, msg: String| -> ! {
        let texts: Vec<String> = wasms.iter().enumerate().map(|(i, w)| format!("module {i}:\n{}", show(w))).collect();
        panic!("instantiate_many {what}: {msg}\nconfiguration: {config:?}\ntest case: {case:#?}\n{}", texts.join("\n"))
    };
    for (i, op) in case.ops.iter().enumerate() {
        runner.perform(op).unwrap_or_else(|msg| fail(format!("operation {i} ({op:?})"), msg));
    }
    for s in 0..runner.stores.len() {
        check_exports(&mut runner.stores[s], &mut runner.stats).unwrap_or_else(|msg| fail(format!("final state of store {s}"), msg));
    }
    runner.stats
}

impl Runner<'_> {
    fn perform(&mut self, op: &ManyOp) -> Check {
        match *op {
            ManyOp::NewStore => {
                if self.stores.len() < MAX_STORES {
                    let mut store = Store::new(&self.engine, ());
                    let gc = Func::wrap(&mut store, |mut caller: Caller<'_, ()>| caller.gc(None));
                    self.stores.push(StoreEntry { store, gc, model: StoreModel::default() });
                }
            }
            ManyOp::DropStore { store } => {
                if let Some(s) = pick(&self.stores, store) {
                    self.stores.remove(s);
                    self.stats.stores_dropped += 1;
                }
            }
            ManyOp::Instantiate { store, module, provider } => {
                let Some(s) = pick(&self.stores, store) else { return Ok(()) };
                let m = module as usize % self.specs.len();
                instantiate(&mut self.stores[s], &self.specs[m], &self.modules[m], provider, &mut self.stats)?;
            }
            ManyOp::DropInstance { store, instance } => {
                let Some(s) = pick(&self.stores, store) else { return Ok(()) };
                if let Some(i) = pick(&self.stores[s].model.instances, instance) {
                    self.stores[s].model.instances.remove(i);
                    self.stats.instances_dropped += 1;
                }
            }
            ManyOp::Call { store, instance, export, a, b } => {
                let Some(s) = pick(&self.stores, store) else { return Ok(()) };
                call(&mut self.stores[s], instance, export, a, b, &mut self.stats)?;
            }
            ManyOp::Gc { store } => {
                let Some(s) = pick(&self.stores, store) else { return Ok(()) };
                let e = &mut self.stores[s];
                e.store.gc(None).map_err(|err| format!("Store::gc: {err:#}"))?;
                check_exports(e, &mut self.stats)?;
            }
        }
        Ok(())
    }
}

/// Instantiates `spec` in the store, with the `provider`-th live instance
/// supplying its imports (nothing happens if it needs one and there is
/// none, or the store has had its share of instances).
fn instantiate(e: &mut StoreEntry, spec: &ModuleSpec, module: &Module, provider: u8, stats: &mut Stats) -> Check {
    if e.model.instantiated >= MAX_INSTANCES {
        return Ok(());
    }
    let provider = match pick(&e.model.instances, provider) {
        Some(p) => Some(e.model.instances[p].clone()),
        None if spec.imports.is_empty() => None,
        None => return Ok(()),
    };
    let mut imports = vec![Extern::Func(e.gc)];
    if let Some(p) = &provider {
        for item in ITEMS.into_iter().filter(|i| spec.imports(*i)) {
            let ext = p.instance.get_export(&mut e.store, item.name()).ok_or_else(|| format!("the provider has no export `{}`", item.name()))?;
            imports.push(ext);
        }
    }
    e.store.set_fuel(config::FUEL).map_err(|err| err.to_string())?;
    let instance = Instance::new(&mut e.store, module, &imports).map_err(|err| format!("instantiation failed: {err:#}"))?;
    e.model.instantiate(spec, provider.as_ref(), instance);
    stats.instances += 1;
    stats.linked += usize::from(provider.is_some());
    Ok(())
}

/// The arguments of a call of type `params`: `a` for the first `i32`,
/// `b` (truncated) for a second, `b` for an `i64`.
fn arguments(params: &[ValType], a: u32, b: i64) -> Vec<Val> {
    let mut i32s = [a as i32, b as i32].into_iter();
    params.iter().map(|p| if *p == ValType::I64 { Val::I64(b) } else { Val::I32(i32s.next().expect("at most two i32 parameters")) }).collect()
}

/// Calls `export` of the `instance`-th live instance and compares the
/// outcome with the model's.
fn call(e: &mut StoreEntry, instance: u8, export: Export, a: u32, b: i64, stats: &mut Stats) -> Check {
    let Some(i) = pick(&e.model.instances, instance) else { return Ok(()) };
    let inst = e.model.instances[i].clone();
    let f = inst.instance.get_func(&mut e.store, &export.name()).ok_or_else(|| format!("no export `{}`", export.name()))?;
    let ty = f.ty(&e.store);
    let args = arguments(ty.params(), a, b);
    let mut results = vec![Val::I32(0); ty.results().len()];
    e.store.set_fuel(config::FUEL).map_err(|err| err.to_string())?;
    let outcome = Outcome::of(&f.call(&mut e.store, &args, &mut results));
    let got = match outcome {
        Outcome::Ok => Ok(results.first().map(|r| r.i64().or(r.i32().map(i64::from)).unwrap_or(i64::MIN))),
        Outcome::Trap(t) => Err(Ok(t)),
        Outcome::Error(msg) => Err(Err(msg)),
    };
    let want = e.model.call(&inst, export, a, b).map_err(Ok);
    stats.calls += 1;
    stats.returns += usize::from(got.is_ok());
    stats.traps += usize::from(matches!(got, Err(Ok(_))));
    if got == want { Ok(()) } else { Err(format!("`{}`{args:?} gave {got:?}, the model says {want:?}", export.name())) }
}

/// Reads every live instance's exports through the API and compares them
/// with the model.
fn check_exports(e: &mut StoreEntry, stats: &mut Stats) -> Check {
    for k in 0..e.model.instances.len() {
        let inst: InstanceModel = e.model.instances[k].clone();
        let name = |what: &str| format!("instance {k}'s `{what}`");
        let instance = inst.instance;
        let g = instance.get_global(&mut e.store, "g").ok_or_else(|| name("g"))?.get(&mut e.store);
        expect_eq(&name("g"), g.i64(), Some(e.model.counters[inst.counter]))?;
        let mem = instance.get_memory(&mut e.store, "mem").ok_or_else(|| name("mem"))?;
        check_memory(&name("mem"), mem.data(&e.store), &e.model.memories[inst.memory])?;
        let tab = instance.get_table(&mut e.store, "tab").ok_or_else(|| name("tab"))?;
        expect_eq(&name("tab size"), tab.size(&mut e.store), e.model.refs[inst.refs].len() as u64)?;
        let ft = instance.get_table(&mut e.store, "ft").ok_or_else(|| name("ft"))?;
        let nulls: Vec<bool> = (0..ft.size(&mut e.store)).map(|i| matches!(ft.get(&mut e.store, i), Some(Val::FuncRef(None)))).collect();
        let want: Vec<bool> = e.model.funcs[inst.funcs].iter().map(Option::is_none).collect();
        expect_eq(&name("ft null elements"), nulls, want)?;
        stats.checked_exports += 4;
    }
    Ok(())
}

fn expect_eq<T: PartialEq + std::fmt::Debug>(what: &str, kiln: T, model: T) -> Check {
    if kiln == model { Ok(()) } else { Err(format!("{what}: Kiln says {kiln:?}, the model says {model:?}")) }
}

fn check_memory(what: &str, kiln: &[u8], model: &[u8]) -> Check {
    expect_eq(&format!("{what} length"), kiln.len(), model.len())?;
    match kiln.iter().zip(model).position(|(a, b)| a != b) {
        None => Ok(()),
        Some(i) => {
            let end = (i + 16).min(kiln.len());
            Err(format!("{what} differs at byte {i}: Kiln has {:02x?}, the model {:02x?}", &kiln[i..end], &model[i..end]))
        }
    }
}
