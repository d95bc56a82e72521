//! Stores: the owner of all runtime state (instances, functions, memories,
//! tables, globals, host data) and the embedder's data `T`.
//!
//! Handles (`Func`, `Memory`, ...) are indices into a store plus the
//! store's id; using a handle with another store is a programming error and
//! panics. Everything a store owns is boxed so the VM can hold raw pointers
//! to it; nothing is freed before the store drops.

use crate::engine::Engine;
use crate::func::FuncData;
use crate::vm::instance::Instance;
use crate::vm::memory::LinearMemory;
use crate::vm::table::Table;
use crate::vm::{VMStoreContext, ValRaw};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

/// A global's storage cell and type. The cell is the first field, so a
/// pointer to the global is a pointer to its value.
#[repr(C)]
pub(crate) struct GlobalData {
    pub cell: ValRaw,
    pub ty: crate::GlobalType,
}

/// The store's globals. Each cell keeps its address for the store's life
/// (instances and compiled code point at it); an instance's defined
/// globals share one allocation.
#[derive(Default)]
pub(crate) struct Globals {
    chunks: Vec<Box<[GlobalData]>>,
    /// Chunk and position of each global, by store index.
    places: Vec<(u32, u32)>,
}

impl Globals {
    /// Adds `globals` as one chunk; returns the store index of the first.
    pub fn push_chunk(&mut self, globals: Vec<GlobalData>) -> usize {
        let first = self.places.len();
        let chunk = u32::try_from(self.chunks.len()).expect("fewer than 2^32 instances");
        self.places.extend((0..globals.len() as u32).map(|pos| (chunk, pos)));
        self.chunks.push(globals.into_boxed_slice());
        first
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut GlobalData> {
        self.chunks.iter_mut().flat_map(|c| c.iter_mut())
    }
}

impl std::ops::Index<usize> for Globals {
    type Output = GlobalData;
    fn index(&self, index: usize) -> &GlobalData {
        let (chunk, pos) = self.places[index];
        &self.chunks[chunk as usize][pos as usize]
    }
}

impl std::ops::IndexMut<usize> for Globals {
    fn index_mut(&mut self, index: usize) -> &mut GlobalData {
        let (chunk, pos) = self.places[index];
        &mut self.chunks[chunk as usize][pos as usize]
    }
}

/// A memory a store uses: its own, or one it shares with other stores.
pub(crate) enum StoreMemory {
    Own(Box<LinearMemory>),
    Shared(crate::SharedMemory),
}

impl StoreMemory {
    pub(crate) fn vm(&self) -> &LinearMemory {
        match self {
            StoreMemory::Own(m) => m,
            StoreMemory::Shared(m) => m.vm(),
        }
    }

    /// The memory as compiled code and builtins reach it (a shared one
    /// only ever through shared access).
    pub(crate) fn vm_ptr(&mut self) -> *mut LinearMemory {
        match self {
            StoreMemory::Own(m) => &mut **m,
            StoreMemory::Shared(m) => m.vm_ptr(),
        }
    }
}

/// The part of a store that does not depend on `T`.
pub struct StoreOpaque {
    id: u64,
    pub(crate) engine: Engine,
    vm_store_context: Box<VMStoreContext>,
    pub(crate) instances: Vec<Box<Instance>>,
    pub(crate) funcs: Vec<FuncData>,
    pub(crate) memories: Vec<StoreMemory>,
    pub(crate) tables: Vec<Box<Table>>,
    pub(crate) globals: Globals,
    /// Engine type id of each tag's function type.
    pub(crate) tags: Vec<u32>,
    /// The GC heap, created on first use.
    pub(crate) gc: Option<crate::gc::GcStore>,
    /// References held by host handles (`AnyRef`, `ExternRef`) and by
    /// the runtime across allocations: roots of every collection,
    /// rewritten when objects move.
    pub(crate) gc_host_roots: crate::gc::HostRoots,
    /// Function handle of each `VMFuncRef` address seen so far.
    pub(crate) func_by_ref: HashMap<usize, usize>,
}

// SAFETY: everything the raw pointers inside reach is owned by the store
// itself, so moving the store moves it all; the store is not `Sync`-shared
// while Wasm runs (it takes `&mut`).
unsafe impl Send for StoreOpaque {}
unsafe impl Sync for StoreOpaque {}

/// `repr(C)` with the opaque part first: a host function reached from Wasm
/// finds the `StoreInner<T>` from the instance's `*mut StoreOpaque`.
#[repr(C)]
pub struct StoreInner<T> {
    pub(crate) opaque: StoreOpaque,
    pub(crate) data: T,
}

/// A collection of instances and host state; see the module docs.
pub struct Store<T> {
    inner: Box<StoreInner<T>>,
}

impl<T> Store<T> {
    pub fn new(engine: &Engine, data: T) -> Store<T> {
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        Store {
            inner: Box::new(StoreInner {
                opaque: StoreOpaque {
                    id,
                    engine: engine.clone(),
                    vm_store_context: Box::new(VMStoreContext::new(&*engine.inner.epoch, engine.inner.types.display_table())),
                    instances: Vec::new(),
                    funcs: Vec::new(),
                    memories: Vec::new(),
                    tables: Vec::new(),
                    globals: Globals::default(),
                    tags: Vec::new(),
                    gc: None,
                    gc_host_roots: crate::gc::HostRoots::new(id),
                    func_by_ref: HashMap::new(),
                },
                data,
            }),
        }
    }

