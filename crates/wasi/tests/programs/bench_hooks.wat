;; Sightglass-style timing hooks, meant for `--preload bench=bench_hooks.wat`.
;; A benchmark imports `bench.start` and `bench.end` and brackets the work
;; it wants measured with them; these hooks read the monotonic clock at
;; each and report the elapsed time on stderr as "[bench] elapsed_ns N".
;; They use WASI themselves, through their own memory.
(module
  (import "wasi_snapshot_preview1" "clock_time_get" (func $clock_time_get (param i32 i64 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (global $start (mut i64) (i64.const 0))
  (global $running (mut i32) (i32.const 0))
  (data (i32.const 64) "[bench] elapsed_ns ")

  (func $now (result i64)
    (if (call $clock_time_get (i32.const 1) (i64.const 1) (i32.const 0)) (then unreachable))
    (i64.load (i32.const 0)))

  (func (export "start")
    ;; Nested or repeated starts are a harness bug: trap loudly.
    (if (global.get $running) (then unreachable))
    (global.set $running (i32.const 1))
    (global.set $start (call $now)))

  (func (export "end")
    (local $n i64) (local $p i32)
    (if (i32.eqz (global.get $running)) (then unreachable))
    (global.set $running (i32.const 0))
    (local.set $n (i64.sub (call $now) (global.get $start)))
    ;; "[bench] elapsed_ns " at 64..83, then the digits, then "\n",
    ;; assembled backwards from 128.
    (local.set $p (i32.const 128))
    (i32.store8 (local.get $p) (i32.const 10))
    (loop $digit
      (local.set $p (i32.sub (local.get $p) (i32.const 1)))
      (i64.store8 (local.get $p) (i64.add (i64.const 48) (i64.rem_u (local.get $n) (i64.const 10))))
      (local.set $n (i64.div_u (local.get $n) (i64.const 10)))
      (br_if $digit (i64.ne (local.get $n) (i64.const 0))))
    ;; Two iovecs at 16: the label and the number with its newline.
    (i32.store (i32.const 16) (i32.const 64))
    (i32.store (i32.const 20) (i32.const 19))
    (i32.store (i32.const 24) (local.get $p))
    (i32.store (i32.const 28) (i32.sub (i32.const 129) (local.get $p)))
    (drop (call $fd_write (i32.const 2) (i32.const 16) (i32.const 2) (i32.const 8)))))
