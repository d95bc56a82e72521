//! The copying (Cheney semi-space) collector on a plain byte-buffer heap.

mod common;

use common::*;
use kiln_environ::gc_layout::{COPYING_FORWARDED_BIT, COPYING_FORWARDING_OFFSET, FIRST_OBJECT_OFFSET, HEADER_KIND_OFFSET, HEADER_SIZE, MIN_OBJECT_SIZE, fixed_object_kind_word};
use kiln_gc::{Collector, GcError, GcHeap, GcProgress, GcRoots, HostDataTable, VMGcRef, VecMemory};
use std::sync::Arc;

fn copying(bytes: usize) -> (Box<dyn GcHeap>, HostDataTable) {
    (new_heap(Collector::Copying, bytes), HostDataTable::new())
}

/// The pair's i8 ends at 25, rounded up to 8.
const PAIR_SIZE: u64 = 32;

fn offset(r: &Option<VMGcRef>) -> u32 {
    r.as_ref().and_then(VMGcRef::as_heap_index).unwrap()
}

fn data(heap: &dyn GcHeap, r: &VMGcRef) -> u64 {
    u64::from_le_bytes(heap.read_data(r, PAIR_DATA, 8).unwrap().try_into().unwrap())
}

/// The raw reference in a field, without the barrier.
fn raw_field(heap: &dyn GcHeap, r: &VMGcRef, field: u32) -> u32 {
    u32::from_le_bytes(heap.read_data(r, field, 4).unwrap().try_into().unwrap())
}

/// Allocates nodes until the heap is full; returns how many fit.
fn fill_with_nodes(heap: &mut dyn GcHeap, held: &mut Vec<Option<VMGcRef>>) -> u64 {
    let mut n = 0;
    loop {
        match heap.alloc_uninit_struct(NODE) {
            Ok(r) => {
                held.push(Some(r));
                n += 1;
            }
            Err(GcError::OutOfMemory { .. }) => return n,
            Err(e) => panic!("{e}"),
        }
    }
}

fn collect_rooted(heap: &mut dyn GcHeap, host: &mut HostDataTable, slots: &mut [Option<VMGcRef>]) {
    let mut roots = GcRoots::new();
    for slot in slots {
        roots.add_stack_root(slot);
    }
    heap.collect_all(roots, host).unwrap();
}

#[test]
fn copying_allocates_until_full_and_recovers_after_collection() {
    let (mut heap, mut host) = copying(64 * 1024);
    let mut kept: Vec<Option<VMGcRef>> = Vec::new();
    let mut n = 0u64;
    loop {
        match heap.alloc_uninit_struct(PAIR) {
            Ok(r) => {
                heap.write_data(&r, PAIR_DATA, &(n * 3).to_le_bytes()).unwrap();
                if n % 2 == 0 {
                    // Each kept pair points at the previous one.
                    heap.write_gc_ref_field(&mut host, &r, PAIR_LEFT, kept.last().and_then(Option::as_ref)).unwrap();
                    kept.push(Some(r));
                } else {
                    heap.expose_gc_ref_to_wasm(r).unwrap();
                }
                n += 1;
            }
            Err(GcError::OutOfMemory { .. }) => break,
            Err(e) => panic!("{e}"),
        }
    }
    // A semi-space heap allocates in half of its memory.
    assert_eq!(n, ((64 * 1024 - u64::from(FIRST_OBJECT_OFFSET)) / 2 & !7) / PAIR_SIZE);
    heap.verify().unwrap();

    for round in 0..3 {
        let before: Vec<u32> = kept.iter().map(offset).collect();
        collect_rooted(&mut *heap, &mut host, &mut kept);
        heap.verify().unwrap();
        // Live objects moved, the roots followed them, contents and fields
        // came along.
        for (i, slot) in kept.iter().enumerate() {
            assert_ne!(offset(slot), before[i], "round {round}: root {i} was rewritten");
            let r = slot.as_ref().unwrap();
            assert_eq!(data(&*heap, r), i as u64 * 6);
            let left = raw_field(&*heap, r, PAIR_LEFT);
            assert_eq!(left, if i == 0 { 0 } else { offset(&kept[i - 1]) });
        }
        // Garbage is reclaimed: the dead half of the pairs can be allocated
        // again.
        let s = heap.stats();
        assert_eq!(s.bytes_in_use, kept.len() as u64 * PAIR_SIZE);
        assert_eq!(s.live_bytes_after_last_collection, s.bytes_in_use);
        for _ in 0..(n - kept.len() as u64) {
            let r = heap.alloc_uninit_struct(PAIR).expect("room freed by the collection");
            heap.expose_gc_ref_to_wasm(r).unwrap();
        }
        assert!(matches!(heap.alloc_uninit_struct(PAIR), Err(GcError::OutOfMemory { .. })));
    }
    assert_eq!(heap.stats().collections, 3);
}