    pub fn data(&self) -> &T {
        &self.inner.data
    }

    pub fn data_mut(&mut self) -> &mut T {
        &mut self.inner.data
    }

    pub fn into_data(self) -> T {
        self.inner.data
    }

    pub fn engine(&self) -> &Engine {
        &self.inner.opaque.engine
    }

    /// Sets the fuel available to Wasm code (see `Config::consume_fuel`).
    pub fn set_fuel(&mut self, fuel: u64) -> anyhow::Result<()> {
        if !self.engine().config().tunables.consume_fuel {
            anyhow::bail!("fuel is not enabled: use Config::consume_fuel");
        }
        // SAFETY: no Wasm of this store runs while we hold `&mut self`.
        unsafe { *self.inner.opaque.vm_store_context.fuel.get() = fuel.min(i64::MAX as u64) as i64 };
        Ok(())
    }

    /// Fuel left.
    pub fn get_fuel(&self) -> anyhow::Result<u64> {
        if !self.engine().config().tunables.consume_fuel {
            anyhow::bail!("fuel is not enabled: use Config::consume_fuel");
        }
        // SAFETY: as in `set_fuel`.
        Ok(unsafe { *self.inner.opaque.vm_store_context.fuel.get() }.max(0) as u64)
    }

    /// Interrupts Wasm code once the engine's epoch has advanced `delta`
    /// past its current value (see `Config::epoch_interruption`).
    pub fn set_epoch_deadline(&mut self, delta: u64) {
        let deadline = self.engine().current_epoch().saturating_add(delta);
        // SAFETY: as in `set_fuel`.
        unsafe { *self.inner.opaque.vm_store_context.epoch_deadline.get() = deadline };
    }
}

/// GC and exception methods shared by `Store`, `StoreContextMut` and
/// `Caller`, with Wasmtime's names.
macro_rules! gc_methods {
    ($($ty:ty),*) => {$(
        impl<T> $ty {
            /// Runs a full garbage collection of the store's GC heap
            /// (nothing to do for the null collector or a store that never
            /// allocated). `why`, the failed allocation that prompted it,
            /// first grows the heap by what that allocation needed.
            pub fn gc(&mut self, why: Option<&crate::GcHeapOutOfMemory<()>>) -> anyhow::Result<()> {
                let opaque = &mut crate::store::AsContextMut::as_context_mut(self).0.opaque;
                opaque.collect_garbage_for(why.map(|oom| oom.bytes_needed()))
            }

            /// Statistics of the store's GC heap, if it has one, with the
            /// number of roots the store's handles hold.
            pub fn gc_stats(&self) -> Option<kiln_gc::GcStats> {
                let opaque = &crate::store::AsContext::as_context(self).0.opaque;
                let host_roots = opaque.gc_host_roots.len() as u64;
                opaque.gc.as_ref().map(|gc| kiln_gc::GcStats { host_roots, ..gc.heap.stats() })
            }

            /// Makes `exception` the store's pending exception and returns
            /// the error a host function returns to throw it into Wasm.
            ///
            /// # Panics
            /// If `exception`'s root was released or belongs to another
            /// store.
            pub fn throw<R>(&mut self, exception: crate::Rooted<crate::ExnRef>) -> Result<R, crate::ThrownException> {
                crate::store::AsContextMut::as_context_mut(self).0.opaque.throw_exception(exception)
            }

            /// Takes the pending exception (one Wasm threw uncaught, or the
            /// host threw), rooted in the innermost scope.
            pub fn take_pending_exception(&mut self) -> Option<crate::Rooted<crate::ExnRef>> {
                crate::store::AsContextMut::as_context_mut(self).0.opaque.take_pending_exception()
            }

            pub fn has_pending_exception(&self) -> bool {
                crate::store::AsContext::as_context(self).0.opaque.has_pending_exception()
            }
        }
    )*};
}
pub(crate) use gc_methods;

gc_methods!(Store<T>, StoreContextMut<'_, T>);

impl StoreOpaque {
    pub fn id(&self) -> u64 {
        self.id
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    pub(crate) fn vm_store_context_ptr(&self) -> *mut VMStoreContext {
        &*self.vm_store_context as *const VMStoreContext as *mut VMStoreContext
    }

    pub(crate) fn vm_store_context(&self) -> &VMStoreContext {
        &self.vm_store_context
    }

    /// Panics if a handle of store `id` is used with this store.
    pub(crate) fn check(&self, id: u64) {
        assert_eq!(self.id, id, "object used with the wrong store");
    }
}

/// A shared borrow of a store.
pub struct StoreContext<'a, T>(pub(crate) &'a StoreInner<T>);
/// An exclusive borrow of a store.
pub struct StoreContextMut<'a, T>(pub(crate) &'a mut StoreInner<T>);

impl<'a, T> StoreContextMut<'a, T> {
    pub fn data(&self) -> &T {
        &self.0.data
    }
    pub fn data_mut(&mut self) -> &mut T {
        &mut self.0.data
    }
    pub fn engine(&self) -> &Engine {
        &self.0.opaque.engine
    }
}

impl<'a, T> StoreContext<'a, T> {
    pub fn data(&self) -> &T {
        &self.0.data
    }
    pub fn engine(&self) -> &Engine {
        &self.0.opaque.engine
    }
}

/// Anything that gives shared access to a store.
pub trait AsContext {
    type Data;
    fn as_context(&self) -> StoreContext<'_, Self::Data>;
}

/// Anything that gives exclusive access to a store.
pub trait AsContextMut: AsContext {
    fn as_context_mut(&mut self) -> StoreContextMut<'_, Self::Data>;
}

impl<T> AsContext for Store<T> {
    type Data = T;
    fn as_context(&self) -> StoreContext<'_, T> {
        StoreContext(&self.inner)
    }
}

