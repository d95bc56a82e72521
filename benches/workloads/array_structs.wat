;; Arrays of structs: each round allocates an array of 500..1011 point
;; structs and an i32 array of the same length, fills both, updates the
;; points in place, then sums everything; the round's arrays then die.
;;
;; run(n): n rounds; allocates about 760 n structs and 2 n arrays.
(module
  (type $pt (struct (field $x (mut i32)) (field $y (mut i32))))
  (type $pts (array (mut (ref null $pt))))
  (type $ints (array (mut i32)))

  (func (export "run") (param $n i32) (result i32)
    (local $r i32) (local $i i32) (local $len i32) (local $acc i32)
    (local $a (ref null $pts)) (local $b (ref null $ints)) (local $p (ref null $pt))
    (block $done
      (loop $round
        (br_if $done (i32.ge_u (local.get $r) (local.get $n)))
        (local.set $len (i32.add (i32.const 500) (i32.and (local.get $r) (i32.const 511))))
        (local.set $a (array.new_default $pts (local.get $len)))
        (local.set $b (array.new $ints (local.get $r) (local.get $len)))
        ;; fill
        (local.set $i (i32.const 0))
        (loop $fill
          (array.set $pts (local.get $a) (local.get $i)
            (struct.new $pt
              (i32.add (local.get $i) (local.get $r))
              (i32.mul (local.get $i) (i32.const 3))))
          (array.set $ints (local.get $b) (local.get $i)
            (i32.add (array.get $ints (local.get $b) (local.get $i)) (local.get $i)))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if $fill (i32.lt_u (local.get $i) (local.get $len))))
        ;; update in place: x += y
        (local.set $i (i32.const 0))
        (loop $upd
          (local.set $p (array.get $pts (local.get $a) (local.get $i)))
          (struct.set $pt $x (local.get $p)
            (i32.add (struct.get $pt $x (local.get $p)) (struct.get $pt $y (local.get $p))))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if $upd (i32.lt_u (local.get $i) (local.get $len))))
        ;; sum
        (local.set $i (i32.const 0))
        (loop $sum
          (local.set $p (array.get $pts (local.get $a) (local.get $i)))
          (local.set $acc
            (i32.add (i32.mul (local.get $acc) (i32.const 31))
              (i32.xor
                (i32.mul (struct.get $pt $x (local.get $p)) (struct.get $pt $y (local.get $p)))
                (array.get $ints (local.get $b) (local.get $i)))))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if $sum (i32.lt_u (local.get $i) (local.get $len))))
        (local.set $acc (i32.add (local.get $acc) (array.len (local.get $a))))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $round)))
    (local.get $acc))
)
