//! Entering Wasm, and leaving it abruptly: traps, host errors and panics.
//!
//! Every host-to-Wasm call runs inside [`catch_traps`], which records a
//! [`CallThreadState`] in a thread-local (a linked list for re-entrant
//! calls) and calls Wasm through `kiln_catch` (setjmp). A trap ends the
//! activation with `kiln_unwind` (longjmp) back there:
//! - a fault or trap instruction in Wasm code reaches [`signal_handler`],
//!   which maps the PC to a trap code through the code registry;
//! - a host function that fails or panics stores its error here, returns
//!   false to its trampoline, and the trampoline calls the `raise` builtin.
//!
//! Invariants: only Cranelift frames (which own nothing) and Rust frames
//! that have already dropped their locals lie between `kiln_catch` and
//! `kiln_unwind`. Faults whose PC is not in Wasm code, or that happen with
//! no Wasm activation on the thread, go to the previously installed
//! handler, so host crashes are never hidden.

use super::backtrace::{self, RawBacktrace};
use super::code_memory;
use super::VMStoreContext;
use kiln_environ::Trap;
use std::cell::{Cell, UnsafeCell};
use std::ffi::c_void;
use std::mem::MaybeUninit;
use std::ptr;
use std::sync::Once;

unsafe extern "C" {
    fn kiln_catch(buf_slot: *mut *const c_void, body: extern "C" fn(*mut c_void), payload: *mut c_void) -> i32;
    fn kiln_unwind(buf: *const c_void) -> !;
}

/// Why an activation ended early.
pub enum UnwindReason {
    Trap { trap: Trap, backtrace: RawBacktrace },
    /// A host function returned an error.
    HostError { error: anyhow::Error, backtrace: RawBacktrace },
    /// A host function panicked; the panic resumes on the host side.
    Panic(Box<dyn std::any::Any + Send>),
    /// A Wasm exception left the activation uncaught: the raw exnref.
    Exception { exn: u32, backtrace: RawBacktrace },
    /// A host function threw the store's pending exception: the
    /// wasm-to-host trampoline (frame `fp`) throws it into its Wasm caller.
    HostThrow { fp: usize },
}

/// Per-activation state, on the host stack of the entering call.
pub struct CallThreadState {
    jmp_buf: Cell<*const c_void>,
    unwind: UnsafeCell<Option<UnwindReason>>,
    prev: *const CallThreadState,
    /// The store context of the store whose Wasm this activation runs.
    store_context: *const VMStoreContext,
    /// That store's last exit frame pointer when this activation began:
    /// where the previous activation's Wasm frames (suspended in a host
    /// call) start. Restored when this activation ends.
    pub(crate) prev_exit_fp: usize,
    /// That store's entry frame pointer when this activation began: where
    /// the previous activation's Wasm frames end. Restored likewise.
    pub(crate) prev_entry_fp: usize,
}

thread_local! {
    static CURRENT: Cell<*const CallThreadState> = const { Cell::new(ptr::null()) };
}

impl CallThreadState {
    /// Records why the activation ends. Called by host-call shims before
    /// they return false, and by the signal handler.
    pub fn set_unwind(&self, reason: UnwindReason) {
        // SAFETY: only the thread running this activation touches it, and
        // no reference to the cell's contents is live while Wasm runs.
        unsafe { *self.unwind.get() = Some(reason) };
    }

    /// Takes the frame pointer of a host throw, if that is the recorded
    /// reason.
    pub fn take_host_throw(&self) -> Option<usize> {
        // SAFETY: as in `set_unwind`.
        let unwind = unsafe { &mut *self.unwind.get() };
        match unwind {
            Some(UnwindReason::HostThrow { fp }) => {
                let fp = *fp;
                *unwind = None;
                Some(fp)
            }
            _ => None,
        }
    }
}

