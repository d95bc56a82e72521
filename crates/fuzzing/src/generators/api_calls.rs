//! Sequences of embedder API calls over a few fixed modules.
//!
//! Objects are named by small numbers taken modulo how many live ones
//! there are (the n-th store, the n-th exported function of a store, ...),
//! so every generated call means something whatever came before it; with
//! none alive, a call does nothing. The modules cover the API's value
//! types (numbers, `v128`, `externref`, `funcref`, GC references,
//! `exnref`), host functions (including one that re-enters Wasm and one
//! that fails), every way a call ends (results, traps, fuel exhaustion,
//! stack overflow, host errors, uncaught exceptions), and garbage
//! collection between calls.

use arbitrary::{Arbitrary, Result, Unstructured};

/// The modules calls can compile, by index (taken modulo the count).
pub const MODULES: [&str; 4] = [ARITH, HOST, GC, EXN];

/// Numbers, memories (32- and 64-bit) and globals.
pub const ARITH: &str = r#"(module $arith
  (memory (export "mem") 1 4)
  (memory (export "mem64") i64 1 2)
  (global (export "counter") (mut i32) (i32.const 0))
  (global (export "pi") f64 (f64.const 3.14159))
  (global (export "wide") (mut i64) (i64.const 0))
  (global (export "ext") (mut externref) (ref.null extern))
  (func (export "add") (param i32 i32) (result i32) (i32.add (local.get 0) (local.get 1)))
  (func (export "bump") (result i32)
    (global.set 0 (i32.add (global.get 0) (i32.const 1)))
    (global.get 0))
  (func (export "load") (param i32) (result i64) (i64.load (local.get 0)))
  (func (export "store") (param i32 i64) (i64.store (local.get 0) (local.get 1)))
  (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))
  (func (export "div") (param i64 i64) (result i64) (i64.div_s (local.get 0) (local.get 1)))
  (func (export "fmin") (param f32 f32) (result f32) (f32.min (local.get 0) (local.get 1)))
  (func (export "trunc") (param f64) (result i32) (i32.trunc_f64_s (local.get 0)))
  (func (export "splat") (param i32) (result v128) (i32x4.splat (local.get 0)))
  (func (export "swap") (param externref i32) (result i32 externref) (local.get 1) (local.get 0)))"#;

/// Host imports (`double`, `reenter`, `fail`), a funcref table, and the
/// ways a call can fail to return.
pub const HOST: &str = r#"(module $host
  (type $ii (func (param i32) (result i32)))
  (import "host" "double" (func $double (param i32) (result i32)))
  (import "host" "reenter" (func $reenter (param i32) (result i32)))
  (import "host" "fail" (func $fail))
  (table $t (export "handlers") 2 8 funcref)
  (elem (table $t) (i32.const 0) func $fact)
  ;; n! for n = arg & 31, recursing through the host's `reenter`.
  (func $fact (export "fact") (param i32) (result i32)
    (local.set 0 (i32.and (local.get 0) (i32.const 31)))
    (if (result i32) (i32.le_u (local.get 0) (i32.const 1))
      (then (i32.const 1))
      (else (i32.mul (local.get 0) (call $reenter (i32.sub (local.get 0) (i32.const 1)))))))
  (func (export "double_twice") (param i32) (result i32) (call $double (call $double (local.get 0))))
  (func (export "fail") (call $fail))
  (func (export "spin") (loop $l (br $l)))
  (func $deep (export "deep") (param i32) (result i32) (i32.add (i32.const 1) (call $deep (local.get 0))))
  (func (export "trap") unreachable)
  (func (export "set_handler") (param i32 funcref) (table.set $t (local.get 0) (local.get 1)))
  (func (export "dispatch") (param i32 i32) (result i32) (call_indirect $t (type $ii) (local.get 1) (local.get 0))))"#;

/// GC objects crossing the boundary as `anyref`.
pub const GC: &str = r#"(module $gc
  (type $pt (struct (field (mut i32))))
  (type $bytes (array (mut i8)))
  (global $last (export "last") (mut anyref) (ref.null any))
  (func (export "mk") (param i32) (result anyref) (struct.new $pt (local.get 0)))
  (func (export "get") (param anyref) (result i32) (struct.get $pt 0 (ref.cast (ref $pt) (local.get 0))))
  (func (export "set") (param anyref i32) (struct.set $pt 0 (ref.cast (ref $pt) (local.get 0)) (local.get 1)))
  (func (export "arr") (param i32) (result anyref) (array.new_default $bytes (local.get 0)))
  (func (export "len") (param anyref) (result i32) (array.len (ref.cast (ref array) (local.get 0))))
  (func (export "i31") (param i32) (result i31ref) (ref.i31 (local.get 0)))
  (func (export "keep") (param anyref) (global.set $last (local.get 0)))
  (func (export "internalize") (param externref) (result anyref) (any.convert_extern (local.get 0))))"#;

/// Exceptions thrown, caught, and caught as `exnref` values.
pub const EXN: &str = r#"(module $exn
  (tag $e (export "e") (param i32))
  (func $throw (export "throw") (param i32) (throw $e (local.get 0)))
  (func (export "catch") (param i32) (result i32)
    (block $h (result i32)
      (try_table (catch $e $h) (call $throw (local.get 0)))
      (i32.const -1)))
  (func (export "catch_ref") (param i32) (result exnref) (local $x exnref)
    (block $h (result i32 exnref)
      (try_table (catch_ref $e $h) (call $throw (local.get 0)))
      unreachable)
    (local.set $x)
    drop
    (local.get $x))
  (func (export "rethrow") (param exnref) (throw_ref (local.get 0))))"#;

