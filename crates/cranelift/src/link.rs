//! Laying out compiled functions in one code image and resolving the calls
//! between them.
//!
//! Function bodies are placed one after another at the ISA's alignment.
//! Calls to other functions of the module are PC-relative, so once the
//! layout is known they are patched in place and the image can be loaded at
//! any address.

use crate::CompileError;
use cranelift_codegen::binemit::Reloc;
use kiln_environ::Trap;

/// A call from one compiled function to another of the same image.
#[derive(Debug, Clone)]
pub struct CallReloc {
    pub offset: u32,
    pub kind: Reloc,
    pub addend: i64,
    /// Index of the callee in the list given to [`link`].
    pub callee: usize,
}

/// One compiled function before layout.
#[derive(Debug)]
pub struct CompiledFunction {
    pub name: String,
    pub code: Vec<u8>,
    pub alignment: u32,
    pub relocs: Vec<CallReloc>,
    /// `(offset, trap)`, function-relative.
    pub traps: Vec<(u32, Trap)>,
    /// `(start, end, module offset)`, function-relative.
    pub address_map: Vec<(u32, u32, u32)>,
    /// Calls inside `try_table`s, function-relative.
    pub handlers: Vec<ExceptionHandler>,
    /// GC stack maps of the calls, function-relative.
    pub stack_maps: Vec<StackMap>,
    /// Locations of inlined code, indexed by the `address_map` entries at
    /// or above [`INLINED_LOCATION`].
    pub inlined: Vec<InlinedLocation>,
    /// The code reads the GC heap's base (`FunctionFacts::reads_gc_heap`).
    pub reads_gc_heap: bool,
}

/// Address-map locations at or above this stand for instructions inlined
/// from another function: `loc - INLINED_LOCATION` indexes
/// [`CodeMetadata::inlined`]. Below it they are module offsets (modules
/// this large are compiled without inlining).
pub const INLINED_LOCATION: u32 = 1 << 31;

/// An instruction inlined from another function: its own module offset,
/// and that of the call it replaced; for an instruction of a function
/// inlined into one that was then inlined in turn (two levels at most,
/// `crate::inline`), the module offset of that outer call too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct InlinedLocation {
    pub offset: u32,
    pub call_offset: u32,
    pub outer_call_offset: Option<u32>,
}

impl InlinedLocation {
    /// The module offsets of the calls the instruction was inlined at,
    /// innermost first.
    pub fn calls(&self) -> impl Iterator<Item = u32> {
        std::iter::once(self.call_offset).chain(self.outer_call_offset)
    }
}

/// Where the GC references live across one call: at the call's return
/// address, the frame's stack pointer is `span` bytes below its frame
/// pointer, and each reference is a u32 at `sp + offset`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackMap {
    pub return_address: u32,
    pub span: u32,
    pub offsets: Box<[u32]>,
}

/// A call with an exception landing pad: when an exception unwinds to the
/// call's return address, execution resumes at `handler` with the stack
/// pointer `frame_offset` bytes below the frame pointer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExceptionHandler {
    pub return_address: u32,
    pub handler: u32,
    pub frame_offset: u32,
}

/// Metadata of the code image: trap table and address map, both sorted by
/// code offset.
#[derive(Debug, Default, Clone)]
pub struct CodeMetadata {
    /// `(code offset, trap)` for every instruction that may trap.
    pub traps: Vec<(u32, Trap)>,
    /// `(start, end, module offset)` ranges of code.
    pub address_map: Vec<(u32, u32, u32)>,
    /// Exception landing pads, by return address.
    pub handlers: Vec<ExceptionHandler>,
    /// GC stack maps, by return address.
    pub stack_maps: Vec<StackMap>,
    /// Inlined code's locations (see [`INLINED_LOCATION`]).
    pub inlined: Vec<InlinedLocation>,
    /// Some function reads the GC heap's base, which compiled code takes
    /// to be fixed: instantiation creates the store's GC heap first.
    pub reads_gc_heap: bool,
}

impl CodeMetadata {
    /// The landing pad of the call returning to `return_address`, if it
    /// is inside a `try_table`.
    pub fn handler_at(&self, return_address: u32) -> Option<ExceptionHandler> {
        let i = self.handlers.binary_search_by_key(&return_address, |h| h.return_address).ok()?;
        Some(self.handlers[i])
    }

