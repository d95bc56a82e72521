//! The root set handed to a collection.
//!
//! The runtime fills a [`GcRoots`] with every slot that holds a reference
//! from outside the heap: stack-map slots of Wasm frames, globals, table
//! elements, host handles. A collector sees them only as safe
//! `&mut Option<VMGcRef>` slots (never raw pointers) and may rewrite them in
//! place (a moving collector does). Each slot says whether it is a Wasm
//! stack slot: DRC does not count references held by the stack, and treats
//! the two kinds differently.

use crate::VMGcRef;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RootKind {
    /// A slot of a Wasm frame, found through a stack map.
    Stack,
    /// A global, a table element, a host handle...
    NonStack,
}

#[derive(Debug, Default)]
pub struct GcRoots<'a> {
    roots: Vec<(&'a mut Option<VMGcRef>, RootKind)>,
}

impl<'a> GcRoots<'a> {
    pub fn new() -> GcRoots<'a> {
        GcRoots { roots: Vec::new() }
    }

    pub fn add(&mut self, slot: &'a mut Option<VMGcRef>, kind: RootKind) {
        self.roots.push((slot, kind));
    }

    pub fn add_stack_root(&mut self, slot: &'a mut Option<VMGcRef>) {
        self.add(slot, RootKind::Stack);
    }

    pub fn add_non_stack_root(&mut self, slot: &'a mut Option<VMGcRef>) {
        self.add(slot, RootKind::NonStack);
    }

    pub fn len(&self) -> usize {
        self.roots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.roots.is_empty()
    }

    /// Root `index` and its kind.
    pub fn get(&self, index: usize) -> Option<(&Option<VMGcRef>, RootKind)> {
        self.roots.get(index).map(|(slot, kind)| (&**slot, *kind))
    }

    pub fn get_mut(&mut self, index: usize) -> Option<(&mut Option<VMGcRef>, RootKind)> {
        self.roots.get_mut(index).map(|(slot, kind)| (&mut **slot, *kind))
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&mut Option<VMGcRef>, RootKind)> + '_ {
        self.roots.iter_mut().map(|(slot, kind)| (&mut **slot, *kind))
    }
}
