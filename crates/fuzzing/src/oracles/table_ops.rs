//! The table_ops oracle: runs a generated sequence of `externref` table
//! operations (see `generators::table_ops`) and checks every result the
//! host can see against a model of the tables.
//!
//! Every reference wraps a distinct `u32` (its id), so the model is, per
//! table, which id (or null) sits in each slot. After each operation the
//! oracle compares what came back (an element, an old size, a trap) with
//! the model; at the end it compares every slot of every table. The host
//! imports `make` and `observe` let Wasm code create and hand out
//! references mid-function, so references cross the boundary both ways,
//! and `gc` collects while Wasm frames hold references. Each input picks
//! the collector and a GC heap size (64 KiB makes collections frequent),
//! so the model also checks that collections keep every reference a
//! table, a handle or a Wasm local holds, and keep it pointing at the same
//! host data.

use super::Outcome;
use crate::generators::config;
use crate::generators::table_ops::{RefSource, TABLES, TableOp, TableOps, Via};
use arbitrary::{Arbitrary, Unstructured};
use kiln::{Caller, Collector, Engine, ExternRef, Rooted, Func, Instance, Linker, Module, OptLevel, Store, Table, Trap, Val};
use std::sync::OnceLock;

/// What a run exercised, for tests to check the generator's reach.
#[derive(Debug, Default, Clone, Copy)]
pub struct Stats {
    pub ops: usize,
    /// Operations that trapped (out of bounds), as the model predicted.
    pub traps: usize,
    /// Grows refused (past a maximum), as the model predicted.
    pub refused_grows: usize,
    /// Non-null references read back and matched by id.
    pub refs_matched: usize,
    /// Collections the GC heap ran (by request or when full).
    pub collections: u64,
}

/// The engine a sequence runs on.
#[derive(Debug, Clone, Copy)]
pub struct EngineChoice {
    pub optimize: bool,
    pub collector: Collector,
    pub gc_heap_bytes: u64,
    /// GC zeal 1: every allocation collects first, and the heap is
    /// verified after each collection.
    pub zeal: bool,
}

impl<'a> Arbitrary<'a> for EngineChoice {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        // `zeal` is read by `table_ops` after the operations, so inputs
        // from before it existed decode to the same sequence.
        Ok(EngineChoice { optimize: u.arbitrary()?, collector: *u.choose(&config::COLLECTORS)?, gc_heap_bytes: *u.choose(&config::GC_HEAP_CHOICES)?, zeal: false })
    }
}

impl EngineChoice {
    /// A dense index over every choice, for the engine cache.
    fn index(&self) -> usize {
        let c = config::COLLECTORS.iter().position(|c| *c == self.collector).expect("a listed collector");
        let h = config::GC_HEAP_CHOICES.iter().position(|h| *h == self.gc_heap_bytes).expect("a listed heap size");
        ((usize::from(self.zeal) * 2 + usize::from(self.optimize)) * config::COLLECTORS.len() + c) * config::GC_HEAP_CHOICES.len() + h
    }
}

const ENGINE_CHOICES: usize = 4 * config::COLLECTORS.len() * config::GC_HEAP_CHOICES.len();

/// Generates an engine choice and a sequence, and runs it.
pub fn table_ops(u: &mut Unstructured<'_>) -> arbitrary::Result<Stats> {
    let mut engine = EngineChoice::arbitrary(u)?;
    let ops = TableOps::arbitrary(u)?;
    engine.zeal = u.arbitrary()?;
    crate::repro::log_config("table_ops", &(engine, &ops));
    Ok(run(&ops, engine))
}

/// The store's data: reference ids and what `observe` saw.
#[derive(Default)]
struct Host {
    next_id: u32,
    /// Every reference made so far, with its id.
    made: Vec<(Rooted<ExternRef>, u32)>,
    /// Each `observe` call's argument, as an id.
    observed: Vec<Result<Option<u32>, String>>,
}