#[test]
fn copying_copies_a_million_object_chain_without_recursion() {
    let n = 1_000_000u64;
    let (mut heap, mut host) = copying(2 * (n * NODE_SIZE) as usize + 64);
    let mut head: Option<VMGcRef> = None;
    for _ in 0..n {
        head = Some(node(&mut *heap, &mut host, head.as_ref()));
    }
    assert_eq!(heap.stats().bytes_in_use, n * NODE_SIZE);
    let mut slot = [head];
    collect_rooted(&mut *heap, &mut host, &mut slot);
    assert_eq!(heap.stats().bytes_in_use, n * NODE_SIZE);

    // Cheney copies breadth first: the head first, then each node right
    // after the one that references it.
    let mut r = slot[0].as_ref().unwrap().unchecked_copy();
    let first = r.as_heap_index().unwrap();
    let mut len = 1;
    while let Some(next) = heap.read_gc_ref_field(&r, NODE_NEXT).unwrap() {
        assert_eq!(next.as_heap_index(), Some(r.as_heap_index().unwrap() + NODE_SIZE as u32));
        r = next;
        len += 1;
    }
    assert_eq!(len, n);
    assert_eq!(r.as_heap_index(), Some(first + ((n - 1) * NODE_SIZE) as u32));
    heap.verify().unwrap();

    // Unrooted, all of it goes.
    heap.collect_all(GcRoots::new(), &mut host).unwrap();
    assert_eq!(heap.stats().bytes_in_use, 0);
    assert_eq!(heap.verify().unwrap().objects, 0);
}

#[test]
fn copying_collects_cycles() {
    let (mut heap, mut host) = copying(4096);
    // An unreachable cycle...
    let a = node(&mut *heap, &mut host, None);
    let b = node(&mut *heap, &mut host, Some(&a));
    heap.write_gc_ref_field(&mut host, &a, NODE_NEXT, Some(&b)).unwrap();
    // ...and a reachable one, with a self-loop hanging off it.
    let c = node(&mut *heap, &mut host, None);
    let d = node(&mut *heap, &mut host, Some(&c));
    let e = node(&mut *heap, &mut host, None);
    heap.write_gc_ref_field(&mut host, &e, NODE_NEXT, Some(&e)).unwrap();
    let pair = heap.alloc_uninit_struct(PAIR).unwrap();
    heap.write_gc_ref_field(&mut host, &pair, PAIR_LEFT, Some(&d)).unwrap();
    heap.write_gc_ref_field(&mut host, &pair, PAIR_RIGHT, Some(&e)).unwrap();
    heap.write_gc_ref_field(&mut host, &c, NODE_NEXT, Some(&pair)).unwrap();

    let mut slot = [Some(c)];
    collect_rooted(&mut *heap, &mut host, &mut slot);
    assert_eq!(heap.stats().bytes_in_use, 3 * NODE_SIZE + PAIR_SIZE, "the unreachable cycle is gone");
    heap.verify().unwrap();
    let c = slot[0].as_ref().unwrap();
    let pair = heap.read_gc_ref_field(c, NODE_NEXT).unwrap().unwrap();
    let d = heap.read_gc_ref_field(&pair, PAIR_LEFT).unwrap().unwrap();
    let e = heap.read_gc_ref_field(&pair, PAIR_RIGHT).unwrap().unwrap();
    assert_eq!(heap.read_gc_ref_field(&d, NODE_NEXT).unwrap().as_ref(), Some(c), "the cycle closes on the new copy");
    assert_eq!(heap.read_gc_ref_field(&e, NODE_NEXT).unwrap(), Some(e.unchecked_copy()));

    heap.collect_all(GcRoots::new(), &mut host).unwrap();
    assert_eq!(heap.stats().bytes_in_use, 0);
}

#[test]
fn copying_drops_host_data_of_dead_externrefs_exactly_once() {
    let (mut heap, mut host) = copying(4096);
    let (live, dead, dead_held) = (counter(), counter(), counter());
    let live_id = host.insert(Box::new(DropCounter(live.clone()))).unwrap();
    let live_ext = heap.alloc_externref(live_id).unwrap();
    let holder = node(&mut *heap, &mut host, Some(&live_ext));
    let dead_ext = heap.alloc_externref(host.insert(Box::new(DropCounter(dead.clone()))).unwrap()).unwrap();
    let dead_held_ext = heap.alloc_externref(host.insert(Box::new(DropCounter(dead_held.clone()))).unwrap()).unwrap();
    let dead_holder = node(&mut *heap, &mut host, Some(&dead_held_ext));
    for r in [live_ext, dead_ext, dead_held_ext, dead_holder] {
        heap.expose_gc_ref_to_wasm(r).unwrap();
    }
    assert_eq!(host.len(), 3);

    let mut slot = [Some(holder)];
    collect_rooted(&mut *heap, &mut host, &mut slot);
    assert_eq!((drops(&live), drops(&dead), drops(&dead_held)), (0, 1, 1));
    assert_eq!(host.len(), 1);
    let ext = heap.read_gc_ref_field(slot[0].as_ref().unwrap(), NODE_NEXT).unwrap().unwrap();
    assert_eq!(heap.externref_host_data_id(&ext).unwrap(), live_id, "the copy holds the same id");
    assert!(host.get(live_id).is_ok());
    heap.verify().unwrap();

    // Copied again, still alive; the dead ones are not dropped twice.
    collect_rooted(&mut *heap, &mut host, &mut slot);
    assert_eq!((drops(&live), drops(&dead), drops(&dead_held)), (0, 1, 1));

    heap.collect_all(GcRoots::new(), &mut host).unwrap();
    assert_eq!((drops(&live), drops(&dead), drops(&dead_held)), (1, 1, 1));
    assert!(host.is_empty());
    heap.collect_all(GcRoots::new(), &mut host).unwrap();
    assert_eq!(drops(&live), 1);
}

