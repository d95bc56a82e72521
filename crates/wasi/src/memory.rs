//! Bounds-checked access to the guest's linear memory.
//!
//! Invariant: every guest pointer the WASI layer touches goes through
//! [`GuestMemory`], which checks `ptr + len` against the memory's current
//! size (with overflow treated as out of bounds) and answers `Errno::Fault`
//! otherwise. Nothing here indexes a slice unchecked, so a bad pointer can
//! never panic the host. Pointers are 32-bit, as preview1 is defined for
//! 32-bit memories only; integers are little-endian and need no alignment.

use crate::abi::IOVEC_SIZE;
use crate::errno::{Errno, WasiResult};

/// The memory of the instance that called a WASI function.
pub struct GuestMemory<'a> {
    bytes: &'a mut [u8],
}

/// A guest `iovec`/`ciovec` array that [`GuestMemory::iovecs`] checked:
/// the array and every buffer it names lie inside memory, and the buffers'
/// lengths add up to at most `u32::MAX`. Only the array's place is kept,
/// so a guest cannot make the host allocate in proportion to its count.
#[derive(Debug, Clone, Copy)]
pub struct IoVecs {
    ptr: u32,
    count: u32,
    total: u32,
}

impl IoVecs {
    /// The sum of the buffers' lengths.
    pub fn total(&self) -> u32 {
        self.total
    }
}

fn range(ptr: u32, len: u32) -> WasiResult<std::ops::Range<usize>> {
    let start = ptr as usize;
    let end = start.checked_add(len as usize).ok_or(Errno::Fault)?;
    Ok(start..end)
}

