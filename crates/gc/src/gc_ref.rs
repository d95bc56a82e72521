//! `VMGcRef`: a reference to a GC object, or an i31 value.
//!
//! A `VMGcRef` is a non-zero u32. With the low bit clear it is the byte
//! offset of an object in its store's GC heap (objects are 8-aligned, so
//! the low three bits of an offset are clear); with the low bit set it is
//! an i31 value `(v << 1) | 1` and refers to nothing. `Option<VMGcRef>` has
//! the representation of a u32 with 0 for null, which compiled code and the
//! runtime rely on (`#[repr(transparent)]` over `NonZeroU32`).
//!
//! It is deliberately neither `Clone` nor `Copy`: a collector may need to
//! run a barrier whenever a reference is duplicated (DRC counts it), so the
//! way to copy one is [`crate::GcHeap::clone_gc_ref`]. [`VMGcRef::unchecked_copy`]
//! is the explicit opt-out for code that knows the copy is not a new
//! reference (collector internals, reading a raw value that is handed on
//! unchanged). Dropping a `VMGcRef` without [`crate::GcHeap::drop_gc_ref`]
//! leaks a count at worst, never frees too early.

use std::fmt;
use std::num::NonZeroU32;

#[repr(transparent)]
#[derive(PartialEq, Eq, Hash)]
pub struct VMGcRef(NonZeroU32);

impl VMGcRef {
    /// The low bit of an i31 reference.
    pub const I31_TAG: u32 = 1;

    /// The reference with raw bits `raw`; `None` for 0 (null). Any non-zero
    /// value is accepted: whether it names an object is checked on use.
    pub fn from_raw_u32(raw: u32) -> Option<VMGcRef> {
        NonZeroU32::new(raw).map(VMGcRef)
    }

    /// The reference to the object at heap offset `index`; `None` for 0 or
    /// an odd offset (which would read as an i31).
    pub fn from_heap_index(index: u32) -> Option<VMGcRef> {
        if index & Self::I31_TAG != 0 {
            return None;
        }
        Self::from_raw_u32(index)
    }

    /// The raw bits, as stored in the heap, tables and globals.
    pub fn as_raw_u32(&self) -> u32 {
        self.0.get()
    }

    /// A copy that runs no barrier. Only for code that knows the copy does
    /// not need to be counted (see the module docs).
    pub fn unchecked_copy(&self) -> VMGcRef {
        VMGcRef(self.0)
    }

    pub fn is_i31(&self) -> bool {
        self.0.get() & Self::I31_TAG != 0
    }

    /// The heap offset of the object this refers to; `None` for an i31.
    pub fn as_heap_index(&self) -> Option<u32> {
        (!self.is_i31()).then_some(self.0.get())
    }

    /// `ref.i31`: keeps the low 31 bits of `value`.
    pub fn from_i31(value: i32) -> VMGcRef {
        // NonZeroU32::MIN is the tag bit, so the result is never zero.
        VMGcRef(NonZeroU32::MIN | ((value as u32) << 1))
    }

    /// `i31.get_s`: the value sign-extended from 31 bits; `None` if this is
    /// not an i31.
    pub fn i31_get_s(&self) -> Option<i32> {
        self.is_i31().then_some((self.0.get() as i32) >> 1)
    }

    /// `i31.get_u`: the value zero-extended from 31 bits; `None` if this is
    /// not an i31.
    pub fn i31_get_u(&self) -> Option<u32> {
        self.is_i31().then_some(self.0.get() >> 1)
    }
}

impl fmt::Debug for VMGcRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.i31_get_s() {
            Some(v) => write!(f, "VMGcRef(i31 {v})"),
            None => write!(f, "VMGcRef({:#x})", self.0.get()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn option_of_gc_ref_is_a_u32_with_zero_for_null() {
        assert_eq!(std::mem::size_of::<Option<VMGcRef>>(), 4);
        assert!(VMGcRef::from_raw_u32(0).is_none());
        assert_eq!(VMGcRef::from_raw_u32(24).unwrap().as_raw_u32(), 24);
    }

    #[test]
    fn i31_round_trips_and_truncates_to_31_bits() {
        for v in [0, 1, -1, (1 << 30) - 1, -(1 << 30), 12345, -98765] {
            let r = VMGcRef::from_i31(v);
            assert!(r.is_i31());
            assert_eq!(r.as_heap_index(), None);
            assert_eq!(r.i31_get_s(), Some(v));
            assert_eq!(r.i31_get_u(), Some((v as u32) & 0x7fff_ffff));
        }
        // ref.i31 drops bit 31: 2^30 wraps to -2^30, i32::MAX to -1.
        assert_eq!(VMGcRef::from_i31(1 << 30).i31_get_s(), Some(-(1 << 30)));
        assert_eq!(VMGcRef::from_i31(i32::MAX).i31_get_s(), Some(-1));
        assert_eq!(VMGcRef::from_i31(i32::MIN).i31_get_s(), Some(0));
        assert_eq!(VMGcRef::from_i31(-1).i31_get_u(), Some(0x7fff_ffff));
    }

    #[test]
    fn heap_references_are_even() {
        assert!(VMGcRef::from_heap_index(17).is_none());
        let r = VMGcRef::from_heap_index(16).unwrap();
        assert!(!r.is_i31());
        assert_eq!(r.as_heap_index(), Some(16));
        assert_eq!(r.i31_get_s(), None);
        assert_eq!(r.unchecked_copy(), r);
    }
}
