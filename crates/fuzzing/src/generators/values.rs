//! Argument values for calls into Wasm.
//!
//! Numbers lean towards the edges where engines tend to differ (zero,
//! minus one, the extremes, NaNs with and without payloads, infinities,
//! negative zero), the rest is arbitrary. References are not generated
//! here: making one needs a store, so oracles supply them (see
//! `oracles::dummy::dummy_value`).

use arbitrary::{Result, Unstructured};
use kiln::{Val, ValType};

const I32_EDGES: [i32; 7] = [0, 1, -1, i32::MIN, i32::MAX, 0x8000, 0xffff];
const I64_EDGES: [i64; 7] = [0, 1, -1, i64::MIN, i64::MAX, 0x8000_0000, 0xffff_ffff];
const F32_EDGES: [u32; 9] = [
    0,          // +0
    0x8000_0000, // -0
    0x7fc0_0000, // canonical NaN
    0x7fa0_0001, // signalling NaN with payload
    0xffc0_0000, // negative NaN
    0x7f80_0000, // +inf
    0xff80_0000, // -inf
    0x0000_0001, // smallest subnormal
    0x4f00_0000, // 2^31: the edge of i32 truncation
];
const F64_EDGES: [u64; 9] = [
    0,
    0x8000_0000_0000_0000,
    0x7ff8_0000_0000_0000,
    0x7ff4_0000_0000_0001,
    0xfff8_0000_0000_0000,
    0x7ff0_0000_0000_0000,
    0xfff0_0000_0000_0000,
    1,
    0x43e0_0000_0000_0000, // 2^63
];

/// A value of the numeric or vector type `ty`, or `None` for references.
pub fn scalar(u: &mut Unstructured<'_>, ty: &ValType) -> Result<Option<Val>> {
    // One byte picks edge-versus-arbitrary so short inputs still reach
    // the edges.
    let edge = u.ratio(1, 2)?;
    Ok(Some(match ty {
        ValType::I32 => Val::I32(if edge { *u.choose(&I32_EDGES)? } else { u.arbitrary()? }),
        ValType::I64 => Val::I64(if edge { *u.choose(&I64_EDGES)? } else { u.arbitrary()? }),
        ValType::F32 => Val::F32(if edge { *u.choose(&F32_EDGES)? } else { u.arbitrary()? }),
        ValType::F64 => Val::F64(if edge { *u.choose(&F64_EDGES)? } else { u.arbitrary()? }),
        ValType::V128 => Val::V128(if edge { u128::from(*u.choose(&F64_EDGES)?) * 0x1_0000_0000_0000_0001 } else { u.arbitrary()? }),
        ValType::Ref(_) => return Ok(None),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalars_match_their_types_and_references_are_left_to_the_caller() {
        let bytes: Vec<u8> = (0..=255).cycle().take(4096).collect();
        let mut u = Unstructured::new(&bytes);
        for _ in 0..100 {
            assert!(matches!(scalar(&mut u, &ValType::I32).unwrap(), Some(Val::I32(_))));
            assert!(matches!(scalar(&mut u, &ValType::I64).unwrap(), Some(Val::I64(_))));
            assert!(matches!(scalar(&mut u, &ValType::F32).unwrap(), Some(Val::F32(_))));
            assert!(matches!(scalar(&mut u, &ValType::F64).unwrap(), Some(Val::F64(_))));
            assert!(matches!(scalar(&mut u, &ValType::V128).unwrap(), Some(Val::V128(_))));
            assert!(scalar(&mut u, &ValType::EXTERNREF).unwrap().is_none());
        }
    }

    #[test]
    fn exhausted_input_still_yields_values() {
        // `Unstructured` answers with zeros once empty: generation must
        // not fail, or short fuzz inputs would test nothing.
        let mut u = Unstructured::new(&[]);
        assert_eq!(scalar(&mut u, &ValType::I32).unwrap().and_then(|v| v.i32()), Some(0));
    }
}
