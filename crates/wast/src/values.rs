//! Script constants to `kiln::Val` and back.
//!
//! Three jobs: turn an `invoke` argument into a [`Val`] for the callee's
//! parameter type, decide whether an actual result matches an
//! `assert_return` pattern, and render both sides readably for failure
//! messages.
//!
//! Invariants:
//! - Floats are compared as bit patterns, never as float values: `-0` and
//!   `+0` differ, and a NaN matches only a NaN pattern or the exact same
//!   bits. Moving floats through `f32`/`f64` could quiet a signalling NaN.
//! - `ref.extern N` and `ref.host N` arguments are externrefs whose host
//!   data is the `u32` N. [`HostRefs`] makes one per N, so the same N always
//!   passes the same reference (identity tests such as `ref.eq` on
//!   converted externrefs rely on that). Results compare the `u32` inside.
//! - The script's references live as long as its store: they are
//!   `OwnedRooted`, and results are `Rooted` in the store's outermost
//!   scope (a script is short).

use anyhow::{Context as _, Result, anyhow, bail};
use kiln::{ExternRef, HeapType, OwnedRooted, Rooted, Store, Val, ValType};
use std::collections::HashMap;
use std::fmt::Write as _;
use wast::core::{AbstractHeapType, NanPattern, V128Pattern, WastArgCore, WastRetCore};
use wast::token::{F32, F64, Index};
use wast::{WastArg, WastRet};

/// The externrefs handed to Wasm for `ref.extern N` / `ref.host N`, one per N.
#[derive(Default)]
pub(crate) struct HostRefs {
    refs: HashMap<u32, OwnedRooted<ExternRef>>,
}

impl HostRefs {
    /// The reference whose host data is `n`, created on first use.
    fn get(&mut self, store: &mut Store<()>, n: u32) -> Result<Rooted<ExternRef>> {
        if let Some(r) = self.refs.get(&n) {
            return Ok(r.to_rooted(&mut *store));
        }
        let r = ExternRef::new(&mut *store, n)?;
        self.refs.insert(n, r.to_owned_rooted(&mut *store)?);
        Ok(r)
    }
}

/// Converts the script argument `arg` for a parameter of type `param`.
pub(crate) fn arg_to_val(
    store: &mut Store<()>,
    host_refs: &mut HostRefs,
    arg: &WastArg<'_>,
    param: &ValType,
) -> Result<Val> {
    let WastArg::Core(arg) = arg else {
        bail!("component-model arguments are not supported");
    };
    let val = match arg {
        WastArgCore::I32(x) => Val::I32(*x),
        WastArgCore::I64(x) => Val::I64(*x),
        WastArgCore::F32(x) => Val::F32(x.bits),
        WastArgCore::F64(x) => Val::F64(x.bits),
        WastArgCore::V128(x) => Val::V128(u128::from_le_bytes(x.to_le_bytes())),
        WastArgCore::RefNull(heap) => null_arg(heap, param)?,
        WastArgCore::RefExtern(n) | WastArgCore::RefHost(n) => {
            let r = host_refs.get(store, *n)?;
            // The reference interpreter's host references also inhabit the
            // any hierarchy; an anyref parameter sees one converted.
            match param {
                ValType::Ref(t) if is_any_hierarchy(t.heap_type()) => Val::AnyRef(Some(kiln::AnyRef::convert_extern(&mut *store, r)?)),
                _ => Val::ExternRef(Some(r)),
            }
        }
    };
    check_arg_type(&val, param)?;
    Ok(val)
}

fn is_any_hierarchy(heap: HeapType) -> bool {
    matches!(heap, HeapType::Any | HeapType::Eq | HeapType::I31 | HeapType::Struct | HeapType::Array | HeapType::None)
}

