//! The api_calls oracle: runs a generated sequence of embedder API calls
//! (see `generators::api_calls`) and checks that none panics, and that
//! the calls with an obvious meaning mean it.
//!
//! Beyond "no panic", the oracle knows a little about each call: a
//! memory write inside the memory reads back, one outside fails and
//! changes nothing; `grow` returns the old size and succeeds exactly when
//! the limits allow; a mutable global set to a value of its type reads
//! back and an immutable one refuses; a table `get` succeeds exactly in
//! bounds; and exports of the fixed modules with known behaviour (`add`,
//! `div`, `fact`, `spin`, `trap`, `fail`, ...) return what they must or
//! end the way they must. Any call may also run out of fuel: fuel is part
//! of the input. Collections (requested, or forced by a small GC heap)
//! must keep every handle's object: host references keep their values,
//! and structs and arrays their fields and lengths.

mod exports;
mod store;

use crate::generators::api_calls::{ApiCall, ApiCalls, MODULES};
use crate::generators::config;
use arbitrary::{Arbitrary, Unstructured};
use kiln::{Caller, Engine, Extern, Linker, Module, Store, Val};
use store::{StoreEntry, ensure, pick};

/// What a run exercised, for tests to check the generator's reach.
#[derive(Debug, Default, Clone, Copy)]
pub struct Stats {
    /// API calls that found the objects they name.
    pub performed: usize,
    pub instances: usize,
    /// Calls into exported functions, and how many returned normally.
    pub func_calls: usize,
    pub func_returns: usize,
    /// Calls whose outcome was checked against a known answer.
    pub checked_calls: usize,
}

/// At most this many stores are alive at once: each holds memories with
/// large address-space reservations.
const MAX_STORES: usize = 8;

/// Generates a sequence and runs it.
pub fn api_calls(u: &mut Unstructured<'_>) -> arbitrary::Result<Stats> {
    let calls = ApiCalls::arbitrary(u)?;
    crate::repro::log_config("api_calls", &calls);
    Ok(run(&calls))
}

fn linker(engine: &Engine) -> Linker<()> {
    let mut linker = Linker::new(engine);
    linker
        .func_wrap("host", "double", |x: i32| x.wrapping_mul(2))
        .unwrap()
        .func_wrap("host", "reenter", |mut caller: Caller<'_, ()>, n: i32| -> anyhow::Result<i32> {
            let fact = caller.get_export("fact").and_then(Extern::into_func).ok_or_else(|| anyhow::anyhow!("no export `fact`"))?;
            fact.typed::<i32, i32>(&caller)?.call(&mut caller, n)
        })
        .unwrap()
        .func_wrap("host", "fail", || -> anyhow::Result<()> { anyhow::bail!("host failure") })
        .unwrap();
    linker
}

/// Runs `calls`.
///
/// # Panics
/// When a call panics or its result contradicts what the oracle knows.
pub fn run(calls: &ApiCalls) -> Stats {
    let engine = Engine::new(&calls.config).expect("fuzzing configurations are valid");
    let linker = linker(&engine);
    let mut runner = Runner { engine, linker, stores: Vec::new(), modules: Vec::new(), stats: Stats::default(), next_extern: 0 };
    for (i, call) in calls.calls.iter().enumerate() {
        if let Err(msg) = runner.perform(call) {
            panic!("api_calls call {i} ({call:?}): {msg}\nall calls: {calls:#?}");
        }
    }
    runner.stats
}

struct Runner {
    engine: Engine,
    linker: Linker<()>,
    stores: Vec<StoreEntry>,
    modules: Vec<Module>,
    stats: Stats,
    next_extern: u64,
}

/// `Err(what contradicted the oracle)`.
type Check = Result<(), String>;

impl Runner {
    /// The index of the n-th live store, counting the call as performed.
    fn entry(&mut self, n: u8) -> Option<usize> {
        let i = pick(&self.stores, n)?;
        self.stats.performed += 1;
        Some(i)
    }

