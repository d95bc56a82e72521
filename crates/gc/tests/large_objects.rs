//! The large-object space of the semi-space collectors (copying and
//! generational): large objects (64 KiB or more under the copying
//! collector, 256 KiB or more under the generational one) are never
//! copied, need no reserve, and give their memory back when they die.

mod common;

use common::*;
use kiln_gc::{Collector, GcError, GcHeap, GcRoots, HostDataTable, VMGcRef};

const MIB: usize = 1 << 20;
const SEMI_SPACE_COLLECTORS: [Collector; 2] = [Collector::Copying, Collector::Generational];
/// Where an array's elements start.
const ELEMS: u32 = ARRAY_ELEMS;

fn collect_rooted(heap: &mut dyn GcHeap, host: &mut HostDataTable, slots: &mut [Option<VMGcRef>]) {
    let mut roots = GcRoots::new();
    for slot in slots {
        roots.add_stack_root(slot);
    }
    heap.collect_all(roots, host).unwrap();
}

/// A full collection, whatever the collector would pick.
fn collect_fully(heap: &mut dyn GcHeap, host: &mut HostDataTable, slots: &mut [Option<VMGcRef>]) {
    heap.request_full_collection();
    collect_rooted(heap, host, slots);
}

fn offset(r: &Option<VMGcRef>) -> u32 {
    r.as_ref().and_then(VMGcRef::as_heap_index).unwrap()
}

fn byte_at(heap: &dyn GcHeap, r: &VMGcRef, index: u32) -> u8 {
    heap.read_data(r, ELEMS + index, 1).unwrap()[0]
}

#[test]
fn an_array_larger_than_half_the_heap_limit_fits_and_is_never_copied() {
    for collector in SEMI_SPACE_COLLECTORS {
        let mut heap = new_growable_heap(collector, MIB, 8 * MIB);
        let mut host = HostDataTable::new();
        // 5 MiB: no semi-space of an 8 MiB heap could hold it and its copy.
        let len = 5 * MIB as u32;
        let big = heap.alloc_uninit_array(BYTE_ARRAY, len).unwrap();
        heap.write_data(&big, ELEMS, &[7]).unwrap();
        heap.write_data(&big, ELEMS + len - 1, &[9]).unwrap();
        let at = big.as_heap_index().unwrap();
        assert_eq!(at % 4096, 0, "{collector:?}: page-aligned");
        assert!(u64::from(at) >= heap.stats().heap_size - 6 * MIB as u64, "{collector:?}: at the top");

        // Small objects come and go around it; it stays where it is.
        let mut slots = [Some(big)];
        for round in 0..4 {
            for _ in 0..10_000 {
                heap.alloc_uninit_struct(NODE).unwrap();
            }
            collect_fully(&mut *heap, &mut host, &mut slots);
            assert_eq!(offset(&slots[0]), at, "{collector:?}: round {round}");
            heap.verify().unwrap();
        }
        let big = slots[0].as_ref().unwrap();
        assert_eq!((byte_at(&*heap, big, 0), byte_at(&*heap, big, len - 1)), (7, 9), "{collector:?}");
        assert!(heap.stats().bytes_in_use >= u64::from(len), "{collector:?}");
        // The semi-spaces cannot grow into it.
        assert!(matches!(heap.grow(4 * MIB as u64), Err(GcError::HeapLimit { .. })), "{collector:?}");

        // Unreachable, it is freed, and its room takes another one, zeroed
        // (its pages stay backed for that: see `large.rs`).
        collect_fully(&mut *heap, &mut host, &mut []);
        assert_eq!(heap.stats().bytes_in_use, 0, "{collector:?}");
        heap.verify().unwrap();
        let again = heap.alloc_uninit_array(BYTE_ARRAY, len).unwrap();
        assert_eq!(again.as_heap_index(), Some(at), "{collector:?}: the same room");
        assert_eq!(byte_at(&*heap, &again, 0), 0, "{collector:?}: a new object is zeroed");
    }
}

#[test]
fn a_large_array_keeps_the_objects_it_references_and_is_kept_by_them() {
    for collector in SEMI_SPACE_COLLECTORS {
        let mut heap = new_growable_heap(collector, MIB, 16 * MIB);
        let mut host = HostDataTable::new();
        let len = 100_000;
        let array = heap.alloc_uninit_array(REF_ARRAY, len).unwrap();
        let first = node(&mut *heap, &mut host, None);
        let last = node(&mut *heap, &mut host, Some(&first));
        heap.write_gc_ref_field(&mut host, &array, ELEMS, Some(&first)).unwrap();
        heap.write_gc_ref_field(&mut host, &array, ELEMS + 4 * (len - 1), Some(&last)).unwrap();
        let at = array.as_heap_index().unwrap();

        // Rooted by the array alone, the nodes survive (and move); a
        // nursery collection finds them through the array's marked card.
        let mut slots = [Some(array)];
        collect_rooted(&mut *heap, &mut host, &mut slots);
        heap.verify().unwrap();
        collect_fully(&mut *heap, &mut host, &mut slots);
        heap.verify().unwrap();
        let array = slots[0].take().unwrap();
        assert_eq!(array.as_heap_index(), Some(at), "{collector:?}");
        let first = heap.read_gc_ref_field(&array, ELEMS).unwrap().unwrap();
        let last = heap.read_gc_ref_field(&array, ELEMS + 4 * (len - 1)).unwrap().unwrap();
        let next = heap.read_gc_ref_field(&last, NODE_NEXT).unwrap().unwrap();
        assert_eq!(next.as_heap_index(), first.as_heap_index(), "{collector:?}");
        let block = u64::from(ELEMS + 4 * len).next_multiple_of(4096);
        assert_eq!(heap.stats().bytes_in_use, block + 2 * NODE_SIZE, "{collector:?}: the array's whole pages, two nodes");

        // Rooted by a node that references it, the array survives.
        let holder = node(&mut *heap, &mut host, Some(&array));
        let mut slots = [Some(holder)];
        collect_fully(&mut *heap, &mut host, &mut slots);
        let holder = slots[0].as_ref().unwrap();
        let array = heap.read_gc_ref_field(holder, NODE_NEXT).unwrap().unwrap();
        assert_eq!(array.as_heap_index(), Some(at), "{collector:?}");
        assert!(heap.read_gc_ref_field(&array, ELEMS).unwrap().is_some(), "{collector:?}");
        heap.verify().unwrap();
    }
}