#[test]
fn copying_leaves_i31_and_null_roots_and_fields_untouched() {
    let (mut heap, mut host) = copying(4096);
    let pair = heap.alloc_uninit_struct(PAIR).unwrap();
    heap.write_gc_ref_field(&mut host, &pair, PAIR_LEFT, Some(&VMGcRef::from_i31(-5))).unwrap();
    let before = offset(&Some(pair.unchecked_copy()));
    let mut slots = [Some(VMGcRef::from_i31(7)), None, Some(pair), Some(VMGcRef::from_i31(-1)), None];
    collect_rooted(&mut *heap, &mut host, &mut slots);
    assert_eq!(slots[0].as_ref().and_then(VMGcRef::i31_get_s), Some(7));
    assert!(slots[1].is_none() && slots[4].is_none());
    assert_eq!(slots[3].as_ref().and_then(VMGcRef::i31_get_s), Some(-1));
    assert_ne!(offset(&slots[2]), before);
    let pair = slots[2].as_ref().unwrap();
    assert_eq!(heap.read_gc_ref_field(pair, PAIR_LEFT).unwrap().and_then(|r| r.i31_get_s()), Some(-5));
    assert_eq!(raw_field(&*heap, pair, PAIR_RIGHT), 0);
    assert_eq!(heap.stats().bytes_in_use, PAIR_SIZE);
    heap.verify().unwrap();
}

#[test]
fn copying_preserves_every_kind_of_object() {
    let (mut heap, mut host) = copying(8192);
    let bytes = heap.alloc_uninit_array(BYTE_ARRAY, 13).unwrap();
    heap.write_data(&bytes, ARRAY_ELEMS, b"hello, copier").unwrap();
    let empty = heap.alloc_uninit_struct(EMPTY).unwrap();
    let func = heap.alloc_uninit_struct(FUNC_FIELD).unwrap();
    // A func-ref id that looks like a heap offset: not traced, not rewritten.
    // (The funcref is the first field, right after the header.)
    heap.write_data(&func, HEADER_SIZE, &24u32.to_le_bytes()).unwrap();
    let ext = heap.alloc_externref(host.insert(Box::new(9u32)).unwrap()).unwrap();
    let arr = heap.alloc_uninit_array(REF_ARRAY, 5).unwrap();
    for (i, r) in [&bytes, &empty, &func, &ext].into_iter().enumerate() {
        heap.write_gc_ref_field(&mut host, &arr, ARRAY_ELEMS + 4 * i as u32, Some(r)).unwrap();
    }
    let mut slot = [Some(arr)];
    collect_rooted(&mut *heap, &mut host, &mut slot);
    heap.verify().unwrap();
    let arr = slot[0].as_ref().unwrap();
    assert_eq!(heap.array_len(arr).unwrap(), 5);
    let get = |heap: &mut dyn GcHeap, i: u32| heap.read_gc_ref_field(arr, ARRAY_ELEMS + 4 * i).unwrap();
    let bytes = get(&mut *heap, 0).unwrap();
    assert_eq!(heap.read_data(&bytes, ARRAY_ELEMS, 13).unwrap(), b"hello, copier");
    assert_eq!(heap.array_len(&bytes).unwrap(), 13);
    let empty = get(&mut *heap, 1).unwrap();
    assert_eq!(heap.header(&empty).unwrap().size(), MIN_OBJECT_SIZE);
    let func = get(&mut *heap, 2).unwrap();
    assert_eq!(raw_field(&*heap, &func, HEADER_SIZE), 24);
    let ext = get(&mut *heap, 3).unwrap();
    let id = heap.externref_host_data_id(&ext).unwrap();
    assert_eq!(host.get(id).unwrap().downcast_ref::<u32>(), Some(&9));
    assert_eq!(get(&mut *heap, 4), None);
    let report = heap.verify().unwrap();
    assert_eq!((report.objects, report.references), (5, 4));
}

