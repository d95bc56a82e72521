//! Kiln bugs found by the oracles, one test each, ignored until fixed.
//!
//! Each test runs the oracle that found the bug on a minimal input and
//! states what goes wrong. Some bugs abort the process rather than panic,
//! which is why these live apart from `fixed_seeds.rs`: run them one at a
//! time (`cargo test -p kiln-fuzzing --test known_bugs -- --ignored NAME`).
//! When a test passes, remove its `#[ignore]` and the matching workaround
//! in the generators (`generators::smith::avoid_known_bugs`).

use kiln_fuzzing::arbitrary::Unstructured;
use kiln_fuzzing::generators::config::base_config;
use kiln_fuzzing::oracles::{Outcome, instantiate::instantiate_and_call};

fn instantiate_wat(wat: &str) -> Option<Outcome> {
    let wasm = wat::parse_str(wat).unwrap();
    instantiate_and_call(&base_config(), &wasm, &mut Unstructured::new(&[])).instantiation
}

#[test]

fn array_new_in_global_with_huge_length_aborts() {
    let outcome = instantiate_wat("(module (type $a (array i8)) (global (ref $a) (array.new_default $a (i32.const -1))))");
    assert!(matches!(outcome, Some(Outcome::Trap(_))), "{outcome:?}");
}
