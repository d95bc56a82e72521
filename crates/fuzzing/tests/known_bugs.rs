//! Kiln bugs found by the oracles, one test each: ignored (with the
//! reason) while the bug is open, a regression test once it is fixed.
//!
//! Each test runs the oracle that found the bug on a minimal input. Some
//! bugs abort the process rather than panic, which is why these live apart
//! from `fixed_seeds.rs`: run open ones one at a time (`cargo test -p
//! kiln-fuzzing --test known_bugs -- --ignored NAME`). A bug that would
//! keep firing during fuzzing also gets a workaround in the generators
//! (steering wasm-smith away from it), removed when the bug is fixed.

use kiln::Collector;
use kiln_fuzzing::arbitrary::Unstructured;
use kiln_fuzzing::generators::config::base_config;
use kiln_fuzzing::generators::table_ops::{TableOp, TableOps, Via};
use kiln_fuzzing::oracles::table_ops::{self, EngineChoice};
use kiln_fuzzing::oracles::{Outcome, instantiate::instantiate_and_call};

fn instantiate_wat(wat: &str) -> Option<Outcome> {
    let wasm = wat::parse_str(wat).unwrap();
    instantiate_and_call(&base_config(), &wasm, &mut Unstructured::new(&[])).instantiation
}

/// Fixed: `const_eval` allocated a host buffer of the array's length (64
/// GiB here) before checking it, and the process aborted.
#[test]
fn array_new_in_global_with_huge_length_traps() {
    let outcome = instantiate_wat("(module (type $a (array i8)) (global (ref $a) (array.new_default $a (i32.const -1))))");
    assert!(matches!(outcome, Some(Outcome::Trap(_))), "{outcome:?}");
}


/// Fixed: the activation's entry bound was the address of a Rust local,
/// which AddressSanitizer's use-after-return detection moves to a fake
/// stack on the heap, so the root walk stopped before the Wasm frames and
/// an externref held only in a Wasm local across `Caller::gc` lost its
/// host data. The entry trampoline now records its own frame pointer and
/// the walk ends exactly there. The cargo-fuzz input
/// (`fuzz/artifacts/table_ops/crash-940befb1...`) that found it decodes to
/// the engine and operations below (with the collector list of its time).
const LOCAL_LOST_ACROSS_GC_INPUT: [u8; 35] = [
    0x67, 0x26, 0x0a, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xf6, 0xff, 0x05, 0x05, 0x05, 0xff, 0x07, 0x72, 0x8e, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x9f, 0x9a, 0x2a, 0x61, 0x25, 0x23, 0x01, 0x00, 0x01, 0x28,
];

#[test]
fn externref_in_wasm_local_lost_across_collection() {
    let ops = TableOps {
        ops: vec![
            TableOp::Get { table: 0, index: 0, via: Via::Wasm },
            TableOp::Size { table: 0, via: Via::Host },
            // Wasm stores a fresh host-made reference in table 1, slot 0.
            TableOp::MakeInWasm { table: 1, index: 0 },
            TableOp::Get { table: 0, index: 0, via: Via::Wasm },
            // `gc1(0)`: load slot 0 into a local, clear the slot, collect,
            // pass the local to the host (which finds stale host data).
            TableOp::Gc { table: 1, index: 0, via: Via::Wasm },
        ],
    };
    table_ops::run(&ops, EngineChoice { optimize: true, collector: Collector::Copying, gc_heap_bytes: 1 << 20, zeal: false });
    table_ops::table_ops(&mut Unstructured::new(&LOCAL_LOST_ACROSS_GC_INPUT)).unwrap();
}