/// Runs `f`, which calls into Wasm code of the store owning `ctx`,
/// catching traps. The store's exit and entry frame records are restored
/// when it ends, so a host call this entry happened in resumes with its
/// own.
///
/// `f` must not hold values with destructors across the call into Wasm:
/// a trap skips its remaining frames.
pub fn catch_traps(ctx: &VMStoreContext, f: &mut dyn FnMut()) -> Result<(), UnwindReason> {
    init_signal_handlers();
    super::stack::ensure_sigaltstack();
    // SAFETY: the store context is only accessed by this thread while its
    // Wasm runs, and none runs yet.
    let (prev_exit_fp, prev_entry_fp) = unsafe { (*ctx.last_exit_fp.get(), *ctx.entry_fp.get()) };
    let state = CallThreadState {
        jmp_buf: Cell::new(ptr::null()),
        unwind: UnsafeCell::new(None),
        prev: CURRENT.get(),
        store_context: ctx,
        prev_exit_fp,
        prev_entry_fp,
    };
    CURRENT.set(&state);

    extern "C" fn call_body(payload: *mut c_void) {
        // SAFETY: `payload` is the `&mut &mut dyn FnMut()` passed below,
        // alive for the duration of `kiln_catch`.
        let f = unsafe { &mut *(payload as *mut &mut dyn FnMut()) };
        f();
    }
    let mut f: &mut dyn FnMut() = f;
    // SAFETY: `kiln_catch` calls `call_body` with the payload we pass; the
    // jump buffer it writes lives until it returns, and `state` (which
    // holds the buffer's address) is unlinked right after.
    let ok = unsafe { kiln_catch(state.jmp_buf.as_ptr(), call_body, &mut f as *mut &mut dyn FnMut() as *mut c_void) };
    CURRENT.set(state.prev);
    // SAFETY: as above; the activation has ended.
    unsafe {
        *ctx.last_exit_fp.get() = prev_exit_fp;
        *ctx.entry_fp.get() = prev_entry_fp;
    }
    if ok == 1 {
        return Ok(());
    }
    Err(state.unwind.into_inner().expect("unwound without a reason"))
}

impl CallThreadState {
    /// The next older activation on this thread.
    pub fn prev(&self) -> Option<&CallThreadState> {
        // SAFETY: the previous activation outlives this one (it is further
        // up the same stack).
        unsafe { self.prev.as_ref() }
    }

    /// Does this activation run Wasm of the store owning `ctx`?
    pub fn is_for(&self, ctx: &VMStoreContext) -> bool {
        ptr::eq(self.store_context, ctx)
    }

    /// The frame pointer of this activation's entry trampoline, where its
    /// Wasm frames end; 0 before the trampoline ran. Valid for the
    /// innermost activation of its store (an inner one of the same store
    /// keeps this one's value in its `prev_entry_fp`).
    pub fn entry_fp(&self) -> usize {
        // SAFETY: the store context outlives every activation of its
        // store, and only this thread writes it while they run.
        unsafe { *(*self.store_context).entry_fp.get() }
    }
}

/// The innermost activation on this thread, if any.
pub fn current() -> Option<&'static CallThreadState> {
    let p = CURRENT.get();
    // SAFETY: a non-null pointer is the state of an activation still on
    // this thread's stack (unlinked before `catch_traps` returns).
    unsafe { p.as_ref() }
}

/// Unwinds the innermost activation, whose reason was already recorded.
///
/// # Safety
/// There must be an activation, and only frames without destructors
/// between the caller and it.
pub unsafe fn unwind_current() -> ! {
    let state = current().expect("raise outside of Wasm");
    // SAFETY: the buffer was set by `kiln_catch` for this live activation.
    unsafe { kiln_unwind(state.jmp_buf.get()) }
}

/// Ends the innermost activation with `error`, from a builtin that Wasm
/// called through an exit trampoline (the backtrace starts at its frame).
/// A [`Trap`] error ends it as that trap.
///
/// # Safety
/// As for [`unwind_current`]: the caller's own frame must own nothing
/// (`error` is moved in here).
pub unsafe fn raise_error(error: anyhow::Error) -> ! {
    let state = current().expect("raise outside of Wasm");
    // SAFETY: the activation's store context is live; its Wasm is
    // suspended in the builtin calling us.
    let exit_fp = unsafe { *(*state.store_context).last_exit_fp.get() };
    let backtrace = backtrace::capture_from_exit(exit_fp, state.entry_fp());
    let reason = match error.downcast::<Trap>() {
        Ok(trap) => UnwindReason::Trap { trap, backtrace },
        Err(error) => UnwindReason::HostError { error, backtrace },
    };
    state.set_unwind(reason);
    // SAFETY: per the contract.
    unsafe { unwind_current() }
}

static mut PREVIOUS: [MaybeUninit<libc::sigaction>; 4] = [MaybeUninit::uninit(); 4];
const SIGNALS: [libc::c_int; 4] = [libc::SIGSEGV, libc::SIGBUS, libc::SIGILL, libc::SIGFPE];