#[test]
fn copying_reports_references_outside_the_from_space_as_corrupt() {
    let (mut heap, mut host) = copying(4096);
    let a = node(&mut *heap, &mut host, None);
    let b = node(&mut *heap, &mut host, None);
    // A field pointing into the reserve (the to-space) and roots pointing
    // outside the heap, into the middle of an object, and at an odd offset
    // that reads as an i31.
    heap.write_data(&b, NODE_NEXT, &3000u32.to_le_bytes()).unwrap();
    let bogus = [0xfff0u32, b.as_raw_u32() + 8, u32::MAX - 7];
    let mut slots: Vec<Option<VMGcRef>> = bogus.iter().map(|raw| VMGcRef::from_raw_u32(*raw)).collect();
    slots.push(Some(a));
    slots.push(Some(b));
    let mut roots = GcRoots::new();
    for s in &mut slots {
        roots.add_non_stack_root(s);
    }
    let err = heap.collect_all(roots, &mut host).unwrap_err();
    assert!(matches!(err, GcError::Corrupt { .. }), "{err}");
    // The bad roots are left alone, the good ones rewritten.
    for (i, raw) in bogus.iter().enumerate() {
        assert_eq!(slots[i].as_ref().map(VMGcRef::as_raw_u32), Some(*raw));
    }
    let b = slots[4].as_ref().unwrap();
    assert_eq!(raw_field(&*heap, b, NODE_NEXT), 3000, "the bad field is left alone");
    assert_eq!(heap.stats().bytes_in_use, 2 * NODE_SIZE);
    assert!(heap.verify().is_err(), "the heap still holds the bad reference");
}

#[test]
fn copying_incremental_collection_finishes_in_bounded_steps() {
    let (mut heap, mut host) = copying(1 << 20);
    let chains = 2000;
    let mut on_stack = Vec::new();
    for i in 0..chains {
        let mut head = None;
        for _ in 0..4 {
            head = Some(node(&mut *heap, &mut host, head.as_ref()));
        }
        if i % 4 == 0 {
            on_stack.push(head);
        }
    }
    // A large array, so a step stops in the middle of an object.
    let arr = heap.alloc_uninit_array(REF_ARRAY, 3000).unwrap();
    for i in 0..3000 {
        let target = on_stack[i as usize % on_stack.len()].as_ref().unwrap().unchecked_copy();
        heap.write_gc_ref_field(&mut host, &arr, ARRAY_ELEMS + 4 * i, Some(&target)).unwrap();
    }
    on_stack.push(Some(arr));
    let roots_len = on_stack.len() as u64;
    let live_chains = (chains / 4) as u64;
    let live_bytes = live_chains * 4 * NODE_SIZE + heap.header(on_stack.last().unwrap().as_ref().unwrap()).unwrap().size() as u64;
    // Units: one per root, one per object scanned, one per reference slot.
    let work = roots_len + (live_chains * 4 + 1) + (live_chains * 4 + 3000);

    let mut roots = GcRoots::new();
    for slot in &mut on_stack {
        roots.add_stack_root(slot);
    }
    let budget = 16;
    let mut gc = heap.collect(roots, &mut host);
    let mut steps = 0u64;
    let mut last = 0;
    while gc.step(budget).unwrap() == GcProgress::Continue {
        steps += 1;
        assert!(gc.work_done() - last <= u64::from(budget), "a step does at most its budget");
        assert!(gc.work_done() > last, "a step makes progress");
        last = gc.work_done();
    }
    assert_eq!(gc.work_done(), work);
    assert!(steps >= work / u64::from(budget) - 1 && steps <= work / u64::from(budget) + 1, "{steps} steps for {work} units");
    assert_eq!(gc.step(budget).unwrap(), GcProgress::Complete);
    drop(gc);
    heap.verify().unwrap();
    assert_eq!(heap.stats().bytes_in_use, live_bytes);
    assert_eq!(heap.stats().collections, 1);
    assert!(heap.stats().longest_pause <= heap.stats().total_pause);
    // The array's elements were rewritten to the moved chains.
    let arr = on_stack.last().unwrap().as_ref().unwrap();
    for i in [0u32, 1, 499, 500, 2999] {
        let target = heap.read_gc_ref_field(arr, ARRAY_ELEMS + 4 * i).unwrap();
        assert_eq!(target, on_stack[i as usize % (on_stack.len() - 1)].as_ref().map(VMGcRef::unchecked_copy));
    }
}

