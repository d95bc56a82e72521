//! Translation of one Wasm function body to CLIF.
//!
//! The translator walks the operators once, keeping the Wasm operand stack
//! as a stack of CLIF values and the Wasm control stack as [`ControlFrame`]s.
//! It relies on the body having been validated: type errors are impossible
//! here, so operand-stack underflow would be a translator bug.
//!
//! Code after an unconditional branch is unreachable; the translator skips
//! it, only counting nested block starts so it finds the matching `else` or
//! `end`. Every operator records its module offset as the CLIF source
//! location, which becomes the backtrace's module offset.

mod atomics;
mod budget;
mod call;
mod control;
mod exceptions;
mod gc;
mod legacy_exceptions;
mod memory;
mod moves;
mod numeric;
mod ref_facts;
pub(crate) use ref_facts::RefFacts;
mod refs;
mod simd;
mod table;

use crate::func_env::{Flags, FuncEnv, POINTER};
use crate::CompileError;
use cranelift_codegen::entity::packed_option::ReservedValue;
use cranelift_codegen::ir::{self, Block, InstBuilder, Type, Value, types};
use cranelift_frontend::{FunctionBuilder, Variable};
use kiln_environ::{Trap, WasmValType};
use std::collections::HashMap;
use wasmparser::{FunctionBody, Operator};

pub use control::ControlFrame;

/// Converts a Kiln trap to the Cranelift trap code compiled code raises.
pub fn trap_code(t: Trap) -> ir::TrapCode {
    ir::TrapCode::unwrap_user(t as u8)
}

/// Converts a trap code found in compiled code back to a Kiln trap.
pub fn trap_from_code(code: ir::TrapCode) -> Option<Trap> {
    Some(match code {
        ir::TrapCode::STACK_OVERFLOW => Trap::StackOverflow,
        ir::TrapCode::INTEGER_OVERFLOW => Trap::IntegerOverflow,
        ir::TrapCode::HEAP_OUT_OF_BOUNDS => Trap::MemoryOutOfBounds,
        ir::TrapCode::INTEGER_DIVISION_BY_ZERO => Trap::IntegerDivisionByZero,
        ir::TrapCode::BAD_CONVERSION_TO_INTEGER => Trap::BadConversionToInteger,
        other => return Trap::from_u8(other.as_raw().get()),
    })
}

pub struct FuncTranslator<'a, 'f> {
    pub(crate) env: &'a FuncEnv<'a>,
    pub(crate) b: FunctionBuilder<'f>,
    pub(crate) stack: Vec<Value>,
    pub(crate) control: Vec<ControlFrame>,
    pub(crate) locals: Vec<Variable>,
    /// The declared type of each local.
    pub(crate) local_types: Vec<WasmValType>,
    /// What the static types of reference values guarantee (`ref_facts`).
    pub(crate) ref_facts: HashMap<Value, ref_facts::RefFacts>,
    /// The result of each `ref.test`: the value tested and the type.
    pub(crate) ref_tests: HashMap<Value, (Value, kiln_environ::WasmRefType)>,
    pub(crate) reachable: bool,
    /// Nesting depth of blocks opened while unreachable.
    pub(crate) unreachable_depth: u32,
    pub(crate) vmctx: Value,
    pub(crate) func_refs: HashMap<u32, ir::FuncRef>,
    pub(crate) sig_refs: HashMap<u32, ir::SigRef>,
    pub(crate) flags: Flags,
    /// Operators translated since fuel was last charged.
    pub(crate) fuel_pending: i64,
    /// The engine's collector's code generation, picked once.
    pub(crate) gc: &'static dyn crate::gc::GcCompiler,
    pub(crate) facts: FunctionFacts,
    /// The function makes no call of any kind (a first translation showed
    /// it): the runtime cannot run while it does, so nothing it holds can
    /// be freed or moved under it. Set only for collectors whose read
    /// barrier guards references held across calls
    /// (`GcCompiler::read_barrier_guards_calls`).
    pub(crate) call_free: bool,
    /// References moving between struct fields (`moves.rs`).
    moves: moves::Moves,
    /// The function's result types, for `return_values`.
    results: &'a [WasmValType],
}

