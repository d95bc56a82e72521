;; Prints its arguments and environment, one per line, after their counts
;; and buffer sizes.
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_sizes_get" (func $args_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_get" (func $args_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_sizes_get" (func $environ_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_get" (func $environ_get (param i32 i32) (result i32)))
  (memory (export "memory") 1)

  ;; ---- output helpers --------------------------------------------------
  ;; Memory these helpers use: 16..48 digits, 60..62 " \n", 80..92 an
  ;; iovec and its byte count. 0..16 and 56 are left to the program.
  (data (i32.const 60) " \n")

  ;; Writes len bytes at ptr to stdout.
  (func $write (param $ptr i32) (param $len i32)
    (i32.store (i32.const 80) (local.get $ptr))
    (i32.store (i32.const 84) (local.get $len))
    (drop (call $fd_write (i32.const 1) (i32.const 80) (i32.const 1) (i32.const 88))))

  ;; The length of the NUL-terminated string at p.
  (func $strlen (param $p i32) (result i32)
    (local $n i32)
    (block $done
      (loop $next
        (br_if $done (i32.eqz (i32.load8_u (i32.add (local.get $p) (local.get $n)))))
        (local.set $n (i32.add (local.get $n) (i32.const 1)))
        (br $next)))
    (local.get $n))

  ;; Writes the NUL-terminated string at p.
  (func $puts (param $p i32)
    (call $write (local.get $p) (call $strlen (local.get $p))))

  ;; Writes n in decimal.
  (func $num (param $n i64)
    (local $p i32)
    (local.set $p (i32.const 48))
    (loop $digit
      (local.set $p (i32.sub (local.get $p) (i32.const 1)))
      (i64.store8 (local.get $p) (i64.add (i64.const 48) (i64.rem_u (local.get $n) (i64.const 10))))
      (local.set $n (i64.div_u (local.get $n) (i64.const 10)))
      (br_if $digit (i64.ne (local.get $n) (i64.const 0))))
    (call $write (local.get $p) (i32.sub (i32.const 48) (local.get $p))))

  ;; Writes "label value\n".
  (func $show (param $label i32) (param $v i32)
    (call $puts (local.get $label))
    (call $write (i32.const 60) (i32.const 1))
    (call $num (i64.extend_i32_u (local.get $v)))
    (call $write (i32.const 61) (i32.const 1)))

  ;; Prints "label string\n" for each of the count pointers at 4096.
  (func $each (param $label i32) (param $count i32)
    (local $i i32)
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $count)))
        (call $puts (local.get $label))
        (call $puts (i32.load (i32.add (i32.const 4096) (i32.shl (local.get $i) (i32.const 2)))))
        (call $write (i32.const 61) (i32.const 1))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next))))

  (func (export "_start")
    (if (call $args_sizes_get (i32.const 64) (i32.const 68)) (then unreachable))
    (call $show (i32.const 1024 (;"argc";)) (i32.load (i32.const 64)))
    (call $show (i32.const 1032 (;"argv_buf_size";)) (i32.load (i32.const 68)))
    (if (call $args_get (i32.const 4096) (i32.const 8192)) (then unreachable))
    (call $each (i32.const 1048 (;"arg ";)) (i32.load (i32.const 64)))
    (if (call $environ_sizes_get (i32.const 64) (i32.const 68)) (then unreachable))
    (call $show (i32.const 1056 (;"envc";)) (i32.load (i32.const 64)))
    (call $show (i32.const 1064 (;"environ_buf_size";)) (i32.load (i32.const 68)))
    (if (call $environ_get (i32.const 4096) (i32.const 8192)) (then unreachable))
    (call $each (i32.const 1088 (;"env ";)) (i32.load (i32.const 64))))
  ;; ---- strings (NUL-terminated) ----------------------------------------
  (data (i32.const 1024) "argc\00")
  (data (i32.const 1032) "argv_buf_size\00")
  (data (i32.const 1048) "arg \00")
  (data (i32.const 1056) "envc\00")
  (data (i32.const 1064) "environ_buf_size\00")
  (data (i32.const 1088) "env \00"))
