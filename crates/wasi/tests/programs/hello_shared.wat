;; `hello.wat` with a shared memory (`-W threads`): WASI reads and writes
;; the guest's memory whether it is shared or not.
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1 1 shared)
  (data (i32.const 16) "hello, world\n")
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 16))
    (i32.store (i32.const 4) (i32.const 13))
    (if (i32.ne (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)) (i32.const 0))
      (then unreachable))
    ;; fd_write stored the byte count through the shared memory.
    (if (i32.ne (i32.atomic.load (i32.const 8)) (i32.const 13))
      (then unreachable))))
