//! The DRC collector on a plain byte-buffer heap.

mod common;

use common::*;
use kiln_environ::gc_layout::{DRC_PREFIX_SIZE, FIRST_OBJECT_OFFSET, HEADER_TYPE_INDEX_OFFSET, MIN_OBJECT_SIZE};
use kiln_gc::{Collector, GcError, GcHeap, GcProgress, GcRoots, HostDataTable, VMGcRef};

/// A node's block in a DRC heap: its count's prefix, then the node.
const NODE_SIZE: u64 = common::NODE_SIZE + DRC_PREFIX_SIZE as u64;

fn drc(bytes: usize) -> (Box<dyn GcHeap>, HostDataTable) {
    (new_heap(Collector::Drc, bytes), HostDataTable::new())
}

#[test]
fn drc_allocates_until_full_and_recovers_after_collection() {
    let (mut heap, mut host) = drc(64 * 1024);
    let mut on_stack: Vec<Option<VMGcRef>> = Vec::new();
    let mut n = 0;
    loop {
        match heap.alloc_uninit_struct(NODE) {
            Ok(r) => {
                if n % 2 == 0 {
                    on_stack.push(Some(r.unchecked_copy()));
                }
                heap.expose_gc_ref_to_wasm(r).unwrap();
                n += 1;
            }
            Err(GcError::OutOfMemory { .. }) => break,
            Err(e) => panic!("{e}"),
        }
    }
    assert!(n * NODE_SIZE > 60_000, "{n} nodes fit in 64 KiB");
    assert!(matches!(heap.alloc_uninit_array(BYTE_ARRAY, 0), Err(GcError::OutOfMemory { .. })));
    heap.verify().unwrap();

    // Half of the nodes are still on the stack: the other half is freed.
    let mut roots = GcRoots::new();
    for slot in &mut on_stack {
        roots.add_stack_root(slot);
    }
    heap.collect_all(roots, &mut host).unwrap();
    heap.verify().unwrap();
    let kept = on_stack.len() as u64;
    assert_eq!(heap.stats().bytes_in_use, kept * NODE_SIZE);
    for _ in 0..(n - kept) {
        let r = heap.alloc_uninit_struct(NODE).expect("freed nodes are reused");
        heap.expose_gc_ref_to_wasm(r).unwrap();
    }

    // Nothing on the stack any more: everything goes, and the freed blocks
    // merge back into one, so a single array as large as the heap fits.
    heap.collect_all(GcRoots::new(), &mut host).unwrap();
    assert_eq!(heap.stats().bytes_in_use, 0);
    let big = heap.alloc_uninit_array(BYTE_ARRAY, 64 * 1024 - 64).unwrap();
    heap.verify().unwrap();
    heap.drop_gc_ref(&mut host, big).unwrap();
    assert_eq!(heap.stats().bytes_in_use, 0);
}

#[test]
fn drc_frees_a_million_object_chain_without_recursion() {
    let n = 1_000_000u64;
    let (mut heap, mut host) = drc((n * NODE_SIZE) as usize + 64);
    let mut head: Option<VMGcRef> = None;
    for _ in 0..n {
        let next = node(&mut *heap, &mut host, head.as_ref());
        if let Some(old) = head.replace(next) {
            heap.drop_gc_ref(&mut host, old).unwrap();
        }
    }
    assert_eq!(heap.stats().bytes_in_use, n * NODE_SIZE);
    // The chain is only referenced from a Wasm stack that has since
    // returned: one collection frees all of it, through the work list.
    heap.expose_gc_ref_to_wasm(head.unwrap()).unwrap();
    heap.collect_all(GcRoots::new(), &mut host).unwrap();
    assert_eq!(heap.stats().bytes_in_use, 0);
    heap.verify().unwrap();
}