/// What translation learnt about a function that its callers' compilation
/// needs.
#[derive(Debug, Clone, Copy, Default)]
pub struct FunctionFacts {
    /// The function lets exceptions unwind out of it through the runtime
    /// (a `throw` or rethrow no `try_table` of its own catches), which
    /// starts the search for a handler at its caller's frame.
    pub unwinds_exceptions: bool,
    /// The function reads the GC heap's base (it touches or allocates GC
    /// objects). Such code treats the base as fixed, so the store must
    /// have its heap before the module's code runs (see
    /// `CodeMetadata::reads_gc_heap`).
    pub reads_gc_heap: bool,
}

impl<'a, 'f> FuncTranslator<'a, 'f> {
    /// Translates the body of function `func_index` into `b`'s function.
    /// `call_free` says the function is known to make no call (see the
    /// field's doc).
    pub fn translate(env: &'a FuncEnv<'a>, mut b: FunctionBuilder<'f>, func_index: u32, body: &FunctionBody<'_>, call_free: bool) -> Result<FunctionFacts, CompileError> {
        let flags = Flags::new(&mut b, trap_code(Trap::MemoryOutOfBounds));
        let mut t = FuncTranslator {
            env,
            b,
            stack: Vec::new(),
            control: Vec::new(),
            locals: Vec::new(),
            local_types: Vec::new(),
            ref_facts: HashMap::new(),
            ref_tests: HashMap::new(),
            reachable: true,
            unreachable_depth: 0,
            vmctx: Value::reserved_value(),
            func_refs: HashMap::new(),
            sig_refs: HashMap::new(),
            flags,
            fuel_pending: 0,
            gc: crate::gc::for_collector(env.tunables.collector),
            facts: FunctionFacts::default(),
            call_free,
            moves: moves::Moves::default(),
            results: &env.module.func_sig(func_index).results,
        };
        t.prologue(func_index, body)?;
        let mut reader = body.get_operators_reader()?;
        while !reader.eof() {
            let offset = reader.original_position();
            let op = reader.read()?;
            t.b.set_srcloc(ir::SourceLoc::new(offset as u32));
            t.operator(&op, offset as usize)?;
        }
        t.b.finalize(env.frontend_config);
        Ok(t.facts)
    }

    fn prologue(&mut self, func_index: u32, body: &FunctionBody<'_>) -> Result<(), CompileError> {
        let sig = self.env.module.func_sig(func_index).clone();
        let entry = self.b.create_block();
        self.b.append_block_params_for_function_params(entry);
        self.b.switch_to_block(entry);
        self.b.seal_block(entry);
        let params = self.b.block_params(entry).to_vec();
        self.vmctx = params[0];

        // The stack limit lives in the store context; the prologue Cranelift
        // emits compares SP against it and traps with STACK_OVERFLOW.
        let vmctx_gv = self.b.func.create_global_value(ir::GlobalValueData::VMContext);
        let readonly = self.b.func.dfg.mem_flags.insert(self.flags.vm_readonly).expect("few memory flags per function");
        let mutable = self.b.func.dfg.mem_flags.insert(self.flags.vm).expect("few memory flags per function");
        let store_ctx = self.b.func.create_global_value(ir::GlobalValueData::Load {
            base: vmctx_gv,
            offset: (kiln_environ::vmoffsets::VMCTX_STORE_CONTEXT_OFFSET as i32).into(),
            global_type: POINTER,
            flags: readonly,
        });
        let limit = self.b.func.create_global_value(ir::GlobalValueData::Load {
            base: store_ctx,
            offset: (kiln_environ::vmoffsets::store_context::STACK_LIMIT as i32).into(),
            global_type: POINTER,
            flags: mutable,
        });
        self.b.func.stack_limit = Some(limit);

        for (i, ty) in sig.params.iter().enumerate() {
            let var = self.declare_local(*ty);
            self.b.def_var(var, params[i + 2]);
        }
        let mut locals = body.get_locals_reader()?;
        for _ in 0..locals.get_count() {
            let (count, ty) = locals.read()?;
            let ty = self.env_val_type(ty);
            for _ in 0..count {
                let var = self.declare_local(ty);
                let zero = self.zero_value(ty);
                self.b.def_var(var, zero);
            }
        }

        let exit = self.b.create_block();
        for r in sig.results.iter() {
            let ty = self.env.clif_type(*r);
            self.b.append_block_param(exit, ty);
        }
        self.control.push(ControlFrame::function(exit, sig.results.len()));
        self.check_epoch();
        Ok(())
    }

