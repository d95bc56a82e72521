//! Sequences of `externref` table operations, and the module they run on.
//!
//! The module has three `externref` tables of different shapes (bounded,
//! unbounded, 64-bit indexed) and, for each, exported functions doing one
//! table instruction each; host imports move references across the
//! boundary inside Wasm code (`make` returns a fresh one, `observe` takes
//! one) and collect garbage while Wasm frames hold references (`gc`). An
//! operation runs either through those functions or through the
//! embedder's API, so both paths are checked against the same model.
//!
//! Indices and lengths stay mostly near the tables' sizes, so operations
//! hit both sides of every bounds check, with occasional huge values for
//! overflow paths (a 32-bit table's operands are the low 32 bits).

use arbitrary::{Arbitrary, Result, Unstructured};

/// The shape of one table of the module.
#[derive(Debug, Clone, Copy)]
pub struct TableShape {
    pub minimum: u64,
    pub maximum: Option<u64>,
    pub table64: bool,
}

/// The module's tables, in index order.
pub const TABLES: [TableShape; 3] = [
    TableShape { minimum: 4, maximum: Some(64), table64: false },
    TableShape { minimum: 2, maximum: None, table64: false },
    TableShape { minimum: 1, maximum: Some(32), table64: true },
];

/// Where an operation's reference operand comes from.
#[derive(Debug, Clone, Copy, Arbitrary)]
pub enum RefSource {
    Null,
    /// A new reference made by the host just before the operation.
    Fresh,
    /// A reference made earlier (the n-th, modulo how many exist; null if
    /// none does), so the same reference sits in several slots.
    Earlier(u8),
}

/// Which side performs an operation both sides can do.
#[derive(Debug, Clone, Copy, Arbitrary)]
pub enum Via {
    Wasm,
    Host,
}

#[derive(Debug, Clone)]
pub enum TableOp {
    Get { table: usize, index: u64, via: Via },
    Set { table: usize, index: u64, value: RefSource, via: Via },
    Grow { table: usize, delta: u64, value: RefSource, via: Via },
    Size { table: usize, via: Via },
    /// `table.fill` (Wasm only: the API has no fill).
    Fill { table: usize, dst: u64, value: RefSource, len: u64 },
    /// `table.copy` from `src_table` to `dst_table` (Wasm only).
    Copy { dst_table: usize, src_table: usize, dst: u64, src: u64, len: u64 },
    /// Wasm calls the host's `make` and stores the result.
    MakeInWasm { table: usize, index: u64 },
    /// Wasm loads an element and passes it to the host's `observe`.
    ObserveInWasm { table: usize, index: u64 },
    /// A full collection: by the host between calls, or by Wasm (through
    /// the host's `gc`) while the element at `index` is held only in a
    /// local, its slot cleared; Wasm then observes the local and puts it
    /// back. A collector that loses or moves it wrongly shows up there.
    Gc { table: usize, index: u64, via: Via },
}

/// A test case: operations run in order on one fresh instance.
#[derive(Debug, Clone)]
pub struct TableOps {
    pub ops: Vec<TableOp>,
}

/// At most this many operations per test case.
pub const MAX_OPS: usize = 64;

impl<'a> Arbitrary<'a> for TableOps {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let mut ops = Vec::new();
        // Until the input runs out: a continue-or-stop flag per step
        // would make most sequences a handful of steps long.
        while !u.is_empty() && ops.len() < MAX_OPS {
            ops.push(op(u)?);
        }
        Ok(TableOps { ops })
    }
}

fn op(u: &mut Unstructured<'_>) -> Result<TableOp> {
    let table = u.choose_index(TABLES.len())?;
    Ok(match u.int_in_range(0..=8)? {
        0 => TableOp::Get { table, index: operand(u)?, via: u.arbitrary()? },
        1 => TableOp::Set { table, index: operand(u)?, value: u.arbitrary()?, via: u.arbitrary()? },
        2 => TableOp::Grow { table, delta: grow_delta(u)?, value: u.arbitrary()?, via: u.arbitrary()? },
        3 => TableOp::Size { table, via: u.arbitrary()? },
        4 => TableOp::Fill { table, dst: operand(u)?, value: u.arbitrary()?, len: operand(u)? },
        5 => TableOp::Copy { dst_table: table, src_table: u.choose_index(TABLES.len())?, dst: operand(u)?, src: operand(u)?, len: operand(u)? },
        6 => TableOp::MakeInWasm { table, index: operand(u)? },
        7 => TableOp::ObserveInWasm { table, index: operand(u)? },
        _ => TableOp::Gc { table, index: operand(u)?, via: u.arbitrary()? },
    })
}