#[test]
fn drc_drop_frees_a_bounded_amount_and_collection_finishes_the_rest() {
    let n = 100_000u64;
    let (mut heap, mut host) = drc((n * NODE_SIZE) as usize + 64);
    let mut head: Option<VMGcRef> = None;
    for _ in 0..n {
        let next = node(&mut *heap, &mut host, head.as_ref());
        if let Some(old) = head.replace(next) {
            heap.drop_gc_ref(&mut host, old).unwrap();
        }
    }
    // New objects are fresh: the log holds a count for each until a
    // collection, which frees none of these (the chain hangs from `head`,
    // a host root).
    let mut held = head;
    let mut roots = GcRoots::new();
    roots.add_non_stack_root(&mut held);
    heap.collect_all(roots, &mut host).unwrap();
    assert_eq!(heap.stats().bytes_in_use, n * NODE_SIZE);
    heap.drop_gc_ref(&mut host, held.unwrap()).unwrap();
    let left = heap.stats().bytes_in_use;
    assert!(left > 0 && left < n * NODE_SIZE, "the barrier freed part of the chain, not all of it");
    heap.verify().unwrap();
    heap.collect_all(GcRoots::new(), &mut host).unwrap();
    assert_eq!(heap.stats().bytes_in_use, 0);
}

#[test]
fn drc_drops_host_data_exactly_once_when_the_last_reference_goes() {
    let (mut heap, mut host) = drc(4096);
    let c = counter();
    let id = host.insert(Box::new(DropCounter(c.clone()))).unwrap();
    let ext = heap.alloc_externref(id).unwrap();
    assert_eq!(heap.externref_host_data_id(&ext).unwrap(), id);
    let holder = node(&mut *heap, &mut host, Some(&ext));
    heap.drop_gc_ref(&mut host, ext).unwrap();
    assert_eq!(drops(&c), 0, "still referenced by the holder");
    heap.collect_all(GcRoots::new(), &mut host).unwrap();
    assert_eq!(drops(&c), 0, "a collection does not free counted objects");
    assert_eq!(host.len(), 1);

    heap.drop_gc_ref(&mut host, holder).unwrap();
    assert_eq!(drops(&c), 1);
    assert_eq!(host.len(), 0);
    assert!(host.get(id).is_err());
    heap.collect_all(GcRoots::new(), &mut host).unwrap();
    assert_eq!(drops(&c), 1);
    assert_eq!(heap.stats().bytes_in_use, 0);
}

#[test]
fn drc_drops_host_data_of_an_externref_that_leaves_the_stack() {
    let (mut heap, mut host) = drc(4096);
    let c = counter();
    let id = host.insert(Box::new(DropCounter(c.clone()))).unwrap();
    let ext = heap.alloc_externref(id).unwrap();
    let mut stack_slot = Some(ext.unchecked_copy());
    heap.expose_gc_ref_to_wasm(ext).unwrap();
    let mut roots = GcRoots::new();
    roots.add_stack_root(&mut stack_slot);
    heap.collect_all(roots, &mut host).unwrap();
    assert_eq!(drops(&c), 0, "on the stack");
    heap.collect_all(GcRoots::new(), &mut host).unwrap();
    assert_eq!(drops(&c), 1);
    heap.collect_all(GcRoots::new(), &mut host).unwrap();
    assert_eq!(drops(&c), 1);
}

#[test]
fn drc_overwriting_the_last_reference_frees_its_target() {
    let (mut heap, mut host) = drc(4096);
    let c = counter();
    let id = host.insert(Box::new(DropCounter(c.clone()))).unwrap();
    let ext = heap.alloc_externref(id).unwrap();
    let mut global = None;
    heap.write_gc_ref(&mut host, &mut global, Some(&ext)).unwrap();
    heap.drop_gc_ref(&mut host, ext).unwrap();
    assert_eq!(drops(&c), 0);
    heap.write_gc_ref(&mut host, &mut global, None).unwrap();
    assert_eq!(drops(&c), 1);
    assert!(global.is_none());
}

#[test]
fn drc_write_of_a_slots_own_value_keeps_it_alive() {
    let (mut heap, mut host) = drc(4096);
    let x = heap.alloc_uninit_struct(EMPTY).unwrap();
    let mut slot = None;
    heap.write_gc_ref(&mut host, &mut slot, Some(&x)).unwrap();
    heap.drop_gc_ref(&mut host, x).unwrap();
    let same = slot.as_ref().unwrap().unchecked_copy();
    heap.write_gc_ref(&mut host, &mut slot, Some(&same)).unwrap();
    assert_eq!(count(&*heap, slot.as_ref().unwrap()), 1);
    heap.verify().unwrap();
}

