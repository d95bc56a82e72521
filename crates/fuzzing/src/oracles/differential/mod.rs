//! The differential oracle: Kiln and the wasmi interpreter run the same
//! wasm-smith module (restricted to what wasmi implements, see
//! `generators::smith::wasmi_config`) and must agree.
//!
//! Both instantiate it (no imports); then every exported function, in
//! export order, is called with the same generated arguments on both, and
//! after each call the exported memories, globals and table sizes are
//! compared. Agreement means: equal results (floats compared by bits,
//! except that any NaN equals any NaN: NaN payloads are not deterministic
//! in Wasm), or a trap on both sides (which trap is not compared: engines
//! may detect two faults of one instruction in either order).
//!
//! Fuel is metered on both sides but the engines price instructions
//! differently, and their stacks differ in size: once either side runs
//! out of fuel or stack, their states may legitimately diverge, so the
//! rest of the module is abandoned rather than compared.

mod wasmi_side;

use super::Outcome;
use super::compile::{checked_compile, show};
use crate::generators::{config, smith, values};
use arbitrary::Unstructured;
use kiln::{Config, Engine, Extern, Instance, Store, Trap, Val, ValType};
use std::fmt;

/// What a run compared, for tests to check the generator's reach.
#[derive(Debug, Default, Clone, Copy)]
pub struct Stats {
    /// Modules both engines compiled and instantiated.
    pub instantiated: usize,
    /// Calls compared, and how many of those returned on both sides.
    pub calls: usize,
    pub returns: usize,
    /// Modules abandoned because an engine ran out of fuel or stack.
    pub abandoned: usize,
    /// Modules wasmi could not compile (its limitation, not Kiln's).
    pub peer_rejected: usize,
}

/// A value as both engines can express it.
#[derive(Clone, Copy)]
pub enum DiffValue {
    I32(i32),
    I64(i64),
    F32(u32),
    F64(u64),
    V128(u128),
    /// References are compared by null-ness: handles of two engines have
    /// nothing else in common.
    FuncRef { null: bool },
    ExternRef { null: bool },
}

impl PartialEq for DiffValue {
    fn eq(&self, other: &Self) -> bool {
        use DiffValue::*;
        match (*self, *other) {
            (I32(a), I32(b)) => a == b,
            (I64(a), I64(b)) => a == b,
            (F32(a), F32(b)) => a == b || (f32::from_bits(a).is_nan() && f32::from_bits(b).is_nan()),
            (F64(a), F64(b)) => a == b || (f64::from_bits(a).is_nan() && f64::from_bits(b).is_nan()),
            (V128(a), V128(b)) => a == b,
            (FuncRef { null: a }, FuncRef { null: b }) | (ExternRef { null: a }, ExternRef { null: b }) => a == b,
            _ => false,
        }
    }
}

impl fmt::Debug for DiffValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            DiffValue::I32(v) => write!(f, "i32:{v}"),
            DiffValue::I64(v) => write!(f, "i64:{v}"),
            DiffValue::F32(v) => write!(f, "f32:{}({v:#x})", f32::from_bits(v)),
            DiffValue::F64(v) => write!(f, "f64:{}({v:#x})", f64::from_bits(v)),
            DiffValue::V128(v) => write!(f, "v128:{v:#034x}"),
            DiffValue::FuncRef { null } => write!(f, "funcref({})", if null { "null" } else { "non-null" }),
            DiffValue::ExternRef { null } => write!(f, "externref({})", if null { "null" } else { "non-null" }),
        }
    }
}

impl DiffValue {
    fn from_kiln(v: &Val) -> DiffValue {
        match v {
            Val::I32(x) => DiffValue::I32(*x),
            Val::I64(x) => DiffValue::I64(*x),
            Val::F32(x) => DiffValue::F32(*x),
            Val::F64(x) => DiffValue::F64(*x),
            Val::V128(x) => DiffValue::V128(*x),
            Val::FuncRef(r) => DiffValue::FuncRef { null: r.is_none() },
            Val::ExternRef(r) => DiffValue::ExternRef { null: r.is_none() },
            // The generator excludes GC and exceptions.
            Val::AnyRef(_) | Val::ExnRef(_) => unreachable!("no GC or exception values without GC and exceptions: {v:?}"),
        }
    }

