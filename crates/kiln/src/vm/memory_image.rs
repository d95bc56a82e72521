//! Copy-on-write images of a module's initial memory contents.
//!
//! A defined memory whose active data segments all have constant offsets
//! and fit in its minimum size gets an image: its initial bytes laid out
//! once, per module, in a memfd. Instantiation maps the image privately
//! over the memory's first pages instead of copying the segments, so the
//! kernel shares the pages between instances until one writes.
//!
//! The image is mapped where the spec applies data segments (after the
//! element segments), so a failed element segment leaves the memory as
//! empty as it would be without images. Memories without an image (a
//! segment offset read from a global, a segment out of bounds, no memfd)
//! are initialised by copying, as before.

use super::mmap::page_size;
use anyhow::{Result, bail};
use kiln_environ::{ConstOp, ModuleInfo, SegmentMode};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::FileExt;

pub struct MemoryImage {
    /// Unique in the process: pool slots remember which image they hold.
    id: u64,
    fd: OwnedFd,
    /// Bytes mapped: the segments' extent, rounded up to whole pages.
    len: usize,
}

impl MemoryImage {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn id(&self) -> u64 {
        self.id
    }

    /// Maps the image over `[base, base + len)`, privately: writes go to
    /// the mapping's own copies of the pages.
    ///
    /// # Safety
    /// The range must be an accessible, page-aligned prefix of a memory the
    /// caller owns, holding nothing yet, with no references into it.
    pub unsafe fn map_at(&self, base: *mut u8) -> Result<()> {
        // SAFETY: per the contract; MAP_FIXED replaces exactly that range.
        let mapped = unsafe {
            libc::mmap(base.cast(), self.len, libc::PROT_READ | libc::PROT_WRITE, libc::MAP_PRIVATE | libc::MAP_FIXED, self.fd.as_raw_fd(), 0)
        };
        if mapped == libc::MAP_FAILED {
            bail!("mapping a memory image: {}", std::io::Error::last_os_error());
        }
        Ok(())
    }
}

/// The image of each memory `info` defines (by defined index), where one
/// applies; see the module docs.
pub fn memory_images(info: &ModuleInfo, wasm: &[u8]) -> Vec<Option<MemoryImage>> {
    let imported = info.num_imported_memories as usize;
    (imported..info.memories.len()).map(|index| image_of(info, wasm, index as u32).unwrap_or(None)).collect()
}

fn image_of(info: &ModuleInfo, wasm: &[u8], memory: u32) -> Result<Option<MemoryImage>> {
    let ty = &info.memories[memory as usize];
    let Some(initial) = ty.minimum.checked_mul(1 << ty.page_size_log2) else { return Ok(None) };
    let mut pieces = Vec::new();
    for seg in &info.data {
        let SegmentMode::Active { index, offset } = &seg.mode else { continue };
        if *index != memory {
            continue;
        }
        let start = match offset.ops.as_ref() {
            [ConstOp::I32Const(v)] => u64::from(*v as u32),
            [ConstOp::I64Const(v)] => *v as u64,
            _ => return Ok(None),
        };
        let end = start.checked_add(seg.bytes.len() as u64).filter(|end| *end <= initial);
        let Some(end) = end else { return Ok(None) };
        pieces.push((start as usize, end as usize, seg.bytes.clone()));
    }
    let Some(extent) = pieces.iter().map(|(_, end, _)| *end).max().filter(|e| *e > 0) else { return Ok(None) };
    let len = extent.next_multiple_of(page_size());
    if len as u64 > initial {
        return Ok(None);
    }
    let mut bytes = vec![0u8; len];
    for (start, end, range) in pieces {
        bytes[start..end].copy_from_slice(&wasm[range]);
    }
    // SAFETY: memfd_create takes a NUL-terminated name and flags.
    let fd = unsafe { libc::memfd_create(c"kiln-memory-image".as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Ok(None);
    }
    // SAFETY: a new descriptor that nothing else owns.
    let file = std::fs::File::from(unsafe { OwnedFd::from_raw_fd(fd) });
    file.set_len(len as u64)?;
    file.write_all_at(&bytes, 0)?;
    static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let id = NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    Ok(Some(MemoryImage { id, fd: file.into(), len }))
}
