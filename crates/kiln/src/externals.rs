//! Memories, tables and globals as seen by the embedder, and `Extern`, the
//! union of everything a module can import or export.

use crate::func::Func;
use crate::shared_memory::SharedMemory;
use crate::store::{AsContext, AsContextMut, GlobalData, StoreMemory, StoreOpaque};
use crate::types::{ExternType, GlobalType, MemoryType, TableType, ValType};
use crate::values::Val;
use crate::vm::memory::LinearMemory;
use crate::gc::RefBarriers;
use crate::vm::table::{Table as VmTable, TableError};
use anyhow::{Result, bail};

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Extern {
    Func(Func),
    Global(Global),
    Table(Table),
    Memory(Memory),
    SharedMemory(SharedMemory),
    Tag(Tag),
}

impl From<SharedMemory> for Extern {
    fn from(m: SharedMemory) -> Extern {
        Extern::SharedMemory(m)
    }
}

impl Extern {
    pub fn into_func(self) -> Option<Func> {
        if let Extern::Func(f) = self { Some(f) } else { None }
    }
    pub fn into_global(self) -> Option<Global> {
        if let Extern::Global(g) = self { Some(g) } else { None }
    }
    pub fn into_table(self) -> Option<Table> {
        if let Extern::Table(t) = self { Some(t) } else { None }
    }
    pub fn into_memory(self) -> Option<Memory> {
        if let Extern::Memory(m) = self { Some(m) } else { None }
    }
    pub fn into_shared_memory(self) -> Option<SharedMemory> {
        if let Extern::SharedMemory(m) = self { Some(m) } else { None }
    }
    pub fn into_tag(self) -> Option<Tag> {
        if let Extern::Tag(t) = self { Some(t) } else { None }
    }

    pub fn ty(&self, store: impl AsContext) -> ExternType {
        match self {
            Extern::Func(f) => ExternType::Func(f.ty(&store)),
            Extern::Global(g) => ExternType::Global(g.ty(&store)),
            Extern::Table(t) => ExternType::Table(t.ty(&store)),
            Extern::Memory(m) => ExternType::Memory(m.ty(&store)),
            Extern::SharedMemory(m) => ExternType::Memory(m.ty()),
            Extern::Tag(t) => ExternType::Tag(t.ty(&store)),
        }
    }
}

macro_rules! handle {
    ($name:ident) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub struct $name {
            pub(crate) store: u64,
            pub(crate) index: usize,
        }

        impl From<$name> for Extern {
            fn from(x: $name) -> Extern {
                Extern::$name(x)
            }
        }
    };
}

handle!(Global);
handle!(Table);
handle!(Memory);
handle!(Tag);

impl Tag {
    /// A new exception tag whose payload has the parameters of `ty` (whose
    /// results must be empty). Tags compare by identity, not by type.
    pub fn new(mut store: impl AsContextMut, ty: &crate::TagType) -> Result<Tag> {
        let ty = ty.ty();
        if !ty.results().is_empty() {
            bail!("a tag's function type must have no results");
        }
        let mut cx = store.as_context_mut();
        let type_id = cx.engine().inner.types.register_func_type(&ty.to_wasm())?;
        Ok(Tag::push(&mut cx, type_id))
    }

    pub(crate) fn push(store: &mut StoreOpaque, type_id: u32) -> Tag {
        store.tags.push(type_id);
        Tag { store: store.id(), index: store.tags.len() - 1 }
    }

    pub(crate) fn type_id(&self, store: &StoreOpaque) -> u32 {
        store.check(self.store);
        store.tags[self.index]
    }

    /// This tag's index among the store's tags (what exceptions record).
    pub(crate) fn index_in(&self, store: &StoreOpaque) -> usize {
        store.check(self.store);
        self.index
    }

    /// The tag with index `index` (which must exist) of `store`.
    pub(crate) fn from_index(store: &StoreOpaque, index: usize) -> Tag {
        Tag { store: store.id(), index }
    }

    pub fn ty(&self, store: impl AsContext) -> crate::TagType {
        let cx = store.as_context();
        match &cx.engine().inner.types.get(self.type_id(&cx)).composite {
            kiln_environ::WasmCompositeType::Func(f) => crate::TagType::new(crate::FuncType::from_wasm(f)),
            other => unreachable!("tag of non-function type {other:?}"),
        }
    }
}

impl Global {
    pub fn new(mut store: impl AsContextMut, ty: GlobalType, init: Val) -> Result<Global> {
        let mut cx = store.as_context_mut();
        if !init.matches_in(&cx, ty.content())? {
            bail!("global initial value {init:?} does not match its type {}", ty.content());
        }
        let cell = init.to_raw(&cx)?;
        if ty.content().to_wasm().is_gc_heap_ref(&cx.engine().inner.types) {
            // The global's cell is a counted slot.
            RefBarriers::of(&mut cx.gc).clone_ref(cell.u32())?;
        }
        Ok(Global::push(&mut cx, GlobalData { cell, ty }))
    }

