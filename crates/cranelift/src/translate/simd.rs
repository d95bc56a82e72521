//! SIMD (`v128`) and relaxed SIMD operators.
//!
//! Every `v128` on the operand stack, in locals, globals and across calls
//! is an `i8x16`; each operator bitcasts its operands to the lane shape it
//! works on and its result back (Cranelift folds the redundant casts).
//! Cranelift's vector instructions follow Wasm's semantics (saturating
//! narrows, swizzle zeroing out-of-range lanes, NaN-propagating min/max),
//! so most operators map one to one.
//!
//! Relaxed SIMD operators are given one of the results the spec permits,
//! the deterministic one: the same as the corresponding strict operator
//! where there is one (swizzle, truncation, min/max, laneselect as
//! bitselect), a fused multiply-add for `madd`/`nmadd`, and signed
//! arithmetic for the dot products.

use super::memory::memarg_memory;
use super::FuncTranslator;
use crate::CompileError;
use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::{self, InstBuilder, MemFlagsData, Type, Value, types::*};
use cranelift_frontend::FunctionBuilder;
use wasmparser::{MemArg, Operator};

/// Flags for bitcasts between vector shapes: lanes are numbered in
/// little-endian order, as Wasm numbers them.
fn lane_order() -> MemFlagsData {
    MemFlagsData::new().with_endianness(ir::Endianness::Little)
}

fn cast(b: &mut FunctionBuilder<'_>, ty: Type, v: Value) -> Value {
    if b.func.dfg.value_type(v) == ty { v } else { b.ins().bitcast(ty, lane_order(), v) }
}

impl FuncTranslator<'_, '_> {
    fn pop_as(&mut self, ty: Type) -> Value {
        let v = self.pop();
        cast(&mut self.b, ty, v)
    }

    fn pop2_as(&mut self, ty: Type) -> (Value, Value) {
        let y = self.pop_as(ty);
        let x = self.pop_as(ty);
        (x, y)
    }

    fn push_v128(&mut self, v: Value) {
        let v = cast(&mut self.b, I8X16, v);
        self.push(v);
    }

