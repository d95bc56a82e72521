//! Finding the GC references compiled code keeps on the native stack.
//!
//! At every call, Cranelift spills the GC references live across it to
//! stack slots listed in the call's stack map. A collection happens only
//! while Wasm is suspended in a call out (a host function or a GC builtin,
//! both entered through trampolines that record the store's last exit
//! frame pointer), so every Wasm frame is at such a call. The walk starts
//! at that exit frame and follows the frame-pointer chain through the
//! activation's Wasm frames; earlier activations of the same store (the
//! host called back into Wasm) continue from the exit frame recorded when
//! the later one began. Activations of other stores on the same thread are
//! skipped: their references point into other heaps.

use super::code_memory;
use super::traphandlers;
use super::VMStoreContext;

/// Calls `f` with the address of every GC reference slot in this store's
/// suspended Wasm frames on the current thread.
///
/// # Safety
/// The store must be the one owning `ctx`, with its Wasm suspended in a
/// call out (or not running), and the slots must not be used after Wasm
/// resumes unless `f` keeps them valid references.
pub unsafe fn visit_stack_roots(ctx: &VMStoreContext, mut f: impl FnMut(*mut u32)) {
    let ctx_addr = ctx as *const VMStoreContext as usize;
    // SAFETY: the store context is only written by this thread while its
    // Wasm runs, and it is suspended now.
    let mut exit_fp = unsafe { *ctx.last_exit_fp.get() };
    let mut state = traphandlers::current();
    while let Some(s) = state {
        if s.store_context == ctx_addr {
            // SAFETY: the activation is live and suspended at `exit_fp`.
            unsafe { visit_activation(exit_fp, s.entry_sp, &mut f) };
            exit_fp = s.prev_exit_fp;
        }
        state = s.prev();
    }
}

/// # Safety
/// `fp` is the exit frame of a suspended activation whose entry stack
/// pointer is `entry_sp`.
unsafe fn visit_activation(mut fp: usize, entry_sp: usize, f: &mut impl FnMut(*mut u32)) {
    while fp != 0 && fp % 8 == 0 && fp < entry_sp {
        // SAFETY: `fp` is a frame pointer of this activation, between the
        // current stack pointer and the entry's (checked above).
        let (caller_fp, ret) = unsafe { (*(fp as *const usize), *((fp + 8) as *const usize)) };
        if !code_memory::is_wasm_pc(ret) {
            break;
        }
        code_memory::with_stack_map(ret, |span, offsets| {
            let sp = caller_fp - span as usize;
            for offset in offsets {
                f((sp + *offset as usize) as *mut u32);
            }
        });
        if caller_fp <= fp {
            break;
        }
        fp = caller_fp;
    }
}

/// Views a root slot the VM found (a stack slot, a global's cell, a table
/// element, an exception payload value) as the collector's root type.
///
/// # Safety
/// `slot` must point at a live, 4-byte aligned u32 holding a GC reference
/// (or 0), not aliased by any other reference for `'a`, and the memory must
/// stay valid for `'a`. `Option<VMGcRef>` has the layout of a `u32` with 0
/// for `None` (VMGcRef is a transparent `NonZeroU32`).
pub unsafe fn root_slot<'a>(slot: *mut u32) -> &'a mut Option<kiln_gc::VMGcRef> {
    // SAFETY: per the contract and the layout guarantee above.
    unsafe { &mut *(slot as *mut Option<kiln_gc::VMGcRef>) }
}