#[test]
fn copying_dropping_a_started_collection_finishes_it() {
    let (mut heap, mut host) = copying(1 << 16);
    let mut held = Vec::new();
    for _ in 0..100 {
        let n = node(&mut *heap, &mut host, held.last().and_then(Option::as_ref));
        held.push(Some(n));
    }
    let before: Vec<u32> = held.iter().map(offset).collect();

    // Not started: nothing happens.
    let mut roots = GcRoots::new();
    for slot in &mut held {
        roots.add_stack_root(slot);
    }
    drop(heap.collect(roots, &mut host));
    assert_eq!(held.iter().map(offset).collect::<Vec<_>>(), before);
    assert_eq!(heap.stats().collections, 0);
    heap.verify().unwrap();

    // Started: the drop completes it.
    let mut roots = GcRoots::new();
    for slot in &mut held {
        roots.add_stack_root(slot);
    }
    let mut gc = heap.collect(roots, &mut host);
    assert_eq!(gc.step(3).unwrap(), GcProgress::Continue);
    drop(gc);
    assert_eq!(heap.stats().collections, 1);
    heap.verify().unwrap();
    for (i, slot) in held.iter().enumerate() {
        assert_ne!(offset(slot), before[i]);
        let next = raw_field(&*heap, slot.as_ref().unwrap(), NODE_NEXT);
        assert_eq!(next, if i == 0 { 0 } else { offset(&held[i - 1]) });
    }
}

#[test]
fn copying_grows_by_picking_a_larger_to_space() {
    let mut heap = new_growable_heap(Collector::Copying, 1024, 1 << 20);
    let mut host = HostDataTable::new();
    let mut held = Vec::new();
    let first = fill_with_nodes(&mut *heap, &mut held);
    assert_eq!(first, (1024 - 16) / 2 / NODE_SIZE);

    // Growing makes room at once: half of the new memory.
    heap.grow(4096).unwrap();
    assert_eq!(heap.stats().heap_size, 5120);
    let more = fill_with_nodes(&mut *heap, &mut held);
    assert_eq!(first + more, (5120 - 16) / 2 / NODE_SIZE);
    heap.verify().unwrap();

    // Everything is alive, and the larger to-space holds it all.
    collect_rooted(&mut *heap, &mut host, &mut held);
    heap.verify().unwrap();
    assert_eq!(heap.stats().bytes_in_use, held.len() as u64 * NODE_SIZE);
    for (i, slot) in held.iter().enumerate() {
        assert!(offset(slot) >= 5120 / 2, "node {i} was copied into the upper half");
    }

    // Grow while the live objects are in the upper half: allocation goes
    // on above them at once.
    heap.grow(8192).unwrap();
    let third = fill_with_nodes(&mut *heap, &mut held);
    assert!(third * NODE_SIZE >= 2048, "{third} nodes");
    heap.verify().unwrap();
    collect_rooted(&mut *heap, &mut host, &mut held);
    heap.verify().unwrap();

    // The live objects were copied up into the new memory; the next
    // collection copies them down to the bottom, and the layout is two
    // halves of the whole memory again. Keep a tenth.
    let mut kept: Vec<Option<VMGcRef>> = held.iter().step_by(10).map(|r| r.as_ref().map(VMGcRef::unchecked_copy)).collect();
    let live = kept.len() as u64 * NODE_SIZE;
    collect_rooted(&mut *heap, &mut host, &mut kept);
    assert_eq!(offset(&kept[0]), FIRST_OBJECT_OFFSET);
    let room = fill_with_nodes(&mut *heap, &mut Vec::new());
    assert_eq!(room, ((13312 - 16) / 2 - live) / NODE_SIZE);
    heap.verify().unwrap();

    assert!(matches!(heap.grow(1 << 20), Err(GcError::HeapLimit { .. })));
}

#[test]
fn copying_reset_empties_the_heap_and_zeroes_on_request() {
    let (mut heap, mut host) = copying(8192);
    let arr = heap.alloc_uninit_array(BYTE_ARRAY, 100).unwrap();
    heap.write_data(&arr, ARRAY_ELEMS, &[0xab; 100]).unwrap();
    let ext = heap.alloc_externref(host.insert(Box::new(1u8)).unwrap()).unwrap();
    let mut slots = [Some(arr), Some(ext)];
    collect_rooted(&mut *heap, &mut host, &mut slots);

    heap.reset(false);
    assert!(heap.memory().bytes().windows(100).any(|w| w == [0xab; 100]), "old contents stay without zeroing");
    check_empty(&mut *heap);

    let arr = heap.alloc_uninit_array(BYTE_ARRAY, 100).unwrap();
    heap.write_data(&arr, ARRAY_ELEMS, &[0xab; 100]).unwrap();
    heap.reset(true);
    assert!(heap.memory().bytes().iter().all(|b| *b == 0));
    check_empty(&mut *heap);
}

