;; Cyclic structures: each round builds a doubly linked ring of 50..149
;; nodes (every node is on two cycles: `next` and `prev`), walks it forward
;; and backward, and drops it. Reference counting cannot free these; a
;; tracing collector frees each ring once it is unreachable.
;;
;; run(n): n rings; allocates about 100 n nodes.
(module
  (type $rn (struct
    (field $val i32)
    (field $next (mut (ref null $rn)))
    (field $prev (mut (ref null $rn)))))

  (func $make_ring (param $k i32) (param $seed i32) (result (ref null $rn))
    (local $first (ref null $rn)) (local $cur (ref null $rn)) (local $nd (ref null $rn)) (local $i i32)
    (local.set $first (struct.new $rn (local.get $seed) (ref.null $rn) (ref.null $rn)))
    (local.set $cur (local.get $first))
    (local.set $i (i32.const 1))
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $i) (local.get $k)))
        (local.set $nd
          (struct.new $rn
            (i32.add (local.get $seed) (i32.mul (local.get $i) (i32.const 13)))
            (ref.null $rn)
            (local.get $cur)))
        (struct.set $rn $next (local.get $cur) (local.get $nd))
        (local.set $cur (local.get $nd))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $l)))
    (struct.set $rn $next (local.get $cur) (local.get $first))
    (struct.set $rn $prev (local.get $first) (local.get $cur))
    (local.get $first))

  (func $walk (param $r (ref null $rn)) (param $steps i32) (param $forward i32) (result i32)
    (local $s i32)
    (block $done
      (loop $l
        (br_if $done (i32.eqz (local.get $steps)))
        (local.set $s (i32.add (i32.mul (local.get $s) (i32.const 7)) (struct.get $rn $val (local.get $r))))
        (local.set $r
          (if (result (ref null $rn)) (local.get $forward)
            (then (struct.get $rn $next (local.get $r)))
            (else (struct.get $rn $prev (local.get $r)))))
        (local.set $steps (i32.sub (local.get $steps) (i32.const 1)))
        (br $l)))
    (local.get $s))

  (func (export "run") (param $n i32) (result i32)
    (local $i i32) (local $k i32) (local $ring (ref null $rn)) (local $acc i32)
    (block $done
      (loop $round
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $k (i32.add (i32.const 50) (i32.rem_u (local.get $i) (i32.const 100))))
        (local.set $ring (call $make_ring (local.get $k) (local.get $i)))
        (local.set $acc
          (i32.add (i32.mul (local.get $acc) (i32.const 3))
            (i32.xor
              (call $walk (local.get $ring) (i32.add (i32.shl (local.get $k) (i32.const 1)) (i32.const 1)) (i32.const 1))
              (call $walk (local.get $ring) (i32.add (local.get $k) (i32.const 3)) (i32.const 0)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $round)))
    (local.get $acc))
)
