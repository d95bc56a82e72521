;; The `spectest` host module the script runner provides: every export,
;; with the types and contents the spec's reference interpreter gives it.

(module
  (import "spectest" "print" (func $print))
  (import "spectest" "print_i32" (func $print_i32 (param i32)))
  (import "spectest" "print_i64" (func $print_i64 (param i64)))
  (import "spectest" "print_f32" (func $print_f32 (param f32)))
  (import "spectest" "print_f64" (func $print_f64 (param f64)))
  (import "spectest" "print_i32_f32" (func $print_i32_f32 (param i32 f32)))
  (import "spectest" "print_f64_f64" (func $print_f64_f64 (param f64 f64)))
  (import "spectest" "global_i32" (global $gi32 i32))
  (import "spectest" "global_i64" (global $gi64 i64))
  (import "spectest" "global_f32" (global $gf32 f32))
  (import "spectest" "global_f64" (global $gf64 f64))
  (import "spectest" "table" (table $t 10 20 funcref))
  (import "spectest" "memory" (memory 1 2))

  (func (export "print-all")
    (call $print)
    (call $print_i32 (i32.const 1))
    (call $print_i64 (i64.const 2))
    (call $print_f32 (f32.const 3.5))
    (call $print_f64 (f64.const 4.5))
    (call $print_i32_f32 (i32.const 5) (f32.const 6.5))
    (call $print_f64_f64 (f64.const 7.5) (f64.const 8.5)))

  (func (export "global_i32") (result i32) (global.get $gi32))
  (func (export "global_i64") (result i64) (global.get $gi64))
  (func (export "global_f32") (result f32) (global.get $gf32))
  (func (export "global_f64") (result f64) (global.get $gf64))

  (func (export "table-size") (result i32) (table.size $t))
  (func (export "table-get-is-null") (param i32) (result i32)
    (ref.is_null (table.get $t (local.get 0))))
  (func (export "table-grow") (param i32) (result i32)
    (table.grow $t (ref.null func) (local.get 0)))
  (func (export "memory-size") (result i32) (memory.size))
  (func (export "memory-grow") (param i32) (result i32) (memory.grow (local.get 0)))
)

(assert_return (invoke "print-all"))
(assert_return (invoke "global_i32") (i32.const 666))
(assert_return (invoke "global_i64") (i64.const 666))
(assert_return (invoke "global_f32") (f32.const 666.6))
(assert_return (invoke "global_f64") (f64.const 666.6))

(assert_return (invoke "table-size") (i32.const 10))
(assert_return (invoke "table-get-is-null" (i32.const 9)) (i32.const 1))
(assert_trap (invoke "table-get-is-null" (i32.const 10)) "out of bounds table access")
(assert_return (invoke "table-grow" (i32.const 11)) (i32.const -1))
(assert_return (invoke "table-grow" (i32.const 10)) (i32.const 10))
(assert_return (invoke "table-size") (i32.const 20))

(assert_return (invoke "memory-size") (i32.const 1))
(assert_return (invoke "memory-grow" (i32.const 2)) (i32.const -1))
(assert_return (invoke "memory-grow" (i32.const 1)) (i32.const 1))
(assert_return (invoke "memory-size") (i32.const 2))

;; The exports' types are exact: wrong signatures, mutability or limits do
;; not link.
(assert_unlinkable
  (module (import "spectest" "print_i32" (func (param i64))))
  "incompatible import type")
(assert_unlinkable
  (module (import "spectest" "global_i32" (global (mut i32))))
  "incompatible import type")
(assert_unlinkable
  (module (import "spectest" "global_i32" (global i64)))
  "incompatible import type")
(assert_unlinkable
  (module (import "spectest" "table" (table 10 15 funcref)))
  "incompatible import type")
(assert_unlinkable
  (module (import "spectest" "memory" (memory 1 1)))
  "incompatible import type")
(assert_unlinkable
  (module (import "spectest" "nothing" (func)))
  "unknown import")

;; `get` reads exported globals.
(module
  (import "spectest" "global_i64" (global $g i64))
  (global (export "g") i64 (global.get $g)))
(assert_return (get "g") (i64.const 666))

;; `table64`: the 64-bit twin of `table` (10 to 20 funcrefs, i64 indices).
(module
  (import "spectest" "table64" (table $t64 i64 10 20 funcref))
  (func (export "size") (result i64) (table.size $t64))
  (func (export "grow") (param i64) (result i64) (table.grow $t64 (ref.null func) (local.get 0)))
  (func (export "get-is-null") (param i64) (result i32) (ref.is_null (table.get $t64 (local.get 0)))))
(assert_return (invoke "size") (i64.const 10))
(assert_return (invoke "get-is-null" (i64.const 9)) (i32.const 1))
(assert_trap (invoke "get-is-null" (i64.const 10)) "out of bounds table access")
(assert_return (invoke "grow" (i64.const 11)) (i64.const -1))
(assert_return (invoke "grow" (i64.const 10)) (i64.const 10))
(assert_unlinkable
  (module (import "spectest" "table64" (table 10 20 funcref)))
  "incompatible import type")
