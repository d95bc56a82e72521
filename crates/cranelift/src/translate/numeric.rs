//! Constants, integer and float arithmetic, comparisons and conversions.
//!
//! Cranelift's instructions were designed with Wasm's semantics, so most
//! operators map one to one: division traps on zero and on overflow,
//! shifts and rotates mask their amount, `fmin`/`fmax` propagate NaN and
//! order -0 below +0, and `fcvt_to_*int` trap on NaN and out-of-range.

use super::FuncTranslator;
use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::{InstBuilder, Type, Value, types::*};
use wasmparser::Operator;

impl FuncTranslator<'_, '_> {
    /// Handles numeric operators; returns false for any other operator.
    pub(super) fn numeric_operator(&mut self, op: &Operator<'_>) -> bool {
        use Operator as O;
        match *op {
            O::I32Const { value } => self.push_iconst(I32, value as i64),
            O::I64Const { value } => self.push_iconst(I64, value),
            O::F32Const { value } => {
                let v = self.b.ins().f32const(f32::from_bits(value.bits()));
                self.push(v)
            }
            O::F64Const { value } => {
                let v = self.b.ins().f64const(f64::from_bits(value.bits()));
                self.push(v)
            }

            O::I32Eqz | O::I64Eqz => {
                let x = self.pop();
                let c = self.b.ins().icmp_imm_u(IntCC::Equal, x, 0);
                self.push_bool(c)
            }
            O::I32Eq | O::I64Eq => self.icmp(IntCC::Equal),
            O::I32Ne | O::I64Ne => self.icmp(IntCC::NotEqual),
            O::I32LtS | O::I64LtS => self.icmp(IntCC::SignedLessThan),
            O::I32LtU | O::I64LtU => self.icmp(IntCC::UnsignedLessThan),
            O::I32GtS | O::I64GtS => self.icmp(IntCC::SignedGreaterThan),
            O::I32GtU | O::I64GtU => self.icmp(IntCC::UnsignedGreaterThan),
            O::I32LeS | O::I64LeS => self.icmp(IntCC::SignedLessThanOrEqual),
            O::I32LeU | O::I64LeU => self.icmp(IntCC::UnsignedLessThanOrEqual),
            O::I32GeS | O::I64GeS => self.icmp(IntCC::SignedGreaterThanOrEqual),
            O::I32GeU | O::I64GeU => self.icmp(IntCC::UnsignedGreaterThanOrEqual),

            O::F32Eq | O::F64Eq => self.fcmp(FloatCC::Equal),
            O::F32Ne | O::F64Ne => self.fcmp(FloatCC::NotEqual),
            O::F32Lt | O::F64Lt => self.fcmp(FloatCC::LessThan),
            O::F32Gt | O::F64Gt => self.fcmp(FloatCC::GreaterThan),
            O::F32Le | O::F64Le => self.fcmp(FloatCC::LessThanOrEqual),
            O::F32Ge | O::F64Ge => self.fcmp(FloatCC::GreaterThanOrEqual),

            O::I32Clz | O::I64Clz => self.unary(|b, x| b.ins().clz(x)),
            O::I32Ctz | O::I64Ctz => self.unary(|b, x| b.ins().ctz(x)),
            O::I32Popcnt | O::I64Popcnt => self.unary(|b, x| b.ins().popcnt(x)),
            O::I32Add | O::I64Add => self.binary(|b, x, y| b.ins().iadd(x, y)),
            O::I32Sub | O::I64Sub => self.binary(|b, x, y| b.ins().isub(x, y)),
            O::I32Mul | O::I64Mul => self.binary(|b, x, y| b.ins().imul(x, y)),
            O::I32DivS | O::I64DivS => self.binary(|b, x, y| b.ins().sdiv(x, y)),
            O::I32DivU | O::I64DivU => self.binary(|b, x, y| b.ins().udiv(x, y)),
            O::I32RemS | O::I64RemS => self.binary(|b, x, y| b.ins().srem(x, y)),
            O::I32RemU | O::I64RemU => self.binary(|b, x, y| b.ins().urem(x, y)),
            O::I32And | O::I64And => self.binary(|b, x, y| b.ins().band(x, y)),
            O::I32Or | O::I64Or => self.binary(|b, x, y| b.ins().bor(x, y)),
            O::I32Xor | O::I64Xor => self.binary(|b, x, y| b.ins().bxor(x, y)),
            O::I32Shl | O::I64Shl => self.binary(|b, x, y| b.ins().ishl(x, y)),
            O::I32ShrS | O::I64ShrS => self.binary(|b, x, y| b.ins().sshr(x, y)),
            O::I32ShrU | O::I64ShrU => self.binary(|b, x, y| b.ins().ushr(x, y)),
            O::I32Rotl | O::I64Rotl => self.binary(|b, x, y| b.ins().rotl(x, y)),
            O::I32Rotr | O::I64Rotr => self.binary(|b, x, y| b.ins().rotr(x, y)),
            O::I64Add128 => self.wide_add_sub(false),
            O::I64Sub128 => self.wide_add_sub(true),
            O::I64MulWideS => self.mul_wide(true),
            O::I64MulWideU => self.mul_wide(false),

            O::F32Abs | O::F64Abs => self.unary(|b, x| b.ins().fabs(x)),
            O::F32Neg | O::F64Neg => self.unary(|b, x| b.ins().fneg(x)),
            O::F32Ceil | O::F64Ceil => self.unary(|b, x| b.ins().ceil(x)),
            O::F32Floor | O::F64Floor => self.unary(|b, x| b.ins().floor(x)),
            O::F32Trunc | O::F64Trunc => self.unary(|b, x| b.ins().trunc(x)),
            O::F32Nearest | O::F64Nearest => self.unary(|b, x| b.ins().nearest(x)),
            O::F32Sqrt | O::F64Sqrt => self.unary(|b, x| b.ins().sqrt(x)),
            O::F32Add | O::F64Add => self.binary(|b, x, y| b.ins().fadd(x, y)),
            O::F32Sub | O::F64Sub => self.binary(|b, x, y| b.ins().fsub(x, y)),
            O::F32Mul | O::F64Mul => self.binary(|b, x, y| b.ins().fmul(x, y)),
            O::F32Div | O::F64Div => self.binary(|b, x, y| b.ins().fdiv(x, y)),
            O::F32Min | O::F64Min => self.binary(|b, x, y| b.ins().fmin(x, y)),
            O::F32Max | O::F64Max => self.binary(|b, x, y| b.ins().fmax(x, y)),
            O::F32Copysign | O::F64Copysign => self.binary(|b, x, y| b.ins().fcopysign(x, y)),

            O::I32WrapI64 => self.unary(|b, x| b.ins().ireduce(I32, x)),
            O::I64ExtendI32S => self.unary(|b, x| b.ins().sextend(I64, x)),
            O::I64ExtendI32U => self.unary(|b, x| b.ins().uextend(I64, x)),
            O::I32Extend8S => self.sign_extend(I32, I8),
            O::I32Extend16S => self.sign_extend(I32, I16),
            O::I64Extend8S => self.sign_extend(I64, I8),
            O::I64Extend16S => self.sign_extend(I64, I16),
            O::I64Extend32S => self.sign_extend(I64, I32),

            O::I32TruncF32S | O::I32TruncF64S => self.unary(|b, x| b.ins().fcvt_to_sint(I32, x)),
            O::I32TruncF32U | O::I32TruncF64U => self.unary(|b, x| b.ins().fcvt_to_uint(I32, x)),
            O::I64TruncF32S | O::I64TruncF64S => self.unary(|b, x| b.ins().fcvt_to_sint(I64, x)),
            O::I64TruncF32U | O::I64TruncF64U => self.unary(|b, x| b.ins().fcvt_to_uint(I64, x)),
            O::I32TruncSatF32S | O::I32TruncSatF64S => self.unary(|b, x| b.ins().fcvt_to_sint_sat(I32, x)),
            O::I32TruncSatF32U | O::I32TruncSatF64U => self.unary(|b, x| b.ins().fcvt_to_uint_sat(I32, x)),
            O::I64TruncSatF32S | O::I64TruncSatF64S => self.unary(|b, x| b.ins().fcvt_to_sint_sat(I64, x)),
            O::I64TruncSatF32U | O::I64TruncSatF64U => self.unary(|b, x| b.ins().fcvt_to_uint_sat(I64, x)),
            O::F32ConvertI32S | O::F32ConvertI64S => self.unary(|b, x| b.ins().fcvt_from_sint(F32, x)),
            O::F32ConvertI32U | O::F32ConvertI64U => self.unary(|b, x| b.ins().fcvt_from_uint(F32, x)),
            O::F64ConvertI32S | O::F64ConvertI64S => self.unary(|b, x| b.ins().fcvt_from_sint(F64, x)),
            O::F64ConvertI32U | O::F64ConvertI64U => self.unary(|b, x| b.ins().fcvt_from_uint(F64, x)),
            O::F32DemoteF64 => self.unary(|b, x| b.ins().fdemote(F32, x)),
            O::F64PromoteF32 => self.unary(|b, x| b.ins().fpromote(F64, x)),
            O::I32ReinterpretF32 => self.bitcast(I32),
            O::I64ReinterpretF64 => self.bitcast(I64),
            O::F32ReinterpretI32 => self.bitcast(F32),
            O::F64ReinterpretI64 => self.bitcast(F64),
            _ => return false,
        }
        true
    }

