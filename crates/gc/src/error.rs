//! Errors of GC heap operations.
//!
//! `Corrupt` is what untrusted heap contents produce when they make no
//! sense; the other variants are ordinary failures (out of memory, a bad
//! argument from the caller).

use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum GcError {
    /// No free block is large enough; collecting or growing the heap may
    /// help.
    #[error("GC heap out of memory ({requested} bytes requested)")]
    OutOfMemory { requested: u64 },
    /// The heap memory cannot grow that far.
    #[error("GC heap cannot grow to {requested} bytes (limit {limit})")]
    HeapLimit { requested: u64, limit: u64 },
    /// Heap contents that cannot be right: a bad header, a reference to
    /// something that is not an object, a count that underflows...
    #[error("corrupt GC heap: {what} at offset {offset:#x}")]
    Corrupt { what: &'static str, offset: u64 },
    /// An i31 reference was used where a heap object is needed.
    #[error("an i31 reference has no heap object")]
    NotAnObject,
    /// A field access outside the object.
    #[error("access of {len} bytes at offset {offset} is outside the object")]
    OutOfBounds { offset: u64, len: u64 },
    /// The caller asked to allocate a type the runtime has no layout for.
    #[error("type {0} has no GC layout")]
    UnknownType(u32),
    /// The caller asked to allocate a type of the wrong kind.
    #[error("type {type_index} is not {expected} type")]
    WrongType { type_index: u32, expected: &'static str },
    /// A host-data id that names no live entry (freed, or forged).
    #[error("stale or invalid host data id {index}:{generation}")]
    BadHostDataId { index: u32, generation: u32 },
    /// The host-data table has used up its 32-bit index space.
    #[error("host data table is full")]
    HostDataTableFull,
    /// A collector that is reserved but not implemented yet.
    #[error("the {0} collector is not implemented yet")]
    Unsupported(&'static str),
}

impl GcError {
    pub(crate) fn corrupt(what: &'static str, offset: impl Into<u64>) -> GcError {
        GcError::Corrupt { what, offset: offset.into() }
    }
}

pub type Result<T, E = GcError> = std::result::Result<T, E>;

/// Keeps the first error of a collection step: a step goes on past corrupt
/// contents and reports the first thing it met.
pub(crate) fn note(first: &mut Option<GcError>, e: GcError) {
    first.get_or_insert(e);
}

/// [`note`] for a result.
pub(crate) fn note_err(first: &mut Option<GcError>, r: Result<()>) {
    if let Err(e) = r {
        note(first, e);
    }
}
