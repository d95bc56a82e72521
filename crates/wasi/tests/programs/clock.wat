;; Reads the clocks, sleeps through poll_oneoff and yields, printing what
;; it saw.
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "clock_time_get" (func $clock_time_get (param i32 i64 i32) (result i32)))
  (import "wasi_snapshot_preview1" "clock_res_get" (func $clock_res_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll_oneoff (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "sched_yield" (func $sched_yield (result i32)))
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

  (func $now (param $clock i32) (result i64)
    (if (call $clock_time_get (local.get $clock) (i64.const 1) (i32.const 64)) (then unreachable))
    (i64.load (i32.const 64)))

  ;; One clock subscription at 256 (userdata 7), events at 512, count at 96.
  (func $sleep (param $clock i32) (param $timeout i64) (param $flags i32) (result i32)
    (memory.fill (i32.const 256) (i32.const 0) (i32.const 48))
    (i64.store (i32.const 256) (i64.const 7))
    (i32.store8 (i32.const 264) (i32.const 0))
    (i32.store (i32.const 272) (local.get $clock))
    (i64.store (i32.const 280) (local.get $timeout))
    (i32.store16 (i32.const 296) (local.get $flags))
    (call $poll_oneoff (i32.const 256) (i32.const 512) (i32.const 1) (i32.const 96)))

  (func (export "_start")
    (local $t0 i64) (local $t1 i64)
    ;; Seconds since the epoch, for the test to compare with its own clock.
    (call $puts (i32.const 1024 (;"realtime_s ";)))
    (call $num (i64.div_u (call $now (i32.const 0)) (i64.const 1000000000)))
    (call $write (i32.const 61) (i32.const 1))

    (if (call $clock_res_get (i32.const 1) (i32.const 64)) (then unreachable))
    (call $show (i32.const 1040 (;"res_positive";)) (i64.gt_u (i64.load (i32.const 64)) (i64.const 0)))

    ;; A relative 20 ms sleep on the monotonic clock.
    (local.set $t0 (call $now (i32.const 1)))
    (call $show (i32.const 1056 (;"poll";)) (call $sleep (i32.const 1) (i64.const 20000000) (i32.const 0)))
    (local.set $t1 (call $now (i32.const 1)))
    (call $show (i32.const 1064 (;"slept_20ms";)) (i64.ge_u (i64.sub (local.get $t1) (local.get $t0)) (i64.const 20000000)))
    (call $show (i32.const 1080 (;"monotonic";)) (i64.ge_u (local.get $t1) (local.get $t0)))
    (call $show (i32.const 1096 (;"nevents";)) (i32.load (i32.const 96)))
    (call $show (i32.const 1104 (;"userdata";)) (i32.wrap_i64 (i64.load (i32.const 512))))
    (call $show (i32.const 1120 (;"error";)) (i32.load16_u (i32.const 520)))
    (call $show (i32.const 1128 (;"type";)) (i32.load8_u (i32.const 522)))

    ;; An absolute deadline 5 ms ahead on the realtime clock.
    (local.set $t0 (call $now (i32.const 1)))
    (call $show (i32.const 1136 (;"poll_abs";)) (call $sleep (i32.const 0) (i64.add (call $now (i32.const 0)) (i64.const 5000000)) (i32.const 1)))
    (call $show (i32.const 1152 (;"abs_nevents";)) (i32.load (i32.const 96)))
    (call $show (i32.const 1168 (;"slept_abs";)) (i64.ge_u (i64.sub (call $now (i32.const 1)) (local.get $t0)) (i64.const 4000000)))

    ;; A deadline already past fires at once.
    (call $show (i32.const 1184 (;"poll_past";)) (call $sleep (i32.const 1) (i64.const 0) (i32.const 1)))
    (call $show (i32.const 1200 (;"past_nevents";)) (i32.load (i32.const 96)))

    ;; Unknown clocks and empty subscription lists are EINVAL (28).
    (call $show (i32.const 1216 (;"bad_clock";)) (call $clock_time_get (i32.const 99) (i64.const 0) (i32.const 64)))
    (call $show (i32.const 1232 (;"bad_res";)) (call $clock_res_get (i32.const 99) (i32.const 64)))
    (call $show (i32.const 1240 (;"poll_none";)) (call $poll_oneoff (i32.const 256) (i32.const 512) (i32.const 0) (i32.const 96)))
    (call $show (i32.const 1256 (;"cputime";)) (call $clock_time_get (i32.const 2) (i64.const 0) (i32.const 64)))
    (call $show (i32.const 1264 (;"yield";)) (call $sched_yield)))
  ;; ---- strings (NUL-terminated) ----------------------------------------
  (data (i32.const 1024) "realtime_s \00")
  (data (i32.const 1040) "res_positive\00")
  (data (i32.const 1056) "poll\00")
  (data (i32.const 1064) "slept_20ms\00")
  (data (i32.const 1080) "monotonic\00")
  (data (i32.const 1096) "nevents\00")
  (data (i32.const 1104) "userdata\00")
  (data (i32.const 1120) "error\00")
  (data (i32.const 1128) "type\00")
  (data (i32.const 1136) "poll_abs\00")
  (data (i32.const 1152) "abs_nevents\00")
  (data (i32.const 1168) "slept_abs\00")
  (data (i32.const 1184) "poll_past\00")
  (data (i32.const 1200) "past_nevents\00")
  (data (i32.const 1216) "bad_clock\00")
  (data (i32.const 1232) "bad_res\00")
  (data (i32.const 1240) "poll_none\00")
  (data (i32.const 1256) "cputime\00")
  (data (i32.const 1264) "yield\00"))
