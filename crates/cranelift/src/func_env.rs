//! What a function body's translation knows about its module and the VM:
//! types of values, signatures, and where things live in the VMContext.
//!
//! Every load of VM state goes through here so its `MemFlagsData` are decided in
//! one place: VM structures never trap (`notrap`), are aligned, and live in
//! the `Vmctx` alias region so Cranelift may reuse loads across Wasm memory
//! stores; slots that never change after instantiation are also `readonly`.

use cranelift_codegen::ir::{self, AbiParam, ArgumentPurpose, InstBuilder, MemFlagsData, Signature, Type, Value, types};
use cranelift_codegen::isa::CallConv;
use cranelift_frontend::FunctionBuilder;
use kiln_environ::{Builtin, BuiltinType, ModuleInfo, RefRepr, ValRepr, VMOffsets, WasmFuncType, WasmRefType, WasmValType};

/// How linear-memory accesses are bounds-checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BoundsChecks {
    /// 32-bit memories reserve 4 GiB plus a 4 GiB guard, so any
    /// `index + offset` lands in the reservation and faults if out of
    /// bounds: no check in code.
    GuardPages,
    /// Every access compares `index + offset + size` with the current
    /// length. Smaller reservations; memories may move when they grow.
    Explicit,
}

/// Code-generation choices that change what compiled code does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Tunables {
    pub bounds_checks: BoundsChecks,
    /// Check the engine's epoch against the store's deadline at function
    /// entry and loop headers, trapping with `Interrupt` once reached.
    pub epoch_interruption: bool,
    /// Charge one unit of the store's fuel per operator, trapping with
    /// `OutOfFuel` when it runs out.
    pub consume_fuel: bool,
    /// The engine's collector: which allocation fast paths and barriers
    /// compiled code contains (see `crate::gc`).
    pub collector: kiln_gc::Collector,
    /// Inline small functions into their callers within a module (see
    /// `crate::inline`); ignored at `OptLevel::None`.
    pub inlining: bool,
}

pub const POINTER: Type = types::I64;

/// Module-level facts the translator of each function needs.
pub struct FuncEnv<'m> {
    pub module: &'m ModuleInfo,
    pub offsets: VMOffsets,
    pub tunables: Tunables,
    /// The host's C calling convention, used to call builtins.
    pub host_call_conv: CallConv,
    pub frontend_config: cranelift_codegen::isa::TargetFrontendConfig,
}

/// Disjoint categories of memory for Cranelift's alias analysis.
#[derive(Clone, Copy)]
pub enum Region {
    Vmctx = 1,
    Heap = 2,
    Table = 3,
    GcHeap = 4,
    /// The GC's cursors in the store context (the bump allocation region,
    /// the barrier log and its buffer), which compiled code writes often:
    /// apart from the rest of the VM state, so such a write does not make
    /// Cranelift reload the heap's bound or the other VM fields after it.
    GcCursors = 5,
    /// Array lengths, written once when an array is allocated and never
    /// after: apart from the rest of the GC heap, so a store into an
    /// array's elements does not make Cranelift reload its length.
    GcArrayLengths = 6,
    /// The generational collector's card table, which compiled code only
    /// writes (the write barrier's marks): apart from everything else, so
    /// a mark does not make Cranelift reload anything.
    GcCards = 7,
}

/// The function-local alias region for `r`.
pub fn region(b: &mut FunctionBuilder, r: Region) -> Option<ir::AliasRegion> {
    let description = match r {
        Region::Vmctx => "vmctx",
        Region::Heap => "heap",
        Region::Table => "table",
        Region::GcHeap => "gc heap",
        Region::GcCursors => "gc cursors",
        Region::GcArrayLengths => "gc array lengths",
        Region::GcCards => "gc cards",
    };
    Some(b.func.dfg.alias_regions.insert(ir::AliasRegionData { user_id: r as u32, description: description.into() }))
}