#[test]
fn drc_counts_references_from_the_heap_tables_and_host() {
    let (mut heap, mut host) = drc(4096);
    let x = heap.alloc_uninit_struct(EMPTY).unwrap();
    assert_eq!(count(&*heap, &x), 1, "owned by the allocation's caller");
    let a = node(&mut *heap, &mut host, Some(&x));
    let b = heap.alloc_uninit_array(REF_ARRAY, 3).unwrap();
    // The array's third element.
    heap.write_gc_ref_field(&mut host, &b, ARRAY_ELEMS + 8, Some(&x)).unwrap();
    let mut table = [None, None];
    heap.write_gc_ref(&mut host, &mut table[1], Some(&x)).unwrap();
    assert_eq!(count(&*heap, &x), 4);
    let read = heap.read_gc_ref_field(&b, ARRAY_ELEMS + 8).unwrap().unwrap();
    assert_eq!(read, x);
    assert_eq!(count(&*heap, &x), 5, "a read hands out an owned copy");
    heap.drop_gc_ref(&mut host, read).unwrap();
    heap.write_gc_ref_field(&mut host, &a, NODE_NEXT, None).unwrap();
    assert_eq!(count(&*heap, &x), 3);
    heap.verify().unwrap();
}

#[test]
fn drc_logs_a_stack_reference_once() {
    let (mut heap, mut host) = drc(4096);
    let x = heap.alloc_uninit_struct(EMPTY).unwrap();
    let copy = heap.clone_gc_ref(&x).unwrap();
    heap.expose_gc_ref_to_wasm(x).unwrap();
    heap.expose_gc_ref_to_wasm(copy.unchecked_copy()).unwrap();
    assert_eq!(count(&*heap, &copy), 1, "one count for the log entry");
    let mut slot = Some(copy);
    let mut roots = GcRoots::new();
    roots.add_stack_root(&mut slot);
    heap.collect_all(roots, &mut host).unwrap();
    assert_eq!(count(&*heap, slot.as_ref().unwrap()), 1);
    heap.collect_all(GcRoots::new(), &mut host).unwrap();
    assert_eq!(heap.stats().bytes_in_use, 0);
}

#[test]
fn drc_keeps_an_unlogged_stack_root_alive() {
    // A runtime bug (a reference on the stack that was never exposed) must
    // not free the object under the stack.
    let (mut heap, mut host) = drc(4096);
    let y = heap.alloc_uninit_struct(NODE).unwrap();
    let mut slot_y = Some(y.unchecked_copy());
    // `y` was never exposed: the collection logs it.
    let mut roots = GcRoots::new();
    roots.add_stack_root(&mut slot_y);
    heap.collect_all(roots, &mut host).unwrap();
    assert_eq!(count(&*heap, slot_y.as_ref().unwrap()), 2);
    heap.drop_gc_ref(&mut host, y).unwrap();
    heap.collect_all(GcRoots::new(), &mut host).unwrap();
    assert_eq!(heap.stats().bytes_in_use, 0);
}

#[test]
fn drc_non_stack_roots_are_counted_not_logged() {
    let (mut heap, mut host) = drc(4096);
    let x = heap.alloc_uninit_struct(EMPTY).unwrap();
    let mut global = None;
    heap.write_gc_ref(&mut host, &mut global, Some(&x)).unwrap();
    heap.drop_gc_ref(&mut host, x).unwrap();
    let mut roots = GcRoots::new();
    roots.add_non_stack_root(&mut global);
    heap.collect_all(roots, &mut host).unwrap();
    assert_eq!(count(&*heap, global.as_ref().unwrap()), 1);
    heap.collect_all(GcRoots::new(), &mut host).unwrap();
    // The empty struct: the smallest object, and its count's prefix.
    assert_eq!(heap.stats().bytes_in_use, u64::from(MIN_OBJECT_SIZE + DRC_PREFIX_SIZE), "the global's count keeps it alive");
}

