//! Kiln: a WebAssembly runtime with a pluggable, sandboxed garbage
//! collector.
//!
//! The embedder API follows Wasmtime's shape: an [`Engine`] compiles
//! [`Module`]s; a [`Store`] owns instances and host state; a [`Linker`]
//! resolves imports; [`Func`], [`Memory`], [`Table`] and [`Global`] are
//! handles into a store.
//!
//! ```
//! use kiln::{Engine, Linker, Module, Store};
//! let engine = Engine::default();
//! let module = Module::new(&engine, r#"(module (func (export "add") (param i32 i32) (result i32)
//!     local.get 0 local.get 1 i32.add))"#)?;
//! let mut store = Store::new(&engine, ());
//! let instance = Linker::new(&engine).instantiate(&mut store, &module)?;
//! let add = instance.get_typed_func::<(i32, i32), i32>(&mut store, "add")?;
//! assert_eq!(add.call(&mut store, (2, 3))?, 5);
//! # Ok::<(), kiln::Error>(())
//! ```
//!
//! Unsafe code lives in `vm` only; every block states why it is sound.

// Fuzz builds (nightly, `--cfg fuzzing`) look up AddressSanitizer's hooks
// as weak symbols: see `vm::exceptions::forget_abandoned_frames`.
#![cfg_attr(fuzzing, feature(linkage))]
#![deny(rustdoc::broken_intra_doc_links)]

// API.md's examples run as doctests, so the guide cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../../../API.md")]
struct ApiGuide;

mod allocation;
mod artifact;
mod cache;
mod config;
mod const_eval;
mod engine;
mod externals;
mod func;
mod gc;
mod gc_types;
mod instance;
mod linker;
mod module;
mod profiling;
mod refs;
mod shared_memory;
mod store;
mod trap;
mod type_displays;
mod type_registry;
mod types;
mod values;
mod vm;

pub use anyhow::{Error, Result};
pub use allocation::{InstanceAllocationStrategy, PoolingAllocationConfig};
pub use cache::{Cache, CacheConfig};
pub use config::{BoundsChecks, Collector, Config, OptLevel, ProfilingStrategy};
pub use kiln_gc::GcStats;
pub use engine::{Engine, Precompiled};
pub use externals::{Extern, Global, Memory, Table, Tag};
pub use func::{Caller, Func, IntoFunc, TypedFunc, WasmParams, WasmResults, WasmRet, WasmTy};
pub use instance::Instance;
pub use linker::Linker;
pub use module::{ExportType, ImportType, Module};
pub use shared_memory::{SharedMemory, WaitResult};
pub use store::{AsContext, AsContextMut, Store, StoreContext, StoreContextMut};
pub use trap::{FrameInfo, Trap, WasmBacktrace};
pub use types::{ExternType, FuncType, GlobalType, HeapType, MemoryType, Mutability, RefType, TableType, TagType, ValType};
pub use gc_types::{ArrayType, FieldType, Finality, StorageType, StructType};
pub use refs::{
    AnyRef, ArrayRef, ArrayRefPre, EqRef, ExnRef, ExnRefPre, ExnType, ExternRef, GcHeapOutOfMemory, GcRef, I31, OwnedRooted, RootScope, Rooted, RootedGcRef, StructRef, StructRefPre,
    ThrownException,
};
pub use values::Val;
