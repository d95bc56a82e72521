//! Snapshot tests of the CLIF each collector's `GcCompiler` emits for a few
//! small functions, so a change to a barrier, an allocation fast path or
//! the inline cast (a supertype display lookup, no call on its success
//! path) shows up in review as a change to a file under `tests/snapshots/`.
//!
//! A mismatch fails with both texts. After an intended change, rewrite the
//! snapshots with `KILN_BLESS=1 cargo test -p kiln-cranelift --test
//! barriers` and review the diff.

use kiln_cranelift::{BoundsChecks, Compiler, OptLevel, Tunables};
use kiln_gc::Collector;
use std::path::Path;

/// One function per operation whose code depends on the collector.
const PROGRAMS: &[(&str, &str)] = &[
    (
        "struct_set_ref",
        r#"(module (type $n (struct (field (mut (ref null $n)))))
            (func (param (ref $n) (ref null $n)) (struct.set $n 0 (local.get 0) (local.get 1))))"#,
    ),
    (
        "array_get_ref",
        r#"(module (type $a (array (mut anyref)))
            (func (param (ref $a) i32) (result anyref) (array.get $a (local.get 0) (local.get 1))))"#,
    ),
    ("global_set_ref", r#"(module (global $g (mut anyref) (ref.null any)) (func (param anyref) (global.set $g (local.get 0))))"#),
    (
        // A reference loaded and used up by a function that makes no call:
        // the runtime cannot run under it, so DRC logs nothing.
        "struct_get_ref_call_free",
        r#"(module (type $n (struct (field i32) (field (ref null $n))))
            (func (param (ref $n)) (result i32) (struct.get $n 0 (struct.get $n 1 (local.get 0)))))"#,
    ),
    (
        // The same reference held across a call: DRC logs it as it is
        // loaded.
        "struct_get_ref_across_call",
        r#"(module (type $n (struct (field i32) (field (ref null $n))))
            (func (param (ref $n)) (result i32) (local (ref null $n))
                (local.set 1 (struct.get $n 1 (local.get 0)))
                (call 1)
                (struct.get $n 0 (local.get 1)))
            (func))"#,
    ),
    (
        "struct_new",
        r#"(module (type $p (struct (field i32) (field anyref)))
            (func (param i32 anyref) (result (ref $p)) (struct.new $p (local.get 0) (local.get 1))))"#,
    ),
    ("array_new_default", r#"(module (type $a (array i8)) (func (param i32) (result (ref $a)) (array.new_default $a (local.get 0))))"#),
    (
        // Filled, so allocated inline up to 16 KiB: the copying collector
        // bumps the plain-object region's cursor from a kilobyte on.
        "array_new_i32",
        r#"(module (type $a (array (mut i32))) (func (param i32 i32) (result (ref $a)) (array.new $a (local.get 0) (local.get 1))))"#,
    ),
    (
        // A tree rotation's two stores: `y.1` moves into `t.0`, then `y.1`
        // is overwritten. DRC neither counts the moved reference in nor
        // releases it.
        "struct_move_ref",
        r#"(module (type $n (struct (field (mut (ref null $n))) (field (mut (ref null $n)))))
            (func (param (ref $n) (ref $n))
              (struct.set $n 0 (local.get 0) (struct.get $n 1 (local.get 1)))
              (struct.set $n 1 (local.get 1) (local.get 0))))"#,
    ),
    (
        "ref_test_non_final",
        r#"(module (type $a (sub (struct))) (type $b (sub $a (struct)))
            (func (param anyref) (result i32) (ref.test (ref $b) (local.get 0))))"#,
    ),
    (
        // A non-nullable struct reference is neither null nor an i31: the
        // test starts at the header.
        "ref_test_known_object",
        r#"(module (type $a (sub (struct))) (type $b (sub $a (struct)))
            (func (param (ref $a)) (result i32) (ref.test (ref $b) (local.get 0))))"#,
    ),
];

fn clif(collector: Collector, wat: &str) -> String {
    let wasm = wat::parse_str(wat).unwrap();
    let module = kiln_environ::translate_module(&wasm).unwrap();
    let tunables = Tunables { bounds_checks: BoundsChecks::GuardPages, epoch_interruption: false, consume_fuel: false, collector, inlining: true };
    let compiler = Compiler::new(OptLevel::Speed, tunables).unwrap();
    compiler.clif_text(&module, &wasm, 0).unwrap()
}

#[test]
fn barrier_snapshots() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots");
    let bless = std::env::var_os("KILN_BLESS").is_some_and(|v| v == "1");
    let mut mismatches = Vec::new();
    for collector in [Collector::Null, Collector::Copying, Collector::Drc, Collector::Generational] {
        for (name, wat) in PROGRAMS {
            let path = dir.join(format!("{}-{name}.clif", format!("{collector:?}").to_lowercase()));
            let actual = clif(collector, wat);
            if bless {
                std::fs::write(&path, &actual).unwrap();
                continue;
            }
            let expected = std::fs::read_to_string(&path).unwrap_or_default();
            if expected != actual {
                mismatches.push(format!("{}:\n--- expected\n{expected}\n--- actual\n{actual}", path.display()));
            }
        }
    }
    assert!(mismatches.is_empty(), "CLIF differs from the snapshots (KILN_BLESS=1 rewrites them):\n{}", mismatches.join("\n"));
}

