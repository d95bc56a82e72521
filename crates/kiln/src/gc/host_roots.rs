//! The references host handles hold: roots of every collection.
//!
//! Handles made during a host call belong to that call's scope and are
//! released when it returns (their slots get a new generation, so a handle
//! kept beyond its scope reads as no reference rather than another
//! object). Handles made outside any host call live as long as the store.
//! The runtime also opens a scope of its own to hold references across an
//! allocation that may collect ([`crate::store::StoreOpaque::with_roots`]).
//!
//! Each slot is a counted slot (see `barriers.rs`): go through
//! `StoreOpaque::root_host_ref` and `StoreOpaque::exit_host_scope`, which
//! run the barriers, rather than `insert` and `exit_scope` directly.

use kiln_gc::VMGcRef;

#[derive(Default)]
pub(crate) struct HostRoots {
    slots: Vec<(u32, Option<VMGcRef>)>,
    free: Vec<u32>,
    /// Slots made in each active scope, innermost last.
    scopes: Vec<Vec<u32>>,
}

impl HostRoots {
    /// Roots `r`; returns the slot's index and generation.
    pub fn insert(&mut self, r: Option<VMGcRef>) -> (u32, u32) {
        let index = match self.free.pop() {
            Some(i) => {
                self.slots[i as usize].1 = r;
                i
            }
            None => {
                self.slots.push((0, r));
                (self.slots.len() - 1) as u32
            }
        };
        if let Some(scope) = self.scopes.last_mut() {
            scope.push(index);
        }
        (index, self.slots[index as usize].0)
    }

    pub fn get(&self, index: u32, generation: u32) -> Option<&VMGcRef> {
        self.slots.get(index as usize).filter(|(g, _)| *g == generation)?.1.as_ref()
    }

    pub fn enter_scope(&mut self) {
        self.scopes.push(Vec::new());
    }

    /// Releases the slots of the innermost scope and returns the
    /// references they held (whose counts the caller gives up).
    pub fn exit_scope(&mut self) -> Vec<VMGcRef> {
        let mut released = Vec::new();
        for index in self.scopes.pop().unwrap_or_default() {
            let slot = &mut self.slots[index as usize];
            slot.0 = slot.0.wrapping_add(1);
            released.extend(slot.1.take());
            self.free.push(index);
        }
        released
    }

    pub fn slots_mut(&mut self) -> impl Iterator<Item = &mut Option<VMGcRef>> {
        self.slots.iter_mut().map(|(_, r)| r)
    }
}
