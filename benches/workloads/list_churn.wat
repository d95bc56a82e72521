;; Linked-list churn: a queue of 10,000 live cons cells is rotated (the
;; oldest cell dropped, a new one appended through a mutable `next` field,
;; so old cells point at young ones), and every 64 steps a short-lived list
;; of 100 cells is built and reversed twice (allocating each time).
;;
;; run(n): n rotation steps; allocates about 5.7 n cells.
(module
  (type $cell (struct (field $val (mut i32)) (field $next (mut (ref null $cell)))))
  (global $head (mut (ref null $cell)) (ref.null $cell))
  (global $tail (mut (ref null $cell)) (ref.null $cell))

  (func $push_back (param $v i32)
    (local $c (ref null $cell))
    (local.set $c (struct.new $cell (local.get $v) (ref.null $cell)))
    (if (ref.is_null (global.get $tail))
      (then (global.set $head (local.get $c)))
      (else (struct.set $cell $next (global.get $tail) (local.get $c))))
    (global.set $tail (local.get $c)))

  (func $pop_front (result i32)
    (local $h (ref null $cell))
    (local.set $h (global.get $head))
    (global.set $head (struct.get $cell $next (local.get $h)))
    (if (ref.is_null (global.get $head)) (then (global.set $tail (ref.null $cell))))
    (struct.get $cell $val (local.get $h)))

  (func $sum (param $l (ref null $cell)) (result i32)
    (local $s i32)
    (block $done
      (loop $walk
        (br_if $done (ref.is_null (local.get $l)))
        (local.set $s (i32.add (i32.mul (local.get $s) (i32.const 3)) (struct.get $cell $val (local.get $l))))
        (local.set $l (struct.get $cell $next (local.get $l)))
        (br $walk)))
    (local.get $s))

  (func $reverse (param $l (ref null $cell)) (result (ref null $cell))
    (local $out (ref null $cell))
    (block $done
      (loop $walk
        (br_if $done (ref.is_null (local.get $l)))
        (local.set $out (struct.new $cell (struct.get $cell $val (local.get $l)) (local.get $out)))
        (local.set $l (struct.get $cell $next (local.get $l)))
        (br $walk)))
    (local.get $out))

  (func $build (param $k i32) (param $seed i32) (result (ref null $cell))
    (local $out (ref null $cell)) (local $i i32)
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $i) (local.get $k)))
        (local.set $out
          (struct.new $cell
            (i32.xor (local.get $seed) (i32.mul (local.get $i) (i32.const 0x9e3779b1)))
            (local.get $out)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $l)))
    (local.get $out))

  (func (export "run") (param $n i32) (result i32)
    (local $i i32) (local $acc i32)
    (global.set $head (ref.null $cell))
    (global.set $tail (ref.null $cell))
    (loop $fill
      (call $push_back (local.get $i))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $fill (i32.lt_u (local.get $i) (i32.const 10000))))
    (local.set $i (i32.const 0))
    (block $done
      (loop $step
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $acc (i32.add (local.get $acc) (call $pop_front)))
        (call $push_back (i32.mul (local.get $i) (i32.const 7)))
        (if (i32.eqz (i32.and (local.get $i) (i32.const 63)))
          (then
            (local.set $acc
              (i32.add (i32.mul (local.get $acc) (i32.const 5))
                (call $sum
                  (call $reverse (call $reverse (call $build (i32.const 100) (local.get $i)))))))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $step)))
    (i32.add (local.get $acc) (call $sum (global.get $head))))
)