#[test]
fn drc_frees_cycles_by_a_backup_trace_when_counting_leaves_the_heap_full() {
    let (mut heap, mut host) = drc(16 * 1024);
    // A cycle kept by a global, and cycles of garbage until the heap is
    // full: counting frees none of them.
    let kept_a = node(&mut *heap, &mut host, None);
    let kept_b = node(&mut *heap, &mut host, Some(&kept_a));
    heap.write_gc_ref_field(&mut host, &kept_a, NODE_NEXT, Some(&kept_b)).unwrap();
    let mut global = None;
    heap.write_gc_ref(&mut host, &mut global, Some(&kept_a)).unwrap();
    heap.drop_gc_ref(&mut host, kept_a).unwrap();
    heap.drop_gc_ref(&mut host, kept_b).unwrap();
    let mut cycles = 0;
    while let Ok(a) = heap.alloc_uninit_struct(NODE) {
        let Ok(b) = heap.alloc_uninit_struct(NODE) else {
            heap.drop_gc_ref(&mut host, a).unwrap();
            break;
        };
        heap.write_gc_ref_field(&mut host, &a, NODE_NEXT, Some(&b)).unwrap();
        heap.write_gc_ref_field(&mut host, &b, NODE_NEXT, Some(&a)).unwrap();
        heap.drop_gc_ref(&mut host, a).unwrap();
        heap.drop_gc_ref(&mut host, b).unwrap();
        cycles += 1;
    }
    assert!(cycles > 100, "{cycles}");
    let mut roots = GcRoots::new();
    roots.add_non_stack_root(&mut global);
    heap.collect_all(roots, &mut host).unwrap();
    heap.verify().unwrap();
    assert_eq!(heap.stats().bytes_in_use, 2 * NODE_SIZE, "only the global's cycle is left");
    // The survivors' counts were recounted: the global's node has two
    // references (the global and its partner), the partner one.
    let a = global.as_ref().unwrap();
    assert_eq!(count(&*heap, a), 2);
    let b = heap.read_gc_ref_field(a, NODE_NEXT).unwrap().unwrap();
    assert_eq!(count(&*heap, &b), 2, "one from `a`, one owned by this test");
    heap.drop_gc_ref(&mut host, b).unwrap();
    // Dropping the global leaves the last cycle to the next trace.
    heap.write_gc_ref(&mut host, &mut global, None).unwrap();
    heap.verify().unwrap();
}

/// A graph whose collection takes a known amount of work: `exposed` logged
/// objects of which every fourth is on the stack, each heading a chain of
/// 3 more nodes.
fn logged_chains(heap: &mut dyn GcHeap, host: &mut HostDataTable, exposed: usize) -> Vec<Option<VMGcRef>> {
    let mut on_stack = Vec::new();
    for i in 0..exposed {
        let mut head = None;
        for _ in 0..4 {
            let n = node(heap, host, head.as_ref());
            if let Some(old) = head.replace(n) {
                heap.drop_gc_ref(host, old).unwrap();
            }
        }
        let head = head.unwrap();
        if i % 4 == 0 {
            on_stack.push(Some(head.unchecked_copy()));
        }
        heap.expose_gc_ref_to_wasm(head).unwrap();
    }
    on_stack
}

