//! Many instances of a family of linked modules, in several stores.
//!
//! Every module of the family has the same exports: a memory (`mem`), an
//! `i64` global (`g`), a global holding a GC struct (`cell`), an `anyref`
//! table (`tab`), a `funcref` table (`ft`) and functions reading and
//! writing each of them (see `Export`). A module *spec* says, for each of
//! those items, whether the module defines it or imports it (from module
//! `prev`, under the same name): an instance's imports are another
//! instance's exports, so memories, globals, tables and GC objects end up
//! shared along chains of instances, and calls cross them (`chain` calls
//! the previous instance's `chain`; `ft` holds functions of other
//! instances). Each module also writes its constant into the memory (a
//! data segment), puts its `id` function in `ft` (an element segment) and
//! may add its constant to `g` in a start function, so instantiation
//! itself writes to shared state.
//!
//! A test case is a few specs and a sequence of operations: create and
//! drop stores, instantiate a spec with the n-th live instance of a store
//! as provider, drop an instance's handle (the store keeps it alive, and
//! whatever imported from it still works), call an export with generated
//! arguments (addresses and indices near the bounds), and collect garbage.
//! Bounded: at most `MAX_OPS` operations, `MAX_STORES` stores alive and
//! `MAX_INSTANCES` instantiations per store.

mod encode;

pub use encode::{PAGE, TAB_READ_I31, TAB_READ_NULL, module};

use arbitrary::{Arbitrary, Result, Unstructured};

/// An item a module either defines or imports from `prev`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Item {
    /// `mem`: a memory of 1 to `MAX_PAGES` pages.
    Memory,
    /// `g`: a mutable `i64` global.
    Counter,
    /// `cell`: a mutable global of `(ref null $cell)`, `$cell` being
    /// `(struct (field (mut i64)))`.
    Cell,
    /// `tab`: an `anyref` table (cells and i31s) of 4 to `MAX_TABLE` elements.
    Refs,
    /// `ft`: a `funcref` table of 4 to `MAX_TABLE` elements.
    Funcs,
    /// `chain`: with the import, this module's `chain` calls the previous
    /// one's.
    Chain,
}

pub const ITEMS: [Item; 6] = [Item::Memory, Item::Counter, Item::Cell, Item::Refs, Item::Funcs, Item::Chain];

impl Item {
    pub fn name(self) -> &'static str {
        match self {
            Item::Memory => "mem",
            Item::Counter => "g",
            Item::Cell => "cell",
            Item::Refs => "tab",
            Item::Funcs => "ft",
            Item::Chain => "chain",
        }
    }
}

/// Largest size of a memory, in pages, and of a table.
pub const MAX_PAGES: u64 = 4;
pub const MAX_TABLE: u64 = 16;
/// Initial size of every table.
pub const TABLE_MIN: u64 = 4;

/// One module of the family.
#[derive(Debug, Clone)]
pub struct ModuleSpec {
    /// The items imported from `prev` (the rest are defined).
    pub imports: Vec<Item>,
    /// What `id` returns; also what the data segment writes, the start
    /// function adds to `g`, and `chain` adds.
    pub constant: i64,
    /// The data segment writes `constant` (8 bytes, little-endian) at
    /// this address (within the first page, 8-aligned).
    pub data_at: u32,
    /// The element segment puts `id` at this index of `ft` (below
    /// `TABLE_MIN`).
    pub elem_at: u32,
    pub start: bool,
}

impl ModuleSpec {
    pub fn imports(&self, item: Item) -> bool {
        self.imports.contains(&item)
    }
}