#[test]
fn a_reference_into_the_middle_of_a_large_object_is_corrupt() {
    for collector in SEMI_SPACE_COLLECTORS {
        let mut heap = new_growable_heap(collector, MIB, 8 * MIB);
        let mut host = HostDataTable::new();
        let array = heap.alloc_uninit_array(BYTE_ARRAY, MIB as u32).unwrap();
        let inside = VMGcRef::from_heap_index(array.as_heap_index().unwrap() + 4096).unwrap();
        let mut slots = [Some(array), Some(inside)];
        let mut roots = GcRoots::new();
        for slot in &mut slots {
            roots.add_stack_root(slot);
        }
        heap.request_full_collection();
        assert!(matches!(heap.collect_all(roots, &mut host), Err(GcError::Corrupt { .. })), "{collector:?}");
        heap.verify().unwrap();
    }
}

/// The copying collector takes arrays of 64 KiB into the large-object
/// space (page-aligned at the top, never moved); the generational one
/// leaves them below its threshold, among its mature objects.
#[test]
fn the_copying_collector_keeps_64_kib_arrays_apart() {
    for (collector, apart) in [(Collector::Copying, true), (Collector::Generational, false)] {
        let mut heap = new_growable_heap(collector, 4 * MIB, 16 * MIB);
        let mut host = HostDataTable::new();
        // References: not a plain object either (`plain_objects.rs`).
        let small = heap.alloc_uninit_array(REF_ARRAY, ((64 << 10) - ELEMS - 8) / 4).unwrap();
        let large = heap.alloc_uninit_array(BYTE_ARRAY, (64 << 10) - ELEMS).unwrap();
        // The large-object space grows down from the top of the capacity.
        let top = heap.memory().capacity() as u64 - MIB as u64;
        assert!(u64::from(small.as_heap_index().unwrap()) < top, "{collector:?}: an object under 64 KiB is not apart");
        let at = large.as_heap_index().unwrap();
        assert_eq!(u64::from(at) >= top && at % 4096 == 0, apart, "{collector:?}: {at:#x}");
        heap.write_data(&large, ELEMS, &[5]).unwrap();
        let mut slots = [Some(small), Some(large)];
        for _ in 0..3 {
            heap.alloc_uninit_struct(NODE).unwrap();
            collect_fully(&mut *heap, &mut host, &mut slots);
        }
        if apart {
            assert_eq!(offset(&slots[1]), at, "{collector:?}: never moved");
        }
        assert_eq!(byte_at(&*heap, slots[1].as_ref().unwrap(), 0), 5, "{collector:?}");
        heap.verify().unwrap();
    }
}

/// A large object's fresh pages are backed in one request, before the
/// allocation zeroes them (a fault per page otherwise).
#[test]
fn a_large_object_is_prefaulted_whole() {
    let asked = std::sync::Arc::default();
    let memory = PrefaultLog { memory: kiln_gc::VecMemory::new(MIB, 8 * MIB), asked: std::sync::Arc::clone(&asked) };
    let mut heap = Collector::Copying.gc_runtime().unwrap().new_gc_heap(Box::new(memory), types()).unwrap();
    let large = heap.alloc_uninit_array(BYTE_ARRAY, 100 << 10).unwrap();
    let start = large.as_heap_index().unwrap() as usize;
    let asked = asked.lock().unwrap();
    assert!(
        asked.iter().any(|&(ref range, written)| range.start <= start && range.end >= start + (100 << 10) && written == 0),
        "{asked:?} does not cover the array at {start:#x} before it is written"
    );
}

/// Garbage made of large objects alone still gets collected: the
/// large-object space asks for a collection once it has taken as much
/// again as it held after the last one, so a churn of 100 KiB arrays stays
/// in a few megabytes (it filled the whole capacity before).
#[test]
fn a_churn_of_large_objects_is_collected_in_a_bounded_space() {
    for collector in SEMI_SPACE_COLLECTORS {
        let mut heap = new_growable_heap(collector, MIB, 256 * MIB);
        let mut host = HostDataTable::new();
        let len = if collector == Collector::Copying { 100 << 10 } else { 300 << 10 };
        let (mut collections, mut reserved) = (0, 0);
        for _ in 0..1_000 {
            let r = match heap.alloc_uninit_array(BYTE_ARRAY, len) {
                Ok(r) => r,
                Err(GcError::OutOfMemory { .. }) => {
                    collections += 1;
                    collect_rooted(&mut *heap, &mut host, &mut []);
                    heap.alloc_uninit_array(BYTE_ARRAY, len).unwrap()
                }
                Err(e) => panic!("{collector:?}: {e}"),
            };
            assert!(u64::from(r.as_heap_index().unwrap()) > 128 * MIB as u64, "{collector:?}: a large object");
            reserved = reserved.max(heap.stats().heap_size);
        }
        assert!(collections > 0, "{collector:?}: never asked for a collection");
        assert!(reserved < 48 * MIB as u64, "{collector:?}: the heap reached {reserved} bytes");
        heap.verify().unwrap();
    }
}
