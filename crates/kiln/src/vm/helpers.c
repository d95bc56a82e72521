// setjmp/longjmp for unwinding Wasm frames on a trap.
//
// Rust cannot call setjmp soundly (a function that returns twice), so the
// host-to-Wasm entry is made here: `kiln_catch` sets a jump buffer, stores
// its address through `buf_slot`, and calls `body(payload)`. A trap (from
// the signal handler or the `raise` builtin) calls `kiln_unwind` with that
// buffer, and `kiln_catch` returns 0. Only Cranelift frames, which own no
// resources, and Rust frames that have finished dropping their locals lie
// between the two.
//
// The signal mask is not saved (sigsetjmp(buf, 0)): the handler is
// installed with SA_NODEFER, so jumping out of it leaves no signal blocked.

#include <setjmp.h>

int kiln_catch(void **buf_slot, void (*body)(void *), void *payload) {
  sigjmp_buf buf;
  if (sigsetjmp(buf, 0) != 0) {
    return 0;
  }
  *buf_slot = &buf;
  body(payload);
  return 1;
}

void kiln_unwind(void *buf) {
  siglongjmp(*(sigjmp_buf *)buf, 1);
}
