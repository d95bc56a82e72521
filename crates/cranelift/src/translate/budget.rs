//! Fuel metering and epoch interruption: the two ways an embedder bounds
//! how long Wasm runs.
//!
//! Fuel: every translated operator costs one unit. Costs accumulate at
//! translation time and are charged to the store's fuel counter at function
//! entry, loop headers, and before anything that leaves straight-line code
//! (calls, branches, returns), so every cycle in the program pays for
//! itself. A charge that leaves the counter negative traps with
//! `OutOfFuel`.
//!
//! Epochs: at function entry and loop headers the engine's epoch is
//! compared with the store's deadline; reaching it traps with `Interrupt`.

use super::{FuncTranslator, trap_code};
use crate::func_env::POINTER;
use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{InstBuilder, MemFlagsData, Value, types::I64};
use kiln_environ::Trap;
use kiln_environ::vmoffsets::{VMCTX_STORE_CONTEXT_OFFSET, store_context};

impl FuncTranslator<'_, '_> {
    fn store_context(&mut self) -> Value {
        self.env.load_vmctx_ptr(&mut self.b, self.vmctx, VMCTX_STORE_CONTEXT_OFFSET)
    }

    /// Counts one operator against the fuel budget.
    pub(super) fn count_operator(&mut self) {
        if self.env.tunables.consume_fuel {
            self.fuel_pending += 1;
        }
    }

    /// Charges the fuel counted so far and traps if it ran out.
    pub(super) fn charge_fuel(&mut self) {
        if !self.env.tunables.consume_fuel || self.fuel_pending == 0 || !self.reachable {
            return;
        }
        let cost = std::mem::take(&mut self.fuel_pending);
        let ctx = self.store_context();
        let fuel = self.b.ins().load(I64, self.flags.vm, ctx, store_context::FUEL as i32);
        let cost = self.b.ins().iconst(I64, cost);
        let left = self.b.ins().isub(fuel, cost);
        self.b.ins().store(self.flags.vm, left, ctx, store_context::FUEL as i32);
        let out = self.b.ins().icmp_imm_s(IntCC::SignedLessThan, left, 0);
        self.b.ins().trapnz(out, trap_code(Trap::OutOfFuel));
    }

    /// Traps with `Interrupt` if the engine's epoch reached the deadline.
    pub(super) fn check_epoch(&mut self) {
        if !self.env.tunables.epoch_interruption {
            return;
        }
        let ctx = self.store_context();
        let epoch_ptr = self.b.ins().load(POINTER, self.flags.vm_fixed, ctx, store_context::EPOCH_PTR as i32);
        // Atomic, so Cranelift never reuses an earlier load: the epoch is
        // advanced by other threads.
        let epoch = self.b.ins().atomic_load(I64, MemFlagsData::trusted(), epoch_ptr);
        let deadline = self.b.ins().load(I64, self.flags.vm, ctx, store_context::EPOCH_DEADLINE as i32);
        let reached = self.b.ins().icmp(IntCC::UnsignedGreaterThanOrEqual, epoch, deadline);
        self.b.ins().trapnz(reached, trap_code(Trap::Interrupt));
    }
}
