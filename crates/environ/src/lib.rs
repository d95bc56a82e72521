//! kiln-environ: everything about a Wasm module that is independent of how
//! it is compiled or run.
//!
//! - [`translate_module`] decodes and validates a binary into [`ModuleInfo`].
//! - [`vmoffsets`] defines the layout of the VM structures JIT code reads.
//! - [`Builtin`] lists the libcalls compiled code may call.
//! - [`Trap`] lists every way Wasm execution can trap.
//!
//! No unsafe code and no Cranelift here: the compiler and the runtime both
//! depend on this crate, and each layout is defined in exactly one place.

#![forbid(unsafe_code)]

mod builtins;
mod const_expr;
mod error;
pub mod gc_layout;
mod module;
mod trap;
mod translate;
mod types;
pub mod vmoffsets;

pub use builtins::{ANY_FUNC_TYPE, BAD_FUNC_REF, Builtin, BuiltinType, WAIT_INTERRUPTED, WAIT_NOT_EQUAL, WAIT_OK, WAIT_TIMED_OUT};
pub use const_expr::{ConstExpr, ConstOp};
pub use error::{WasmError, operator_name};
pub use gc_layout::{GcArrayLayout, GcFieldLayout, GcLayout, GcStructLayout, GcTypeLayouts, StandardLayouts, VMGcKind};
pub use module::*;
pub use trap::Trap;
pub use translate::{implemented_features, translate_module, translate_module_with_features, translate_prevalidated_module, wasm_features};
pub use types::*;
pub use vmoffsets::VMOffsets;
