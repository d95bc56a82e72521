//! kiln-wast: runs `.wast` spec scripts through Kiln's public embedder API.
//!
//! A script is a list of directives: define and instantiate modules,
//! register instances under import names, invoke exports, and assert
//! results, traps, and validation or link errors. [`WastContext`] runs one
//! script in one store, with the `spectest` host module predefined.
//!
//! Two ways to run:
//! - [`WastContext::run`] stops at the first failing directive and returns
//!   it as the error. The spec harness uses this: later directives usually
//!   depend on what earlier ones set up.
//! - [`WastContext::run_all`] goes on after failures and returns a
//!   [`WastSummary`] of every one. `kiln wast` uses this.
//!
//! Only `kiln`'s public API is used, so the runner doubles as a test of it:
//! anything a script needs that the API cannot express is reported as
//! "not supported yet" rather than worked around.

#![forbid(unsafe_code)]

mod context;
mod report;
mod spectest;
#[cfg(feature = "testsuite")]
pub mod testsuite;
mod values;

pub use context::WastContext;
pub use report::{DirectiveFailure, WastSummary};
pub use spectest::SpectestOutput;
