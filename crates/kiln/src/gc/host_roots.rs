//! The references the host holds: roots of every collection.
//!
//! Three kinds of slot, each owning one count of its reference (see
//! `barriers.rs`; go through the `StoreOpaque` methods in `gc/mod.rs`,
//! which run the barriers, rather than this table's directly):
//!
//! - **LIFO roots**, behind [`crate::Rooted`]: a stack. A scope (a
//!   [`crate::RootScope`], a host call, the runtime's `with_roots`)
//!   remembers the stack's height and truncates it back when it ends.
//!   Every truncation starts a new *generation*; a root records the
//!   generation it was pushed in, so a handle to a released root never
//!   matches the root that later takes its place.
//! - **Owned roots**, behind [`crate::OwnedRooted`]: slots in a slab, each
//!   with a liveness token the handles share. A handle's drop needs no
//!   store; slots whose token only the table still holds are swept before
//!   each collection and whenever the slab has doubled since its last
//!   sweep, so a steady state of owned handles keeps the slab bounded.
//!   A slot's generation changes when it is swept.
//! - **The pending exception**: one slot holding an exception thrown to
//!   the host (or by the host), until taken.
//!
//! No slot holds null: a null reference is never rooted.

use kiln_gc::VMGcRef;
use std::sync::Arc;

/// Where a handle's reference lives: a root slot (LIFO or owned) of one
/// store, or, for an i31 reference, in the handle itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[doc(hidden)]
pub enum RootIndex {
    Lifo { store: u64, generation: u64, index: u32 },
    Owned { store: u64, generation: u32, index: u32 },
    /// An i31 reference's raw bits (odd): valid in every store.
    I31(u32),
}

/// Why a handle does not resolve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StaleRoot {
    /// The handle belongs to another store.
    WrongStore,
    /// Its `RootScope` (or host call) ended, or its owned root was
    /// dropped.
    Released,
}

impl std::fmt::Display for StaleRoot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            StaleRoot::WrongStore => "a GC reference handle was used with a store other than the one that made it",
            StaleRoot::Released => {
                "a GC reference handle was used after its root was released (the `RootScope` or host call that made the `Rooted` ended); keep it in an `OwnedRooted` to hold it longer"
            }
        })
    }
}

impl std::error::Error for StaleRoot {}

struct LifoRoot {
    generation: u64,
    /// Never `None` (collections see it as an `Option`, as every root).
    r: Option<VMGcRef>,
}

struct OwnedSlot {
    generation: u32,
    /// `None` while the slot is free.
    r: Option<VMGcRef>,
    /// Shared with the handles; the slot is dead when this is the last.
    liveness: Arc<()>,
}

pub(crate) struct HostRoots {
    store: u64,
    lifo: Vec<LifoRoot>,
    lifo_generation: u64,
    owned: Vec<OwnedSlot>,
    owned_free: Vec<u32>,
    /// Owned slots in use above which the next insertion sweeps first.
    owned_sweep_at: usize,
    pending_exception: Option<VMGcRef>,
}

/// Owned slots a sweep keeps room for before sweeping again.
const MIN_OWNED_SWEEP: usize = 64;

impl HostRoots {
    pub fn new(store: u64) -> HostRoots {
        HostRoots {
            store,
            lifo: Vec::new(),
            lifo_generation: 0,
            owned: Vec::new(),
            owned_free: Vec::new(),
            owned_sweep_at: MIN_OWNED_SWEEP,
            pending_exception: None,
        }
    }

    /// Pushes a LIFO root holding `r` (whose count the slot takes).
    pub fn push_lifo(&mut self, r: VMGcRef) -> RootIndex {
        if r.is_i31() {
            return RootIndex::I31(r.as_raw_u32());
        }
        let index = u32::try_from(self.lifo.len()).expect("fewer than 2^32 LIFO roots");
        self.lifo.push(LifoRoot { generation: self.lifo_generation, r: Some(r) });
        RootIndex::Lifo { store: self.store, generation: self.lifo_generation, index }
    }

    pub fn reserve_lifo(&mut self, additional: usize) {
        self.lifo.reserve(additional);
    }

    /// The LIFO stack's height: what a scope restores when it ends.
    pub fn lifo_height(&self) -> usize {
        self.lifo.len()
    }