    pub(crate) fn push(store: &mut StoreOpaque, data: GlobalData) -> Global {
        let index = store.globals.push_chunk(vec![data]);
        Global { store: store.id(), index }
    }

    pub(crate) fn data<'a>(&self, store: &'a StoreOpaque) -> &'a GlobalData {
        store.check(self.store);
        &store.globals[self.index]
    }

    pub fn ty(&self, store: impl AsContext) -> GlobalType {
        self.data(&store.as_context()).ty
    }

    pub fn get(&self, mut store: impl AsContextMut) -> Val {
        let mut cx = store.as_context_mut();
        let g = self.data(&cx);
        let (raw, ty) = (g.cell, *g.ty.content());
        Val::from_raw(&mut cx, raw, &ty)
    }

    pub fn set(&self, mut store: impl AsContextMut, val: Val) -> Result<()> {
        let mut cx = store.as_context_mut();
        let ty = self.data(&cx).ty;
        if !ty.is_mutable() {
            bail!("cannot set an immutable global");
        }
        if !val.matches_in(&cx, ty.content())? {
            bail!("value {val:?} does not match the global's type {}", ty.content());
        }
        let raw = val.to_raw(&cx)?;
        if ty.content().to_wasm().is_gc_heap_ref(&cx.engine().inner.types) {
            let StoreOpaque { globals, gc, .. } = &mut *cx;
            let mut cell = globals[self.index].cell.u32();
            let written = RefBarriers::of(gc).write(&mut cell, raw.u32());
            globals[self.index].cell = crate::vm::ValRaw::from_u32(cell);
            return written;
        }
        cx.globals[self.index].cell = raw;
        Ok(())
    }
}

impl Table {
    pub fn new(mut store: impl AsContextMut, ty: TableType, init: Val) -> Result<Table> {
        let mut cx = store.as_context_mut();
        let elem = ValType::Ref(*ty.element());
        if !init.matches_in(&cx, &elem)? {
            bail!("table initial value {init:?} does not match the element type {elem}");
        }
        let repr = table_repr(&cx, &ty);
        let raw = init.to_raw(&cx)?.u64();
        let limit = cx.engine().config().max_table_elements;
        let table = VmTable::new(ty.to_wasm(), repr, raw, limit, &mut RefBarriers::of(&mut cx.gc))?;
        Ok(Table::push(&mut cx, table))
    }

    pub(crate) fn push(store: &mut StoreOpaque, table: Box<VmTable>) -> Table {
        store.tables.push(table);
        Table { store: store.id(), index: store.tables.len() - 1 }
    }

    pub(crate) fn vm<'a>(&self, store: &'a mut StoreOpaque) -> &'a mut VmTable {
        store.check(self.store);
        &mut store.tables[self.index]
    }

    /// The table and the heap's barriers, for a write.
    fn vm_with_barriers<'a>(&self, store: &'a mut StoreOpaque) -> (&'a mut VmTable, RefBarriers<'a>) {
        store.check(self.store);
        let StoreOpaque { tables, gc, .. } = store;
        (&mut tables[self.index], RefBarriers::of(gc))
    }

    pub fn ty(&self, store: impl AsContext) -> TableType {
        let cx = store.as_context();
        cx.check(self.store);
        TableType::from_wasm(cx.tables[self.index].ty())
    }

    fn element_type(&self, store: &mut StoreOpaque) -> ValType {
        ValType::Ref(*TableType::from_wasm(self.vm(store).ty()).element())
    }

    pub fn size(&self, mut store: impl AsContextMut) -> u64 {
        self.vm(&mut store.as_context_mut()).size()
    }

    pub fn get(&self, mut store: impl AsContextMut, index: u64) -> Option<Val> {
        let mut cx = store.as_context_mut();
        let raw = self.vm(&mut cx).get(index)?;
        let ty = self.element_type(&mut cx);
        Some(Val::from_raw(&mut cx, crate::vm::ValRaw::from_u64(raw), &ty))
    }

    pub fn set(&self, mut store: impl AsContextMut, index: u64, val: Val) -> Result<()> {
        let mut cx = store.as_context_mut();
        let raw = self.checked_raw(&mut cx, &val)?;
        let (table, mut b) = self.vm_with_barriers(&mut cx);
        match table.set(index, raw, &mut b) {
            Ok(()) => Ok(()),
            Err(TableError::OutOfBounds) => bail!("table index {index} out of bounds"),
            Err(TableError::Gc(e)) => Err(e),
        }
    }

    /// Grows by `delta` elements set to `init`, returning the old size.
    pub fn grow(&self, mut store: impl AsContextMut, delta: u64, init: Val) -> Result<u64> {
        let mut cx = store.as_context_mut();
        let raw = self.checked_raw(&mut cx, &init)?;
        let (table, mut b) = self.vm_with_barriers(&mut cx);
        match table.grow(delta, raw, &mut b)? {
            Some(old) => Ok(old),
            None => bail!("failed to grow table by {delta}"),
        }
    }

    fn checked_raw(&self, store: &mut StoreOpaque, val: &Val) -> Result<u64> {
        let ty = self.element_type(store);
        if !val.matches_in(store, &ty)? {
            bail!("value {val:?} does not match the table's element type {ty}");
        }
        Ok(val.to_raw(store)?.u64())
    }
}

