//! Executable code: mapped, written while writable, then made executable
//! (W^X: never both), and registered so the signal handler and backtraces
//! can map a PC back to its module.
//!
//! The registry holds weak references: code is unregistered and unmapped
//! when the last module (or trampoline cache) using it drops.

use super::mmap::Mmap;
use anyhow::Result;
use kiln_cranelift::{CodeMetadata, FunctionInfo};
use kiln_environ::{ModuleInfo, Trap};
use std::collections::BTreeMap;
use std::sync::{Arc, RwLock, Weak};

/// A block of executable code.
#[derive(Debug)]
pub struct CodeMemory {
    mmap: Mmap,
    len: usize,
}

impl CodeMemory {
    pub fn new(code: &[u8]) -> Result<CodeMemory> {
        let mut mmap = Mmap::reserve(code.len())?;
        mmap.make_accessible(0, code.len())?;
        // SAFETY: the first `code.len()` bytes of the fresh mapping are
        // writable and owned by `mmap`; `code` cannot overlap it.
        unsafe { std::ptr::copy_nonoverlapping(code.as_ptr(), mmap.as_ptr(), code.len()) };
        mmap.make_executable(0, code.len())?;
        Ok(CodeMemory { mmap, len: code.len() })
    }

    pub fn start(&self) -> usize {
        self.mmap.as_ptr() as usize
    }

    /// The code's bytes (for serializing a module).
    pub fn bytes(&self) -> &[u8] {
        // SAFETY: the first `len` bytes of the mapping were written in
        // `new` and stay mapped readable (and executable, never writable)
        // for as long as `self` lives.
        unsafe { std::slice::from_raw_parts(self.mmap.as_ptr(), self.len) }
    }

    pub fn range(&self) -> std::ops::Range<usize> {
        self.start()..self.start() + self.len
    }
}

/// A module's compiled functions, in executable memory.
#[derive(Debug)]
pub struct ModuleCode {
    pub memory: CodeMemory,
    pub funcs: Vec<FunctionInfo>,
    pub metadata: CodeMetadata,
    pub info: Arc<ModuleInfo>,
}

/// Where a PC lies in Wasm code.
#[derive(Debug, Clone)]
pub struct FrameInfo {
    pub func_index: u32,
    pub func_name: Option<String>,
    pub module_name: Option<String>,
    pub module_offset: Option<u32>,
}

impl ModuleCode {
    pub fn register(code: ModuleCode) -> Arc<ModuleCode> {
        let code = Arc::new(code);
        let range = code.memory.range();
        registry().write().unwrap().insert(range.end, (range.start, Arc::downgrade(&code)));
        code
    }

    /// The address of defined function `defined_index`.
    pub fn func_address(&self, defined_index: u32) -> usize {
        self.memory.start() + self.funcs[defined_index as usize].start as usize
    }

    fn offset_of(&self, pc: usize) -> Option<u32> {
        let range = self.memory.range();
        range.contains(&pc).then(|| (pc - range.start) as u32)
    }

    /// The defined function whose code holds `offset`.
    fn defined_func_at(&self, offset: u32) -> Option<u32> {
        let i = self.funcs.partition_point(|f| f.start <= offset).checked_sub(1)?;
        (offset < self.funcs[i].start + self.funcs[i].len).then_some(i as u32)
    }

    /// The frames the code at `offset` stands for, innermost first: the
    /// function it was compiled for, preceded by the functions inlined into
    /// it there if the instruction came from one (the function that holds
    /// each call's offset made that call).
    fn frames_at(&self, offset: u32, frames: &mut Vec<FrameInfo>) -> Option<()> {
        let compiled = self.info.num_imported_funcs + self.defined_func_at(offset)?;
        let location = self.metadata.location(offset);
        let frame = |func_index, module_offset| FrameInfo {
            func_index,
            func_name: self.info.func_name(func_index).map(str::to_string),
            module_name: self.info.name.clone(),
            module_offset,
        };
        match location {
            Some((inner, Some(inlined))) => {
                let calls: Vec<u32> = inlined.calls().collect();
                let (&outermost, inner_calls) = calls.split_last().expect("an inlined instruction has a call");
                // Each offset but the outermost call's lies in an inlined
                // function; one that lies in none (a corrupt table) leaves
                // the compiled function's frame alone.
                let inlined_frames: Option<Vec<FrameInfo>> =
                    std::iter::once(inner).chain(inner_calls.iter().copied()).map(|o| Some(frame(self.info.func_at_offset(o)?, Some(o)))).collect();
                frames.extend(inlined_frames.unwrap_or_default());
                frames.push(frame(compiled, Some(outermost)));
            }
            Some((inner, None)) => frames.push(frame(compiled, Some(inner))),
            None => frames.push(frame(compiled, None)),
        }
        Some(())
    }
}

impl Drop for ModuleCode {
    fn drop(&mut self) {
        let end = self.memory.range().end;
        let mut reg = registry().write().unwrap();
        // Only remove our own entry: the address may already be reused by
        // newer code if this drop raced with a registration.
        if reg.get(&end).is_some_and(|(_, w)| w.strong_count() == 0) {
            reg.remove(&end);
        }
    }
}

type Registry = RwLock<BTreeMap<usize, (usize, Weak<ModuleCode>)>>;

fn registry() -> &'static Registry {
    static REGISTRY: Registry = RwLock::new(BTreeMap::new());
    &REGISTRY
}

fn lookup<R>(pc: usize, f: impl FnOnce(&ModuleCode, u32) -> Option<R>) -> Option<R> {
    let reg = registry().read().ok()?;
    let (_, (start, code)) = reg.range(pc + 1..).next()?;
    if pc < *start {
        return None;
    }
    let code = code.upgrade()?;
    let offset = code.offset_of(pc)?;
    f(&code, offset)
}

/// The trap raised by the Wasm instruction at `pc`, if `pc` is one.
///
/// Called from the signal handler: it takes a read lock and allocates
/// nothing.
pub fn trap_at(pc: usize) -> Option<Trap> {
    lookup(pc, |code, offset| code.metadata.trap_at(offset))
}

/// Is `pc` inside a compiled Wasm function?
pub fn is_wasm_pc(pc: usize) -> bool {
    lookup(pc, |code, offset| code.defined_func_at(offset).map(|_| ())).is_some()
}

/// The landing pad for an exception unwinding to the return address
/// `pc`: `(handler address, frame offset)`.
pub fn handler_at(pc: usize) -> Option<(usize, u32)> {
    lookup(pc, |code, offset| {
        let h = code.metadata.handler_at(offset)?;
        Some((code.memory.start() + h.handler as usize, h.frame_offset))
    })
}

/// Calls `f` with the frame offsets of the GC references live across the
/// call returning to `pc`, and the frame's span (FP minus SP there).
pub fn with_stack_map(pc: usize, f: impl FnOnce(u32, &[u32])) {
    lookup(pc, |code, offset| {
        let map = code.metadata.stack_map_at(offset)?;
        f(map.span, &map.offsets);
        Some(())
    });
}

/// Symbolizes `pc` for a backtrace, appending its frames to `frames`
/// (more than one where functions were inlined).
pub fn frames_at(pc: usize, frames: &mut Vec<FrameInfo>) {
    lookup(pc, |code, offset| code.frames_at(offset, frames));
}
