;; Tries to leave the preopened directory (descriptor 3) every way it can.
;; The test lays out, inside the preopen:
;;   inside.txt                 "inside"
;;   sub/                       an empty directory
;;   link_out -> ../outside.txt (leads out)
;;   link_abs -> /.../outside.txt (absolute)
;;   link_up -> ..              (a directory outside)
;;   link_in -> sub/../inside.txt (stays inside)
;; and outside.txt next to the preopen. Escapes are ENOTCAPABLE (76).
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_close" (func $fd_close (param i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_open" (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_filestat_get" (func $path_filestat_get (param i32 i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_create_directory" (func $path_create_directory (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_unlink_file" (func $path_unlink_file (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_rename" (func $path_rename (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_symlink" (func $path_symlink (param i32 i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_link" (func $path_link (param i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_readlink" (func $path_readlink (param i32 i32 i32 i32 i32 i32) (result i32)))
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

  ;; Opens for reading, following symlinks or not.
  (func $read_open (param $p i32) (param $follow i32) (result i32)
    (call $open (i32.const 3) (local.get $follow) (local.get $p) (i32.const 0) (i64.const 2) (i32.const 0)))
  (func $stat (param $p i32) (param $follow i32) (result i32)
    (call $path_filestat_get (i32.const 3) (local.get $follow) (local.get $p) (call $strlen (local.get $p)) (i32.const 128)))

  (func (export "_start")
    ;; `..` and absolute paths.
    (call $show (i32.const 1024 (;"dotdot";)) (call $read_open (i32.const 1032 (;"../outside.txt";)) (i32.const 1)))
    (call $show (i32.const 1048 (;"dotdot_nested";)) (call $read_open (i32.const 1064 (;"sub/../../outside.txt";)) (i32.const 1)))
    (call $show (i32.const 1088 (;"dotdot_dir";)) (call $read_open (i32.const 1104 (;"..";)) (i32.const 1)))
    (call $show (i32.const 1112 (;"absolute";)) (call $read_open (i32.const 1128 (;"/etc/passwd";)) (i32.const 1)))
    (call $show (i32.const 1144 (;"stat_dotdot";)) (call $stat (i32.const 1160 (;"sub/../..";)) (i32.const 0)))
    (call $show (i32.const 1176 (;"mkdir_dotdot";)) (call $path_create_directory (i32.const 3) (i32.const 1192 (;"../made";)) (i32.const 7)))
    (call $show (i32.const 1200 (;"unlink_dotdot";)) (call $path_unlink_file (i32.const 3) (i32.const 1032 (;"../outside.txt";)) (i32.const 14)))
    (call $show (i32.const 1216 (;"rename_out";)) (call $path_rename (i32.const 3) (i32.const 1232 (;"inside.txt";)) (i32.const 10) (i32.const 3) (i32.const 1248 (;"../stolen.txt";)) (i32.const 13)))
    (call $show (i32.const 1264 (;"rename_in";)) (call $path_rename (i32.const 3) (i32.const 1032 (;"../outside.txt";)) (i32.const 14) (i32.const 3) (i32.const 1280 (;"got.txt";)) (i32.const 7)))

    ;; Symlinks that lead out: refused when followed; without following, a
    ;; final symlink is not opened at all (ELOOP, 32) but can be stat'ed.
    (call $show (i32.const 1288 (;"link_out";)) (call $read_open (i32.const 1288 (;"link_out";)) (i32.const 1)))
    (call $show (i32.const 1304 (;"link_out_nofollow";)) (call $read_open (i32.const 1288 (;"link_out";)) (i32.const 0)))
    (call $show (i32.const 1328 (;"link_abs";)) (call $read_open (i32.const 1328 (;"link_abs";)) (i32.const 1)))
    (call $show (i32.const 1344 (;"link_up_through";)) (call $read_open (i32.const 1360 (;"link_up/outside.txt";)) (i32.const 0)))
    (call $show (i32.const 1384 (;"stat_link_out";)) (call $stat (i32.const 1288 (;"link_out";)) (i32.const 1)))
    (call $show (i32.const 1400 (;"lstat_link_out";)) (call $stat (i32.const 1288 (;"link_out";)) (i32.const 0)))
    (call $show (i32.const 1416 (;"lstat_type";)) (i32.load8_u (i32.const 144)))
    (call $show (i32.const 1432 (;"mkdir_through_link";)) (call $path_create_directory (i32.const 3) (i32.const 1456 (;"link_up/made";)) (i32.const 12)))
    (call $show (i32.const 1472 (;"hardlink_out";)) (call $path_link (i32.const 3) (i32.const 1) (i32.const 1288 (;"link_out";)) (i32.const 8) (i32.const 3) (i32.const 1488 (;"hard";)) (i32.const 4)))
    (call $show (i32.const 1496 (;"readlink";)) (call $path_readlink (i32.const 3) (i32.const 1288 (;"link_out";)) (i32.const 8) (i32.const 4096) (i32.const 100) (i32.const 64)))
    (call $puts (i32.const 1512 (;"target ";))) (call $write (i32.const 4096) (i32.load (i32.const 64))) (call $write (i32.const 61) (i32.const 1))

    ;; New symlinks: absolute targets are refused; relative ones that lead
    ;; out can be made but not followed.
    (call $show (i32.const 1520 (;"symlink_abs";)) (call $path_symlink (i32.const 1128 (;"/etc/passwd";)) (i32.const 11) (i32.const 3) (i32.const 1536 (;"new_abs";)) (i32.const 7)))
    (call $show (i32.const 1544 (;"symlink_out";)) (call $path_symlink (i32.const 1032 (;"../outside.txt";)) (i32.const 14) (i32.const 3) (i32.const 1560 (;"new_out";)) (i32.const 7)))
    (call $show (i32.const 1568 (;"follow_new_out";)) (call $read_open (i32.const 1560 (;"new_out";)) (i32.const 1)))

    ;; A symlink that stays inside works.
    (call $show (i32.const 1584 (;"link_in";)) (call $read_open (i32.const 1584 (;"link_in";)) (i32.const 1)))
    (i32.store (i32.const 0) (i32.const 4096))
    (i32.store (i32.const 4) (i32.const 100))
    (call $show (i32.const 1592 (;"read_in";)) (call $fd_read (i32.load (i32.const 56)) (i32.const 0) (i32.const 1) (i32.const 8)))
    (call $puts (i32.const 1600 (;"content ";))) (call $write (i32.const 4096) (i32.load (i32.const 8))) (call $write (i32.const 61) (i32.const 1))
    (call $show (i32.const 1616 (;"dot";)) (call $read_open (i32.const 1624 (;".";)) (i32.const 0)))
    (call $show (i32.const 1632 (;"sub_dotdot";)) (call $read_open (i32.const 1648 (;"sub/..";)) (i32.const 0))))
  ;; ---- strings (NUL-terminated) ----------------------------------------
  (data (i32.const 1024) "dotdot\00")
  (data (i32.const 1032) "../outside.txt\00")
  (data (i32.const 1048) "dotdot_nested\00")
  (data (i32.const 1064) "sub/../../outside.txt\00")
  (data (i32.const 1088) "dotdot_dir\00")
  (data (i32.const 1104) "..\00")
  (data (i32.const 1112) "absolute\00")
  (data (i32.const 1128) "/etc/passwd\00")
  (data (i32.const 1144) "stat_dotdot\00")
  (data (i32.const 1160) "sub/../..\00")
  (data (i32.const 1176) "mkdir_dotdot\00")
  (data (i32.const 1192) "../made\00")
  (data (i32.const 1200) "unlink_dotdot\00")
  (data (i32.const 1216) "rename_out\00")
  (data (i32.const 1232) "inside.txt\00")
  (data (i32.const 1248) "../stolen.txt\00")
  (data (i32.const 1264) "rename_in\00")
  (data (i32.const 1280) "got.txt\00")
  (data (i32.const 1288) "link_out\00")
  (data (i32.const 1304) "link_out_nofollow\00")
  (data (i32.const 1328) "link_abs\00")
  (data (i32.const 1344) "link_up_through\00")
  (data (i32.const 1360) "link_up/outside.txt\00")
  (data (i32.const 1384) "stat_link_out\00")
  (data (i32.const 1400) "lstat_link_out\00")
  (data (i32.const 1416) "lstat_type\00")
  (data (i32.const 1432) "mkdir_through_link\00")
  (data (i32.const 1456) "link_up/made\00")
  (data (i32.const 1472) "hardlink_out\00")
  (data (i32.const 1488) "hard\00")
  (data (i32.const 1496) "readlink\00")
  (data (i32.const 1512) "target \00")
  (data (i32.const 1520) "symlink_abs\00")
  (data (i32.const 1536) "new_abs\00")
  (data (i32.const 1544) "symlink_out\00")
  (data (i32.const 1560) "new_out\00")
  (data (i32.const 1568) "follow_new_out\00")
  (data (i32.const 1584) "link_in\00")
  (data (i32.const 1592) "read_in\00")
  (data (i32.const 1600) "content \00")
  (data (i32.const 1616) "dot\00")
  (data (i32.const 1624) ".\00")
  (data (i32.const 1632) "sub_dotdot\00")
  (data (i32.const 1648) "sub/..\00"))
