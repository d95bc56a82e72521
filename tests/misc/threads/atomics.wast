;; Atomic memory instructions (`-W threads`), on a shared and an unshared
;; memory: every width zero-extends what it reads and wraps what it
;; writes, read-modify-writes return the old value, compare-exchange
;; compares the wrapped expected value, a misaligned access traps
;; `unaligned atomic` and one that is also out of bounds traps as out of
;; bounds (the spec checks bounds first).
(module
  (memory 1 1 shared)
  (func (export "init") (param i32 i64) (i64.store (local.get 0) (local.get 1)))
  (func (export "plain64") (param i32) (result i64) (i64.load (local.get 0)))
  (func (export "load8") (param i32) (result i32) (i32.atomic.load8_u (local.get 0)))
  (func (export "load16") (param i32) (result i32) (i32.atomic.load16_u (local.get 0)))
  (func (export "load32") (param i32) (result i32) (i32.atomic.load (local.get 0)))
  (func (export "load64_32") (param i32) (result i64) (i64.atomic.load32_u (local.get 0)))
  (func (export "load64") (param i32) (result i64) (i64.atomic.load (local.get 0)))
  (func (export "store8") (param i32 i32) (i32.atomic.store8 (local.get 0) (local.get 1)))
  (func (export "store64_16") (param i32 i64) (i64.atomic.store16 (local.get 0) (local.get 1)))
  (func (export "store64") (param i32 i64) (i64.atomic.store (local.get 0) (local.get 1)))
  (func (export "add32") (param i32 i32) (result i32) (i32.atomic.rmw.add (local.get 0) (local.get 1)))
  (func (export "sub8") (param i32 i32) (result i32) (i32.atomic.rmw8.sub_u (local.get 0) (local.get 1)))
  (func (export "and64") (param i32 i64) (result i64) (i64.atomic.rmw.and (local.get 0) (local.get 1)))
  (func (export "or16") (param i32 i64) (result i64) (i64.atomic.rmw16.or_u (local.get 0) (local.get 1)))
  (func (export "xor32") (param i32 i64) (result i64) (i64.atomic.rmw32.xor_u (local.get 0) (local.get 1)))
  (func (export "xchg8") (param i32 i32) (result i32) (i32.atomic.rmw8.xchg_u (local.get 0) (local.get 1)))
  (func (export "cmpxchg32") (param i32 i32 i32) (result i32) (i32.atomic.rmw.cmpxchg (local.get 0) (local.get 1) (local.get 2)))
  (func (export "cmpxchg8") (param i32 i32 i32) (result i32) (i32.atomic.rmw8.cmpxchg_u (local.get 0) (local.get 1) (local.get 2)))
  (func (export "cmpxchg64_16") (param i32 i64 i64) (result i64) (i64.atomic.rmw16.cmpxchg_u (local.get 0) (local.get 1) (local.get 2)))
  (func (export "fence") (atomic.fence)))

(invoke "init" (i32.const 0) (i64.const 0x1122334455667788))
(assert_return (invoke "load8" (i32.const 0)) (i32.const 0x88))
(assert_return (invoke "load16" (i32.const 0)) (i32.const 0x7788))
(assert_return (invoke "load32" (i32.const 4)) (i32.const 0x11223344))
(assert_return (invoke "load64_32" (i32.const 0)) (i64.const 0x55667788))
(assert_return (invoke "load64" (i32.const 0)) (i64.const 0x1122334455667788))

(invoke "store8" (i32.const 0) (i32.const 0x1ff))
(invoke "store64_16" (i32.const 2) (i64.const 0x123456))
(assert_return (invoke "plain64" (i32.const 0)) (i64.const 0x11223344_3456_77ff))
(invoke "store64" (i32.const 8) (i64.const -1))
(assert_return (invoke "load64" (i32.const 8)) (i64.const -1))

