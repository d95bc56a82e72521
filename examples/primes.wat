;; Counts the primes below a bound with the sieve of Eratosthenes, in linear
;; memory, then sums them with a helper call per prime.
;;
;;   cargo run --release -- run examples/primes.wat --invoke main
;;   cargo run --release -- run examples/primes.wat --invoke count_primes 1000
(module
  (memory 2)

  ;; Marks composites in bytes [0, n): byte i is 1 when i is composite.
  (func $sieve (param $n i32)
    (local $i i32) (local $j i32)
    (memory.fill (i32.const 0) (i32.const 0) (local.get $n))
    (local.set $i (i32.const 2))
    (block $done
      (loop $outer
        (br_if $done (i32.gt_u (i32.mul (local.get $i) (local.get $i)) (local.get $n)))
        (if (i32.eqz (i32.load8_u (local.get $i)))
          (then
            (local.set $j (i32.mul (local.get $i) (local.get $i)))
            (block $inner_done
              (loop $inner
                (br_if $inner_done (i32.ge_u (local.get $j) (local.get $n)))
                (i32.store8 (local.get $j) (i32.const 1))
                (local.set $j (i32.add (local.get $j) (local.get $i)))
                (br $inner)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $outer))))

  (func $is_prime (param $k i32) (result i32)
    (i32.and (i32.ge_u (local.get $k) (i32.const 2))
             (i32.eqz (i32.load8_u (local.get $k)))))

  ;; Number of primes below $n (at most 131072, the size of memory).
  (func $count_primes (export "count_primes") (param $n i32) (result i32)
    (local $k i32) (local $count i32)
    (call $sieve (local.get $n))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $k) (local.get $n)))
        (local.set $count (i32.add (local.get $count) (call $is_prime (local.get $k))))
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (br $next)))
    (local.get $count))

  ;; Sum of the primes below $n, as an i64.
  (func $sum_primes (export "sum_primes") (param $n i32) (result i64)
    (local $k i32) (local $sum i64)
    (call $sieve (local.get $n))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $k) (local.get $n)))
        (if (call $is_prime (local.get $k))
          (then (local.set $sum (i64.add (local.get $sum) (i64.extend_i32_u (local.get $k))))))
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (br $next)))
    (local.get $sum))

  ;; The primes below 100000: 9592 of them, summing to 454396537.
  (func (export "main") (result i32 i64)
    (call $count_primes (i32.const 100000))
    (call $sum_primes (i32.const 100000))))