    /// Releases the LIFO roots above `height`, returning their references
    /// (whose counts the caller gives up).
    pub fn truncate_lifo(&mut self, height: usize) -> Vec<VMGcRef> {
        if height >= self.lifo.len() {
            return Vec::new();
        }
        self.lifo_generation += 1;
        self.lifo.drain(height..).filter_map(|root| root.r).collect()
    }

    /// Will the next owned insertion sweep first? (The caller sweeps, as
    /// it holds the barriers.)
    pub fn owned_sweep_due(&self) -> bool {
        self.owned.len() - self.owned_free.len() >= self.owned_sweep_at
    }

    /// Puts `r` (whose count the slot takes) in an owned slot; returns
    /// the slot's index and its liveness token for the handle.
    pub fn insert_owned(&mut self, r: VMGcRef) -> (RootIndex, Arc<()>) {
        if r.is_i31() {
            return (RootIndex::I31(r.as_raw_u32()), Arc::new(()));
        }
        let index = match self.owned_free.pop() {
            Some(i) => i,
            None => {
                self.owned.push(OwnedSlot { generation: 0, r: None, liveness: Arc::new(()) });
                u32::try_from(self.owned.len() - 1).expect("fewer than 2^32 owned roots")
            }
        };
        let slot = &mut self.owned[index as usize];
        slot.r = Some(r);
        slot.liveness = Arc::new(());
        (RootIndex::Owned { store: self.store, generation: slot.generation, index }, slot.liveness.clone())
    }

    /// Frees the owned slots no handle holds any more, returning their
    /// references (whose counts the caller gives up).
    pub fn sweep_owned(&mut self) -> Vec<VMGcRef> {
        let mut released = Vec::new();
        for (index, slot) in self.owned.iter_mut().enumerate() {
            if slot.r.is_some() && Arc::strong_count(&slot.liveness) == 1 {
                released.extend(slot.r.take());
                slot.generation = slot.generation.wrapping_add(1);
                self.owned_free.push(index as u32);
            }
        }
        let live = self.owned.len() - self.owned_free.len();
        self.owned_sweep_at = (2 * live).max(MIN_OWNED_SWEEP);
        released
    }

    /// The reference behind a handle.
    pub fn get(&self, root: RootIndex) -> Result<VMGcRef, StaleRoot> {
        match root {
            RootIndex::I31(bits) => Ok(VMGcRef::from_raw_u32(bits).expect("i31 bits are odd, never null")),
            RootIndex::Lifo { store, .. } | RootIndex::Owned { store, .. } if store != self.store => Err(StaleRoot::WrongStore),
            RootIndex::Lifo { generation, index, .. } => {
                let root = self.lifo.get(index as usize).filter(|root| root.generation == generation);
                root.and_then(|root| root.r.as_ref()).map(VMGcRef::unchecked_copy).ok_or(StaleRoot::Released)
            }
            RootIndex::Owned { generation, index, .. } => {
                let slot = self.owned.get(index as usize).filter(|slot| slot.generation == generation);
                slot.and_then(|slot| slot.r.as_ref()).map(VMGcRef::unchecked_copy).ok_or(StaleRoot::Released)
            }
        }
    }

    /// Sets the pending exception, returning the one it replaces.
    pub fn set_pending_exception(&mut self, exn: Option<VMGcRef>) -> Option<VMGcRef> {
        std::mem::replace(&mut self.pending_exception, exn)
    }

    pub fn pending_exception(&self) -> Option<VMGcRef> {
        self.pending_exception.as_ref().map(VMGcRef::unchecked_copy)
    }

    /// Every slot, for a collection (which may rewrite them).
    pub fn slots_mut(&mut self) -> impl Iterator<Item = &mut Option<VMGcRef>> {
        let lifo = self.lifo.iter_mut().map(|root| &mut root.r);
        let owned = self.owned.iter_mut().map(|slot| &mut slot.r).filter(|r| r.is_some());
        lifo.chain(owned).chain(std::iter::once(&mut self.pending_exception).filter(|r| r.is_some()))
    }

    /// Roots in use, LIFO and owned: for tests and statistics.
    pub fn len(&self) -> usize {
        self.lifo.len() + self.owned.len() - self.owned_free.len()
    }
}
