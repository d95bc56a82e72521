//! Constant expressions (global initialisers, segment offsets, element
//! items), decoded into a small stack-machine program the runtime evaluates
//! at instantiation.

use crate::{WasmError, WasmHeapType};

/// One operator of a constant expression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConstOp {
    I32Const(i32),
    I64Const(i64),
    F32Const(u32),
    F64Const(u64),
    V128Const(u128),
    RefNull(WasmHeapType),
    RefFunc(u32),
    GlobalGet(u32),
    I32Add,
    I32Sub,
    I32Mul,
    I64Add,
    I64Sub,
    I64Mul,
    RefI31,
    /// Module type index of the struct.
    StructNew(u32),
    StructNewDefault(u32),
    /// Module type index of the array.
    ArrayNew(u32),
    ArrayNewDefault(u32),
    /// Array type and element count.
    ArrayNewFixed(u32, u32),
    AnyConvertExtern,
    ExternConvertAny,
}

/// A validated constant expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConstExpr {
    pub ops: Box<[ConstOp]>,
}

impl ConstExpr {
    pub fn i32(v: i32) -> Self {
        ConstExpr { ops: Box::new([ConstOp::I32Const(v)]) }
    }

    /// Decodes a constant expression. Operators that are valid in constant
    /// expressions but not supported by Kiln are reported by name.
    pub fn from_wasmparser(
        expr: &wasmparser::ConstExpr<'_>,
        convert_heap: impl Fn(wasmparser::HeapType) -> WasmHeapType,
    ) -> Result<Self, WasmError> {
        use wasmparser::Operator as O;
        let mut ops = Vec::new();
        let mut reader = expr.get_operators_reader();
        while !reader.eof() {
            let offset = reader.original_position();
            let op = reader.read()?;
            ops.push(match op {
                O::I32Const { value } => ConstOp::I32Const(value),
                O::I64Const { value } => ConstOp::I64Const(value),
                O::F32Const { value } => ConstOp::F32Const(value.bits()),
                O::F64Const { value } => ConstOp::F64Const(value.bits()),
                O::V128Const { value } => ConstOp::V128Const(value.i128() as u128),
                O::RefNull { hty } => ConstOp::RefNull(convert_heap(hty)),
                O::RefFunc { function_index } => ConstOp::RefFunc(function_index),
                O::GlobalGet { global_index } => ConstOp::GlobalGet(global_index),
                O::I32Add => ConstOp::I32Add,
                O::I32Sub => ConstOp::I32Sub,
                O::I32Mul => ConstOp::I32Mul,
                O::I64Add => ConstOp::I64Add,
                O::I64Sub => ConstOp::I64Sub,
                O::I64Mul => ConstOp::I64Mul,
                O::RefI31 => ConstOp::RefI31,
                O::StructNew { struct_type_index } => ConstOp::StructNew(struct_type_index),
                O::StructNewDefault { struct_type_index } => ConstOp::StructNewDefault(struct_type_index),
                O::ArrayNew { array_type_index } => ConstOp::ArrayNew(array_type_index),
                O::ArrayNewDefault { array_type_index } => ConstOp::ArrayNewDefault(array_type_index),
                O::ArrayNewFixed { array_type_index, array_size } => ConstOp::ArrayNewFixed(array_type_index, array_size),
                O::AnyConvertExtern => ConstOp::AnyConvertExtern,
                O::ExternConvertAny => ConstOp::ExternConvertAny,
                O::End => break,
                other => {
                    return Err(WasmError::Unsupported {
                        what: format!("constant expression operator `{}`", crate::operator_name(&other)),
                        offset: offset as usize,
                    });
                }
            });
        }
        Ok(ConstExpr { ops: ops.into() })
    }
}
