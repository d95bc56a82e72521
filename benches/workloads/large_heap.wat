;; A large live heap with a small allocation rate: first build 1,536 i32
;; arrays of 16,384 elements (96 MiB) and 4,096 linked lists of 256 small
;; structs (1 M objects), all live to the end; then each step replaces one
;; list cell (one small allocation), reads and writes two array elements,
;; and every 4,096th step replaces a whole array (64 KiB). Collections are
;; few, but each has the whole large heap to trace or copy.
;;
;; run(n): n steps after building the heap (96 MiB of arrays and 1 M
;; cells); the steps allocate n cells and n / 4096 arrays, about 32 n bytes
;; (32 MB, under a third of the live heap, for n = 1 M).
(module
  (type $chunk (array (mut i32)))
  (type $chunks (array (mut (ref null $chunk))))
  (type $cell (struct (field $val (mut i32)) (field $next (mut (ref null $cell)))))
  (type $lists (array (mut (ref null $cell))))

  (func (export "run") (param $n i32) (result i32)
    (local $chunks (ref $chunks)) (local $lists (ref $lists))
    (local $c (ref null $chunk)) (local $head (ref null $cell)) (local $next (ref null $cell))
    (local $i i32) (local $j i32) (local $k i32) (local $x i32) (local $acc i32)
    ;; build: 1,536 chunks of 16,384 i32s
    (local.set $chunks (array.new_default $chunks (i32.const 1536)))
    (loop $fill
      (array.set $chunks (local.get $chunks) (local.get $i)
        (array.new $chunk (local.get $i) (i32.const 16384)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $fill (i32.lt_u (local.get $i) (i32.const 1536))))
    ;; build: 4,096 lists of 256 cells
    (local.set $lists (array.new_default $lists (i32.const 4096)))
    (local.set $i (i32.const 0))
    (loop $list
      (local.set $head (ref.null $cell))
      (local.set $j (i32.const 0))
      (loop $cells
        (local.set $head (struct.new $cell
          (i32.add (i32.shl (local.get $i) (i32.const 8)) (local.get $j)) (local.get $head)))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br_if $cells (i32.lt_u (local.get $j) (i32.const 256))))
      (array.set $lists (local.get $lists) (local.get $i) (local.get $head))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $list (i32.lt_u (local.get $i) (i32.const 4096))))
    ;; steps
    (local.set $x (i32.const 0x6b43a9b5))
    (local.set $i (i32.const 0))
    (block $done
      (loop $steps
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $x (i32.xor (local.get $x) (i32.shl (local.get $x) (i32.const 13))))
        (local.set $x (i32.xor (local.get $x) (i32.shr_u (local.get $x) (i32.const 17))))
        (local.set $x (i32.xor (local.get $x) (i32.shl (local.get $x) (i32.const 5))))
        ;; replace the second cell of a list
        (local.set $head (array.get $lists (local.get $lists) (i32.and (local.get $x) (i32.const 4095))))
        (local.set $next (struct.get $cell $next (local.get $head)))
        (local.set $acc (i32.add (local.get $acc) (struct.get $cell $val (local.get $next))))
        (struct.set $cell $next (local.get $head)
          (struct.new $cell (local.get $x) (struct.get $cell $next (local.get $next))))
        (struct.set $cell $val (local.get $head)
          (i32.add (struct.get $cell $val (local.get $head)) (local.get $i)))
        ;; read and write a chunk
        (local.set $c (array.get $chunks (local.get $chunks)
          (i32.rem_u (i32.shr_u (local.get $x) (i32.const 12)) (i32.const 1536))))
        (local.set $j (i32.and (i32.shr_u (local.get $x) (i32.const 3)) (i32.const 16383)))
        (array.set $chunk (local.get $c) (local.get $j)
          (i32.add (array.get $chunk (local.get $c) (local.get $j)) (local.get $i)))
        (local.set $acc (i32.xor (i32.mul (local.get $acc) (i32.const 3))
          (array.get $chunk (local.get $c) (i32.and (i32.add (local.get $j) (i32.const 4096)) (i32.const 16383)))))
        ;; every 4,096 steps, a new chunk
        (if (i32.eqz (i32.and (local.get $i) (i32.const 4095)))
          (then
            (local.set $k (i32.rem_u (i32.shr_u (local.get $i) (i32.const 12)) (i32.const 1536)))
            (local.set $c (array.get $chunks (local.get $chunks) (local.get $k)))
            (local.set $acc (i32.add (local.get $acc)
              (i32.add (array.get $chunk (local.get $c) (i32.const 0))
                (array.get $chunk (local.get $c) (i32.const 16383)))))
            (array.set $chunks (local.get $chunks) (local.get $k)
              (array.new $chunk (local.get $i) (i32.const 16384)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $steps)))
    ;; every cell, and every 256th element of every chunk
    (local.set $i (i32.const 0))
    (loop $lists_sum
      (local.set $head (array.get $lists (local.get $lists) (local.get $i)))
      (block $end
        (loop $walk
          (br_if $end (ref.is_null (local.get $head)))
          (local.set $acc (i32.add (i32.mul (local.get $acc) (i32.const 31))
            (struct.get $cell $val (local.get $head))))
          (local.set $head (struct.get $cell $next (local.get $head)))
          (br $walk)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $lists_sum (i32.lt_u (local.get $i) (i32.const 4096))))
    (local.set $i (i32.const 0))
    (loop $chunks_sum
      (local.set $c (array.get $chunks (local.get $chunks) (local.get $i)))
      (local.set $j (i32.const 0))
      (loop $elems
        (local.set $acc (i32.add (i32.mul (local.get $acc) (i32.const 7))
          (array.get $chunk (local.get $c) (local.get $j))))
        (local.set $j (i32.add (local.get $j) (i32.const 256)))
        (br_if $elems (i32.lt_u (local.get $j) (i32.const 16384))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $chunks_sum (i32.lt_u (local.get $i) (i32.const 1536))))
    (local.get $acc))
)