fn check_empty(heap: &mut dyn GcHeap) {
    let stats = heap.stats();
    assert_eq!((stats.bytes_in_use, stats.bytes_allocated, stats.collections), (0, 0, 0));
    assert_eq!(heap.verify().unwrap().objects, 0);
    let r = heap.alloc_uninit_array(BYTE_ARRAY, 100).unwrap();
    assert_eq!(r.as_heap_index(), Some(FIRST_OBJECT_OFFSET));
    assert!(heap.read_data(&r, ARRAY_ELEMS, 100).unwrap().iter().all(|b| *b == 0), "new objects are zeroed");
    heap.verify().unwrap();
}

#[test]
fn copying_statistics_track_allocation_and_collections() {
    let (mut heap, mut host) = copying(1 << 16);
    let keep = heap.alloc_uninit_struct(NODE).unwrap();
    for _ in 0..10 {
        let r = heap.alloc_uninit_struct(NODE).unwrap();
        heap.expose_gc_ref_to_wasm(r).unwrap();
    }
    let mut slot = [Some(keep)];
    collect_rooted(&mut *heap, &mut host, &mut slot);
    let s = heap.stats();
    assert_eq!(s.heap_size, 1 << 16);
    assert_eq!(s.bytes_allocated, 11 * NODE_SIZE);
    assert_eq!(s.objects_allocated, 11);
    assert_eq!(s.bytes_in_use, NODE_SIZE);
    assert_eq!(s.live_bytes_after_last_collection, NODE_SIZE);
    assert_eq!(s.collections, 1);
    assert!(s.longest_pause <= s.total_pause);
    // Nothing alive: the next space starts at the bottom again.
    heap.collect_all(GcRoots::new(), &mut host).unwrap();
    assert_eq!(heap.stats().bytes_in_use, 0);
    assert_eq!(heap.alloc_uninit_struct(NODE).unwrap().as_heap_index(), Some(FIRST_OBJECT_OFFSET));
}

#[test]
fn copying_rejects_wrong_allocation_requests() {
    let (mut heap, _) = copying(4096);
    assert!(matches!(heap.alloc_uninit_struct(REF_ARRAY), Err(GcError::WrongType { .. })));
    assert!(matches!(heap.alloc_uninit_array(NODE, 1), Err(GcError::WrongType { .. })));
    assert!(matches!(heap.alloc_uninit_struct(99), Err(GcError::UnknownType(99))));
    assert!(matches!(heap.alloc_uninit_array(REF_ARRAY, u32::MAX), Err(GcError::OutOfMemory { .. })));
    assert!(matches!(heap.alloc_uninit_array(BYTE_ARRAY, 4096), Err(GcError::OutOfMemory { .. })));
    let any = kiln_gc::VMGcHeader::new(kiln_gc::VMGcKind::AnyRef, 0);
    assert!(heap.alloc_raw(any, 16).is_err());
    assert_eq!(heap.collector(), Collector::Copying);
    assert_eq!(Collector::Copying.gc_runtime().unwrap().collector(), Collector::Copying);
}

/// Overwrites the u32 at heap offset `at`.
fn poke(heap: &mut dyn GcHeap, at: u32, value: u32) {
    heap.memory_mut().bytes_mut()[at as usize..at as usize + 4].copy_from_slice(&value.to_le_bytes());
}

#[test]
fn copying_bounds_copies_of_overlapping_objects_by_the_to_space() {
    let (mut heap, mut host) = copying(4096);
    let mut held = Vec::new();
    let n = fill_with_nodes(&mut *heap, &mut held);
    // The first node's size now claims the whole space: copying it fills
    // the to-space, and the nodes "inside" it do not fit any more. (The
    // size is the kind word's size field; the node has no collector bits.)
    let first = FIRST_OBJECT_OFFSET;
    poke(&mut *heap, first + HEADER_KIND_OFFSET, fixed_object_kind_word(kiln_gc::VMGcKind::StructRef, (n * NODE_SIZE) as u32));
    let mut roots = GcRoots::new();
    for slot in &mut held {
        roots.add_stack_root(slot);
    }
    let mut gc = heap.collect(roots, &mut host);
    let (mut steps, mut errors) = (0, 0);
    loop {
        match gc.step(4) {
            Ok(GcProgress::Complete) => break,
            Ok(GcProgress::Continue) => {}
            Err(e) => {
                assert!(matches!(e, GcError::Corrupt { .. }), "{e}");
                errors += 1;
            }
        }
        steps += 1;
        assert!(steps < 4096, "bounded");
    }
    drop(gc);
    assert!(errors > 0);
    assert_eq!(heap.stats().bytes_in_use, n * NODE_SIZE, "one copy filled the to-space");
    heap.reset(false);
    heap.verify().unwrap();
}

