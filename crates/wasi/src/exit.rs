//! `I32Exit`: how `proc_exit` ends a run.
//!
//! `proc_exit` does not return to the guest. It raises this value as a host
//! error; Kiln unwinds every Wasm frame and hands it back to the embedder
//! as the root cause of the `anyhow::Error` the call returned, so
//! `err.downcast_ref::<I32Exit>()` recovers the exit code. `kiln run` turns
//! it into the process's exit status, as `wasmtime run` does.

use std::fmt;

/// The guest called `proc_exit` with this code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct I32Exit(pub i32);

impl I32Exit {
    /// The status a Unix process exiting with this code reports: the low
    /// eight bits, as `exit(3)` would keep them.
    pub fn process_status(&self) -> u8 {
        self.0 as u8
    }
}

impl fmt::Display for I32Exit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "exited with i32 exit status {}", self.0)
    }
}

impl std::error::Error for I32Exit {}