fn init_signal_handlers() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        for (i, sig) in SIGNALS.into_iter().enumerate() {
            // SAFETY: installing a handler with a zeroed, then filled
            // sigaction; the previous one is saved before anyone can read
            // it (the handler reads PREVIOUS only after this Once).
            unsafe {
                let mut action: libc::sigaction = std::mem::zeroed();
                action.sa_flags = libc::SA_SIGINFO | libc::SA_NODEFER | libc::SA_ONSTACK;
                action.sa_sigaction = signal_handler as *const () as usize;
                libc::sigemptyset(&mut action.sa_mask);
                let prev = &raw mut PREVIOUS[i];
                if libc::sigaction(sig, &action, (*prev).as_mut_ptr()) != 0 {
                    panic!("failed to install the {sig} handler: {}", std::io::Error::last_os_error());
                }
            }
        }
    });
}

unsafe extern "C" fn signal_handler(sig: libc::c_int, info: *mut libc::siginfo_t, ucontext: *mut c_void) {
    // SAFETY: the kernel passes a valid ucontext to SA_SIGINFO handlers.
    let (pc, fp) = unsafe { pc_and_fp(ucontext) };
    if let Some(state) = current()
        && let Some(trap) = code_memory::trap_at(pc)
    {
        let backtrace = backtrace::capture_from_trap(pc, fp, state.entry_fp());
        state.set_unwind(UnwindReason::Trap { trap, backtrace });
        // SAFETY: the faulting PC is in Wasm code of this activation, so
        // only Cranelift frames lie between here and `kiln_catch`.
        unsafe { kiln_unwind(state.jmp_buf.get()) };
    }
    // SAFETY: not ours: hand the signal to whoever was installed before.
    unsafe { delegate(sig, info, ucontext) }
}

unsafe fn delegate(sig: libc::c_int, info: *mut libc::siginfo_t, ucontext: *mut c_void) {
    let i = SIGNALS.iter().position(|s| *s == sig).expect("only our signals reach the handler");
    // SAFETY: PREVIOUS[i] was initialised when the handler was installed.
    let prev = unsafe { (*(&raw const PREVIOUS[i])).assume_init_ref() };
    if prev.sa_flags & libc::SA_SIGINFO != 0 {
        let f: unsafe extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut c_void) =
            // SAFETY: with SA_SIGINFO the field holds a three-argument handler.
            unsafe { std::mem::transmute(prev.sa_sigaction) };
        // SAFETY: forwarding the kernel's own arguments.
        unsafe { f(sig, info, ucontext) };
    } else if prev.sa_sigaction == libc::SIG_DFL || prev.sa_sigaction == libc::SIG_IGN {
        // Restore the default action and return: the faulting instruction
        // runs again and the signal now terminates the process as it would
        // have without Kiln.
        // SAFETY: resetting a signal disposition.
        unsafe { libc::signal(sig, libc::SIG_DFL) };
    } else {
        let f: unsafe extern "C" fn(libc::c_int) =
            // SAFETY: without SA_SIGINFO the field holds a one-argument handler.
            unsafe { std::mem::transmute(prev.sa_sigaction) };
        // SAFETY: forwarding the signal number.
        unsafe { f(sig) };
    }
}

#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
unsafe fn pc_and_fp(ucontext: *mut c_void) -> (usize, usize) {
    let uc = ucontext as *const libc::ucontext_t;
    // SAFETY: the caller passes the kernel's ucontext.
    let regs = unsafe { &(*uc).uc_mcontext.gregs };
    (regs[libc::REG_RIP as usize] as usize, regs[libc::REG_RBP as usize] as usize)
}

#[cfg(all(target_os = "linux", target_arch = "aarch64"))]
unsafe fn pc_and_fp(ucontext: *mut c_void) -> (usize, usize) {
    let uc = ucontext as *const libc::ucontext_t;
    // SAFETY: the caller passes the kernel's ucontext.
    let mc = unsafe { &(*uc).uc_mcontext };
    (mc.pc as usize, mc.regs[29] as usize)
}

#[cfg(not(all(target_os = "linux", any(target_arch = "x86_64", target_arch = "aarch64"))))]
compile_error!("Kiln's trap handling supports Linux on x86-64 and AArch64 only");
