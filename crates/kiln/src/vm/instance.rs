//! An instance's VMContext and the runtime state behind it.
//!
//! The VMContext is a block of memory laid out by `VMOffsets`, filled once
//! at instantiation with pointers to the store's memories, tables, globals
//! and function references. `Instance` owns it and is boxed so its address
//! (stored in the VMContext) never changes.

use super::memory::LinearMemory;
use super::table::Table;
use super::{VMFuncRef, ValRaw};
use crate::module::Module;
use crate::store::StoreOpaque;
use kiln_environ::vmoffsets::*;
use kiln_environ::VMOffsets;

/// Index of an instance in its store.
pub type InstanceId = usize;

pub struct Instance {
    pub module: Module,
    pub offsets: VMOffsets,
    /// The store owning this instance; set at creation, never changes.
    pub store: *mut StoreOpaque,
    pub id: InstanceId,
    /// 16-byte aligned storage of the VMContext.
    vmctx: Box<[ValRaw]>,
    /// Store indices of this instance's memories, tables and globals.
    pub memories: Vec<usize>,
    pub tables: Vec<usize>,
    pub globals: Vec<usize>,
    pub tags: Vec<usize>,
    /// Per data segment: dropped (by `data.drop` or after instantiation).
    pub dropped_data: Vec<bool>,
    /// Per element segment: its evaluated items; empty once dropped.
    pub elements: Vec<Vec<u64>>,
    /// The pooling allocator's instance slot this instance holds.
    pub pool_slot: Option<super::pool::CountedSlot>,
}

// SAFETY: the raw pointers point into the owning store, which moves
// between threads as a whole with its instances.
unsafe impl Send for Instance {}
unsafe impl Sync for Instance {}

/// Bytes of the VMContext of an instance of a module described by `info`.
pub fn vmctx_size(info: &kiln_environ::ModuleInfo) -> usize {
    VMOffsets::new(info).size() as usize
}

impl Instance {
    pub fn new(module: Module, store: *mut StoreOpaque, id: InstanceId) -> Box<Instance> {
        let offsets = VMOffsets::new(module.info());
        let slots = (offsets.size() as usize).div_ceil(16);
        let mut instance = Box::new(Instance {
            module,
            offsets,
            store,
            id,
            vmctx: vec![ValRaw::default(); slots].into_boxed_slice(),
            memories: Vec::new(),
            tables: Vec::new(),
            globals: Vec::new(),
            tags: Vec::new(),
            dropped_data: Vec::new(),
            elements: Vec::new(),
            pool_slot: None,
        });
        let self_ptr: *mut Instance = &mut *instance;
        // SAFETY: `store` points at the live store creating this instance.
        let store_ctx = unsafe { (*store).vm_store_context_ptr() };
        let type_ids = instance.module.type_ids().as_ptr();
        instance.write_u32(VMCTX_MAGIC_OFFSET, VMCTX_MAGIC);
        instance.write_u32(VMCTX_NO_TYPE_OFFSET, type_display::NO_TYPE);
        instance.write_ptr(VMCTX_INSTANCE_OFFSET, self_ptr as usize);
        instance.write_ptr(VMCTX_STORE_CONTEXT_OFFSET, store_ctx as usize);
        instance.write_ptr(VMCTX_BUILTINS_OFFSET, instance.module.engine().inner.builtins.as_ptr() as usize);
        instance.write_ptr(VMCTX_TYPE_IDS_OFFSET, type_ids as usize);
        // SAFETY: `store_ctx` is the live store's context. Both fields are
        // fixed by now: the displays from the store's creation, the heap's
        // base from the heap's (made before instantiating a module whose
        // code reads it, and never moved).
        let (heap_base, displays) = unsafe { (*(*store_ctx).gc_heap_base.get(), (*store_ctx).type_displays) };
        instance.write_ptr(VMCTX_GC_HEAP_BASE_OFFSET, heap_base);
        instance.write_ptr(VMCTX_TYPE_DISPLAYS_OFFSET, displays as usize);
        instance
    }

