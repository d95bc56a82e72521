//! Supertype displays: for every engine type id, its depth in the subtype
//! hierarchy and its ancestors from the root down to itself, so compiled
//! code tests "is `actual` a subtype of `expected`" with a few loads and
//! compares (`expected` at depth `d` is a supertype of `actual` exactly
//! when `actual`'s display has an entry at `d` and it is `expected`).
//!
//! Layout, read by compiled code (`kiln_environ::vmoffsets::type_display`):
//! one array of `DISPLAY_CAPACITY + 1` pointers indexed by type id, each
//! to a record `[depth, a_0, ..., a_depth]` (u32s; `a_depth` is the type
//! itself), padded with `NO_TYPE` to at least `PADDED_DEPTH` ancestor
//! slots. Null means "no record": a type past the table's capacity, or an
//! id no type has (read from a corrupted header). Right after the pointers
//! comes the empty record (depth 0, nothing but `NO_TYPE`), which compiled
//! code reads in place of a null one. So a test needs no branch: clamp the
//! id to the capacity (the last entry is always null), load the pointer,
//! select the empty record for null, and for the shallow types most casts
//! name load the one slot that answers. The array is 32 MiB of zeroed
//! address space, which the system backs with memory only where records
//! are published (ids are handed out in order, so the first pages) and at
//! its end.
//!
//! Nothing here moves or is freed before the engine drops: the array and
//! the records are allocated once. A record is published (with release
//! ordering) before the type's id is handed out, and compiled code can only
//! meet an id after that.
//!
//! Every type with a declared supertype, and every non-final type, has a
//! record: the registry refuses such types past `CAPACITY`. Compiled code
//! tests against a final type without a supertype by comparing ids, and
//! against any other through the display, where an id without a record
//! (a final type, or a corrupted header) finds the empty record, a
//! subtype of nothing. No call: a call would be a safepoint and make
//! Cranelift keep the GC references around every cast in stack slots.

use kiln_environ::vmoffsets::type_display::{DISPLAY_CAPACITY, EMPTY_RECORD_OFFSET, NO_TYPE, PADDED_DEPTH, PADDED_RECORD_WORDS};
use std::sync::atomic::{AtomicPtr, Ordering};

pub(crate) struct TypeDisplays {
    table: Box<[AtomicPtr<u32>]>,
    /// Owners of what `table` points to.
    records: Vec<Box<[u32]>>,
}

impl Default for TypeDisplays {
    fn default() -> Self {
        // Zeroed memory, so untouched pages stay unbacked (a slice built
        // element by element would write all 32 MiB).
        let empty_entries = (PADDED_RECORD_WORDS as usize).div_ceil(2);
        let table = Box::<[AtomicPtr<u32>]>::new_zeroed_slice(DISPLAY_CAPACITY as usize + 1 + empty_entries);
        // SAFETY: an all-zero `AtomicPtr` is a valid null pointer.
        let table = unsafe { table.assume_init() };
        // The empty record's u32s, two to an entry (little-endian, as
        // compiled code reads them): depth 0, then `NO_TYPE`s.
        let first = EMPTY_RECORD_OFFSET as usize / 8;
        for (i, entry) in table[first..].iter().enumerate() {
            let word = |k: usize| if k == 0 { 0 } else { u64::from(NO_TYPE) };
            let bits = word(2 * i) | word(2 * i + 1) << 32;
            entry.store(std::ptr::without_provenance_mut(bits as usize), Ordering::Relaxed);
        }
        TypeDisplays { table, records: Vec::new() }
    }
}

impl TypeDisplays {
    /// Ids below this can have a record.
    pub const CAPACITY: u64 = DISPLAY_CAPACITY as u64;

    /// The table's address, for compiled code.
    pub fn top(&self) -> *const u8 {
        self.table.as_ptr().cast()
    }

    /// The display of `id`, if it has one.
    pub fn get(&self, id: u32) -> Option<&[u32]> {
        if u64::from(id) >= Self::CAPACITY {
            return None;
        }
        let record = self.table[id as usize].load(Ordering::Acquire);
        if record.is_null() {
            return None;
        }
        // SAFETY: a non-null record pointer points at one of
        // `self.records`, whose first word is its depth and which holds
        // `depth + 2` words or more.
        unsafe {
            let len = *record as usize + 2;
            Some(std::slice::from_raw_parts(record, len))
        }
    }

    /// Records the display of type `id`, whose declared supertype (if any)
    /// was recorded before it. Types past the table's capacity get none.
    pub fn record(&mut self, id: u32, supertype: Option<u32>) {
        if u64::from(id) >= Self::CAPACITY {
            return;
        }
        let slot = &self.table[id as usize];
        let mut display: Vec<u32> = match supertype.and_then(|s| self.get(s)) {
            Some(parent) => parent[1..].to_vec(),
            None => Vec::new(),
        };
        display.push(id);
        let depth = (display.len() - 1) as u32;
        let mut record = Vec::with_capacity(display.len().max(PADDED_DEPTH as usize) + 1);
        record.push(depth);
        record.extend(display);
        record.resize(record.len().max(PADDED_DEPTH as usize + 1), NO_TYPE);
        let mut record = record.into_boxed_slice();
        slot.store(record.as_mut_ptr(), Ordering::Release);
        self.records.push(record);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_list_ancestors_root_first() {
        let mut d = TypeDisplays::default();
        d.record(0, None);
        d.record(1, Some(0));
        d.record(5000, Some(1));
        assert_eq!(d.get(0), Some(&[0, 0][..]));
        assert_eq!(d.get(1), Some(&[1, 0, 1][..]));
        assert_eq!(d.get(5000), Some(&[2, 0, 1, 5000][..]));
        assert_eq!(d.get(2), None, "never recorded");
        assert_eq!(d.get(u32::MAX), None, "past the table");
        // Compiled code reads a shallow type's slot without a depth check:
        // past the depth it finds no type.
        // SAFETY: id 1 was recorded above, so its entry points at one of
        // `d.records`, padded to `PADDED_DEPTH + 1` words.
        let padded = unsafe { std::slice::from_raw_parts(d.table[1].load(Ordering::Acquire), PADDED_DEPTH as usize + 1) };
        assert_eq!(padded[..3], [1, 0, 1]);
        assert!(padded[3..].iter().all(|&a| a == NO_TYPE));
        // What compiled code reads for an id past the capacity (clamped
        // to the capacity, whose entry is null): the empty record.
        assert!(d.table[DISPLAY_CAPACITY as usize].load(Ordering::Acquire).is_null());
        let tail = &d.table[EMPTY_RECORD_OFFSET as usize / 8..];
        let bytes: Vec<u8> = tail.iter().flat_map(|e| (e.load(Ordering::Relaxed) as usize as u64).to_le_bytes()).collect();
        let empty: Vec<u32> = bytes[..4 * PADDED_RECORD_WORDS as usize]
            .chunks(4)
            .map(|w| u32::from_le_bytes(w.try_into().unwrap()))
            .collect();
        assert_eq!(empty[0], 0, "depth 0");
        assert!(empty[1..].iter().all(|&a| a == NO_TYPE), "a subtype of nothing");
    }
}
