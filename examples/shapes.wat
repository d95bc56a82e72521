;; A small GC program: a hierarchy of shape structs, arrays of them, and
;; casts to tell them apart. Each round builds an array of 1,000 shapes,
;; sums their areas (dispatching on the concrete type with br_on_cast),
;; and drops them; 2,000 rounds allocate about 80 MB, so the collector
;; runs several times (`kiln run --gc-stats` shows how often).
;;
;; main() returns the integer part of the total area of the last round and
;; the number of rounds.
(module
  (type $shape (sub (struct (field $id i32))))
  (type $circle (sub final $shape (struct (field $id i32) (field $r f64))))
  (type $rect (sub final $shape (struct (field $id i32) (field $w f64) (field $h f64))))
  (type $shapes (array (mut (ref null $shape))))

  (func $make (param $i i32) (result (ref $shape))
    (if (result (ref $shape)) (i32.and (local.get $i) (i32.const 1))
      (then (struct.new $circle (local.get $i) (f64.convert_i32_u (i32.rem_u (local.get $i) (i32.const 10)))))
      (else (struct.new $rect (local.get $i)
        (f64.convert_i32_u (i32.rem_u (local.get $i) (i32.const 7)))
        (f64.convert_i32_u (i32.rem_u (local.get $i) (i32.const 5)))))))

  (func $area (param $s (ref $shape)) (result f64)
    (local $c (ref null $circle)) (local $r (ref null $rect))
    (block $not_circle (result (ref $shape))
      (local.set $c (br_on_cast_fail $not_circle (ref $shape) (ref $circle) (local.get $s)))
      (return (f64.mul (f64.const 3.141592653589793)
        (f64.mul (struct.get $circle $r (local.get $c)) (struct.get $circle $r (local.get $c))))))
    (local.set $r (ref.cast (ref $rect)))
    (f64.mul (struct.get $rect $w (local.get $r)) (struct.get $rect $h (local.get $r))))

  (func $round (param $seed i32) (result f64)
    (local $a (ref $shapes)) (local $i i32) (local $sum f64)
    (local.set $a (array.new_default $shapes (i32.const 1000)))
    (loop $fill
      (array.set $shapes (local.get $a) (local.get $i) (call $make (i32.add (local.get $seed) (local.get $i))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $fill (i32.lt_u (local.get $i) (i32.const 1000))))
    (local.set $i (i32.const 0))
    (loop $sum
      (local.set $sum (f64.add (local.get $sum)
        (call $area (ref.as_non_null (array.get $shapes (local.get $a) (local.get $i))))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $sum (i32.lt_u (local.get $i) (i32.const 1000))))
    (local.get $sum))

  (func (export "main") (result i64 i32)
    (local $n i32) (local $last f64)
    (loop $rounds
      (local.set $last (call $round (local.get $n)))
      (local.set $n (i32.add (local.get $n) (i32.const 1)))
      (br_if $rounds (i32.lt_u (local.get $n) (i32.const 2000))))
    (i64.trunc_f64_u (local.get $last))
    (local.get $n)))
