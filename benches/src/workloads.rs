//! The workloads: WAT files under `../workloads/` plus the generated
//! compile-time module, with their default and `--quick` inputs.

use crate::generate;
use crate::worker::Mode;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    /// Allocation-heavy Wasm GC program: `run(arg)` is timed.
    Gc,
    /// Compute without GC: `run(arg)` is timed.
    Compute,
    /// Compiling the module is timed.
    Compile,
    /// `count` instantiations (each in a new store, with a call) are timed.
    Instantiate,
}

impl Kind {
    /// What a worker process does for one sample.
    pub fn mode(self) -> Mode {
        match self {
            Kind::Gc | Kind::Compute => Mode::Run,
            Kind::Compile => Mode::Compile,
            Kind::Instantiate => Mode::Instantiate,
        }
    }
}

pub struct Workload {
    pub name: &'static str,
    pub kind: Kind,
    pub wat: String,
    /// The argument of `run`.
    pub arg: i32,
    /// Instantiations per sample (Instantiate only).
    pub count: u32,
    /// What the input means, for the table.
    pub input: String,
}

impl Workload {
    /// The number a worker gets for each sample: `run`'s argument, or the
    /// instance count.
    pub fn request(&self) -> i32 {
        match self.kind {
            Kind::Instantiate => self.count as i32,
            _ => self.arg,
        }
    }
}

/// (name, kind, source, default argument, quick argument, meaning of the argument)
const FILES: &[(&str, Kind, &str, i32, i32, &str)] = &[
    ("binary_trees", Kind::Gc, include_str!("../workloads/binary_trees.wat"), 14, 8, "depth"),
    ("list_churn", Kind::Gc, include_str!("../workloads/list_churn.wat"), 1_000_000, 20_000, "steps"),
    ("array_structs", Kind::Gc, include_str!("../workloads/array_structs.wat"), 10_000, 100, "rounds"),
    ("i31_boxing", Kind::Gc, include_str!("../workloads/i31_boxing.wat"), 20_000_000, 50_000, "steps"),
    ("cycles", Kind::Gc, include_str!("../workloads/cycles.wat"), 100_000, 500, "rings"),
    ("casts", Kind::Gc, include_str!("../workloads/casts.wat"), 20_000_000, 50_000, "steps"),
    ("array_window", Kind::Gc, include_str!("../workloads/array_window.wat"), 200_000, 5_000, "steps"),
    ("splay", Kind::Gc, include_str!("../workloads/splay.wat"), 300_000, 5_000, "steps"),
    ("deep_trees", Kind::Gc, include_str!("../workloads/deep_trees.wat"), 8, 1, "trees"),
    ("cast_hierarchy", Kind::Gc, include_str!("../workloads/cast_hierarchy.wat"), 20_000_000, 50_000, "steps"),
    ("large_heap", Kind::Gc, include_str!("../workloads/large_heap.wat"), 1_000_000, 10_000, "steps"),
    ("zeroed_arrays", Kind::Gc, include_str!("../workloads/zeroed_arrays.wat"), 300_000, 5_000, "steps"),
    ("sieve", Kind::Compute, include_str!("../workloads/sieve.wat"), 16_000_000, 100_000, "n"),
    ("matmul", Kind::Compute, include_str!("../workloads/matmul.wat"), 400, 20, "n x n"),
    ("fib", Kind::Compute, include_str!("../workloads/fib.wat"), 35, 15, "n"),
    ("memory_loop", Kind::Compute, include_str!("../workloads/memory_loop.wat"), 20, 1, "passes"),
];

const COMPILE_FUNCS: (u32, u32) = (3_000, 200);
const INSTANTIATIONS: (u32, u32) = (5_000, 20);

/// Every workload (tiny inputs if `quick`) whose name contains one of the
/// words in `only` (all of them if `only` is empty).
pub fn workloads(quick: bool, only: &[String]) -> Vec<Workload> {
    let pick = |(full, quick_arg): (i32, i32)| if quick { quick_arg } else { full };
    let mut v: Vec<Workload> = FILES
        .iter()
        .map(|&(name, kind, wat, full, quick_arg, unit)| {
            let arg = pick((full, quick_arg));
            Workload { name, kind, wat: wat.to_owned(), arg, count: 1, input: format!("{unit} {arg}") }
        })
        .collect();
    let funcs = if quick { COMPILE_FUNCS.1 } else { COMPILE_FUNCS.0 };
    v.push(Workload {
        name: "compile",
        kind: Kind::Compile,
        wat: generate::compile_module_wat(funcs),
        arg: 12345,
        count: 1,
        input: format!("{funcs} functions"),
    });
    let count = if quick { INSTANTIATIONS.1 } else { INSTANTIATIONS.0 };
    v.push(Workload {
        name: "instantiate",
        kind: Kind::Instantiate,
        wat: include_str!("../workloads/instantiate.wat").to_owned(),
        arg: 0,
        count,
        input: format!("{count} instances"),
    });
    if !only.is_empty() {
        v.retain(|w| only.iter().any(|s| w.name.contains(s.as_str())));
    }
    v
}

/// A module that does nothing: the RSS table's baseline row.
pub const EMPTY_MODULE: &str = r#"(module (func (export "run") (param i32) (result i32) (local.get 0)))"#;
