;; i31 boxing and unboxing, the way a dynamic language represents integers:
;; values that fit in 31 bits are i31refs, the others are boxed in a struct.
;; A table of 256 `eqref` slots is stepped through an LCG; each step unboxes
;; a slot (a cast: i31 or box), computes, and boxes the result back. About
;; one store in 16 needs a box, so most of the work is i31 traffic and casts.
;;
;; run(n): n steps.
(module
  (type $big (struct (field i32)))
  (type $slots (array (mut (ref null eq))))

  (func $box (param $v i32) (result (ref eq))
    (if (result (ref eq))
      (i32.eq (i32.shr_s (i32.shl (local.get $v) (i32.const 1)) (i32.const 1)) (local.get $v))
      (then (ref.i31 (local.get $v)))
      (else (struct.new $big (local.get $v)))))

  (func $unbox (param $r (ref eq)) (result i32)
    (block $boxed (result (ref eq))
      (br_on_cast_fail $boxed (ref eq) (ref i31) (local.get $r))
      (return (i31.get_s)))
    (struct.get $big 0 (ref.cast (ref $big))))

  (func (export "run") (param $n i32) (result i32)
    (local $s (ref null $slots)) (local $i i32) (local $j i32) (local $v i32)
    (local $acc i32) (local $small i32)
    (local.set $s (array.new_default $slots (i32.const 256)))
    (loop $init
      (array.set $slots (local.get $s) (local.get $i)
        (call $box (i32.mul (local.get $i) (i32.const 12345))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $init (i32.lt_u (local.get $i) (i32.const 256))))
    (local.set $i (i32.const 0))
    (block $done
      (loop $step
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $j (i32.and (i32.mul (local.get $i) (i32.const 167)) (i32.const 255)))
        (local.set $v (call $unbox (ref.as_non_null (array.get $slots (local.get $s) (local.get $j)))))
        (local.set $acc (i32.add (i32.mul (local.get $acc) (i32.const 31)) (local.get $v)))
        (local.set $v (i32.add (i32.mul (local.get $v) (i32.const 1103515245)) (i32.const 12345)))
        ;; 15 steps in 16 keep the value in 29 bits (always an i31)
        (if (i32.and (local.get $i) (i32.const 15))
          (then (local.set $v (i32.shr_s (local.get $v) (i32.const 3)))))
        (array.set $slots (local.get $s) (local.get $j) (call $box (local.get $v)))
        (local.set $small
          (i32.add (local.get $small)
            (ref.test (ref i31) (array.get $slots (local.get $s) (local.get $j)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $step)))
    (i32.xor (local.get $acc) (i32.shl (local.get $small) (i32.const 7))))
)
