//! Rooting: how host handles keep GC objects alive and follow them when a
//! collector moves them.
//!
//! A handle never holds an object's address. It names a root slot of its
//! store (see `gc/host_roots.rs`), which every collection treats as a root
//! and rewrites when the object moves. Two kinds, as in Wasmtime:
//!
//! - [`Rooted<T>`]: `Copy`, cheap, valid until the innermost
//!   [`RootScope`] (or the host call that made it) ends. Outside any scope
//!   a `Rooted` lives as long as its store: code that makes handles in a
//!   loop opens a `RootScope` per iteration.
//! - [`OwnedRooted<T>`]: `Clone`, keeps its object until the last clone
//!   drops; dropping needs no store.
//!
//! Using a handle after its root was released, or with another store, is
//! an error naming the cause: never a silent null or another object.

use crate::gc::RootIndex;
use crate::store::{AsContext, AsContextMut, StoreContext, StoreContextMut, StoreOpaque};
use anyhow::Result;
use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

pub(crate) mod sealed {
    use crate::gc::RootIndex;

    /// What every handle type is: a root index with a static type.
    pub trait GcRefImpl: Copy + Send + Sync + 'static {
        fn from_root(root: RootIndex) -> Self;
        fn root(&self) -> RootIndex;
    }

    /// `Rooted<T>` and `OwnedRooted<T>`.
    pub trait RootedGcRefImpl {
        fn root_index(&self) -> RootIndex;
    }
}

/// A GC reference type: [`AnyRef`](crate::AnyRef), [`EqRef`](crate::EqRef),
/// [`StructRef`](crate::StructRef), [`ArrayRef`](crate::ArrayRef),
/// [`ExternRef`](crate::ExternRef) or [`ExnRef`](crate::ExnRef).
pub trait GcRef: sealed::GcRefImpl + fmt::Debug {}

/// A rooted handle of either kind to a `T`.
pub trait RootedGcRef<T: GcRef>: sealed::RootedGcRefImpl + Deref<Target = T> {}

impl StoreOpaque {
    /// The raw reference behind a handle (as a `T` or a root).
    pub(crate) fn gc_ref_raw(&self, handle: &impl sealed::GcRefImpl) -> Result<u32> {
        self.resolve_root(handle.root())
    }
}

/// A handle valid until the innermost [`RootScope`] or host call ends; see
/// the module docs.
#[derive(Clone, Copy)]
pub struct Rooted<T: GcRef> {
    inner: T,
}

impl<T: GcRef> Rooted<T> {
    pub(crate) fn from_root(root: RootIndex) -> Rooted<T> {
        Rooted { inner: T::from_root(root) }
    }

    /// Roots `raw` (a non-null reference of type `T`) in the innermost
    /// scope.
    pub(crate) fn new(store: &mut StoreOpaque, raw: u32) -> Result<Rooted<T>> {
        let r = kiln_gc::VMGcRef::from_raw_u32(raw).ok_or_else(|| anyhow::anyhow!("a null reference has no handle"))?;
        Ok(Rooted::from_root(store.root_lifo(r)))
    }

    /// An [`OwnedRooted`] holding the same object, valid until dropped.
    pub fn to_owned_rooted(&self, mut store: impl AsContextMut) -> Result<OwnedRooted<T>> {
        self.to_owned_in(&mut store.as_context_mut())
    }

    pub(crate) fn to_owned_in(&self, store: &mut StoreOpaque) -> Result<OwnedRooted<T>> {
        let raw = store.gc_ref_raw(&self.inner)?;
        let (root, liveness) = store.root_owned(raw)?;
        Ok(OwnedRooted { inner: T::from_root(root), liveness })
    }

    /// Do `a` and `b` refer to the same object (or equal i31 values)?
    /// Fails if either handle's root was released.
    pub fn ref_eq<U: GcRef>(store: impl AsContext, a: &impl RootedGcRef<T>, b: &impl RootedGcRef<U>) -> Result<bool> {
        let cx = store.as_context();
        Ok(cx.resolve_root(a.root_index())? == cx.resolve_root(b.root_index())?)
    }

    /// Are `a` and `b` the same root (not merely the same object)?
    pub fn rooted_eq(a: Rooted<T>, b: Rooted<T>) -> bool {
        a.inner.root() == b.inner.root()
    }

    /// The same handle, seen as a supertype (or, unchecked, as any type;
    /// callers check).
    pub(crate) fn cast<U: GcRef>(self) -> Rooted<U> {
        Rooted::from_root(self.inner.root())
    }
}

impl<T: GcRef> Deref for Rooted<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.inner
    }
}

impl<T: GcRef> fmt::Debug for Rooted<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Rooted<{}>({:?})", std::any::type_name::<T>().rsplit("::").next().unwrap_or("?"), self.inner.root())
    }
}

impl<T: GcRef> sealed::RootedGcRefImpl for Rooted<T> {
    fn root_index(&self) -> RootIndex {
        self.inner.root()
    }
}
impl<T: GcRef> RootedGcRef<T> for Rooted<T> {}

