//! The host ISA and the Cranelift settings Kiln compiles with.
//!
//! Each setting is chosen on purpose:
//! - `opt_level = speed`: Wasm is compiled once and run many times.
//! - `preserve_frame_pointers = true`: backtraces and (later) GC root
//!   scanning walk the frame-pointer chain, so every frame must have one.
//! - `enable_verifier`: on in debug builds (catches translator bugs early),
//!   off in release builds where it only costs compile time.
//! - `enable_probestack = false`: every function checks the store's stack
//!   limit in its prologue (`ir::Function::stack_limit`), which already
//!   accounts for the whole frame, so probing pages is redundant.
//! - `enable_multi_ret_implicit_sret = true`: multi-value functions may
//!   return more values than there are return registers.
//! - `unwind_info = false`: Kiln unwinds by frame pointers, never by DWARF.
//! - Spectre mitigations for heap/table accesses are off because Kiln does
//!   not emit Cranelift's `heap_addr`/`table_addr`; its own explicit bounds
//!   checks trap rather than clamp.

use cranelift_codegen::isa::OwnedTargetIsa;
use cranelift_codegen::settings::{self, Configurable};

/// Optimisation level, as exposed by `kiln::Config`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OptLevel {
    None,
    Speed,
    /// Like `Speed`, also choosing smaller code where it costs little speed.
    SpeedAndSize,
}

/// Builds the ISA for the machine Kiln runs on.
pub fn host_isa(opt: OptLevel) -> Result<OwnedTargetIsa, String> {
    let mut flags = settings::builder();
    let set = |f: &mut settings::Builder, k: &str, v: &str| f.set(k, v).map_err(|e| format!("cranelift setting {k}={v}: {e}"));
    set(&mut flags, "opt_level", match opt {
        OptLevel::None => "none",
        OptLevel::Speed => "speed",
        OptLevel::SpeedAndSize => "speed_and_size",
    })?;
    set(&mut flags, "preserve_frame_pointers", "true")?;
    set(&mut flags, "enable_verifier", if cfg!(debug_assertions) { "true" } else { "false" })?;
    set(&mut flags, "enable_probestack", "false")?;
    set(&mut flags, "enable_multi_ret_implicit_sret", "true")?;
    set(&mut flags, "unwind_info", "false")?;
    set(&mut flags, "enable_heap_access_spectre_mitigation", "false")?;
    set(&mut flags, "enable_table_access_spectre_mitigation", "false")?;
    let builder = cranelift_native::builder().map_err(|e| format!("unsupported host: {e}"))?;
    builder.finish(settings::Flags::new(flags)).map_err(|e| format!("building the host ISA: {e}"))
}
