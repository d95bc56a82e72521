;; `memory.atomic.wait32/64` and `memory.atomic.notify` (`-W threads`),
;; first on one thread: a wait returns 1 ("not-equal") when the memory does
;; not hold the expected value, 2 ("timed-out") when nobody notifies in
;; time; a notify with no waiter wakes 0. Bounds are checked before
;; alignment; a wait on an unshared memory traps, a notify there wakes
;; nobody. Then across threads: a message passed through a flag that the
;; reader waits on, and a notify that wakes exactly as many waiters as it
;; counts.
(module
  (memory 1 2 shared)
  (func (export "store64") (param i32 i64) (i64.atomic.store (local.get 0) (local.get 1)))
  (func (export "wait32") (param i32 i32 i64) (result i32)
    (memory.atomic.wait32 (local.get 0) (local.get 1) (local.get 2)))
  (func (export "wait64") (param i32 i64 i64) (result i32)
    (memory.atomic.wait64 (local.get 0) (local.get 1) (local.get 2)))
  (func (export "wait32_offset") (param i32 i32 i64) (result i32)
    (memory.atomic.wait32 offset=65532 (local.get 0) (local.get 1) (local.get 2)))
  (func (export "notify") (param i32 i32) (result i32)
    (memory.atomic.notify (local.get 0) (local.get 1)))
  (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))
  (func (export "size") (result i32) (memory.size))
  (data (i32.const 24) "\01\02\03\04"))

(invoke "store64" (i32.const 0) (i64.const 0x0000_0007_0000_0005))
(assert_return (invoke "wait32" (i32.const 0) (i32.const 4) (i64.const -1)) (i32.const 1))
(assert_return (invoke "wait32" (i32.const 4) (i32.const 5) (i64.const -1)) (i32.const 1))
(assert_return (invoke "wait64" (i32.const 0) (i64.const 5) (i64.const -1)) (i32.const 1))
(assert_return (invoke "wait32" (i32.const 0) (i32.const 5) (i64.const 0)) (i32.const 2))
(assert_return (invoke "wait32" (i32.const 4) (i32.const 7) (i64.const 1_000_000)) (i32.const 2))
(assert_return (invoke "wait64" (i32.const 0) (i64.const 0x0000_0007_0000_0005) (i64.const 0)) (i32.const 2))
(assert_return (invoke "notify" (i32.const 0) (i32.const 10)) (i32.const 0))
;; A data segment initialises a shared memory like any other.
(assert_return (invoke "wait32" (i32.const 24) (i32.const 0x04030201) (i64.const 0)) (i32.const 2))

;; Bounds, then alignment.
(assert_trap (invoke "wait32" (i32.const 65536) (i32.const 0) (i64.const 0)) "out of bounds memory access")
(assert_trap (invoke "wait32" (i32.const 65533) (i32.const 0) (i64.const 0)) "out of bounds memory access")
(assert_trap (invoke "wait64" (i32.const 65532) (i64.const 0) (i64.const 0)) "out of bounds memory access")
(assert_trap (invoke "wait32_offset" (i32.const 4) (i32.const 0) (i64.const 0)) "out of bounds memory access")
(assert_trap (invoke "notify" (i32.const 65534) (i32.const 1)) "out of bounds memory access")
(assert_trap (invoke "wait32" (i32.const 2) (i32.const 0) (i64.const 0)) "unaligned atomic")
(assert_trap (invoke "wait64" (i32.const 4) (i64.const 0) (i64.const 0)) "unaligned atomic")
(assert_trap (invoke "notify" (i32.const 1) (i32.const 1)) "unaligned atomic")
(assert_return (invoke "wait32_offset" (i32.const 0) (i32.const 0) (i64.const 0)) (i32.const 2))

;; Growth shows at once, and the new pages can be waited on.
(assert_return (invoke "grow" (i32.const 1)) (i32.const 1))
(assert_return (invoke "size") (i32.const 2))
(assert_return (invoke "grow" (i32.const 1)) (i32.const -1))
(assert_return (invoke "wait32" (i32.const 65536) (i32.const 0) (i64.const 0)) (i32.const 2))

(module
  (memory 1 1)
  (func (export "wait32") (param i32 i32 i64) (result i32)
    (memory.atomic.wait32 (local.get 0) (local.get 1) (local.get 2)))
  (func (export "wait64") (param i32 i64 i64) (result i32)
    (memory.atomic.wait64 (local.get 0) (local.get 1) (local.get 2)))
  (func (export "notify") (param i32 i32) (result i32)
    (memory.atomic.notify (local.get 0) (local.get 1))))