    /// The trap raised by the instruction at `offset`, if it can trap.
    pub fn trap_at(&self, offset: u32) -> Option<Trap> {
        self.traps.binary_search_by_key(&offset, |(o, _)| *o).ok().map(|i| self.traps[i].1)
    }

    /// The stack map of the call returning to `return_address`, if any GC
    /// reference is live across it.
    pub fn stack_map_at(&self, return_address: u32) -> Option<&StackMap> {
        let i = self.stack_maps.binary_search_by_key(&return_address, |m| m.return_address).ok()?;
        Some(&self.stack_maps[i])
    }

    /// The module offset of the instruction containing code offset
    /// `offset`, and for an instruction inlined from another function, where
    /// it was inlined.
    pub fn location(&self, offset: u32) -> Option<(u32, Option<InlinedLocation>)> {
        let i = self.address_map.partition_point(|(start, _, _)| *start <= offset);
        let (start, end, loc) = *self.address_map.get(i.checked_sub(1)?)?;
        if !(start <= offset && offset < end) {
            return None;
        }
        match loc.checked_sub(INLINED_LOCATION) {
            Some(k) => self.inlined.get(k as usize).map(|l| (l.offset, Some(*l))),
            None => Some((loc, None)),
        }
    }
}

/// The laid-out image: code bytes, `(start, len)` of each function, and
/// metadata.
pub struct LinkedCode {
    pub code: Vec<u8>,
    pub ranges: Vec<(u32, u32)>,
    pub metadata: CodeMetadata,
}

/// Lays `funcs` out in one image and patches the calls between them.
pub fn link(funcs: &[CompiledFunction]) -> Result<LinkedCode, CompileError> {
    let mut code = Vec::new();
    let mut ranges = Vec::with_capacity(funcs.len());
    for f in funcs {
        let align = f.alignment.max(16) as usize;
        code.resize(code.len().next_multiple_of(align), 0);
        ranges.push((code.len() as u32, f.code.len() as u32));
        code.extend_from_slice(&f.code);
    }
    let mut metadata = CodeMetadata::default();
    for (f, &(start, _)) in funcs.iter().zip(&ranges) {
        for r in &f.relocs {
            let target = ranges[r.callee].0;
            apply(&mut code, start + r.offset, target, r.kind, r.addend)
                .map_err(|reloc| CompileError::Relocation { func: f.name.clone(), reloc })?;
        }
        metadata.traps.extend(f.traps.iter().map(|(o, t)| (start + o, *t)));
        let inlined_base = metadata.inlined.len() as u32;
        let relocate = |loc: u32| if loc >= INLINED_LOCATION { loc + inlined_base } else { loc };
        metadata.address_map.extend(f.address_map.iter().map(|(s, e, l)| (start + s, start + e, relocate(*l))));
        metadata.inlined.extend_from_slice(&f.inlined);
        metadata.reads_gc_heap |= f.reads_gc_heap;
        metadata.stack_maps.extend(f.stack_maps.iter().map(|m| StackMap { return_address: start + m.return_address, ..m.clone() }));
        metadata.handlers.extend(f.handlers.iter().map(|h| ExceptionHandler {
            return_address: start + h.return_address,
            handler: start + h.handler,
            frame_offset: h.frame_offset,
        }));
    }
    metadata.handlers.sort_by_key(|h| h.return_address);
    metadata.stack_maps.sort_by_key(|m| m.return_address);
    metadata.traps.sort_by_key(|(o, _)| *o);
    metadata.address_map.sort_by_key(|(s, _, _)| *s);
    Ok(LinkedCode { code, ranges, metadata })
}

/// Writes a PC-relative call from `at` to `target` into the code.
fn apply(code: &mut [u8], at: u32, target: u32, kind: Reloc, addend: i64) -> Result<(), String> {
    let delta = target as i64 - at as i64 + addend;
    let at = at as usize;
    match kind {
        Reloc::X86CallPCRel4 | Reloc::X86PCRel4 => {
            let v = i32::try_from(delta).map_err(|_| "call out of range".to_string())?;
            code[at..at + 4].copy_from_slice(&v.to_le_bytes());
        }
        Reloc::Arm64Call => {
            let imm = (delta >> 2) as u32 & 0x03ff_ffff;
            let insn = u32::from_le_bytes(code[at..at + 4].try_into().unwrap());
            code[at..at + 4].copy_from_slice(&((insn & 0xfc00_0000) | imm).to_le_bytes());
        }
        other => return Err(format!("{other:?}")),
    }
    Ok(())
}
