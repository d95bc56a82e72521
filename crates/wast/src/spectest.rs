//! The `spectest` host module that spec scripts import from.
//!
//! Its contents are fixed by the spec's reference interpreter: the `print*`
//! functions, four immutable globals holding 666 / 666.6, a funcref table
//! (min 10, max 20) and a memory (1 page, max 2), with `-W threads` a shared
//! one (`shared_memory`, the same size), and the 64-bit `table64`. Every script gets a fresh
//! copy because each [`WastContext`](crate::WastContext) has its own store.

use anyhow::Result;
use kiln::{
    Extern, Global, GlobalType, HeapType, Linker, Memory, MemoryType, Mutability, RefType, SharedMemory, Store,
    Table, TableType, Val, ValType,
};

/// Where the `spectest.print*` functions write.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SpectestOutput {
    /// Print nothing: the default, so test output stays readable.
    #[default]
    Silent,
    /// Print each call to stdout, in the reference interpreter's
    /// `VALUE : TYPE` format.
    Stdout,
}

/// Defines every `spectest` export in `linker`, allocating the globals,
/// table and memory in `store`.
pub(crate) fn link(
    linker: &mut Linker<()>,
    store: &mut Store<()>,
    output: SpectestOutput,
) -> Result<()> {
    let show = output == SpectestOutput::Stdout;
    linker.func_wrap("spectest", "print", move || {
        if show {
            println!();
        }
    })?;
    linker.func_wrap("spectest", "print_i32", move |x: i32| {
        if show {
            println!("{x} : i32");
        }
    })?;
    linker.func_wrap("spectest", "print_i64", move |x: i64| {
        if show {
            println!("{x} : i64");
        }
    })?;
    linker.func_wrap("spectest", "print_f32", move |x: f32| {
        if show {
            println!("{x} : f32");
        }
    })?;
    linker.func_wrap("spectest", "print_f64", move |x: f64| {
        if show {
            println!("{x} : f64");
        }
    })?;
    linker.func_wrap("spectest", "print_i32_f32", move |x: i32, y: f32| {
        if show {
            println!("{x} : i32");
            println!("{y} : f32");
        }
    })?;
    linker.func_wrap("spectest", "print_f64_f64", move |x: f64, y: f64| {
        if show {
            println!("{x} : f64");
            println!("{y} : f64");
        }
    })?;

    let globals = [
        ("global_i32", ValType::I32, Val::I32(666)),
        ("global_i64", ValType::I64, Val::I64(666)),
        ("global_f32", ValType::F32, Val::F32(666.6f32.to_bits())),
        ("global_f64", ValType::F64, Val::F64(666.6f64.to_bits())),
    ];
    for (name, ty, value) in globals {
        let global = Global::new(&mut *store, GlobalType::new(ty, Mutability::Const), value)?;
        linker.define(&mut *store, "spectest", name, Extern::Global(global))?;
    }

    let table_ty = TableType::new(RefType::new(true, HeapType::Func), 10, Some(20));
    let table = Table::new(&mut *store, table_ty, Val::FuncRef(None))?;
    linker.define(&mut *store, "spectest", "table", Extern::Table(table))?;
    // The reference interpreter's 64-bit twin of `table`, which newer
    // scripts (`table64.wast` at the testsuite's head) import.
    let table64_ty = TableType::new64(RefType::new(true, HeapType::Func), 10, Some(20));
    let table64 = Table::new(&mut *store, table64_ty, Val::FuncRef(None))?;
    linker.define(&mut *store, "spectest", "table64", Extern::Table(table64))?;

    let memory = Memory::new(&mut *store, MemoryType::new(1, Some(2)))?;
    linker.define(&mut *store, "spectest", "memory", Extern::Memory(memory))?;
    // The threads proposal's scripts import a shared twin of `memory`; it
    // can only be made when the engine runs threads (and is only
    // importable then).
    if let Ok(shared) = SharedMemory::new(store.engine(), MemoryType::shared(1, 2)) {
        linker.define(&mut *store, "spectest", "shared_memory", shared)?;
    }
    Ok(())
}