    /// The Kiln value; references must be null (the only ones passed in).
    fn to_kiln(self) -> Val {
        match self {
            DiffValue::I32(x) => Val::I32(x),
            DiffValue::I64(x) => Val::I64(x),
            DiffValue::F32(x) => Val::F32(x),
            DiffValue::F64(x) => Val::F64(x),
            DiffValue::V128(x) => Val::V128(x),
            DiffValue::FuncRef { .. } => Val::FuncRef(None),
            DiffValue::ExternRef { .. } => Val::ExternRef(None),
        }
    }

    /// An argument of type `ty`: numbers from `u`, null references.
    fn arbitrary(u: &mut Unstructured<'_>, ty: &ValType) -> DiffValue {
        match values::scalar(u, ty).unwrap_or(None) {
            Some(v) => DiffValue::from_kiln(&v),
            None if *ty == ValType::EXTERNREF => DiffValue::ExternRef { null: true },
            None => DiffValue::FuncRef { null: true },
        }
    }
}

/// How a step ended on one engine, as far as the engines can be compared.
#[derive(Debug, Clone)]
pub enum DiffOutcome {
    Returned(Vec<DiffValue>),
    /// A trap, with its description (for messages only: which trap is not
    /// compared).
    Trapped(String),
    /// Out of fuel or stack: the engines may now disagree legitimately.
    Exhausted,
    /// Any other error, by message.
    Error(String),
}

impl DiffOutcome {
    fn from_kiln(outcome: Outcome, results: &[Val]) -> DiffOutcome {
        match outcome {
            Outcome::Ok => DiffOutcome::Returned(results.iter().map(DiffValue::from_kiln).collect()),
            Outcome::Trap(Trap::OutOfFuel | Trap::StackOverflow) => DiffOutcome::Exhausted,
            Outcome::Trap(t) => DiffOutcome::Trapped(t.to_string()),
            Outcome::Error(e) => DiffOutcome::Error(e),
        }
    }
}

/// The observable state of an instance: exported memories, globals and
/// table sizes, each list sorted by export name (the engines list exports
/// in different orders).
#[derive(Debug, PartialEq)]
pub struct Snapshot {
    pub memories: Vec<(String, Vec<u8>)>,
    pub globals: Vec<(String, DiffValue)>,
    pub tables: Vec<(String, u64)>,
}

impl Snapshot {
    fn sort(&mut self) {
        self.memories.sort_by(|a, b| a.0.cmp(&b.0));
        self.globals.sort_by(|a, b| a.0.cmp(&b.0));
        self.tables.sort_by(|a, b| a.0.cmp(&b.0));
    }
}

/// Generates a configuration and module, then compares the engines.
pub fn differential(u: &mut Unstructured<'_>) -> arbitrary::Result<Stats> {
    let config = config::kiln_config(u)?;
    let wasm = smith::wasmi_module(u)?;
    crate::repro::log_case("differential", &config, &wasm);
    Ok(run(&config, &wasm, u))
}

