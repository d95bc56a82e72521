//! Kiln against Kiln: one valid module, run by several *variants* (engines
//! with different settings, or the same module compiled, serialized or
//! cached differently), must behave the same.
//!
//! Shared by the oracles that compare Kiln with itself
//! (`collector_differential`, `cranelift_fuzzgen`, `cranelift_icache`).
//! Each variant instantiates the module in a store of its own, with dummy
//! imports and fuel; then every exported function is called, in export
//! order, with the same arguments on every variant (numbers from the
//! input, references from each store's dummies), and after each call the
//! exported globals, table elements (up to a bound) and memories (by
//! length and hash) and the fuel left are compared.
//!
//! Values are compared as every variant must show them: numbers exactly
//! (any NaN equals any NaN: NaN payloads are not deterministic), i31
//! references by value, other references by null-ness and, for `anyref`,
//! whether the object is a struct or an array. Fuel is charged per Wasm
//! operator at translation time, so it must agree too, traps included.
//!
//! Where variants may legitimately part ways (the caller names the traps:
//! a full GC heap, an overflowing stack), the rest of the module is
//! abandoned rather than compared.

use super::Outcome;
use super::compile::show;
use super::dummy::{dummy_imports, dummy_value};
use crate::generators::{config, values};
use arbitrary::Unstructured;
use kiln::{Extern, FuncType, Instance, Module, Store, Trap, Val};
use std::fmt;

/// What a run compared, for tests to check the generator's reach.
#[derive(Debug, Default, Clone, Copy)]
pub struct Stats {
    /// Modules every variant instantiated.
    pub instantiated: usize,
    /// Calls compared, how many returned, how many trapped.
    pub calls: usize,
    pub returns: usize,
    pub traps: usize,
    /// Modules abandoned (a trap the variants may disagree on).
    pub abandoned: usize,
}

impl Stats {
    /// Adds `other`'s counts to these.
    pub fn add(&mut self, other: Stats) {
        self.instantiated += other.instantiated;
        self.calls += other.calls;
        self.returns += other.returns;
        self.traps += other.traps;
        self.abandoned += other.abandoned;
    }
}

/// A value as every variant must show it.
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
            Val::AnyRef(Some(a)) => match a.as_i31(&*store) {
                Ok(Some(i)) => GcValue::I31(i.get_i32()),
                _ if a.is_struct(&*store).unwrap_or(false) => GcValue::Struct,
                _ if a.is_array(&*store).unwrap_or(false) => GcValue::Array,
                _ => GcValue::Object,
            },
            Val::FuncRef(Some(_)) | Val::ExternRef(Some(_)) | Val::ExnRef(Some(_)) => GcValue::Object,
        }
    }
}

/// How one step ended on one variant.
#[derive(Debug, Clone, PartialEq)]
enum Step {
    Returned(Vec<GcValue>),
    Trapped(Trap),
    /// A trap the variants may legitimately part ways on.
    Exhausted(Trap),
    Error(String),
}

impl Step {
    fn of<T: 'static>(store: &Store<T>, outcome: Outcome, results: &[Val], abandon_on: &[Trap]) -> Step {
        match outcome {
            Outcome::Ok => Step::Returned(results.iter().map(|v| GcValue::of(store, v)).collect()),
            Outcome::Trap(t) if abandon_on.contains(&t) => Step::Exhausted(t),
            Outcome::Trap(t) => Step::Trapped(t),
            Outcome::Error(e) => Step::Error(e),
        }
    }
}

/// Exported globals, table elements (up to a bound), memories (by length
/// and FNV-1a hash: a message with whole memories is unreadable) and the
/// fuel left.
#[derive(Debug, PartialEq)]
struct Snapshot(Vec<(String, Vec<GcValue>)>);

/// Table elements compared per table: enough to see a lost or wrong
/// reference, few enough for a debug build.
const TABLE_ELEMENTS_COMPARED: u64 = 64;

/// One variant of a comparison: a name for messages, and the module as
/// that variant compiled or loaded it (its engine is the module's).
pub(crate) struct Variant {
    pub name: String,
    pub module: Module,
}

/// A variant with its store and the instance's exports.
struct Side {
    name: String,
    store: Store<()>,
    exports: Vec<(String, Extern)>,
}

/// Runs the valid module `wasm` on every variant (whose engines must meter
/// fuel), with call arguments from `u`; traps in `abandon_on` end the
/// comparison. `oracle` names the caller in messages.
///
/// # Panics
/// When two variants disagree, with every variant's answer and the module.
pub(crate) fn compare(oracle: &str, variants: Vec<Variant>, wasm: &[u8], u: &mut Unstructured<'_>, abandon_on: &[Trap]) -> Stats {
    let mut stats = Stats::default();
    let fail = |what: &str, answers: &dyn fmt::Debug| -> ! { panic!("{oracle}: variants disagree: {what}\n{answers:#?}\nmodule:\n{}", show(wasm)) };
    let Some((mut sides, instantiated)) = instantiate_all(variants, abandon_on) else { return stats };
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
        let Extern::Func(f0) = sides[0].exports[index].1 else { unreachable!() };
        let ty = f0.ty(&sides[0].store);
        // Numbers come from the input once, for every side.
        let numbers: Vec<Option<Val>> = ty.params().iter().map(|p| values::scalar(u, p).unwrap_or(None)).collect();
        let Some(steps) = call_everywhere(&mut sides, index, &ty, &numbers, abandon_on) else { return stats };
        match agreement(&steps) {
            Verdict::Agree | Verdict::Stop => {}
            Verdict::Abandon => {
                stats.abandoned += 1;
                return stats;
            }
            Verdict::Disagree => fail(&format!("calling `{name}` {ty} with {numbers:?}"), &steps),
        }
        stats.calls += 1;
        match &steps[0].1 {
            Step::Returned(_) => stats.returns += 1,
            Step::Trapped(_) => stats.traps += 1,
            _ => {}
        }
        let states: Vec<(String, Snapshot)> = sides.iter_mut().map(|s| (s.name.clone(), snapshot(&mut s.store, &s.exports))).collect();
        if states.iter().any(|(_, s)| *s != states[0].1) {
            fail(&format!("exported state after calling `{name}`"), &states);
        }
    }
    stats
}

