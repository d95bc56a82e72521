//! Tables: `table.get/set/size` inline, the rest through builtins.
//!
//! A table's elements are stored as their machine representation:
//! pointer-sized `VMFuncRef` pointers for function tables, 32-bit
//! references otherwise. `table.get`/`table.set` check the index against
//! the current length (tables move when they grow, so the base and length
//! are reloaded on every access).

use super::{FuncTranslator, trap_code};
use crate::CompileError;
use crate::func_env::{POINTER, repr_type};
use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{InstBuilder, Value, types::*};
use kiln_environ::vmoffsets::table as tabledef;
use kiln_environ::{Builtin, RefRepr, Trap};
use wasmparser::Operator;

impl FuncTranslator<'_, '_> {
    /// Handles table operators; returns false for any other operator.
    pub(super) fn table_operator(&mut self, op: &Operator<'_>) -> Result<bool, CompileError> {
        use Operator as O;
        match *op {
            O::TableGet { table } => {
                let index = self.pop();
                let v = self.table_get(table, index);
                let elem = kiln_environ::WasmValType::Ref(self.env.module.tables[table as usize].ty.element);
                self.declare_if_gc_ref(elem, v);
                self.push(v);
            }
            O::TableSet { table } => {
                let (index, value) = self.pop2();
                let addr = self.table_element_address(table, index);
                let flags = self.flags.table;
                match self.table_repr(table) {
                    RefRepr::GcRef => {
                        let (gc, held) = (self.gc, self.table_facts(table));
                        gc.store_gc_ref(self, flags, crate::gc::RefSlot::Root, addr, value, held);
                    }
                    RefRepr::FuncRef => {
                        self.b.ins().store(flags, value, addr, 0);
                    }
                }
            }
            O::TableSize { table } => {
                let def = self.table_definition(table);
                let len = self.b.ins().load(POINTER, self.flags.vm, def, tabledef::CURRENT_ELEMENTS as i32);
                let v = self.from_table_index64(table, len);
                self.push(v);
            }
            O::TableGrow { table } => {
                let (init, delta) = self.pop2();
                let delta = self.to_table_index64(table, delta);
                let init = self.ref_to_i64(init);
                let t = self.b.ins().iconst(I32, table as i64);
                let old = self.env.call_builtin(&mut self.b, self.vmctx, Builtin::table_grow, &[t, delta, init]).unwrap();
                let v = self.from_table_index64(table, old);
                self.push(v);
            }
            O::TableFill { table } => {
                let (dst, value, len) = self.pop3();
                let dst = self.to_table_index64(table, dst);
                let len = self.to_table_index64(table, len);
                let value = self.ref_to_i64(value);
                let t = self.b.ins().iconst(I32, table as i64);
                self.checked_builtin(Builtin::table_fill, &[t, dst, value, len], Trap::TableOutOfBounds);
            }
            O::TableCopy { dst_table, src_table } => {
                let (dst, src, len) = self.pop3();
                let dst = self.to_table_index64(dst_table, dst);
                let src = self.to_table_index64(src_table, src);
                let len = if self.is_table64(dst_table) && self.is_table64(src_table) { len } else { self.b.ins().uextend(I64, len) };
                let d = self.b.ins().iconst(I32, dst_table as i64);
                let s = self.b.ins().iconst(I32, src_table as i64);
                self.checked_builtin(Builtin::table_copy, &[d, s, dst, src, len], Trap::TableOutOfBounds);
            }
            O::TableInit { elem_index, table } => {
                let (dst, src, len) = self.pop3();
                let dst = self.to_table_index64(table, dst);
                let t = self.b.ins().iconst(I32, table as i64);
                let e = self.b.ins().iconst(I32, elem_index as i64);
                self.checked_builtin(Builtin::table_init, &[t, e, dst, src, len], Trap::TableOutOfBounds);
            }
            O::ElemDrop { elem_index } => {
                let e = self.b.ins().iconst(I32, elem_index as i64);
                self.env.call_builtin(&mut self.b, self.vmctx, Builtin::elem_drop, &[e]);
            }
            _ => return Ok(false),
        }
        Ok(true)
    }


    fn is_table64(&self, table: u32) -> bool {
        self.env.module.tables[table as usize].ty.table64
    }

    fn to_table_index64(&mut self, table: u32, v: Value) -> Value {
        if self.is_table64(table) { v } else { self.b.ins().uextend(I64, v) }
    }

    fn from_table_index64(&mut self, table: u32, v: Value) -> Value {
        if self.is_table64(table) { v } else { self.b.ins().ireduce(I32, v) }
    }

    /// Builtins take every reference as an i64.
    fn ref_to_i64(&mut self, v: Value) -> Value {
        if self.b.func.dfg.value_type(v) == I64 { v } else { self.b.ins().uextend(I64, v) }
    }

    pub(super) fn table_repr(&self, table: u32) -> RefRepr {
        self.env.ref_repr(self.env.module.tables[table as usize].ty.element)
    }

    fn table_definition(&mut self, table: u32) -> Value {
        let offset = self.env.offsets.table_ptr(table);
        self.env.load_vmctx_ptr(&mut self.b, self.vmctx, offset)
    }

    /// Bounds-checks `index` and returns the address of its element.
    fn table_element_address(&mut self, table: u32, index: Value) -> Value {
        let def = self.table_definition(table);
        let index = self.to_table_index64(table, index);
        let len = self.b.ins().load(POINTER, self.flags.vm, def, tabledef::CURRENT_ELEMENTS as i32);
        let oob = self.b.ins().icmp(IntCC::UnsignedGreaterThanOrEqual, index, len);
        self.b.ins().trapnz(oob, trap_code(Trap::TableOutOfBounds));
        let base = self.b.ins().load(POINTER, self.flags.vm, def, tabledef::BASE as i32);
        let elem_size = repr_type(self.table_repr(table)).bytes() as i64;
        let scaled = self.b.ins().imul_imm_u(index, elem_size);
        self.b.ins().iadd(base, scaled)
    }

    /// What table `table`'s element type guarantees of its references.
    fn table_facts(&self, table: u32) -> super::RefFacts {
        self.facts_of_type(self.env.module.tables[table as usize].ty.element)
    }

    pub(super) fn table_get(&mut self, table: u32, index: Value) -> Value {
        let addr = self.table_element_address(table, index);
        let flags = self.flags.table;
        match self.table_repr(table) {
            RefRepr::GcRef => {
                let gc = self.gc;
                gc.load_gc_ref(self, flags, addr)
            }
            RefRepr::FuncRef => self.b.ins().load(POINTER, flags, addr, 0),
        }
    }
}
