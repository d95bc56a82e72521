;; The script runner's v128 handling: arguments from any lane shape, and
;; results matched per lane, including NaN patterns in float lanes.

(module
  (func (export "id") (param v128) (result v128) (local.get 0))
  (func (export "lanes") (result v128)
    (v128.const f32x4 nan 1 -0 nan:0x400001))
  (func (export "f64-lanes") (result v128)
    (v128.const f64x2 nan:0x8000000000001 -nan)))

;; Lane 0 is the least significant, whatever the shape.
(assert_return (invoke "id" (v128.const i8x16 1 0 0 0 2 0 0 0 3 0 0 0 -1 -1 -1 -1))
  (v128.const i32x4 1 2 3 -1))
(assert_return (invoke "id" (v128.const i64x2 -1 0x0123456789abcdef))
  (v128.const i16x8 -1 -1 -1 -1 0xcdef 0x89ab 0x4567 0x0123))
(assert_return (invoke "id" (v128.const f64x2 1.5 -0))
  (v128.const f64x2 1.5 -0))

(assert_return (invoke "lanes")
  (v128.const f32x4 nan:canonical 1 -0 nan:arithmetic))
(assert_return (invoke "lanes")
  (v128.const i32x4 0x7fc00000 0x3f800000 0x80000000 0x7fc00001))
(assert_return (invoke "f64-lanes")
  (v128.const f64x2 nan:arithmetic nan:canonical))
