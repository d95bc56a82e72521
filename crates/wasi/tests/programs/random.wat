;; Draws random bytes twice and checks they look random; a buffer past the
;; end of memory is EFAULT (21).
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "random_get" (func $random_get (param i32 i32) (result i32)))
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
    (local $i i32) (local $nonzero i32) (local $differ i32)
    (call $show (i32.const 1024 (;"first";)) (call $random_get (i32.const 4096) (i32.const 64)))
    (call $show (i32.const 1032 (;"second";)) (call $random_get (i32.const 4160) (i32.const 64)))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (i32.const 64)))
        (local.set $nonzero (i32.or (local.get $nonzero)
          (i64.ne (i64.load (i32.add (i32.const 4096) (local.get $i))) (i64.const 0))))
        (local.set $differ (i32.or (local.get $differ)
          (i64.ne (i64.load (i32.add (i32.const 4096) (local.get $i)))
                  (i64.load (i32.add (i32.const 4160) (local.get $i))))))
        (local.set $i (i32.add (local.get $i) (i32.const 8)))
        (br $next)))
    (call $show (i32.const 1040 (;"nonzero";)) (local.get $nonzero))
    (call $show (i32.const 1048 (;"differ";)) (local.get $differ))
    (call $show (i32.const 1056 (;"past_end";)) (call $random_get (i32.const 65530) (i32.const 100)))
    (call $show (i32.const 1072 (;"empty_at_end";)) (call $random_get (i32.const 65536) (i32.const 0))))
  ;; ---- strings (NUL-terminated) ----------------------------------------
  (data (i32.const 1024) "first\00")
  (data (i32.const 1032) "second\00")
  (data (i32.const 1040) "nonzero\00")
  (data (i32.const 1048) "differ\00")
  (data (i32.const 1056) "past_end\00")
  (data (i32.const 1072) "empty_at_end\00"))
