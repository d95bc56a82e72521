//! kiln-gc: the garbage-collected heaps of Kiln stores.
//!
//! A GC heap is one contiguous byte region (a [`HeapMemory`]); every GC
//! object lives in it, and a [`VMGcRef`] is a non-zero byte offset into it
//! (or a tagged i31 value that never touches it). Collectors implement
//! [`GcRuntime`] (makes heaps) and [`GcHeap`] (allocation, barriers,
//! collection) and are used as trait objects; [`Collector`] picks one.
//!
//! Invariants every part of this crate keeps:
//! - Safe Rust only, enforced by a `forbid` in the `[lints.rust]` table of
//!   this package's `Cargo.toml` (a crate-level attribute would do the same;
//!   keeping the keyword out of `src` lets a plain grep check it too).
//!   Collectors see the heap as `&[u8]`/`&mut [u8]` and their roots as
//!   `&mut Option<VMGcRef>` slots, never as raw pointers.
//! - Heap contents are untrusted. Every read of the heap is bounds-checked
//!   and returns a `Result`; a corrupt heap produces errors or wrong values
//!   from inside the heap, never a panic, an access outside it, or unbounded
//!   work. Every loop over heap data is bounded by the heap's size.
//! - `VMGcRef` is neither `Clone` nor `Copy`: copies go through
//!   [`GcHeap::clone_gc_ref`] so the collector's barrier runs.
//! - Object layouts come from `kiln_environ::gc_layout`, the single
//!   definition shared with the compiler.
//!
//! Collectors are policies over the shared mechanisms here: the bump and
//! size-class free-list allocators (`alloc`), the tracer (`trace`), the
//! forwarding of moved objects (`forward`), the root set ([`GcRoots`]), the
//! host-data table ([`HostDataTable`]) and the verifier. The collectors are
//! null (never frees), DRC (deferred reference counting) and copying
//! (Cheney semi-space); see [`Collector`].

mod alloc;
mod cards;
mod collectors;
mod compact;
mod error;
mod forward;
mod gc_ref;
mod header;
mod large;
mod heap;
mod host_data;
mod memory;
mod plain;
mod roots;
mod runtime;
mod stats;
mod trace;
mod types;
mod verify;

pub use error::{GcError, Result};
pub use gc_ref::VMGcRef;
pub use header::VMGcHeader;
pub use heap::{DEFAULT_STEP_BUDGET, GarbageCollection, GcHeap, GcProgress};
pub use host_data::{HostDataId, HostDataTable};
pub use kiln_environ::gc_layout;
pub use kiln_environ::{GcArrayLayout, GcLayout, GcStructLayout, GcTypeLayouts, VMGcKind};
pub use memory::{HeapMemory, MAX_HEAP_SIZE, VecMemory};
pub use plain::PLAIN_OBJECT_MIN;
pub use roots::{GcRoots, RootKind};
pub use runtime::{Collector, GcRuntime};
pub use stats::GcStats;
pub use types::GcTypes;
pub use verify::VerifyReport;
