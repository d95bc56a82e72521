;; Zeroed arrays of numbers, the way Java or Kotlin code makes `new
;; int[n]` buffers: each step allocates an `(array (mut i32))` of 64..2,063
;; elements with `array.new_default` (0.25-8 KB, zeroed), writes its last
;; element, reads its middle and last ones, and keeps it in a window of 64
;; (so a few hundred KB live). Zeroing over recycled memory is most of the
;; work.
;;
;; run(n): n steps; allocates n arrays, about 4.3 n KB.
(module
  (type $ints (array (mut i32)))
  (type $window (array (mut (ref null $ints))))
  (func (export "run") (param $n i32) (result i32)
    (local $win (ref $window)) (local $a (ref $ints)) (local $x i32) (local $len i32)
    (local $step i32) (local $acc i32)
    (local.set $win (array.new_default $window (i32.const 64)))
    (local.set $x (i32.const 0x2545f491))
    (block $done
      (loop $steps
        (br_if $done (i32.ge_u (local.get $step) (local.get $n)))
        ;; xorshift32
        (local.set $x (i32.xor (local.get $x) (i32.shl (local.get $x) (i32.const 13))))
        (local.set $x (i32.xor (local.get $x) (i32.shr_u (local.get $x) (i32.const 17))))
        (local.set $x (i32.xor (local.get $x) (i32.shl (local.get $x) (i32.const 5))))
        (local.set $len (i32.add (i32.const 64)
          (i32.rem_u (i32.shr_u (local.get $x) (i32.const 1)) (i32.const 2000))))
        (local.set $a (array.new_default $ints (local.get $len)))
        (array.set $ints (local.get $a) (i32.sub (local.get $len) (i32.const 1)) (local.get $step))
        (local.set $acc (i32.add (i32.mul (local.get $acc) (i32.const 31))
          (i32.add (array.get $ints (local.get $a) (i32.shr_u (local.get $len) (i32.const 1)))
            (array.get $ints (local.get $a) (i32.sub (local.get $len) (i32.const 1))))))
        (array.set $window (local.get $win) (i32.and (local.get $step) (i32.const 63)) (local.get $a))
        (local.set $step (i32.add (local.get $step) (i32.const 1)))
        (br $steps)))
    (local.get $acc)))
