//! `I31`: an unboxed 31-bit integer reference (`i31ref`).

use kiln_gc::VMGcRef;

/// A 31-bit integer, as an `i31ref` holds it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct I31(u32);

impl I31 {
    const MASK: u32 = (1 << 31) - 1;

    /// `value` if it fits in 31 bits as a signed integer.
    pub fn new_i32(value: i32) -> Option<I31> {
        ((value << 1) >> 1 == value).then_some(I31(value as u32 & Self::MASK))
    }

    /// `value` if it fits in 31 bits as an unsigned integer.
    pub fn new_u32(value: u32) -> Option<I31> {
        (value <= Self::MASK).then_some(I31(value))
    }

    /// The low 31 bits of `value` (Wasm's `ref.i31`).
    pub fn wrapping_i32(value: i32) -> I31 {
        I31(value as u32 & Self::MASK)
    }

    /// The low 31 bits of `value`.
    pub fn wrapping_u32(value: u32) -> I31 {
        I31(value & Self::MASK)
    }

    /// Sign-extended (Wasm's `i31.get_s`).
    pub fn get_i32(&self) -> i32 {
        ((self.0 << 1) as i32) >> 1
    }

    /// Zero-extended (Wasm's `i31.get_u`).
    pub fn get_u32(&self) -> u32 {
        self.0
    }

    pub(crate) fn to_raw(self) -> u32 {
        VMGcRef::from_i31(self.get_i32()).as_raw_u32()
    }

    /// The value of a raw i31 reference, if `raw` is one.
    pub(crate) fn from_raw(raw: u32) -> Option<I31> {
        (raw & 1 == 1).then_some(I31(raw >> 1))
    }
}

#[cfg(test)]
mod tests {
    use super::I31;

    #[test]
    fn constructors_follow_the_31_bit_ranges() {
        assert_eq!(I31::new_i32(-1).map(|i| i.get_i32()), Some(-1));
        assert_eq!(I31::new_i32(1 << 30), None);
        assert_eq!(I31::new_i32(-(1 << 30)).map(|i| i.get_i32()), Some(-(1 << 30)));
        assert_eq!(I31::new_u32(1 << 31), None);
        assert_eq!(I31::new_u32((1 << 31) - 1).map(|i| i.get_u32()), Some((1 << 31) - 1));
        assert_eq!(I31::wrapping_i32(-1).get_u32(), (1 << 31) - 1);
        assert_eq!(I31::wrapping_u32(u32::MAX).get_i32(), -1);
        assert_eq!(I31::from_raw(I31::wrapping_i32(-5).to_raw()), Some(I31::wrapping_i32(-5)));
    }
}
