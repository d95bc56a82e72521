//! The native stack: the alternate signal stack, and the limit Wasm code
//! checks in every prologue.

use std::cell::Cell;

/// Smallest alternate signal stack the trap handler runs on.
const MIN_SIGALTSTACK: usize = 64 * 1024;

thread_local! {
    static ALTSTACK: Cell<Option<usize>> = const { Cell::new(None) };
    static STACK_BOUNDS: Cell<Option<(usize, usize)>> = const { Cell::new(None) };
}

/// Gives this thread an alternate signal stack large enough for the trap
/// handler, unless it already has one (Rust's runtime installs a small one
/// on every thread it starts; that one is replaced if too small).
pub fn ensure_sigaltstack() {
    if ALTSTACK.get().is_some() {
        return;
    }
    // SAFETY: querying the current alternate stack into a zeroed struct.
    let mut old: libc::stack_t = unsafe { std::mem::zeroed() };
    unsafe { libc::sigaltstack(std::ptr::null(), &mut old) };
    if old.ss_flags & libc::SS_DISABLE == 0 && old.ss_size >= MIN_SIGALTSTACK {
        ALTSTACK.set(Some(0));
        return;
    }
    let guard = super::mmap::page_size();
    let size = MIN_SIGALTSTACK + guard;
    // SAFETY: a fresh anonymous mapping; it is never unmapped because the
    // thread may take a signal on it until it exits (64 KiB per thread).
    let ptr = unsafe {
        libc::mmap(std::ptr::null_mut(), size, libc::PROT_READ | libc::PROT_WRITE, libc::MAP_PRIVATE | libc::MAP_ANONYMOUS, -1, 0)
    };
    if ptr == libc::MAP_FAILED {
        panic!("failed to allocate a signal stack: {}", std::io::Error::last_os_error());
    }
    // SAFETY: the lowest page becomes a guard page; it is inside the
    // mapping just created.
    unsafe { libc::mprotect(ptr, guard, libc::PROT_NONE) };
    let stack = libc::stack_t { ss_sp: unsafe { ptr.cast::<u8>().add(guard).cast() }, ss_flags: 0, ss_size: MIN_SIGALTSTACK };
    // SAFETY: installs the stack just mapped for this thread.
    if unsafe { libc::sigaltstack(&stack, std::ptr::null_mut()) } != 0 {
        panic!("sigaltstack failed: {}", std::io::Error::last_os_error());
    }
    ALTSTACK.set(Some(ptr as usize));
}

/// `(lowest, highest)` address of this thread's stack.
fn stack_bounds() -> (usize, usize) {
    if let Some(b) = STACK_BOUNDS.get() {
        return b;
    }
    // SAFETY: pthread_getattr_np fills `attr` for the calling thread; it
    // is destroyed after reading the stack range out of it.
    let bounds = unsafe {
        let mut attr: libc::pthread_attr_t = std::mem::zeroed();
        let mut addr: *mut libc::c_void = std::ptr::null_mut();
        let mut size: libc::size_t = 0;
        if libc::pthread_getattr_np(libc::pthread_self(), &mut attr) == 0 {
            libc::pthread_attr_getstack(&attr, &mut addr, &mut size);
            libc::pthread_attr_destroy(&mut attr);
        }
        (addr as usize, addr as usize + size)
    };
    STACK_BOUNDS.set(Some(bounds));
    bounds
}

/// The stack pointer of the caller. Read from the register, not taken
/// as the address of a local: sanitizers (AddressSanitizer's
/// use-after-return detection) move locals to a heap-allocated fake stack.
#[inline(always)]
pub fn current_sp() -> usize {
    let sp: usize;
    // SAFETY: reads a register; no memory is touched.
    #[cfg(target_arch = "x86_64")]
    unsafe {
        std::arch::asm!("mov {}, rsp", out(reg) sp, options(nomem, nostack, preserves_flags))
    };
    // SAFETY: as above.
    #[cfg(target_arch = "aarch64")]
    unsafe {
        std::arch::asm!("mov {}, sp", out(reg) sp, options(nomem, nostack, preserves_flags))
    };
    sp
}

/// Space kept free below the Wasm stack limit for host functions called
/// from Wasm and for the runtime itself.
const HOST_RESERVE: usize = 128 * 1024;

/// The lowest address Wasm code may use, for an entry whose stack pointer
/// is about `sp`: `max_wasm_stack` below it, but never closer than
/// `HOST_RESERVE` to the end of the real native stack.
pub fn stack_limit(sp: usize, max_wasm_stack: usize) -> usize {
    let wanted = sp.saturating_sub(max_wasm_stack);
    let (low, high) = stack_bounds();
    if low == 0 || sp < low || sp > high {
        return wanted;
    }
    wanted.max(low + HOST_RESERVE)
}
