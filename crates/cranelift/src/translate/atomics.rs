//! The threads proposal's atomic memory instructions: loads, stores,
//! read-modify-writes, compare-exchanges and `atomic.fence`, sequentially
//! consistent (Cranelift's atomic instructions are).
//!
//! An atomic access must be naturally aligned: a misaligned one traps
//! (`unaligned atomic`), after the bounds check the spec orders first,
//! which the misaligned (cold) path makes explicitly so that guard-page
//! memories trap the same way. They use an ordinary access's flags (a
//! guard-page fault traps as out of bounds). Narrow accesses (8, 16, 32 bits of an i32
//! or i64) zero-extend what they read and wrap what they write.
//!
//! `memory.atomic.wait32/64` and `memory.atomic.notify` check bounds and
//! alignment inline, always explicitly (they access nothing a guard page
//! could catch), then call builtins that block on, or wake, the waiter
//! queue of that native address (`kiln::vm::parking`). Whether the memory
//! is shared is known from its type: a wait on an unshared memory traps
//! (nothing could ever notify it), a notify there wakes nobody.

use super::{FuncTranslator, trap_code};
use crate::CompileError;
use cranelift_codegen::ir::types::{I8, I16, I32, I64};
use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{AtomicRmwOp, InstBuilder, Type, Value};
use kiln_environ::{Builtin, Trap, WAIT_INTERRUPTED};
use wasmparser::{MemArg, Operator};

