;; Dense f64 matrix multiply C = A x B in linear memory (no GC), i-k-j
;; loop order. Entries are small integers, so every product and sum is
;; exact and all engines must agree bit for bit.
;;
;; run(n): n x n matrices; returns a checksum of C's entries.
(module
  (memory 1)

  (func (export "run") (param $n i32) (result i32)
    (local $nn i32) (local $a i32) (local $b i32) (local $c i32) (local $need i32)
    (local $i i32) (local $j i32) (local $k i32) (local $aik f64) (local $row i32) (local $acc i32)
    (local.set $nn (i32.mul (local.get $n) (local.get $n)))
    (local.set $a (i32.const 0))
    (local.set $b (i32.shl (local.get $nn) (i32.const 3)))
    (local.set $c (i32.shl (local.get $nn) (i32.const 4)))
    (local.set $need (i32.shr_u (i32.add (i32.mul (local.get $nn) (i32.const 24)) (i32.const 65535)) (i32.const 16)))
    (if (i32.gt_u (local.get $need) (memory.size))
      (then (drop (memory.grow (i32.sub (local.get $need) (memory.size))))))
    ;; A[i][j] = (7i + 3j) mod 17 - 8, B[i][j] = (5i + j) mod 13 - 6, C = 0
    (local.set $i (i32.const 0))
    (loop $fi
      (local.set $j (i32.const 0))
      (loop $fj
        (local.set $k (i32.shl (i32.add (i32.mul (local.get $i) (local.get $n)) (local.get $j)) (i32.const 3)))
        (f64.store (i32.add (local.get $a) (local.get $k))
          (f64.convert_i32_s
            (i32.sub (i32.rem_u (i32.add (i32.mul (local.get $i) (i32.const 7)) (i32.mul (local.get $j) (i32.const 3))) (i32.const 17)) (i32.const 8))))
        (f64.store (i32.add (local.get $b) (local.get $k))
          (f64.convert_i32_s
            (i32.sub (i32.rem_u (i32.add (i32.mul (local.get $i) (i32.const 5)) (local.get $j)) (i32.const 13)) (i32.const 6))))
        (f64.store (i32.add (local.get $c) (local.get $k)) (f64.const 0))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br_if $fj (i32.lt_u (local.get $j) (local.get $n))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $fi (i32.lt_u (local.get $i) (local.get $n))))
    ;; multiply
    (local.set $i (i32.const 0))
    (loop $li
      (local.set $k (i32.const 0))
      (loop $lk
        (local.set $aik
          (f64.load (i32.add (local.get $a)
            (i32.shl (i32.add (i32.mul (local.get $i) (local.get $n)) (local.get $k)) (i32.const 3)))))
        (local.set $row (i32.shl (i32.mul (local.get $k) (local.get $n)) (i32.const 3)))
        (local.set $j (i32.const 0))
        (loop $lj
          (f64.store
            (i32.add (local.get $c) (i32.shl (i32.add (i32.mul (local.get $i) (local.get $n)) (local.get $j)) (i32.const 3)))
            (f64.add
              (f64.load (i32.add (local.get $c) (i32.shl (i32.add (i32.mul (local.get $i) (local.get $n)) (local.get $j)) (i32.const 3))))
              (f64.mul (local.get $aik)
                (f64.load (i32.add (i32.add (local.get $b) (local.get $row)) (i32.shl (local.get $j) (i32.const 3)))))))
          (local.set $j (i32.add (local.get $j) (i32.const 1)))
          (br_if $lj (i32.lt_u (local.get $j) (local.get $n))))
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (br_if $lk (i32.lt_u (local.get $k) (local.get $n))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $li (i32.lt_u (local.get $i) (local.get $n))))
    ;; checksum
    (local.set $k (i32.const 0))
    (loop $ck
      (local.set $acc
        (i32.add (i32.mul (local.get $acc) (i32.const 31))
          (i32.trunc_f64_s (f64.load (i32.add (local.get $c) (i32.shl (local.get $k) (i32.const 3)))))))
      (local.set $k (i32.add (local.get $k) (i32.const 1)))
      (br_if $ck (i32.lt_u (local.get $k) (local.get $nn))))
    (local.get $acc))
)