/// The id inside `r` (`None` for null), or why it has none.
fn ref_id<'a, T: 'a>(r: Option<Rooted<ExternRef>>, store: impl Into<kiln::StoreContext<'a, T>>) -> Result<Option<u32>, String> {
    let Some(r) = r else { return Ok(None) };
    let data = r.data(store).map_err(|e| format!("{e:#}"))?;
    data.and_then(|d| d.downcast_ref::<u32>()).map(|id| Some(*id)).ok_or_else(|| "externref wraps something other than an id".to_string())
}

/// Makes a reference with the next id and records it.
fn make_ref<C: kiln::AsContextMut<Data = Host>>(mut cx: C) -> (Rooted<ExternRef>, u32) {
    let id = cx.as_context_mut().data().next_id;
    cx.as_context_mut().data_mut().next_id += 1;
    let r = ExternRef::new(&mut cx, id).expect("a 1 MiB heap holds the fuzzer's references");
    cx.as_context_mut().data_mut().made.push((r, id));
    (r, id)
}

/// Engine and compiled module for `choice`, made on first use: the
/// module is fixed, so recompiling it per input would only slow fuzzing
/// down.
fn engine_and_module(choice: EngineChoice) -> &'static (Engine, Module) {
    static CACHE: [OnceLock<(Engine, Module)>; ENGINE_CHOICES] = [const { OnceLock::new() }; ENGINE_CHOICES];
    CACHE[choice.index()].get_or_init(|| {
        let mut config = config::base_config();
        config
            .cranelift_opt_level(if choice.optimize { OptLevel::Speed } else { OptLevel::None })
            .collector(choice.collector)
            .max_gc_heap_size(choice.gc_heap_bytes)
            .gc_zeal_alloc_counter(choice.zeal.then_some(std::num::NonZeroU32::MIN))
            .expect("zeal is supported");
        let engine = Engine::new(&config).expect("fuzzing configurations are valid");
        let module = Module::new(&engine, crate::generators::table_ops::module_wat()).expect("the table_ops module compiles");
        (engine, module)
    })
}

/// One table of the model.
struct ModelTable {
    elems: Vec<Option<u32>>,
    /// The most elements the table may have: its declared maximum capped
    /// by the engine's limit.
    max: u64,
    table64: bool,
}

impl ModelTable {
    /// The value Wasm sees for operand `x`: 32-bit tables take the low
    /// 32 bits.
    fn operand(&self, x: u64) -> u64 {
        if self.table64 { x } else { x as u32 as u64 }
    }

    fn val(&self, x: u64) -> Val {
        if self.table64 { Val::I64(x as i64) } else { Val::I32(x as u32 as i32) }
    }

    fn len(&self) -> u64 {
        self.elems.len() as u64
    }

    /// Is `start..start+len` inside the table?
    fn in_bounds(&self, start: u64, len: u64) -> bool {
        start.checked_add(len).is_some_and(|end| end <= self.len())
    }

    fn grow(&mut self, delta: u64, value: Option<u32>) -> Option<u64> {
        let old = self.len();
        let new = old.checked_add(delta).filter(|n| *n <= self.max)?;
        self.elems.resize(new as usize, value);
        Some(old)
    }
}

struct Runner {
    store: Store<Host>,
    instance: Instance,
    tables: Vec<Table>,
    model: Vec<ModelTable>,
    stats: Stats,
}