    /// Converts a wasmparser value type found in a body (locals, block
    /// types). Concrete indices there are always module indices.
    pub(crate) fn env_val_type(&self, t: wasmparser::ValType) -> WasmValType {
        convert_val_type(t)
    }

    pub(crate) fn zero_value(&mut self, ty: WasmValType) -> Value {
        let clif = self.env.clif_type(ty);
        self.zero_of(clif)
    }

    pub(crate) fn zero_of(&mut self, clif: Type) -> Value {
        match clif {
            types::F32 => self.b.ins().f32const(0.0),
            types::F64 => self.b.ins().f64const(0.0),
            ty if ty.is_vector() => {
                let c = self.b.func.dfg.constants.insert(vec![0u8; ty.bytes() as usize].into());
                self.b.ins().vconst(ty, c)
            }
            ty => self.b.ins().iconst(ty, 0),
        }
    }

    pub(crate) fn pop(&mut self) -> Value {
        self.stack.pop().expect("operand stack underflow in validated code")
    }

    pub(crate) fn pop2(&mut self) -> (Value, Value) {
        let b = self.pop();
        let a = self.pop();
        (a, b)
    }

    pub(crate) fn pop3(&mut self) -> (Value, Value, Value) {
        let c = self.pop();
        let (a, b) = self.pop2();
        (a, b, c)
    }

    pub(crate) fn popn(&mut self, n: usize) -> Vec<Value> {
        let at = self.stack.len() - n;
        self.stack.split_off(at)
    }

    pub(crate) fn peekn(&self, n: usize) -> &[Value] {
        &self.stack[self.stack.len() - n..]
    }

    pub(crate) fn push(&mut self, v: Value) {
        self.stack.push(v);
    }

    /// Creates a block with one parameter per type.
    pub(crate) fn block_with_params(&mut self, tys: &[WasmValType]) -> Block {
        let block = self.b.create_block();
        for t in tys {
            let ty = self.env.clif_type(*t);
            let v = self.b.append_block_param(block, ty);
            self.declare_if_gc_ref(*t, v);
        }
        block
    }

    fn declare_local(&mut self, ty: WasmValType) -> Variable {
        let var = self.b.declare_var(self.env.clif_type(ty));
        if self.env.is_gc_heap_ref(ty) {
            self.b.declare_var_needs_stack_map(var);
        }
        self.locals.push(var);
        self.local_types.push(ty);
        var
    }

    /// GC references into the heap must be found by a collector wherever
    /// they are live across a call: Cranelift spills them to stack slots
    /// recorded in the call's stack map.
    pub(crate) fn declare_if_gc_ref(&mut self, ty: WasmValType, v: Value) {
        self.note_static_type(ty, v);
        if self.env.is_gc_heap_ref(ty) {
            self.b.declare_value_needs_stack_map(v);
        }
    }

