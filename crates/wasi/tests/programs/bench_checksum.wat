;; A sightglass-style benchmark that reads its input from the preopened
;; directory, as sightglass benchmarks read `default.input`: FNV-1a (32-bit)
;; of `input.txt`, timed between bench.start and bench.end, printed with
;; the byte count and also written to `output.txt`.
(module
  (import "bench" "start" (func $bench_start))
  (import "bench" "end" (func $bench_end))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_close" (func $fd_close (param i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_open" (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (memory (export "memory") 2)

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


  ;; path_open of the NUL-terminated path at p; the new descriptor is
  ;; stored at 56. Returns the errno.
  (func $open (param $dir i32) (param $lookup i32) (param $p i32) (param $oflags i32) (param $rights i64) (param $fdflags i32) (result i32)
    (call $path_open (local.get $dir) (local.get $lookup) (local.get $p) (call $strlen (local.get $p))
      (local.get $oflags) (local.get $rights) (i64.const 0) (local.get $fdflags) (i32.const 56)))

  ;; Writes the 8 hex digits of h at 4096.
  (func $hex (param $h i32)
    (local $i i32) (local $d i32)
    (loop $digit
      (local.set $d (i32.and (i32.shr_u (local.get $h) (i32.sub (i32.const 28) (i32.shl (local.get $i) (i32.const 2)))) (i32.const 15)))
      (i32.store8 (i32.add (i32.const 4096) (local.get $i))
        (i32.add (local.get $d) (select (i32.const 48) (i32.const 87) (i32.lt_u (local.get $d) (i32.const 10)))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $digit (i32.lt_u (local.get $i) (i32.const 8)))))

  (func (export "_start")
    (local $fd i32) (local $len i32) (local $n i32) (local $i i32) (local $h i32)
    ;; Read all of input.txt into 65536.. (at most 64 KiB).
    (if (call $open (i32.const 3) (i32.const 0) (i32.const 1024 (;"input.txt";)) (i32.const 0) (i64.const 2) (i32.const 0))
      (then (call $puts (i32.const 1040 (;"cannot open input.txt\n";))) (call $proc_exit (i32.const 1))))
    (local.set $fd (i32.load (i32.const 56)))
    (block $eof
      (loop $more
        (i32.store (i32.const 128) (i32.add (i32.const 65536) (local.get $len)))
        (i32.store (i32.const 132) (i32.sub (i32.const 65536) (local.get $len)))
        (if (call $fd_read (local.get $fd) (i32.const 128) (i32.const 1) (i32.const 136)) (then unreachable))
        (local.set $n (i32.load (i32.const 136)))
        (br_if $eof (i32.eqz (local.get $n)))
        (local.set $len (i32.add (local.get $len) (local.get $n)))
        (br $more)))
    (drop (call $fd_close (local.get $fd)))

    (call $bench_start)
    (local.set $h (i32.const 0x811c9dc5))
    (block $done
      (loop $byte
        (br_if $done (i32.ge_u (local.get $i) (local.get $len)))
        (local.set $h (i32.mul
          (i32.xor (local.get $h) (i32.load8_u (i32.add (i32.const 65536) (local.get $i))))
          (i32.const 0x01000193)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $byte)))
    (call $bench_end)

    (call $show (i32.const 1064 (;"bytes";)) (local.get $len))
    (call $hex (local.get $h))
    (i32.store8 (i32.const 4104) (i32.const 10))
    (call $puts (i32.const 1072 (;"fnv1a ";)))
    (call $write (i32.const 4096) (i32.const 9))
    ;; The same line into output.txt (create, truncate; rights: write).
    (if (call $open (i32.const 3) (i32.const 0) (i32.const 1080 (;"output.txt";)) (i32.const 9) (i64.const 64) (i32.const 0)) (then unreachable))
    (local.set $fd (i32.load (i32.const 56)))
    (i32.store (i32.const 0) (i32.const 4096))
    (i32.store (i32.const 4) (i32.const 9))
    (if (call $fd_write (local.get $fd) (i32.const 0) (i32.const 1) (i32.const 8)) (then unreachable))
    (drop (call $fd_close (local.get $fd))))
  ;; ---- strings (NUL-terminated) ----------------------------------------
  (data (i32.const 1024) "input.txt\00")
  (data (i32.const 1040) "cannot open input.txt\n\00")
  (data (i32.const 1064) "bytes\00")
  (data (i32.const 1072) "fnv1a \00")
  (data (i32.const 1080) "output.txt\00"))