/// Runs `ops` on a fresh instance.
///
/// # Panics
/// When Kiln's answer to an operation differs from the model's.
pub fn run(ops: &TableOps, choice: EngineChoice) -> Stats {
    let (engine, module) = engine_and_module(choice);
    let mut linker = Linker::new(engine);
    linker
        // A handle made during a host call is released when the call
        // returns, so references made here are not kept for reuse.
        .func_wrap("host", "make", |mut caller: Caller<'_, Host>| -> anyhow::Result<Option<Rooted<ExternRef>>> {
            let id = caller.data().next_id;
            caller.data_mut().next_id += 1;
            Ok(Some(ExternRef::new(&mut caller, id)?))
        })
        .unwrap()
        .func_wrap("host", "observe", |mut caller: Caller<'_, Host>, r: Option<Rooted<ExternRef>>| {
            let id = ref_id(r, &caller);
            caller.data_mut().observed.push(id);
        })
        .unwrap()
        .func_wrap("host", "gc", |mut caller: Caller<'_, Host>| caller.gc(None))
        .unwrap();
    let mut store = Store::new(engine, Host::default());
    store.set_fuel(config::FUEL).unwrap();
    let instance = linker.instantiate(&mut store, module).expect("the table_ops module instantiates");
    let tables = (0..TABLES.len()).map(|i| instance.get_table(&mut store, &format!("t{i}")).expect("tables are exported")).collect();
    let model = TABLES
        .iter()
        .map(|t| ModelTable {
            elems: vec![None; t.minimum as usize],
            max: t.maximum.unwrap_or(u64::MAX).min(config::MAX_TABLE_ELEMENTS),
            table64: t.table64,
        })
        .collect();
    let mut runner = Runner { store, instance, tables, model, stats: Stats::default() };
    for (step, op) in ops.ops.iter().enumerate() {
        runner.step(op).unwrap_or_else(|msg| panic!("table_ops step {step} ({op:?}) on {choice:?}: {msg}\nall operations: {ops:#?}"));
        runner.stats.ops += 1;
    }
    runner.check_all().unwrap_or_else(|msg| panic!("table_ops final state on {choice:?}: {msg}\nall operations: {ops:#?}"));
    runner.stats.collections = runner.store.gc_stats().map_or(0, |s| s.collections);
    runner.stats
}

/// `Err(what differed)` when Kiln and the model disagree.
type Check = Result<(), String>;

fn expect_eq<T: PartialEq + std::fmt::Debug>(what: &str, kiln: T, model: T) -> Check {
    if kiln == model { Ok(()) } else { Err(format!("{what}: Kiln says {kiln:?}, the model says {model:?}")) }
}

impl Runner {
    /// The reference for `source` and its id.
    fn reference(&mut self, source: RefSource) -> (Option<Rooted<ExternRef>>, Option<u32>) {
        match source {
            RefSource::Null => (None, None),
            RefSource::Fresh => {
                let (r, id) = make_ref(&mut self.store);
                (Some(r), Some(id))
            }
            RefSource::Earlier(n) => {
                let made = &self.store.data().made;
                if made.is_empty() {
                    return (None, None);
                }
                let (r, id) = made[n as usize % made.len()];
                (Some(r), Some(id))
            }
        }
    }

    /// Calls export `name` with fuel topped up.
    fn call(&mut self, name: &str, args: &[Val], results: usize) -> (Outcome, Vec<Val>) {
        let f: Func = self.instance.get_func(&mut self.store, name).unwrap_or_else(|| panic!("export {name}"));
        let mut out = vec![Val::I32(0); results];
        self.store.set_fuel(config::FUEL).unwrap();
        let outcome = Outcome::of(&f.call(&mut self.store, args, &mut out));
        (outcome, out)
    }

    /// Checks a call that the model says traps out of bounds or succeeds.
    fn expect_outcome(&mut self, what: &str, outcome: &Outcome, in_bounds: bool) -> Check {
        let expected = if in_bounds { Outcome::Ok } else { Outcome::Trap(Trap::TableOutOfBounds) };
        expect_eq(what, outcome, &expected)?;
        self.stats.traps += usize::from(!in_bounds);
        Ok(())
    }

    fn id_of_val(&mut self, v: Option<Val>) -> Result<Option<u32>, String> {
        match v {
            Some(Val::ExternRef(r)) => {
                let id = ref_id(r, &self.store)?;
                self.stats.refs_matched += usize::from(id.is_some());
                Ok(id)
            }
            other => Err(format!("expected an externref, got {other:?}")),
        }
    }