/// The null reference a `(ref.null HEAP)` argument stands for.
fn null_arg(heap: &wast::core::HeapType<'_>, param: &ValType) -> Result<Val> {
    use wast::core::HeapType as H;
    match heap {
        H::Abstract { ty, .. } => match ty {
            AbstractHeapType::Func | AbstractHeapType::NoFunc => Ok(Val::FuncRef(None)),
            AbstractHeapType::Extern | AbstractHeapType::NoExtern => Ok(Val::ExternRef(None)),
            AbstractHeapType::Any
            | AbstractHeapType::Eq
            | AbstractHeapType::I31
            | AbstractHeapType::Struct
            | AbstractHeapType::Array
            | AbstractHeapType::None => Ok(Val::AnyRef(None)),
            AbstractHeapType::Exn | AbstractHeapType::NoExn => Ok(Val::ExnRef(None)),
            other => bail!(
                "not supported yet: `ref.null {}` arguments (Val has no variant for that hierarchy)",
                abstract_name(*other)
            ),
        },
        // A type index in the script says nothing about which hierarchy it
        // belongs to, so ask the parameter. The API cannot tell whether a
        // concrete parameter type is a function or a struct/array type; it is
        // taken to be a function type (the suite's common case).
        H::Concrete(_) | H::Exact(_) => match param {
            ValType::Ref(r) => match r.heap_type() {
                HeapType::Extern | HeapType::NoExtern => Ok(Val::ExternRef(None)),
                HeapType::Func | HeapType::NoFunc | HeapType::Concrete(_) => Ok(Val::FuncRef(None)),
                HeapType::Any
                | HeapType::Eq
                | HeapType::I31
                | HeapType::Struct
                | HeapType::Array
                | HeapType::None => Ok(Val::AnyRef(None)),
                HeapType::Exn | HeapType::NoExn => Ok(Val::ExnRef(None)),
            },
            other => bail!("`ref.null` argument for a parameter of type {other}"),
        },
    }
}

/// Rejects numeric arguments of the wrong type with a clearer message than a
/// failed call would give. References are left to the engine's own check.
fn check_arg_type(val: &Val, param: &ValType) -> Result<()> {
    let ok = matches!(
        (val, param),
        (Val::I32(_), ValType::I32)
            | (Val::I64(_), ValType::I64)
            | (Val::F32(_), ValType::F32)
            | (Val::F64(_), ValType::F64)
            | (Val::V128(_), ValType::V128)
            | (
                Val::FuncRef(_) | Val::ExternRef(_) | Val::AnyRef(_) | Val::ExnRef(_),
                ValType::Ref(_)
            )
    );
    if ok {
        Ok(())
    } else {
        bail!(
            "argument {} does not fit parameter type {param}",
            describe_val_plain(val)
        )
    }
}

