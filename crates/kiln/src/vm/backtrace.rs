//! Wasm backtraces, by walking the frame-pointer chain.
//!
//! Every Cranelift frame (Kiln compiles with preserved frame pointers)
//! stores the caller's frame pointer at `[fp]` and the return address at
//! `[fp + 8]`. A walk starts either at a trapping instruction (PC and FP
//! from the signal context) or at the last wasm-to-host trampoline (its FP
//! is recorded in the store context), and stops at the entry trampoline's
//! frame (also recorded there) or at the first return address outside
//! Wasm code, whichever comes first.

use super::code_memory;

/// Program counters of the Wasm frames, innermost first. The first entry
/// of a trap's backtrace is the trapping instruction itself; the others are
/// return addresses.
#[derive(Debug, Clone, Default)]
pub struct RawBacktrace {
    pub pcs: Vec<usize>,
    /// Whether `pcs[0]` is an exact PC rather than a return address.
    pub starts_at_trap: bool,
}

/// The most frames recorded; deeper stacks (such as the one that overflowed)
/// keep their innermost frames.
const MAX_FRAMES: usize = 4096;

pub fn capture_from_trap(pc: usize, fp: usize, entry_fp: usize) -> RawBacktrace {
    let mut bt = RawBacktrace { pcs: vec![pc], starts_at_trap: true };
    walk(fp, entry_fp, &mut bt.pcs);
    bt
}

pub fn capture_from_exit(fp: usize, entry_fp: usize) -> RawBacktrace {
    let mut bt = RawBacktrace::default();
    walk(fp, entry_fp, &mut bt.pcs);
    bt
}

/// Walks from `fp` up to the activation's entry frame `entry_fp` (the
/// host-to-Wasm trampoline's), never past it.
fn walk(mut fp: usize, entry_fp: usize, pcs: &mut Vec<usize>) {
    while fp != 0 && fp % 8 == 0 && fp < entry_fp && pcs.len() < MAX_FRAMES {
        // SAFETY: `fp` is a frame pointer of this activation: it lies
        // between the current stack pointer and the entry frame (checked
        // above, and frames only grow upwards), so the two words it points
        // at are mapped stack.
        let (next_fp, ret) = unsafe { (*(fp as *const usize), *((fp + 8) as *const usize)) };
        if !code_memory::is_wasm_pc(ret) {
            break;
        }
        pcs.push(ret);
        if next_fp <= fp {
            break;
        }
        fp = next_fp;
    }
}
