//! Traps and Wasm backtraces as the embedder sees them.
//!
//! A trap surfaces as an `anyhow::Error` whose root cause is a [`Trap`];
//! when Wasm frames were on the stack, a [`WasmBacktrace`] is attached as
//! context (`err.downcast_ref::<WasmBacktrace>()`). Host errors that
//! crossed Wasm frames keep their own root cause and gain the backtrace the
//! same way.

use crate::vm::backtrace::RawBacktrace;
use crate::vm::code_memory;
use crate::vm::traphandlers::UnwindReason;
use std::fmt;

pub use kiln_environ::Trap;

/// One Wasm frame of a backtrace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameInfo {
    func_index: u32,
    func_name: Option<String>,
    module_name: Option<String>,
    module_offset: Option<u32>,
}

impl FrameInfo {
    pub fn func_index(&self) -> u32 {
        self.func_index
    }
    pub fn func_name(&self) -> Option<&str> {
        self.func_name.as_deref()
    }
    pub fn module_name(&self) -> Option<&str> {
        self.module_name.as_deref()
    }
    /// Offset of the instruction in the module binary.
    pub fn module_offset(&self) -> Option<u32> {
        self.module_offset
    }
}

/// The Wasm frames active when a trap or host error happened, innermost
/// first.
#[derive(Debug, Clone)]
pub struct WasmBacktrace {
    frames: Vec<FrameInfo>,
}

impl WasmBacktrace {
    pub fn frames(&self) -> &[FrameInfo] {
        &self.frames
    }

    pub(crate) fn from_raw(raw: &RawBacktrace) -> WasmBacktrace {
        let mut frames = Vec::new();
        for (i, pc) in raw.pcs.iter().enumerate() {
            // Return addresses point after the call; look up the call.
            let pc = if i == 0 && raw.starts_at_trap { *pc } else { pc - 1 };
            code_memory::frames_at(pc, &mut frames);
        }
        let frames = frames
            .into_iter()
            .map(|f| FrameInfo { func_index: f.func_index, func_name: f.func_name, module_name: f.module_name, module_offset: f.module_offset })
            .collect();
        WasmBacktrace { frames }
    }
}

/// One line per frame, except that a run of identical frames (the same
/// function at the same offset, as deep recursion leaves) is one line
/// ending in `× N`: a stack overflow would otherwise print thousands of
/// lines. Each line is numbered with the index of its first frame.
impl fmt::Display for WasmBacktrace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "error while executing at wasm backtrace:")?;
        let mut i = 0;
        for run in self.frames.chunk_by(|a, b| a == b) {
            write!(f, "\n  {i:>3}: {}", run[0])?;
            if run.len() > 1 {
                write!(f, " × {}", run.len())?;
            }
            i += run.len();
        }
        Ok(())
    }
}

/// `[offset - ][module!]function`.
impl fmt::Display for FrameInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(off) = self.module_offset {
            write!(f, "{off:#8x} - ")?;
        }
        if let Some(m) = &self.module_name {
            write!(f, "{m}!")?;
        }
        match &self.func_name {
            Some(n) => write!(f, "{n}"),
            None => write!(f, "<wasm function {}>", self.func_index),
        }
    }
}

/// Converts the reason an activation ended into the error the caller sees.
/// Panics of host functions resume here, on the host side of the call.
pub(crate) fn unwind_to_error(reason: UnwindReason) -> anyhow::Error {
    let (error, raw) = match reason {
        UnwindReason::Trap { trap, backtrace } => (anyhow::Error::new(trap), backtrace),
        UnwindReason::HostError { error, backtrace } => (error, backtrace),
        UnwindReason::Panic(payload) => std::panic::resume_unwind(payload),
        // Handled by the caller, which holds the store.
        UnwindReason::Exception { backtrace, .. } => (anyhow::anyhow!("an uncaught exception could not be recorded"), backtrace),
        UnwindReason::HostThrow { .. } => (anyhow::anyhow!("a host function's exception was not thrown"), Default::default()),
    };
    with_backtrace(error, &raw)
}

/// `error` with the Wasm backtrace `raw` as context. An error that crossed
/// several activations keeps the backtrace of the innermost one: that is
/// where it happened.
pub(crate) fn with_backtrace(error: anyhow::Error, raw: &RawBacktrace) -> anyhow::Error {
    if error.downcast_ref::<WasmBacktrace>().is_some() {
        return error;
    }
    let bt = WasmBacktrace::from_raw(raw);
    if bt.frames.is_empty() { error } else { error.context(bt) }
}