    fn perform(&mut self, call: &ApiCall) -> Check {
        match call {
            ApiCall::StoreNew => {
                if self.stores.len() < MAX_STORES {
                    let mut store = Store::new(&self.engine, ());
                    store.set_fuel(config::FUEL).map_err(|e| e.to_string())?;
                    self.stores.push(StoreEntry::new(store));
                    self.stats.performed += 1;
                }
            }
            ApiCall::StoreDrop { store } => {
                if let Some(i) = pick(&self.stores, *store) {
                    self.stores.remove(i);
                    self.stats.performed += 1;
                }
            }
            ApiCall::SetFuel { store, fuel } => {
                if let Some(si) = self.entry(*store) {
                    let e = &mut self.stores[si];
                    e.store.set_fuel(*fuel).map_err(|e| format!("set_fuel with fuel enabled: {e}"))?;
                    let left = e.store.get_fuel().map_err(|e| e.to_string())?;
                    ensure(left == *fuel, || format!("get_fuel after set_fuel({fuel}) = {left}"))?;
                }
            }
            ApiCall::ModuleNew { module } => {
                let wat = MODULES[*module as usize % MODULES.len()];
                let m = Module::new(&self.engine, wat).map_err(|e| format!("fixed module failed to compile: {e:#}"))?;
                self.modules.push(m);
                self.stats.performed += 1;
            }
            ApiCall::ModuleDrop { module } => {
                if let Some(i) = pick(&self.modules, *module) {
                    self.modules.remove(i);
                    self.stats.performed += 1;
                }
            }
            ApiCall::Instantiate { store, module } => self.instantiate(*store, *module)?,
            ApiCall::ExternRefNew { store } => {
                let n = self.next_extern;
                self.next_extern += 1;
                self.with_store(*store, |e, _| e.new_externref(n))?;
            }
            // The rest act on one store's objects.
            ApiCall::Call { store, func, args } => self.with_store(*store, |e, stats| e.call_export(*func, args, stats))?,
            ApiCall::MemoryGrow { store, memory, delta } => self.with_store(*store, |e, _| e.memory_grow(*memory, *delta))?,
            ApiCall::MemoryWrite { store, memory, offset, bytes } => self.with_store(*store, |e, _| e.memory_write(*memory, *offset, bytes))?,
            ApiCall::MemoryRead { store, memory, offset, len } => self.with_store(*store, |e, _| e.memory_read(*memory, *offset, *len))?,
            ApiCall::GlobalGet { store, global } => self.with_store(*store, |e, _| e.global_get(*global))?,
            ApiCall::GlobalSet { store, global, value } => self.with_store(*store, |e, _| e.global_set(*global, value))?,
            ApiCall::TableGet { store, table, index } => self.with_store(*store, |e, _| e.table_get(*table, *index))?,
            ApiCall::TableGrow { store, table, delta, init } => self.with_store(*store, |e, _| e.table_grow(*table, *delta, *init))?,
            ApiCall::OwnRef { store, which } => self.with_store(*store, |e, _| e.own_ref(*which))?,
            ApiCall::DropOwned { store, which } => self.with_store(*store, |e, _| e.drop_owned(*which))?,
            ApiCall::Scoped { store, count } => {
                let first = self.next_extern;
                self.next_extern += u64::from(*count);
                self.with_store(*store, |e, _| e.scoped(first, *count))?;
            }
            ApiCall::Gc { store } => self.with_store(*store, |e, _| e.gc())?,
        }
        Ok(())
    }

    /// Runs `f` on the n-th live store, if there is one.
    fn with_store(&mut self, n: u8, f: impl FnOnce(&mut StoreEntry, &mut Stats) -> Check) -> Check {
        match self.entry(n) {
            Some(i) => f(&mut self.stores[i], &mut self.stats),
            None => Ok(()),
        }
    }

    /// Instantiates the n-th compiled module in the n-th store and records
    /// its exports.
    fn instantiate(&mut self, store: u8, module: u8) -> Check {
        let Some(m) = pick(&self.modules, module).map(|i| self.modules[i].clone()) else { return Ok(()) };
        let linker = &self.linker;
        let Some(i) = pick(&self.stores, store) else { return Ok(()) };
        self.stats.performed += 1;
        let e = &mut self.stores[i];
        // Fixed modules have no start function and in-bounds
        // segments: instantiation cannot fail.
        let instance = linker.instantiate(&mut e.store, &m).map_err(|err| format!("instantiating a fixed module: {err:#}"))?;
        self.stats.instances += 1;
        for (name, ext) in instance.exports(&mut e.store) {
            match ext {
                Extern::Func(f) => {
                    e.refs.push(Val::FuncRef(Some(f)));
                    e.funcs.push((name, f));
                }
                Extern::Memory(x) => e.memories.push(x),
                Extern::Global(x) => e.globals.push(x),
                Extern::Table(x) => e.tables.push(x),
                Extern::Tag(_) | Extern::SharedMemory(_) => {}
            }
        }
        Ok(())
    }
}
