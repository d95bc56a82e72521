//! Anonymous memory mappings: reservations that are made accessible a part
//! at a time (linear memories) and code pages that are flipped from
//! writable to executable (never both at once).

use anyhow::{Result, bail};
use std::ptr::NonNull;

/// A page-aligned anonymous mapping, unmapped on drop.
#[derive(Debug)]
pub struct Mmap {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: the mapping is plain memory owned by this value; access to its
// contents is synchronised by whoever owns the `Mmap` (a store or a module).
unsafe impl Send for Mmap {}
// SAFETY: as above; `&Mmap` only exposes the address and length.
unsafe impl Sync for Mmap {}

pub fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    unsafe { libc::sysconf(libc::_SC_PAGESIZE) as usize }
}

impl Mmap {
    /// Reserves `len` bytes of address space with no access. Nothing is
    /// committed until [`Mmap::make_accessible`].
    pub fn reserve(len: usize) -> Result<Mmap> {
        let Some(len) = len.max(page_size()).checked_next_multiple_of(page_size()) else {
            bail!("failed to reserve {len} bytes of address space: more than the address space");
        };
        // SAFETY: an anonymous private mapping at an address of the
        // kernel's choosing cannot alias any existing Rust object.
        let ptr = unsafe {
            libc::mmap(std::ptr::null_mut(), len, libc::PROT_NONE, libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE, -1, 0)
        };
        if ptr == libc::MAP_FAILED {
            bail!("failed to reserve {len} bytes of address space: {}", std::io::Error::last_os_error());
        }
        Ok(Mmap { ptr: NonNull::new(ptr.cast()).expect("mmap never returns null on success"), len })
    }

    pub fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// Makes `[start, start + len)` readable and writable. It takes
    /// `&self`: no Rust reference can point into inaccessible pages, so
    /// opening them up invalidates none.
    pub fn make_accessible(&self, start: usize, len: usize) -> Result<()> {
        self.protect(start, len, libc::PROT_READ | libc::PROT_WRITE)
    }

    /// Makes `[start, start + len)` readable and executable (and no longer
    /// writable).
    pub fn make_executable(&mut self, start: usize, len: usize) -> Result<()> {
        self.protect(start, len, libc::PROT_READ | libc::PROT_EXEC)
    }

    fn protect(&self, start: usize, len: usize, prot: libc::c_int) -> Result<()> {
        if len == 0 {
            return Ok(());
        }
        assert!(start % page_size() == 0 && start + len <= self.len, "protect range outside the mapping");
        // SAFETY: the range lies inside this mapping (checked above), which
        // this value owns exclusively.
        let r = unsafe { libc::mprotect(self.ptr.as_ptr().add(start).cast(), len.next_multiple_of(page_size()), prot) };
        if r != 0 {
            bail!("mprotect failed: {}", std::io::Error::last_os_error());
        }
        Ok(())
    }
}

/// Replaces `[ptr, ptr + len)` with fresh, inaccessible anonymous pages:
/// the old contents (and any file mapped there) are gone and the memory
/// is returned to the system until made accessible again.
///
/// # Safety
/// The range must be page-aligned, inside a mapping the caller owns, and
/// unreferenced.
pub unsafe fn decommit(ptr: *mut u8, len: usize) -> Result<()> {
    if len == 0 {
        return Ok(());
    }
    // SAFETY: per the contract; MAP_FIXED replaces only that range.
    let fresh = unsafe {
        libc::mmap(ptr.cast(), len, libc::PROT_NONE, libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE | libc::MAP_FIXED, -1, 0)
    };
    if fresh == libc::MAP_FAILED {
        bail!("decommitting {len} bytes: {}", std::io::Error::last_os_error());
    }
    Ok(())
}

/// Gives the private pages of `[ptr, ptr + len)` back to the system,
/// keeping the range's protection: anonymous memory reads as zeros again,
/// a private file mapping reads the file again.
///
/// # Safety
/// As for [`decommit`].
pub unsafe fn discard(ptr: *mut u8, len: usize) -> Result<()> {
    if len == 0 {
        return Ok(());
    }
    // SAFETY: per the contract.
    if unsafe { libc::madvise(ptr.cast(), len, libc::MADV_DONTNEED) } != 0 {
        bail!("discarding {len} bytes: {}", std::io::Error::last_os_error());
    }
    Ok(())
}

impl Drop for Mmap {
    fn drop(&mut self) {
        // SAFETY: the mapping was created by `reserve` with this length and
        // nothing refers to it once its owner drops it.
        unsafe {
            libc::munmap(self.ptr.as_ptr().cast(), self.len);
        }
    }
}
