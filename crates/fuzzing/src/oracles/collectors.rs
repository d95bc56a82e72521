//! The collector-differential oracle: one wasm-smith module, with GC and
//! exceptions enabled, runs under every collector — null (which never
//! frees, so it is the reference), copying and DRC — and all must behave
//! the same: equal results, the same traps, the same exported state.
//!
//! The engines differ only in their collector (and their GC heap size:
//! null gets the largest, the others an input-chosen one, tiny heaps
//! making collections frequent); in one input of two the copying and DRC
//! engines also run with zeal, collecting at every allocation. Every
//! exported function is called, in export order, with the same arguments
//! on each engine, and after each call the exported globals, tables and
//! memories are compared. Values are compared as the collectors cannot
//! change them: numbers exactly (any NaN equals any NaN), i31 references
//! by value, other references by null-ness and, for `anyref`, whether the
//! object is a struct or an array.
//!
//! Where collectors legitimately differ, the rest of the module is
//! abandoned rather than compared: a heap that fills (null never frees,
//! and heap sizes differ) and a stack that overflows (each collector's
//! barriers give frames their own sizes).

use super::Outcome;
use super::compile::{checked_compile, show};
use super::dummy::{dummy_imports, dummy_value};
use crate::generators::{config, smith, values};
use arbitrary::Unstructured;
use kiln::{Collector, Config, Engine, Extern, Instance, Store, Trap, Val};
use std::fmt;
use std::num::NonZeroU32;

/// What a run compared, for tests to check the generator's reach.
#[derive(Debug, Default, Clone, Copy)]
pub struct Stats {
    /// Modules every engine instantiated.
    pub instantiated: usize,
    /// Calls compared, how many returned, how many trapped.
    pub calls: usize,
    pub returns: usize,
    pub traps: usize,
    /// Modules abandoned (a full heap or an overflowing stack somewhere).
    pub abandoned: usize,
}

/// A value as every collector must show it.
#[derive(Clone, Copy, PartialEq)]
enum GcValue {
    I32(i32),
    I64(i64),
    F32(u32),
    F64(u64),
    V128(u128),
    Null,
    I31(i32),
    Struct,
    Array,
    /// A non-null reference of another kind (function, host, exception).
    Object,
}

impl fmt::Debug for GcValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            GcValue::I32(v) => write!(f, "i32:{v}"),
            GcValue::I64(v) => write!(f, "i64:{v}"),
            GcValue::F32(v) => write!(f, "f32:{v:#x}"),
            GcValue::F64(v) => write!(f, "f64:{v:#x}"),
            GcValue::V128(v) => write!(f, "v128:{v:#034x}"),
            GcValue::Null => write!(f, "null"),
            GcValue::I31(v) => write!(f, "i31:{v}"),
            GcValue::Struct => write!(f, "struct"),
            GcValue::Array => write!(f, "array"),
            GcValue::Object => write!(f, "object"),
        }
    }
}

impl GcValue {
    fn of<T: 'static>(store: &Store<T>, v: &Val) -> GcValue {
        match v {
            Val::I32(x) => GcValue::I32(*x),
            Val::I64(x) => GcValue::I64(*x),
            // NaNs are made equal: their payloads are not deterministic.
            Val::F32(x) if f32::from_bits(*x).is_nan() => GcValue::F32(0x7fc0_0000),
            Val::F32(x) => GcValue::F32(*x),
            Val::F64(x) if f64::from_bits(*x).is_nan() => GcValue::F64(0x7ff8_0000_0000_0000),
            Val::F64(x) => GcValue::F64(*x),
            Val::V128(x) => GcValue::V128(*x),
            Val::FuncRef(None) | Val::ExternRef(None) | Val::AnyRef(None) | Val::ExnRef(None) => GcValue::Null,
            Val::AnyRef(Some(a)) => match a.i31_get_s() {
                Some(i) => GcValue::I31(i),
                None if a.is_struct(store) => GcValue::Struct,
                None if a.is_array(store) => GcValue::Array,
                None => GcValue::Object,
            },
            Val::FuncRef(Some(_)) | Val::ExternRef(Some(_)) | Val::ExnRef(Some(_)) => GcValue::Object,
        }
    }
}

