//! Clocks, randomness and scheduling: `clock_res_get`, `clock_time_get`,
//! `random_get`, `sched_yield`, `proc_raise`.
//!
//! Clocks are the host's (`clock_gettime`), in nanoseconds. The realtime
//! clock counts from the Unix epoch; the others from an unspecified start,
//! as in POSIX. Random bytes come from the OS generator (`getrandom`).

use crate::abi::clock;
use crate::ctx::WasiCtx;
use crate::errno::{Errno, WasiResult};
use crate::memory::GuestMemory;
use rustix::time::{ClockId, Timespec};

fn host_clock(id: u32) -> WasiResult<ClockId> {
    match id {
        clock::REALTIME => Ok(ClockId::Realtime),
        clock::MONOTONIC => Ok(ClockId::Monotonic),
        clock::PROCESS_CPUTIME => Ok(ClockId::ProcessCPUTime),
        clock::THREAD_CPUTIME => Ok(ClockId::ThreadCPUTime),
        _ => Err(Errno::Inval),
    }
}

fn nanos(t: Timespec) -> u64 {
    // Host clocks never report times before their start.
    u64::try_from(t.tv_sec)
        .unwrap_or(0)
        .saturating_mul(1_000_000_000)
        .saturating_add(u64::try_from(t.tv_nsec).unwrap_or(0))
}

/// The current time of WASI clock `id`, in nanoseconds.
pub(crate) fn now(id: u32) -> WasiResult<u64> {
    Ok(nanos(rustix::time::clock_gettime(host_clock(id)?)))
}

impl WasiCtx {
    pub(crate) fn clock_res_get(
        &self,
        mem: &mut GuestMemory<'_>,
        id: u32,
        out: u32,
    ) -> WasiResult<()> {
        let res = nanos(rustix::time::clock_getres(host_clock(id)?));
        // A resolution of 0 would tell the guest the clock never ticks.
        mem.write_u64(out, res.max(1))
    }

    /// `precision` is a hint the host may ignore; Kiln reads the clock at
    /// its full resolution.
    pub(crate) fn clock_time_get(
        &self,
        mem: &mut GuestMemory<'_>,
        id: u32,
        _precision: u64,
        out: u32,
    ) -> WasiResult<()> {
        mem.write_u64(out, now(id)?)
    }

    pub(crate) fn random_get(
        &self,
        mem: &mut GuestMemory<'_>,
        buf: u32,
        len: u32,
    ) -> WasiResult<()> {
        let dst = mem.slice_mut(buf, len)?;
        getrandom::fill(dst).map_err(|e| match e.raw_os_error() {
            Some(code) => rustix::io::Errno::from_raw_os_error(code).into(),
            None => Errno::Io,
        })
    }

    pub(crate) fn sched_yield(&self) -> WasiResult<()> {
        std::thread::yield_now();
        Ok(())
    }

    /// Signals have no meaning for a Wasm guest: there is no handler to run
    /// and Kiln will not deliver one to the host process. Preview1 has
    /// deprecated this function; wasi-libc never calls it.
    pub(crate) fn proc_raise(&self, _signal: u32) -> WasiResult<()> {
        Err(Errno::Nosys)
    }
}
