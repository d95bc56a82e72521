//! The memory a GC heap lives in, and the one bounds-checked way to read and
//! write it.
//!
//! A heap does not own a `Vec` directly: it owns a [`HeapMemory`], so the
//! runtime can hand it an mmap-backed region (with a guard reservation for
//! compiled code) while tests use a plain [`VecMemory`].
//!
//! Every access to heap bytes in this crate goes through [`read_u32`],
//! [`write_u32`], [`slice`] and [`slice_mut`]: they take 64-bit offsets (so
//! adding untrusted u32s cannot overflow) and return `Err` for anything
//! outside the memory, never panic. Values are little-endian.

use crate::{GcError, Result};

/// The largest heap: references are u32 offsets.
pub const MAX_HEAP_SIZE: u64 = 1 << 32;

/// A growable byte region holding a GC heap.
pub trait HeapMemory: Send {
    fn bytes(&self) -> &[u8];
    fn bytes_mut(&mut self) -> &mut [u8];
    /// Grows to `new_len` bytes, the new bytes zeroed. Never shrinks; fails
    /// with [`GcError::HeapLimit`] beyond [`HeapMemory::capacity`].
    fn grow(&mut self, new_len: usize) -> Result<()>;

    /// Zeroes every byte, for a new tenant (a memory may return its pages
    /// to the system instead: they read as zeros when touched again).
    fn clear(&mut self) {
        self.bytes_mut().fill(0);
    }
    /// Zeroes the bytes of `range` (clipped to the length), giving their
    /// whole pages back to the system where it can (they read as zeros
    /// when touched again): a heap that shrank, or freed a large object,
    /// no longer uses them. The length stays.
    fn discard(&mut self, range: std::ops::Range<usize>) {
        let len = self.len();
        if let Some(bytes) = self.bytes_mut().get_mut(range.start.min(len)..range.end.min(len)) {
            bytes.fill(0);
        }
    }

    /// The largest length `grow` can reach.
    fn capacity(&self) -> usize;

    /// A hint that `range` (clipped to the length) is about to be written:
    /// a memory whose pages are backed on first touch may back them now,
    /// in one go, which costs less than a fault per page. Contents do
    /// not change. Returns where the pages known to be backed from
    /// `range.start` on end, which may be past `range.end`; `usize::MAX`
    /// from a memory that does not back pages ahead (the default).
    fn prefault(&self, range: std::ops::Range<usize>) -> usize {
        let _ = range;
        usize::MAX
    }

    /// A new zeroed region of `len` bytes beside this memory, for a
    /// collector's side table that compiled code writes (the generational
    /// collector's card table): at an address fixed for its life, its
    /// pages backed only once written. `None` where this memory cannot
    /// make one (the collector then allocates its own, zeroed by the
    /// allocator, which may write every page of a recycled block).
    fn side_table(&self, len: usize) -> Option<Box<dyn HeapMemory>> {
        let _ = len;
        None
    }

    fn len(&self) -> usize {
        self.bytes().len()
    }

    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Heap memory in a `Vec<u8>`.
#[derive(Debug, Clone)]
pub struct VecMemory {
    bytes: Vec<u8>,
    capacity: usize,
}

impl VecMemory {
    /// `len` zeroed bytes, growable up to `capacity` (at least `len`).
    pub fn new(len: usize, capacity: usize) -> VecMemory {
        VecMemory { bytes: vec![0; len], capacity: capacity.max(len) }
    }
}

impl HeapMemory for VecMemory {
    fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    fn bytes_mut(&mut self) -> &mut [u8] {
        &mut self.bytes
    }

    fn grow(&mut self, new_len: usize) -> Result<()> {
        if new_len > self.capacity {
            return Err(GcError::HeapLimit { requested: new_len as u64, limit: self.capacity as u64 });
        }
        if new_len > self.bytes.len() {
            let additional = new_len - self.bytes.len();
            // Running the host out of memory must be an error, not an abort.
            self.bytes.try_reserve_exact(additional).map_err(|_| GcError::OutOfMemory { requested: additional as u64 })?;
            self.bytes.resize(new_len, 0);
        }
        Ok(())
    }

