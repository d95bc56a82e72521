//! The model of one store of an instantiate_many run: every memory,
//! `i64` global, cell global, table and GC cell made in it, by number,
//! and the live instances with the numbers of the items each one sees.
//!
//! Items are never freed here: an instance whose handle was dropped, or
//! whose provider's was, still shares them.

use crate::generators::instantiate_many::{Export, Item, MAX_PAGES, MAX_TABLE, ModuleSpec, PAGE, TAB_READ_I31, TAB_READ_NULL, TABLE_MIN};
use kiln::{Instance, Trap};

/// An element of an `anyref` table.
#[derive(Debug, Clone, Copy)]
pub enum TabVal {
    Null,
    /// The value as `i31.get_s` returns it.
    I31(i32),
    /// A cell, by number.
    Cell(usize),
}

/// A live instance and the items it sees.
#[derive(Clone)]
pub struct InstanceModel {
    pub instance: Instance,
    pub memory: usize,
    pub counter: usize,
    /// The cell global (which holds a cell number, or null).
    pub cell: usize,
    pub refs: usize,
    pub funcs: usize,
    /// The constants `chain` applies, from the first provider down to
    /// this instance.
    pub chain: Vec<i64>,
    pub constant: i64,
}

#[derive(Default)]
pub struct StoreModel {
    pub memories: Vec<Vec<u8>>,
    pub counters: Vec<i64>,
    pub cell_globals: Vec<Option<usize>>,
    /// Each cell's field.
    pub cells: Vec<i64>,
    pub refs: Vec<Vec<TabVal>>,
    /// `ft` tables: the constant of the `id` function in each element.
    pub funcs: Vec<Vec<Option<i64>>>,
    pub instances: Vec<InstanceModel>,
    /// Instantiations so far, including those whose handle was dropped.
    pub instantiated: usize,
}

/// A call's result (`None` for no result), or its trap.
pub type CallResult = Result<Option<i64>, Trap>;

/// `i31.get_s (ref.i31 v)`: the low 31 bits, sign-extended.
fn wrap_i31(v: i32) -> i32 {
    (v << 1) >> 1
}

/// The growth `table.grow` or `memory.grow` makes of `old` by `delta`
/// within `max`: the old size, or `None` (it returns -1).
fn grown(old: u64, delta: u32, max: u64) -> Option<u64> {
    (old + u64::from(delta) <= max).then_some(old)
}

fn in_bounds(index: u32, len: usize) -> Result<usize, Trap> {
    if (index as usize) < len { Ok(index as usize) } else { Err(Trap::TableOutOfBounds) }
}

impl StoreModel {
    /// Records an instance of `spec`: its items, and what its segments and
    /// start function wrote.
    pub fn instantiate(&mut self, spec: &ModuleSpec, provider: Option<&InstanceModel>, instance: Instance) {
        let shared = |item: Item, own: usize| -> usize {
            match provider {
                Some(p) if spec.imports(item) => match item {
                    Item::Memory => p.memory,
                    Item::Counter => p.counter,
                    Item::Cell => p.cell,
                    Item::Refs => p.refs,
                    Item::Funcs => p.funcs,
                    Item::Chain => unreachable!("chain is not a numbered item"),
                },
                _ => own,
            }
        };
        let memory = shared(Item::Memory, self.memories.len());
        let counter = shared(Item::Counter, self.counters.len());
        let cell = shared(Item::Cell, self.cell_globals.len());
        let refs = shared(Item::Refs, self.refs.len());
        let funcs = shared(Item::Funcs, self.funcs.len());
        // New items are pushed in the order their numbers were taken.
        if memory == self.memories.len() {
            self.memories.push(vec![0; PAGE as usize]);
        }
        if counter == self.counters.len() {
            self.counters.push(0);
        }
        if cell == self.cell_globals.len() {
            self.cell_globals.push(None);
        }
        if refs == self.refs.len() {
            self.refs.push(vec![TabVal::Null; TABLE_MIN as usize]);
        }
        if funcs == self.funcs.len() {
            self.funcs.push(vec![None; TABLE_MIN as usize]);
        }
        let mut chain = match provider {
            Some(p) if spec.imports(Item::Chain) => p.chain.clone(),
            _ => Vec::new(),
        };
        chain.push(spec.constant);
        // Elements, then data, then the start function.
        self.funcs[funcs][spec.elem_at as usize] = Some(spec.constant);
        let at = spec.data_at as usize;
        self.memories[memory][at..at + 8].copy_from_slice(&spec.constant.to_le_bytes());
        if spec.start {
            self.counters[counter] = self.counters[counter].wrapping_add(spec.constant);
        }
        self.instances.push(InstanceModel { instance, memory, counter, cell, refs, funcs, chain, constant: spec.constant });
        self.instantiated += 1;
    }