/// A store per variant, with the module instantiated under fuel, and how
/// each instantiation ended; `None` when some import has no dummy.
fn instantiate_all(variants: Vec<Variant>, abandon_on: &[Trap]) -> Option<(Vec<Side>, Vec<(String, Step)>)> {
    let mut sides = Vec::new();
    let mut steps = Vec::new();
    for Variant { name, module } in variants {
        let mut store = Store::new(module.engine(), ());
        let imports = dummy_imports(&mut store, &module).ok()?;
        store.set_fuel(config::FUEL).expect("fuzzing configurations meter fuel");
        let instance = Instance::new(&mut store, &module, &imports);
        steps.push((name.clone(), Step::of(&store, Outcome::of(&instance), &[], abandon_on)));
        let exports = instance.map(|i| i.exports(&mut store)).unwrap_or_default();
        sides.push(Side { name, store, exports });
    }
    Some((sides, steps))
}

/// Calls the `index`-th export (a function of type `ty`) on every side
/// with a full tank of fuel; `None` when some reference parameter has no
/// dummy.
fn call_everywhere(sides: &mut [Side], index: usize, ty: &FuncType, numbers: &[Option<Val>], abandon_on: &[Trap]) -> Option<Vec<(String, Step)>> {
    let mut steps = Vec::new();
    for side in sides {
        let Extern::Func(f) = side.exports[index].1 else { unreachable!("every side has the same exports") };
        // References are each store's dummies (the same kinds everywhere).
        let args: Vec<Val> = ty.params().iter().zip(numbers).map(|(p, n)| n.clone().or_else(|| dummy_value(&mut side.store, p).ok())).collect::<Option<_>>()?;
        let mut results = vec![Val::I32(0); ty.results().len()];
        side.store.set_fuel(config::FUEL).expect("fuzzing configurations meter fuel");
        let outcome = Outcome::of(&f.call(&mut side.store, &args, &mut results));
        steps.push((side.name.clone(), Step::of(&side.store, outcome, &results, abandon_on)));
    }
    Some(steps)
}

enum Verdict {
    Agree,
    /// Agreed on a trap: the instance is gone, nothing more to compare.
    Stop,
    Abandon,
    Disagree,
}

fn agreement(steps: &[(String, Step)]) -> Verdict {
    if steps.iter().any(|(_, s)| matches!(s, Step::Exhausted(_))) {
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
                let hash = crate::repro::fnv1a(data);
                items.push((name.clone(), vec![GcValue::I64(data.len() as i64), GcValue::I64(hash as i64)]));
            }
            // Fuzzed configurations leave threads off: no shared memories.
            Extern::Func(_) | Extern::Tag(_) | Extern::SharedMemory(_) => {}
        }
    }
    let fuel = store.get_fuel().expect("fuzzing configurations meter fuel");
    items.push(("<fuel left>".to_string(), vec![GcValue::I64(fuel as i64)]));
    Snapshot(items)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln::Engine;

    /// Two variants built from `a` and `b` (text), compared.
    fn compare_wat(a: &str, b: &str) -> Stats {
        let engine = Engine::new(&config::base_config()).unwrap();
        let variants = [("a", a), ("b", b)].map(|(name, wat)| Variant { name: name.into(), module: Module::new(&engine, wat).unwrap() });
        compare("test", variants.into(), b"", &mut Unstructured::new(&[]), &[Trap::StackOverflow])
    }

    #[test]
    fn equal_behaviour_is_compared_call_by_call() {
        let wat = r#"(module (global (export "g") (mut i32) (i32.const 0))
            (func (export "f") (result i32) (global.set 0 (i32.const 7)) (i32.const 1))
            (func (export "t") unreachable))"#;
        let stats = compare_wat(wat, wat);
        assert_eq!((stats.instantiated, stats.calls, stats.returns, stats.traps), (1, 2, 1, 1), "{stats:?}");
    }

    #[test]
    #[should_panic(expected = "variants disagree: calling `f`")]
    fn different_results_are_reported() {
        compare_wat(r#"(module (func (export "f") (result i32) i32.const 1))"#, r#"(module (func (export "f") (result i32) i32.const 2))"#);
    }

    #[test]
    #[should_panic(expected = "variants disagree: exported state after calling `f`")]
    fn different_fuel_use_is_reported() {
        compare_wat(r#"(module (func (export "f") (result i32) i32.const 1))"#, r#"(module (func (export "f") (result i32) nop i32.const 1))"#);
    }

    #[test]
    fn abandoning_traps_end_the_comparison() {
        let deep = r#"(module (func $d (export "d") (call $d)) (func (export "f") (result i32) i32.const 1))"#;
        let other = r#"(module (func $d (export "d") (call $d)) (func (export "f") (result i32) i32.const 2))"#;
        let stats = compare_wat(deep, other);
        assert_eq!((stats.abandoned, stats.calls), (1, 0), "{stats:?}");
    }
}