#[test]
fn copying_rejects_forged_forwarding_words() {
    let (mut heap, mut host) = copying(4096);
    let a = node(&mut *heap, &mut host, None);
    let b = node(&mut *heap, &mut host, Some(&a));
    let c = node(&mut *heap, &mut host, Some(&a));
    // Forwarding offsets pointing past the copies (into the reserve), at a
    // misaligned offset and outside the heap: `b` is marked forwarded and
    // its type word holds the forged offset.
    let reserve = 16 + 2040;
    for forged in [reserve + 512, reserve + 4, u32::MAX - 7] {
        let kind_word = heap.header(&b).unwrap().kind_word();
        poke(&mut *heap, b.as_raw_u32() + HEADER_KIND_OFFSET, kind_word | COPYING_FORWARDED_BIT);
        poke(&mut *heap, b.as_raw_u32() + COPYING_FORWARDING_OFFSET, forged);
        let mut slots = [Some(b.unchecked_copy()), Some(c.unchecked_copy())];
        let mut roots = GcRoots::new();
        for s in &mut slots {
            roots.add_stack_root(s);
        }
        let err = heap.collect_all(roots, &mut host).unwrap_err();
        assert!(matches!(err, GcError::Corrupt { .. }), "{err}");
        assert_eq!(slots[0].as_ref(), Some(&b), "left alone");
        // `c` and what it references were copied; `b` was not.
        assert_eq!(heap.stats().bytes_in_use, 2 * NODE_SIZE);
        let c2 = slots[1].as_ref().unwrap();
        assert!(heap.read_gc_ref_field(c2, NODE_NEXT).unwrap().is_some());
        heap.verify().unwrap();
        heap.reset(false);
        let (a2, b2, c2) = (
            node(&mut *heap, &mut host, None),
            node(&mut *heap, &mut host, None),
            node(&mut *heap, &mut host, None),
        );
        heap.write_gc_ref_field(&mut host, &b2, NODE_NEXT, Some(&a2)).unwrap();
        heap.write_gc_ref_field(&mut host, &c2, NODE_NEXT, Some(&a2)).unwrap();
        assert_eq!((&a2, &b2, &c2), (&a, &b, &c), "same offsets after the reset");
    }
}

#[test]
fn copying_stale_references_after_a_collection_stay_inside_the_heap() {
    let (mut heap, mut host) = copying(4096);
    let dead = heap.alloc_uninit_array(REF_ARRAY, 4).unwrap();
    let live = node(&mut *heap, &mut host, None);
    let stale_live = live.unchecked_copy();
    let mut slot = [Some(live)];
    collect_rooted(&mut *heap, &mut host, &mut slot);
    // A runtime bug could keep old offsets: they read old or new bytes of
    // this heap, or fail, and never panic.
    for r in [&dead, &stale_live] {
        let _ = heap.header(r);
        let _ = heap.read_data(r, NODE_NEXT, 4);
        let _ = heap.write_data(r, ARRAY_ELEMS, &[1, 2, 3, 4]);
        if let Ok(Some(x)) = heap.read_gc_ref_field(r, NODE_NEXT) {
            heap.drop_gc_ref(&mut host, x).unwrap();
        }
    }
    let mut slots = [Some(dead), Some(stale_live), slot[0].take()];
    let mut roots = GcRoots::new();
    for s in &mut slots {
        roots.add_stack_root(s);
    }
    assert!(heap.collect_all(roots, &mut host).is_err(), "stale roots lie outside the from-space");
    heap.verify().unwrap();
    assert_eq!(heap.stats().bytes_in_use, NODE_SIZE);
}

#[test]
fn copying_halves_a_mostly_empty_large_heap_and_grows_back_into_it() {
    let mut heap = new_growable_heap(Collector::Copying, 64 << 20, 64 << 20);
    let mut host = HostDataTable::new();
    let mut held: Vec<Option<VMGcRef>> = (0..1000).map(|_| Some(heap.alloc_uninit_struct(NODE).unwrap())).collect();
    // The first collection copies the few live nodes into the upper half;
    // the next ones bring them down and halve the heap each time while it
    // is at least 32 MiB.
    for _ in 0..4 {
        collect_rooted(&mut *heap, &mut host, &mut held);
        heap.verify().unwrap();
    }
    assert_eq!(heap.stats().heap_size, 16 << 20, "{:?}", heap.stats());
    assert_eq!(heap.memory().len(), 64 << 20, "the memory stays; its pages are given back");
    assert!(heap.memory().bytes()[16 << 20..].iter().all(|&b| b == 0), "the memory past the heap is zeroed");
    for (i, slot) in held.iter().enumerate() {
        assert!(offset(slot) < 16 << 20, "node {i} lies in the smaller heap");
    }

    // Growing reuses the memory past the end before growing the memory.
    heap.grow(48 << 20).unwrap();
    assert_eq!(heap.stats().heap_size, 64 << 20);
    let more = fill_with_nodes(&mut *heap, &mut held);
    assert!(more * NODE_SIZE > 16 << 20, "{more} nodes");
    heap.verify().unwrap();
    collect_rooted(&mut *heap, &mut host, &mut held);
    heap.verify().unwrap();
}