/// How one step ended on one engine.
#[derive(Debug, Clone, PartialEq)]
enum Step {
    Returned(Vec<GcValue>),
    Trapped(Trap),
    /// A heap that filled or a stack that overflowed: the collectors may
    /// legitimately part ways here.
    Exhausted,
    Error(String),
}

impl Step {
    fn of<T: 'static>(store: &Store<T>, outcome: Outcome, results: &[Val]) -> Step {
        match outcome {
            Outcome::Ok => Step::Returned(results.iter().map(|v| GcValue::of(store, v)).collect()),
            Outcome::Trap(Trap::GcHeapOutOfMemory | Trap::StackOverflow) => Step::Exhausted,
            Outcome::Trap(t) => Step::Trapped(t),
            Outcome::Error(e) => Step::Error(e),
        }
    }
}

/// Exported globals, table elements (up to a bound) and memories (by
/// length and FNV-1a hash: a message with whole memories is unreadable).
#[derive(Debug, PartialEq)]
struct Snapshot(Vec<(String, Vec<GcValue>)>);

/// Table elements compared per table: enough to see a lost or wrong
/// reference, few enough for a debug build.
const TABLE_ELEMENTS_COMPARED: u64 = 64;

/// One engine of the comparison.
struct Side {
    collector: &'static str,
    store: Store<()>,
    exports: Vec<(String, Extern)>,
}

/// Generates the engines and a module, then compares the collectors.
pub fn collector_differential(u: &mut Unstructured<'_>) -> arbitrary::Result<Stats> {
    let configs = engine_configs(u)?;
    let mut smith_config = smith::kiln_config(u)?;
    smith_config.gc_enabled = true;
    // See `smith::set_floors`: no type floor with GC.
    smith_config.min_types = 0;
    smith_config.reference_types_enabled = true;
    smith_config.exceptions_enabled = true;
    smith_config.export_everything = true;
    let wasm = wasm_smith::Module::new(smith_config, u)?.to_bytes();
    crate::repro::log_case("collector_differential", &configs, &wasm);
    Ok(run(&configs, &wasm, u))
}

/// Null with the largest heap, then copying and DRC with an input-chosen
/// heap and, in one input of two, zeal; code generation chosen once for
/// all.
fn engine_configs(u: &mut Unstructured<'_>) -> arbitrary::Result<Vec<(&'static str, Config)>> {
    let shared = config::kiln_config(u)?;
    let heap = *u.choose(&config::GC_HEAP_CHOICES)?;
    let zeal = if u.arbitrary()? { NonZeroU32::new(1) } else { None };
    let make = |collector, heap, zeal| {
        let mut c = shared.clone();
        c.collector(collector).max_gc_heap_size(heap);
        c.gc_zeal_alloc_counter(zeal).expect("zeal is supported");
        c
    };
    Ok(vec![
        ("null", make(Collector::Null, config::MAX_GC_HEAP_BYTES, None)),
        ("copying", make(Collector::Copying, heap, zeal)),
        ("drc", make(Collector::Drc, heap, zeal)),
    ])
}