impl<T> AsContextMut for Store<T> {
    fn as_context_mut(&mut self) -> StoreContextMut<'_, T> {
        StoreContextMut(&mut self.inner)
    }
}

impl<T> AsContext for StoreContext<'_, T> {
    type Data = T;
    fn as_context(&self) -> StoreContext<'_, T> {
        StoreContext(self.0)
    }
}

impl<T> AsContext for StoreContextMut<'_, T> {
    type Data = T;
    fn as_context(&self) -> StoreContext<'_, T> {
        StoreContext(self.0)
    }
}

impl<T> AsContextMut for StoreContextMut<'_, T> {
    fn as_context_mut(&mut self) -> StoreContextMut<'_, T> {
        StoreContextMut(self.0)
    }
}

impl<C: AsContext + ?Sized> AsContext for &C {
    type Data = C::Data;
    fn as_context(&self) -> StoreContext<'_, C::Data> {
        (**self).as_context()
    }
}

impl<C: AsContext + ?Sized> AsContext for &mut C {
    type Data = C::Data;
    fn as_context(&self) -> StoreContext<'_, C::Data> {
        (**self).as_context()
    }
}

impl<C: AsContextMut + ?Sized> AsContextMut for &mut C {
    fn as_context_mut(&mut self) -> StoreContextMut<'_, C::Data> {
        (**self).as_context_mut()
    }
}

impl<T> std::ops::Deref for StoreContext<'_, T> {
    type Target = StoreOpaque;
    fn deref(&self) -> &StoreOpaque {
        &self.0.opaque
    }
}

impl<T> std::ops::Deref for StoreContextMut<'_, T> {
    type Target = StoreOpaque;
    fn deref(&self) -> &StoreOpaque {
        &self.0.opaque
    }
}

impl<T> std::ops::DerefMut for StoreContextMut<'_, T> {
    fn deref_mut(&mut self) -> &mut StoreOpaque {
        &mut self.0.opaque
    }
}

impl<'a, T> From<&'a Store<T>> for StoreContext<'a, T> {
    fn from(s: &'a Store<T>) -> Self {
        StoreContext(&s.inner)
    }
}

impl<'a, T> From<&'a mut Store<T>> for StoreContext<'a, T> {
    fn from(s: &'a mut Store<T>) -> Self {
        StoreContext(&s.inner)
    }
}

impl<'a, T> From<&'a mut Store<T>> for StoreContextMut<'a, T> {
    fn from(s: &'a mut Store<T>) -> Self {
        StoreContextMut(&mut s.inner)
    }
}

impl<'a, T> From<StoreContextMut<'a, T>> for StoreContext<'a, T> {
    fn from(s: StoreContextMut<'a, T>) -> Self {
        StoreContext(s.0)
    }
}