#[test]
fn drc_incremental_collection_finishes_in_bounded_steps() {
    let (mut heap, mut host) = drc(1 << 20);
    let exposed = 2000;
    let mut on_stack = logged_chains(&mut *heap, &mut host, exposed);
    let roots_len = on_stack.len() as u64;
    let mut roots = GcRoots::new();
    for slot in &mut on_stack {
        roots.add_stack_root(slot);
    }
    let freed_chains = exposed as u64 - roots_len;
    // Roots and every node (all fresh: walked once); per freed chain its
    // four slot visits and the frees of the three nodes that go through
    // the queue; the head, garbage when the walk reaches it, is freed in
    // the walk's own unit unless its slot does not fit in what is left of
    // the step (then it is queued too: one unit more).
    let least_work = roots_len + exposed as u64 * 4 + freed_chains * (4 + 3);
    let most_work = least_work + freed_chains;
    let budget = 64;
    let mut gc = heap.collect(roots, &mut host);
    let mut steps = 0u64;
    let mut last = 0;
    loop {
        steps += 1;
        let progress = gc.step(budget).unwrap();
        let done = gc.work_done();
        assert!(done - last <= u64::from(budget), "a step does at most its budget");
        last = done;
        if progress == GcProgress::Complete {
            break;
        }
        assert!(steps < 1_000_000);
    }
    let work = gc.work_done();
    assert!((least_work..=most_work).contains(&work), "{work} units, expected {least_work}..={most_work}");
    assert!(steps >= work.div_ceil(u64::from(budget)));
    assert!(steps <= work.div_ceil(u64::from(budget)) + 1);
    assert_eq!(gc.step(budget).unwrap(), GcProgress::Complete);
    drop(gc);
    assert_eq!(heap.stats().bytes_in_use, roots_len * 4 * NODE_SIZE);
    assert_eq!(heap.stats().collections, 1);
    heap.verify().unwrap();
}

#[test]
fn drc_collection_with_a_budget_of_one_still_finishes() {
    let (mut heap, mut host) = drc(1 << 16);
    let mut on_stack = logged_chains(&mut *heap, &mut host, 50);
    let mut roots = GcRoots::new();
    for slot in &mut on_stack {
        roots.add_stack_root(slot);
    }
    let mut gc = heap.collect(roots, &mut host);
    let mut steps = 0;
    while gc.step(1).unwrap() == GcProgress::Continue {
        steps += 1;
        assert!(steps < 100_000);
    }
    assert_eq!(steps + 1, gc.work_done());
}

#[test]
fn drc_abandoned_collection_leaves_a_consistent_heap() {
    let (mut heap, mut host) = drc(1 << 18);
    let mut on_stack = logged_chains(&mut *heap, &mut host, 400);
    for steps in [1, 2, 5, 8, 20] {
        let mut roots = GcRoots::new();
        for slot in &mut on_stack {
            roots.add_stack_root(slot);
        }
        let mut gc = heap.collect(roots, &mut host);
        for _ in 0..steps {
            gc.step(16).unwrap();
        }
        drop(gc);
        heap.verify().unwrap();
    }
    let mut roots = GcRoots::new();
    for slot in &mut on_stack {
        roots.add_stack_root(slot);
    }
    heap.collect_all(roots, &mut host).unwrap();
    assert_eq!(heap.stats().bytes_in_use, on_stack.len() as u64 * 4 * NODE_SIZE);
    heap.verify().unwrap();
}

#[test]
fn drc_reset_empties_the_heap_and_zeroes_on_request() {
    let (mut heap, mut host) = drc(8192);
    let arr = heap.alloc_uninit_array(BYTE_ARRAY, 100).unwrap();
    heap.write_data(&arr, ARRAY_ELEMS, &[0xab; 100]).unwrap();
    let _x = node(&mut *heap, &mut host, Some(&arr));
    heap.collect_all(GcRoots::new(), &mut host).unwrap();

    heap.reset(false);
    assert!(heap.memory().bytes().windows(100).any(|w| w == [0xab; 100]), "old contents stay without zeroing");
    check_empty(&mut *heap);

    let arr = heap.alloc_uninit_array(BYTE_ARRAY, 100).unwrap();
    heap.write_data(&arr, ARRAY_ELEMS, &[0xab; 100]).unwrap();
    heap.reset(true);
    // Only the free block's size (its second word, at 16 + 4) is left
    // non-zero.
    let size_at = (FIRST_OBJECT_OFFSET + HEADER_TYPE_INDEX_OFFSET) as usize;
    let nonzero: Vec<usize> = heap.memory().bytes().iter().enumerate().filter(|(_, b)| **b != 0).map(|(i, _)| i).collect();
    assert!(nonzero.iter().all(|i| (size_at..size_at + 4).contains(i)), "{nonzero:?}");
    check_empty(&mut *heap);
}