/// Runs the valid module `wasm` under each configuration (which must
/// meter fuel), with call arguments from `u`.
///
/// # Panics
/// When two collectors disagree, with every side's answer and the module.
fn run(configs: &[(&'static str, Config)], wasm: &[u8], u: &mut Unstructured<'_>) -> Stats {
    let mut stats = Stats::default();
    let mut sides = Vec::new();
    let mut instantiated = Vec::new();
    for (collector, config) in configs {
        let engine = Engine::new(config).expect("fuzzing configurations are valid");
        let module = checked_compile(&engine, wasm).expect("wasm-smith produced an invalid module");
        let mut store = Store::new(&engine, ());
        let Ok(imports) = dummy_imports(&mut store, &module) else { return stats };
        store.set_fuel(config::FUEL).expect("fuzzing configurations meter fuel");
        let instance = Instance::new(&mut store, &module, &imports);
        instantiated.push((*collector, Step::of(&store, Outcome::of(&instance), &[])));
        let exports = instance.map(|i| i.exports(&mut store)).unwrap_or_default();
        sides.push(Side { collector, store, exports });
    }
    let fail = |what: &str, answers: &dyn fmt::Debug| -> ! { panic!("collectors disagree: {what}\n{answers:#?}\nmodule:\n{}", show(wasm)) };
    match agreement(&instantiated) {
        Verdict::Agree => {}
        Verdict::Stop => return stats,
        Verdict::Abandon => {
            stats.abandoned += 1;
            return stats;
        }
        Verdict::Disagree => fail("instantiation", &instantiated),
    }
    stats.instantiated += 1;

    let funcs: Vec<(usize, String)> =
        sides[0].exports.iter().enumerate().filter(|(_, (_, e))| matches!(e, Extern::Func(_))).map(|(i, (n, _))| (i, n.clone())).collect();
    for (index, name) in funcs {
        // Numbers come from the input once, for every side; references are
        // each store's dummies (the same kinds everywhere).
        let Extern::Func(f0) = sides[0].exports[index].1 else { unreachable!() };
        let ty = f0.ty(&sides[0].store);
        let numbers: Vec<Option<Val>> = ty.params().iter().map(|p| values::scalar(u, p).unwrap_or(None)).collect();
        let mut steps = Vec::new();
        for side in &mut sides {
            let Extern::Func(f) = side.exports[index].1 else { unreachable!("every side has the same exports") };
            let args: Option<Vec<Val>> =
                ty.params().iter().zip(&numbers).map(|(p, n)| n.clone().or_else(|| dummy_value(&mut side.store, p).ok())).collect();
            let Some(args) = args else { return stats };
            let mut results = vec![Val::I32(0); ty.results().len()];
            side.store.set_fuel(config::FUEL).expect("fuzzing configurations meter fuel");
            let outcome = Outcome::of(&f.call(&mut side.store, &args, &mut results));
            steps.push((side.collector, Step::of(&side.store, outcome, &results)));
        }
        match agreement(&steps) {
            Verdict::Agree | Verdict::Stop => {}
            Verdict::Abandon => {
                stats.abandoned += 1;
                return stats;
            }
            Verdict::Disagree => fail(&format!("calling `{name}` {ty}"), &steps),
        }
        stats.calls += 1;
        match &steps[0].1 {
            Step::Returned(_) => stats.returns += 1,
            Step::Trapped(_) => stats.traps += 1,
            _ => {}
        }
        let states: Vec<(&str, Snapshot)> = sides.iter_mut().map(|s| (s.collector, snapshot(&mut s.store, &s.exports))).collect();
        if states.iter().any(|(_, s)| *s != states[0].1) {
            fail(&format!("exported state after calling `{name}`"), &states);
        }
    }
    stats
}

enum Verdict {
    Agree,
    /// Agreed on a trap: the instance is gone, nothing more to compare.
    Stop,
    Abandon,
    Disagree,
}

fn agreement(steps: &[(&str, Step)]) -> Verdict {
    if steps.iter().any(|(_, s)| *s == Step::Exhausted) {
        return Verdict::Abandon;
    }
    if steps.iter().any(|(_, s)| *s != steps[0].1) {
        return Verdict::Disagree;
    }
    match steps[0].1 {
        Step::Trapped(_) => Verdict::Stop,
        _ => Verdict::Agree,
    }
}

fn snapshot(store: &mut Store<()>, exports: &[(String, Extern)]) -> Snapshot {
    let mut items = Vec::new();
    for (name, ext) in exports {
        match ext {
            Extern::Global(g) => {
                let v = g.get(&mut *store);
                items.push((name.clone(), vec![GcValue::of(store, &v)]));
            }
            Extern::Table(t) => {
                let size = t.size(&mut *store);
                let mut elems = vec![GcValue::I64(size as i64)];
                for i in 0..size.min(TABLE_ELEMENTS_COMPARED) {
                    let v = t.get(&mut *store, i).expect("in bounds");
                    elems.push(GcValue::of(store, &v));
                }
                items.push((name.clone(), elems));
            }
            Extern::Memory(m) => {
                let data = m.data(&*store);
                let hash = data.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3));
                items.push((name.clone(), vec![GcValue::I64(data.len() as i64), GcValue::I64(hash as i64)]));
            }
            Extern::Func(_) | Extern::Tag(_) => {}
        }
    }
    Snapshot(items)
}
