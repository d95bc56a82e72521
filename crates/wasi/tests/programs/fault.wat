;; Hands the host bad pointers and descriptors: every one is an errno,
;; EFAULT (21) or EBADF (8), never a crash. Memory is one page (65536 bytes).
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_sizes_get" (func $args_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_get" (func $args_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "clock_time_get" (func $clock_time_get (param i32 i64 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_open" (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll_oneoff (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_prestat_dir_name" (func $fd_prestat_dir_name (param i32 i32 i32) (result i32)))
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
    ;; The iovec array itself out of bounds, and absurdly long.
    (call $show (i32.const 1024 (;"iovec_array";)) (call $fd_write (i32.const 1) (i32.const 65532) (i32.const 1) (i32.const 8)))
    (call $show (i32.const 1040 (;"iovec_count";)) (call $fd_write (i32.const 1) (i32.const 0) (i32.const 0x7fffffff) (i32.const 8)))
    ;; An iovec whose buffer runs past the end.
    (i32.store (i32.const 128) (i32.const 65530))
    (i32.store (i32.const 132) (i32.const 100))
    (call $show (i32.const 1056 (;"iovec_buffer";)) (call $fd_write (i32.const 1) (i32.const 128) (i32.const 1) (i32.const 8)))
    (call $show (i32.const 1072 (;"read_buffer";)) (call $fd_read (i32.const 0) (i32.const 128) (i32.const 1) (i32.const 8)))
    ;; A buffer that wraps around the 32-bit address space.
    (i32.store (i32.const 128) (i32.const 0xfffffff0))
    (i32.store (i32.const 132) (i32.const 0x20))
    (call $show (i32.const 1088 (;"iovec_wrap";)) (call $fd_write (i32.const 1) (i32.const 128) (i32.const 1) (i32.const 8)))
    ;; Result pointers out of bounds.
    (call $show (i32.const 1104 (;"nwritten";)) (call $fd_write (i32.const 1) (i32.const 0) (i32.const 0) (i32.const 65535)))
    (call $show (i32.const 1120 (;"args_sizes";)) (call $args_sizes_get (i32.const 65535) (i32.const 0)))
    (call $show (i32.const 1136 (;"args_buf";)) (call $args_get (i32.const 0) (i32.const 65535)))
    (call $show (i32.const 1152 (;"clock_out";)) (call $clock_time_get (i32.const 1) (i64.const 0) (i32.const 65533)))
    (call $show (i32.const 1168 (;"path_ptr";)) (call $path_open (i32.const 3) (i32.const 0) (i32.const 65530) (i32.const 100)
      (i32.const 0) (i64.const 2) (i64.const 0) (i32.const 0) (i32.const 56)))
    (call $show (i32.const 1184 (;"path_open_out";)) (call $path_open (i32.const 3) (i32.const 0) (i32.const 60) (i32.const 1)
      (i32.const 0) (i64.const 2) (i64.const 0) (i32.const 0) (i32.const 65534)))
    (call $show (i32.const 1200 (;"poll_subs";)) (call $poll_oneoff (i32.const 65500) (i32.const 512) (i32.const 1) (i32.const 96)))
    (call $show (i32.const 1216 (;"poll_events";)) (call $poll_oneoff (i32.const 256) (i32.const 65520) (i32.const 1) (i32.const 96)))
    (call $show (i32.const 1232 (;"prestat_name";)) (call $fd_prestat_dir_name (i32.const 3) (i32.const 65536) (i32.const 100)))
    ;; Descriptors that are not open.
    (call $show (i32.const 1248 (;"bad_fd";)) (call $fd_write (i32.const 99) (i32.const 0) (i32.const 0) (i32.const 8)))
    (call $show (i32.const 1256 (;"negative_fd";)) (call $fd_write (i32.const -1) (i32.const 0) (i32.const 0) (i32.const 8))))
  ;; ---- strings (NUL-terminated) ----------------------------------------
  (data (i32.const 1024) "iovec_array\00")
  (data (i32.const 1040) "iovec_count\00")
  (data (i32.const 1056) "iovec_buffer\00")
  (data (i32.const 1072) "read_buffer\00")
  (data (i32.const 1088) "iovec_wrap\00")
  (data (i32.const 1104) "nwritten\00")
  (data (i32.const 1120) "args_sizes\00")
  (data (i32.const 1136) "args_buf\00")
  (data (i32.const 1152) "clock_out\00")
  (data (i32.const 1168) "path_ptr\00")
  (data (i32.const 1184) "path_open_out\00")
  (data (i32.const 1200) "poll_subs\00")
  (data (i32.const 1216) "poll_events\00")
  (data (i32.const 1232) "prestat_name\00")
  (data (i32.const 1248) "bad_fd\00")
  (data (i32.const 1256) "negative_fd\00"))
