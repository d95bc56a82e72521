//! Tables: a growable vector of references in their machine
//! representation (pointer-sized funcrefs, or 32-bit references).
//!
//! Elements of GC reference tables are counted slots: every write goes
//! through the collector's barriers ([`RefBarriers`]), given by the caller.
//! Values passed in are borrowed (the table takes its own counts).

use crate::gc::RefBarriers;
use anyhow::Result;
use kiln_environ::{RefRepr, TableType};

/// What compiled code reads: see `vmoffsets::table`. First field of
/// [`Table`], so a pointer to one is a pointer to the other.
#[repr(C)]
#[derive(Debug)]
pub struct VMTableDefinition {
    pub base: *mut u8,
    pub current_elements: usize,
}

#[derive(Debug)]
enum Elements {
    Func(Vec<usize>),
    Gc(Vec<u32>),
}

#[repr(C)]
#[derive(Debug)]
pub struct Table {
    pub def: VMTableDefinition,
    elements: Elements,
    ty: TableType,
    max: u64,
    /// The pooling allocator's table slot this table holds.
    pub pool_slot: Option<super::pool::CountedSlot>,
}

// SAFETY: `def.base` points into `elements`, owned by this value.
unsafe impl Send for Table {}
// SAFETY: shared access only reads.
unsafe impl Sync for Table {}

/// Why a table operation did nothing.
#[derive(Debug)]
pub enum TableError {
    OutOfBounds,
    /// A barrier failed (a corrupted GC heap).
    Gc(anyhow::Error),
}

impl Table {
    /// A table of `ty.minimum` copies of `init` (a raw element). `limit`
    /// caps growth (the engine's configured maximum).
    pub fn new(ty: TableType, repr: RefRepr, init: u64, limit: u64, b: &mut RefBarriers<'_>) -> Result<Box<Table>> {
        let max = ty.maximum.unwrap_or(u64::MAX).min(limit);
        if ty.minimum > max {
            anyhow::bail!("table minimum size of {} elements exceeds the limit of {max}", ty.minimum);
        }
        let n = ty.minimum as usize;
        let elements = match repr {
            RefRepr::FuncRef => Elements::Func(vec![init as usize; n]),
            RefRepr::GcRef => {
                for _ in 0..n {
                    b.clone_ref(init as u32)?;
                }
                Elements::Gc(vec![init as u32; n])
            }
        };
        let mut t = Box::new(Table { def: VMTableDefinition { base: std::ptr::null_mut(), current_elements: n }, elements, ty, max, pool_slot: None });
        t.sync();
        Ok(t)
    }

    fn sync(&mut self) {
        let (base, len) = match &mut self.elements {
            Elements::Func(v) => (v.as_mut_ptr().cast(), v.len()),
            Elements::Gc(v) => (v.as_mut_ptr().cast(), v.len()),
        };
        self.def = VMTableDefinition { base, current_elements: len };
    }

    /// The elements of a table of GC references, for a collector to use as
    /// roots (and rewrite when objects move).
    pub fn gc_ref_elements_mut(&mut self) -> Option<&mut [u32]> {
        match &mut self.elements {
            Elements::Gc(v) => Some(v),
            Elements::Func(_) => None,
        }
    }

    pub fn ty(&self) -> TableType {
        self.ty
    }

    pub fn size(&self) -> u64 {
        self.def.current_elements as u64
    }

    pub fn get(&self, i: u64) -> Option<u64> {
        let i = usize::try_from(i).ok()?;
        match &self.elements {
            Elements::Func(v) => v.get(i).map(|e| *e as u64),
            Elements::Gc(v) => v.get(i).map(|e| *e as u64),
        }
    }

    fn in_bounds(&self, start: u64, len: u64) -> Result<(usize, usize), TableError> {
        match start.checked_add(len) {
            Some(end) if end <= self.size() => Ok((start as usize, len as usize)),
            _ => Err(TableError::OutOfBounds),
        }
    }

    pub fn set(&mut self, i: u64, raw: u64, b: &mut RefBarriers<'_>) -> Result<(), TableError> {
        let (i, _) = self.in_bounds(i, 1)?;
        match &mut self.elements {
            Elements::Func(v) => v[i] = raw as usize,
            Elements::Gc(v) => b.write(&mut v[i], raw as u32).map_err(TableError::Gc)?,
        }
        Ok(())
    }

    /// Grows by `delta` elements set to `init`, returning the old size, or
    /// `None` if the table cannot grow that much.
    pub fn grow(&mut self, delta: u64, init: u64, b: &mut RefBarriers<'_>) -> Result<Option<u64>> {
        let old = self.size();
        let Some(new) = old.checked_add(delta).filter(|n| *n <= self.max).and_then(|n| usize::try_from(n).ok()) else { return Ok(None) };
        match &mut self.elements {
            Elements::Func(v) => {
                if v.try_reserve(new - v.len()).is_err() {
                    return Ok(None);
                }
                v.resize(new, init as usize);
            }
            Elements::Gc(v) => {
                if v.try_reserve(new - v.len()).is_err() {
                    return Ok(None);
                }
                for _ in v.len()..new {
                    b.clone_ref(init as u32)?;
                }
                v.resize(new, init as u32);
            }
        }
        self.sync();
        Ok(Some(old))
    }

    /// Sets `len` elements from `dst` to `raw`.
    pub fn fill(&mut self, dst: u64, raw: u64, len: u64, b: &mut RefBarriers<'_>) -> Result<(), TableError> {
        let (dst, len) = self.in_bounds(dst, len)?;
        match &mut self.elements {
            Elements::Func(v) => v[dst..dst + len].fill(raw as usize),
            Elements::Gc(v) => {
                for slot in &mut v[dst..dst + len] {
                    b.write(slot, raw as u32).map_err(TableError::Gc)?;
                }
            }
        }
        Ok(())
    }

    /// Copies within this table (`memmove` semantics).
    pub fn copy_within(&mut self, dst: u64, src: u64, len: u64, b: &mut RefBarriers<'_>) -> Result<(), TableError> {
        let (src, _) = self.in_bounds(src, len)?;
        let (dst, len) = self.in_bounds(dst, len)?;
        match &mut self.elements {
            Elements::Func(v) => v.copy_within(src..src + len, dst),
            Elements::Gc(v) => {
                let items: Vec<u32> = v[src..src + len].to_vec();
                for (slot, raw) in v[dst..dst + len].iter_mut().zip(items) {
                    b.write(slot, raw).map_err(TableError::Gc)?;
                }
            }
        }
        Ok(())
    }

    /// Writes `items` (borrowed) starting at `dst`; nothing is written if
    /// they do not all fit.
    pub fn init(&mut self, dst: u64, items: &[u64], b: &mut RefBarriers<'_>) -> Result<(), TableError> {
        let (dst, len) = self.in_bounds(dst, items.len() as u64)?;
        match &mut self.elements {
            Elements::Func(v) => {
                for (slot, raw) in v[dst..dst + len].iter_mut().zip(items) {
                    *slot = *raw as usize;
                }
            }
            Elements::Gc(v) => {
                for (slot, raw) in v[dst..dst + len].iter_mut().zip(items) {
                    b.write(slot, *raw as u32).map_err(TableError::Gc)?;
                }
            }
        }
        Ok(())
    }
}
