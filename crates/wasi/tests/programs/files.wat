;; Files in the preopened directory (descriptor 3): create, write, seek,
;; read, stat, append, positioned I/O, resize, and the errors of each.
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_pread" (func $fd_pread (param i32 i32 i32 i64 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_pwrite" (func $fd_pwrite (param i32 i32 i32 i64 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_seek" (func $fd_seek (param i32 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_tell" (func $fd_tell (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_close" (func $fd_close (param i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_fdstat_get" (func $fd_fdstat_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_filestat_get" (func $fd_filestat_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_filestat_set_size" (func $fd_filestat_set_size (param i32 i64) (result i32)))
  (import "wasi_snapshot_preview1" "fd_allocate" (func $fd_allocate (param i32 i64 i64) (result i32)))
  (import "wasi_snapshot_preview1" "path_open" (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_filestat_get" (func $path_filestat_get (param i32 i32 i32 i32 i32) (result i32)))
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


  ;; path_open of the NUL-terminated path at p; the new descriptor is
  ;; stored at 56. Returns the errno.
  (func $open (param $dir i32) (param $lookup i32) (param $p i32) (param $oflags i32) (param $rights i64) (param $fdflags i32) (result i32)
    (call $path_open (local.get $dir) (local.get $lookup) (local.get $p) (call $strlen (local.get $p))
      (local.get $oflags) (local.get $rights) (i64.const 0) (local.get $fdflags) (i32.const 56)))

  ;; Writes the NUL-terminated string at p to fd; the count lands at 8.
  (func $write_to (param $fd i32) (param $p i32) (result i32)
    (i32.store (i32.const 0) (local.get $p))
    (i32.store (i32.const 4) (call $strlen (local.get $p)))
    (call $fd_write (local.get $fd) (i32.const 0) (i32.const 1) (i32.const 8)))

  ;; Reads up to len bytes from fd into 4096; the count lands at 8.
  (func $read (param $fd i32) (param $len i32) (result i32)
    (i32.store (i32.const 0) (i32.const 4096))
    (i32.store (i32.const 4) (local.get $len))
    (call $fd_read (local.get $fd) (i32.const 0) (i32.const 1) (i32.const 8)))

  (func (export "_start")
    (local $fd i32)
    ;; Create and write (rights: write, seek, tell, filestat_get).
    (call $show (i32.const 1024 (;"open_write";)) (call $open (i32.const 3) (i32.const 0) (i32.const 1040 (;"out.txt";)) (i32.const 9) (i64.const 2097252) (i32.const 0)))
    (local.set $fd (i32.load (i32.const 56)))
    (call $show (i32.const 1048 (;"write";)) (call $write_to (local.get $fd) (i32.const 1056 (;"line one\nline two\n";))))
    (call $show (i32.const 1080 (;"wrote";)) (i32.load (i32.const 8)))
    (call $show (i32.const 1088 (;"tell";)) (call $fd_tell (local.get $fd) (i32.const 64)))
    (call $show (i32.const 1096 (;"position";)) (i32.load (i32.const 64)))
    (call $show (i32.const 1112 (;"close";)) (call $fd_close (local.get $fd)))
    (call $show (i32.const 1120 (;"close_again";)) (call $fd_close (local.get $fd)))

    ;; Read it back (rights: read, seek, tell, filestat_get).
    (call $show (i32.const 1136 (;"open_read";)) (call $open (i32.const 3) (i32.const 0) (i32.const 1040 (;"out.txt";)) (i32.const 0) (i64.const 2097190) (i32.const 0)))
    (local.set $fd (i32.load (i32.const 56)))
    (call $show (i32.const 1152 (;"seek";)) (call $fd_seek (local.get $fd) (i64.const 5) (i32.const 0) (i32.const 64)))
    (call $show (i32.const 1160 (;"offset";)) (i32.load (i32.const 64)))
    (call $show (i32.const 1168 (;"read";)) (call $read (local.get $fd) (i32.const 3)))
    (call $puts (i32.const 1176 (;"got ";))) (call $write (i32.const 4096) (i32.load (i32.const 8))) (call $write (i32.const 61) (i32.const 1))
    (call $show (i32.const 1184 (;"seek_end";)) (call $fd_seek (local.get $fd) (i64.const -4) (i32.const 2) (i32.const 64)))
    (call $show (i32.const 1160 (;"offset";)) (i32.load (i32.const 64)))
    (call $show (i32.const 1168 (;"read";)) (call $read (local.get $fd) (i32.const 100)))
    (call $puts (i32.const 1176 (;"got ";))) (call $write (i32.const 4096) (i32.load (i32.const 8)))
    (call $show (i32.const 1200 (;"read_at_eof";)) (call $read (local.get $fd) (i32.const 100)))
    (call $show (i32.const 1216 (;"eof_count";)) (i32.load (i32.const 8)))
    (call $show (i32.const 1232 (;"seek_negative";)) (call $fd_seek (local.get $fd) (i64.const -1) (i32.const 0) (i32.const 64)))
    (call $show (i32.const 1248 (;"seek_bad_whence";)) (call $fd_seek (local.get $fd) (i64.const 0) (i32.const 3) (i32.const 64)))
    (call $show (i32.const 1264 (;"write_read_only";)) (call $write_to (local.get $fd) (i32.const 1280 (;"x";))))

    ;; Metadata through the descriptor and through the path.
    (call $show (i32.const 1288 (;"filestat";)) (call $fd_filestat_get (local.get $fd) (i32.const 128)))
    (call $show (i32.const 1304 (;"filetype";)) (i32.load8_u (i32.const 144)))
    (call $show (i32.const 1320 (;"size";)) (i32.load (i32.const 160)))
    (call $show (i32.const 1328 (;"fdstat";)) (call $fd_fdstat_get (local.get $fd) (i32.const 192)))
    (call $show (i32.const 1336 (;"fdstat_filetype";)) (i32.load8_u (i32.const 192)))
    (call $show (i32.const 1352 (;"can_read";)) (i64.ne (i64.and (i64.load (i32.const 200)) (i64.const 2)) (i64.const 0)))
    (call $show (i32.const 1368 (;"can_write";)) (i64.ne (i64.and (i64.load (i32.const 200)) (i64.const 64)) (i64.const 0)))
    (drop (call $fd_close (local.get $fd)))
    (call $show (i32.const 1384 (;"path_filestat";)) (call $path_filestat_get (i32.const 3) (i32.const 0) (i32.const 1040 (;"out.txt";)) (i32.const 7) (i32.const 128)))
    (call $show (i32.const 1400 (;"path_size";)) (i32.load (i32.const 160)))

    ;; Open errors: ENOENT (44), EEXIST (20), ENOTDIR (54) for a file used
    ;; as a directory, EBADF (8) for a closed directory descriptor.
    (call $show (i32.const 1416 (;"open_missing";)) (call $open (i32.const 3) (i32.const 0) (i32.const 1432 (;"missing.txt";)) (i32.const 0) (i64.const 2) (i32.const 0)))
    (call $show (i32.const 1448 (;"open_excl";)) (call $open (i32.const 3) (i32.const 0) (i32.const 1040 (;"out.txt";)) (i32.const 5) (i64.const 64) (i32.const 0)))
    (call $show (i32.const 1464 (;"open_through_file";)) (call $open (i32.const 3) (i32.const 0) (i32.const 1488 (;"out.txt/x";)) (i32.const 0) (i64.const 2) (i32.const 0)))
    (call $show (i32.const 1504 (;"open_in_closed";)) (call $open (i32.const 9) (i32.const 0) (i32.const 1040 (;"out.txt";)) (i32.const 0) (i64.const 2) (i32.const 0)))

    ;; Append (fdflags APPEND) lands at the end whatever the offset.
    (call $show (i32.const 1520 (;"open_append";)) (call $open (i32.const 3) (i32.const 0) (i32.const 1040 (;"out.txt";)) (i32.const 0) (i64.const 64) (i32.const 1)))
    (local.set $fd (i32.load (i32.const 56)))
    (call $show (i32.const 1536 (;"append";)) (call $write_to (local.get $fd) (i32.const 1544 (;"line three\n";))))
    (drop (call $fd_close (local.get $fd)))

    ;; Positioned I/O, resizing and allocation on a read-write file.
    (call $show (i32.const 1560 (;"open_rw";)) (call $open (i32.const 3) (i32.const 0) (i32.const 1568 (;"p.bin";)) (i32.const 1) (i64.const 6291558) (i32.const 0)))
    (local.set $fd (i32.load (i32.const 56)))
    (i32.store (i32.const 0) (i32.const 1576 (;"abc";)))
    (i32.store (i32.const 4) (i32.const 3))
    (call $show (i32.const 1584 (;"pwrite";)) (call $fd_pwrite (local.get $fd) (i32.const 0) (i32.const 1) (i64.const 10) (i32.const 8)))
    (call $show (i32.const 1592 (;"pwritten";)) (i32.load (i32.const 8)))
    (i32.store (i32.const 0) (i32.const 4096))
    (i32.store (i32.const 4) (i32.const 8))
    (call $show (i32.const 1608 (;"pread";)) (call $fd_pread (local.get $fd) (i32.const 0) (i32.const 1) (i64.const 9) (i32.const 8)))
    (call $show (i32.const 1616 (;"pread_count";)) (i32.load (i32.const 8)))
    (call $show (i32.const 1632 (;"pread_byte0";)) (i32.load8_u (i32.const 4096)))
    (call $show (i32.const 1648 (;"pread_byte1";)) (i32.load8_u (i32.const 4097)))
    (call $show (i32.const 1664 (;"position_unchanged";)) (call $fd_tell (local.get $fd) (i32.const 64)))
    (call $show (i32.const 1096 (;"position";)) (i32.load (i32.const 64)))
    (call $show (i32.const 1688 (;"set_size";)) (call $fd_filestat_set_size (local.get $fd) (i64.const 4)))
    (drop (call $fd_filestat_get (local.get $fd) (i32.const 128)))
    (call $show (i32.const 1320 (;"size";)) (i32.load (i32.const 160)))
    (call $show (i32.const 1704 (;"allocate";)) (call $fd_allocate (local.get $fd) (i64.const 0) (i64.const 100)))
    (drop (call $fd_filestat_get (local.get $fd) (i32.const 128)))
    (call $show (i32.const 1320 (;"size";)) (i32.load (i32.const 160)))
    (drop (call $fd_close (local.get $fd)))

    ;; Streams cannot seek (ESPIPE, 70); a directory cannot be read (EISDIR, 31).
    (call $show (i32.const 1720 (;"seek_stdout";)) (call $fd_seek (i32.const 1) (i64.const 0) (i32.const 0) (i32.const 64)))
    (call $show (i32.const 1736 (;"read_dir";)) (call $read (i32.const 3) (i32.const 10))))
  ;; ---- strings (NUL-terminated) ----------------------------------------
  (data (i32.const 1024) "open_write\00")
  (data (i32.const 1040) "out.txt\00")
  (data (i32.const 1048) "write\00")
  (data (i32.const 1056) "line one\nline two\n\00")
  (data (i32.const 1080) "wrote\00")
  (data (i32.const 1088) "tell\00")
  (data (i32.const 1096) "position\00")
  (data (i32.const 1112) "close\00")
  (data (i32.const 1120) "close_again\00")
  (data (i32.const 1136) "open_read\00")
  (data (i32.const 1152) "seek\00")
  (data (i32.const 1160) "offset\00")
  (data (i32.const 1168) "read\00")
  (data (i32.const 1176) "got \00")
  (data (i32.const 1184) "seek_end\00")
  (data (i32.const 1200) "read_at_eof\00")
  (data (i32.const 1216) "eof_count\00")
  (data (i32.const 1232) "seek_negative\00")
  (data (i32.const 1248) "seek_bad_whence\00")
  (data (i32.const 1264) "write_read_only\00")
  (data (i32.const 1280) "x\00")
  (data (i32.const 1288) "filestat\00")
  (data (i32.const 1304) "filetype\00")
  (data (i32.const 1320) "size\00")
  (data (i32.const 1328) "fdstat\00")
  (data (i32.const 1336) "fdstat_filetype\00")
  (data (i32.const 1352) "can_read\00")
  (data (i32.const 1368) "can_write\00")
  (data (i32.const 1384) "path_filestat\00")
  (data (i32.const 1400) "path_size\00")
  (data (i32.const 1416) "open_missing\00")
  (data (i32.const 1432) "missing.txt\00")
  (data (i32.const 1448) "open_excl\00")
  (data (i32.const 1464) "open_through_file\00")
  (data (i32.const 1488) "out.txt/x\00")
  (data (i32.const 1504) "open_in_closed\00")
  (data (i32.const 1520) "open_append\00")
  (data (i32.const 1536) "append\00")
  (data (i32.const 1544) "line three\n\00")
  (data (i32.const 1560) "open_rw\00")
  (data (i32.const 1568) "p.bin\00")
  (data (i32.const 1576) "abc\00")
  (data (i32.const 1584) "pwrite\00")
  (data (i32.const 1592) "pwritten\00")
  (data (i32.const 1608) "pread\00")
  (data (i32.const 1616) "pread_count\00")
  (data (i32.const 1632) "pread_byte0\00")
  (data (i32.const 1648) "pread_byte1\00")
  (data (i32.const 1664) "position_unchanged\00")
  (data (i32.const 1688) "set_size\00")
  (data (i32.const 1704) "allocate\00")
  (data (i32.const 1720) "seek_stdout\00")
  (data (i32.const 1736) "read_dir\00"))