    fn push_iconst(&mut self, ty: Type, value: i64) {
        let v = self.b.ins().iconst(ty, value);
        self.push(v);
    }

    /// Pushes an `i8` condition as the i32 0 or 1 Wasm expects.
    fn push_bool(&mut self, c: Value) {
        let v = self.b.ins().uextend(I32, c);
        self.push(v);
    }

    fn icmp(&mut self, cc: IntCC) {
        let (x, y) = self.pop2();
        let c = self.b.ins().icmp(cc, x, y);
        self.push_bool(c);
    }

    fn fcmp(&mut self, cc: FloatCC) {
        let (x, y) = self.pop2();
        let c = self.b.ins().fcmp(cc, x, y);
        self.push_bool(c);
    }

    fn unary(&mut self, f: impl FnOnce(&mut cranelift_frontend::FunctionBuilder<'_>, Value) -> Value) {
        let x = self.pop();
        let v = f(&mut self.b, x);
        self.push(v);
    }

    /// `i64.add128` / `i64.sub128` (wide arithmetic): two 128-bit
    /// operands as (low, high) i64 pairs in, one out, wrapping.
    fn wide_add_sub(&mut self, sub: bool) {
        let (rhs_lo, rhs_hi) = self.pop2();
        let (lhs_lo, lhs_hi) = self.pop2();
        let lhs = self.b.ins().iconcat(lhs_lo, lhs_hi);
        let rhs = self.b.ins().iconcat(rhs_lo, rhs_hi);
        let result = if sub { self.b.ins().isub(lhs, rhs) } else { self.b.ins().iadd(lhs, rhs) };
        let (lo, hi) = self.b.ins().isplit(result);
        self.push(lo);
        self.push(hi);
    }

    /// `i64.mul_wide_s` / `i64.mul_wide_u`: the whole 128-bit product of
    /// two i64s, as (low, high).
    fn mul_wide(&mut self, signed: bool) {
        let (x, y) = self.pop2();
        let lo = self.b.ins().imul(x, y);
        let hi = if signed { self.b.ins().smulhi(x, y) } else { self.b.ins().umulhi(x, y) };
        self.push(lo);
        self.push(hi);
    }

    fn binary(&mut self, f: impl FnOnce(&mut cranelift_frontend::FunctionBuilder<'_>, Value, Value) -> Value) {
        let (x, y) = self.pop2();
        let v = f(&mut self.b, x, y);
        self.push(v);
    }

    fn sign_extend(&mut self, to: Type, from: Type) {
        self.unary(|b, x| {
            let narrow = b.ins().ireduce(from, x);
            b.ins().sextend(to, narrow)
        });
    }

    fn bitcast(&mut self, to: Type) {
        self.unary(|b, x| b.ins().bitcast(to, cranelift_codegen::ir::MemFlagsData::new(), x));
    }
}