fn check_empty(heap: &mut dyn GcHeap) {
    let stats = heap.stats();
    assert_eq!((stats.bytes_in_use, stats.bytes_allocated, stats.collections), (0, 0, 0));
    let report = heap.verify().unwrap();
    assert_eq!(report.objects, 0);
    // The whole heap is one free block again: the first object is bumped
    // from its start (past its count's prefix).
    let r = heap.alloc_uninit_array(BYTE_ARRAY, 100).unwrap();
    assert_eq!(r.as_heap_index(), Some(FIRST_OBJECT_OFFSET + DRC_PREFIX_SIZE), "{:?}", heap.stats());
    assert!(heap.read_data(&r, ARRAY_ELEMS, 100).unwrap().iter().all(|b| *b == 0), "new objects are zeroed");
}

#[test]
fn drc_grows_when_full() {
    let mut heap = new_growable_heap(Collector::Drc, 1024, 1 << 20);
    let mut host = HostDataTable::new();
    let mut held = Vec::new();
    while let Ok(r) = heap.alloc_uninit_struct(NODE) {
        held.push(r);
    }
    heap.grow(4096).unwrap();
    for _ in 0..100 {
        held.push(heap.alloc_uninit_struct(NODE).unwrap());
    }
    heap.verify().unwrap();
    assert!(matches!(heap.grow(1 << 21), Err(GcError::HeapLimit { .. })));
    for r in held {
        heap.drop_gc_ref(&mut host, r).unwrap();
    }
    heap.collect_all(GcRoots::new(), &mut host).unwrap();
    // Old and new memory merged into one free block.
    assert_eq!(heap.verify().unwrap().free_blocks, 1);
}

#[test]
fn drc_statistics_track_allocation_and_collections() {
    let (mut heap, mut host) = drc(1 << 16);
    let keep = heap.alloc_uninit_struct(NODE).unwrap();
    for _ in 0..10 {
        let r = heap.alloc_uninit_struct(NODE).unwrap();
        heap.expose_gc_ref_to_wasm(r).unwrap();
    }
    heap.collect_all(GcRoots::new(), &mut host).unwrap();
    let s = heap.stats();
    assert_eq!(s.bytes_allocated, 11 * NODE_SIZE);
    assert_eq!(s.objects_allocated, 11);
    assert_eq!(s.bytes_in_use, NODE_SIZE);
    assert_eq!(s.live_bytes_after_last_collection, NODE_SIZE);
    assert_eq!(s.collections, 1);
    assert!(s.longest_pause <= s.total_pause);
    heap.drop_gc_ref(&mut host, keep).unwrap();
}

#[test]
fn drc_rejects_wrong_allocation_requests() {
    let (mut heap, _) = drc(4096);
    assert!(matches!(heap.alloc_uninit_struct(REF_ARRAY), Err(GcError::WrongType { .. })));
    assert!(matches!(heap.alloc_uninit_array(NODE, 1), Err(GcError::WrongType { .. })));
    assert!(matches!(heap.alloc_uninit_struct(99), Err(GcError::UnknownType(99))));
    assert!(matches!(heap.alloc_uninit_array(REF_ARRAY, u32::MAX), Err(GcError::OutOfMemory { .. })));
    let any = kiln_gc::VMGcHeader::new(kiln_gc::VMGcKind::AnyRef, 0);
    assert!(heap.alloc_raw(any, 16).is_err());
}