    fn capacity(&self) -> usize {
        self.capacity
    }
}

#[inline]
fn range(mem_len: usize, offset: u64, len: u64) -> Option<std::ops::Range<usize>> {
    let end = offset.checked_add(len)?;
    if end > mem_len as u64 {
        return None;
    }
    Some(offset as usize..end as usize)
}

/// `len` bytes at `offset`.
#[inline]
pub(crate) fn slice(mem: &[u8], offset: u64, len: u64) -> Result<&[u8]> {
    let r = range(mem.len(), offset, len).ok_or_else(|| GcError::corrupt("read outside the heap", offset))?;
    Ok(&mem[r])
}

#[inline]
pub(crate) fn slice_mut(mem: &mut [u8], offset: u64, len: u64) -> Result<&mut [u8]> {
    let r = range(mem.len(), offset, len).ok_or_else(|| GcError::corrupt("write outside the heap", offset))?;
    Ok(&mut mem[r])
}

#[inline]
pub(crate) fn read_u32(mem: &[u8], offset: u64) -> Result<u32> {
    let b = slice(mem, offset, 4)?;
    Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

#[inline]
pub(crate) fn write_u32(mem: &mut [u8], offset: u64, value: u32) -> Result<()> {
    slice_mut(mem, offset, 4)?.copy_from_slice(&value.to_le_bytes());
    Ok(())
}

/// Copies `len` bytes from `src` to `dst` (the ranges may overlap).
pub(crate) fn copy_within(mem: &mut [u8], src: u64, dst: u64, len: u64) -> Result<()> {
    let from = range(mem.len(), src, len).ok_or_else(|| GcError::corrupt("read outside the heap", src))?;
    let to = range(mem.len(), dst, len).ok_or_else(|| GcError::corrupt("write outside the heap", dst))?;
    mem.copy_within(from, to.start);
    Ok(())
}

/// Copies an object of `len` bytes (a multiple of 8) from `src` to `dst`,
/// which do not overlap: small objects (most of them) by a fixed-size copy
/// per size, which is faster than a call to `memmove` for a few words.
#[inline(always)]
pub(crate) fn copy_object(mem: &mut [u8], src: u64, dst: u64, len: u64) -> Result<()> {
    const SMALL: u64 = 64;
    if len > SMALL || len % 8 != 0 {
        return copy_within(mem, src, dst, len);
    }
    let from = range(mem.len(), src, len).ok_or_else(|| GcError::corrupt("read outside the heap", src))?;
    let to = range(mem.len(), dst, len).ok_or_else(|| GcError::corrupt("write outside the heap", dst))?;
    // A copy of a size known at compile time is a few register moves,
    // not a `memcpy` call sized at run time: most objects are a few words.
    #[inline(always)]
    fn fixed<const N: usize>(mem: &mut [u8], from: usize, to: usize) {
        let bytes: [u8; N] = mem[from..from + N].try_into().expect("N bytes");
        mem[to..to + N].copy_from_slice(&bytes);
    }
    let (from, to) = (from.start, to.start);
    match len {
        8 => fixed::<8>(mem, from, to),
        16 => fixed::<16>(mem, from, to),
        24 => fixed::<24>(mem, from, to),
        32 => fixed::<32>(mem, from, to),
        40 => fixed::<40>(mem, from, to),
        48 => fixed::<48>(mem, from, to),
        56 => fixed::<56>(mem, from, to),
        64 => fixed::<64>(mem, from, to),
        // Only 0 is left: nothing to copy.
        _ => {}
    }
    Ok(())
}

/// The part of a memory of `len` bytes that can hold objects: whole 8-byte
/// granules below [`MAX_HEAP_SIZE`].
pub(crate) fn usable_end(len: usize) -> u64 {
    (len as u64).min(MAX_HEAP_SIZE) & !7
}

/// Grows a heap whose usable part ends at `end` by `additional` bytes,
/// growing `memory` where it is shorter (after a shrink, the memory past
/// `end` is already there, zeroed); returns the new usable end.
pub(crate) fn grow_memory(memory: &mut dyn HeapMemory, end: u64, additional: u64) -> Result<u64> {
    let requested = end.saturating_add(additional);
    if requested > MAX_HEAP_SIZE {
        return Err(GcError::HeapLimit { requested, limit: MAX_HEAP_SIZE });
    }
    if requested > memory.len() as u64 {
        memory.grow(requested as usize)?;
    }
    Ok(usable_end(requested as usize))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_object_copies_exactly_the_object_at_every_size() {
        for len in (0..=96).step_by(8) {
            let mut mem: Vec<u8> = (0..256).map(|i| i as u8).collect();
            let before = mem.clone();
            copy_object(&mut mem, 8, 128, len).unwrap();
            assert_eq!(mem[128..128 + len as usize], before[8..8 + len as usize], "{len} bytes copied");
            assert_eq!(mem[..128], before[..128], "{len}: nothing else changes");
            assert_eq!(mem[128 + len as usize..], before[128 + len as usize..], "{len}: nothing else changes");
        }
        let mut mem = vec![0u8; 64];
        assert!(copy_object(&mut mem, 40, 0, 32).is_err(), "source past the end");
        assert!(copy_object(&mut mem, 0, 40, 32).is_err(), "destination past the end");
    }

    #[test]
    fn accessors_reject_out_of_range_offsets_without_panicking() {
        let mut mem = vec![0u8; 32];
        assert!(read_u32(&mem, 28).is_ok());
        assert!(read_u32(&mem, 29).is_err());
        assert!(read_u32(&mem, u64::MAX - 1).is_err());
        assert!(write_u32(&mut mem, 32, 1).is_err());
        assert!(slice(&mem, u64::MAX, 2).is_err());
        assert!(copy_within(&mut mem, 28, 0, 5).is_err());
        assert!(copy_within(&mut mem, 0, 28, 5).is_err());
        assert!(copy_within(&mut mem, u64::MAX, 0, 2).is_err());
        write_u32(&mut mem, 4, 0xdead_beef).unwrap();
        copy_within(&mut mem, 4, 16, 4).unwrap();
        assert_eq!(read_u32(&mem, 16).unwrap(), 0xdead_beef);
        assert_eq!(read_u32(&mem, 4).unwrap(), 0xdead_beef);
        assert_eq!(mem[4], 0xef, "little-endian");
    }

    #[test]
    fn vec_memory_grows_up_to_its_capacity() {
        let mut m = VecMemory::new(16, 64);
        m.grow(64).unwrap();
        assert_eq!(m.len(), 64);
        assert!(matches!(m.grow(65), Err(GcError::HeapLimit { .. })));
        m.grow(8).unwrap();
        assert_eq!(m.len(), 64, "never shrinks");
    }
}
