//! The copying collector's plain-object space: arrays of numbers from
//! `PLAIN_OBJECT_MIN` bytes up to the large objects' size are placed
//! apart, marked rather than copied, and their memory is reused once they
//! die.

mod common;

use common::*;
use kiln_gc::{Collector, GcError, GcHeap, GcRoots, HostDataTable, PLAIN_OBJECT_MIN, VMGcRef};

const MIB: usize = 1 << 20;
/// Elements of a byte array that make it exactly `PLAIN_OBJECT_MIN` bytes.
const PLAIN_LEN: u32 = PLAIN_OBJECT_MIN - ARRAY_ELEMS - 4;

fn collect(heap: &mut dyn GcHeap, host: &mut HostDataTable, slots: &mut [Option<VMGcRef>]) -> kiln_gc::Result<()> {
    let mut roots = GcRoots::new();
    for slot in slots {
        roots.add_stack_root(slot);
    }
    heap.collect_all(roots, host)
}

fn offset(r: &Option<VMGcRef>) -> u32 {
    r.as_ref().and_then(VMGcRef::as_heap_index).unwrap()
}

fn bytes(heap: &dyn GcHeap, r: &Option<VMGcRef>, len: u32) -> Vec<u8> {
    heap.read_data(r.as_ref().unwrap(), ARRAY_ELEMS, len).unwrap().to_vec()
}

#[test]
fn arrays_of_numbers_from_the_threshold_stay_put_and_others_move() {
    let mut heap = new_growable_heap(Collector::Copying, 4 * MIB, 64 * MIB);
    let mut host = HostDataTable::new();
    let plain = heap.alloc_uninit_array(BYTE_ARRAY, PLAIN_LEN).unwrap();
    let below = heap.alloc_uninit_array(BYTE_ARRAY, PLAIN_LEN - 8).unwrap();
    // As large, but of references: traced, so copied.
    let refs = heap.alloc_uninit_array(REF_ARRAY, PLAIN_LEN / 4).unwrap();
    heap.write_data(&plain, ARRAY_ELEMS, &[1, 2, 3]).unwrap();
    heap.write_data(&below, ARRAY_ELEMS, &[4, 5, 6]).unwrap();
    let mut slots = [Some(plain), Some(below), Some(refs)];
    let before: Vec<u32> = slots.iter().map(offset).collect();
    for _ in 0..3 {
        heap.alloc_uninit_struct(NODE).unwrap();
        collect(&mut *heap, &mut host, &mut slots).unwrap();
        heap.verify().unwrap();
    }
    assert_eq!(offset(&slots[0]), before[0], "a plain object never moves");
    assert_ne!(offset(&slots[1]), before[1], "one under the threshold is copied");
    assert_ne!(offset(&slots[2]), before[2], "so is an array of references");
    assert_eq!((bytes(&*heap, &slots[0], 3), bytes(&*heap, &slots[1], 3)), (vec![1, 2, 3], vec![4, 5, 6]));
}

/// A window of 2,000 live arrays of 2 KiB under a churn of 60 MB: the
/// space reuses what dies, so the heap stays near twice its live data.
#[test]
fn dead_plain_objects_make_room_for_new_ones() {
    let mut heap = new_growable_heap(Collector::Copying, MIB, 256 * MIB);
    let mut host = HostDataTable::new();
    let mut window: Vec<Option<VMGcRef>> = (0..2000).map(|_| None).collect();
    for step in 0..30_000u32 {
        let a = match heap.alloc_uninit_array(BYTE_ARRAY, 2048) {
            Ok(a) => a,
            Err(GcError::OutOfMemory { .. }) => {
                collect(&mut *heap, &mut host, &mut window).unwrap();
                heap.verify().unwrap();
                heap.alloc_uninit_array(BYTE_ARRAY, 2048).unwrap()
            }
            Err(e) => panic!("{e}"),
        };
        heap.write_data(&a, ARRAY_ELEMS, &step.to_le_bytes()).unwrap();
        window[step as usize % 2000] = Some(a);
    }
    for (i, slot) in window.iter().enumerate() {
        let step = u32::from_le_bytes(bytes(&*heap, slot, 4).try_into().unwrap());
        assert_eq!(step as usize % 2000, i, "every array kept its contents");
    }
    let stats = heap.stats();
    assert!(stats.collections >= 5, "the space asked for collections: {stats:?}");
    // A semi-space heap would hold the 4 MB twice, and grow to four
    // times it before that (25 MB here without this space).
    assert!(stats.heap_size < 12 * MIB as u64, "4 MB live in under three times that: {stats:?}");
}

#[test]
fn the_space_asks_for_a_collection_before_outgrowing_its_live_data() {
    let mut heap = new_growable_heap(Collector::Copying, MIB, 256 * MIB);
    let mut host = HostDataTable::new();
    let mut placed = 0;
    let refused = loop {
        match heap.alloc_uninit_array(BYTE_ARRAY, 4000) {
            Ok(_) => placed += 1,
            Err(e) => break e,
        }
        assert!(placed < 10_000, "never refused");
    };
    assert!(matches!(refused, GcError::OutOfMemory { .. }), "{refused}");
    let block = (4000 + ARRAY_ELEMS as usize).next_multiple_of(8);
    // The budget: the semi-spaces' size (1 MiB here) with nothing live.
    assert!(placed * block > MIB && (placed - 1) * block <= MIB, "just over 1 MiB first: {placed}");
    collect(&mut *heap, &mut host, &mut []).unwrap();
    heap.verify().unwrap();
    assert_eq!(heap.stats().bytes_in_use, 0, "all of it was garbage");
    heap.alloc_uninit_array(BYTE_ARRAY, 4000).expect("room again after the collection");
}

#[test]
fn a_reference_into_the_middle_of_a_plain_object_is_corrupt() {
    let mut heap = new_growable_heap(Collector::Copying, MIB, 16 * MIB);
    let mut host = HostDataTable::new();
    let plain = heap.alloc_uninit_array(BYTE_ARRAY, 4000).unwrap();
    let inside = VMGcRef::from_heap_index(plain.as_heap_index().unwrap() + 64).unwrap();
    let mut slots = [Some(inside)];
    assert!(matches!(collect(&mut *heap, &mut host, &mut slots), Err(GcError::Corrupt { .. })));
    // Only the whole object's reference kept it; its memory is free now.
    heap.verify().unwrap();
    assert_eq!(heap.stats().bytes_in_use, 0);
}

#[test]
fn other_collectors_keep_arrays_of_numbers_with_the_rest() {
    for collector in [Collector::Generational, Collector::Drc, Collector::Null] {
        let mut heap = new_growable_heap(collector, 4 * MIB, 64 * MIB);
        let a = heap.alloc_uninit_array(BYTE_ARRAY, 4000).unwrap();
        let b = heap.alloc_uninit_array(BYTE_ARRAY, 4000).unwrap();
        let gap = b.as_heap_index().unwrap().abs_diff(a.as_heap_index().unwrap());
        assert!(u64::from(b.as_heap_index().unwrap()) < 4 * MIB as u64 && gap < 4100, "{collector:?}: {gap}");
        heap.verify().unwrap();
    }
}
