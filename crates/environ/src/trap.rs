//! Trap codes shared by the compiler (which emits them) and the runtime
//! (which reports them).
//!
//! Each code is one byte so it fits Cranelift's user trap codes; the
//! Display text is the spec test suite's wording, so `assert_trap` compares
//! against it directly.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Trap {
    /// `unreachable` executed.
    UnreachableCodeReached = 1,
    /// Signed division or truncation overflowed.
    IntegerOverflow,
    IntegerDivisionByZero,
    /// Float-to-int conversion of NaN.
    BadConversionToInteger,
    MemoryOutOfBounds,
    TableOutOfBounds,
    IndirectCallToNull,
    BadSignature,
    /// `ref.as_non_null` and friends on null.
    NullReference,
    /// `call_ref` / `return_call_ref` of a null function reference.
    NullFunctionReference,
    /// `throw_ref` of a null exception reference.
    NullExceptionReference,
    NullStructReference,
    NullArrayReference,
    NullI31Reference,
    CastFailure,
    ArrayOutOfBounds,
    AllocationTooLarge,
    GcHeapOutOfMemory,
    StackOverflow,
    Interrupt,
    OutOfFuel,
    /// A misaligned atomic access.
    HeapMisaligned,
    /// An exception was thrown and nothing caught it.
    UncaughtException,
    /// A function reference read from a GC object names no function of
    /// the store, or one of another type than the field's: the heap was
    /// corrupted (or a collector lost track of it).
    BadGcFuncRef,
    /// `memory.atomic.wait32/64` on a memory that is not shared.
    AtomicWaitNonSharedMemory,
}

impl Trap {
    const ALL: [Trap; 25] = [
        Trap::UnreachableCodeReached,
        Trap::IntegerOverflow,
        Trap::IntegerDivisionByZero,
        Trap::BadConversionToInteger,
        Trap::MemoryOutOfBounds,
        Trap::TableOutOfBounds,
        Trap::IndirectCallToNull,
        Trap::BadSignature,
        Trap::NullReference,
        Trap::NullFunctionReference,
        Trap::NullExceptionReference,
        Trap::NullStructReference,
        Trap::NullArrayReference,
        Trap::NullI31Reference,
        Trap::CastFailure,
        Trap::ArrayOutOfBounds,
        Trap::AllocationTooLarge,
        Trap::GcHeapOutOfMemory,
        Trap::StackOverflow,
        Trap::Interrupt,
        Trap::OutOfFuel,
        Trap::HeapMisaligned,
        Trap::UncaughtException,
        Trap::BadGcFuncRef,
        Trap::AtomicWaitNonSharedMemory,
    ];

    pub fn from_u8(code: u8) -> Option<Trap> {
        Trap::ALL.iter().copied().find(|t| *t as u8 == code)
    }

    pub fn all() -> &'static [Trap] {
        &Trap::ALL
    }
}

impl fmt::Display for Trap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Trap::UnreachableCodeReached => "unreachable",
            Trap::IntegerOverflow => "integer overflow",
            Trap::IntegerDivisionByZero => "integer divide by zero",
            Trap::BadConversionToInteger => "invalid conversion to integer",
            Trap::MemoryOutOfBounds => "out of bounds memory access",
            // Both spec wordings: `call_indirect` past the end is an
            // "undefined element", `table.get` an out of bounds access.
            Trap::TableOutOfBounds => "undefined element: out of bounds table access",
            Trap::IndirectCallToNull => "uninitialized element",
            Trap::BadSignature => "indirect call type mismatch",
            Trap::NullReference => "null reference",
            Trap::NullFunctionReference => "null function reference",
            Trap::NullExceptionReference => "null exception reference",
            Trap::NullStructReference => "null structure reference",
            Trap::NullArrayReference => "null array reference",
            Trap::NullI31Reference => "null i31 reference",
            Trap::CastFailure => "cast failure",
            Trap::ArrayOutOfBounds => "out of bounds array access",
            Trap::AllocationTooLarge => "allocation size too large",
            Trap::GcHeapOutOfMemory => "out of memory: GC heap exhausted",
            Trap::StackOverflow => "call stack exhausted",
            Trap::Interrupt => "interrupt",
            Trap::OutOfFuel => "all fuel consumed",
            Trap::HeapMisaligned => "unaligned atomic",
            Trap::UncaughtException => "uncaught exception",
            Trap::BadGcFuncRef => "invalid function reference read from the GC heap",
            Trap::AtomicWaitNonSharedMemory => "expected shared memory",
        })
    }
}

impl std::error::Error for Trap {}
