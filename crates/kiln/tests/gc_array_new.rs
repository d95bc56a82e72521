//! `array.new` of numbers writes its value over memory nobody zeroed (the
//! allocator's region holds old objects): every element must read back
//! the value, whatever the element size and length, and nothing outside
//! the array may change — checked on every collector, over memory that
//! earlier arrays dirtied.

use kiln::*;

/// For each element type, `checkN(n, value)` makes arrays of lengths
/// 0..n, each filled with `value + its length`, amid garbage arrays of all
/// ones, and returns the number of elements that read back wrong (0
/// expected), reading every array again after all were made. A small heap
/// makes collections recycle the garbage's memory.
const ARRAYS: &str = r#"(module
    (type $a8 (array (mut i8)))
    (type $a16 (array (mut i16)))
    (type $a32 (array (mut i32)))
    (type $a64 (array (mut i64)))
    (type $af32 (array (mut f32)))
    (type $all (array (mut anyref)))
    ;; Garbage of all ones, n arrays: collections then hand the arrays
    ;; made next memory that held it.
    (func $dirty (param $n i32)
        (local $i i32)
        (loop $l
            (drop (array.new $a64 (i64.const -1) (i32.and (local.get $i) (i32.const 63))))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br_if $l (i32.lt_u (local.get $i) (local.get $n)))))
    (func (export "check8") (param $n i32) (param $v i32) (result i32)
        (local $keep (ref $all)) (local $len i32) (local $i i32) (local $bad i32) (local $a (ref $a8))
        (call $dirty (i32.const 2000))
        (local.set $keep (array.new_default $all (local.get $n)))
        (loop $make
            (if (i32.eqz (i32.and (local.get $len) (i32.const 3))) (then (call $dirty (i32.const 300))))
            (array.set $all (local.get $keep) (local.get $len)
                (array.new $a8 (i32.add (local.get $v) (local.get $len)) (local.get $len)))
            (local.set $len (i32.add (local.get $len) (i32.const 1)))
            (br_if $make (i32.lt_u (local.get $len) (local.get $n))))
        (local.set $len (i32.const 0))
        (loop $check
            (local.set $a (ref.cast (ref $a8) (array.get $all (local.get $keep) (local.get $len))))
            (local.set $bad (i32.add (local.get $bad) (i32.ne (array.len (local.get $a)) (local.get $len))))
            (local.set $i (i32.const 0))
            (block $done (loop $elems
                (br_if $done (i32.ge_u (local.get $i) (local.get $len)))
                (local.set $bad (i32.add (local.get $bad)
                    (i32.ne (array.get_u $a8 (local.get $a) (local.get $i))
                            (i32.and (i32.add (local.get $v) (local.get $len)) (i32.const 0xff)))))
                (local.set $i (i32.add (local.get $i) (i32.const 1)))
                (br $elems)))
            (local.set $len (i32.add (local.get $len) (i32.const 1)))
            (br_if $check (i32.lt_u (local.get $len) (local.get $n))))
        (local.get $bad))
    (func (export "check16") (param $n i32) (param $v i32) (result i32)
        (local $keep (ref $all)) (local $len i32) (local $i i32) (local $bad i32) (local $a (ref $a16))
        (call $dirty (i32.const 2000))
        (local.set $keep (array.new_default $all (local.get $n)))
        (loop $make
            (if (i32.eqz (i32.and (local.get $len) (i32.const 3))) (then (call $dirty (i32.const 300))))
            (array.set $all (local.get $keep) (local.get $len)
                (array.new $a16 (i32.add (local.get $v) (local.get $len)) (local.get $len)))
            (local.set $len (i32.add (local.get $len) (i32.const 1)))
            (br_if $make (i32.lt_u (local.get $len) (local.get $n))))
        (local.set $len (i32.const 0))
        (loop $check
            (local.set $a (ref.cast (ref $a16) (array.get $all (local.get $keep) (local.get $len))))
            (local.set $i (i32.const 0))
            (block $done (loop $elems
                (br_if $done (i32.ge_u (local.get $i) (local.get $len)))
                (local.set $bad (i32.add (local.get $bad)
                    (i32.ne (array.get_u $a16 (local.get $a) (local.get $i))
                            (i32.and (i32.add (local.get $v) (local.get $len)) (i32.const 0xffff)))))
                (local.set $i (i32.add (local.get $i) (i32.const 1)))
                (br $elems)))
            (local.set $len (i32.add (local.get $len) (i32.const 1)))
            (br_if $check (i32.lt_u (local.get $len) (local.get $n))))
        (local.get $bad))
    (func (export "check32") (param $n i32) (param $v i32) (result i32)
        (local $keep (ref $all)) (local $len i32) (local $i i32) (local $bad i32) (local $a (ref $a32)) (local $f (ref $af32))
        (call $dirty (i32.const 2000))
        (local.set $keep (array.new_default $all (i32.mul (local.get $n) (i32.const 2))))
        (loop $make
            (if (i32.eqz (i32.and (local.get $len) (i32.const 3))) (then (call $dirty (i32.const 300))))
            (array.set $all (local.get $keep) (i32.mul (local.get $len) (i32.const 2))
                (array.new $a32 (i32.add (local.get $v) (local.get $len)) (local.get $len)))
            (array.set $all (local.get $keep) (i32.add (i32.mul (local.get $len) (i32.const 2)) (i32.const 1))
                (array.new $af32 (f32.convert_i32_s (local.get $len)) (local.get $len)))
            (local.set $len (i32.add (local.get $len) (i32.const 1)))
            (br_if $make (i32.lt_u (local.get $len) (local.get $n))))
        (local.set $len (i32.const 0))
        (loop $check
            (local.set $a (ref.cast (ref $a32) (array.get $all (local.get $keep) (i32.mul (local.get $len) (i32.const 2)))))
            (local.set $f (ref.cast (ref $af32) (array.get $all (local.get $keep) (i32.add (i32.mul (local.get $len) (i32.const 2)) (i32.const 1)))))
            (local.set $i (i32.const 0))
            (block $done (loop $elems
                (br_if $done (i32.ge_u (local.get $i) (local.get $len)))
                (local.set $bad (i32.add (local.get $bad)
                    (i32.ne (array.get $a32 (local.get $a) (local.get $i)) (i32.add (local.get $v) (local.get $len)))))
                (local.set $bad (i32.add (local.get $bad)
                    (f32.ne (array.get $af32 (local.get $f) (local.get $i)) (f32.convert_i32_s (local.get $len)))))
                (local.set $i (i32.add (local.get $i) (i32.const 1)))
                (br $elems)))
            (local.set $len (i32.add (local.get $len) (i32.const 1)))
            (br_if $check (i32.lt_u (local.get $len) (local.get $n))))
        (local.get $bad))
    (func (export "check64") (param $n i32) (param $v i64) (result i32)
        (local $keep (ref $all)) (local $len i32) (local $i i32) (local $bad i32) (local $a (ref $a64))
        (call $dirty (i32.const 2000))
        (local.set $keep (array.new_default $all (local.get $n)))
        (loop $make
            (if (i32.eqz (i32.and (local.get $len) (i32.const 3))) (then (call $dirty (i32.const 300))))
            (array.set $all (local.get $keep) (local.get $len)
                (array.new $a64 (i64.add (local.get $v) (i64.extend_i32_u (local.get $len))) (local.get $len)))
            (local.set $len (i32.add (local.get $len) (i32.const 1)))
            (br_if $make (i32.lt_u (local.get $len) (local.get $n))))
        (local.set $len (i32.const 0))
        (loop $check
            (local.set $a (ref.cast (ref $a64) (array.get $all (local.get $keep) (local.get $len))))
            (local.set $i (i32.const 0))
            (block $done (loop $elems
                (br_if $done (i32.ge_u (local.get $i) (local.get $len)))
                (local.set $bad (i32.add (local.get $bad)
                    (i64.ne (array.get $a64 (local.get $a) (local.get $i)) (i64.add (local.get $v) (i64.extend_i32_u (local.get $len))))))
                (local.set $i (i32.add (local.get $i) (i32.const 1)))
                (br $elems)))
            (local.set $len (i32.add (local.get $len) (i32.const 1)))
            (br_if $check (i32.lt_u (local.get $len) (local.get $n))))
        (local.get $bad)))"#;

