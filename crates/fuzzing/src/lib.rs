//! kiln-fuzzing: test-case generators and oracles for fuzzing Kiln.
//!
//! A *generator* turns unstructured bytes into a structured test case (a
//! Wasm module from wasm-smith, a sequence of table operations, a sequence
//! of embedder API calls). An *oracle* runs a test case through Kiln and
//! panics, with a message saying what went wrong, when Kiln misbehaves:
//! it crashed, disagreed with a model, or disagreed with a peer engine.
//!
//! Nothing here depends on libFuzzer. The cargo-fuzz targets under `fuzz/`
//! are thin glue that hand libFuzzer's input to an oracle, and this crate's
//! own tests drive the same oracles with fixed seeds, so every pair runs in
//! `cargo test` too.
//!
//! Invariants every oracle keeps:
//! - Every input terminates: Wasm runs under fuel, memories, tables and
//!   GC heaps are capped, and generated sizes are bounded.
//! - Running out of input bytes is not a failure: generators return
//!   `arbitrary::Result`, and oracles turn `NotEnoughData` into "nothing
//!   to test".
//! - A panic means a Kiln bug (or an oracle bug), never a bad input.
//! - With `debug` logging on, every oracle logs the test case it generated
//!   and writes each generated module to a file (`repro`), so a failure
//!   can be replayed outside the fuzzer.

pub mod generators;
pub mod oracles;
pub mod repro;

/// Re-exported so fuzz targets and tests build `Unstructured` from the
/// same version this crate's generators take.
pub use arbitrary;
pub use wasm_smith;
