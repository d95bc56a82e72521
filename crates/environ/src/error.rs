//! Errors from decoding, validating and translating a module.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum WasmError {
    /// The binary is malformed or the module is invalid; the message is
    /// wasmparser's, which follows the spec's wording. Transparent, so the
    /// message is not repeated as its own cause in an error chain.
    #[error(transparent)]
    Invalid(#[from] wasmparser::BinaryReaderError),
    /// A valid module uses something Kiln does not run yet.
    #[error("unsupported: {what} (at offset {offset:#x})")]
    Unsupported { what: String, offset: usize },
    /// A module exceeds one of Kiln's implementation limits.
    #[error("implementation limit exceeded: {0}")]
    Limit(String),
}

/// The operator's name as it appears in wasmparser's `Operator` enum, for
/// error messages ("I32Add", "StructNew", ...).
pub fn operator_name(op: &wasmparser::Operator<'_>) -> String {
    let debug = format!("{op:?}");
    let end = debug.find([' ', '{', '(']).unwrap_or(debug.len());
    debug[..end].to_string()
}
