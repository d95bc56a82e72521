//! The bookkeeping of a GC heap's prefaulted pages
//! (`HeapMemory::prefault`): which stretches of `PREFAULT_STRETCH` bytes
//! are backed whole, and the system call that backs them.
//!
//! Backing pages (`MADV_POPULATE_WRITE`) faults them in as a write would,
//! without writing: no byte changes, so the bookkeeping can only be wrong
//! about what is resident, which costs page faults, never contents. A bit
//! is cleared wherever pages may have been given back.

use std::ops::Range;

/// Which stretches of `PREFAULT_STRETCH` bytes of a heap were prefaulted
/// whole: one bit each, so that asking again for resident pages costs no
/// system call.
#[derive(Debug, Default)]
pub struct Prefaulted {
    bits: Vec<u64>,
    /// The system cannot prefault: do not ask again.
    pub unsupported: bool,
}

/// Backs `[ptr, ptr + len)` with written-to pages; false with `errno` set
/// if the system could not.
///
/// # Safety
/// The range must be page-aligned accessible memory the caller owns.
#[cfg(target_os = "linux")]
pub unsafe fn populate_write(ptr: *mut u8, len: usize) -> bool {
    // SAFETY: per the contract; populating changes no byte.
    unsafe { libc::madvise(ptr.cast(), len, libc::MADV_POPULATE_WRITE) == 0 }
}

#[cfg(not(target_os = "linux"))]
pub unsafe fn populate_write(_: *mut u8, _: usize) -> bool {
    false
}

/// The granule of prefault bookkeeping.
pub const PREFAULT_STRETCH: usize = 256 << 10;

impl Prefaulted {
    fn is_set(&self, i: usize) -> bool {
        self.bits.get(i / 64).is_some_and(|w| w & (1 << (i % 64)) != 0)
    }

    /// The stretch-aligned runs covering `range` that are not prefaulted,
    /// the last clipped to `range.end` (a page multiple).
    pub fn missing(&self, range: Range<usize>) -> Vec<Range<usize>> {
        let mut runs: Vec<Range<usize>> = Vec::new();
        let first = range.start / PREFAULT_STRETCH;
        for i in first..range.end.div_ceil(PREFAULT_STRETCH) {
            if self.is_set(i) {
                continue;
            }
            let (start, end) = (i * PREFAULT_STRETCH, ((i + 1) * PREFAULT_STRETCH).min(range.end));
            match runs.last_mut() {
                Some(run) if run.end == start => run.end = end,
                _ => runs.push(start..end),
            }
        }
        runs
    }

    /// Where the run of prefaulted stretches from the one holding `at`
    /// ends (`at` itself if that one is not).
    pub fn backed_from(&self, at: usize) -> usize {
        let mut i = at / PREFAULT_STRETCH;
        // A word of bits at a time: a heap of 512 MiB is 32 words.
        while let Some(word) = self.bits.get(i / 64) {
            let run = (word >> (i % 64)).trailing_ones() as usize;
            i += run;
            if run == 0 || !i.is_multiple_of(64) {
                break;
            }
        }
        (i * PREFAULT_STRETCH).max(at)
    }

    /// Records the whole stretches of `range` as prefaulted.
    pub fn insert(&mut self, range: Range<usize>) {
        for i in range.start.div_ceil(PREFAULT_STRETCH)..range.end / PREFAULT_STRETCH {
            if self.bits.len() <= i / 64 {
                self.bits.resize(i / 64 + 1, 0);
            }
            self.bits[i / 64] |= 1 << (i % 64);
        }
    }

    /// Forgets every stretch `range` touches: its pages may be gone.
    pub fn remove(&mut self, range: Range<usize>) {
        for i in range.start / PREFAULT_STRETCH..range.end.div_ceil(PREFAULT_STRETCH) {
            if let Some(w) = self.bits.get_mut(i / 64) {
                *w &= !(1 << (i % 64));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bookkeeping of prefaulted stretches: only whole stretches are
    /// recorded, asking again for them finds nothing missing, and a
    /// discard forgets every stretch it touches.
    #[test]
    fn prefaulted_stretches_are_remembered_until_discarded() {
        let s = PREFAULT_STRETCH;
        let mut p = Prefaulted::default();
        assert_eq!(p.missing(s / 2..3 * s), vec![0..3 * s]);
        p.insert(s / 2..3 * s);
        assert_eq!(p.missing(0..4 * s), vec![0..s, 3 * s..4 * s]);
        p.insert(0..s);
        p.insert(3 * s..3 * s + 4096);
        assert_eq!(p.missing(0..3 * s + 4096), vec![3 * s..3 * s + 4096]);
        p.remove(2 * s - 1..2 * s + 1);
        assert_eq!(p.missing(0..3 * s), vec![s..3 * s]);
        assert_eq!(p.missing(200 * s..200 * s + 8192), vec![200 * s..200 * s + 8192]);
        assert_eq!((p.backed_from(0), p.backed_from(s + 8), p.backed_from(3 * s + 8)), (s, s + 8, 3 * s + 8));
        p.insert(s..3 * s);
        assert_eq!((p.backed_from(0), p.backed_from(2 * s + 8)), (3 * s, 3 * s));
        p.insert(0..130 * s);
        assert_eq!((p.backed_from(0), p.backed_from(64 * s), p.backed_from(100 * s)), (130 * s, 130 * s, 130 * s));
    }
}
