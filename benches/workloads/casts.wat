;; Casts down a class hierarchy, the way Java- or Kotlin-compiled code
;; tests and downcasts objects: four levels of non-final struct types
;; (each a subtype of the one above), 64 objects of mixed levels in an
;; array, and per step a `ref.test` to a middle level, a `br_on_cast` to
;; the deepest level and a `ref.cast` to the second. No allocation in the
;; loop: the time is the casts.
;;
;; run(n): n steps.
(module
  (type $a (sub (struct (field i32))))
  (type $b (sub $a (struct (field i32) (field i32))))
  (type $c (sub $b (struct (field i32) (field i32) (field i32))))
  (type $d (sub $c (struct (field i32) (field i32) (field i32) (field i32))))
  (type $objs (array (mut (ref null $a))))

  (func $make (param $i i32) (result (ref $a))
    (block $three (block $two (block $one (block $zero
      (br_table $zero $one $two $three (i32.and (local.get $i) (i32.const 3))))
      (return (struct.new $a (local.get $i))))
      (return (struct.new $b (local.get $i) (i32.const 1))))
      (return (struct.new $c (local.get $i) (i32.const 1) (i32.const 2))))
    (struct.new $d (local.get $i) (i32.const 1) (i32.const 2) (i32.const 3)))

  (func $visit (param $o (ref $a)) (result i32)
    (local $acc i32)
    (if (ref.test (ref $c) (local.get $o))
      (then (local.set $acc (i32.const 100))))
    (block $not_d (result (ref $a))
      (br_on_cast_fail $not_d (ref $a) (ref $d) (local.get $o))
      (struct.get $d 3)
      (local.get $acc)
      (i32.add)
      (local.set $acc)
      (local.get $o))
    (drop)
    (if (result i32) (ref.test (ref $b) (local.get $o))
      (then (i32.add (local.get $acc) (struct.get $b 1 (ref.cast (ref $b) (local.get $o)))))
      (else (i32.add (local.get $acc) (struct.get $a 0 (local.get $o))))))

  (func (export "run") (param $n i32) (result i32)
    (local $objs (ref null $objs)) (local $i i32) (local $acc i32)
    (local.set $objs (array.new_default $objs (i32.const 64)))
    (loop $init
      (array.set $objs (local.get $objs) (local.get $i) (call $make (i32.mul (local.get $i) (i32.const 7))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $init (i32.lt_u (local.get $i) (i32.const 64))))
    (local.set $i (i32.const 0))
    (block $done
      (loop $step
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $acc (i32.add (i32.mul (local.get $acc) (i32.const 31))
          (call $visit (ref.as_non_null (array.get $objs (local.get $objs) (i32.and (i32.mul (local.get $i) (i32.const 13)) (i32.const 63)))))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $step)))
    (local.get $acc)))
