//! Supertype displays: for every engine type id, its depth in the subtype
//! hierarchy and its ancestors from the root down to itself, so compiled
//! code tests "is `actual` a subtype of `expected`" with a few loads and
//! compares (`expected` at depth `d` is a supertype of `actual` exactly
//! when `actual`'s display has an entry at `d` and it is `expected`).
//!
//! Layout, read by compiled code (`kiln_environ::vmoffsets::type_display`):
//! an array of fixed-size entries indexed by type id. An entry holds the
//! first `INLINE_DEPTH` ancestors themselves (zero past the type's depth:
//! no type has id 0), then a pointer to the whole record `[depth, a_0,
//! ..., a_depth]` (u32s; `a_depth` is the type itself), null where no type
//! was recorded. So a test against the shallow types most casts name is:
//! mask the id from the object's header (only a corrupted header holds one
//! past the capacity, and could as well hold the id it wraps to), compare
//! the one slot that answers with the expected id. No branch, and no load
//! of a record's address for the slot's load to wait on. A test against a
//! deeper type follows the pointer (reading entry 0, never written, as a
//! depth-0 record in place of a null one) and compares depths before the
//! ancestor. What is not an object reads as id 0, whose entry is empty, so
//! such a test fails with no separate check for an object.
//!
//! The array is 128 MiB of zeroed address space, which the system backs
//! with memory only where entries are written (ids are handed out in
//! order, so the first pages).
//!
//! Nothing here moves or is freed before the engine drops: the array and
//! the records are allocated once. An entry is written (the pointer with
//! release ordering, last) before the type's id is handed out, and
//! compiled code can only meet an id after that.

use kiln_environ::vmoffsets::type_display::{DISPLAY_CAPACITY, ENTRY_SIZE, INLINE_DEPTH, NO_TYPE, RECORD_OFFSET};
use std::sync::atomic::{AtomicPtr, AtomicU32, Ordering};

/// One entry of the table; `kiln_environ`'s offsets describe it to
/// compiled code.
#[repr(C)]
struct DisplayEntry {
    /// The type's ancestors `a_0..` up to `INLINE_DEPTH`; `NO_TYPE` past
    /// its depth.
    inline: [AtomicU32; INLINE_DEPTH as usize],
    /// The whole record, or null.
    record: AtomicPtr<u32>,
}

const _: () = assert!(std::mem::size_of::<DisplayEntry>() == ENTRY_SIZE as usize);
const _: () = assert!(std::mem::offset_of!(DisplayEntry, record) == RECORD_OFFSET as usize);

pub(crate) struct TypeDisplays {
    table: Box<[DisplayEntry]>,
    /// Owners of what the entries' `record`s point to.
    records: Vec<Box<[u32]>>,
}

impl Default for TypeDisplays {
    fn default() -> Self {
        // Zeroed memory, so untouched pages stay unbacked (a slice built
        // element by element would write all of it).
        let table = Box::<[DisplayEntry]>::new_zeroed_slice(DISPLAY_CAPACITY as usize);
        // SAFETY: an all-zero `DisplayEntry` is valid: zero atomics and a
        // null pointer.
        let table = unsafe { table.assume_init() };
        TypeDisplays { table, records: Vec::new() }
    }
}

impl TypeDisplays {
    /// Ids below this can be recorded. The last entry is never written:
    /// headers of objects without a Wasm type (externrefs, whose type
    /// index is `gc_layout::EXTERNREF_TYPE_INDEX`, all ones) mask to it, so
    /// they are a subtype of nothing however many types there are.
    pub const CAPACITY: u64 = DISPLAY_CAPACITY as u64 - 1;

    /// The table's address, for compiled code.
    pub fn top(&self) -> *const u8 {
        self.table.as_ptr().cast()
    }

    fn entry(&self, id: u32) -> &DisplayEntry {
        &self.table[(id & (DISPLAY_CAPACITY - 1)) as usize]
    }

    /// Fails unless ids below `end` can be recorded.
    pub fn check_capacity(end: u64) -> anyhow::Result<()> {
        anyhow::ensure!(
            end <= Self::CAPACITY,
            "the engine has registered as many types as it can ({}); create a new engine",
            Self::CAPACITY
        );
        Ok(())
    }

    /// The display of `id`, if it has one.
    pub fn get(&self, id: u32) -> Option<&[u32]> {
        if id == NO_TYPE || u64::from(id) >= Self::CAPACITY {
            return None;
        }
        let record = self.entry(id).record.load(Ordering::Acquire);
        if record.is_null() {
            return None;
        }
        // SAFETY: a non-null record pointer points at one of
        // `self.records`, whose first word is its depth and which holds
        // `depth + 2` words.
        unsafe {
            let len = *record as usize + 2;
            Some(std::slice::from_raw_parts(record, len))
        }
    }

