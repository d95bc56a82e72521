//! Finding the GC references compiled code keeps on the native stack.
//!
//! At every call, Cranelift spills the GC references live across it to
//! stack slots listed in the call's stack map. A collection happens only
//! while Wasm is suspended in a call out (a host function or a GC builtin,
//! both entered through trampolines that record the store's last exit
//! frame pointer), so every Wasm frame is at such a call. The walk starts
//! at that exit frame and follows the frame-pointer chain through the
//! activation's Wasm frames up to exactly the entry frame the host-to-Wasm
//! trampoline recorded; earlier activations of the same store (the
//! host called back into Wasm) continue from the exit frame recorded when
//! the later one began. Activations of other stores on the same thread are
//! skipped: their references point into other heaps.

use super::code_memory;
use super::traphandlers;
use super::VMStoreContext;

/// Calls `f` with the address of every GC reference slot in this store's
/// suspended Wasm frames on the current thread.
///
/// Fails, rather than miss roots, when a frame chain does not lead from
/// an activation's exit frame to exactly its entry frame, or when Wasm of
/// this store runs without having left through an exit trampoline.
///
/// # Safety
/// The store must be the one owning `ctx`, with its Wasm suspended in a
/// call out (or not running), and the slots must not be used after Wasm
/// resumes unless `f` keeps them valid references.
pub unsafe fn visit_stack_roots(ctx: &VMStoreContext, mut f: impl FnMut(*mut u32)) -> anyhow::Result<()> {
    // SAFETY: the store context is only written by this thread while its
    // Wasm runs, and it is suspended now.
    let (mut exit_fp, mut entry_fp) = unsafe { (*ctx.last_exit_fp.get(), *ctx.entry_fp.get()) };
    let mut state = traphandlers::current();
    while let Some(s) = state {
        if s.is_for(ctx) {
            if exit_fp == 0 {
                anyhow::bail!("internal error: a collection ran while Wasm was not suspended at an exit trampoline");
            }
            // SAFETY: the activation is live and suspended at `exit_fp`.
            unsafe { visit_activation(exit_fp, entry_fp, &mut f)? };
            (exit_fp, entry_fp) = (s.prev_exit_fp, s.prev_entry_fp);
        }
        state = s.prev();
    }
    Ok(())
}

/// Walks one activation's frames from its exit frame `fp` up to its entry
/// frame, checking each frame pointer against those bounds before reading
/// through it.
///
/// # Safety
/// `fp` is the exit frame of a suspended activation whose entry
/// trampoline's frame pointer is `entry_fp`.
unsafe fn visit_activation(mut fp: usize, entry_fp: usize, f: &mut impl FnMut(*mut u32)) -> anyhow::Result<()> {
    let broken = |why: &str| anyhow::anyhow!("internal error: broken Wasm frame chain during a collection: {why}");
    if fp >= entry_fp {
        return Err(broken("the exit frame is not below the entry frame"));
    }
    loop {
        if fp % 8 != 0 {
            return Err(broken("misaligned frame pointer"));
        }
        // SAFETY: `exit_fp <= fp < entry_fp` (checked on entry and for
        // every caller below), so `fp` lies in this activation's part of
        // the stack, and the two words it points at are mapped.
        let (caller_fp, ret) = unsafe { (*(fp as *const usize), *((fp + 8) as *const usize)) };
        if caller_fp == entry_fp {
            // The caller is the entry trampoline, which holds no roots.
            break;
        }
        if !code_memory::is_wasm_pc(ret) {
            return Err(broken("a return address outside Wasm code before the entry frame"));
        }
        if caller_fp <= fp || caller_fp > entry_fp {
            return Err(broken("a caller frame outside the activation"));
        }
        code_memory::with_stack_map(ret, |span, offsets| {
            let sp = caller_fp - span as usize;
            for offset in offsets {
                f((sp + *offset as usize) as *mut u32);
            }
        });
        fp = caller_fp;
    }
    Ok(())
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