pub(crate) fn table_repr(store: &StoreOpaque, ty: &TableType) -> kiln_environ::RefRepr {
    ty.element().to_wasm().repr(&store.engine().inner.types)
}

impl Memory {
    pub fn new(mut store: impl AsContextMut, ty: MemoryType) -> Result<Memory> {
        if ty.is_shared() {
            bail!("a shared memory is made with `SharedMemory::new`, not `Memory::new`");
        }
        let mut cx = store.as_context_mut();
        let config = cx.engine().config().clone();
        let guard = config.guard_pages();
        let mem = LinearMemory::new(ty.to_wasm(), guard, config.max_memory_bytes)?;
        Ok(Memory::push(&mut cx, mem))
    }

    pub(crate) fn push(store: &mut StoreOpaque, mem: Box<LinearMemory>) -> Memory {
        store.memories.push(StoreMemory::Own(mem));
        Memory { store: store.id(), index: store.memories.len() - 1 }
    }

    fn vm<'a>(&self, store: &'a StoreOpaque) -> &'a LinearMemory {
        store.check(self.store);
        store.memories[self.index].vm()
    }

    fn vm_mut<'a>(&self, store: &'a mut StoreOpaque) -> &'a mut LinearMemory {
        store.check(self.store);
        match &mut store.memories[self.index] {
            StoreMemory::Own(m) => m,
            // Exports and imports hand out `SharedMemory` for those.
            StoreMemory::Shared(_) => unreachable!("a `Memory` never names a shared memory"),
        }
    }

    pub fn ty(&self, store: impl AsContext) -> MemoryType {
        MemoryType::from_wasm(self.vm(&store.as_context()).ty())
    }

    pub fn data<'a, T: 'a>(&self, store: impl Into<crate::store::StoreContext<'a, T>>) -> &'a [u8] {
        let cx: crate::store::StoreContext<'a, T> = store.into();
        let opaque: &'a StoreOpaque = &cx.0.opaque;
        self.vm(opaque).data()
    }

    pub fn data_mut<'a, T: 'a>(&self, store: impl Into<crate::store::StoreContextMut<'a, T>>) -> &'a mut [u8] {
        let cx: crate::store::StoreContextMut<'a, T> = store.into();
        let opaque: &'a mut StoreOpaque = &mut cx.0.opaque;
        self.vm_mut(opaque).data_mut()
    }

    pub fn data_size(&self, store: impl AsContext) -> usize {
        self.vm(&store.as_context()).byte_size()
    }

    /// Size in pages.
    pub fn size(&self, store: impl AsContext) -> u64 {
        self.vm(&store.as_context()).pages()
    }

    pub fn read(&self, store: impl AsContext, offset: usize, buf: &mut [u8]) -> Result<()> {
        let cx = store.as_context();
        let data = self.vm(&cx).data();
        match offset.checked_add(buf.len()).and_then(|end| data.get(offset..end)) {
            Some(src) => Ok(buf.copy_from_slice(src)),
            None => bail!("out of bounds memory access: reading {} bytes at {offset}", buf.len()),
        }
    }

    pub fn write(&self, mut store: impl AsContextMut, offset: usize, buf: &[u8]) -> Result<()> {
        let mut cx = store.as_context_mut();
        let data = self.vm_mut(&mut cx).data_mut();
        match offset.checked_add(buf.len()).and_then(|end| data.get_mut(offset..end)) {
            Some(dst) => Ok(dst.copy_from_slice(buf)),
            None => bail!("out of bounds memory access: writing {} bytes at {offset}", buf.len()),
        }
    }

    /// Grows by `delta` pages, returning the old size in pages.
    pub fn grow(&self, mut store: impl AsContextMut, delta: u64) -> Result<u64> {
        match self.vm_mut(&mut store.as_context_mut()).grow(delta) {
            Some(old) => Ok(old),
            None => bail!("failed to grow memory by {delta} pages"),
        }
    }
}
