;; A splay tree, in the manner of Octane's Splay: 32,768 nodes, each with a
;; random key and a string-like payload (an `(array (mut i8))` of 16..47
;; ASCII digits spelling the key). Each step inserts a node with a new
;; random key, then removes the node with the greatest key below it (or the
;; new node itself if there is none). Every lookup splays (top-down, with
;; a header node), so each step rewrites many `left`/`right` fields of old
;; nodes to point at other old nodes.
;;
;; run(n): n steps after building the tree; allocates n nodes and n payloads.
(module
  (type $str (array (mut i8)))
  (type $node (struct
    (field $key i32)
    (field $left (mut (ref null $node)))
    (field $right (mut (ref null $node)))
    (field $payload (ref null $str))))
  (type $stack (array (mut (ref null $node))))

  (global $root (mut (ref null $node)) (ref.null $node))
  ;; The splay's scratch node: its right field collects the left tree and
  ;; its left field the right tree.
  (global $header (mut (ref null $node)) (ref.null $node))
  (global $seed (mut i32) (i32.const 49734321))
  (global $size (mut i32) (i32.const 0))

  (func $random (result i32)
    (global.set $seed (i32.add (i32.mul (global.get $seed) (i32.const 1103515245)) (i32.const 12345)))
    (i32.shr_u (global.get $seed) (i32.const 1)))

  ;; The key's decimal digits, least significant first, repeated.
  (func $payload (param $key i32) (result (ref $str))
    (local $s (ref $str)) (local $len i32) (local $i i32) (local $v i32)
    (local.set $len (i32.add (i32.const 16) (i32.and (local.get $key) (i32.const 31))))
    (local.set $s (array.new_default $str (local.get $len)))
    (local.set $v (local.get $key))
    (loop $digits
      (array.set $str (local.get $s) (local.get $i)
        (i32.add (i32.const 48) (i32.rem_u (local.get $v) (i32.const 10))))
      (local.set $v (i32.div_u (local.get $v) (i32.const 10)))
      (if (i32.eqz (local.get $v)) (then (local.set $v (local.get $key))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $digits (i32.lt_u (local.get $i) (local.get $len))))
    (local.get $s))

  ;; Top-down splay: the node with `key`, or the last node on its search
  ;; path, becomes the root.
  (func $splay (param $key i32)
    (local $t (ref null $node)) (local $y (ref null $node))
    (local $l (ref null $node)) (local $r (ref null $node)) (local $h (ref null $node))
    (local.set $t (global.get $root))
    (if (ref.is_null (local.get $t)) (then (return)))
    (local.set $h (global.get $header))
    (struct.set $node $left (local.get $h) (ref.null $node))
    (struct.set $node $right (local.get $h) (ref.null $node))
    (local.set $l (local.get $h))
    (local.set $r (local.get $h))
    (block $done
      (loop $walk
        (if (i32.lt_s (local.get $key) (struct.get $node $key (local.get $t)))
          (then
            (local.set $y (struct.get $node $left (local.get $t)))
            (br_if $done (ref.is_null (local.get $y)))
            (if (i32.lt_s (local.get $key) (struct.get $node $key (local.get $y)))
              (then
                ;; rotate right
                (struct.set $node $left (local.get $t) (struct.get $node $right (local.get $y)))
                (struct.set $node $right (local.get $y) (local.get $t))
                (local.set $t (local.get $y))
                (br_if $done (ref.is_null (struct.get $node $left (local.get $t))))))
            ;; link right
            (struct.set $node $left (local.get $r) (local.get $t))
            (local.set $r (local.get $t))
            (local.set $t (struct.get $node $left (local.get $t)))
            (br $walk)))
        (if (i32.gt_s (local.get $key) (struct.get $node $key (local.get $t)))
          (then
            (local.set $y (struct.get $node $right (local.get $t)))
            (br_if $done (ref.is_null (local.get $y)))
            (if (i32.gt_s (local.get $key) (struct.get $node $key (local.get $y)))
              (then
                ;; rotate left
                (struct.set $node $right (local.get $t) (struct.get $node $left (local.get $y)))
                (struct.set $node $left (local.get $y) (local.get $t))
                (local.set $t (local.get $y))
                (br_if $done (ref.is_null (struct.get $node $right (local.get $t))))))
            ;; link left
            (struct.set $node $right (local.get $l) (local.get $t))
            (local.set $l (local.get $t))
            (local.set $t (struct.get $node $right (local.get $t)))
            (br $walk)))))
    ;; reassemble
    (struct.set $node $right (local.get $l) (struct.get $node $left (local.get $t)))
    (struct.set $node $left (local.get $r) (struct.get $node $right (local.get $t)))
    (struct.set $node $left (local.get $t) (struct.get $node $right (local.get $h)))
    (struct.set $node $right (local.get $t) (struct.get $node $left (local.get $h)))
    (global.set $root (local.get $t)))

  ;; Inserts `key` unless present; returns whether it did.
  (func $insert (param $key i32) (result i32)
    (local $root (ref null $node))
    (if (ref.is_null (global.get $root))
      (then
        (global.set $root
          (struct.new $node (local.get $key) (ref.null $node) (ref.null $node) (call $payload (local.get $key))))
        (global.set $size (i32.const 1))
        (return (i32.const 1))))
    (call $splay (local.get $key))
    (local.set $root (global.get $root))
    (if (i32.eq (local.get $key) (struct.get $node $key (local.get $root)))
      (then (return (i32.const 0))))
    (if (i32.gt_s (local.get $key) (struct.get $node $key (local.get $root)))
      (then
        (global.set $root
          (struct.new $node (local.get $key)
            (local.get $root) (struct.get $node $right (local.get $root))
            (call $payload (local.get $key))))
        (struct.set $node $right (local.get $root) (ref.null $node)))
      (else
        (global.set $root
          (struct.new $node (local.get $key)
            (struct.get $node $left (local.get $root)) (local.get $root)
            (call $payload (local.get $key))))
        (struct.set $node $left (local.get $root) (ref.null $node))))
    (global.set $size (i32.add (global.get $size) (i32.const 1)))
    (i32.const 1))

  ;; Inserts a node with a key not yet in the tree; returns the key.
  (func $insert_new (result i32)
    (local $key i32)
    (loop $again
      (local.set $key (call $random))
      (br_if $again (i32.eqz (call $insert (local.get $key)))))
    (local.get $key))

  ;; The node with the greatest key less than `key`, or null.
  (func $greatest_below (param $key i32) (result (ref null $node))
    (local $t (ref null $node))
    (if (ref.is_null (global.get $root)) (then (return (ref.null $node))))
    (call $splay (local.get $key))
    (local.set $t (global.get $root))
    (if (i32.lt_s (struct.get $node $key (local.get $t)) (local.get $key))
      (then (return (local.get $t))))
    (local.set $t (struct.get $node $left (local.get $t)))
    (if (ref.is_null (local.get $t)) (then (return (ref.null $node))))
    (block $done
      (loop $right
        (br_if $done (ref.is_null (struct.get $node $right (local.get $t))))
        (local.set $t (struct.get $node $right (local.get $t)))
        (br $right)))
    (local.get $t))

  ;; Removes the node with `key` (which must be present); returns a digest
  ;; of its payload.
  (func $remove (param $key i32) (result i32)
    (local $node (ref null $node)) (local $right (ref null $node)) (local $p (ref null $str))
    (call $splay (local.get $key))
    (local.set $node (global.get $root))
    (if (i32.ne (struct.get $node $key (local.get $node)) (local.get $key)) (then (unreachable)))
    (if (ref.is_null (struct.get $node $left (local.get $node)))
      (then (global.set $root (struct.get $node $right (local.get $node))))
      (else
        (local.set $right (struct.get $node $right (local.get $node)))
        (global.set $root (struct.get $node $left (local.get $node)))
        (call $splay (local.get $key))
        (struct.set $node $right (global.get $root) (local.get $right))))
    (global.set $size (i32.sub (global.get $size) (i32.const 1)))
    (local.set $p (struct.get $node $payload (local.get $node)))
    (i32.add
      (i32.add (array.len (local.get $p)) (array.get_u $str (local.get $p) (i32.const 0)))
      (i32.mul (array.get_u $str (local.get $p) (i32.sub (array.len (local.get $p)) (i32.const 1))) (i32.const 3))))

  ;; Every node's key and payload length, visited with an explicit stack.
  (func $digest (result i32)
    (local $stack (ref $stack)) (local $sp i32) (local $t (ref null $node)) (local $acc i32)
    (if (ref.is_null (global.get $root)) (then (return (i32.const 0))))
    (local.set $stack (array.new_default $stack (i32.add (global.get $size) (i32.const 1))))
    (array.set $stack (local.get $stack) (i32.const 0) (global.get $root))
    (local.set $sp (i32.const 1))
    (loop $visit
      (local.set $sp (i32.sub (local.get $sp) (i32.const 1)))
      (local.set $t (array.get $stack (local.get $stack) (local.get $sp)))
      (local.set $acc (i32.add (local.get $acc)
        (i32.xor (struct.get $node $key (local.get $t))
          (array.len (struct.get $node $payload (local.get $t))))))
      (if (i32.eqz (ref.is_null (struct.get $node $left (local.get $t))))
        (then
          (array.set $stack (local.get $stack) (local.get $sp) (struct.get $node $left (local.get $t)))
          (local.set $sp (i32.add (local.get $sp) (i32.const 1)))))
      (if (i32.eqz (ref.is_null (struct.get $node $right (local.get $t))))
        (then
          (array.set $stack (local.get $stack) (local.get $sp) (struct.get $node $right (local.get $t)))
          (local.set $sp (i32.add (local.get $sp) (i32.const 1)))))
      (br_if $visit (local.get $sp)))
    (i32.add (i32.mul (local.get $acc) (i32.const 31)) (global.get $size)))

  (func (export "run") (param $n i32) (result i32)
    (local $i i32) (local $key i32) (local $g (ref null $node)) (local $acc i32)
    (global.set $root (ref.null $node))
    (global.set $size (i32.const 0))
    (global.set $seed (i32.const 49734321))
    (global.set $header (struct.new $node (i32.const 0) (ref.null $node) (ref.null $node) (ref.null $str)))
    (loop $build
      (drop (call $insert_new))
      (br_if $build (i32.lt_u (global.get $size) (i32.const 32768))))
    (block $done
      (loop $steps
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $key (call $insert_new))
        (local.set $g (call $greatest_below (local.get $key)))
        (if (ref.is_null (local.get $g))
          (then (local.set $acc (i32.add (local.get $acc) (call $remove (local.get $key)))))
          (else
            (local.set $acc (i32.add (i32.mul (local.get $acc) (i32.const 3))
              (call $remove (struct.get $node $key (local.get $g)))))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $steps)))
    (i32.add (i32.mul (local.get $acc) (i32.const 31)) (call $digest)))
)