(invoke "init" (i32.const 16) (i64.const 0))
(assert_return (invoke "add32" (i32.const 16) (i32.const 5)) (i32.const 0))
(assert_return (invoke "add32" (i32.const 16) (i32.const -1)) (i32.const 5))
(assert_return (invoke "load32" (i32.const 16)) (i32.const 4))
(assert_return (invoke "sub8" (i32.const 16) (i32.const 0x105)) (i32.const 4))
(assert_return (invoke "load32" (i32.const 16)) (i32.const 0xff))
(assert_return (invoke "xchg8" (i32.const 16) (i32.const 0x7a)) (i32.const 0xff))
(assert_return (invoke "load8" (i32.const 16)) (i32.const 0x7a))

(invoke "init" (i32.const 24) (i64.const -1))
(assert_return (invoke "and64" (i32.const 24) (i64.const 0xf0f0)) (i64.const -1))
(assert_return (invoke "or16" (i32.const 24) (i64.const 0x1_0f0f)) (i64.const 0xf0f0))
(assert_return (invoke "plain64" (i32.const 24)) (i64.const 0xffff))
(assert_return (invoke "xor32" (i32.const 24) (i64.const 0x1_ffff_0000)) (i64.const 0xffff))
(assert_return (invoke "plain64" (i32.const 24)) (i64.const 0xffff_ffff))

;; A failed compare-exchange stores nothing; a narrow one compares the
;; wrapped expected value.
(invoke "init" (i32.const 32) (i64.const 0x42))
(assert_return (invoke "cmpxchg32" (i32.const 32) (i32.const 0x41) (i32.const 7)) (i32.const 0x42))
(assert_return (invoke "load32" (i32.const 32)) (i32.const 0x42))
(assert_return (invoke "cmpxchg32" (i32.const 32) (i32.const 0x42) (i32.const 7)) (i32.const 0x42))
(assert_return (invoke "load32" (i32.const 32)) (i32.const 7))
(assert_return (invoke "cmpxchg8" (i32.const 32) (i32.const 0x307) (i32.const 0x1ab)) (i32.const 7))
(assert_return (invoke "load32" (i32.const 32)) (i32.const 0xab))
(assert_return (invoke "cmpxchg64_16" (i32.const 32) (i64.const 0x1_00ab) (i64.const 0x2_beef)) (i64.const 0xab))
(assert_return (invoke "load32" (i32.const 32)) (i32.const 0xbeef))
(invoke "fence")

(assert_trap (invoke "load16" (i32.const 1)) "unaligned atomic")
(assert_trap (invoke "load64" (i32.const 4)) "unaligned atomic")
(assert_trap (invoke "add32" (i32.const 2) (i32.const 0)) "unaligned atomic")
(assert_trap (invoke "cmpxchg64_16" (i32.const 3) (i64.const 0) (i64.const 0)) "unaligned atomic")
(assert_return (invoke "load8" (i32.const 65535)) (i32.const 0))
(assert_trap (invoke "load8" (i32.const 65536)) "out of bounds memory access")
(assert_trap (invoke "load32" (i32.const 65536)) "out of bounds memory access")
(assert_trap (invoke "load64" (i32.const 65532)) "out of bounds memory access")
(assert_trap (invoke "load32" (i32.const 65535)) "out of bounds memory access")
(assert_trap (invoke "add32" (i32.const -1) (i32.const 0)) "out of bounds memory access")

;; Atomics on an unshared memory.
(module
  (memory 1)
  (func (export "add") (param i32 i64) (result i64) (i64.atomic.rmw.add (local.get 0) (local.get 1)))
  (func (export "load") (param i32) (result i64) (i64.atomic.load (local.get 0))))
(assert_return (invoke "add" (i32.const 8) (i64.const 3)) (i64.const 0))
(assert_return (invoke "load" (i32.const 8)) (i64.const 3))
(assert_trap (invoke "add" (i32.const 12) (i64.const 3)) "unaligned atomic")