/// Runs the valid module `wasm` on Kiln (configured with `config`, which
/// must meter fuel) and on wasmi, with call arguments from `u`.
///
/// # Panics
/// When the engines disagree, with both sides' answers and the module.
pub fn run(config: &Config, wasm: &[u8], u: &mut Unstructured<'_>) -> Stats {
    let mut stats = Stats::default();
    let Some(mut peer) = wasmi_side::Peer::new(wasm) else {
        stats.peer_rejected += 1;
        return stats;
    };
    let engine = Engine::new(config).expect("fuzzing configurations are valid");
    let module = checked_compile(&engine, wasm).expect("wasm-smith produced an invalid module");
    let mut store = Store::new(&engine, ());
    store.set_fuel(config::FUEL).expect("fuzzing configurations meter fuel");
    let instance = Instance::new(&mut store, &module, &[]);
    let kiln_outcome = DiffOutcome::from_kiln(Outcome::of(&instance), &[]);
    let peer_outcome = peer.instantiate();
    let fail = |what: &str, kiln: &dyn fmt::Debug, peer: &dyn fmt::Debug| -> ! {
        panic!("differential: {what}\n  kiln:  {kiln:?}\n  wasmi: {peer:?}\nmodule:\n{}", show(wasm))
    };
    match compare(&kiln_outcome, &peer_outcome) {
        Verdict::Agree => {}
        Verdict::Stop => return stats,
        Verdict::Abandon => {
            stats.abandoned += 1;
            return stats;
        }
        Verdict::Disagree => fail("instantiation disagrees", &kiln_outcome, &peer_outcome),
    }
    let Ok(instance) = instance else { unreachable!("both engines instantiated") };
    stats.instantiated += 1;

    let exports = instance.exports(&mut store);
    for (name, ext) in &exports {
        let Extern::Func(f) = ext else { continue };
        let ty = f.ty(&store);
        let args: Vec<DiffValue> = ty.params().iter().map(|p| DiffValue::arbitrary(u, p)).collect();
        let kiln_args: Vec<Val> = args.iter().map(|a| a.to_kiln()).collect();
        let mut results = vec![Val::I32(0); ty.results().len()];
        store.set_fuel(config::FUEL).expect("fuzzing configurations meter fuel");
        let kiln_outcome = DiffOutcome::from_kiln(Outcome::of(&f.call(&mut store, &kiln_args, &mut results)), &results);
        let peer_outcome = peer.call(name, &args, ty.results().len());
        let what = || format!("calling `{name}` {ty} with {args:?}");
        match compare(&kiln_outcome, &peer_outcome) {
            Verdict::Agree | Verdict::Stop => {}
            Verdict::Abandon => {
                stats.abandoned += 1;
                return stats;
            }
            Verdict::Disagree => fail(&what(), &kiln_outcome, &peer_outcome),
        }
        stats.calls += 1;
        stats.returns += usize::from(matches!(kiln_outcome, DiffOutcome::Returned(_)));
        let (kiln_state, peer_state) = (snapshot(&mut store, &exports), peer.snapshot());
        if kiln_state != peer_state {
            fail(&format!("state after {}: {}", what(), first_difference(&kiln_state, &peer_state)), &"(above)", &"(above)");
        }
    }
    stats
}

enum Verdict {
    Agree,
    /// Agreed, and nothing more can be compared (instantiation trapped).
    Stop,
    Abandon,
    Disagree,
}

fn compare(kiln: &DiffOutcome, peer: &DiffOutcome) -> Verdict {
    match (kiln, peer) {
        (DiffOutcome::Exhausted, _) | (_, DiffOutcome::Exhausted) => Verdict::Abandon,
        (DiffOutcome::Returned(a), DiffOutcome::Returned(b)) if a == b => Verdict::Agree,
        (DiffOutcome::Trapped(_), DiffOutcome::Trapped(_)) => Verdict::Stop,
        _ => Verdict::Disagree,
    }
}

fn snapshot(store: &mut Store<()>, exports: &[(String, Extern)]) -> Snapshot {
    let mut s = Snapshot { memories: vec![], globals: vec![], tables: vec![] };
    for (name, ext) in exports {
        match ext {
            Extern::Memory(m) => s.memories.push((name.clone(), m.data(&*store).to_vec())),
            Extern::Global(g) => s.globals.push((name.clone(), DiffValue::from_kiln(&g.get(&mut *store)))),
            Extern::Table(t) => s.tables.push((name.clone(), t.size(&mut *store))),
            // Fuzzed configurations leave threads off: no shared memories.
            Extern::Func(_) | Extern::Tag(_) | Extern::SharedMemory(_) => {}
        }
    }
    s.sort();
    s
}

/// Describes where two snapshots first differ (memories can be large).
fn first_difference(kiln: &Snapshot, peer: &Snapshot) -> String {
    for ((name, a), (_, b)) in kiln.memories.iter().zip(&peer.memories) {
        if a.len() != b.len() {
            return format!("memory `{name}` is {} bytes on kiln, {} on wasmi", a.len(), b.len());
        }
        if let Some(i) = a.iter().zip(b).position(|(x, y)| x != y) {
            let end = (i + 16).min(a.len());
            return format!("memory `{name}` differs at byte {i}: kiln {:02x?}, wasmi {:02x?}", &a[i..end], &b[i..end]);
        }
    }
    if kiln.globals != peer.globals {
        return format!("globals: kiln {:?}, wasmi {:?}", kiln.globals, peer.globals);
    }
    if kiln.tables != peer.tables {
        return format!("table sizes: kiln {:?}, wasmi {:?}", kiln.tables, peer.tables);
    }
    format!("exports differ: kiln {} memories, wasmi {}", kiln.memories.len(), peer.memories.len())
}
