;; Lists the preopened directories the way wasi-libc finds them: from
;; descriptor 3 up until fd_prestat_get says EBADF (8).
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_prestat_get" (func $fd_prestat_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_prestat_dir_name" (func $fd_prestat_dir_name (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_fdstat_get" (func $fd_fdstat_get (param i32 i32) (result i32)))
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

  (func (export "_start")
    (local $fd i32) (local $e i32)
    (local.set $fd (i32.const 3))
    (block $done
      (loop $next
        (local.set $e (call $fd_prestat_get (local.get $fd) (i32.const 64)))
        (br_if $done (local.get $e))
        (call $puts (i32.const 1024 (;"preopen ";)))
        (call $num (i64.extend_i32_u (local.get $fd)))
        (call $write (i32.const 60) (i32.const 1))
        (if (call $fd_prestat_dir_name (local.get $fd) (i32.const 4096) (i32.load (i32.const 68)))
          (then unreachable))
        (call $write (i32.const 4096) (i32.load (i32.const 68)))
        (call $write (i32.const 61) (i32.const 1))
        (local.set $fd (i32.add (local.get $fd) (i32.const 1)))
        (br $next)))
    (call $show (i32.const 1040 (;"end";)) (local.get $e))
    (call $show (i32.const 1048 (;"stdin_prestat";)) (call $fd_prestat_get (i32.const 0) (i32.const 64)))
    (call $show (i32.const 1064 (;"name_too_long";)) (call $fd_prestat_dir_name (i32.const 3) (i32.const 4096) (i32.const 0)))
    (call $show (i32.const 1080 (;"fdstat";)) (call $fd_fdstat_get (i32.const 3) (i32.const 192)))
    (call $show (i32.const 1088 (;"filetype";)) (i32.load8_u (i32.const 192))))
  ;; ---- strings (NUL-terminated) ----------------------------------------
  (data (i32.const 1024) "preopen \00")
  (data (i32.const 1040) "end\00")
  (data (i32.const 1048) "stdin_prestat\00")
  (data (i32.const 1064) "name_too_long\00")
  (data (i32.const 1080) "fdstat\00")
  (data (i32.const 1088) "filetype\00"))
