;; Naive doubly recursive Fibonacci: call overhead, no memory, no GC.
;;
;; run(n): fib(n) modulo 2^32, computed with 2 fib(n+1) - 1 calls.
(module
  (func $fib (param $n i32) (result i32)
    (if (result i32) (i32.lt_u (local.get $n) (i32.const 2))
      (then (local.get $n))
      (else
        (i32.add
          (call $fib (i32.sub (local.get $n) (i32.const 1)))
          (call $fib (i32.sub (local.get $n) (i32.const 2)))))))
  (func (export "run") (param $n i32) (result i32)
    (call $fib (local.get $n)))
)
