//! The generated module of the compilation-time workload: `n` small
//! functions of varied shapes (loops, branches, loads and stores, calls to
//! shared helpers), all placed in a table, and a `run` export that calls
//! every one of them through `call_indirect` so that the checksum covers
//! the code of every function each engine compiled.

use std::fmt::Write;

/// A cheap deterministic mix of a function index into constants.
fn mix(i: u32, salt: u32) -> u32 {
    let mut x = i.wrapping_mul(0x9e37_79b1) ^ salt.wrapping_mul(0x85eb_ca6b);
    x ^= x >> 15;
    x = x.wrapping_mul(0x2c1b_3c6d);
    x ^= x >> 12;
    x
}

pub fn compile_module_wat(n: u32) -> String {
    let mut w = String::with_capacity(n as usize * 900);
    w.push_str("(module\n  (type $t (func (param i32) (result i32)))\n  (memory 1)\n");
    writeln!(w, "  (table {n} funcref)").unwrap();
    // Eight leaf helpers the generated functions call.
    for h in 0..8u32 {
        writeln!(
            w,
            "  (func $h{h} (param $x i32) (result i32)\n    (i32.add (i32.rotl (local.get $x) (i32.const {r})) (i32.const {c})))",
            r = h + 1,
            c = mix(h, 99) & 0xffff
        )
        .unwrap();
    }
    for i in 0..n {
        let c1 = mix(i, 1) as i32;
        let c2 = (mix(i, 2) | 1) as i32;
        let shift = 1 + mix(i, 3) % 30;
        let iters = 1 + i % 5;
        let offset = (mix(i, 4) % 4000) * 4;
        let helper = i % 8;
        match i % 4 {
            // A counted loop with a branch, a helper call and a store.
            0 | 1 => writeln!(
                w,
                "  (func $f{i} (type $t) (local $a i32) (local $j i32)
    (local.set $a (i32.add (local.get 0) (i32.const {c1})))
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $j) (i32.const {iters})))
        (local.set $a (i32.xor (i32.mul (local.get $a) (i32.const {c2})) (i32.shr_u (local.get $a) (i32.const {shift}))))
        (if (i32.and (local.get $a) (i32.const 1))
          (then (local.set $a (i32.add (local.get $a) (call $h{helper} (local.get $j)))))
          (else (i32.store offset={offset} (i32.const 0) (local.get $a))))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br $l)))
    (i32.add (local.get $a) (i32.load offset={offset} (i32.const 0))))"
            )
            .unwrap(),
            // Straight-line arithmetic on i64 and a select.
            2 => writeln!(
                w,
                "  (func $f{i} (type $t) (local $x i64)
    (local.set $x (i64.extend_i32_u (local.get 0)))
    (local.set $x (i64.add (i64.mul (local.get $x) (i64.const {c2})) (i64.const {c1})))
    (local.set $x (i64.xor (local.get $x) (i64.shr_u (local.get $x) (i64.const {shift}))))
    (local.set $x (i64.rotl (local.get $x) (i64.const {iters})))
    (select
      (i32.wrap_i64 (local.get $x))
      (i32.wrap_i64 (i64.shr_u (local.get $x) (i64.const 32)))
      (i32.lt_u (local.get 0) (i32.const {c1}))))"
            )
            .unwrap(),
            // A br_table over four cases, each touching memory differently.
            _ => writeln!(
                w,
                "  (func $f{i} (type $t) (local $r i32)
    (block $d
      (block $c3
        (block $c2
          (block $c1
            (block $c0
              (br_table $c0 $c1 $c2 $c3 (i32.and (local.get 0) (i32.const 3))))
            (local.set $r (i32.add (local.get 0) (i32.const {c1})))
            (br $d))
          (local.set $r (i32.mul (local.get 0) (i32.const {c2})))
          (br $d))
        (i32.store16 offset={offset} (i32.const 0) (local.get 0))
        (local.set $r (i32.load16_u offset={offset} (i32.const 0)))
        (br $d))
      (local.set $r (call $h{helper} (i32.xor (local.get 0) (i32.const {c1})))))
    (i32.sub (local.get $r) (i32.const {shift})))"
            )
            .unwrap(),
        }
    }
    w.push_str("  (elem (i32.const 0) func");
    for i in 0..n {
        write!(w, " $f{i}").unwrap();
    }
    w.push_str(")\n");
    writeln!(
        w,
        "  (func (export \"run\") (param $seed i32) (result i32) (local $acc i32) (local $k i32)
    (local.set $acc (local.get $seed))
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $k) (i32.const {n})))
        (local.set $acc
          (i32.add (i32.rotl (local.get $acc) (i32.const 3))
            (call_indirect (type $t) (i32.add (local.get $acc) (local.get $k)) (local.get $k))))
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (br $l)))
    (local.get $acc))\n)"
    )
    .unwrap();
    w
}