/// Checks every result against its pattern; the error lists both sides.
pub(crate) fn match_results(
    store: &mut Store<()>,
    actual: &[Val],
    expected: &[WastRet<'_>],
) -> Result<()> {
    let mismatch = if actual.len() != expected.len() {
        Some(format!(
            "expected {} result(s), got {}",
            expected.len(),
            actual.len()
        ))
    } else {
        actual
            .iter()
            .zip(expected)
            .enumerate()
            .find_map(|(i, (a, e))| {
                match_ret(store, a, e)
                    .err()
                    .map(|err| format!("result {i}: {err:#}"))
            })
    };
    match mismatch {
        None => Ok(()),
        Some(why) => bail!(
            "{why}\n  expected: {}\n  actual:   {}",
            describe_rets(expected),
            describe_vals(store, actual)
        ),
    }
}

fn match_ret(store: &mut Store<()>, actual: &Val, expected: &WastRet<'_>) -> Result<()> {
    match expected {
        WastRet::Core(expected) => match_core(store, actual, expected),
        _ => bail!("component-model results are not supported"),
    }
}

/// Matches one result against one core pattern.
fn match_core(store: &mut Store<()>, actual: &Val, expected: &WastRetCore<'_>) -> Result<()> {
    match (expected, actual) {
        (WastRetCore::Either(options), _) => {
            if options.iter().any(|o| match_core(store, actual, o).is_ok()) {
                Ok(())
            } else {
                bail!("matches none of the `either` alternatives")
            }
        }
        (WastRetCore::I32(e), Val::I32(a)) => same(*a as u32 as u64, *e as u32 as u64),
        (WastRetCore::I64(e), Val::I64(a)) => same(*a as u64, *e as u64),
        (WastRetCore::F32(e), Val::F32(a)) => match_f32(*a, e),
        (WastRetCore::F64(e), Val::F64(a)) => match_f64(*a, e),
        (WastRetCore::V128(e), Val::V128(a)) => match_v128(*a, e),
        (WastRetCore::RefNull(heap), _) => match_null(actual, heap.as_ref()),
        (WastRetCore::RefExtern(n), Val::ExternRef(Some(r))) => match n {
            None => Ok(()),
            Some(n) => match_host_data(store, r, *n),
        },
        (WastRetCore::RefHost(n), Val::ExternRef(Some(r))) => match_host_data(store, r, *n),
        (WastRetCore::RefHost(n), Val::AnyRef(Some(a))) => {
            let r = kiln::ExternRef::convert_any(&mut *store, *a)?;
            match_host_data(store, &r, *n)
        }
        (WastRetCore::RefAny, Val::AnyRef(Some(_))) => Ok(()),
        (WastRetCore::RefEq, Val::AnyRef(Some(a))) if a.is_eqref(&*store)? => Ok(()),
        (WastRetCore::RefI31 | WastRetCore::RefI31Shared, Val::AnyRef(Some(a))) if a.is_i31(&*store)? => Ok(()),
        (WastRetCore::RefStruct, Val::AnyRef(Some(a))) if a.is_struct(&*store)? => Ok(()),
        (WastRetCore::RefArray, Val::AnyRef(Some(a))) if a.is_array(&*store)? => Ok(()),
        (WastRetCore::RefFunc(_), Val::FuncRef(Some(_))) => Ok(()),
        _ => bail!("wrong kind of value"),
    }
}

fn same(actual: u64, expected: u64) -> Result<()> {
    if actual == expected {
        Ok(())
    } else {
        bail!("value differs")
    }
}

/// `(ref.null HEAP)`: any null of the right hierarchy.
///
/// Nulls of the func, extern and any hierarchies must come back as that
/// `Val` variant. For exn and concrete indices (whose hierarchy the script
/// does not say) any null is accepted: nullness is what the script checks.
fn match_null(actual: &Val, heap: Option<&wast::core::HeapType<'_>>) -> Result<()> {
    let actual_hierarchy = match actual {
        Val::FuncRef(None) => Hierarchy::Func,
        Val::ExternRef(None) => Hierarchy::Extern,
        Val::AnyRef(None) => Hierarchy::Any,
        Val::ExnRef(None) => Hierarchy::Exn,
        _ => bail!("expected a null reference"),
    };
    let expected_hierarchy = match heap {
        Some(wast::core::HeapType::Abstract { ty, .. }) => hierarchy(*ty),
        _ => None,
    };
    match expected_hierarchy {
        Some(expected) if expected != actual_hierarchy => {
            bail!("null of the wrong reference hierarchy")
        }
        _ => Ok(()),
    }
}

/// The reference hierarchies `Val` has a variant for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Hierarchy {
    Func,
    Extern,
    Any,
    Exn,
}

fn hierarchy(ty: AbstractHeapType) -> Option<Hierarchy> {
    use AbstractHeapType as A;
    match ty {
        A::Func | A::NoFunc => Some(Hierarchy::Func),
        A::Extern | A::NoExtern => Some(Hierarchy::Extern),
        A::Any | A::Eq | A::I31 | A::Struct | A::Array | A::None => Some(Hierarchy::Any),
        A::Exn | A::NoExn => Some(Hierarchy::Exn),
        A::Cont | A::NoCont => None,
    }
}

fn match_host_data(store: &mut Store<()>, r: &ExternRef, expected: u32) -> Result<()> {
    let actual = host_data(store, r)?;
    if actual == expected {
        Ok(())
    } else {
        bail!("host data is {actual}, expected {expected}")
    }
}

/// The `u32` a script-made externref carries.
fn host_data(store: &mut Store<()>, r: &ExternRef) -> Result<u32> {
    let data = r.data(&mut *store).context("reading externref host data")?;
    data.and_then(|d| d.downcast_ref::<u32>())
        .copied()
        .ok_or_else(|| anyhow!("externref host data is not a u32 made by the script"))
}

const F32_CANONICAL_NAN: u32 = 0x7fc0_0000;
const F64_CANONICAL_NAN: u64 = 0x7ff8_0000_0000_0000;