/// The exported functions of every module, in function index order
/// (after the imports).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Export {
    /// `() -> i64`: the constant.
    Id,
    /// `(x: i64) -> i64`: `x + c` without a `chain` import, else
    /// `prev.chain(x) * 3 + c`.
    Chain,
    /// `(v: i64) -> i64`: `g += v`, returns `g`.
    GAdd,
    /// `(addr: i32, v: i64)`: `i64.store`.
    MemStore,
    /// `(addr: i32) -> i64`: `i64.load`.
    MemLoad,
    /// `(delta: i32) -> i32`: `memory.grow`.
    MemGrow,
    /// `(v: i64)`: `cell` = a new struct holding `v`.
    CellNew,
    /// `() -> i64`: `cell`'s field (traps on null).
    CellGet,
    /// `(v: i64)`: sets `cell`'s field (traps on null).
    CellSet,
    /// `(i: i32)`: `tab[i]` = `cell`.
    TabStore,
    /// `(i: i32, v: i32)`: `tab[i]` = `ref.i31 v`.
    TabStoreI31,
    /// `(i: i32) -> i64`: `TAB_READ_NULL` for null, `TAB_READ_I31 + v`
    /// for an i31, the field for a cell.
    TabRead,
    /// `(i: i32)`: `cell` = `tab[i]` cast to `(ref null $cell)`.
    CellFromTab,
    /// `(delta: i32) -> i32`: `table.grow` of `tab` with nulls.
    TabGrow,
    /// `(i: i32)`: `ft[i]` = this module's `id`.
    FtPut,
    /// `(i: i32) -> i64`: `call_indirect` of `ft[i]` (an `id`).
    FtCall,
    /// `(delta: i32) -> i32`: `table.grow` of `ft` with nulls.
    FtGrow,
    /// `()`: clears `cell`, collects (the host's `gc`) while a local
    /// holds the struct, and puts it back.
    Collect,
}

pub const EXPORTS: [Export; 18] = [
    Export::Id,
    Export::Chain,
    Export::GAdd,
    Export::MemStore,
    Export::MemLoad,
    Export::MemGrow,
    Export::CellNew,
    Export::CellGet,
    Export::CellSet,
    Export::TabStore,
    Export::TabStoreI31,
    Export::TabRead,
    Export::CellFromTab,
    Export::TabGrow,
    Export::FtPut,
    Export::FtCall,
    Export::FtGrow,
    Export::Collect,
];

impl Export {
    pub fn name(self) -> String {
        format!("{self:?}").to_lowercase()
    }
}

/// An operation. Stores, modules and instances are picked by number,
/// modulo how many are alive (nothing happens with none).
#[derive(Debug, Clone)]
pub enum ManyOp {
    NewStore,
    DropStore { store: u8 },
    /// Instantiates the `module`-th spec in the store, its imports coming
    /// from the store's `provider`-th live instance.
    Instantiate { store: u8, module: u8, provider: u8 },
    /// Forgets the handle of the store's `instance`-th live instance.
    DropInstance { store: u8, instance: u8 },
    /// Calls `export` of the store's `instance`-th live instance; `i32`
    /// parameters take `a` (then `b` truncated), `i64` ones `b`.
    Call { store: u8, instance: u8, export: Export, a: u32, b: i64 },
    /// `Store::gc`.
    Gc { store: u8 },
}

/// A test case.
#[derive(Debug, Clone)]
pub struct InstantiateMany {
    pub modules: Vec<ModuleSpec>,
    pub ops: Vec<ManyOp>,
}

pub const MAX_MODULES: usize = 5;
pub const MAX_OPS: usize = 64;
pub const MAX_STORES: usize = 3;
pub const MAX_INSTANCES: usize = 12;

impl<'a> Arbitrary<'a> for InstantiateMany {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let n = u.int_in_range(1..=MAX_MODULES)?;
        let modules = (0..n).map(|i| spec(u, i)).collect::<Result<Vec<_>>>()?;
        // Every case starts with a store and an instance of a module that
        // imports nothing but the host's `gc`.
        let mut ops = vec![ManyOp::NewStore];
        let root = (0..n).find(|i| modules[*i].imports.is_empty()).unwrap_or(0);
        ops.push(ManyOp::Instantiate { store: 0, module: root as u8, provider: 0 });
        let mut modules = modules;
        modules[root].imports.clear();
        // Until the input runs out: a continue-or-stop flag per step
        // would make most sequences a handful of steps long.
        while !u.is_empty() && ops.len() < MAX_OPS {
            ops.push(op(u)?);
        }
        Ok(InstantiateMany { modules, ops })
    }
}