/// The memory flags a function's translation uses, created once per
/// function because alias regions belong to the function.
#[derive(Clone, Copy)]
pub struct Flags {
    /// VM state that may change while Wasm runs.
    pub vm: MemFlagsData,
    /// VM slots fixed at instantiation.
    pub vm_readonly: MemFlagsData,
    /// VM slots fixed at instantiation, at addresses always valid.
    pub vm_fixed: MemFlagsData,
    /// Wasm linear memory: may trap (out of bounds), little-endian.
    pub heap: MemFlagsData,
    /// Table elements (always bounds-checked before access).
    pub table: MemFlagsData,
    /// GC objects: may fault only on a corrupted reference, which lands in
    /// the heap reservation's guard region.
    pub gc: MemFlagsData,
    /// The GC's cursors (`Region::GcCursors`), only ever accessed with
    /// these flags by compiled code.
    pub gc_cursors: MemFlagsData,
    /// An array's length field (`Region::GcArrayLengths`), read and
    /// initialised with these flags only: like `gc` otherwise.
    pub gc_array_length: MemFlagsData,
    /// The side tables compiled code writes (`Region::GcCards`): the card
    /// table's bytes, the plain objects' start table.
    pub gc_cards: MemFlagsData,
}

impl Flags {
    pub fn new(b: &mut FunctionBuilder, heap_trap: ir::TrapCode) -> Self {
        let heap_region = region(b, Region::Heap);
        let table_region = region(b, Region::Table);
        let gc_region = region(b, Region::GcHeap);
        let cursors_region = region(b, Region::GcCursors);
        let lengths_region = region(b, Region::GcArrayLengths);
        let gc = MemFlagsData::new()
            .with_endianness(ir::Endianness::Little)
            .with_alias_region(gc_region)
            .with_trap_code(Some(heap_trap));
        Flags {
            vm: vm_flags(b),
            vm_readonly: vm_readonly_flags(b),
            vm_fixed: vm_fixed_flags(b),
            heap: MemFlagsData::new()
                .with_endianness(ir::Endianness::Little)
                .with_alias_region(heap_region)
                .with_trap_code(Some(heap_trap)),
            table: MemFlagsData::trusted().with_alias_region(table_region),
            gc,
            gc_cursors: MemFlagsData::trusted().with_alias_region(cursors_region),
            gc_array_length: gc.with_alias_region(lengths_region),
            // Created last, so that adding it renumbered no other region
            // in the CLIF snapshots.
            gc_cards: MemFlagsData::trusted().with_alias_region(region(b, Region::GcCards)),
        }
    }
}

/// Flags for loads of VM state that may change while Wasm runs.
pub fn vm_flags(b: &mut FunctionBuilder) -> MemFlagsData {
    MemFlagsData::trusted().with_alias_region(region(b, Region::Vmctx))
}

/// Flags for VM slots fixed at instantiation.
pub fn vm_readonly_flags(b: &mut FunctionBuilder) -> MemFlagsData {
    vm_flags(b).with_readonly()
}

/// Flags for VM slots fixed at instantiation whose address is valid
/// wherever the function runs (fields of its own vmctx and store context,
/// and arrays they point to, indexed within bounds by construction):
/// Cranelift may hoist such loads out of loops and merge them.
pub fn vm_fixed_flags(b: &mut FunctionBuilder) -> MemFlagsData {
    vm_readonly_flags(b).with_can_move()
}

impl<'m> FuncEnv<'m> {
    pub fn new(module: &'m ModuleInfo, tunables: Tunables, host_call_conv: CallConv, frontend_config: cranelift_codegen::isa::TargetFrontendConfig) -> Self {
        FuncEnv { module, offsets: VMOffsets::new(module), tunables, host_call_conv, frontend_config }
    }

    pub fn ref_repr(&self, r: WasmRefType) -> RefRepr {
        self.module.ref_repr(r)
    }

    /// Does a value of type `t` point into the GC heap? References of the
    /// any, extern and exn hierarchies do (an i31 is skipped by collectors
    /// at run time); funcrefs do not.
    pub fn is_gc_heap_ref(&self, t: WasmValType) -> bool {
        t.is_gc_heap_ref(self.module)
    }

    pub fn clif_type(&self, t: WasmValType) -> Type {
        clif_type_of(self.module.val_repr(t))
    }

