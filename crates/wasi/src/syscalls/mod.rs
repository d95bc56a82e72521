//! The bodies of the `wasi_snapshot_preview1` functions, as methods of
//! [`WasiCtx`](crate::WasiCtx) grouped by topic.
//!
//! Each takes the caller's memory and the raw arguments (guest pointers as
//! `u32`) and returns `WasiResult`: an errno for the guest, never a panic
//! and never a trap. Outputs are written to guest memory only once the
//! operation has succeeded, except where the ABI says otherwise.

pub(crate) mod args;
pub(crate) mod clock;
pub(crate) mod dir;
pub(crate) mod fd;
pub(crate) mod path;
pub(crate) mod poll;
pub(crate) mod sock;
