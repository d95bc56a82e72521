;; Memory-heavy loop (no GC): a 4 MiB array of 2^20 i32 words is filled from
;; a xorshift generator, then each pass rewrites every word from itself and
;; a pseudo-randomly chosen other word (cache-unfriendly loads), and finally
;; a memory.copy moves the first half over the second.
;;
;; run(n): n passes; returns a checksum of the final array.
(module
  (memory 64)

  (func (export "run") (param $n i32) (result i32)
    (local $i i32) (local $x i32) (local $p i32) (local $addr i32) (local $acc i32)
    ;; fill
    (local.set $x (i32.const 2463534242))
    (loop $fill
      (local.set $x (i32.xor (local.get $x) (i32.shl (local.get $x) (i32.const 13))))
      (local.set $x (i32.xor (local.get $x) (i32.shr_u (local.get $x) (i32.const 17))))
      (local.set $x (i32.xor (local.get $x) (i32.shl (local.get $x) (i32.const 5))))
      (i32.store (i32.shl (local.get $i) (i32.const 2)) (local.get $x))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $fill (i32.lt_u (local.get $i) (i32.const 1048576))))
    (block $done
      (loop $pass
        (br_if $done (i32.ge_u (local.get $p) (local.get $n)))
        (local.set $i (i32.const 0))
        (loop $w
          (local.set $addr (i32.shl (local.get $i) (i32.const 2)))
          (local.set $x
            (i32.load
              (i32.shl
                (i32.and
                  (i32.add (i32.mul (local.get $i) (i32.const 2654435761)) (local.get $p))
                  (i32.const 1048575))
                (i32.const 2))))
          (i32.store (local.get $addr)
            (i32.add
              (i32.mul (i32.load (local.get $addr)) (i32.const 0x9e3779b1))
              (i32.xor (i32.rotl (local.get $x) (i32.const 7)) (local.get $p))))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if $w (i32.lt_u (local.get $i) (i32.const 1048576))))
        (memory.copy (i32.const 2097152) (i32.const 0) (i32.const 2097152))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $pass)))
    (local.set $i (i32.const 0))
    (loop $sum
      (local.set $acc
        (i32.add (i32.rotl (local.get $acc) (i32.const 5))
          (i32.load (i32.shl (local.get $i) (i32.const 2)))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $sum (i32.lt_u (local.get $i) (i32.const 1048576))))
    (local.get $acc))
)
