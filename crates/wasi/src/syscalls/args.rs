//! `args_*` and `environ_*`: argv and the environment, as NUL-terminated
//! strings packed into one guest buffer plus an array of pointers into it.

use crate::ctx::WasiCtx;
use crate::errno::{Errno, WasiResult};
use crate::memory::GuestMemory;

/// The sizes the guest must allocate: (count, total bytes with NULs).
fn sizes(strings: &[Vec<u8>]) -> WasiResult<(u32, u32)> {
    let count = u32::try_from(strings.len()).map_err(|_| Errno::Overflow)?;
    let bytes: usize = strings.iter().map(|s| s.len() + 1).sum();
    Ok((count, u32::try_from(bytes).map_err(|_| Errno::Overflow)?))
}

/// Writes the strings to `buf` and a pointer to each into the array at
/// `ptrs`.
fn write_strings(
    mem: &mut GuestMemory<'_>,
    strings: &[Vec<u8>],
    ptrs: u32,
    buf: u32,
) -> WasiResult<()> {
    let mut at = buf;
    for (i, s) in strings.iter().enumerate() {
        let slot = (i as u32)
            .checked_mul(4)
            .and_then(|off| ptrs.checked_add(off))
            .ok_or(Errno::Fault)?;
        mem.write_u32(slot, at)?;
        mem.write_bytes(at, s)?;
        let nul = at.checked_add(s.len() as u32).ok_or(Errno::Fault)?;
        mem.write_u8(nul, 0)?;
        at = nul.checked_add(1).ok_or(Errno::Fault)?;
    }
    Ok(())
}

impl WasiCtx {
    pub(crate) fn args_sizes_get(
        &self,
        mem: &mut GuestMemory<'_>,
        argc: u32,
        buf_size: u32,
    ) -> WasiResult<()> {
        let (count, bytes) = sizes(&self.args)?;
        mem.write_u32(argc, count)?;
        mem.write_u32(buf_size, bytes)
    }

    pub(crate) fn args_get(
        &self,
        mem: &mut GuestMemory<'_>,
        argv: u32,
        buf: u32,
    ) -> WasiResult<()> {
        write_strings(mem, &self.args, argv, buf)
    }

    pub(crate) fn environ_sizes_get(
        &self,
        mem: &mut GuestMemory<'_>,
        count: u32,
        buf_size: u32,
    ) -> WasiResult<()> {
        let (n, bytes) = sizes(&self.env)?;
        mem.write_u32(count, n)?;
        mem.write_u32(buf_size, bytes)
    }

    pub(crate) fn environ_get(
        &self,
        mem: &mut GuestMemory<'_>,
        environ: u32,
        buf: u32,
    ) -> WasiResult<()> {
        write_strings(mem, &self.env, environ, buf)
    }
}
