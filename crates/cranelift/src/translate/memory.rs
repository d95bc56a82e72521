//! Linear memory: loads, stores, `memory.size`/`grow` and bulk memory.
//!
//! An access computes `base + index + offset`. With guard pages (32-bit
//! memories only) the reservation covers every such address, so an
//! out-of-bounds access faults and the fault becomes a trap through the
//! trap table. Otherwise the translator compares `index + offset + size`
//! with the current length first. The base is reloaded for every access:
//! with explicit checks a memory may move when it grows, and a call may
//! grow it.

use super::{FuncTranslator, trap_code};
use crate::CompileError;
use crate::func_env::{BoundsChecks, POINTER};
use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{self, InstBuilder, MemFlagsData, Type, Value, types::*};
use kiln_environ::vmoffsets::memory as memdef;
use kiln_environ::{Builtin, Trap};
use wasmparser::{MemArg, Operator};

impl FuncTranslator<'_, '_> {
    /// Handles memory operators; returns false for any other operator.
    pub(super) fn memory_operator(&mut self, op: &Operator<'_>) -> Result<bool, CompileError> {
        use Operator as O;
        match *op {
            O::I32Load { memarg } => self.load(memarg, I32, 4, |b, f, a| b.ins().load(I32, f, a, 0))?,
            O::I64Load { memarg } => self.load(memarg, I64, 8, |b, f, a| b.ins().load(I64, f, a, 0))?,
            O::F32Load { memarg } => self.load(memarg, F32, 4, |b, f, a| b.ins().load(F32, f, a, 0))?,
            O::F64Load { memarg } => self.load(memarg, F64, 8, |b, f, a| b.ins().load(F64, f, a, 0))?,
            O::I32Load8S { memarg } => self.load(memarg, I32, 1, |b, f, a| b.ins().sload8(I32, f, a, 0))?,
            O::I32Load8U { memarg } => self.load(memarg, I32, 1, |b, f, a| b.ins().uload8(I32, f, a, 0))?,
            O::I32Load16S { memarg } => self.load(memarg, I32, 2, |b, f, a| b.ins().sload16(I32, f, a, 0))?,
            O::I32Load16U { memarg } => self.load(memarg, I32, 2, |b, f, a| b.ins().uload16(I32, f, a, 0))?,
            O::I64Load8S { memarg } => self.load(memarg, I64, 1, |b, f, a| b.ins().sload8(I64, f, a, 0))?,
            O::I64Load8U { memarg } => self.load(memarg, I64, 1, |b, f, a| b.ins().uload8(I64, f, a, 0))?,
            O::I64Load16S { memarg } => self.load(memarg, I64, 2, |b, f, a| b.ins().sload16(I64, f, a, 0))?,
            O::I64Load16U { memarg } => self.load(memarg, I64, 2, |b, f, a| b.ins().uload16(I64, f, a, 0))?,
            O::I64Load32S { memarg } => self.load(memarg, I64, 4, |b, f, a| b.ins().sload32(f, a, 0))?,
            O::I64Load32U { memarg } => self.load(memarg, I64, 4, |b, f, a| b.ins().uload32(f, a, 0))?,
            O::I32Store { memarg } | O::I64Store { memarg } | O::F32Store { memarg } | O::F64Store { memarg } => {
                let size = match op {
                    O::I32Store { .. } | O::F32Store { .. } => 4,
                    _ => 8,
                };
                self.store(memarg, size, |b, f, v, a| b.ins().store(f, v, a, 0))?
            }
            O::I32Store8 { memarg } | O::I64Store8 { memarg } => self.store(memarg, 1, |b, f, v, a| b.ins().istore8(f, v, a, 0))?,
            O::I32Store16 { memarg } | O::I64Store16 { memarg } => self.store(memarg, 2, |b, f, v, a| b.ins().istore16(f, v, a, 0))?,
            O::I64Store32 { memarg } => self.store(memarg, 4, |b, f, v, a| b.ins().istore32(f, v, a, 0))?,
            O::MemorySize { mem } => {
                let def = self.memory_definition(mem);
                let len = self.memory_length(mem, def);
                let log2 = self.env.module.memories[mem as usize].page_size_log2;
                let pages = self.b.ins().ushr_imm_u(len, log2 as i64);
                let v = self.from_index64(mem, pages);
                self.push(v);
            }
            O::MemoryGrow { mem } => {
                let delta = self.pop();
                let delta = self.to_index64(mem, delta);
                let mem_index = self.b.ins().iconst(I32, mem as i64);
                let old = self.env.call_builtin(&mut self.b, self.vmctx, Builtin::memory_grow, &[mem_index, delta]).unwrap();
                let v = self.from_index64(mem, old);
                self.push(v);
            }
            O::MemoryFill { mem } => {
                let (dst, val, len) = self.pop3();
                let dst = self.to_index64(mem, dst);
                let len = self.to_index64(mem, len);
                let mem_index = self.b.ins().iconst(I32, mem as i64);
                self.checked_builtin(Builtin::memory_fill, &[mem_index, dst, val, len], Trap::MemoryOutOfBounds);
            }
            O::MemoryCopy { dst_mem, src_mem } => {
                let (dst, src, len) = self.pop3();
                let dst = self.to_index64(dst_mem, dst);
                let src = self.to_index64(src_mem, src);
                // The length has the smaller of the two index types.
                let len = if self.is_memory64(dst_mem) && self.is_memory64(src_mem) { len } else { self.b.ins().uextend(I64, len) };
                let dst_index = self.b.ins().iconst(I32, dst_mem as i64);
                let src_index = self.b.ins().iconst(I32, src_mem as i64);
                self.checked_builtin(Builtin::memory_copy, &[dst_index, dst, src_index, src, len], Trap::MemoryOutOfBounds);
            }
            O::MemoryInit { data_index, mem } => {
                let (dst, src, len) = self.pop3();
                let dst = self.to_index64(mem, dst);
                let mem_index = self.b.ins().iconst(I32, mem as i64);
                let data = self.b.ins().iconst(I32, data_index as i64);
                self.checked_builtin(Builtin::memory_init, &[mem_index, data, dst, src, len], Trap::MemoryOutOfBounds);
            }
            O::DataDrop { data_index } => {
                let data = self.b.ins().iconst(I32, data_index as i64);
                self.env.call_builtin(&mut self.b, self.vmctx, Builtin::data_drop, &[data]);
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Calls a builtin that returns an ok flag and traps with `trap` when it is zero.
    pub(super) fn checked_builtin(&mut self, f: Builtin, args: &[Value], trap: Trap) {
        let ok = self.env.call_builtin(&mut self.b, self.vmctx, f, args).unwrap();
        self.b.ins().trapz(ok, trap_code(trap));
    }

    fn is_memory64(&self, mem: u32) -> bool {
        self.env.module.memories[mem as usize].memory64
    }

    /// Widens an address-typed operand to i64.
    fn to_index64(&mut self, mem: u32, v: Value) -> Value {
        if self.is_memory64(mem) { v } else { self.b.ins().uextend(I64, v) }
    }

    /// Narrows an i64 result to the memory's address type.
    fn from_index64(&mut self, mem: u32, v: Value) -> Value {
        if self.is_memory64(mem) { v } else { self.b.ins().ireduce(I32, v) }
    }

    /// Memory `mem`'s length in bytes, from its definition `def`. Another
    /// thread may grow a shared memory: its length is read atomically, so
    /// that Cranelift neither reuses an earlier read nor hoists it out of a
    /// loop (`memory.size` of a shared memory is a sequentially consistent
    /// read).
    fn memory_length(&mut self, mem: u32, def: Value) -> Value {
        if self.env.module.memories[mem as usize].shared {
            let at = self.b.ins().iadd_imm_u(def, i64::from(memdef::CURRENT_LENGTH));
            self.b.ins().atomic_load(POINTER, self.flags.vm, at)
        } else {
            self.b.ins().load(POINTER, self.flags.vm, def, memdef::CURRENT_LENGTH as i32)
        }
    }

    fn memory_definition(&mut self, mem: u32) -> Value {
        let offset = self.env.offsets.memory_ptr(mem);
        self.env.load_vmctx_ptr(&mut self.b, self.vmctx, offset)
    }


    /// The native address of `index + offset` in memory `mem`, bounds
    /// checked for an access of `size` bytes.
    pub(super) fn heap_address(&mut self, mem: u32, index: Value, offset: u64, size: u32) -> Value {
        // Guard pages cover a memory whose length is a whole number of
        // 64 KiB pages and whose index cannot reach past the reservation;
        // others (64-bit indices, smaller custom pages) are checked.
        let small_pages = self.env.module.memories[mem as usize].page_size_log2 < 16;
        let explicit = self.is_memory64(mem) || small_pages || self.env.tunables.bounds_checks == BoundsChecks::Explicit;
        if explicit {
            self.check_bounds(mem, index, offset, size);
        }
        self.native_address(mem, index, offset)
    }

    /// The native address of `index + offset` in memory `mem`, unchecked:
    /// for a caller that checked the bounds (or relies on guard pages).
    pub(super) fn native_address(&mut self, mem: u32, index: Value, offset: u64) -> Value {
        let def = self.memory_definition(mem);
        let index = self.to_index64(mem, index);
        let base = self.b.ins().load(POINTER, self.flags.vm, def, memdef::BASE as i32);
        let addr = self.b.ins().iadd(base, index);
        if offset == 0 { addr } else { self.b.ins().iadd_imm_u(addr, offset as i64) }
    }

    /// Traps with `trap`, unconditionally; translation goes on in a fresh
    /// unreachable block, so the caller's instructions have somewhere to
    /// go.
    pub(super) fn trap_and_continue(&mut self, trap: Trap) {
        self.b.ins().trap(trap_code(trap));
        let dead = self.b.create_block();
        self.b.switch_to_block(dead);
        self.b.seal_block(dead);
    }

    /// Traps unless `[index + offset, index + offset + size)` lies in
    /// memory `mem`'s current length.
    pub(super) fn check_bounds(&mut self, mem: u32, index: Value, offset: u64, size: u32) {
        let def = self.memory_definition(mem);
        let memory64 = self.is_memory64(mem);
        let index = self.to_index64(mem, index);
        let len = self.memory_length(mem, def);
        match offset.checked_add(size as u64) {
            Some(end_offset) => {
                let end_offset = self.b.ins().iconst(I64, end_offset as i64);
                let end = if memory64 {
                    self.b.ins().uadd_overflow_trap(index, end_offset, trap_code(Trap::MemoryOutOfBounds))
                } else {
                    // A 32-bit index plus a 32-bit offset cannot overflow 64 bits.
                    self.b.ins().iadd(index, end_offset)
                };
                let oob = self.b.ins().icmp(IntCC::UnsignedGreaterThan, end, len);
                self.b.ins().trapnz(oob, trap_code(Trap::MemoryOutOfBounds));
            }
            None => self.trap_and_continue(Trap::MemoryOutOfBounds),
        }
    }

    fn load(&mut self, memarg: MemArg, _ty: Type, size: u32, f: impl FnOnce(&mut cranelift_frontend::FunctionBuilder<'_>, MemFlagsData, Value) -> Value) -> Result<(), CompileError> {
        let memory = memarg_memory(&memarg)?;
        let index = self.pop();
        let addr = self.heap_address(memory, index, memarg.offset, size);
        let v = f(&mut self.b, self.flags.heap, addr);
        self.push(v);
        Ok(())
    }

    fn store(&mut self, memarg: MemArg, size: u32, f: impl FnOnce(&mut cranelift_frontend::FunctionBuilder<'_>, MemFlagsData, Value, Value) -> ir::Inst) -> Result<(), CompileError> {
        let memory = memarg_memory(&memarg)?;
        let (index, value) = self.pop2();
        let addr = self.heap_address(memory, index, memarg.offset, size);
        f(&mut self.b, self.flags.heap, value, addr);
        Ok(())
    }
}

/// The linear memory a memory instruction accesses.
pub(super) fn memarg_memory(memarg: &MemArg) -> Result<u32, CompileError> {
    match memarg.target {
        wasmparser::MemArgTarget::Memory(m) => Ok(m),
        wasmparser::MemArgTarget::Array(_) => Err(CompileError::Unsupported { operator: "memory access to a GC array".into(), offset: 0 }),
    }
}