    /// What calling `export` of `inst` with `a` and `b` does (see
    /// `Export`), applied to the model.
    pub fn call(&mut self, inst: &InstanceModel, export: Export, a: u32, b: i64) -> CallResult {
        match export {
            Export::Id => Ok(Some(inst.constant)),
            Export::Chain => {
                let (first, rest) = inst.chain.split_first().expect("a chain has this instance's constant");
                Ok(Some(rest.iter().fold(b.wrapping_add(*first), |v, c| v.wrapping_mul(3).wrapping_add(*c))))
            }
            Export::GAdd => {
                let g = &mut self.counters[inst.counter];
                *g = g.wrapping_add(b);
                Ok(Some(*g))
            }
            Export::MemStore | Export::MemLoad | Export::MemGrow => self.memory_call(inst.memory, export, a, b),
            Export::CellNew | Export::CellGet | Export::CellSet => self.cell_call(inst.cell, export, b),
            Export::TabStore | Export::TabStoreI31 | Export::TabRead | Export::CellFromTab | Export::TabGrow => self.refs_call(inst, export, a, b),
            Export::FtPut => {
                let i = in_bounds(a, self.funcs[inst.funcs].len())?;
                self.funcs[inst.funcs][i] = Some(inst.constant);
                Ok(None)
            }
            Export::FtCall => {
                let i = in_bounds(a, self.funcs[inst.funcs].len())?;
                self.funcs[inst.funcs][i].map(Some).ok_or(Trap::IndirectCallToNull)
            }
            Export::FtGrow => {
                let t = &mut self.funcs[inst.funcs];
                let old = grown(t.len() as u64, a, MAX_TABLE);
                if old.is_some() {
                    t.resize(t.len() + a as usize, None);
                }
                Ok(Some(old.map_or(-1, |o| o as i64)))
            }
            Export::Collect => Ok(None),
        }
    }

    fn memory_call(&mut self, memory: usize, export: Export, a: u32, b: i64) -> CallResult {
        let mem = &mut self.memories[memory];
        let len = mem.len() as u64;
        let range = move || if u64::from(a) + 8 <= len { Ok(a as usize..a as usize + 8) } else { Err(Trap::MemoryOutOfBounds) };
        match export {
            Export::MemStore => {
                let r = range()?;
                mem[r].copy_from_slice(&b.to_le_bytes());
                Ok(None)
            }
            Export::MemLoad => {
                let r = range()?;
                Ok(Some(i64::from_le_bytes(mem[r].try_into().expect("8 bytes"))))
            }
            Export::MemGrow => {
                let pages = mem.len() as u64 / PAGE;
                let old = grown(pages, a, MAX_PAGES);
                if old.is_some() {
                    mem.resize(mem.len() + a as usize * PAGE as usize, 0);
                }
                Ok(Some(old.map_or(-1, |o| o as i64)))
            }
            _ => unreachable!("a memory export"),
        }
    }

    fn cell_call(&mut self, global: usize, export: Export, b: i64) -> CallResult {
        match export {
            Export::CellNew => {
                self.cells.push(b);
                self.cell_globals[global] = Some(self.cells.len() - 1);
                Ok(None)
            }
            Export::CellGet => {
                let c = self.cell_globals[global].ok_or(Trap::NullStructReference)?;
                Ok(Some(self.cells[c]))
            }
            Export::CellSet => {
                let c = self.cell_globals[global].ok_or(Trap::NullStructReference)?;
                self.cells[c] = b;
                Ok(None)
            }
            _ => unreachable!("a cell export"),
        }
    }

    fn refs_call(&mut self, inst: &InstanceModel, export: Export, a: u32, b: i64) -> CallResult {
        let len = self.refs[inst.refs].len();
        match export {
            Export::TabStore => {
                let i = in_bounds(a, len)?;
                self.refs[inst.refs][i] = self.cell_globals[inst.cell].map_or(TabVal::Null, TabVal::Cell);
                Ok(None)
            }
            Export::TabStoreI31 => {
                let i = in_bounds(a, len)?;
                self.refs[inst.refs][i] = TabVal::I31(wrap_i31(b as i32));
                Ok(None)
            }
            Export::TabRead => Ok(Some(match self.refs[inst.refs][in_bounds(a, len)?] {
                TabVal::Null => TAB_READ_NULL,
                TabVal::I31(v) => TAB_READ_I31 + i64::from(v),
                TabVal::Cell(c) => self.cells[c],
            })),
            Export::CellFromTab => {
                self.cell_globals[inst.cell] = match self.refs[inst.refs][in_bounds(a, len)?] {
                    TabVal::Null => None,
                    TabVal::Cell(c) => Some(c),
                    TabVal::I31(_) => return Err(Trap::CastFailure),
                };
                Ok(None)
            }
            Export::TabGrow => {
                let old = grown(len as u64, a, MAX_TABLE);
                if old.is_some() {
                    self.refs[inst.refs].resize(len + a as usize, TabVal::Null);
                }
                Ok(Some(old.map_or(-1, |o| o as i64)))
            }
            _ => unreachable!("a table export"),
        }
    }
}
