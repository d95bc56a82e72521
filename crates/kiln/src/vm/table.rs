//! Tables: a growable vector of references in their machine
//! representation (pointer-sized funcrefs, or 32-bit references).

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
}

// SAFETY: `def.base` points into `elements`, owned by this value.
unsafe impl Send for Table {}
// SAFETY: shared access only reads.
unsafe impl Sync for Table {}

impl Table {
    /// A table of `ty.minimum` copies of `init` (a raw element). `limit`
    /// caps growth (the engine's configured maximum).
    pub fn new(ty: TableType, repr: RefRepr, init: u64, limit: u64) -> Result<Box<Table>, String> {
        let max = ty.maximum.unwrap_or(u64::MAX).min(limit);
        if ty.minimum > max {
            return Err(format!("table minimum size of {} elements exceeds the limit of {max}", ty.minimum));
        }
        let n = ty.minimum as usize;
        let elements = match repr {
            RefRepr::FuncRef => Elements::Func(vec![init as usize; n]),
            RefRepr::GcRef => Elements::Gc(vec![init as u32; n]),
        };
        let mut t = Box::new(Table { def: VMTableDefinition { base: std::ptr::null_mut(), current_elements: n }, elements, ty, max });
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

    pub fn set(&mut self, i: u64, raw: u64) -> bool {
        let Ok(i) = usize::try_from(i) else { return false };
        match &mut self.elements {
            Elements::Func(v) => v.get_mut(i).map(|e| *e = raw as usize).is_some(),
            Elements::Gc(v) => v.get_mut(i).map(|e| *e = raw as u32).is_some(),
        }
    }

    /// Grows by `delta` elements set to `init`, returning the old size, or
    /// `None` if the table cannot grow that much.
    pub fn grow(&mut self, delta: u64, init: u64) -> Option<u64> {
        let old = self.size();
        let new = old.checked_add(delta).filter(|n| *n <= self.max)?;
        let new = usize::try_from(new).ok()?;
        match &mut self.elements {
            Elements::Func(v) => {
                v.try_reserve(new - v.len()).ok()?;
                v.resize(new, init as usize);
            }
            Elements::Gc(v) => {
                v.try_reserve(new - v.len()).ok()?;
                v.resize(new, init as u32);
            }
        }
        self.sync();
        Some(old)
    }

    /// Sets `len` elements from `dst` to `raw`; false if out of bounds.
    pub fn fill(&mut self, dst: u64, raw: u64, len: u64) -> bool {
        if dst.checked_add(len).is_none_or(|end| end > self.size()) {
            return false;
        }
        let (dst, len) = (dst as usize, len as usize);
        match &mut self.elements {
            Elements::Func(v) => v[dst..dst + len].fill(raw as usize),
            Elements::Gc(v) => v[dst..dst + len].fill(raw as u32),
        }
        true
    }

    /// Copies within this table (`memmove` semantics); false if out of bounds.
    pub fn copy_within(&mut self, dst: u64, src: u64, len: u64) -> bool {
        let size = self.size();
        if src.checked_add(len).is_none_or(|e| e > size) || dst.checked_add(len).is_none_or(|e| e > size) {
            return false;
        }
        let (dst, src, len) = (dst as usize, src as usize, len as usize);
        match &mut self.elements {
            Elements::Func(v) => v.copy_within(src..src + len, dst),
            Elements::Gc(v) => v.copy_within(src..src + len, dst),
        }
        true
    }

    /// Writes `items` starting at `dst`; false (and nothing written) if out
    /// of bounds.
    pub fn init(&mut self, dst: u64, items: &[u64]) -> bool {
        if dst.checked_add(items.len() as u64).is_none_or(|e| e > self.size()) {
            return false;
        }
        for (i, raw) in items.iter().enumerate() {
            self.set(dst + i as u64, *raw);
        }
        true
    }
}
