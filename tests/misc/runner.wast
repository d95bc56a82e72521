;; The script runner's own features, so a regression in kiln-wast shows up
;; as a failure here rather than as a spec script passing for the wrong
;; reason.

;; Module definitions instantiate any number of times, each instance with
;; its own state; `module instance` without a definition name uses the
;; latest one, and without an instance name just becomes current.
(module definition $counter
  (global $n (mut i32) (i32.const 0))
  (func (export "next") (result i32)
    (global.set $n (i32.add (global.get $n) (i32.const 1)))
    (global.get $n)))
(module instance $a $counter)
(module instance $b $counter)
(assert_return (invoke $a "next") (i32.const 1))
(assert_return (invoke $a "next") (i32.const 2))
(assert_return (invoke $b "next") (i32.const 1))
(module instance)
(assert_return (invoke "next") (i32.const 1))

;; Registered instances are importable; registering again shadows.
(register "counter" $a)
(module $user
  (import "counter" "next" (func $next (result i32)))
  (func (export "via-import") (result i32) (call $next)))
(assert_return (invoke "via-import") (i32.const 3))
(register "counter" $b)
(module (import "counter" "next" (func $next (result i32)))
  (func (export "via-import") (result i32) (call $next)))
(assert_return (invoke "via-import") (i32.const 2))
(assert_return (invoke $user "via-import") (i32.const 4))

;; Multiple results and integer extremes.
(module
  (func (export "swap") (param i64 i32) (result i32 i64)
    (local.get 1) (local.get 0)))
(assert_return (invoke "swap" (i64.const -9223372036854775808) (i32.const 0xffffffff))
  (i32.const -1) (i64.const 0x8000000000000000))

;; Float results compare bit patterns; NaN patterns match per value.
(module
  (func (export "div") (param f32 f32) (result f32)
    (f32.div (local.get 0) (local.get 1)))
  (func (export "payload") (result f32) (f32.const nan:0x400001))
  (func (export "neg-zero") (result f64) (f64.const -0)))
(assert_return (invoke "div" (f32.const 0) (f32.const 0)) (f32.const nan:canonical))
(assert_return (invoke "div" (f32.const 0) (f32.const 0)) (f32.const nan:arithmetic))
(assert_return (invoke "div" (f32.const 1) (f32.const 4)) (f32.const 0.25))
(assert_return (invoke "payload") (f32.const nan:arithmetic))
(assert_return (invoke "payload") (either (f32.const 0) (f32.const nan:arithmetic)))
(assert_return (invoke "neg-zero") (f64.const -0))

;; Externrefs from the script carry their number through Wasm and back.
(module
  (table $t 2 externref)
  (func (export "put") (param i32 externref)
    (table.set $t (local.get 0) (local.get 1)))
  (func (export "get") (param i32) (result externref)
    (table.get $t (local.get 0)))
  (func (export "func") (result funcref) (ref.func 0))
  (elem declare func 0))
(assert_return (invoke "get" (i32.const 0)) (ref.null extern))
(assert_return (invoke "get" (i32.const 0)) (ref.null))
(invoke "put" (i32.const 0) (ref.extern 7))
(invoke "put" (i32.const 1) (ref.null extern))
(assert_return (invoke "get" (i32.const 0)) (ref.extern 7))
(assert_return (invoke "get" (i32.const 0)) (ref.extern))
(assert_return (invoke "get" (i32.const 1)) (ref.null extern))
(assert_return (invoke "func") (ref.func))

;; Traps, also during instantiation, and stack exhaustion.
(module
  (func $loop (export "recurse") (call $loop))
  (func (export "div") (param i32) (result i32)
    (i32.div_u (i32.const 1) (local.get 0))))
(assert_trap (invoke "div" (i32.const 0)) "integer divide by zero")
(assert_exhaustion (invoke "recurse") "call stack exhausted")
(assert_trap (module (func $f unreachable) (start $f)) "unreachable")
(assert_return (invoke "div" (i32.const 1)) (i32.const 1))

;; Rejected modules: invalid, malformed text or binary, unlinkable.
(assert_invalid (module (func (result i32))) "type mismatch")
(assert_malformed (module quote "(func (i32.const))") "unexpected token")
(assert_malformed (module binary "") "unexpected end")
(assert_malformed (module binary "\00asm\02\00\00\00") "unknown binary version")
(assert_unlinkable (module (import "nowhere" "f" (func))) "unknown import")