/// An index or length: usually near the tables' sizes, sometimes huge.
fn operand(u: &mut Unstructured<'_>) -> Result<u64> {
    if u.ratio(7, 8)? { u.int_in_range(0..=72) } else { Ok(*u.choose(&[u32::MAX as u64, 1 << 32, u64::MAX, (1 << 32) + 1])?) }
}

/// A growth amount: usually a few elements, sometimes more than any
/// table may have.
fn grow_delta(u: &mut Unstructured<'_>) -> Result<u64> {
    if u.ratio(7, 8)? { u.int_in_range(0..=12) } else { Ok(*u.choose(&[10_000, u32::MAX as u64, 1 << 32, u64::MAX])?) }
}

/// The module the operations run on (see the module docs).
pub fn module_wat() -> String {
    let mut wat = String::from(
        "(module\n  (import \"host\" \"make\" (func $make (result externref)))\n  (import \"host\" \"observe\" (func $observe (param externref)))\n  (import \"host\" \"gc\" (func $gc))\n",
    );
    for (i, t) in TABLES.iter().enumerate() {
        let idx = if t.table64 { "i64 " } else { "" };
        let max = t.maximum.map_or(String::new(), |m| format!(" {m}"));
        wat += &format!("  (table $t{i} (export \"t{i}\") {idx}{}{max} externref)\n", t.minimum);
    }
    for (i, t) in TABLES.iter().enumerate() {
        let it = if t.table64 { "i64" } else { "i32" };
        wat += &format!(
            r#"  (func (export "get{i}") (param {it}) (result externref) (table.get $t{i} (local.get 0)))
  (func (export "set{i}") (param {it} externref) (table.set $t{i} (local.get 0) (local.get 1)))
  (func (export "grow{i}") (param externref {it}) (result {it}) (table.grow $t{i} (local.get 0) (local.get 1)))
  (func (export "size{i}") (result {it}) (table.size $t{i}))
  (func (export "fill{i}") (param {it} externref {it}) (table.fill $t{i} (local.get 0) (local.get 1) (local.get 2)))
  (func (export "make{i}") (param {it}) (table.set $t{i} (local.get 0) (call $make)))
  (func (export "observe{i}") (param {it}) (call $observe (table.get $t{i} (local.get 0))))
  (func (export "gc{i}") (param {it}) (local externref)
    (local.set 1 (table.get $t{i} (local.get 0)))
    (table.set $t{i} (local.get 0) (ref.null extern))
    (call $gc)
    (call $observe (local.get 1))
    (table.set $t{i} (local.get 0) (local.get 1)))
"#
        );
        for (j, s) in TABLES.iter().enumerate() {
            // The length has the smaller of the two index types.
            let (dt, st) = (it, if s.table64 { "i64" } else { "i32" });
            let lt = if t.table64 && s.table64 { "i64" } else { "i32" };
            wat += &format!("  (func (export \"copy{i}{j}\") (param {dt} {st} {lt}) (table.copy $t{i} $t{j} (local.get 0) (local.get 1) (local.get 2)))\n");
        }
    }
    wat + ")\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_module_parses() {
        wat::parse_str(module_wat()).unwrap();
    }

    #[test]
    fn sequences_are_bounded_and_use_every_table() {
        let bytes: Vec<u8> = (0u32..20_000).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
        let mut u = Unstructured::new(&bytes);
        let mut seen = [false; TABLES.len()];
        while !u.is_empty() {
            let ops = TableOps::arbitrary(&mut u).unwrap();
            assert!(ops.ops.len() <= MAX_OPS);
            for op in &ops.ops {
                if let TableOp::Get { table, .. } | TableOp::Set { table, .. } = op {
                    seen[*table] = true;
                }
            }
        }
        assert_eq!(seen, [true; TABLES.len()]);
    }
}