/// Canonical NaN: any sign, all-ones exponent, only the quiet bit set.
/// Arithmetic NaN: any sign, all-ones exponent, quiet bit set, any payload.
/// (For both widths the canonical pattern is exactly "exponent + quiet bit".)
fn match_f32(actual: u32, expected: &NanPattern<F32>) -> Result<()> {
    let ok = match expected {
        NanPattern::CanonicalNan => actual & 0x7fff_ffff == F32_CANONICAL_NAN,
        NanPattern::ArithmeticNan => actual & F32_CANONICAL_NAN == F32_CANONICAL_NAN,
        NanPattern::Value(v) => actual == v.bits,
    };
    if ok { Ok(()) } else { bail!("value differs") }
}

fn match_f64(actual: u64, expected: &NanPattern<F64>) -> Result<()> {
    let ok = match expected {
        NanPattern::CanonicalNan => actual & 0x7fff_ffff_ffff_ffff == F64_CANONICAL_NAN,
        NanPattern::ArithmeticNan => actual & F64_CANONICAL_NAN == F64_CANONICAL_NAN,
        NanPattern::Value(v) => actual == v.bits,
    };
    if ok { Ok(()) } else { bail!("value differs") }
}

/// Lane `i` of width `bits` (little-endian lane order, as in Wasm).
fn lane(v: u128, bits: u32, i: usize) -> u64 {
    let mask = if bits == 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    };
    (v >> (bits as usize * i)) as u64 & mask
}

fn match_v128(actual: u128, expected: &V128Pattern) -> Result<()> {
    // Integer lanes compare as bit patterns of their width.
    let ints = |bits: u32, lanes: Vec<u64>| -> Result<()> {
        for (i, e) in lanes.into_iter().enumerate() {
            let mask = if bits == 64 {
                u64::MAX
            } else {
                (1u64 << bits) - 1
            };
            if lane(actual, bits, i) != e & mask {
                bail!("lane {i} differs");
            }
        }
        Ok(())
    };
    match expected {
        V128Pattern::I8x16(e) => ints(8, e.iter().map(|x| *x as u8 as u64).collect()),
        V128Pattern::I16x8(e) => ints(16, e.iter().map(|x| *x as u16 as u64).collect()),
        V128Pattern::I32x4(e) => ints(32, e.iter().map(|x| *x as u32 as u64).collect()),
        V128Pattern::I64x2(e) => ints(64, e.iter().map(|x| *x as u64).collect()),
        V128Pattern::F32x4(e) => e.iter().enumerate().try_for_each(|(i, p)| {
            match_f32(lane(actual, 32, i) as u32, p).with_context(|| format!("lane {i}"))
        }),
        V128Pattern::F64x2(e) => e.iter().enumerate().try_for_each(|(i, p)| {
            match_f64(lane(actual, 64, i), p).with_context(|| format!("lane {i}"))
        }),
    }
}

// ---- Rendering -------------------------------------------------------------

/// Renders results in script syntax, e.g. `(i32.const 1) (ref.null func)`.
pub(crate) fn describe_vals(store: &mut Store<()>, vals: &[Val]) -> String {
    if vals.is_empty() {
        return "(no results)".to_string();
    }
    let parts: Vec<String> = vals
        .iter()
        .map(|v| format!("({})", describe_val(store, v)))
        .collect();
    parts.join(" ")
}

/// One value in script syntax, with the raw bits where they matter.
pub(crate) fn describe_val(store: &mut Store<()>, val: &Val) -> String {
    match val {
        Val::ExternRef(Some(r)) => match host_data(store, r) {
            Ok(n) => format!("ref.extern {n}"),
            Err(_) => "ref.extern <foreign host data>".to_string(),
        },
        Val::AnyRef(Some(r)) => match r.as_i31(&*store) {
            Ok(Some(i)) => format!("ref.i31 {}", i.get_i32()),
            _ => "ref.any (object)".to_string(),
        },
        other => describe_val_plain(other),
    }
}

