//! Delivering a thrown exception to its handler.
//!
//! Compiled code calls [`unwind_exception`] with the frame pointer of the
//! function that threw (after finding no matching clause in it). The walk
//! goes up the frame-pointer chain: each return address into Wasm code is
//! looked up in the call-site table; the first with a landing pad wins,
//! and execution resumes there with that frame's stack and frame pointers
//! and the exception in the store context. The landing pad tests its
//! clauses and may call back here to continue outward.
//!
//! Reaching a return address outside Wasm code means the exception left
//! this activation: it ends, and the host caller gets the exception as the
//! store's pending exception (`ThrownException`).
//!
//! A host function throws the same way: its wasm-to-host trampoline calls
//! `raise`, which finds the pending exception and starts the walk at the
//! trampoline's own frame, whose return address is in the Wasm caller.
//!
//! Only Cranelift frames (which own nothing) and this function's frame are
//! skipped, and landing pads are only on Tail-convention `try_call`s, after
//! which no register is assumed to hold a value: setting SP, FP and PC is a
//! complete resumption.

use super::backtrace::capture_from_exit;
use super::code_memory;
use super::instance::Instance;
use super::traphandlers::{self, UnwindReason};

/// # Safety
/// Called by compiled code with its own vmctx and frame pointer; `exn` is
/// a live exnref of the store.
pub unsafe extern "C" fn unwind_exception(vmctx: *mut u8, exn: u32, fp: usize) {
    // SAFETY: per the contract.
    let instance = unsafe { Instance::from_vmctx(vmctx) };
    // SAFETY: the store outlives its instances' code.
    let store = unsafe { &*instance.store };
    let mut frame = fp;
    let entry_fp = traphandlers::current().map_or(0, |s| s.entry_fp());
    while frame != 0 && frame < entry_fp {
        // SAFETY: `frame` is a frame pointer of this activation, between
        // the current stack pointer and the entry frame (checked above).
        let (caller_fp, ret) = unsafe { (*(frame as *const usize), *((frame + 8) as *const usize)) };
        if let Some((handler, frame_offset)) = code_memory::handler_at(ret) {
            // SAFETY: only this thread writes the store context while its
            // Wasm runs.
            unsafe { *store.vm_store_context().pending_exception.get() = exn };
            forget_abandoned_frames();
            // SAFETY: the handler is a landing pad in the caller's frame;
            // see the module docs for why SP/FP/PC suffice.
            unsafe { resume(handler, caller_fp - frame_offset as usize, caller_fp) }
        }
        if !code_memory::is_wasm_pc(ret) {
            break;
        }
        if caller_fp <= frame {
            break;
        }
        frame = caller_fp;
    }
    let backtrace = capture_from_exit(fp, entry_fp);
    let state = traphandlers::current().expect("exceptions are thrown from Wasm");
    state.set_unwind(UnwindReason::Exception { exn, backtrace });
    // SAFETY: only Cranelift frames lie between here and the entry.
    unsafe { traphandlers::unwind_current() }
}

/// Tells AddressSanitizer, when the process runs under it, that the Rust
/// frames between here and the landing pad are abandoned: `resume` jumps
/// over them, so the poisoned red zones of their locals would stay in the
/// shadow memory and make later, innocent stack accesses look like errors.
/// (Traps unwind by `siglongjmp`, which ASan intercepts itself.) Only fuzz
/// builds run under ASan, and only they look the hook up, as a weak symbol
/// (absent without ASan).
fn forget_abandoned_frames() {
    #[cfg(fuzzing)]
    {
        unsafe extern "C" {
            #[linkage = "extern_weak"]
            static __asan_handle_no_return: Option<unsafe extern "C" fn()>;
        }
        // SAFETY: a weak symbol, read once: null when ASan is not linked
        // in, otherwise ASan's own function.
        if let Some(hook) = unsafe { __asan_handle_no_return } {
            // SAFETY: the hook takes no arguments and only clears ASan's
            // shadow memory for the stack below the current frame.
            unsafe { hook() };
        }
    }
}

/// Jumps to `pc` with the given stack and frame pointers.
///
/// # Safety
/// `pc` must be a landing pad expecting exactly this SP and FP.
#[cfg(target_arch = "x86_64")]
unsafe fn resume(pc: usize, sp: usize, fp: usize) -> ! {
    // SAFETY: per the contract; nothing after the jump uses this frame.
    unsafe {
        std::arch::asm!(
            "mov rsp, {sp}",
            "mov rbp, {fp}",
            "jmp {pc}",
            sp = in(reg) sp,
            fp = in(reg) fp,
            pc = in(reg) pc,
            options(noreturn),
        )
    }
}

/// Jumps to `pc` with the given stack and frame pointers.
///
/// # Safety
/// `pc` must be a landing pad expecting exactly this SP and FP.
#[cfg(target_arch = "aarch64")]
unsafe fn resume(pc: usize, sp: usize, fp: usize) -> ! {
    // SAFETY: per the contract; nothing after the jump uses this frame.
    unsafe {
        std::arch::asm!(
            "mov sp, {sp}",
            "mov x29, {fp}",
            "br {pc}",
            sp = in(reg) sp,
            fp = in(reg) fp,
            pc = in(reg) pc,
            options(noreturn),
        )
    }
}
