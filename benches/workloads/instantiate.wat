;; A small module for the instantiation-rate workload: a memory with a data
;; segment, a table with an element segment, globals (one mutable, one from
;; an extended constant expression), a start function and a handful of
;; functions. Each instantiation runs the start function; `run` reads back
;; state that instantiation initialised.
;;
;; run(n): a checksum of n and the instance's initial state.
(module
  (type $f (func (param i32) (result i32)))
  (memory 1)
  (data (i32.const 16) "kiln instantiation benchmark")
  (table 8 funcref)
  (elem (i32.const 0) func $inc $dbl $sq $neg)
  (global $g (mut i32) (i32.const 42))
  (global $k i32 (i32.add (i32.const 1000) (i32.const 7)))
  (func $inc (type $f) (i32.add (local.get 0) (i32.const 1)))
  (func $dbl (type $f) (i32.shl (local.get 0) (i32.const 1)))
  (func $sq (type $f) (i32.mul (local.get 0) (local.get 0)))
  (func $neg (type $f) (i32.sub (i32.const 0) (local.get 0)))
  (func $start
    (global.set $g (i32.add (global.get $g) (i32.load8_u (i32.const 16)))))
  (start $start)
  (func (export "run") (param $n i32) (result i32)
    (i32.add
      (call_indirect (type $f)
        (i32.add (global.get $g) (global.get $k))
        (i32.and (local.get $n) (i32.const 3)))
      (i32.add
        (i32.load8_u (i32.add (i32.const 16) (i32.and (local.get $n) (i32.const 15))))
        (local.get $n))))
)
