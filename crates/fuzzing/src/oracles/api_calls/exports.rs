//! Calls of exported functions, and what the fixed modules' exports must
//! do.

use super::store::{StoreEntry, ensure, is_non_null_ref, pick};
use super::{Check, Stats};
use crate::oracles::Outcome;
use arbitrary::Unstructured;
use kiln::{Trap, Val};

/// The outcomes an export of the fixed modules may have for `args`, if
/// the oracle knows them. Running out of fuel is always possible.
fn expected(name: &str, args: &[Val]) -> Option<Vec<Outcome>> {
    let mut outcomes = match name {
        "add" | "double_twice" | "fact" | "div" | "catch" => vec![Outcome::Ok],
        "trap" => vec![Outcome::Trap(Trap::UnreachableCodeReached)],
        "spin" => vec![],
        "deep" => vec![Outcome::Trap(Trap::StackOverflow)],
        "fail" => vec![Outcome::Error("host failure".into())],
        "throw" => vec![Outcome::Error("uncaught exception".into())],
        _ => return None,
    };
    if name == "div" {
        let (Some(Val::I64(x)), Some(Val::I64(y))) = (args.first(), args.get(1)) else { return None };
        outcomes = match (*x, *y) {
            (_, 0) => vec![Outcome::Trap(Trap::IntegerDivisionByZero)],
            (i64::MIN, -1) => vec![Outcome::Trap(Trap::IntegerOverflow)],
            _ => outcomes,
        };
    }
    if matches!(name, "throw" | "catch") {
        // Exceptions are GC objects: a full heap refuses to make one.
        outcomes.push(Outcome::Trap(Trap::GcHeapOutOfMemory));
    }
    if name == "fact" {
        // The recursion goes through host frames, which count against
        // the Wasm stack limit: small limits may overflow.
        outcomes.push(Outcome::Trap(Trap::StackOverflow));
    }
    outcomes.push(Outcome::Trap(Trap::OutOfFuel));
    Some(outcomes)
}

/// The results an export returning normally must give, if known.
fn expected_results(name: &str, args: &[Val]) -> Option<Vec<i64>> {
    let i = |k: usize| args.get(k).and_then(Val::i32);
    Some(match name {
        "add" => vec![i(0)?.wrapping_add(i(1)?) as i64],
        "double_twice" => vec![i(0)?.wrapping_mul(4) as i64],
        "fact" => vec![(2..=(i(0)? & 31)).fold(1i32, |acc, k| acc.wrapping_mul(k)) as i64],
        "catch" => vec![i(0)? as i64],
        "div" => match (args.first()?, args.get(1)?) {
            (Val::I64(x), Val::I64(y)) => vec![x.checked_div(*y)?],
            _ => return None,
        },
        _ => return None,
    })
}

impl StoreEntry {
    /// Calls the `func`-th exported function with arguments from `args`,
    /// checking the outcome of exports whose behaviour is known.
    pub(super) fn call_export(&mut self, func: u8, args: &[u8], stats: &mut Stats) -> Check {
        let Some(i) = pick(&self.funcs, func) else { return Ok(()) };
        let (name, f) = self.funcs[i].clone();
        let ty = f.ty(&self.store);
        let mut u = Unstructured::new(args);
        let mut params = Vec::new();
        for p in ty.params() {
            params.push(self.argument(p, &mut u));
        }
        let mut results = vec![Val::I32(0); ty.results().len()];
        let result = f.call(&mut self.store, &params, &mut results);
        let outcome = Outcome::of(&result);
        stats.func_calls += 1;
        if outcome == Outcome::Ok {
            stats.func_returns += 1;
            self.refs.extend(results.iter().filter(|r| is_non_null_ref(r)));
            self.track_gc_objects(&name, &params, &results)?;
        }
        if let Some(allowed) = expected(&name, &params) {
            stats.checked_calls += 1;
            let matches = allowed.iter().any(|a| match (a, &outcome) {
                (Outcome::Error(want), Outcome::Error(got)) => got.contains(want.as_str()),
                _ => a == &outcome,
            });
            ensure(matches, || format!("`{name}`{params:?} ended with {outcome:?}, expected one of {allowed:?}"))?;
            if outcome == Outcome::Ok {
                if let Some(want) = expected_results(&name, &params) {
                    let got: Vec<i64> = results.iter().map(|r| r.i32().map(i64::from).or(r.i64()).unwrap_or(i64::MIN)).collect();
                    ensure(got == want, || format!("`{name}`{params:?} returned {results:?}, expected {want:?}"))?;
                }
            }
        }
        Ok(())
    }

    /// Records what the GC module's exports make (`mk`: a struct holding
    /// its argument, `arr`: an array of its argument's length) and checks
    /// what they read (`get`, `len`) against it, so objects corrupted or
    /// lost by a collection show up. `set` may write through another
    /// handle to a recorded struct, so it forgets all but its own.
    fn track_gc_objects(&mut self, name: &str, params: &[Val], results: &[Val]) -> Check {
        let int = |v: Option<&Val>| v.and_then(Val::i32);
        let any = |v: Option<&Val>| match v {
            Some(Val::AnyRef(Some(r))) => Some(*r),
            _ => None,
        };
        match name {
            "mk" | "arr" => {
                if let (Some(r), Some(x)) = (any(results.first()), int(params.first())) {
                    let objects = if name == "mk" { &mut self.structs } else { &mut self.arrays };
                    objects.push((r, x));
                }
            }
            "set" => {
                self.structs.clear();
                if let (Some(r), Some(x)) = (any(params.first()), int(params.get(1))) {
                    self.structs.push((r, x));
                }
            }
            "get" | "len" => {
                let objects = if name == "get" { &self.structs } else { &self.arrays };
                let made = |r: kiln::Rooted<kiln::AnyRef>| objects.iter().find(|(o, _)| kiln::Rooted::rooted_eq(*o, r)).map(|(_, x)| x);
                if let Some(want) = any(params.first()).and_then(made) {
                    let got = int(results.first());
                    ensure(got == Some(*want), || format!("`{name}` of an object made with {want} returned {got:?}"))?;
                }
            }
            _ => {}
        }
        Ok(())
    }
}
