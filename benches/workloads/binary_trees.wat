;; Binary trees, after the Computer Language Benchmarks Game program:
;; allocate complete binary trees of many depths, walk each one, drop it.
;; A stretch tree and one long-lived tree of the maximum depth frame the run.
;;
;; run(n): n is the maximum depth (at least 6). Allocates about
;; 2^(n+5) * ((n-4)/2 + 1) nodes. Returns a checksum of every tree's node count.
(module
  (type $node (struct (field $l (ref null $node)) (field $r (ref null $node))))

  (func $bottom_up (param $d i32) (result (ref $node))
    (if (result (ref $node)) (i32.gt_s (local.get $d) (i32.const 0))
      (then
        (struct.new $node
          (call $bottom_up (i32.sub (local.get $d) (i32.const 1)))
          (call $bottom_up (i32.sub (local.get $d) (i32.const 1)))))
      (else (struct.new $node (ref.null $node) (ref.null $node)))))

  (func $check (param $n (ref $node)) (result i32)
    (local $l (ref null $node))
    (local.set $l (struct.get $node $l (local.get $n)))
    (if (result i32) (ref.is_null (local.get $l))
      (then (i32.const 1))
      (else
        (i32.add (i32.const 1)
          (i32.add
            (call $check (ref.as_non_null (local.get $l)))
            (call $check (ref.as_non_null (struct.get $node $r (local.get $n)))))))))

  (func (export "run") (param $n i32) (result i32)
    (local $max i32) (local $long (ref null $node)) (local $sum i32)
    (local $d i32) (local $iters i32) (local $i i32) (local $c i32)
    (local.set $max (select (local.get $n) (i32.const 6) (i32.gt_s (local.get $n) (i32.const 6))))
    ;; stretch tree
    (local.set $sum (call $check (call $bottom_up (i32.add (local.get $max) (i32.const 1)))))
    ;; long-lived tree, alive for the whole run
    (local.set $long (call $bottom_up (local.get $max)))
    (local.set $d (i32.const 4))
    (block $done
      (loop $depths
        (br_if $done (i32.gt_s (local.get $d) (local.get $max)))
        (local.set $iters
          (i32.shl (i32.const 1) (i32.add (i32.sub (local.get $max) (local.get $d)) (i32.const 4))))
        (local.set $c (i32.const 0))
        (local.set $i (i32.const 0))
        (loop $it
          (local.set $c (i32.add (local.get $c) (call $check (call $bottom_up (local.get $d)))))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if $it (i32.lt_s (local.get $i) (local.get $iters))))
        (local.set $sum (i32.add (i32.mul (local.get $sum) (i32.const 31)) (local.get $c)))
        (local.set $d (i32.add (local.get $d) (i32.const 2)))
        (br $depths)))
    (i32.add
      (i32.mul (local.get $sum) (i32.const 31))
      (call $check (ref.as_non_null (local.get $long)))))
)
