;; A `ref.cast` in the `then` arm of an `if` on a `ref.test` of the same
;; value needs no check of its own when the test was at least as narrow
;; (compiled code skips it); everywhere else it still checks: in the
;; `else` arm, after the `if`, and when the test let null through.
(module
  (type $a (sub (struct (field i32))))
  (type $b (sub $a (struct (field i32) (field i32))))

  (func $make (export "make") (param $k i32) (result (ref null $a))
    (if (result (ref null $a)) (i32.eq (local.get $k) (i32.const 0))
      (then (ref.null $a))
      (else (if (result (ref null $a)) (i32.eq (local.get $k) (i32.const 1))
        (then (struct.new $a (i32.const 10)))
        (else (struct.new $b (i32.const 20) (i32.const 21)))))))

  ;; The proven cast: field 1 of a $b, else -1.
  (func (export "then_arm") (param $k i32) (result i32)
    (local $x (ref null $a))
    (local.set $x (call $make (local.get $k)))
    (if (result i32) (ref.test (ref $b) (local.get $x))
      (then (struct.get $b 1 (ref.cast (ref $b) (local.get $x))))
      (else (i32.const -1))))

  ;; A nullable test lets null into the `then` arm: the non-null cast
  ;; must still trap on it.
  (func (export "nullable_test") (param $k i32) (result i32)
    (local $x (ref null $a))
    (local.set $x (call $make (local.get $k)))
    (if (result i32) (ref.test (ref null $b) (local.get $x))
      (then (struct.get $b 1 (ref.cast (ref $b) (local.get $x))))
      (else (i32.const -1))))

  ;; The `else` arm proves nothing.
  (func (export "else_arm") (param $k i32) (result i32)
    (local $x (ref null $a))
    (local.set $x (call $make (local.get $k)))
    (if (result i32) (ref.test (ref $b) (local.get $x))
      (then (i32.const -1))
      (else (struct.get $b 1 (ref.cast (ref $b) (local.get $x))))))

  ;; Nor does the code after the `if`.
  (func (export "after") (param $k i32) (result i32)
    (local $x (ref null $a))
    (local.set $x (call $make (local.get $k)))
    (if (ref.test (ref $b) (local.get $x)) (then (nop)))
    (struct.get $b 1 (ref.cast (ref $b) (local.get $x))))

  ;; A local set again in the arm is another value.
  (func (export "reassigned") (param $k i32) (result i32)
    (local $x (ref null $a))
    (local.set $x (call $make (i32.const 2)))
    (if (result i32) (ref.test (ref $b) (local.get $x))
      (then
        (local.set $x (call $make (local.get $k)))
        (struct.get $b 1 (ref.cast (ref $b) (local.get $x))))
      (else (i32.const -1)))))

(assert_return (invoke "then_arm" (i32.const 2)) (i32.const 21))
(assert_return (invoke "then_arm" (i32.const 1)) (i32.const -1))
(assert_return (invoke "then_arm" (i32.const 0)) (i32.const -1))
(assert_return (invoke "nullable_test" (i32.const 2)) (i32.const 21))
(assert_return (invoke "nullable_test" (i32.const 1)) (i32.const -1))
(assert_trap (invoke "nullable_test" (i32.const 0)) "cast failure")
(assert_trap (invoke "else_arm" (i32.const 1)) "cast failure")
(assert_trap (invoke "else_arm" (i32.const 0)) "cast failure")
(assert_return (invoke "after" (i32.const 2)) (i32.const 21))
(assert_trap (invoke "after" (i32.const 1)) "cast failure")
(assert_return (invoke "reassigned" (i32.const 2)) (i32.const 21))
(assert_trap (invoke "reassigned" (i32.const 1)) "cast failure")
