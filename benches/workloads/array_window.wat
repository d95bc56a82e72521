;; A sliding window of i32 arrays under churn: 4,096 slots, each holding an
;; array of 16..1,024 elements (about 8.5 MB live). Each step allocates a new
;; array (length and contents from a xorshift generator), writes every 32nd
;; element, and puts it in the slot of the oldest array, which is read once
;; more and dropped. Every array lives exactly 4,096 steps.
;;
;; run(n): n steps; allocates n arrays, about 2.1 n KB.
(module
  (type $ints (array (mut i32)))
  (type $window (array (mut (ref null $ints))))

  ;; Every 32nd element of `a`, and its length, folded into one number.
  (func $sample (param $a (ref $ints)) (result i32)
    (local $i i32) (local $len i32) (local $s i32)
    (local.set $len (array.len (local.get $a)))
    (local.set $s (local.get $len))
    (loop $read
      (local.set $s (i32.add (i32.mul (local.get $s) (i32.const 17))
        (array.get $ints (local.get $a) (local.get $i))))
      (local.set $i (i32.add (local.get $i) (i32.const 32)))
      (br_if $read (i32.lt_u (local.get $i) (local.get $len))))
    (i32.add (local.get $s)
      (array.get $ints (local.get $a) (i32.sub (local.get $len) (i32.const 1)))))

  (func (export "run") (param $n i32) (result i32)
    (local $win (ref $window)) (local $a (ref $ints)) (local $old (ref null $ints))
    (local $step i32) (local $slot i32) (local $x i32) (local $len i32) (local $i i32)
    (local $acc i32)
    (local.set $win (array.new_default $window (i32.const 4096)))
    (local.set $x (i32.const 0x2545f491))
    (block $done
      (loop $steps
        (br_if $done (i32.ge_u (local.get $step) (local.get $n)))
        ;; xorshift32
        (local.set $x (i32.xor (local.get $x) (i32.shl (local.get $x) (i32.const 13))))
        (local.set $x (i32.xor (local.get $x) (i32.shr_u (local.get $x) (i32.const 17))))
        (local.set $x (i32.xor (local.get $x) (i32.shl (local.get $x) (i32.const 5))))
        (local.set $len (i32.add (i32.const 16)
          (i32.rem_u (i32.shr_u (local.get $x) (i32.const 1)) (i32.const 1009))))
        (local.set $a (array.new $ints (local.get $x) (local.get $len)))
        (local.set $i (i32.const 0))
        (loop $write
          (array.set $ints (local.get $a) (local.get $i)
            (i32.xor (local.get $step) (i32.mul (local.get $i) (i32.const 0x9e3779b1))))
          (local.set $i (i32.add (local.get $i) (i32.const 32)))
          (br_if $write (i32.lt_u (local.get $i) (local.get $len))))
        (local.set $slot (i32.and (local.get $step) (i32.const 4095)))
        (local.set $old (array.get $window (local.get $win) (local.get $slot)))
        (if (i32.eqz (ref.is_null (local.get $old)))
          (then
            (local.set $acc (i32.add (i32.mul (local.get $acc) (i32.const 31))
              (call $sample (ref.as_non_null (local.get $old)))))))
        (array.set $window (local.get $win) (local.get $slot) (local.get $a))
        (local.set $step (i32.add (local.get $step) (i32.const 1)))
        (br $steps)))
    ;; the arrays still in the window
    (local.set $slot (i32.const 0))
    (loop $rest
      (local.set $old (array.get $window (local.get $win) (local.get $slot)))
      (if (i32.eqz (ref.is_null (local.get $old)))
        (then
          (local.set $acc (i32.add (i32.mul (local.get $acc) (i32.const 7))
            (call $sample (ref.as_non_null (local.get $old)))))))
      (local.set $slot (i32.add (local.get $slot) (i32.const 1)))
      (br_if $rest (i32.lt_u (local.get $slot) (i32.const 4096))))
    (local.get $acc))
)