/// Like [`describe_val`] but without a store, so externref data is not shown.
fn describe_val_plain(val: &Val) -> String {
    match val {
        Val::I32(x) => format!("i32.const {x} ({:#x})", *x as u32),
        Val::I64(x) => format!("i64.const {x} ({:#x})", *x as u64),
        Val::F32(b) => format!("f32.const {} ({b:#010x})", f32::from_bits(*b)),
        Val::F64(b) => format!("f64.const {} ({b:#018x})", f64::from_bits(*b)),
        Val::V128(v) => {
            let mut s = "v128.const i32x4".to_string();
            for i in 0..4 {
                let _ = write!(s, " {:#010x}", lane(*v, 32, i));
            }
            s
        }
        Val::FuncRef(None) => "ref.null func".to_string(),
        Val::FuncRef(Some(_)) => "ref.func".to_string(),
        Val::ExternRef(None) => "ref.null extern".to_string(),
        Val::ExternRef(Some(_)) => "ref.extern".to_string(),
        Val::AnyRef(None) => "ref.null any".to_string(),
        Val::AnyRef(Some(_)) => "ref.any".to_string(),
        Val::ExnRef(None) => "ref.null exn".to_string(),
        Val::ExnRef(Some(_)) => "ref.exn".to_string(),
    }
}

/// Renders expected results in script syntax.
pub(crate) fn describe_rets(rets: &[WastRet<'_>]) -> String {
    if rets.is_empty() {
        return "(no results)".to_string();
    }
    let parts: Vec<String> = rets
        .iter()
        .map(|r| match r {
            WastRet::Core(c) => format!("({})", describe_core_ret(c)),
            _ => "(component value)".to_string(),
        })
        .collect();
    parts.join(" ")
}

fn describe_core_ret(ret: &WastRetCore<'_>) -> String {
    match ret {
        WastRetCore::I32(x) => format!("i32.const {x} ({:#x})", *x as u32),
        WastRetCore::I64(x) => format!("i64.const {x} ({:#x})", *x as u64),
        WastRetCore::F32(p) => format!("f32.const {}", describe_f32(p)),
        WastRetCore::F64(p) => format!("f64.const {}", describe_f64(p)),
        WastRetCore::V128(p) => format!("v128.const {}", describe_v128(p)),
        WastRetCore::RefNull(None) => "ref.null".to_string(),
        WastRetCore::RefNull(Some(h)) => format!("ref.null {}", heap_name(h)),
        WastRetCore::RefExtern(None) => "ref.extern".to_string(),
        WastRetCore::RefExtern(Some(n)) => format!("ref.extern {n}"),
        WastRetCore::RefHost(n) => format!("ref.host {n}"),
        WastRetCore::RefFunc(None) => "ref.func".to_string(),
        WastRetCore::RefFunc(Some(i)) => format!("ref.func {}", index_name(i)),
        WastRetCore::RefAny => "ref.any".to_string(),
        WastRetCore::RefEq => "ref.eq".to_string(),
        WastRetCore::RefI31 => "ref.i31".to_string(),
        WastRetCore::RefI31Shared => "ref.i31_shared".to_string(),
        WastRetCore::RefStruct => "ref.struct".to_string(),
        WastRetCore::RefArray => "ref.array".to_string(),
        WastRetCore::Either(options) => {
            let parts: Vec<String> = options
                .iter()
                .map(|o| format!("({})", describe_core_ret(o)))
                .collect();
            format!("either {}", parts.join(" "))
        }
    }
}

fn describe_f32(p: &NanPattern<F32>) -> String {
    match p {
        NanPattern::CanonicalNan => "nan:canonical".to_string(),
        NanPattern::ArithmeticNan => "nan:arithmetic".to_string(),
        NanPattern::Value(v) => format!("{} ({:#010x})", f32::from_bits(v.bits), v.bits),
    }
}

fn describe_f64(p: &NanPattern<F64>) -> String {
    match p {
        NanPattern::CanonicalNan => "nan:canonical".to_string(),
        NanPattern::ArithmeticNan => "nan:arithmetic".to_string(),
        NanPattern::Value(v) => format!("{} ({:#018x})", f64::from_bits(v.bits), v.bits),
    }
}

fn describe_v128(p: &V128Pattern) -> String {
    fn join<T>(shape: &str, lanes: &[T], f: impl Fn(&T) -> String) -> String {
        let lanes: Vec<String> = lanes.iter().map(f).collect();
        format!("{shape} {}", lanes.join(" "))
    }
    match p {
        V128Pattern::I8x16(l) => join("i8x16", l, |x| x.to_string()),
        V128Pattern::I16x8(l) => join("i16x8", l, |x| x.to_string()),
        V128Pattern::I32x4(l) => join("i32x4", l, |x| x.to_string()),
        V128Pattern::I64x2(l) => join("i64x2", l, |x| x.to_string()),
        V128Pattern::F32x4(l) => join("f32x4", l, describe_f32),
        V128Pattern::F64x2(l) => join("f64x2", l, describe_f64),
    }
}

fn heap_name(h: &wast::core::HeapType<'_>) -> String {
    use wast::core::HeapType as H;
    match h {
        H::Abstract { shared: false, ty } => abstract_name(*ty).to_string(),
        H::Abstract { shared: true, ty } => format!("(shared {})", abstract_name(*ty)),
        H::Concrete(i) => index_name(i),
        H::Exact(i) => format!("(exact {})", index_name(i)),
    }
}

fn abstract_name(ty: AbstractHeapType) -> &'static str {
    match ty {
        AbstractHeapType::Func => "func",
        AbstractHeapType::Extern => "extern",
        AbstractHeapType::Exn => "exn",
        AbstractHeapType::Cont => "cont",
        AbstractHeapType::Any => "any",
        AbstractHeapType::Eq => "eq",
        AbstractHeapType::Struct => "struct",
        AbstractHeapType::Array => "array",
        AbstractHeapType::I31 => "i31",
        AbstractHeapType::NoFunc => "nofunc",
        AbstractHeapType::NoExtern => "noextern",
        AbstractHeapType::None => "none",
        AbstractHeapType::NoExn => "noexn",
        AbstractHeapType::NoCont => "nocont",
    }
}

