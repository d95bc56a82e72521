;; Type dispatch through a five-level class hierarchy, the way compiled
;; `when (x) { is D -> ...; is C -> ... }` or `instanceof` chains look: a
;; table of 256 `anyref`s holds objects of levels 0..4 (non-final struct
;; types, each a subtype of the one above, the deepest one final), objects
;; of an unrelated struct type, and i31refs. Each step picks one and tests
;; it from the deepest level up with `br_on_cast` (from the abstract
;; `anyref`, so most tests fail first); each level's handler also calls a
;; method of level 0 that does a `ref.test` and a `ref.cast` to level 2.
;; No allocation in the loop: the time is the casts.
;;
;; run(n): n steps.
(module
  (type $t0 (sub (struct (field i32))))
  (type $t1 (sub $t0 (struct (field i32) (field i32))))
  (type $t2 (sub $t1 (struct (field i32) (field i32) (field i32))))
  (type $t3 (sub $t2 (struct (field i32) (field i32) (field i32) (field i32))))
  (type $t4 (sub final $t3 (struct (field i32) (field i32) (field i32) (field i32) (field i32))))
  (type $other (struct (field i32) (field f64)))
  (type $objs (array (mut anyref)))

  (func $make (param $i i32) (result anyref)
    (block $six (block $five (block $four (block $three (block $two (block $one (block $zero
      (br_table $zero $one $two $three $four $five $six (i32.rem_u (local.get $i) (i32.const 7))))
      (return (struct.new $t0 (local.get $i))))
      (return (struct.new $t1 (local.get $i) (i32.const 1))))
      (return (struct.new $t2 (local.get $i) (i32.const 1) (i32.const 2))))
      (return (struct.new $t3 (local.get $i) (i32.const 1) (i32.const 2) (i32.const 3))))
      (return (struct.new $t4 (local.get $i) (i32.const 1) (i32.const 2) (i32.const 3) (i32.const 4))))
      (return (struct.new $other (local.get $i) (f64.const 0.5))))
    (ref.i31 (local.get $i)))

  ;; A method defined at level 0: uses level 2's field when there is one.
  (func $base (param $o (ref $t0)) (result i32)
    (if (result i32) (ref.test (ref $t2) (local.get $o))
      (then (struct.get $t2 2 (ref.cast (ref $t2) (local.get $o))))
      (else (struct.get $t0 0 (local.get $o)))))

  ;; Not in the hierarchy: an i31 or an $other.
  (func $outsider (param $o anyref) (result i32)
    (if (result i32) (ref.test (ref i31) (local.get $o))
      (then (i31.get_s (ref.cast (ref i31) (local.get $o))))
      (else (struct.get $other 0 (ref.cast (ref $other) (local.get $o))))))

  (func $visit (param $o anyref) (result i32)
    (local $r4 (ref null $t4)) (local $r3 (ref null $t3)) (local $r2 (ref null $t2))
    (local $r1 (ref null $t1))
    block $is4 (result (ref $t4))
    block $is3 (result (ref $t3))
    block $is2 (result (ref $t2))
    block $is1 (result (ref $t1))
    block $is0 (result (ref $t0))
      local.get $o
      br_on_cast $is4 anyref (ref $t4)
      br_on_cast $is3 anyref (ref $t3)
      br_on_cast $is2 anyref (ref $t2)
      br_on_cast $is1 anyref (ref $t1)
      br_on_cast $is0 anyref (ref $t0)
      call $outsider
      return
    end
    ;; level 0
    call $base
    return
    end
    ;; level 1
    local.tee $r1
    struct.get $t1 1
    local.get $r1
    ref.as_non_null
    call $base
    i32.add
    return
    end
    ;; level 2
    local.tee $r2
    struct.get $t2 2
    local.get $r2
    ref.as_non_null
    call $base
    i32.mul
    return
    end
    ;; level 3
    local.tee $r3
    struct.get $t3 3
    local.get $r3
    ref.as_non_null
    call $base
    i32.xor
    return
    end
    ;; level 4
    local.tee $r4
    struct.get $t4 4
    local.get $r4
    ref.as_non_null
    call $base
    i32.sub)

  (func (export "run") (param $n i32) (result i32)
    (local $objs (ref null $objs)) (local $i i32) (local $acc i32)
    (local.set $objs (array.new_default $objs (i32.const 256)))
    (loop $init
      (array.set $objs (local.get $objs) (local.get $i) (call $make (i32.mul (local.get $i) (i32.const 11))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $init (i32.lt_u (local.get $i) (i32.const 256))))
    (local.set $i (i32.const 0))
    (block $done
      (loop $step
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $acc (i32.add (i32.mul (local.get $acc) (i32.const 31))
          (call $visit (array.get $objs (local.get $objs)
            (i32.and (i32.mul (local.get $i) (i32.const 13)) (i32.const 255))))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $step)))
    (local.get $acc))
)
