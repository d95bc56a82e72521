//! The host-data table: where the values behind externrefs live.
//!
//! An externref object in the GC heap holds only a [`HostDataId`] (index and
//! generation), never a host pointer, because heap contents are untrusted.
//! The table is a slab of `Box<dyn Any + Send + Sync>` owned by the store.
//! Every lookup checks the generation, so a stale or forged id (from a
//! corrupt heap) finds nothing rather than another value, and a value is
//! removed, and so dropped, at most once.
//!
//! Generations start at 1, so an all-zero id (zeroed heap memory) is never
//! valid. A slot whose generation would wrap is retired, not reused.

use crate::memory::read_u32;
use crate::{GcError, Result};
use kiln_environ::gc_layout::{EXTERNREF_HOST_DATA_GENERATION_OFFSET, EXTERNREF_HOST_DATA_INDEX_OFFSET};
use std::any::Any;
use std::fmt;

/// The id of a host value, as stored in an externref object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HostDataId {
    index: u32,
    generation: u32,
}

impl HostDataId {
    /// An id from its parts, e.g. as read from an externref object. It is
    /// checked when used.
    pub fn from_parts(index: u32, generation: u32) -> HostDataId {
        HostDataId { index, generation }
    }

    pub fn index(&self) -> u32 {
        self.index
    }

    pub fn generation(&self) -> u32 {
        self.generation
    }
}

type HostValue = Box<dyn Any + Send + Sync>;

enum Slot {
    Occupied { generation: u32, value: HostValue },
    /// `generation` is the one the next value stored here will get.
    Vacant { generation: u32 },
}

#[derive(Default)]
pub struct HostDataTable {
    slots: Vec<Slot>,
    /// Indices of vacant slots that may be reused.
    free: Vec<u32>,
    len: usize,
    /// The first panic a host value's `Drop` raised during a collection.
    drop_panic: Option<Box<dyn Any + Send>>,
}

impl HostDataTable {
    pub fn new() -> HostDataTable {
        HostDataTable::default()
    }

    /// Stores `value` and returns its id.
    pub fn insert(&mut self, value: HostValue) -> Result<HostDataId> {
        let index = match self.free.pop() {
            Some(i) => i,
            None => {
                let i = u32::try_from(self.slots.len()).map_err(|_| GcError::HostDataTableFull)?;
                self.slots.push(Slot::Vacant { generation: 1 });
                i
            }
        };
        let slot = &mut self.slots[index as usize];
        let generation = match slot {
            Slot::Vacant { generation } => *generation,
            Slot::Occupied { .. } => unreachable!("free list holds only vacant slots"),
        };
        *slot = Slot::Occupied { generation, value };
        self.len += 1;
        Ok(HostDataId { index, generation })
    }

    pub fn get(&self, id: HostDataId) -> Result<&(dyn Any + Send + Sync)> {
        match self.slots.get(id.index as usize) {
            Some(Slot::Occupied { generation, value }) if *generation == id.generation => Ok(value.as_ref()),
            _ => Err(bad(id)),
        }
    }

    pub fn get_mut(&mut self, id: HostDataId) -> Result<&mut (dyn Any + Send + Sync)> {
        match self.slots.get_mut(id.index as usize) {
            Some(Slot::Occupied { generation, value }) if *generation == id.generation => Ok(value.as_mut()),
            _ => Err(bad(id)),
        }
    }

    /// Removes the value, handing it back (dropping it is the caller's
    /// business). The id is stale afterwards.
    pub fn remove(&mut self, id: HostDataId) -> Result<HostValue> {
        let slot = self.slots.get_mut(id.index as usize).ok_or(bad(id))?;
        match slot {
            Slot::Occupied { generation, .. } if *generation == id.generation => {}
            _ => return Err(bad(id)),
        }
        let next = id.generation.checked_add(1);
        let old = std::mem::replace(slot, Slot::Vacant { generation: next.unwrap_or(u32::MAX) });
        if next.is_some() {
            self.free.push(id.index);
        }
        self.len -= 1;
        match old {
            Slot::Occupied { value, .. } => Ok(value),
            Slot::Vacant { .. } => unreachable!("checked above"),
        }
    }

    /// Takes the panic a host value's `Drop` raised while a collection
    /// freed it, for the embedder to resume once it is back on the host
    /// (a collection may run under Wasm frames a panic cannot cross).
    pub fn take_drop_panic(&mut self) -> Option<Box<dyn Any + Send>> {
        self.drop_panic.take()
    }

    /// Drops a value removed by a collection; a panicking `Drop` is caught
    /// and kept (the first one) rather than unwinding through the
    /// collector.
    fn drop_freed(&mut self, value: HostValue) {
        if let Err(panic) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(value))) {
            self.drop_panic.get_or_insert(panic);
        }
    }

    /// Number of live values.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// Drops the host value of the dead externref object at heap offset `obj`:
/// reads the id it holds and removes it from `table`. Collectors call this
/// once per dead externref; the table's generation check refuses a second
/// removal of the same id (a collector bug or a corrupt heap), so a value
/// is dropped at most once. A panic in its `Drop` is kept for
/// [`HostDataTable::take_drop_panic`].
pub(crate) fn drop_externref_host_data(mem: &[u8], obj: u32, table: &mut HostDataTable) -> Result<()> {
    let index = read_u32(mem, u64::from(obj) + u64::from(EXTERNREF_HOST_DATA_INDEX_OFFSET))?;
    let generation = read_u32(mem, u64::from(obj) + u64::from(EXTERNREF_HOST_DATA_GENERATION_OFFSET))?;
    let value = table.remove(HostDataId::from_parts(index, generation))?;
    table.drop_freed(value);
    Ok(())
}

fn bad(id: HostDataId) -> GcError {
    GcError::BadHostDataId { index: id.index, generation: id.generation }
}

impl fmt::Debug for HostDataTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HostDataTable").field("len", &self.len).field("slots", &self.slots.len()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_generation_checked() {
        let mut t = HostDataTable::new();
        let a = t.insert(Box::new(1u32)).unwrap();
        assert_eq!(t.get(a).unwrap().downcast_ref::<u32>(), Some(&1));
        let v = t.remove(a).unwrap();
        assert_eq!(v.downcast_ref::<u32>(), Some(&1));
        assert!(t.get(a).is_err());
        assert!(t.remove(a).is_err(), "a value is removed at most once");
        let b = t.insert(Box::new("b")).unwrap();
        assert_eq!(b.index(), a.index(), "slot reused");
        assert_ne!(b.generation(), a.generation());
        assert!(t.get(a).is_err(), "the old id does not see the new value");
        assert!(t.get(HostDataId::from_parts(0, 0)).is_err(), "a zeroed id is never valid");
        assert!(t.get(HostDataId::from_parts(99, 1)).is_err());
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn a_slot_is_retired_before_its_generation_wraps() {
        let mut t = HostDataTable::new();
        let a = t.insert(Box::new(())).unwrap();
        t.slots[0] = Slot::Occupied { generation: u32::MAX, value: Box::new(()) };
        t.remove(HostDataId::from_parts(a.index(), u32::MAX)).unwrap();
        let b = t.insert(Box::new(())).unwrap();
        assert_ne!(b.index(), a.index());
    }
}
