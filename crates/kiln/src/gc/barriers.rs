//! The runtime side of the collector's barriers.
//!
//! Runtime code that copies GC references outside the heap (tables,
//! globals, element segments, host roots, values handed to Wasm) goes
//! through [`RefBarriers`], never copying raw bits, so a reference-counting
//! collector (DRC) sees every counted slot change. For collectors that do
//! not count references every method is a plain copy and costs nothing.
//!
//! Ownership, in the heap's terms (`kiln_gc::GcHeap`): a *counted slot*
//! (table element, global cell, segment item, host root) owns one count;
//! a value on a Wasm stack owns none (it is in DRC's root log instead).

use super::GcStore;
use anyhow::Result;
use kiln_gc::VMGcRef;

pub(crate) struct RefBarriers<'a> {
    /// The heap, when it counts references.
    gc: Option<&'a mut GcStore>,
}

impl<'a> RefBarriers<'a> {
    /// The barriers of the store's heap `gc` (none yet: nothing to count).
    pub fn of(gc: &'a mut Option<GcStore>) -> RefBarriers<'a> {
        RefBarriers { gc: gc.as_mut().filter(|gc| gc.heap.counts_references()) }
    }

    /// Is there a counted heap object behind `raw`?
    fn counted(&mut self, raw: u32) -> Option<(&mut GcStore, VMGcRef)> {
        let r = VMGcRef::from_raw_u32(raw).filter(|r| !r.is_i31())?;
        Some((self.gc.as_deref_mut()?, r))
    }

    /// Takes one more count of `raw` (for a new counted slot holding it).
    pub fn clone_ref(&mut self, raw: u32) -> Result<()> {
        if let Some((gc, r)) = self.counted(raw) {
            // The new count belongs to whoever stores `raw`.
            let _counted = gc.heap.clone_gc_ref(&r)?;
        }
        Ok(())
    }

    /// Gives up one count of `raw` (a counted slot let go of it); may free
    /// objects.
    pub fn drop_ref(&mut self, raw: u32) -> Result<()> {
        if let Some((gc, r)) = self.counted(raw) {
            gc.heap.drop_gc_ref(&mut gc.host_data, r)?;
        }
        Ok(())
    }

    /// Stores `new` (borrowed) in the counted slot `slot`, releasing what
    /// it held. The new value is counted first: the two may be one object.
    pub fn write(&mut self, slot: &mut u32, new: u32) -> Result<()> {
        self.clone_ref(new)?;
        let old = std::mem::replace(slot, new);
        self.drop_ref(old)
    }

    /// Hands the owned reference `raw` (a new allocation's) to Wasm code:
    /// its count goes to the collector's record of references on Wasm
    /// stacks.
    pub fn expose_owned(&mut self, raw: u32) -> Result<()> {
        if let Some((gc, r)) = self.counted(raw) {
            gc.heap.expose_gc_ref_to_wasm(r)?;
        }
        Ok(())
    }

    /// Hands `raw` (borrowed) to Wasm code: it goes in the collector's
    /// record of references on Wasm stacks.
    pub fn expose(&mut self, raw: u32) -> Result<()> {
        if let Some((gc, r)) = self.counted(raw) {
            let owned = gc.heap.clone_gc_ref(&r)?;
            gc.heap.expose_gc_ref_to_wasm(owned)?;
        }
        Ok(())
    }
}
