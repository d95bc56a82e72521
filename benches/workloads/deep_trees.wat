;; Deep binary trees: complete trees of depth 18 (524,287 nodes, each with
;; a value and two children), so that the whole of a large, deep object
;; graph is live while it is built and walked. One tree lives for the whole
;; run; the others are built, summed and dropped one after another.
;;
;; run(n): n trees besides the long-lived one; allocates 524,287 (n + 1) nodes.
(module
  (type $node (struct (field $val i32) (field $l (ref null $node)) (field $r (ref null $node))))

  (func $build (param $d i32) (param $v i32) (result (ref $node))
    (if (result (ref $node)) (i32.eqz (local.get $d))
      (then (struct.new $node (local.get $v) (ref.null $node) (ref.null $node)))
      (else
        (struct.new $node (local.get $v)
          (call $build (i32.sub (local.get $d) (i32.const 1)) (i32.shl (local.get $v) (i32.const 1)))
          (call $build (i32.sub (local.get $d) (i32.const 1))
            (i32.add (i32.shl (local.get $v) (i32.const 1)) (i32.const 1)))))))

  ;; The values of the tree, mixed with their depth-first order.
  (func $sum (param $t (ref $node)) (result i32)
    (local $l (ref null $node))
    (local.set $l (struct.get $node $l (local.get $t)))
    (if (result i32) (ref.is_null (local.get $l))
      (then (struct.get $node $val (local.get $t)))
      (else
        (i32.add
          (i32.mul (call $sum (ref.as_non_null (local.get $l))) (i32.const 3))
          (i32.xor
            (struct.get $node $val (local.get $t))
            (call $sum (ref.as_non_null (struct.get $node $r (local.get $t)))))))))

  (func (export "run") (param $n i32) (result i32)
    (local $long (ref null $node)) (local $i i32) (local $acc i32)
    (local.set $long (call $build (i32.const 18) (i32.const 1)))
    (block $done
      (loop $trees
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $acc (i32.add (i32.mul (local.get $acc) (i32.const 31))
          (call $sum (call $build (i32.const 18) (i32.add (local.get $i) (i32.const 2))))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $trees)))
    (i32.add (i32.mul (local.get $acc) (i32.const 31))
      (call $sum (ref.as_non_null (local.get $long)))))
)