/// A handle that keeps its object until the last clone drops; see the
/// module docs.
#[derive(Clone)]
pub struct OwnedRooted<T: GcRef> {
    inner: T,
    /// Shared with the store's slot: the slot is freed once only the
    /// store holds it.
    liveness: Arc<()>,
}

impl<T: GcRef> OwnedRooted<T> {
    /// A [`Rooted`] holding the same object, in the innermost scope.
    ///
    /// # Panics
    /// If `store` is not the store this handle belongs to.
    pub fn to_rooted(&self, mut store: impl AsContextMut) -> Rooted<T> {
        self.to_rooted_in(&mut store.as_context_mut()).unwrap_or_else(|e| panic!("{e}"))
    }

    pub(crate) fn to_rooted_in(&self, store: &mut StoreOpaque) -> Result<Rooted<T>> {
        let raw = store.gc_ref_raw(&self.inner)?;
        Rooted::new(store, raw)
    }

    pub(crate) fn cast<U: GcRef>(self) -> OwnedRooted<U> {
        OwnedRooted { inner: U::from_root(self.inner.root()), liveness: self.liveness }
    }
}

impl<T: GcRef> Deref for OwnedRooted<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.inner
    }
}

impl<T: GcRef> fmt::Debug for OwnedRooted<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OwnedRooted<{}>({:?})", std::any::type_name::<T>().rsplit("::").next().unwrap_or("?"), self.inner.root())
    }
}

impl<T: GcRef> sealed::RootedGcRefImpl for OwnedRooted<T> {
    fn root_index(&self) -> RootIndex {
        self.inner.root()
    }
}
impl<T: GcRef> RootedGcRef<T> for OwnedRooted<T> {}

/// A scope for [`Rooted`] handles: those made through it (or while it is
/// the innermost scope) are released when it drops. It derefs to the
/// store, so it is passed where the store would be.
///
/// ```
/// # use kiln::*;
/// # let engine = Engine::default();
/// # let mut store = Store::new(&engine, ());
/// for i in 0..1000 {
///     let mut scope = RootScope::new(&mut store);
///     let r = ExternRef::new(&mut scope, i)?;
///     assert_eq!(r.data(&scope)?.unwrap().downcast_ref::<i32>(), Some(&i));
/// } // `r`'s root is released here.
/// # Ok::<(), kiln::Error>(())
/// ```
pub struct RootScope<C: AsContextMut> {
    store: C,
    height: usize,
}

impl<C: AsContextMut> RootScope<C> {
    pub fn new(store: C) -> RootScope<C> {
        let height = store.as_context().gc_host_roots.lifo_height();
        RootScope { store, height }
    }

    /// Makes room for `additional` more roots at once, so rooting that
    /// many does not reallocate the store's root stack.
    pub fn reserve(&mut self, additional: usize) {
        self.store.as_context_mut().gc_host_roots.reserve_lifo(additional);
    }
}

impl<C: AsContextMut> Drop for RootScope<C> {
    fn drop(&mut self) {
        self.store.as_context_mut().release_lifo_roots(self.height);
    }
}

impl<C: AsContextMut> AsContext for RootScope<C> {
    type Data = C::Data;
    fn as_context(&self) -> StoreContext<'_, C::Data> {
        self.store.as_context()
    }
}

impl<C: AsContextMut> AsContextMut for RootScope<C> {
    fn as_context_mut(&mut self) -> StoreContextMut<'_, C::Data> {
        self.store.as_context_mut()
    }
}

impl<'a, C: AsContextMut> From<&'a RootScope<C>> for StoreContext<'a, C::Data> {
    fn from(scope: &'a RootScope<C>) -> Self {
        scope.as_context()
    }
}

impl<'a, C: AsContextMut> From<&'a mut RootScope<C>> for StoreContextMut<'a, C::Data> {
    fn from(scope: &'a mut RootScope<C>) -> Self {
        scope.as_context_mut()
    }
}

/// Declares a handle type: a root index, with the sealed trait impls.
macro_rules! gc_ref_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy)]
        pub struct $name {
            root: crate::gc::RootIndex,
        }

        impl crate::refs::rooting::sealed::GcRefImpl for $name {
            fn from_root(root: crate::gc::RootIndex) -> Self {
                $name { root }
            }
            fn root(&self) -> crate::gc::RootIndex {
                self.root
            }
        }

        impl crate::refs::rooting::GcRef for $name {}
    };
}
pub(crate) use gc_ref_type;

/// Declares `From` upcasts between handle types, for both root kinds.
macro_rules! upcasts {
    ($($from:ident => $to:ident),*) => {$(
        impl From<crate::Rooted<$from>> for crate::Rooted<$to> {
            fn from(r: crate::Rooted<$from>) -> Self {
                r.cast()
            }
        }
        impl From<crate::OwnedRooted<$from>> for crate::OwnedRooted<$to> {
            fn from(r: crate::OwnedRooted<$from>) -> Self {
                r.cast()
            }
        }
    )*};
}
pub(crate) use upcasts;