    pub fn vmctx(&self) -> *mut u8 {
        self.vmctx.as_ptr() as *mut u8
    }

    fn slot(&self, offset: u32) -> *mut u8 {
        assert!((offset as usize) < self.vmctx.len() * 16, "vmctx offset out of range");
        // SAFETY: in bounds of the vmctx allocation (checked above).
        unsafe { self.vmctx().add(offset as usize) }
    }

    fn write_u32(&mut self, offset: u32, v: u32) {
        // SAFETY: `slot` checks the offset; vmctx slots are aligned.
        unsafe { (self.slot(offset) as *mut u32).write(v) }
    }

    fn write_ptr(&mut self, offset: u32, v: usize) {
        // SAFETY: as in `write_u32`.
        unsafe { (self.slot(offset) as *mut usize).write(v) }
    }

    fn read_ptr(&self, offset: u32) -> usize {
        // SAFETY: as in `write_u32`.
        unsafe { (self.slot(offset) as *const usize).read() }
    }

    /// The instance owning `vmctx`.
    ///
    /// # Safety
    /// `vmctx` must be the VMContext of a live instance.
    pub unsafe fn from_vmctx<'a>(vmctx: *mut u8) -> &'a mut Instance {
        // SAFETY: per the contract, the instance slot holds the owner.
        unsafe { &mut *(*(vmctx.add(VMCTX_INSTANCE_OFFSET as usize) as *const *mut Instance)) }
    }

    /// Is `vmctx` an instance's (rather than a host function's) context?
    ///
    /// # Safety
    /// `vmctx` must be a VMContext or a host function context.
    pub unsafe fn is_instance_vmctx(vmctx: *mut u8) -> bool {
        // SAFETY: both kinds start with a u32 magic.
        unsafe { *(vmctx as *const u32) == VMCTX_MAGIC }
    }

    pub fn set_func_ref(&mut self, index: u32, func_ref: *const VMFuncRef) {
        self.write_ptr(self.offsets.func_ref(index), func_ref as usize);
    }

    pub fn func_ref(&self, index: u32) -> *const VMFuncRef {
        self.read_ptr(self.offsets.func_ref(index)) as *const VMFuncRef
    }

    /// Initialises the inline `VMFuncRef` of defined function `defined`
    /// and returns its address.
    pub fn init_defined_func_ref(&mut self, defined: u32, wasm_call: usize, type_id: u32) -> *const VMFuncRef {
        let slot = self.slot(self.offsets.defined_func_ref(defined)) as *mut VMFuncRef;
        // SAFETY: the slot is inside the vmctx and sized for a VMFuncRef.
        unsafe { slot.write(VMFuncRef::new(wasm_call, 0, self.vmctx(), type_id)) };
        slot
    }

    /// Does element segment `index` hold GC references (counted, rooted)
    /// rather than funcrefs?
    pub fn elem_is_gc(&self, index: u32) -> bool {
        let info = self.module.info();
        info.ref_repr(info.elems[index as usize].ty) == kiln_environ::RefRepr::GcRef
    }

    pub fn set_memory(&mut self, index: u32, memory: *mut LinearMemory) {
        self.write_ptr(self.offsets.memory_ptr(index), memory as usize);
    }

    pub fn memory(&self, index: u32) -> *mut LinearMemory {
        self.read_ptr(self.offsets.memory_ptr(index)) as *mut LinearMemory
    }

    pub fn set_table(&mut self, index: u32, table: *mut Table) {
        self.write_ptr(self.offsets.table_ptr(index), table as usize);
    }

    pub fn table(&self, index: u32) -> *mut Table {
        self.read_ptr(self.offsets.table_ptr(index)) as *mut Table
    }

    pub fn set_global(&mut self, index: u32, cell: *mut ValRaw) {
        self.write_ptr(self.offsets.global_ptr(index), cell as usize);
    }

    pub fn global(&self, index: u32) -> *mut ValRaw {
        self.read_ptr(self.offsets.global_ptr(index)) as *mut ValRaw
    }
}