fn spec(u: &mut Unstructured<'_>, i: usize) -> Result<ModuleSpec> {
    let mut imports = Vec::new();
    for item in ITEMS {
        if u.ratio(2, 3)? {
            imports.push(item);
        }
    }
    Ok(ModuleSpec {
        imports,
        constant: 100 * (i as i64 + 1) + i64::from(u.int_in_range(0..=99u8)?),
        data_at: 8 * u.int_in_range(0..=15)?,
        elem_at: u.int_in_range(0..=TABLE_MIN as u32 - 1)?,
        start: u.arbitrary()?,
    })
}

fn op(u: &mut Unstructured<'_>) -> Result<ManyOp> {
    let n = |u: &mut Unstructured<'_>| u.arbitrary::<u8>();
    // Dropping a store throws away everything in it: one operation in 40.
    Ok(match u.int_in_range(0..=39)? {
        0..=1 => ManyOp::NewStore,
        2 => ManyOp::DropStore { store: n(u)? },
        3..=9 => ManyOp::Instantiate { store: n(u)?, module: n(u)?, provider: n(u)? },
        10..=11 => ManyOp::DropInstance { store: n(u)?, instance: n(u)? },
        12..=13 => ManyOp::Gc { store: n(u)? },
        _ => {
            let export = *u.choose(&EXPORTS)?;
            ManyOp::Call { store: n(u)?, instance: n(u)?, export, a: operand(u, export)?, b: value(u)? }
        }
    })
}

/// The `i32` operand of `export`: an address near the start or the end of
/// a page, a table index near the sizes, a small growth; sometimes huge.
fn operand(u: &mut Unstructured<'_>, export: Export) -> Result<u32> {
    if u.ratio(1, 16)? {
        return Ok(*u.choose(&[u32::MAX, u32::MAX - 7, 1 << 31])?);
    }
    Ok(match export {
        Export::MemStore | Export::MemLoad => {
            if u.arbitrary()? {
                8 * u.int_in_range(0..=15)?
            } else {
                PAGE as u32 * u.int_in_range(1..=MAX_PAGES as u32)? - 8 + u.int_in_range(0..=8)?
            }
        }
        Export::MemGrow => u.int_in_range(0..=2)?,
        Export::TabGrow | Export::FtGrow => u.int_in_range(0..=6)?,
        // Mostly within the initial size, sometimes around the largest.
        _ if u.ratio(3, 4)? => u.int_in_range(0..=TABLE_MIN as u32 - 1)?,
        _ => u.int_in_range(TABLE_MIN as u32..=MAX_TABLE as u32 + 1)?,
    })
}

fn value(u: &mut Unstructured<'_>) -> Result<i64> {
    if u.arbitrary()? { u.int_in_range(-5..=1000) } else { u.arbitrary() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spec_validates() {
        let mut validator = wasmparser::Validator::new_with_features(kiln_environ::wasm_features());
        // Every subset of imported items, with and without a start function.
        for mask in 0..(1u32 << ITEMS.len()) {
            let imports: Vec<Item> = ITEMS.iter().enumerate().filter(|(i, _)| mask & (1 << i) != 0).map(|(_, item)| *item).collect();
            for start in [false, true] {
                let spec = ModuleSpec { imports: imports.clone(), constant: 7, data_at: 8, elem_at: 3, start };
                validator.reset();
                validator.validate_all(&module(&spec)).unwrap_or_else(|e| panic!("{e}: {spec:?}"));
            }
        }
    }
}