fn index_name(i: &Index<'_>) -> String {
    match i {
        Index::Num(n, _) => n.to_string(),
        Index::Id(id) => format!("${}", id.name()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f32_nan_patterns() {
        let canonical = NanPattern::<F32>::CanonicalNan;
        let arithmetic = NanPattern::<F32>::ArithmeticNan;
        assert!(match_f32(0x7fc0_0000, &canonical).is_ok());
        assert!(match_f32(0xffc0_0000, &canonical).is_ok(), "sign is free");
        assert!(
            match_f32(0x7fc0_0001, &canonical).is_err(),
            "payload must be zero"
        );
        assert!(match_f32(0x7fc0_0001, &arithmetic).is_ok());
        assert!(
            match_f32(0x7fa0_0000, &arithmetic).is_err(),
            "quiet bit required"
        );
        assert!(
            match_f32(0x7f80_0000, &arithmetic).is_err(),
            "infinity is no NaN"
        );
        let zero = NanPattern::Value(F32 { bits: 0 });
        assert!(match_f32(0x8000_0000, &zero).is_err(), "-0 is not +0");
    }

    #[test]
    fn f64_nan_patterns() {
        let canonical = NanPattern::<F64>::CanonicalNan;
        let arithmetic = NanPattern::<F64>::ArithmeticNan;
        assert!(match_f64(0xfff8_0000_0000_0000, &canonical).is_ok());
        assert!(match_f64(0x7ff8_0000_0000_0001, &canonical).is_err());
        assert!(match_f64(0x7ff8_0000_0000_0001, &arithmetic).is_ok());
        assert!(match_f64(0x7ff4_0000_0000_0000, &arithmetic).is_err());
    }

    #[test]
    fn v128_lanes() {
        // Lane 0 is the least significant.
        let v = u128::from_le_bytes([1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]);
        assert!(match_v128(v, &V128Pattern::I32x4([1, 2, 3, -1])).is_ok());
        assert!(match_v128(v, &V128Pattern::I32x4([1, 2, 3, 4])).is_err());
        assert!(match_v128(v, &V128Pattern::I16x8([1, 0, 2, 0, 3, 0, -1, -1])).is_ok());
        let nan_lanes = (F32_CANONICAL_NAN as u128) | ((0x7fc0_0001u128) << 32);
        let pattern = V128Pattern::F32x4([
            NanPattern::CanonicalNan,
            NanPattern::ArithmeticNan,
            NanPattern::Value(F32 { bits: 0 }),
            NanPattern::Value(F32 { bits: 0 }),
        ]);
        assert!(match_v128(nan_lanes, &pattern).is_ok());
    }
}