    fn step(&mut self, op: &TableOp) -> Check {
        match *op {
            TableOp::Get { table, index, via: Via::Wasm } => {
                let t = &self.model[table];
                let (i, arg) = (t.operand(index), t.val(index));
                let (outcome, out) = self.call(&format!("get{table}"), &[arg], 1);
                let in_bounds = i < self.model[table].len();
                self.expect_outcome("table.get", &outcome, in_bounds)?;
                if in_bounds {
                    let id = self.id_of_val(Some(out[0]))?;
                    expect_eq("table.get element", id, self.model[table].elems[i as usize])?;
                }
            }
            TableOp::Get { table, index, via: Via::Host } => {
                let got = self.tables[table].get(&mut self.store, index);
                let in_bounds = index < self.model[table].len();
                expect_eq("Table::get is_some", got.is_some(), in_bounds)?;
                if in_bounds {
                    let id = self.id_of_val(got)?;
                    expect_eq("Table::get element", id, self.model[table].elems[index as usize])?;
                }
            }
            TableOp::Set { table, index, value, via } => {
                let (r, id) = self.reference(value);
                let (ok, i) = match via {
                    Via::Wasm => {
                        let t = &self.model[table];
                        let (i, arg) = (t.operand(index), t.val(index));
                        let (outcome, _) = self.call(&format!("set{table}"), &[arg, Val::ExternRef(r)], 0);
                        let in_bounds = i < self.model[table].len();
                        self.expect_outcome("table.set", &outcome, in_bounds)?;
                        (in_bounds, i)
                    }
                    Via::Host => {
                        let result = self.tables[table].set(&mut self.store, index, Val::ExternRef(r));
                        expect_eq("Table::set is_ok", result.is_ok(), index < self.model[table].len())?;
                        (result.is_ok(), index)
                    }
                };
                if ok {
                    self.model[table].elems[i as usize] = id;
                }
            }
            TableOp::Grow { table, delta, value, via } => {
                let (r, id) = self.reference(value);
                let (kiln, d) = match via {
                    Via::Wasm => {
                        let t = &self.model[table];
                        let (d, arg) = (t.operand(delta), t.val(delta));
                        let (outcome, out) = self.call(&format!("grow{table}"), &[Val::ExternRef(r), arg], 1);
                        expect_eq("table.grow outcome", &outcome, &Outcome::Ok)?;
                        // -1 (all ones at the table's index width) is failure.
                        let old = match out[0] {
                            Val::I32(-1) | Val::I64(-1) => None,
                            Val::I32(n) => Some(n as u32 as u64),
                            Val::I64(n) => Some(n as u64),
                            other => return Err(format!("table.grow returned {other:?}")),
                        };
                        (old, d)
                    }
                    Via::Host => (self.tables[table].grow(&mut self.store, delta, Val::ExternRef(r)).ok(), delta),
                };
                let model = self.model[table].grow(d, id);
                self.stats.refused_grows += usize::from(model.is_none());
                expect_eq("grow's old size", kiln, model)?;
            }
            TableOp::Size { table, via } => {
                let size = match via {
                    Via::Wasm => match self.call(&format!("size{table}"), &[], 1) {
                        (Outcome::Ok, out) => match out[0] {
                            Val::I32(n) => n as u32 as u64,
                            Val::I64(n) => n as u64,
                            other => return Err(format!("table.size returned {other:?}")),
                        },
                        (other, _) => return Err(format!("table.size: {other:?}")),
                    },
                    Via::Host => self.tables[table].size(&mut self.store),
                };
                expect_eq("size", size, self.model[table].len())?;
            }
            TableOp::Fill { table, dst, value, len } => {
                let (r, id) = self.reference(value);
                let t = &self.model[table];
                let (d, n) = (t.operand(dst), t.operand(len));
                let args = [t.val(dst), Val::ExternRef(r), t.val(len)];
                let (outcome, _) = self.call(&format!("fill{table}"), &args, 0);
                let in_bounds = self.model[table].in_bounds(d, n);
                self.expect_outcome("table.fill", &outcome, in_bounds)?;
                if in_bounds {
                    self.model[table].elems[d as usize..(d + n) as usize].fill(id);
                }
            }
            TableOp::Copy { dst_table, src_table, dst, src, len } => {
                let (dt, st) = (&self.model[dst_table], &self.model[src_table]);
                let (d, s) = (dt.operand(dst), st.operand(src));
                // The length has the narrower index type of the two.
                let wide = dt.table64 && st.table64;
                let (n, len_arg) = if wide { (len, Val::I64(len as i64)) } else { (len as u32 as u64, Val::I32(len as u32 as i32)) };
                let args = [dt.val(dst), st.val(src), len_arg];
                let (outcome, _) = self.call(&format!("copy{dst_table}{src_table}"), &args, 0);
                let in_bounds = self.model[dst_table].in_bounds(d, n) && self.model[src_table].in_bounds(s, n);
                self.expect_outcome("table.copy", &outcome, in_bounds)?;
                if in_bounds {
                    let moved = self.model[src_table].elems[s as usize..(s + n) as usize].to_vec();
                    self.model[dst_table].elems[d as usize..(d + n) as usize].copy_from_slice(&moved);
                }
            }
            TableOp::MakeInWasm { table, index } => {
                let t = &self.model[table];
                let (i, arg) = (t.operand(index), t.val(index));
                // `make` runs before the store's bounds check, so it
                // takes an id even when the store then traps.
                let id = self.store.data().next_id;
                let (outcome, _) = self.call(&format!("make{table}"), &[arg], 0);
                expect_eq("ids taken by make", self.store.data().next_id, id + 1)?;
                let in_bounds = i < self.model[table].len();
                self.expect_outcome("make + table.set", &outcome, in_bounds)?;
                if in_bounds {
                    self.model[table].elems[i as usize] = Some(id);
                }
            }
            TableOp::ObserveInWasm { table, index } => {
                let t = &self.model[table];
                let (i, arg) = (t.operand(index), t.val(index));
                let before = self.store.data().observed.len();
                let (outcome, _) = self.call(&format!("observe{table}"), &[arg], 0);
                let in_bounds = i < self.model[table].len();
                self.expect_outcome("table.get + observe", &outcome, in_bounds)?;
                let observed = &self.store.data().observed[before..];
                if in_bounds {
                    let expected = self.model[table].elems[i as usize];
                    expect_eq("observed", observed, &[Ok(expected)][..])?;
                    self.stats.refs_matched += usize::from(expected.is_some());
                } else {
                    expect_eq("observe calls after a trapping table.get", observed.len(), 0)?;
                }
            }
            TableOp::Gc { via: Via::Host, .. } => {
                self.store.gc(None).map_err(|e| format!("Store::gc: {e:#}"))?;
                // Every handle made so far must still hold its id.
                for k in 0..self.store.data().made.len() {
                    let (r, id) = self.store.data().made[k];
                    expect_eq("host handle after a collection", ref_id(Some(r), &self.store)?, Some(id))?;
                }
            }
            TableOp::Gc { table, index, via: Via::Wasm } => {
                let t = &self.model[table];
                let (i, arg) = (t.operand(index), t.val(index));
                let before = self.store.data().observed.len();
                let (outcome, _) = self.call(&format!("gc{table}"), &[arg], 0);
                let in_bounds = i < self.model[table].len();
                self.expect_outcome("table.get + gc + observe + table.set", &outcome, in_bounds)?;
                let observed = &self.store.data().observed[before..];
                if in_bounds {
                    // The slot gets its element back: the model is unchanged.
                    let expected = self.model[table].elems[i as usize];
                    expect_eq("the local held across a collection", observed, &[Ok(expected)][..])?;
                    self.stats.refs_matched += usize::from(expected.is_some());
                } else {
                    expect_eq("observe calls after a trapping table.get", observed.len(), 0)?;
                }
            }
        }
        Ok(())
    }

    /// Compares every slot of every table with the model.
    fn check_all(&mut self) -> Check {
        for table in 0..self.model.len() {
            let size = self.tables[table].size(&mut self.store);
            expect_eq(&format!("size of table {table}"), size, self.model[table].len())?;
            for i in 0..size {
                let got = self.tables[table].get(&mut self.store, i);
                let id = self.id_of_val(got)?;
                expect_eq(&format!("table {table} element {i}"), id, self.model[table].elems[i as usize])?;
            }
        }
        Ok(())
    }
}