(assert_trap (invoke "wait32" (i32.const 0) (i32.const 0) (i64.const 0)) "expected shared memory")
(assert_trap (invoke "wait64" (i32.const 0) (i64.const 1) (i64.const -1)) "expected shared memory")
(assert_trap (invoke "wait32" (i32.const 65536) (i32.const 0) (i64.const 0)) "out of bounds memory access")
(assert_trap (invoke "wait32" (i32.const 1) (i32.const 0) (i64.const 0)) "unaligned atomic")
(assert_return (invoke "notify" (i32.const 0) (i32.const 1)) (i32.const 0))
(assert_trap (invoke "notify" (i32.const 65536) (i32.const 1)) "out of bounds memory access")

;; Message passing: $Reader waits on the flag at 0 until $Writer sets it,
;; then reads what $Writer stored before setting it. Waits here time out
;; after 10 s, so that a broken notify fails the script instead of hanging
;; it.
(module $Mem (memory (export "shared") 1 1 shared))

(thread $Reader (shared (module $Mem))
  (register "mem" $Mem)
  (module
    (memory (import "mem" "shared") 1 1 shared)
    (func (export "read") (result i32)
      (block $set
        (loop $wait
          (br_if $set (i32.atomic.load (i32.const 0)))
          (if (i32.eq (memory.atomic.wait32 (i32.const 0) (i32.const 0) (i64.const 10_000_000_000)) (i32.const 2))
            (then (return (i32.const -1))))
          (br $wait)))
      (i32.load (i32.const 8))))
  (assert_return (invoke "read") (i32.const 42)))

(thread $Writer (shared (module $Mem))
  (register "mem" $Mem)
  (module
    (memory (import "mem" "shared") 1 1 shared)
    (func (export "write")
      (i32.store (i32.const 8) (i32.const 42))
      (i32.atomic.store (i32.const 0) (i32.const 1))
      (drop (memory.atomic.notify (i32.const 0) (i32.const 1)))))
  (invoke "write"))

(wait $Reader)
(wait $Writer)

;; Three waiters on one address; the main thread notifies until all three
;; are woken, one at a time, so each notify wakes exactly one (giving up
;; after 10^8 tries).
(register "mem" $Mem)
(module $Waker
  (memory (import "mem" "shared") 1 1 shared)
  (func (export "wake_one_by_one") (param $n i32) (result i32)
    (local $woken i32) (local $tries i32)
    (loop $again
      (local.set $woken (i32.add (local.get $woken) (memory.atomic.notify (i32.const 16) (i32.const 1))))
      (local.set $tries (i32.add (local.get $tries) (i32.const 1)))
      (br_if $again (i32.and (i32.lt_u (local.get $woken) (local.get $n))
                             (i32.lt_u (local.get $tries) (i32.const 100_000_000)))))
    (local.get $woken)))

(thread $W1 (shared (module $Mem))
  (register "mem" $Mem)
  (module
    (memory (import "mem" "shared") 1 1 shared)
    (func (export "wait") (result i32) (memory.atomic.wait32 (i32.const 16) (i32.const 0) (i64.const 10_000_000_000))))
  (assert_return (invoke "wait") (i32.const 0)))
(thread $W2 (shared (module $Mem))
  (register "mem" $Mem)
  (module
    (memory (import "mem" "shared") 1 1 shared)
    (func (export "wait") (result i32) (memory.atomic.wait32 (i32.const 16) (i32.const 0) (i64.const 10_000_000_000))))
  (assert_return (invoke "wait") (i32.const 0)))
(thread $W3 (shared (module $Mem))
  (register "mem" $Mem)
  (module
    (memory (import "mem" "shared") 1 1 shared)
    (func (export "wait") (result i32) (memory.atomic.wait64 (i32.const 16) (i64.const 0) (i64.const 10_000_000_000))))
  (assert_return (invoke "wait") (i32.const 0)))

(assert_return (invoke $Waker "wake_one_by_one" (i32.const 3)) (i32.const 3))
(wait $W1)
(wait $W2)
(wait $W3)
(assert_return (invoke $Waker "wake_one_by_one" (i32.const 0)) (i32.const 0))
