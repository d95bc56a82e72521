//! Function references stored in GC objects.
//!
//! Heap contents are untrusted, so an object never holds a `VMFuncRef`
//! pointer: it holds an id into this table, which belongs to the store's
//! GC heap. Reading an id back is checked twice: the id must have been
//! handed out (a missing or out-of-range id is an error, never null or
//! another store's function), and the function's type must be a subtype
//! of the type the reader expects, so a stale or corrupted field cannot
//! make `call_ref` run code of the wrong signature.

use std::collections::HashMap;

#[derive(Default)]
pub(crate) struct FuncRefTable {
    /// `VMFuncRef` addresses by id minus one.
    by_id: Vec<usize>,
    ids: HashMap<usize, u32>,
}

/// A function id read from the heap that names no function of its store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid function reference id {0} in the GC heap")]
pub(crate) struct BadFuncRefId(pub u32);

impl FuncRefTable {
    /// The id under which objects store `func_ref` (0 for null).
    pub fn id_of(&mut self, func_ref: usize) -> u32 {
        if func_ref == 0 {
            return 0;
        }
        if let Some(id) = self.ids.get(&func_ref) {
            return *id;
        }
        self.by_id.push(func_ref);
        let id = u32::try_from(self.by_id.len()).expect("fewer functions than u32::MAX in a store");
        self.ids.insert(func_ref, id);
        id
    }

    /// The funcref with id `id`: 0 (null) for id 0.
    pub fn get(&self, id: u32) -> Result<usize, BadFuncRefId> {
        match id.checked_sub(1) {
            None => Ok(0),
            Some(i) => self.by_id.get(i as usize).copied().ok_or(BadFuncRefId(id)),
        }
    }
}
