//! The null collector on a plain byte-buffer heap.

mod common;

use common::*;
use kiln_environ::gc_layout::FIRST_OBJECT_OFFSET;
use kiln_gc::{Collector, GcError, GcProgress, GcRoots, HostDataTable};

#[test]
fn null_allocates_until_full_then_reports_out_of_memory() {
    let mut heap = new_growable_heap(Collector::Null, 4096, 8192);
    let mut host = HostDataTable::new();
    let mut n = 0u64;
    let err = loop {
        match heap.alloc_uninit_struct(NODE) {
            Ok(r) => {
                heap.expose_gc_ref_to_wasm(r).unwrap();
                n += 1;
            }
            Err(e) => break e,
        }
    };
    assert!(matches!(err, GcError::OutOfMemory { .. }));
    assert_eq!(n, (4096 - u64::from(FIRST_OBJECT_OFFSET)) / NODE_SIZE);
    heap.verify().unwrap();

    // Collecting frees nothing...
    heap.collect_all(GcRoots::new(), &mut host).unwrap();
    assert!(matches!(heap.alloc_uninit_struct(NODE), Err(GcError::OutOfMemory { .. })));
    assert_eq!(heap.stats().collections, 1);
    assert_eq!(heap.stats().live_bytes_after_last_collection, n * NODE_SIZE);
    // ...growing makes room.
    heap.grow(4096).unwrap();
    heap.alloc_uninit_struct(NODE).unwrap();
    assert!(matches!(heap.grow(4096), Err(GcError::HeapLimit { .. })));
    heap.verify().unwrap();
}

#[test]
fn null_collection_completes_in_one_step() {
    let mut heap = new_heap(Collector::Null, 4096);
    let mut host = HostDataTable::new();
    let mut gc = heap.collect(GcRoots::new(), &mut host);
    assert_eq!(gc.step(1).unwrap(), GcProgress::Complete);
    assert_eq!(gc.step(1).unwrap(), GcProgress::Complete);
}

#[test]
fn null_keeps_host_data_until_the_table_is_dropped() {
    let mut heap = new_heap(Collector::Null, 4096);
    let mut host = HostDataTable::new();
    let c = counter();
    let id = host.insert(Box::new(DropCounter(c.clone()))).unwrap();
    let ext = heap.alloc_externref(id).unwrap();
    heap.drop_gc_ref(&mut host, ext).unwrap();
    heap.collect_all(GcRoots::new(), &mut host).unwrap();
    assert_eq!(drops(&c), 0);
    drop(host);
    assert_eq!(drops(&c), 1);
}

#[test]
fn null_objects_lie_back_to_back() {
    let mut heap = new_heap(Collector::Null, 4096);
    let mut host = HostDataTable::new();
    let a = node(&mut *heap, &mut host, None);
    let b = heap.alloc_uninit_array(REF_ARRAY, 3).unwrap();
    let c = heap.alloc_uninit_struct(PAIR).unwrap();
    // A node (16 bytes), then an array of three references (12 + 3 * 4 =
    // 24 bytes), then the pair.
    assert_eq!(a.as_heap_index(), Some(FIRST_OBJECT_OFFSET));
    assert_eq!(b.as_heap_index(), Some(FIRST_OBJECT_OFFSET + NODE_SIZE as u32));
    assert_eq!(c.as_heap_index(), Some(FIRST_OBJECT_OFFSET + NODE_SIZE as u32 + 24));
    heap.write_gc_ref_field(&mut host, &c, PAIR_LEFT, Some(&a)).unwrap();
    heap.write_gc_ref_field(&mut host, &b, ARRAY_ELEMS, Some(&c)).unwrap();
    heap.write_data(&c, PAIR_DATA, &7u64.to_le_bytes()).unwrap();
    let report = heap.verify().unwrap();
    assert_eq!((report.objects, report.references, report.free_blocks), (3, 2, 0));
    assert_eq!(heap.array_len(&b).unwrap(), 3);
    assert_eq!(heap.read_data(&c, PAIR_DATA, 8).unwrap(), 7u64.to_le_bytes());
}

#[test]
fn null_reset_empties_the_heap_and_zeroes_on_request() {
    let mut heap = new_heap(Collector::Null, 8192);
    let arr = heap.alloc_uninit_array(BYTE_ARRAY, 100).unwrap();
    heap.write_data(&arr, ARRAY_ELEMS, &[0xab; 100]).unwrap();
    heap.reset(false);
    assert!(heap.memory().bytes().windows(100).any(|w| w == [0xab; 100]));
    assert_eq!(heap.stats().bytes_allocated, 0);
    assert_eq!(heap.verify().unwrap().objects, 0);
    let arr = heap.alloc_uninit_array(BYTE_ARRAY, 100).unwrap();
    assert_eq!(arr.as_heap_index(), Some(FIRST_OBJECT_OFFSET));
    assert!(heap.read_data(&arr, ARRAY_ELEMS, 100).unwrap().iter().all(|b| *b == 0), "new objects are zeroed");
    heap.write_data(&arr, ARRAY_ELEMS, &[0xab; 100]).unwrap();
    heap.reset(true);
    assert!(heap.memory().bytes().iter().all(|b| *b == 0));
    assert_eq!(heap.stats().bytes_in_use, 0);
}