    /// The signature of a Wasm function: `(callee_vmctx, caller_vmctx, params...) -> results`.
    pub fn wasm_signature(&self, ty: &WasmFuncType) -> Signature {
        let mut sig = Signature::new(CallConv::Tail);
        sig.params.push(AbiParam::special(POINTER, ArgumentPurpose::VMContext));
        sig.params.push(AbiParam::new(POINTER));
        sig.params.extend(ty.params.iter().map(|t| AbiParam::new(self.clif_type(*t))));
        sig.returns.extend(ty.results.iter().map(|t| AbiParam::new(self.clif_type(*t))));
        sig
    }

    /// Loads the pointer in vmctx slot `offset` (fixed at instantiation).
    pub fn load_vmctx_ptr(&self, b: &mut FunctionBuilder, vmctx: Value, offset: u32) -> Value {
        let flags = vm_fixed_flags(b);
        b.ins().load(POINTER, flags, vmctx, offset as i32)
    }

    /// Calls builtin `f` with `args` (the vmctx is prepended), returning its result.
    pub fn call_builtin(&self, b: &mut FunctionBuilder, vmctx: Value, f: Builtin, args: &[Value]) -> Option<Value> {
        // Not `can_move`: most builtin calls are slow paths, and a callee
        // hoisted out of a loop holds a register across it (or is spilled
        // and reloaded on the fast path) for a call that rarely happens.
        let flags = vm_readonly_flags(b);
        let table = b.ins().load(POINTER, flags, vmctx, kiln_environ::vmoffsets::VMCTX_BUILTINS_OFFSET as i32);
        let callee = b.ins().load(POINTER, flags, table, (f.index() * 8) as i32);
        let mut all = Vec::with_capacity(args.len() + 1);
        all.push(vmctx);
        all.extend_from_slice(args);
        if f.has_exit_trampoline() {
            let sig = b.import_signature(exit_trampoline_signature(f));
            b.ins().call_indirect(sig, callee, &all);
            let store_ctx = self.load_vmctx_ptr(b, vmctx, kiln_environ::vmoffsets::VMCTX_STORE_CONTEXT_OFFSET);
            let flags = vm_flags(b);
            let result = b.ins().load(types::I32, flags, store_ctx, kiln_environ::vmoffsets::store_context::BUILTIN_RESULT as i32);
            return Some(result);
        }
        let sig = b.import_signature(builtin_signature(f, self.host_call_conv));
        let call = b.ins().call_indirect(sig, callee, &all);
        b.inst_results(call).first().copied()
    }
}

pub fn clif_type_of(r: ValRepr) -> Type {
    match r {
        ValRepr::I32 | ValRepr::GcRef => types::I32,
        ValRepr::I64 => types::I64,
        ValRepr::F32 => types::F32,
        ValRepr::F64 => types::F64,
        ValRepr::V128 => types::I8X16,
        ValRepr::FuncRef => POINTER,
    }
}

pub fn repr_type(r: RefRepr) -> Type {
    match r {
        RefRepr::FuncRef => POINTER,
        RefRepr::GcRef => types::I32,
    }
}

/// Builtins are Rust `extern "C"` functions: the host's C calling convention.
pub fn builtin_signature(f: Builtin, host_call_conv: CallConv) -> Signature {
    let mut sig = Signature::new(host_call_conv);
    sig.params.push(AbiParam::new(POINTER));
    sig.params.extend(f.params().iter().map(|t| AbiParam::new(builtin_type(*t))));
    sig.returns.extend(f.result().map(|t| AbiParam::new(builtin_type(t))));
    sig
}

/// How compiled code calls an exit trampoline (`Builtin::has_exit_trampoline`):
/// the builtin's parameters, every register preserved, and no result (it
/// is left in `store_context::BUILTIN_RESULT`).
pub fn exit_trampoline_signature(f: Builtin) -> Signature {
    debug_assert_eq!(f.result(), Some(BuiltinType::I32), "exit trampolines return their I32 result through the store context");
    let mut sig = builtin_signature(f, CallConv::PreserveAll);
    sig.returns.clear();
    sig
}

fn builtin_type(t: BuiltinType) -> Type {
    match t {
        BuiltinType::I8 => types::I8,
        BuiltinType::I32 => types::I32,
        BuiltinType::I64 => types::I64,
        BuiltinType::Ptr => POINTER,
    }
}