impl FuncTranslator<'_, '_> {
    /// Handles atomic operators; returns false for any other operator.
    pub(super) fn atomic_operator(&mut self, op: &Operator<'_>) -> Result<bool, CompileError> {
        use AtomicRmwOp as R;
        use Operator as O;
        match *op {
            O::AtomicFence { .. } => {
                self.b.ins().fence();
            }
            O::I32AtomicLoad { memarg } => self.atomic_load(memarg, I32, I32)?,
            O::I64AtomicLoad { memarg } => self.atomic_load(memarg, I64, I64)?,
            O::I32AtomicLoad8U { memarg } => self.atomic_load(memarg, I32, I8)?,
            O::I32AtomicLoad16U { memarg } => self.atomic_load(memarg, I32, I16)?,
            O::I64AtomicLoad8U { memarg } => self.atomic_load(memarg, I64, I8)?,
            O::I64AtomicLoad16U { memarg } => self.atomic_load(memarg, I64, I16)?,
            O::I64AtomicLoad32U { memarg } => self.atomic_load(memarg, I64, I32)?,
            O::I32AtomicStore { memarg } => self.atomic_store(memarg, I32)?,
            O::I64AtomicStore { memarg } => self.atomic_store(memarg, I64)?,
            O::I32AtomicStore8 { memarg } | O::I64AtomicStore8 { memarg } => self.atomic_store(memarg, I8)?,
            O::I32AtomicStore16 { memarg } | O::I64AtomicStore16 { memarg } => self.atomic_store(memarg, I16)?,
            O::I64AtomicStore32 { memarg } => self.atomic_store(memarg, I32)?,

            O::I32AtomicRmwAdd { memarg } => self.atomic_rmw(memarg, I32, I32, R::Add)?,
            O::I64AtomicRmwAdd { memarg } => self.atomic_rmw(memarg, I64, I64, R::Add)?,
            O::I32AtomicRmw8AddU { memarg } => self.atomic_rmw(memarg, I32, I8, R::Add)?,
            O::I32AtomicRmw16AddU { memarg } => self.atomic_rmw(memarg, I32, I16, R::Add)?,
            O::I64AtomicRmw8AddU { memarg } => self.atomic_rmw(memarg, I64, I8, R::Add)?,
            O::I64AtomicRmw16AddU { memarg } => self.atomic_rmw(memarg, I64, I16, R::Add)?,
            O::I64AtomicRmw32AddU { memarg } => self.atomic_rmw(memarg, I64, I32, R::Add)?,
            O::I32AtomicRmwSub { memarg } => self.atomic_rmw(memarg, I32, I32, R::Sub)?,
            O::I64AtomicRmwSub { memarg } => self.atomic_rmw(memarg, I64, I64, R::Sub)?,
            O::I32AtomicRmw8SubU { memarg } => self.atomic_rmw(memarg, I32, I8, R::Sub)?,
            O::I32AtomicRmw16SubU { memarg } => self.atomic_rmw(memarg, I32, I16, R::Sub)?,
            O::I64AtomicRmw8SubU { memarg } => self.atomic_rmw(memarg, I64, I8, R::Sub)?,
            O::I64AtomicRmw16SubU { memarg } => self.atomic_rmw(memarg, I64, I16, R::Sub)?,
            O::I64AtomicRmw32SubU { memarg } => self.atomic_rmw(memarg, I64, I32, R::Sub)?,
            O::I32AtomicRmwAnd { memarg } => self.atomic_rmw(memarg, I32, I32, R::And)?,
            O::I64AtomicRmwAnd { memarg } => self.atomic_rmw(memarg, I64, I64, R::And)?,
            O::I32AtomicRmw8AndU { memarg } => self.atomic_rmw(memarg, I32, I8, R::And)?,
            O::I32AtomicRmw16AndU { memarg } => self.atomic_rmw(memarg, I32, I16, R::And)?,
            O::I64AtomicRmw8AndU { memarg } => self.atomic_rmw(memarg, I64, I8, R::And)?,
            O::I64AtomicRmw16AndU { memarg } => self.atomic_rmw(memarg, I64, I16, R::And)?,
            O::I64AtomicRmw32AndU { memarg } => self.atomic_rmw(memarg, I64, I32, R::And)?,
            O::I32AtomicRmwOr { memarg } => self.atomic_rmw(memarg, I32, I32, R::Or)?,
            O::I64AtomicRmwOr { memarg } => self.atomic_rmw(memarg, I64, I64, R::Or)?,
            O::I32AtomicRmw8OrU { memarg } => self.atomic_rmw(memarg, I32, I8, R::Or)?,
            O::I32AtomicRmw16OrU { memarg } => self.atomic_rmw(memarg, I32, I16, R::Or)?,
            O::I64AtomicRmw8OrU { memarg } => self.atomic_rmw(memarg, I64, I8, R::Or)?,
            O::I64AtomicRmw16OrU { memarg } => self.atomic_rmw(memarg, I64, I16, R::Or)?,
            O::I64AtomicRmw32OrU { memarg } => self.atomic_rmw(memarg, I64, I32, R::Or)?,
            O::I32AtomicRmwXor { memarg } => self.atomic_rmw(memarg, I32, I32, R::Xor)?,
            O::I64AtomicRmwXor { memarg } => self.atomic_rmw(memarg, I64, I64, R::Xor)?,
            O::I32AtomicRmw8XorU { memarg } => self.atomic_rmw(memarg, I32, I8, R::Xor)?,
            O::I32AtomicRmw16XorU { memarg } => self.atomic_rmw(memarg, I32, I16, R::Xor)?,
            O::I64AtomicRmw8XorU { memarg } => self.atomic_rmw(memarg, I64, I8, R::Xor)?,
            O::I64AtomicRmw16XorU { memarg } => self.atomic_rmw(memarg, I64, I16, R::Xor)?,
            O::I64AtomicRmw32XorU { memarg } => self.atomic_rmw(memarg, I64, I32, R::Xor)?,
            O::I32AtomicRmwXchg { memarg } => self.atomic_rmw(memarg, I32, I32, R::Xchg)?,
            O::I64AtomicRmwXchg { memarg } => self.atomic_rmw(memarg, I64, I64, R::Xchg)?,
            O::I32AtomicRmw8XchgU { memarg } => self.atomic_rmw(memarg, I32, I8, R::Xchg)?,
            O::I32AtomicRmw16XchgU { memarg } => self.atomic_rmw(memarg, I32, I16, R::Xchg)?,
            O::I64AtomicRmw8XchgU { memarg } => self.atomic_rmw(memarg, I64, I8, R::Xchg)?,
            O::I64AtomicRmw16XchgU { memarg } => self.atomic_rmw(memarg, I64, I16, R::Xchg)?,
            O::I64AtomicRmw32XchgU { memarg } => self.atomic_rmw(memarg, I64, I32, R::Xchg)?,

            O::I32AtomicRmwCmpxchg { memarg } => self.atomic_cmpxchg(memarg, I32, I32)?,
            O::I64AtomicRmwCmpxchg { memarg } => self.atomic_cmpxchg(memarg, I64, I64)?,
            O::I32AtomicRmw8CmpxchgU { memarg } => self.atomic_cmpxchg(memarg, I32, I8)?,
            O::I32AtomicRmw16CmpxchgU { memarg } => self.atomic_cmpxchg(memarg, I32, I16)?,
            O::I64AtomicRmw8CmpxchgU { memarg } => self.atomic_cmpxchg(memarg, I64, I8)?,
            O::I64AtomicRmw16CmpxchgU { memarg } => self.atomic_cmpxchg(memarg, I64, I16)?,
            O::I64AtomicRmw32CmpxchgU { memarg } => self.atomic_cmpxchg(memarg, I64, I32)?,

            O::MemoryAtomicWait32 { memarg } => self.atomic_wait(memarg, I32)?,
            O::MemoryAtomicWait64 { memarg } => self.atomic_wait(memarg, I64)?,
            O::MemoryAtomicNotify { memarg } => self.atomic_notify(memarg)?,
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// The native address of an atomic access of `size` bytes at `index`
    /// (bounds checked, then alignment checked).
    fn atomic_address(&mut self, memarg: &MemArg, index: Value, size: u32) -> Result<Value, CompileError> {
        let mem = super::memory::memarg_memory(memarg)?;
        let addr = self.heap_address(mem, index, memarg.offset, size);
        self.check_alignment(mem, memarg, index, addr, size);
        Ok(addr)
    }

    /// Traps `unaligned atomic` unless `addr`, the native address of
    /// `index` + `memarg.offset`, is aligned to `size`.
    fn check_alignment(&mut self, mem: u32, memarg: &MemArg, index: Value, addr: Value, size: u32) {
        if size == 1 {
            return;
        }
        // Memories are page-aligned: the native address is aligned exactly
        // when the effective address is.
        let misaligned_bits = self.b.ins().band_imm_u(addr, i64::from(size - 1));
        let misaligned = self.b.create_block();
        let aligned = self.b.create_block();
        self.b.ins().brif(misaligned_bits, misaligned, &[], aligned, &[]);
        self.b.seal_block(misaligned);
        self.b.seal_block(aligned);
        self.b.switch_to_block(misaligned);
        // The spec checks bounds first; guard pages would let a misaligned
        // access past the end trap as misaligned.
        self.check_bounds(mem, index, memarg.offset, size);
        self.b.ins().trap(trap_code(Trap::HeapMisaligned));
        self.b.switch_to_block(aligned);
    }

    fn atomic_load(&mut self, memarg: MemArg, ty: Type, access: Type) -> Result<(), CompileError> {
        let index = self.pop();
        let addr = self.atomic_address(&memarg, index, access.bytes())?;
        let v = self.b.ins().atomic_load(access, self.flags.heap, addr);
        let v = if access == ty { v } else { self.b.ins().uextend(ty, v) };
        self.push(v);
        Ok(())
    }

    fn atomic_store(&mut self, memarg: MemArg, access: Type) -> Result<(), CompileError> {
        let (index, value) = self.pop2();
        let addr = self.atomic_address(&memarg, index, access.bytes())?;
        let value = self.narrow(value, access);
        self.b.ins().atomic_store(self.flags.heap, value, addr);
        Ok(())
    }

    fn atomic_rmw(&mut self, memarg: MemArg, ty: Type, access: Type, op: AtomicRmwOp) -> Result<(), CompileError> {
        let (index, value) = self.pop2();
        let addr = self.atomic_address(&memarg, index, access.bytes())?;
        let value = self.narrow(value, access);
        let old = self.b.ins().atomic_rmw(access, self.flags.heap, op, addr, value);
        let old = if access == ty { old } else { self.b.ins().uextend(ty, old) };
        self.push(old);
        Ok(())
    }

    fn atomic_cmpxchg(&mut self, memarg: MemArg, ty: Type, access: Type) -> Result<(), CompileError> {
        let (expected, replacement) = self.pop2();
        let index = self.pop();
        let addr = self.atomic_address(&memarg, index, access.bytes())?;
        let (expected, replacement) = (self.narrow(expected, access), self.narrow(replacement, access));
        let old = self.b.ins().atomic_cas(self.flags.heap, addr, expected, replacement);
        let old = if access == ty { old } else { self.b.ins().uextend(ty, old) };
        self.push(old);
        Ok(())
    }

    /// The native address of the cell a wait or notify names: bounds
    /// checked explicitly (nothing is accessed here that a guard page could
    /// catch), then alignment.
    fn waiter_address(&mut self, memarg: &MemArg, index: Value, size: u32) -> Result<Value, CompileError> {
        let mem = super::memory::memarg_memory(memarg)?;
        self.check_bounds(mem, index, memarg.offset, size);
        let addr = self.native_address(mem, index, memarg.offset);
        self.check_alignment(mem, memarg, index, addr, size);
        Ok(addr)
    }

    fn is_shared(&self, memarg: &MemArg) -> Result<bool, CompileError> {
        let mem = super::memory::memarg_memory(memarg)?;
        Ok(self.env.module.memories[mem as usize].shared)
    }

    /// `memory.atomic.wait32/64` (`ty` is the expected value's type).
    fn atomic_wait(&mut self, memarg: MemArg, ty: Type) -> Result<(), CompileError> {
        let (expected, timeout) = self.pop2();
        let index = self.pop();
        let addr = self.waiter_address(&memarg, index, ty.bytes())?;
        if !self.is_shared(&memarg)? {
            self.trap_and_continue(Trap::AtomicWaitNonSharedMemory);
            let v = self.b.ins().iconst(I32, 0);
            self.push(v);
            return Ok(());
        }
        let f = if ty == I32 { Builtin::memory_atomic_wait32 } else { Builtin::memory_atomic_wait64 };
        let result = self.env.call_builtin(&mut self.b, self.vmctx, f, &[addr, expected, timeout]).unwrap();
        let interrupted = self.b.ins().icmp_imm_s(IntCC::Equal, result, i64::from(WAIT_INTERRUPTED));
        self.b.ins().trapnz(interrupted, trap_code(Trap::Interrupt));
        self.push(result);
        Ok(())
    }

    fn atomic_notify(&mut self, memarg: MemArg) -> Result<(), CompileError> {
        let (index, count) = self.pop2();
        let addr = self.waiter_address(&memarg, index, 4)?;
        let woken = if self.is_shared(&memarg)? {
            self.env.call_builtin(&mut self.b, self.vmctx, Builtin::memory_atomic_notify, &[addr, count]).unwrap()
        } else {
            self.b.ins().iconst(I32, 0)
        };
        self.push(woken);
        Ok(())
    }

    /// `value` wrapped to the access's width.
    fn narrow(&mut self, value: Value, access: Type) -> Value {
        if self.b.func.dfg.value_type(value) == access { value } else { self.b.ins().ireduce(access, value) }
    }
}