impl<'a> GuestMemory<'a> {
    pub fn new(bytes: &'a mut [u8]) -> GuestMemory<'a> {
        GuestMemory { bytes }
    }

    /// The `len` bytes at `ptr`.
    pub fn slice(&self, ptr: u32, len: u32) -> WasiResult<&[u8]> {
        self.bytes.get(range(ptr, len)?).ok_or(Errno::Fault)
    }

    /// The `len` bytes at `ptr`, writable.
    pub fn slice_mut(&mut self, ptr: u32, len: u32) -> WasiResult<&mut [u8]> {
        self.bytes.get_mut(range(ptr, len)?).ok_or(Errno::Fault)
    }

    fn array<const N: usize>(&self, ptr: u32) -> WasiResult<[u8; N]> {
        let bytes = self.slice(ptr, N as u32)?;
        Ok(bytes.try_into().expect("slice has the requested length"))
    }

    pub fn read_u8(&self, ptr: u32) -> WasiResult<u8> {
        Ok(self.array::<1>(ptr)?[0])
    }

    pub fn read_u16(&self, ptr: u32) -> WasiResult<u16> {
        Ok(u16::from_le_bytes(self.array(ptr)?))
    }

    pub fn read_u32(&self, ptr: u32) -> WasiResult<u32> {
        Ok(u32::from_le_bytes(self.array(ptr)?))
    }

    pub fn read_u64(&self, ptr: u32) -> WasiResult<u64> {
        Ok(u64::from_le_bytes(self.array(ptr)?))
    }

    pub fn write_bytes(&mut self, ptr: u32, bytes: &[u8]) -> WasiResult<()> {
        let len = u32::try_from(bytes.len()).map_err(|_| Errno::Fault)?;
        self.slice_mut(ptr, len)?.copy_from_slice(bytes);
        Ok(())
    }

    pub fn write_u8(&mut self, ptr: u32, v: u8) -> WasiResult<()> {
        self.write_bytes(ptr, &[v])
    }

    pub fn write_u32(&mut self, ptr: u32, v: u32) -> WasiResult<()> {
        self.write_bytes(ptr, &v.to_le_bytes())
    }

    pub fn write_u64(&mut self, ptr: u32, v: u64) -> WasiResult<()> {
        self.write_bytes(ptr, &v.to_le_bytes())
    }

    /// `(ptr, len)` of iovec `i` of the array at `array`.
    fn iovec(&self, array: u32, i: u32) -> WasiResult<(u32, u32)> {
        let at = i
            .checked_mul(IOVEC_SIZE)
            .and_then(|off| array.checked_add(off))
            .ok_or(Errno::Fault)?;
        Ok((
            self.read_u32(at)?,
            self.read_u32(at.checked_add(4).ok_or(Errno::Fault)?)?,
        ))
    }

    /// Checks the array of `count` iovecs at `ptr` and every buffer in it,
    /// so an operation never fails halfway through its buffers. A total
    /// length over `u32::MAX` (iovecs may overlap, so the memory's size does
    /// not bound it) is `EINVAL`, as for `readv`/`writev` when the sum
    /// overflows.
    pub fn iovecs(&self, ptr: u32, count: u32) -> WasiResult<IoVecs> {
        self.slice(ptr, count.checked_mul(IOVEC_SIZE).ok_or(Errno::Fault)?)?;
        let mut total: Option<u32> = Some(0);
        for i in 0..count {
            let (buf, len) = self.iovec(ptr, i)?;
            self.slice(buf, len)?;
            total = total.and_then(|t| t.checked_add(len));
        }
        let total = total.ok_or(Errno::Inval)?;
        Ok(IoVecs { ptr, count, total })
    }

    /// The buffers of `iovs`, in order, for a gathering write. `iovecs`
    /// checked them, but Wasm on another thread may rewrite a shared
    /// memory's iovecs since: a buffer that no longer lies in memory is
    /// empty (a short write), never a panic.
    pub fn buffers(&self, iovs: IoVecs) -> impl Iterator<Item = &[u8]> {
        (0..iovs.count).map(move |i| self.iovec(iovs.ptr, i).and_then(|(buf, len)| self.slice(buf, len)).unwrap_or(&[]))
    }

    /// The first non-empty buffer of `iovs` (or an empty one), for a read.
    /// Reads fill one buffer at a time: iovecs may overlap, so they cannot
    /// all be borrowed mutably at once, and a short read is always allowed.
    pub fn first_buffer(&mut self, iovs: IoVecs) -> WasiResult<&mut [u8]> {
        for i in 0..iovs.count {
            let (buf, len) = self.iovec(iovs.ptr, i)?;
            if len > 0 {
                return self.slice_mut(buf, len);
            }
        }
        Ok(&mut [])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_bounds_is_fault() {
        let mut bytes = vec![0u8; 16];
        let mut mem = GuestMemory::new(&mut bytes);
        assert_eq!(mem.read_u32(12), Ok(0));
        assert_eq!(mem.read_u32(13), Err(Errno::Fault));
        assert_eq!(mem.read_u64(u32::MAX), Err(Errno::Fault));
        assert_eq!(mem.slice(u32::MAX, u32::MAX).err(), Some(Errno::Fault));
        assert_eq!(mem.write_u32(14, 1), Err(Errno::Fault));
        assert_eq!(mem.slice(16, 0).map(<[u8]>::len), Ok(0));
    }

    #[test]
    fn iovecs_check_their_buffers() {
        let mut bytes = vec![0u8; 64];
        bytes[0..8].copy_from_slice(&[32, 0, 0, 0, 8, 0, 0, 0]);
        bytes[8..16].copy_from_slice(&[60, 0, 0, 0, 8, 0, 0, 0]);
        bytes[16..24].copy_from_slice(&[0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]);
        bytes[24..32].copy_from_slice(&[0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]);
        let mut mem = GuestMemory::new(&mut bytes);
        let one = mem.iovecs(0, 1).unwrap();
        assert_eq!(one.total(), 8);
        assert_eq!(mem.buffers(one).map(<[u8]>::len).collect::<Vec<_>>(), [8]);
        assert_eq!(mem.first_buffer(one).unwrap().len(), 8);
        assert_eq!(mem.iovecs(0, 2).err(), Some(Errno::Fault));
        assert_eq!(mem.iovecs(0, u32::MAX).err(), Some(Errno::Fault));
        assert_eq!(mem.iovecs(16, 1).err(), Some(Errno::Fault));
    }

    /// Overlapping iovecs can add up to more than memory holds; past
    /// `u32::MAX` that is `EINVAL`.
    #[test]
    fn overlapping_iovecs_summing_past_u32_are_einval() {
        // 4400 iovecs naming the same 960 KiB buffer: about 4.3e9 bytes.
        let mut bytes = vec![0u8; 1 << 20];
        let (count, buf, len) = (4400u32, 1u32 << 16, (1u32 << 20) - (1 << 16));
        for i in 0..count as usize {
            bytes[i * 8..i * 8 + 4].copy_from_slice(&buf.to_le_bytes());
            bytes[i * 8 + 4..i * 8 + 8].copy_from_slice(&len.to_le_bytes());
        }
        let mem = GuestMemory::new(&mut bytes);
        assert_eq!(mem.iovecs(0, count).err(), Some(Errno::Inval));
        assert_eq!(mem.iovecs(0, 4).unwrap().total(), 4 * len);
    }
}
