//! Oracles: run a test case through Kiln and panic if Kiln misbehaves.
//!
//! Each oracle takes bytes or `&mut Unstructured` (so cargo-fuzz and
//! fixed-seed tests call it the same way) and returns what happened, so
//! tests can check that a generator reaches interesting states and does
//! not, say, fail every instantiation. A returned value is never a
//! verdict: verdicts are panics.

pub mod agree;
pub mod api_calls;
pub mod collectors;
pub mod compile;
pub mod cranelift_fuzzgen;
pub mod cranelift_icache;
#[cfg(feature = "wasmi")]
pub mod differential;
pub mod dummy;
pub mod gc_ops;
pub mod instantiate_many;
pub mod instantiate;
pub mod spectests;
pub mod table_ops;

use kiln::Trap;

/// How one step (an instantiation, a call) ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    /// A Wasm trap, by its code.
    Trap(Trap),
    /// Any other error, by its message with causes.
    Error(String),
}

impl Outcome {
    pub fn of<T>(result: &anyhow::Result<T>) -> Outcome {
        match result {
            Ok(_) => Outcome::Ok,
            Err(e) => match e.downcast_ref::<Trap>() {
                Some(trap) => Outcome::Trap(*trap),
                None => Outcome::Error(format!("{e:#}")),
            },
        }
    }

    pub fn is_trap(&self, trap: Trap) -> bool {
        *self == Outcome::Trap(trap)
    }
}
