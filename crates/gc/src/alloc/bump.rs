//! Bump allocation: a cursor that only moves up, from the first object
//! offset to the end of the usable heap. Its state is side memory, so heap
//! contents cannot mislead it.

/// Allocates `[next, end)` in order.
#[derive(Debug, Clone)]
pub(crate) struct BumpAllocator {
    next: u64,
    end: u64,
}

impl BumpAllocator {
    pub(crate) fn new(start: u64, end: u64) -> BumpAllocator {
        BumpAllocator { next: start, end: end.max(start) }
    }

    /// The offset of a new block of `size` bytes (a multiple of 8), if it
    /// fits.
    pub(crate) fn alloc(&mut self, size: u32) -> Option<u32> {
        let end = self.next.checked_add(u64::from(size))?;
        if end > self.end {
            return None;
        }
        let offset = u32::try_from(self.next).ok()?;
        self.next = end;
        Some(offset)
    }

    /// Everything allocated so far ends here.
    pub(crate) fn top(&self) -> u64 {
        self.next
    }

    pub(crate) fn end(&self) -> u64 {
        self.end
    }

    /// Moves the cursor to `next`, which compiled code reached by
    /// allocating inline from this region; `None` (nothing changes) unless
    /// `next` lies between the cursor and the end and is 8-aligned.
    pub(crate) fn advance_to(&mut self, next: u64) -> Option<u64> {
        if next < self.next || next > self.end || next % 8 != 0 {
            return None;
        }
        let allocated = next - self.next;
        self.next = next;
        Some(allocated)
    }

    pub(crate) fn reset(&mut self, start: u64) {
        self.next = start;
        self.end = self.end.max(start);
    }

    /// Extends (never shrinks) the region the cursor may reach.
    pub(crate) fn set_end(&mut self, end: u64) {
        self.end = self.end.max(end);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bump_allocates_in_order_until_the_end() {
        let mut b = BumpAllocator::new(16, 64);
        assert_eq!(b.alloc(16), Some(16));
        assert_eq!(b.alloc(24), Some(32));
        assert_eq!(b.alloc(16), None);
        assert_eq!(b.alloc(8), Some(56));
        b.set_end(80);
        assert_eq!(b.alloc(16), Some(64));
        b.reset(16);
        assert_eq!(b.alloc(16), Some(16));
    }
}
