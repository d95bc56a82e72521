;; Directories in the preopened directory (descriptor 3): create, list,
;; rename, unlink, remove, and the errors of each.
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_close" (func $fd_close (param i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_readdir" (func $fd_readdir (param i32 i32 i32 i64 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_open" (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_create_directory" (func $path_create_directory (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_remove_directory" (func $path_remove_directory (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_unlink_file" (func $path_unlink_file (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_rename" (func $path_rename (param i32 i32 i32 i32 i32 i32) (result i32)))
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

  (func $mkdir (param $p i32) (result i32)
    (call $path_create_directory (i32.const 3) (local.get $p) (call $strlen (local.get $p))))
  (func $rmdir (param $p i32) (result i32)
    (call $path_remove_directory (i32.const 3) (local.get $p) (call $strlen (local.get $p))))
  (func $unlink (param $p i32) (result i32)
    (call $path_unlink_file (i32.const 3) (local.get $p) (call $strlen (local.get $p))))
  (func $rename (param $from i32) (param $to i32) (result i32)
    (call $path_rename (i32.const 3) (local.get $from) (call $strlen (local.get $from))
      (i32.const 3) (local.get $to) (call $strlen (local.get $to))))
  (func $stat (param $p i32) (result i32)
    (call $path_filestat_get (i32.const 3) (i32.const 0) (local.get $p) (call $strlen (local.get $p)) (i32.const 128)))
  (func $touch (param $p i32) (result i32)
    (local $e i32)
    (local.set $e (call $open (i32.const 3) (i32.const 0) (local.get $p) (i32.const 1) (i64.const 64) (i32.const 0)))
    (if (i32.eqz (local.get $e)) (then (drop (call $fd_close (i32.load (i32.const 56))))))
    (local.get $e))

  ;; Prints "entry NAME TYPE\n" for each complete dirent in the used bytes
  ;; of the buffer at 8192.
  (func $print_entries (param $used i32)
    (local $p i32) (local $end i32) (local $namelen i32)
    (local.set $p (i32.const 8192))
    (local.set $end (i32.add (i32.const 8192) (local.get $used)))
    (block $done
      (loop $next
        (br_if $done (i32.gt_u (i32.add (local.get $p) (i32.const 24)) (local.get $end)))
        (local.set $namelen (i32.load (i32.add (local.get $p) (i32.const 16))))
        (br_if $done (i32.gt_u (i32.add (i32.add (local.get $p) (i32.const 24)) (local.get $namelen)) (local.get $end)))
        (call $puts (i32.const 1024 (;"entry ";)))
        (call $write (i32.add (local.get $p) (i32.const 24)) (local.get $namelen))
        (call $write (i32.const 60) (i32.const 1))
        (call $num (i64.extend_i32_u (i32.load8_u (i32.add (local.get $p) (i32.const 20)))))
        (call $write (i32.const 61) (i32.const 1))
        (local.set $p (i32.add (i32.add (local.get $p) (i32.const 24)) (local.get $namelen)))
        (br $next))))

  (func (export "_start")
    (local $dir i32)
    (call $show (i32.const 1032 (;"mkdir";)) (call $mkdir (i32.const 1040 (;"sub";))))
    (call $show (i32.const 1048 (;"mkdir_again";)) (call $mkdir (i32.const 1040 (;"sub";))))
    (call $show (i32.const 1064 (;"touch_a";)) (call $touch (i32.const 1072 (;"sub/a.txt";))))
    (call $show (i32.const 1088 (;"touch_b";)) (call $touch (i32.const 1096 (;"sub/b.txt";))))

    ;; List "sub" (rights: readdir).
    (call $show (i32.const 1112 (;"open_dir";)) (call $open (i32.const 3) (i32.const 0) (i32.const 1040 (;"sub";)) (i32.const 2) (i64.const 16384) (i32.const 0)))
    (local.set $dir (i32.load (i32.const 56)))
    (call $show (i32.const 1128 (;"readdir";)) (call $fd_readdir (local.get $dir) (i32.const 8192) (i32.const 4096) (i64.const 0) (i32.const 64)))
    (call $print_entries (i32.load (i32.const 64)))
    ;; A buffer too small is filled completely; the caller then knows to
    ;; come back with the cookie of the last entry it saw whole.
    (call $show (i32.const 1136 (;"readdir_small";)) (call $fd_readdir (local.get $dir) (i32.const 8192) (i32.const 30) (i64.const 0) (i32.const 64)))
    (call $show (i32.const 1152 (;"small_used";)) (i32.load (i32.const 64)))
    (call $show (i32.const 1168 (;"readdir_cookie2";)) (call $fd_readdir (local.get $dir) (i32.const 8192) (i32.const 4096) (i64.const 2) (i32.const 64)))
    (call $print_entries (i32.load (i32.const 64)))
    (call $show (i32.const 1184 (;"readdir_past_end";)) (call $fd_readdir (local.get $dir) (i32.const 8192) (i32.const 4096) (i64.const 99) (i32.const 64)))
    (call $show (i32.const 1208 (;"past_end_used";)) (i32.load (i32.const 64)))
    (drop (call $fd_close (local.get $dir)))

    ;; ENOTEMPTY (55), EISDIR (31), ENOTDIR (54).
    (call $show (i32.const 1224 (;"rmdir_not_empty";)) (call $rmdir (i32.const 1040 (;"sub";))))
    (call $show (i32.const 1240 (;"unlink_dir";)) (call $unlink (i32.const 1040 (;"sub";))))
    (call $show (i32.const 1256 (;"rmdir_file";)) (call $rmdir (i32.const 1072 (;"sub/a.txt";))))

    (call $show (i32.const 1272 (;"rename";)) (call $rename (i32.const 1072 (;"sub/a.txt";)) (i32.const 1280 (;"sub/c.txt";))))
    (call $show (i32.const 1296 (;"rename_out";)) (call $rename (i32.const 1096 (;"sub/b.txt";)) (i32.const 1312 (;"moved.txt";))))
    (call $show (i32.const 1328 (;"rename_missing";)) (call $rename (i32.const 1344 (;"sub/nope";)) (i32.const 1360 (;"x";))))
    (call $show (i32.const 1368 (;"unlink";)) (call $unlink (i32.const 1280 (;"sub/c.txt";))))
    (call $show (i32.const 1376 (;"unlink_again";)) (call $unlink (i32.const 1280 (;"sub/c.txt";))))
    (call $show (i32.const 1392 (;"rmdir";)) (call $rmdir (i32.const 1040 (;"sub";))))
    (call $show (i32.const 1400 (;"stat_removed";)) (call $stat (i32.const 1040 (;"sub";))))

    ;; A trailing slash names a directory.
    (call $show (i32.const 1416 (;"mkdir_slash";)) (call $mkdir (i32.const 1432 (;"d2/";))))
    (call $show (i32.const 1440 (;"stat_slash";)) (call $stat (i32.const 1432 (;"d2/";))))
    (call $show (i32.const 1456 (;"stat_dir_type";)) (i32.load8_u (i32.const 144)))
    (call $show (i32.const 1472 (;"stat_file_slash";)) (call $stat (i32.const 1488 (;"moved.txt/";))))
    (call $show (i32.const 1504 (;"unlink_file_slash";)) (call $unlink (i32.const 1488 (;"moved.txt/";))))

    ;; fd_readdir on a file is ENOTDIR.
    (drop (call $open (i32.const 3) (i32.const 0) (i32.const 1312 (;"moved.txt";)) (i32.const 0) (i64.const 2) (i32.const 0)))
    (call $show (i32.const 1528 (;"readdir_file";)) (call $fd_readdir (i32.load (i32.const 56)) (i32.const 8192) (i32.const 100) (i64.const 0) (i32.const 64))))
  ;; ---- strings (NUL-terminated) ----------------------------------------
  (data (i32.const 1024) "entry \00")
  (data (i32.const 1032) "mkdir\00")
  (data (i32.const 1040) "sub\00")
  (data (i32.const 1048) "mkdir_again\00")
  (data (i32.const 1064) "touch_a\00")
  (data (i32.const 1072) "sub/a.txt\00")
  (data (i32.const 1088) "touch_b\00")
  (data (i32.const 1096) "sub/b.txt\00")
  (data (i32.const 1112) "open_dir\00")
  (data (i32.const 1128) "readdir\00")
  (data (i32.const 1136) "readdir_small\00")
  (data (i32.const 1152) "small_used\00")
  (data (i32.const 1168) "readdir_cookie2\00")
  (data (i32.const 1184) "readdir_past_end\00")
  (data (i32.const 1208) "past_end_used\00")
  (data (i32.const 1224) "rmdir_not_empty\00")
  (data (i32.const 1240) "unlink_dir\00")
  (data (i32.const 1256) "rmdir_file\00")
  (data (i32.const 1272) "rename\00")
  (data (i32.const 1280) "sub/c.txt\00")
  (data (i32.const 1296) "rename_out\00")
  (data (i32.const 1312) "moved.txt\00")
  (data (i32.const 1328) "rename_missing\00")
  (data (i32.const 1344) "sub/nope\00")
  (data (i32.const 1360) "x\00")
  (data (i32.const 1368) "unlink\00")
  (data (i32.const 1376) "unlink_again\00")
  (data (i32.const 1392) "rmdir\00")
  (data (i32.const 1400) "stat_removed\00")
  (data (i32.const 1416) "mkdir_slash\00")
  (data (i32.const 1432) "d2/\00")
  (data (i32.const 1440) "stat_slash\00")
  (data (i32.const 1456) "stat_dir_type\00")
  (data (i32.const 1472) "stat_file_slash\00")
  (data (i32.const 1488) "moved.txt/\00")
  (data (i32.const 1504) "unlink_file_slash\00")
  (data (i32.const 1528) "readdir_file\00"))