    pub(crate) fn declare_all_if_gc_refs(&mut self, tys: &[WasmValType], values: &[Value]) {
        for (t, v) in tys.iter().zip(values) {
            self.declare_if_gc_ref(*t, *v);
        }
    }

    fn operator(&mut self, op: &Operator<'_>, offset: usize) -> Result<(), CompileError> {
        if !self.reachable {
            return self.unreachable_operator(op);
        }
        self.count_operator();
        self.moves_before_operator(op);
        if leaves_straight_line(op) {
            self.charge_fuel();
        }
        if self.control_operator(op)? {
            return Ok(());
        }
        if self.numeric_operator(op) {
            return Ok(());
        }
        if self.memory_operator(op)? {
            return Ok(());
        }
        if self.table_operator(op)? {
            return Ok(());
        }
        if self.refs_operator(op)? {
            return Ok(());
        }
        if self.call_operator(op)? {
            return Ok(());
        }
        if self.simd_operator(op)? {
            return Ok(());
        }
        if self.gc_operator(op)? {
            return Ok(());
        }
        if self.atomic_operator(op)? {
            return Ok(());
        }
        Err(CompileError::Unsupported { operator: kiln_environ::operator_name(op), offset })
    }
}

/// Operators after which control may not continue to the next operator:
/// fuel counted so far is charged before them.
fn leaves_straight_line(op: &Operator<'_>) -> bool {
    use Operator as O;
    matches!(
        op,
        O::Block { .. }
            | O::Loop { .. }
            | O::If { .. }
            | O::Else
            | O::End
            | O::Br { .. }
            | O::BrIf { .. }
            | O::BrTable { .. }
            | O::BrOnNull { .. }
            | O::BrOnNonNull { .. }
            | O::Return
            | O::Call { .. }
            | O::CallIndirect { .. }
            | O::CallRef { .. }
            | O::ReturnCall { .. }
            | O::ReturnCallIndirect { .. }
            | O::ReturnCallRef { .. }
            | O::TryTable { .. }
            | O::Try { .. }
            | O::Catch { .. }
            | O::CatchAll
            | O::Delegate { .. }
            | O::Rethrow { .. }
            | O::Throw { .. }
            | O::ThrowRef
    )
}

pub fn convert_val_type(t: wasmparser::ValType) -> WasmValType {
    match t {
        wasmparser::ValType::I32 => WasmValType::I32,
        wasmparser::ValType::I64 => WasmValType::I64,
        wasmparser::ValType::F32 => WasmValType::F32,
        wasmparser::ValType::F64 => WasmValType::F64,
        wasmparser::ValType::V128 => WasmValType::V128,
        wasmparser::ValType::Ref(r) => WasmValType::Ref(convert_ref_type(r)),
    }
}

pub fn convert_ref_type(r: wasmparser::RefType) -> kiln_environ::WasmRefType {
    kiln_environ::WasmRefType { nullable: r.is_nullable(), heap: convert_heap_type(r.heap_type()) }
}

pub fn convert_heap_type(h: wasmparser::HeapType) -> kiln_environ::WasmHeapType {
    use kiln_environ::WasmHeapType as H;
    use wasmparser::AbstractHeapType as A;
    match h {
        wasmparser::HeapType::Abstract { ty, .. } => match ty {
            A::Func => H::Func,
            A::Extern => H::Extern,
            A::Any => H::Any,
            A::None => H::None,
            A::NoExtern => H::NoExtern,
            A::NoFunc => H::NoFunc,
            A::Eq => H::Eq,
            A::Struct => H::Struct,
            A::Array => H::Array,
            A::I31 => H::I31,
            A::Exn => H::Exn,
            A::NoExn => H::NoExn,
            A::Cont | A::NoCont => unreachable!("stack-switching types are not enabled"),
        },
        wasmparser::HeapType::Concrete(i) | wasmparser::HeapType::Exact(i) => {
            H::Concrete(i.as_module_index().expect("function bodies use module type indices"))
        }
    }
}