    fn v_unary(&mut self, ty: Type, f: impl FnOnce(&mut FunctionBuilder<'_>, Value) -> Value) {
        let x = self.pop_as(ty);
        let r = f(&mut self.b, x);
        self.push_v128(r);
    }

    fn v_binary(&mut self, ty: Type, f: impl FnOnce(&mut FunctionBuilder<'_>, Value, Value) -> Value) {
        let (x, y) = self.pop2_as(ty);
        let r = f(&mut self.b, x, y);
        self.push_v128(r);
    }

    fn v_icmp(&mut self, ty: Type, cc: IntCC) {
        self.v_binary(ty, |b, x, y| b.ins().icmp(cc, x, y));
    }

    fn v_fcmp(&mut self, ty: Type, cc: FloatCC) {
        self.v_binary(ty, |b, x, y| b.ins().fcmp(cc, x, y));
    }

    /// Shifts take an i32 amount, taken modulo the lane width (Cranelift
    /// masks vector shift amounts the same way).
    fn v_shift(&mut self, ty: Type, f: impl FnOnce(&mut FunctionBuilder<'_>, Value, Value) -> Value) {
        let amount = self.pop();
        let x = self.pop_as(ty);
        let r = f(&mut self.b, x, amount);
        self.push_v128(r);
    }

    fn splat(&mut self, ty: Type) {
        let x = self.pop();
        let lane = ty.lane_type();
        let x = if self.b.func.dfg.value_type(x).bits() > lane.bits() && lane.is_int() { self.b.ins().ireduce(lane, x) } else { x };
        let r = self.b.ins().splat(ty, x);
        self.push_v128(r);
    }

    fn extract_lane(&mut self, ty: Type, lane: u8, extend: Option<bool>) {
        let v = self.pop_as(ty);
        let x = self.b.ins().extractlane(v, lane);
        let x = match extend {
            Some(true) => self.b.ins().sextend(I32, x),
            Some(false) => self.b.ins().uextend(I32, x),
            None => x,
        };
        self.push(x);
    }

    fn replace_lane(&mut self, ty: Type, lane: u8) {
        let x = self.pop();
        let v = self.pop_as(ty);
        let lane_ty = ty.lane_type();
        let x = if lane_ty.is_int() && self.b.func.dfg.value_type(x).bits() > lane_ty.bits() { self.b.ins().ireduce(lane_ty, x) } else { x };
        let r = self.b.ins().insertlane(v, x, lane);
        self.push_v128(r);
    }

    fn all_true(&mut self, ty: Type) {
        let v = self.pop_as(ty);
        let c = self.b.ins().vall_true(v);
        let r = self.b.ins().uextend(I32, c);
        self.push(r);
    }

    fn bitmask(&mut self, ty: Type) {
        let v = self.pop_as(ty);
        let r = self.b.ins().vhigh_bits(I32, v);
        self.push(r);
    }

    /// `extmul`: widen both operands' low or high halves, then multiply.
    fn ext_mul(&mut self, from: Type, high: bool, signed: bool) {
        let (x, y) = self.pop2_as(from);
        let widen = |b: &mut FunctionBuilder<'_>, v| match (high, signed) {
            (false, true) => b.ins().swiden_low(v),
            (true, true) => b.ins().swiden_high(v),
            (false, false) => b.ins().uwiden_low(v),
            (true, false) => b.ins().uwiden_high(v),
        };
        let (x, y) = (widen(&mut self.b, x), widen(&mut self.b, y));
        let r = self.b.ins().imul(x, y);
        self.push_v128(r);
    }

    /// Adds adjacent lane pairs after widening them.
    fn ext_add_pairwise(&mut self, from: Type, signed: bool) {
        let v = self.pop_as(from);
        let (lo, hi) = if signed {
            (self.b.ins().swiden_low(v), self.b.ins().swiden_high(v))
        } else {
            (self.b.ins().uwiden_low(v), self.b.ins().uwiden_high(v))
        };
        let r = self.b.ins().iadd_pairwise(lo, hi);
        self.push_v128(r);
    }

    /// Signed dot product of `from`-shaped lanes into lanes twice as wide.
    fn dot(&mut self, x: Value, y: Value) -> Value {
        let xl = self.b.ins().swiden_low(x);
        let yl = self.b.ins().swiden_low(y);
        let xh = self.b.ins().swiden_high(x);
        let yh = self.b.ins().swiden_high(y);
        let lo = self.b.ins().imul(xl, yl);
        let hi = self.b.ins().imul(xh, yh);
        self.b.ins().iadd_pairwise(lo, hi)
    }

    /// `pmin`/`pmax`: `b < a ? b : a` and `a < b ? b : a`, bit patterns kept.
    fn pseudo_min_max(&mut self, ty: Type, max: bool) {
        let (x, y) = self.pop2_as(ty);
        let int = if ty == F32X4 { I32X4 } else { I64X2 };
        let take_y = if max { self.b.ins().fcmp(FloatCC::LessThan, x, y) } else { self.b.ins().fcmp(FloatCC::LessThan, y, x) };
        let (xi, yi) = (cast(&mut self.b, int, x), cast(&mut self.b, int, y));
        let r = self.b.ins().bitselect(take_y, yi, xi);
        self.push_v128(r);
    }

    /// Float-to-int truncation of two f64 lanes, zeroing the upper lanes.
    fn trunc_sat_f64x2_zero(&mut self, signed: bool) {
        let v = self.pop_as(F64X2);
        let zero = self.zero_of(I64X2);
        let r = if signed {
            let wide = self.b.ins().fcvt_to_sint_sat(I64X2, v);
            self.b.ins().snarrow(wide, zero)
        } else {
            let wide = self.b.ins().fcvt_to_uint_sat(I64X2, v);
            self.b.ins().uunarrow(wide, zero)
        };
        self.push_v128(r);
    }

    fn v_load(&mut self, memarg: MemArg, size: u32, f: impl FnOnce(&mut FunctionBuilder<'_>, MemFlagsData, Value) -> Value) -> Result<(), CompileError> {
        let memory = memarg_memory(&memarg)?;
        let index = self.pop();
        let addr = self.heap_address(memory, index, memarg.offset, size);
        let v = f(&mut self.b, self.flags.heap, addr);
        self.push_v128(v);
        Ok(())
    }

    fn load_lane(&mut self, memarg: MemArg, lane: u8, ty: Type) -> Result<(), CompileError> {
        let memory = memarg_memory(&memarg)?;
        let v = self.pop_as(ty);
        let index = self.pop();
        let addr = self.heap_address(memory, index, memarg.offset, ty.lane_type().bytes());
        let x = self.b.ins().load(ty.lane_type(), self.flags.heap, addr, 0);
        let r = self.b.ins().insertlane(v, x, lane);
        self.push_v128(r);
        Ok(())
    }

    fn store_lane(&mut self, memarg: MemArg, lane: u8, ty: Type) -> Result<(), CompileError> {
        let memory = memarg_memory(&memarg)?;
        let v = self.pop_as(ty);
        let index = self.pop();
        let addr = self.heap_address(memory, index, memarg.offset, ty.lane_type().bytes());
        let x = self.b.ins().extractlane(v, lane);
        self.b.ins().store(self.flags.heap, x, addr, 0);
        Ok(())
    }

    fn shuffle(&mut self, lanes: [u8; 16]) {
        let (x, y) = self.pop2_as(I8X16);
        let mask = self.b.func.dfg.immediates.push(lanes.to_vec().into());
        let r = self.b.ins().shuffle(x, y, mask);
        self.push_v128(r);
    }

    /// Handles SIMD operators; returns false for any other operator.
    pub(super) fn simd_operator(&mut self, op: &Operator<'_>) -> Result<bool, CompileError> {
        use Operator as O;
        match *op {
            O::V128Load { memarg } => self.v_load(memarg, 16, |b, f, a| b.ins().load(I8X16, f, a, 0))?,
            O::V128Load8x8S { memarg } => self.v_load(memarg, 8, |b, f, a| b.ins().sload8x8(f, a, 0))?,
            O::V128Load8x8U { memarg } => self.v_load(memarg, 8, |b, f, a| b.ins().uload8x8(f, a, 0))?,
            O::V128Load16x4S { memarg } => self.v_load(memarg, 8, |b, f, a| b.ins().sload16x4(f, a, 0))?,
            O::V128Load16x4U { memarg } => self.v_load(memarg, 8, |b, f, a| b.ins().uload16x4(f, a, 0))?,
            O::V128Load32x2S { memarg } => self.v_load(memarg, 8, |b, f, a| b.ins().sload32x2(f, a, 0))?,
            O::V128Load32x2U { memarg } => self.v_load(memarg, 8, |b, f, a| b.ins().uload32x2(f, a, 0))?,
            O::V128Load8Splat { memarg } => self.v_load(memarg, 1, |b, f, a| load_splat(b, f, a, I8X16))?,
            O::V128Load16Splat { memarg } => self.v_load(memarg, 2, |b, f, a| load_splat(b, f, a, I16X8))?,
            O::V128Load32Splat { memarg } => self.v_load(memarg, 4, |b, f, a| load_splat(b, f, a, I32X4))?,
            O::V128Load64Splat { memarg } => self.v_load(memarg, 8, |b, f, a| load_splat(b, f, a, I64X2))?,
            O::V128Load32Zero { memarg } => self.v_load(memarg, 4, |b, f, a| {
                let x = b.ins().load(I32, f, a, 0);
                b.ins().scalar_to_vector(I32X4, x)
            })?,
            O::V128Load64Zero { memarg } => self.v_load(memarg, 8, |b, f, a| {
                let x = b.ins().load(I64, f, a, 0);
                b.ins().scalar_to_vector(I64X2, x)
            })?,
            O::V128Store { memarg } => {
                let memory = memarg_memory(&memarg)?;
                let v = self.pop_as(I8X16);
                let index = self.pop();
                let addr = self.heap_address(memory, index, memarg.offset, 16);
                self.b.ins().store(self.flags.heap, v, addr, 0);
            }
            O::V128Load8Lane { memarg, lane } => self.load_lane(memarg, lane, I8X16)?,
            O::V128Load16Lane { memarg, lane } => self.load_lane(memarg, lane, I16X8)?,
            O::V128Load32Lane { memarg, lane } => self.load_lane(memarg, lane, I32X4)?,
            O::V128Load64Lane { memarg, lane } => self.load_lane(memarg, lane, I64X2)?,
            O::V128Store8Lane { memarg, lane } => self.store_lane(memarg, lane, I8X16)?,
            O::V128Store16Lane { memarg, lane } => self.store_lane(memarg, lane, I16X8)?,
            O::V128Store32Lane { memarg, lane } => self.store_lane(memarg, lane, I32X4)?,
            O::V128Store64Lane { memarg, lane } => self.store_lane(memarg, lane, I64X2)?,
            O::V128Const { value } => {
                let c = self.b.func.dfg.constants.insert(value.bytes().to_vec().into());
                let v = self.b.ins().vconst(I8X16, c);
                self.push(v);
            }
            O::I8x16Shuffle { lanes } => self.shuffle(lanes),
            O::I8x16Swizzle | O::I8x16RelaxedSwizzle => self.v_binary(I8X16, |b, x, y| b.ins().swizzle(x, y)),
            O::I8x16Splat => self.splat(I8X16),
            O::I16x8Splat => self.splat(I16X8),
            O::I32x4Splat => self.splat(I32X4),
            O::I64x2Splat => self.splat(I64X2),
            O::F32x4Splat => self.splat(F32X4),
            O::F64x2Splat => self.splat(F64X2),
            O::I8x16ExtractLaneS { lane } => self.extract_lane(I8X16, lane, Some(true)),
            O::I8x16ExtractLaneU { lane } => self.extract_lane(I8X16, lane, Some(false)),
            O::I16x8ExtractLaneS { lane } => self.extract_lane(I16X8, lane, Some(true)),
            O::I16x8ExtractLaneU { lane } => self.extract_lane(I16X8, lane, Some(false)),
            O::I32x4ExtractLane { lane } => self.extract_lane(I32X4, lane, None),
            O::I64x2ExtractLane { lane } => self.extract_lane(I64X2, lane, None),
            O::F32x4ExtractLane { lane } => self.extract_lane(F32X4, lane, None),
            O::F64x2ExtractLane { lane } => self.extract_lane(F64X2, lane, None),
            O::I8x16ReplaceLane { lane } => self.replace_lane(I8X16, lane),
            O::I16x8ReplaceLane { lane } => self.replace_lane(I16X8, lane),
            O::I32x4ReplaceLane { lane } => self.replace_lane(I32X4, lane),
            O::I64x2ReplaceLane { lane } => self.replace_lane(I64X2, lane),
            O::F32x4ReplaceLane { lane } => self.replace_lane(F32X4, lane),
            O::F64x2ReplaceLane { lane } => self.replace_lane(F64X2, lane),

            O::I8x16Eq => self.v_icmp(I8X16, IntCC::Equal),
            O::I8x16Ne => self.v_icmp(I8X16, IntCC::NotEqual),
            O::I8x16LtS => self.v_icmp(I8X16, IntCC::SignedLessThan),
            O::I8x16LtU => self.v_icmp(I8X16, IntCC::UnsignedLessThan),
            O::I8x16GtS => self.v_icmp(I8X16, IntCC::SignedGreaterThan),
            O::I8x16GtU => self.v_icmp(I8X16, IntCC::UnsignedGreaterThan),
            O::I8x16LeS => self.v_icmp(I8X16, IntCC::SignedLessThanOrEqual),
            O::I8x16LeU => self.v_icmp(I8X16, IntCC::UnsignedLessThanOrEqual),
            O::I8x16GeS => self.v_icmp(I8X16, IntCC::SignedGreaterThanOrEqual),
            O::I8x16GeU => self.v_icmp(I8X16, IntCC::UnsignedGreaterThanOrEqual),
            O::I16x8Eq => self.v_icmp(I16X8, IntCC::Equal),
            O::I16x8Ne => self.v_icmp(I16X8, IntCC::NotEqual),
            O::I16x8LtS => self.v_icmp(I16X8, IntCC::SignedLessThan),
            O::I16x8LtU => self.v_icmp(I16X8, IntCC::UnsignedLessThan),
            O::I16x8GtS => self.v_icmp(I16X8, IntCC::SignedGreaterThan),
            O::I16x8GtU => self.v_icmp(I16X8, IntCC::UnsignedGreaterThan),
            O::I16x8LeS => self.v_icmp(I16X8, IntCC::SignedLessThanOrEqual),
            O::I16x8LeU => self.v_icmp(I16X8, IntCC::UnsignedLessThanOrEqual),
            O::I16x8GeS => self.v_icmp(I16X8, IntCC::SignedGreaterThanOrEqual),
            O::I16x8GeU => self.v_icmp(I16X8, IntCC::UnsignedGreaterThanOrEqual),
            O::I32x4Eq => self.v_icmp(I32X4, IntCC::Equal),
            O::I32x4Ne => self.v_icmp(I32X4, IntCC::NotEqual),
            O::I32x4LtS => self.v_icmp(I32X4, IntCC::SignedLessThan),
            O::I32x4LtU => self.v_icmp(I32X4, IntCC::UnsignedLessThan),
            O::I32x4GtS => self.v_icmp(I32X4, IntCC::SignedGreaterThan),
            O::I32x4GtU => self.v_icmp(I32X4, IntCC::UnsignedGreaterThan),
            O::I32x4LeS => self.v_icmp(I32X4, IntCC::SignedLessThanOrEqual),
            O::I32x4LeU => self.v_icmp(I32X4, IntCC::UnsignedLessThanOrEqual),
            O::I32x4GeS => self.v_icmp(I32X4, IntCC::SignedGreaterThanOrEqual),
            O::I32x4GeU => self.v_icmp(I32X4, IntCC::UnsignedGreaterThanOrEqual),
            O::I64x2Eq => self.v_icmp(I64X2, IntCC::Equal),
            O::I64x2Ne => self.v_icmp(I64X2, IntCC::NotEqual),
            O::I64x2LtS => self.v_icmp(I64X2, IntCC::SignedLessThan),
            O::I64x2GtS => self.v_icmp(I64X2, IntCC::SignedGreaterThan),
            O::I64x2LeS => self.v_icmp(I64X2, IntCC::SignedLessThanOrEqual),
            O::I64x2GeS => self.v_icmp(I64X2, IntCC::SignedGreaterThanOrEqual),
            O::F32x4Eq => self.v_fcmp(F32X4, FloatCC::Equal),
            O::F32x4Ne => self.v_fcmp(F32X4, FloatCC::NotEqual),
            O::F32x4Lt => self.v_fcmp(F32X4, FloatCC::LessThan),
            O::F32x4Gt => self.v_fcmp(F32X4, FloatCC::GreaterThan),
            O::F32x4Le => self.v_fcmp(F32X4, FloatCC::LessThanOrEqual),
            O::F32x4Ge => self.v_fcmp(F32X4, FloatCC::GreaterThanOrEqual),
            O::F64x2Eq => self.v_fcmp(F64X2, FloatCC::Equal),
            O::F64x2Ne => self.v_fcmp(F64X2, FloatCC::NotEqual),
            O::F64x2Lt => self.v_fcmp(F64X2, FloatCC::LessThan),
            O::F64x2Gt => self.v_fcmp(F64X2, FloatCC::GreaterThan),
            O::F64x2Le => self.v_fcmp(F64X2, FloatCC::LessThanOrEqual),
            O::F64x2Ge => self.v_fcmp(F64X2, FloatCC::GreaterThanOrEqual),

            O::V128Not => self.v_unary(I8X16, |b, x| b.ins().bnot(x)),
            O::V128And => self.v_binary(I8X16, |b, x, y| b.ins().band(x, y)),
            O::V128AndNot => self.v_binary(I8X16, |b, x, y| b.ins().band_not(x, y)),
            O::V128Or => self.v_binary(I8X16, |b, x, y| b.ins().bor(x, y)),
            O::V128Xor => self.v_binary(I8X16, |b, x, y| b.ins().bxor(x, y)),
            O::V128Bitselect
            | O::I8x16RelaxedLaneselect
            | O::I16x8RelaxedLaneselect
            | O::I32x4RelaxedLaneselect
            | O::I64x2RelaxedLaneselect => {
                let c = self.pop_as(I8X16);
                let (x, y) = self.pop2_as(I8X16);
                let r = self.b.ins().bitselect(c, x, y);
                self.push_v128(r);
            }
            O::V128AnyTrue => {
                let v = self.pop_as(I8X16);
                let c = self.b.ins().vany_true(v);
                let r = self.b.ins().uextend(I32, c);
                self.push(r);
            }

            O::I8x16Abs => self.v_unary(I8X16, |b, x| b.ins().iabs(x)),
            O::I16x8Abs => self.v_unary(I16X8, |b, x| b.ins().iabs(x)),
            O::I32x4Abs => self.v_unary(I32X4, |b, x| b.ins().iabs(x)),
            O::I64x2Abs => self.v_unary(I64X2, |b, x| b.ins().iabs(x)),
            O::I8x16Neg => self.v_unary(I8X16, |b, x| b.ins().ineg(x)),
            O::I16x8Neg => self.v_unary(I16X8, |b, x| b.ins().ineg(x)),
            O::I32x4Neg => self.v_unary(I32X4, |b, x| b.ins().ineg(x)),
            O::I64x2Neg => self.v_unary(I64X2, |b, x| b.ins().ineg(x)),
            O::I8x16Popcnt => self.v_unary(I8X16, |b, x| b.ins().popcnt(x)),
            O::I8x16AllTrue => self.all_true(I8X16),
            O::I16x8AllTrue => self.all_true(I16X8),
            O::I32x4AllTrue => self.all_true(I32X4),
            O::I64x2AllTrue => self.all_true(I64X2),
            O::I8x16Bitmask => self.bitmask(I8X16),
            O::I16x8Bitmask => self.bitmask(I16X8),
            O::I32x4Bitmask => self.bitmask(I32X4),
            O::I64x2Bitmask => self.bitmask(I64X2),
            O::I8x16NarrowI16x8S => self.v_binary(I16X8, |b, x, y| b.ins().snarrow(x, y)),
            O::I8x16NarrowI16x8U => self.v_binary(I16X8, |b, x, y| b.ins().unarrow(x, y)),
            O::I16x8NarrowI32x4S => self.v_binary(I32X4, |b, x, y| b.ins().snarrow(x, y)),
            O::I16x8NarrowI32x4U => self.v_binary(I32X4, |b, x, y| b.ins().unarrow(x, y)),
            O::I16x8ExtendLowI8x16S => self.v_unary(I8X16, |b, x| b.ins().swiden_low(x)),
            O::I16x8ExtendHighI8x16S => self.v_unary(I8X16, |b, x| b.ins().swiden_high(x)),
            O::I16x8ExtendLowI8x16U => self.v_unary(I8X16, |b, x| b.ins().uwiden_low(x)),
            O::I16x8ExtendHighI8x16U => self.v_unary(I8X16, |b, x| b.ins().uwiden_high(x)),
            O::I32x4ExtendLowI16x8S => self.v_unary(I16X8, |b, x| b.ins().swiden_low(x)),
            O::I32x4ExtendHighI16x8S => self.v_unary(I16X8, |b, x| b.ins().swiden_high(x)),
            O::I32x4ExtendLowI16x8U => self.v_unary(I16X8, |b, x| b.ins().uwiden_low(x)),
            O::I32x4ExtendHighI16x8U => self.v_unary(I16X8, |b, x| b.ins().uwiden_high(x)),
            O::I64x2ExtendLowI32x4S => self.v_unary(I32X4, |b, x| b.ins().swiden_low(x)),
            O::I64x2ExtendHighI32x4S => self.v_unary(I32X4, |b, x| b.ins().swiden_high(x)),
            O::I64x2ExtendLowI32x4U => self.v_unary(I32X4, |b, x| b.ins().uwiden_low(x)),
            O::I64x2ExtendHighI32x4U => self.v_unary(I32X4, |b, x| b.ins().uwiden_high(x)),

            O::I8x16Shl => self.v_shift(I8X16, |b, x, n| b.ins().ishl(x, n)),
            O::I8x16ShrS => self.v_shift(I8X16, |b, x, n| b.ins().sshr(x, n)),
            O::I8x16ShrU => self.v_shift(I8X16, |b, x, n| b.ins().ushr(x, n)),
            O::I16x8Shl => self.v_shift(I16X8, |b, x, n| b.ins().ishl(x, n)),
            O::I16x8ShrS => self.v_shift(I16X8, |b, x, n| b.ins().sshr(x, n)),
            O::I16x8ShrU => self.v_shift(I16X8, |b, x, n| b.ins().ushr(x, n)),
            O::I32x4Shl => self.v_shift(I32X4, |b, x, n| b.ins().ishl(x, n)),
            O::I32x4ShrS => self.v_shift(I32X4, |b, x, n| b.ins().sshr(x, n)),
            O::I32x4ShrU => self.v_shift(I32X4, |b, x, n| b.ins().ushr(x, n)),
            O::I64x2Shl => self.v_shift(I64X2, |b, x, n| b.ins().ishl(x, n)),
            O::I64x2ShrS => self.v_shift(I64X2, |b, x, n| b.ins().sshr(x, n)),
            O::I64x2ShrU => self.v_shift(I64X2, |b, x, n| b.ins().ushr(x, n)),

            O::I8x16Add => self.v_binary(I8X16, |b, x, y| b.ins().iadd(x, y)),
            O::I16x8Add => self.v_binary(I16X8, |b, x, y| b.ins().iadd(x, y)),
            O::I32x4Add => self.v_binary(I32X4, |b, x, y| b.ins().iadd(x, y)),
            O::I64x2Add => self.v_binary(I64X2, |b, x, y| b.ins().iadd(x, y)),
            O::I8x16Sub => self.v_binary(I8X16, |b, x, y| b.ins().isub(x, y)),
            O::I16x8Sub => self.v_binary(I16X8, |b, x, y| b.ins().isub(x, y)),
            O::I32x4Sub => self.v_binary(I32X4, |b, x, y| b.ins().isub(x, y)),
            O::I64x2Sub => self.v_binary(I64X2, |b, x, y| b.ins().isub(x, y)),
            O::I16x8Mul => self.v_binary(I16X8, |b, x, y| b.ins().imul(x, y)),
            O::I32x4Mul => self.v_binary(I32X4, |b, x, y| b.ins().imul(x, y)),
            O::I64x2Mul => self.v_binary(I64X2, |b, x, y| b.ins().imul(x, y)),
            O::I8x16AddSatS => self.v_binary(I8X16, |b, x, y| b.ins().sadd_sat(x, y)),
            O::I8x16AddSatU => self.v_binary(I8X16, |b, x, y| b.ins().uadd_sat(x, y)),
            O::I8x16SubSatS => self.v_binary(I8X16, |b, x, y| b.ins().ssub_sat(x, y)),
            O::I8x16SubSatU => self.v_binary(I8X16, |b, x, y| b.ins().usub_sat(x, y)),
            O::I16x8AddSatS => self.v_binary(I16X8, |b, x, y| b.ins().sadd_sat(x, y)),
            O::I16x8AddSatU => self.v_binary(I16X8, |b, x, y| b.ins().uadd_sat(x, y)),
            O::I16x8SubSatS => self.v_binary(I16X8, |b, x, y| b.ins().ssub_sat(x, y)),
            O::I16x8SubSatU => self.v_binary(I16X8, |b, x, y| b.ins().usub_sat(x, y)),
            O::I8x16MinS => self.v_binary(I8X16, |b, x, y| b.ins().smin(x, y)),
            O::I8x16MinU => self.v_binary(I8X16, |b, x, y| b.ins().umin(x, y)),
            O::I8x16MaxS => self.v_binary(I8X16, |b, x, y| b.ins().smax(x, y)),
            O::I8x16MaxU => self.v_binary(I8X16, |b, x, y| b.ins().umax(x, y)),
            O::I16x8MinS => self.v_binary(I16X8, |b, x, y| b.ins().smin(x, y)),
            O::I16x8MinU => self.v_binary(I16X8, |b, x, y| b.ins().umin(x, y)),
            O::I16x8MaxS => self.v_binary(I16X8, |b, x, y| b.ins().smax(x, y)),
            O::I16x8MaxU => self.v_binary(I16X8, |b, x, y| b.ins().umax(x, y)),
            O::I32x4MinS => self.v_binary(I32X4, |b, x, y| b.ins().smin(x, y)),
            O::I32x4MinU => self.v_binary(I32X4, |b, x, y| b.ins().umin(x, y)),
            O::I32x4MaxS => self.v_binary(I32X4, |b, x, y| b.ins().smax(x, y)),
            O::I32x4MaxU => self.v_binary(I32X4, |b, x, y| b.ins().umax(x, y)),
            O::I8x16AvgrU => self.v_binary(I8X16, |b, x, y| b.ins().avg_round(x, y)),
            O::I16x8AvgrU => self.v_binary(I16X8, |b, x, y| b.ins().avg_round(x, y)),
            O::I16x8Q15MulrSatS | O::I16x8RelaxedQ15mulrS => self.v_binary(I16X8, |b, x, y| b.ins().sqmul_round_sat(x, y)),
            O::I16x8ExtAddPairwiseI8x16S => self.ext_add_pairwise(I8X16, true),
            O::I16x8ExtAddPairwiseI8x16U => self.ext_add_pairwise(I8X16, false),
            O::I32x4ExtAddPairwiseI16x8S => self.ext_add_pairwise(I16X8, true),
            O::I32x4ExtAddPairwiseI16x8U => self.ext_add_pairwise(I16X8, false),
            O::I16x8ExtMulLowI8x16S => self.ext_mul(I8X16, false, true),
            O::I16x8ExtMulHighI8x16S => self.ext_mul(I8X16, true, true),
            O::I16x8ExtMulLowI8x16U => self.ext_mul(I8X16, false, false),
            O::I16x8ExtMulHighI8x16U => self.ext_mul(I8X16, true, false),
            O::I32x4ExtMulLowI16x8S => self.ext_mul(I16X8, false, true),
            O::I32x4ExtMulHighI16x8S => self.ext_mul(I16X8, true, true),
            O::I32x4ExtMulLowI16x8U => self.ext_mul(I16X8, false, false),
            O::I32x4ExtMulHighI16x8U => self.ext_mul(I16X8, true, false),
            O::I64x2ExtMulLowI32x4S => self.ext_mul(I32X4, false, true),
            O::I64x2ExtMulHighI32x4S => self.ext_mul(I32X4, true, true),
            O::I64x2ExtMulLowI32x4U => self.ext_mul(I32X4, false, false),
            O::I64x2ExtMulHighI32x4U => self.ext_mul(I32X4, true, false),
            O::I32x4DotI16x8S => {
                let (x, y) = self.pop2_as(I16X8);
                let r = self.dot(x, y);
                self.push_v128(r);
            }
            O::I16x8RelaxedDotI8x16I7x16S => {
                let (x, y) = self.pop2_as(I8X16);
                let r = self.dot(x, y);
                self.push_v128(r);
            }
            O::I32x4RelaxedDotI8x16I7x16AddS => {
                let acc = self.pop_as(I32X4);
                let (x, y) = self.pop2_as(I8X16);
                let d16 = self.dot(x, y);
                let lo = self.b.ins().swiden_low(d16);
                let hi = self.b.ins().swiden_high(d16);
                let d32 = self.b.ins().iadd_pairwise(lo, hi);
                let r = self.b.ins().iadd(d32, acc);
                self.push_v128(r);
            }

            O::F32x4Ceil => self.v_unary(F32X4, |b, x| b.ins().ceil(x)),
            O::F32x4Floor => self.v_unary(F32X4, |b, x| b.ins().floor(x)),
            O::F32x4Trunc => self.v_unary(F32X4, |b, x| b.ins().trunc(x)),
            O::F32x4Nearest => self.v_unary(F32X4, |b, x| b.ins().nearest(x)),
            O::F32x4Abs => self.v_unary(F32X4, |b, x| b.ins().fabs(x)),
            O::F32x4Neg => self.v_unary(F32X4, |b, x| b.ins().fneg(x)),
            O::F32x4Sqrt => self.v_unary(F32X4, |b, x| b.ins().sqrt(x)),
            O::F32x4Add => self.v_binary(F32X4, |b, x, y| b.ins().fadd(x, y)),
            O::F32x4Sub => self.v_binary(F32X4, |b, x, y| b.ins().fsub(x, y)),
            O::F32x4Mul => self.v_binary(F32X4, |b, x, y| b.ins().fmul(x, y)),
            O::F32x4Div => self.v_binary(F32X4, |b, x, y| b.ins().fdiv(x, y)),
            O::F32x4Min | O::F32x4RelaxedMin => self.v_binary(F32X4, |b, x, y| b.ins().fmin(x, y)),
            O::F32x4Max | O::F32x4RelaxedMax => self.v_binary(F32X4, |b, x, y| b.ins().fmax(x, y)),
            O::F32x4PMin => self.pseudo_min_max(F32X4, false),
            O::F32x4PMax => self.pseudo_min_max(F32X4, true),
            O::F64x2Ceil => self.v_unary(F64X2, |b, x| b.ins().ceil(x)),
            O::F64x2Floor => self.v_unary(F64X2, |b, x| b.ins().floor(x)),
            O::F64x2Trunc => self.v_unary(F64X2, |b, x| b.ins().trunc(x)),
            O::F64x2Nearest => self.v_unary(F64X2, |b, x| b.ins().nearest(x)),
            O::F64x2Abs => self.v_unary(F64X2, |b, x| b.ins().fabs(x)),
            O::F64x2Neg => self.v_unary(F64X2, |b, x| b.ins().fneg(x)),
            O::F64x2Sqrt => self.v_unary(F64X2, |b, x| b.ins().sqrt(x)),
            O::F64x2Add => self.v_binary(F64X2, |b, x, y| b.ins().fadd(x, y)),
            O::F64x2Sub => self.v_binary(F64X2, |b, x, y| b.ins().fsub(x, y)),
            O::F64x2Mul => self.v_binary(F64X2, |b, x, y| b.ins().fmul(x, y)),
            O::F64x2Div => self.v_binary(F64X2, |b, x, y| b.ins().fdiv(x, y)),
            O::F64x2Min | O::F64x2RelaxedMin => self.v_binary(F64X2, |b, x, y| b.ins().fmin(x, y)),
            O::F64x2Max | O::F64x2RelaxedMax => self.v_binary(F64X2, |b, x, y| b.ins().fmax(x, y)),
            O::F64x2PMin => self.pseudo_min_max(F64X2, false),
            O::F64x2PMax => self.pseudo_min_max(F64X2, true),
            O::F32x4RelaxedMadd | O::F64x2RelaxedMadd | O::F32x4RelaxedNmadd | O::F64x2RelaxedNmadd => {
                let ty = if matches!(op, O::F32x4RelaxedMadd | O::F32x4RelaxedNmadd) { F32X4 } else { F64X2 };
                let c = self.pop_as(ty);
                let (x, y) = self.pop2_as(ty);
                let x = if matches!(op, O::F32x4RelaxedNmadd | O::F64x2RelaxedNmadd) { self.b.ins().fneg(x) } else { x };
                let r = self.b.ins().fma(x, y, c);
                self.push_v128(r);
            }

            O::I32x4TruncSatF32x4S | O::I32x4RelaxedTruncF32x4S => self.v_unary(F32X4, |b, x| b.ins().fcvt_to_sint_sat(I32X4, x)),
            O::I32x4TruncSatF32x4U | O::I32x4RelaxedTruncF32x4U => self.v_unary(F32X4, |b, x| b.ins().fcvt_to_uint_sat(I32X4, x)),
            O::I32x4TruncSatF64x2SZero | O::I32x4RelaxedTruncF64x2SZero => self.trunc_sat_f64x2_zero(true),
            O::I32x4TruncSatF64x2UZero | O::I32x4RelaxedTruncF64x2UZero => self.trunc_sat_f64x2_zero(false),
            O::F32x4ConvertI32x4S => self.v_unary(I32X4, |b, x| b.ins().fcvt_from_sint(F32X4, x)),
            O::F32x4ConvertI32x4U => self.v_unary(I32X4, |b, x| b.ins().fcvt_from_uint(F32X4, x)),
            O::F64x2ConvertLowI32x4S => self.v_unary(I32X4, |b, x| {
                let wide = b.ins().swiden_low(x);
                b.ins().fcvt_from_sint(F64X2, wide)
            }),
            O::F64x2ConvertLowI32x4U => self.v_unary(I32X4, |b, x| {
                let wide = b.ins().uwiden_low(x);
                b.ins().fcvt_from_uint(F64X2, wide)
            }),
            O::F32x4DemoteF64x2Zero => self.v_unary(F64X2, |b, x| b.ins().fvdemote(x)),
            O::F64x2PromoteLowF32x4 => self.v_unary(F32X4, |b, x| b.ins().fvpromote_low(x)),
            _ => return Ok(false),
        }
        Ok(true)
    }
}

fn load_splat(b: &mut FunctionBuilder<'_>, flags: MemFlagsData, addr: Value, ty: Type) -> Value {
    let x = b.ins().load(ty.lane_type(), flags, addr, 0);
    b.ins().splat(ty, x)
}
