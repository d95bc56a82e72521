//! Command-line text to `kiln::Val` and back, for `kiln run`.
//!
//! Integers accept decimal or `0x` hex, optionally negative; any value that
//! fits the type's bit width as signed or unsigned is taken (so `0xffffffff`
//! and `-1` are the same i32). Floats use Rust's decimal syntax, which also
//! accepts `inf` and `nan`. Output matches `wasmtime run --invoke`:
//! integers in signed decimal, floats with Rust's `{}`.

use anyhow::{Result, anyhow, bail};
use kiln::{Val, ValType};

/// Parses one argument for a parameter of type `ty`.
pub fn parse_arg(text: &str, ty: &ValType) -> Result<Val> {
    Ok(match ty {
        ValType::I32 => Val::I32(parse_int(text, 32)? as u32 as i32),
        ValType::I64 => Val::I64(parse_int(text, 64)? as u64 as i64),
        ValType::F32 => Val::F32(
            text.parse::<f32>()
                .map_err(|e| anyhow!("not an f32: {e}"))?
                .to_bits(),
        ),
        ValType::F64 => Val::F64(
            text.parse::<f64>()
                .map_err(|e| anyhow!("not an f64: {e}"))?
                .to_bits(),
        ),
        other => bail!("parameters of type {other} cannot be given on the command line"),
    })
}

/// An integer of at most `bits` bits, as its two's complement bit pattern.
fn parse_int(text: &str, bits: u32) -> Result<u64> {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let magnitude = match digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => digits.parse::<u64>(),
    }
    .map_err(|e| anyhow!("not an integer: {e}"))?;
    let magnitude = i128::from(magnitude);
    let value = if negative { -magnitude } else { magnitude };
    let min = -(1i128 << (bits - 1));
    let max = (1i128 << bits) - 1;
    if value < min || value > max {
        bail!("out of range for a {bits}-bit integer");
    }
    Ok(value as u64 & (u64::MAX >> (64 - bits)))
}

/// Formats one result the way `wasmtime run --invoke` prints it.
pub fn format_result(val: &Val) -> String {
    match val {
        Val::I32(x) => x.to_string(),
        Val::I64(x) => x.to_string(),
        Val::F32(bits) => f32::from_bits(*bits).to_string(),
        Val::F64(bits) => f64::from_bits(*bits).to_string(),
        Val::V128(x) => format!("{x:#034x}"),
        Val::FuncRef(None) | Val::ExternRef(None) | Val::AnyRef(None) | Val::ExnRef(None) => "ref.null".to_string(),
        Val::ExnRef(Some(_)) => "ref.exn".to_string(),
        Val::FuncRef(Some(_)) => "ref.func".to_string(),
        Val::ExternRef(Some(_)) => "ref.extern".to_string(),
        Val::AnyRef(Some(_)) => "ref.any".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn i32_of(text: &str) -> Result<i32> {
        match parse_arg(text, &ValType::I32)? {
            Val::I32(x) => Ok(x),
            _ => unreachable!(),
        }
    }

    #[test]
    fn integers() {
        assert_eq!(i32_of("42").unwrap(), 42);
        assert_eq!(i32_of("-1").unwrap(), -1);
        assert_eq!(i32_of("0xffffffff").unwrap(), -1);
        assert_eq!(i32_of("-0x80000000").unwrap(), i32::MIN);
        assert_eq!(i32_of("4294967295").unwrap(), -1);
        assert!(i32_of("4294967296").is_err());
        assert!(i32_of("-2147483649").is_err());
        assert!(i32_of("1.5").is_err());
        assert!(i32_of("").is_err());
        match parse_arg("-0x8000000000000000", &ValType::I64).unwrap() {
            Val::I64(x) => assert_eq!(x, i64::MIN),
            _ => unreachable!(),
        }
    }

    #[test]
    fn floats() {
        match parse_arg("1.5", &ValType::F32).unwrap() {
            Val::F32(bits) => assert_eq!(f32::from_bits(bits), 1.5),
            _ => unreachable!(),
        }
        assert!(parse_arg("x", &ValType::F64).is_err());
        assert_eq!(format_result(&Val::F64(2.5f64.to_bits())), "2.5");
        assert_eq!(format_result(&Val::I32(-3)), "-3");
        assert_eq!(format_result(&Val::V128(1)), format!("0x{:032x}", 1));
    }
}
