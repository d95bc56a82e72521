//! Evaluation of constant expressions during instantiation.

use crate::vm::instance::Instance;
use crate::vm::ValRaw;
use anyhow::{Result, bail};
use kiln_environ::{ConstExpr, ConstOp};

/// Evaluates `expr` in the context of a partially initialised instance:
/// `global.get` reads globals already set, `ref.func` the instance's
/// function references.
pub fn eval(instance: &Instance, expr: &ConstExpr) -> Result<ValRaw> {
    let mut stack: Vec<ValRaw> = Vec::with_capacity(2);
    let pop = |stack: &mut Vec<ValRaw>| stack.pop().expect("validated constant expression");
    for op in expr.ops.iter() {
        let v = match *op {
            ConstOp::I32Const(v) => ValRaw::from_u32(v as u32),
            ConstOp::I64Const(v) => ValRaw::from_u64(v as u64),
            ConstOp::F32Const(v) => ValRaw::from_u32(v),
            ConstOp::F64Const(v) => ValRaw::from_u64(v),
            ConstOp::V128Const(v) => ValRaw::from_u128(v),
            ConstOp::RefNull(_) => ValRaw::from_u64(0),
            ConstOp::RefFunc(f) => ValRaw::from_u64(instance.func_ref(f) as u64),
            ConstOp::GlobalGet(g) => {
                let cell = instance.global(g);
                if cell.is_null() {
                    bail!("constant expression reads global {g} before it is initialised");
                }
                // SAFETY: non-null global slots point at cells owned by the store.
                unsafe { *cell }
            }
            ConstOp::I32Add | ConstOp::I32Sub | ConstOp::I32Mul => {
                let (b, a) = (pop(&mut stack).u32(), pop(&mut stack).u32());
                ValRaw::from_u32(match op {
                    ConstOp::I32Add => a.wrapping_add(b),
                    ConstOp::I32Sub => a.wrapping_sub(b),
                    _ => a.wrapping_mul(b),
                })
            }
            ConstOp::I64Add | ConstOp::I64Sub | ConstOp::I64Mul => {
                let (b, a) = (pop(&mut stack).u64(), pop(&mut stack).u64());
                ValRaw::from_u64(match op {
                    ConstOp::I64Add => a.wrapping_add(b),
                    ConstOp::I64Sub => a.wrapping_sub(b),
                    _ => a.wrapping_mul(b),
                })
            }
        };
        stack.push(v);
    }
    Ok(stack.pop().expect("validated constant expression yields a value"))
}