fn check_every_collector(n: i32, heap: u64) {
    for collector in [Collector::Null, Collector::Copying, Collector::Drc, Collector::Generational] {
        let mut config = Config::new();
        config.collector(collector).max_gc_heap_size(if collector == Collector::Null { 1 << 30 } else { heap });
        let engine = Engine::new(&config).unwrap();
        let module = Module::new(&engine, ARRAYS).unwrap();
        let mut store = Store::new(&engine, ());
        let instance = Instance::new(&mut store, &module, &[]).unwrap();
        for (name, v) in [("check8", 0x5a), ("check16", 0x7abc), ("check32", 0x1234_5678)] {
            let f = instance.get_typed_func::<(i32, i32), i32>(&mut store, name).unwrap();
            assert_eq!(f.call(&mut store, (n, v)).unwrap(), 0, "{collector:?} {name}: elements that read back wrong");
        }
        let f = instance.get_typed_func::<(i32, i64), i32>(&mut store, "check64").unwrap();
        assert_eq!(f.call(&mut store, (n, 0x0102_0304_0506_0708)).unwrap(), 0, "{collector:?} check64");
    }
}

#[test]
fn array_new_fills_every_element_over_dirty_memory_for_every_length_and_element_size() {
    check_every_collector(70, 1 << 20);
}

