//! The root set of a store's collections: every place outside the GC heap
//! that holds a reference into it.
//!
//! - **Wasm frames**: the stack-map slots of this store's suspended Wasm
//!   frames in every activation on this thread (`vm::stack_roots`). Wasm
//!   is always suspended at an exit trampoline when a collection runs.
//! - **Globals** of GC reference type (defined or host-made; shared
//!   between instances through imports, they are one cell in the store).
//! - **Tables** of GC references (likewise one per store).
//! - **Passive element segments** of GC reference type: the items a
//!   constant expression evaluated at instantiation, until `elem.drop`
//!   (or instantiation, for active and declarative ones) releases them.
//! - **Host roots**: the slots behind host handles (`AnyRef`, `ExternRef`,
//!   `ExnRef`), and the runtime's own scoped roots for references it holds
//!   across an allocation: a `throw`'s payload in `new_exception`, the
//!   operand stack of a constant expression, element segment items being
//!   evaluated during instantiation (`StoreOpaque::with_roots`).
//!
//! Exceptions are heap objects, so their payloads are traced through
//! them; an in-flight exception is held by a Wasm frame (a landing pad's
//! value, in its stack map) or by the store context only between the
//! unwinder and the landing pad, where nothing allocates. Funcrefs are not
//! heap references: objects hold them as ids ([`super::FuncRefTable`]).

use crate::store::StoreOpaque;
use crate::vm::stack_roots::{root_slot, visit_stack_roots};
use anyhow::Result;
use kiln_environ::RefRepr;
use kiln_gc::{GcHeap, GcRoots, HostDataTable};

// Element segment items are stored as u64; a GC reference is the low half.
#[cfg(not(target_endian = "little"))]
compile_error!("element segment roots assume a little-endian host");

impl StoreOpaque {
    /// Calls `f` with the heap, the host-data table and every root of the
    /// store.
    pub(super) fn with_root_set<R>(&mut self, f: impl FnOnce(&mut dyn GcHeap, &mut HostDataTable, GcRoots<'_>) -> Result<R>) -> Result<R> {
        let mut stack_slots = Vec::new();
        // SAFETY: Wasm of this store is suspended (we are in a builtin, a
        // host call or the host), so its frames are walkable.
        unsafe { visit_stack_roots(self.vm_store_context(), |slot| stack_slots.push(slot))? };
        let other_slots = self.non_stack_root_slots();
        let StoreOpaque { gc, gc_host_roots, .. } = self;
        let gc = gc.as_mut().expect("only called with a heap");
        let mut roots = GcRoots::new();
        for slot in stack_slots {
            // SAFETY: stack map slots of suspended frames hold references,
            // each listed once, and stay put until Wasm resumes.
            roots.add_stack_root(unsafe { root_slot(slot) });
        }
        for slot in other_slots {
            // SAFETY: cells of globals, table elements and element
            // segment items owned by this store, each listed once.
            roots.add_non_stack_root(unsafe { root_slot(slot) });
        }
        for slot in gc_host_roots.slots_mut() {
            roots.add_non_stack_root(slot);
        }
        f(&mut *gc.heap, &mut gc.host_data, roots)
    }

    /// Addresses of the store's GC reference slots outside the Wasm stack
    /// and the host roots: globals, tables, passive element segments.
    fn non_stack_root_slots(&mut self) -> Vec<*mut u32> {
        let mut slots = Vec::new();
        let types = &self.engine.inner.types;
        for g in self.globals.iter_mut() {
            if g.ty.content().to_wasm().is_gc_heap_ref(types) {
                slots.push(g.cell.0.as_mut_ptr() as *mut u32);
            }
        }
        for t in self.tables.iter_mut() {
            if let Some(elems) = t.gc_ref_elements_mut() {
                slots.extend(elems.iter_mut().map(|e| e as *mut u32));
            }
        }
        for instance in self.instances.iter_mut() {
            let info = instance.module.info();
            for (segment, items) in info.elems.iter().zip(instance.elements.iter_mut()) {
                if info.ref_repr(segment.ty) == RefRepr::GcRef {
                    slots.extend(items.iter_mut().map(|item| item as *mut u64 as *mut u32));
                }
            }
        }
        slots
    }
}