#[test]
fn drc_frees_fresh_garbage_from_every_region_whatever_their_order() {
    let (mut heap, mut host) = drc(256 * 1024);
    // Fill the heap, keeping every 200th node: the holes between them
    // (199 nodes, 3,184 bytes) each make a bump region next time, taken in
    // an order that is not the address order.
    let mut kept: Vec<Option<VMGcRef>> = Vec::new();
    let mut n = 0;
    while let Ok(r) = heap.alloc_uninit_struct(NODE) {
        if n % 200 == 0 {
            kept.push(Some(r.unchecked_copy()));
        }
        heap.expose_gc_ref_to_wasm(r).unwrap();
        n += 1;
    }
    let collect = |heap: &mut Box<dyn GcHeap>, host: &mut HostDataTable, kept: &mut Vec<Option<VMGcRef>>| {
        let mut roots = GcRoots::new();
        for slot in kept.iter_mut() {
            roots.add_stack_root(slot);
        }
        heap.collect_all(roots, host).unwrap();
        heap.verify().unwrap();
    };
    collect(&mut heap, &mut host, &mut kept);
    let live = kept.len() as u64 * NODE_SIZE;
    assert_eq!(heap.stats().bytes_in_use, live);

    // Garbage in about half of the holes (a fuller heap would have the
    // backup trace free whatever counting missed), then a collection: all
    // of it is freed by counting.
    for _ in 0..(n - kept.len()) / 2 {
        let r = heap.alloc_uninit_struct(NODE).unwrap();
        heap.expose_gc_ref_to_wasm(r).unwrap();
    }
    collect(&mut heap, &mut host, &mut kept);
    assert_eq!(heap.stats().bytes_in_use, live, "every region's fresh objects were reconciled");
}

#[test]
fn drc_large_objects_use_the_rest_of_the_bump_region_before_running_out() {
    let (mut heap, _host) = drc(64 * 1024);
    // A small object makes the whole free heap the bump region...
    let small = heap.alloc_uninit_struct(NODE).unwrap();
    heap.expose_gc_ref_to_wasm(small).unwrap();
    // ...and a large one, too large for regions, must still find room in
    // what the region did not use.
    let big = heap.alloc_uninit_array(BYTE_ARRAY, 32 * 1024).unwrap();
    heap.expose_gc_ref_to_wasm(big).unwrap();
    heap.verify().unwrap();
}

/// Heap sizing: a DRC heap needs no copy reserve, so a large one grows
/// only once more than half of it is live after a collection (a copying
/// heap grows at a quarter).
#[test]
fn drc_grows_a_large_heap_only_past_half_live() {
    const MIB: usize = 1 << 20;
    for (live_mib, grows) in [(12, false), (20, true)] {
        let mut heap = new_growable_heap(Collector::Drc, 32 * MIB, 128 * MIB);
        let mut host = HostDataTable::new();
        let mut kept: Vec<Option<VMGcRef>> =
            (0..live_mib * 16).map(|_| Some(heap.alloc_uninit_array(BYTE_ARRAY, (MIB / 16 - 64) as u32).unwrap())).collect();
        let mut roots = GcRoots::new();
        for slot in &mut kept {
            roots.add_stack_root(slot);
        }
        heap.collect_all(roots, &mut host).unwrap();
        assert_eq!(heap.wanted_growth() > 0, grows, "{live_mib} MiB live of 32");
    }
}

/// A large block from the free list is prefaulted, whole, before the
/// allocation zeroes it; a small one is not asked for.
#[test]
fn drc_prefaults_a_large_block_before_zeroing_it() {
    let asked = std::sync::Arc::default();
    let memory = PrefaultLog { memory: kiln_gc::VecMemory::new(1 << 20, 1 << 20), asked: std::sync::Arc::clone(&asked) };
    let mut heap = Collector::Drc.gc_runtime().unwrap().new_gc_heap(Box::new(memory), types()).unwrap();
    let small = heap.alloc_uninit_array(BYTE_ARRAY, 100).unwrap();
    assert!(asked.lock().unwrap().is_empty());
    let large = heap.alloc_uninit_array(BYTE_ARRAY, 64 << 10).unwrap();
    let start = large.as_heap_index().unwrap() as usize;
    let asked = asked.lock().unwrap();
    assert!(
        asked.iter().any(|(range, _)| range.start < start && range.end >= start + (64 << 10)),
        "{asked:?} does not cover the array at {start:#x}"
    );
    assert_eq!(heap.array_len(&large).unwrap(), 64 << 10);
    assert_ne!(small.as_heap_index(), large.as_heap_index());
}