    /// Records the display of type `id`, whose declared supertype (if any)
    /// was recorded before it; `id` is below `CAPACITY`, and not `NO_TYPE`.
    pub fn record(&mut self, id: u32, supertype: Option<u32>) {
        assert!(id != NO_TYPE && u64::from(id) < Self::CAPACITY, "type id {id} has no display entry");
        let mut ancestors: Vec<u32> = match supertype.and_then(|s| self.get(s)) {
            Some(parent) => parent[1..].to_vec(),
            None => Vec::new(),
        };
        ancestors.push(id);
        let entry = self.entry(id);
        for (slot, ancestor) in entry.inline.iter().zip(&ancestors) {
            slot.store(*ancestor, Ordering::Relaxed);
        }
        let depth = ancestors.len() as u32 - 1;
        let mut record: Box<[u32]> = std::iter::once(depth).chain(ancestors).collect();
        entry.record.store(record.as_mut_ptr(), Ordering::Release);
        self.records.push(record);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An entry's inline slots, as compiled code compares them.
    fn inline_slots(d: &TypeDisplays, id: u32) -> Vec<u32> {
        d.entry(id).inline.iter().map(|s| s.load(Ordering::Relaxed)).collect()
    }

    #[test]
    fn displays_list_ancestors_root_first() {
        let mut d = TypeDisplays::default();
        d.record(1, None);
        d.record(2, Some(1));
        d.record(5000, Some(2));
        assert_eq!(d.get(1), Some(&[0, 1][..]));
        assert_eq!(d.get(2), Some(&[1, 1, 2][..]));
        assert_eq!(d.get(5000), Some(&[2, 1, 2, 5000][..]));
        assert_eq!(d.get(3), None, "never recorded");
        assert_eq!(d.get(NO_TYPE), None);
        assert_eq!(d.get(u32::MAX), None, "past the table");
    }

    #[test]
    fn entries_hold_shallow_ancestors_and_no_type_past_the_depth() {
        let mut d = TypeDisplays::default();
        d.record(1, None);
        d.record(2, Some(1));
        assert_eq!(inline_slots(&d, 2)[..2], [1, 2]);
        assert!(inline_slots(&d, 2)[2..].iter().all(|&a| a == NO_TYPE), "past its depth");
        assert!(inline_slots(&d, 3).iter().all(|&a| a == NO_TYPE), "never recorded: a subtype of nothing");
    }

    #[test]
    fn a_deep_type_keeps_its_whole_display_in_its_record() {
        let mut d = TypeDisplays::default();
        let deepest = INLINE_DEPTH + 2;
        d.record(1, None);
        for id in 2..=deepest {
            d.record(id, Some(id - 1));
        }
        let expected: Vec<u32> = std::iter::once(deepest - 1).chain(1..=deepest).collect();
        assert_eq!(d.get(deepest), Some(&expected[..]));
        assert_eq!(inline_slots(&d, deepest), (1..=INLINE_DEPTH).collect::<Vec<_>>(), "the first ancestors inline");
    }

    #[test]
    fn no_types_entry_is_the_first_and_empty() {
        let mut d = TypeDisplays::default();
        d.record(1, None);
        d.record(TypeDisplays::CAPACITY as u32 - 1, Some(1));
        // What is not an object reads as `NO_TYPE`, an ancestor of nothing,
        // and compiled code reads its entry, at the table's start, as the
        // record (depth 0) of an entry whose record pointer is null.
        let entry = d.entry(NO_TYPE);
        assert_eq!(std::ptr::from_ref(entry).cast::<u8>(), d.top());
        assert!(inline_slots(&d, NO_TYPE).iter().all(|&a| a == NO_TYPE));
        assert!(entry.record.load(Ordering::Relaxed).is_null());
    }

    #[test]
    fn an_externrefs_header_finds_no_ancestor_in_a_full_table() {
        let mut d = TypeDisplays::default();
        d.record(1, None);
        d.record(TypeDisplays::CAPACITY as u32 - 1, Some(1));
        let externref = kiln_environ::gc_layout::EXTERNREF_TYPE_INDEX;
        assert!(inline_slots(&d, externref).iter().all(|&a| a == NO_TYPE));
        assert!(d.entry(externref).record.load(Ordering::Relaxed).is_null());
    }

    #[test]
    fn ids_past_the_capacity_are_refused() {
        assert!(TypeDisplays::check_capacity(TypeDisplays::CAPACITY).is_ok());
        let err = TypeDisplays::check_capacity(TypeDisplays::CAPACITY + 1).unwrap_err();
        assert!(err.to_string().contains("as many types as it can"), "{err}");
    }
}