/// One API call. Fields named after objects pick the n-th live one.
#[derive(Debug, Clone)]
pub enum ApiCall {
    StoreNew,
    StoreDrop { store: u8 },
    SetFuel { store: u8, fuel: u64 },
    ModuleNew { module: u8 },
    ModuleDrop { module: u8 },
    /// Instantiates the n-th compiled module with the host functions.
    Instantiate { store: u8, module: u8 },
    /// Calls an exported function; `args` are the bytes its arguments
    /// are generated from once its type is known.
    Call { store: u8, func: u8, args: Vec<u8> },
    MemoryGrow { store: u8, memory: u8, delta: u64 },
    MemoryWrite { store: u8, memory: u8, offset: u64, bytes: Vec<u8> },
    MemoryRead { store: u8, memory: u8, offset: u64, len: u16 },
    GlobalGet { store: u8, global: u8 },
    /// Sets a global to a value generated from `value` for its type.
    GlobalSet { store: u8, global: u8, value: Vec<u8> },
    TableGet { store: u8, table: u8, index: u64 },
    /// Grows a table with the n-th value its store has seen (or null).
    TableGrow { store: u8, table: u8, delta: u64, init: u8 },
    ExternRefNew { store: u8 },
    /// Keeps the n-th externref of a store in an `OwnedRooted`.
    OwnRef { store: u8, which: u8 },
    /// Drops the n-th `OwnedRooted` of a store.
    DropOwned { store: u8, which: u8 },
    /// Opens a `RootScope`, makes `count` externrefs in it and closes it:
    /// the store's roots are back to what they were, and the handles made
    /// inside are refused afterwards.
    Scoped { store: u8, count: u8 },
    /// `Store::gc`, then a check that every handle kept still reads back.
    Gc { store: u8 },
}

/// At most this many calls per test case.
pub const MAX_CALLS: usize = 48;

/// A test case: an engine configuration and the calls to make with it.
#[derive(Debug, Clone)]
pub struct ApiCalls {
    pub config: kiln::Config,
    pub calls: Vec<ApiCall>,
}

impl<'a> Arbitrary<'a> for ApiCalls {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let config = super::config::kiln_config(u)?;
        let mut calls = Vec::new();
        // Until the input runs out: a continue-or-stop flag per step
        // would make most sequences a handful of steps long.
        while !u.is_empty() && calls.len() < MAX_CALLS {
            calls.push(call(u)?);
        }
        Ok(ApiCalls { config, calls })
    }
}

fn call(u: &mut Unstructured<'_>) -> Result<ApiCall> {
    let n = |u: &mut Unstructured<'_>| u.arbitrary::<u8>();
    // Creation is weighted up: most other calls need something to act on.
    Ok(match u.int_in_range(0..=21)? {
        0 | 1 => ApiCall::StoreNew,
        2 => ApiCall::StoreDrop { store: n(u)? },
        3 => ApiCall::SetFuel { store: n(u)?, fuel: u.int_in_range(0..=super::config::FUEL)? },
        4 | 5 => ApiCall::ModuleNew { module: n(u)? },
        6 => ApiCall::ModuleDrop { module: n(u)? },
        7 | 8 => ApiCall::Instantiate { store: n(u)?, module: n(u)? },
        9 | 10 | 11 => ApiCall::Call { store: n(u)?, func: n(u)?, args: small_bytes(u)? },
        12 => ApiCall::MemoryGrow { store: n(u)?, memory: n(u)?, delta: if u.ratio(7, 8)? { u.int_in_range(0..=3)? } else { u.arbitrary()? } },
        13 => ApiCall::MemoryWrite { store: n(u)?, memory: n(u)?, offset: offset(u)?, bytes: small_bytes(u)? },
        14 => ApiCall::MemoryRead { store: n(u)?, memory: n(u)?, offset: offset(u)?, len: u.int_in_range(0..=64)? },
        15 => if u.arbitrary()? { ApiCall::GlobalGet { store: n(u)?, global: n(u)? } } else { ApiCall::GlobalSet { store: n(u)?, global: n(u)?, value: small_bytes(u)? } },
        16 => if u.arbitrary()? { ApiCall::TableGet { store: n(u)?, table: n(u)?, index: u.int_in_range(0..=10)? } } else { ApiCall::TableGrow { store: n(u)?, table: n(u)?, delta: u.int_in_range(0..=8)?, init: n(u)? } },
        17 => ApiCall::ExternRefNew { store: n(u)? },
        18 => ApiCall::OwnRef { store: n(u)?, which: n(u)? },
        19 => ApiCall::DropOwned { store: n(u)?, which: n(u)? },
        20 => ApiCall::Scoped { store: n(u)?, count: u.int_in_range(0..=8)? },
        _ => ApiCall::Gc { store: n(u)? },
    })
}

/// A memory offset: near the edges of a one- or two-page memory, or
/// anywhere.
fn offset(u: &mut Unstructured<'_>) -> Result<u64> {
    Ok(match u.int_in_range(0..=3)? {
        0 => u.int_in_range(0..=256)?,
        1 => 0x1_0000 - u.int_in_range(0..=64)?,
        2 => 0x2_0000 - u.int_in_range(0..=64)?,
        _ => u.arbitrary()?,
    })
}

fn small_bytes(u: &mut Unstructured<'_>) -> Result<Vec<u8>> {
    // Capped by what is left, so running out of input ends the sequence
    // gracefully instead of discarding it.
    let len = u.int_in_range(0..=32)?.min(u.len());
    Ok(u.bytes(len)?.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_fixed_module_compiles() {
        let engine = kiln::Engine::default();
        for (i, wat) in MODULES.iter().enumerate() {
            kiln::Module::new(&engine, wat).unwrap_or_else(|e| panic!("module {i}: {e:#}"));
        }
    }
}