#[test]
fn array_new_fills_arrays_past_the_inline_size_limits() {
    // Lengths to 2100: past 1 KiB and, for i64 elements, 16 KiB.
    check_every_collector(2100, 64 << 20);
}

/// `zeroedN(n)` makes arrays of lengths 0..n with `array.new_default`
/// amid garbage of all ones (and arrays of all ones of the same sizes, so
/// that the copying collector's plain-object space recycles them too),
/// and returns the number of elements that do not read back zero.
const ZEROED: &str = r#"(module
    (type $a8 (array (mut i8)))
    (type $a32 (array (mut i32)))
    (type $a64 (array (mut i64)))
    (type $all (array (mut anyref)))
    (func $dirty (param $n i32) (param $len i32)
        (local $i i32)
        (loop $l
            (drop (array.new $a64 (i64.const -1) (i32.and (local.get $i) (i32.const 63))))
            (drop (array.new $a8 (i32.const -1) (local.get $len)))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br_if $l (i32.lt_u (local.get $i) (local.get $n)))))
    (func $nonzero8 (param $a (ref $a8)) (result i32)
        (local $i i32) (local $bad i32)
        (block $done (loop $l
            (br_if $done (i32.ge_u (local.get $i) (array.len (local.get $a))))
            (local.set $bad (i32.add (local.get $bad) (i32.ne (array.get_u $a8 (local.get $a) (local.get $i)) (i32.const 0))))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $l)))
        (local.get $bad))
    (func $nonzero32 (param $a (ref $a32)) (result i32)
        (local $i i32) (local $bad i32)
        (block $done (loop $l
            (br_if $done (i32.ge_u (local.get $i) (array.len (local.get $a))))
            (local.set $bad (i32.add (local.get $bad) (i32.ne (array.get $a32 (local.get $a) (local.get $i)) (i32.const 0))))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $l)))
        (local.get $bad))
    (func $nonzero64 (param $a (ref $a64)) (result i32)
        (local $i i32) (local $bad i32)
        (block $done (loop $l
            (br_if $done (i32.ge_u (local.get $i) (array.len (local.get $a))))
            (local.set $bad (i32.add (local.get $bad) (i64.ne (array.get $a64 (local.get $a) (local.get $i)) (i64.const 0))))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $l)))
        (local.get $bad))
    (func (export "zeroed") (param $n i32) (param $step i32) (result i32)
        (local $len i32) (local $bad i32)
        (loop $make
            (call $dirty (i32.const 40) (i32.mul (local.get $len) (i32.const 8)))
            (local.set $bad (i32.add (local.get $bad)
                (call $nonzero8 (array.new_default $a8 (i32.mul (local.get $len) (i32.const 8))))))
            (local.set $bad (i32.add (local.get $bad)
                (call $nonzero32 (array.new_default $a32 (i32.mul (local.get $len) (i32.const 2))))))
            (local.set $bad (i32.add (local.get $bad)
                (call $nonzero64 (array.new_default $a64 (local.get $len)))))
            (local.set $len (i32.add (local.get $len) (local.get $step)))
            (br_if $make (i32.lt_u (local.get $len) (local.get $n))))
        (local.get $bad)))"#;

#[test]
fn array_new_default_zeroes_every_element_over_dirty_memory_up_to_and_past_the_inline_limit() {
    for collector in [Collector::Null, Collector::Copying, Collector::Drc, Collector::Generational] {
        let mut config = Config::new();
        config.collector(collector).max_gc_heap_size(if collector == Collector::Null { 1 << 30 } else { 64 << 20 });
        let engine = Engine::new(&config).unwrap();
        let module = Module::new(&engine, ZEROED).unwrap();
        let mut store = Store::new(&engine, ());
        let instance = Instance::new(&mut store, &module, &[]).unwrap();
        let zeroed = instance.get_typed_func::<(i32, i32), i32>(&mut store, "zeroed").unwrap();
        // Every length to 64 elements, then up to 2,200 (17.6 KB for i64s,
        // past the 16 KiB inline limit) in steps of 7.
        assert_eq!(zeroed.call(&mut store, (64, 1)).unwrap(), 0, "{collector:?}: short arrays");
        assert_eq!(zeroed.call(&mut store, (2200, 7)).unwrap(), 0, "{collector:?}: long arrays");
    }
}