/// A collection asks for the to-space's pages a stretch ahead of the
/// copies: the stretches asked for cover every copy, in order, before
/// more than the object crossing a stretch's end is written past it, and
/// reach at most 1 MiB past the last copy; also where an array of
/// references short enough to be scanned in one go references 2 MB of
/// objects.
#[test]
fn copying_prefaults_the_to_space_just_ahead_of_the_copies() {
    const ARRAYS: u32 = 2;
    const ELEMS: u32 = 2000;
    const BYTES: u32 = 1000;
    let asked = Arc::default();
    let memory = PrefaultLog { memory: VecMemory::new(24 << 20, 24 << 20), asked: Arc::clone(&asked) };
    let mut heap = Collector::Copying.gc_runtime().unwrap().new_gc_heap(Box::new(memory), types()).unwrap();
    let mut host = HostDataTable::new();
    let outer = heap.alloc_uninit_array(REF_ARRAY, ARRAYS).unwrap();
    for a in 0..ARRAYS {
        let array = heap.alloc_uninit_array(REF_ARRAY, ELEMS).unwrap();
        heap.write_gc_ref_field(&mut host, &outer, ARRAY_ELEMS + 4 * a, Some(&array)).unwrap();
        for i in 0..ELEMS {
            let _garbage = heap.alloc_uninit_array(BYTE_ARRAY, BYTES).unwrap();
            let bytes = heap.alloc_uninit_array(BYTE_ARRAY, BYTES).unwrap();
            heap.write_data(&bytes, ARRAY_ELEMS, &(a * ELEMS + i).to_le_bytes()).unwrap();
            heap.write_gc_ref_field(&mut host, &array, ARRAY_ELEMS + 4 * i, Some(&bytes)).unwrap();
        }
    }
    asked.lock().unwrap().clear();
    let mut slot = [Some(outer)];
    collect_rooted(&mut *heap, &mut host, &mut slot);

    let outer = slot[0].as_ref().unwrap();
    for a in 0..ARRAYS {
        let array = heap.read_gc_ref_field(outer, ARRAY_ELEMS + 4 * a).unwrap().unwrap();
        for i in 0..ELEMS {
            let bytes = heap.read_gc_ref_field(&array, ARRAY_ELEMS + 4 * i).unwrap().unwrap();
            assert_eq!(heap.read_data(&bytes, ARRAY_ELEMS, 4).unwrap(), (a * ELEMS + i).to_le_bytes());
        }
    }
    heap.verify().unwrap();
    let copies = outer.as_heap_index().unwrap() as usize..heap.bump_region().unwrap().0 as usize;
    assert!(copies.len() > 4_000_000, "{copies:?}");
    let asked = asked.lock().unwrap();
    let mut covered = copies.start;
    for (range, written) in asked.iter() {
        assert!(range.start <= covered, "a gap before {range:?}: copies up to {covered:#x} not prefaulted");
        assert!(*written <= 2 * BYTES as usize, "{written} bytes of {range:?} written before it was prefaulted");
        covered = covered.max(range.end);
    }
    assert!(covered >= copies.end, "copies up to {:#x}, prefaulted up to {covered:#x}", copies.end);
    assert!(covered <= copies.end + (1 << 20), "prefaulted up to {covered:#x}, copies up to {:#x}", copies.end);
}

/// A heap of 32 MiB or more gives back the pages of the space a
/// collection copied out of (they read zero again); a smaller one keeps
/// them, as they are, for its next allocations.
#[test]
fn a_large_heap_gives_back_the_space_it_copied_out_of() {
    const MIB: usize = 1 << 20;
    for (heap_bytes, discards) in [(64 * MIB, true), (8 * MIB, false)] {
        let mut heap = new_heap(Collector::Copying, heap_bytes);
        let mut host = HostDataTable::new();
        // Garbage of nonzero bytes (under the plain objects' kilobyte),
        // then a live list.
        let garbage = heap.alloc_uninit_array(BYTE_ARRAY, 500).unwrap();
        heap.write_data(&garbage, ARRAY_ELEMS, &[0xab; 500]).unwrap();
        let at = garbage.as_heap_index().unwrap();
        let mut list = None;
        for _ in 0..1000 {
            list = Some(node(&mut *heap, &mut host, list.as_ref()));
        }
        let mut slots = [list];
        collect_rooted(&mut *heap, &mut host, &mut slots);
        heap.verify().unwrap();
        let old = &heap.memory().bytes()[at as usize..at as usize + 512];
        assert_eq!(old.iter().all(|&b| b == 0), discards, "{heap_bytes}: the old space's bytes");
        let mut r = slots[0].as_ref().unwrap().unchecked_copy();
        let mut length = 1;
        while let Some(next) = heap.read_gc_ref_field(&r, NODE_NEXT).unwrap() {
            (r, length) = (next, length + 1);
        }
        assert_eq!(length, 1000, "{heap_bytes}: the list survived");
    }
}