#[test]
fn barriers_are_inline_and_never_call_out() {
    // A call is a safepoint, which would keep the references around it in
    // stack slots: no barrier calls out. DRC logs loaded references and
    // zeroed counts in the store's barrier log; the generational collector
    // marks the card of an object a reference is stored into (reads and
    // globals need no generational barrier).
    let (set, get, global_set) = (PROGRAMS[0].1, PROGRAMS[1].1, PROGRAMS[2].1);
    let log_len = format!("+{}", kiln_environ::vmoffsets::store_context::GC_BARRIER_LOG_LEN);
    let card_table = format!("+{}", kiln_environ::vmoffsets::store_context::GC_CARD_TABLE);
    let uses = |collector, wat, field: &str| {
        let text = clif(collector, wat);
        assert!(!text.contains("call"), "{collector:?} barrier calls out:\n{text}");
        text.contains(field)
    };
    for wat in [set, get, global_set] {
        for collector in [Collector::Null, Collector::Copying] {
            assert!(!uses(collector, wat, &log_len) && !uses(collector, wat, &card_table));
        }
        assert!(uses(Collector::Drc, wat, &log_len));
        assert!(!uses(Collector::Generational, wat, &log_len));
    }
    assert!(uses(Collector::Generational, set, &card_table));
    assert!(!uses(Collector::Generational, get, &card_table) && !uses(Collector::Generational, global_set, &card_table));
}

#[test]
fn drc_logs_a_loaded_reference_only_where_a_call_could_free_it() {
    let program = |name: &str| PROGRAMS.iter().find(|(n, _)| *n == name).unwrap().1;
    let log_len = format!("+{}", kiln_environ::vmoffsets::store_context::GC_BARRIER_LOG_LEN);
    let logs = |name| clif(Collector::Drc, program(name)).contains(&log_len);
    assert!(!logs("struct_get_ref_call_free"));
    assert!(logs("struct_get_ref_across_call"));
    // Returned to a caller that may hold it across calls: logged on return.
    assert!(logs("array_get_ref"));
}

#[test]
fn drc_does_not_count_a_reference_moved_between_fields() {
    // Each count update (an increment or a decrement) is one saturating
    // `select`. Two plain stores make four; a move makes two (the first
    // store releases the field's old value, the second counts its new
    // one). Anything but locals and constants between the stores, or a
    // store that is not into the field the reference came from, counts
    // all four.
    let rotation = |between: &str, second_field: u32| {
        format!(
            r#"(module (type $n (struct (field (mut (ref null $n))) (field (mut (ref null $n))) (field (mut i32))))
                (global $g (mut i32) (i32.const 0))
                (func (param (ref $n) (ref $n))
                  (struct.set $n 0 (local.get 0) (struct.get $n 1 (local.get 1)))
                  {between}
                  (struct.set $n {second_field} (local.get 1) (local.get 0))))"#
        )
    };
    let count_updates = |wat: String| clif(Collector::Drc, &wat).matches("= select").count();
    assert_eq!(count_updates(rotation("", 1)), 2);
    assert_eq!(count_updates(rotation("(local.set 0 (local.get 0)) (drop (i32.const 7))", 1)), 2);
    assert_eq!(count_updates(rotation("", 0)), 4, "not the field the reference came from");
    assert_eq!(count_updates(rotation("(global.set $g (i32.const 1))", 1)), 4);
    assert_eq!(count_updates(rotation("(struct.set $n 2 (local.get 1) (i32.const 1))", 1)), 4, "a store that may trap");
    assert_eq!(count_updates(rotation("(drop (struct.get $n 2 (local.get 0)))", 1)), 4, "a load that may trap");
    // Other collectors count nothing.
    assert_eq!(clif(Collector::Copying, &rotation("", 1)).matches("= select").count(), 0);
}

#[test]
fn a_cast_in_the_then_arm_of_its_own_test_is_not_checked_again() {
    let program = |test: &str, cast: &str| {
        format!(
            r#"(module (type $a (sub (struct))) (type $b (sub $a (struct (field i32))))
                (func (param (ref null $a)) (result i32)
                  (if (result i32) (ref.test {test} (local.get 0))
                    (then (struct.get $b 0 (ref.cast {cast} (local.get 0))))
                    (else (struct.get $b 0 (ref.cast {cast} (local.get 0)))))))"#
        )
    };
    let cast_failure = format!(", {}\n", kiln_cranelift::trap_code(kiln_environ::Trap::CastFailure));
    let checked_casts = |test, cast| clif(Collector::Copying, &program(test, cast)).matches(&cast_failure).count();
    // The `else` arm's cast is checked; the `then` arm's only when the
    // test let through what the cast refuses (null).
    assert_eq!(checked_casts("(ref $b)", "(ref $b)"), 1);
    assert_eq!(checked_casts("(ref null $b)", "(ref null $b)"), 1);
    assert_eq!(checked_casts("(ref $b)", "(ref null $b)"), 1);
    assert_eq!(checked_casts("(ref null $b)", "(ref $b)"), 2);
    assert_eq!(checked_casts("(ref $a)", "(ref $b)"), 2, "a wider test proves nothing");
}
