//! kiln-cranelift: compiles Wasm function bodies and trampolines to machine
//! code with Cranelift.
//!
//! The output is position-independent code plus the metadata the runtime
//! needs: where each function starts, a trap table mapping code offsets to
//! [`kiln_environ::Trap`]s, and an address map from code offsets to module
//! offsets for backtraces. Calls between a module's functions are resolved
//! here when the functions are laid out, so loading the code needs no
//! relocations; everything else (builtins, other instances, host functions)
//! is reached through pointers in the VMContext.

mod compiler;
mod func_env;
mod gc;
mod inline;
mod isa;
mod link;
mod trampoline;
mod translate;

pub use compiler::{CompiledModule, Compiler, FunctionInfo};
pub use func_env::{BoundsChecks, Tunables};
pub use isa::OptLevel;
pub use link::{CodeMetadata, ExceptionHandler, INLINED_LOCATION, InlinedLocation, StackMap};
pub use trampoline::{CompiledTrampolines, TrampolineKind};
pub use translate::{trap_code, trap_from_code};

/// Why a module or trampoline failed to compile.
#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    #[error("unsupported: operator `{operator}` is not implemented yet (at offset {offset:#x})")]
    Unsupported { operator: String, offset: usize },
    /// Transparent, so the message is not repeated as its own cause.
    #[error(transparent)]
    Wasm(#[from] wasmparser::BinaryReaderError),
    #[error("function {func}: code generation failed: {message}")]
    Codegen { func: String, message: String },
    #[error("function {func}: unsupported relocation {reloc}")]
    Relocation { func: String, reloc: String },
    #[error("{0}")]
    Isa(String),
}
