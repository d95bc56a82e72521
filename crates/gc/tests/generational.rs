//! The generational collector's full collections (mark-compact in place)
//! and promotions in place, on a plain byte-buffer heap.

mod common;

use common::*;
use kiln_gc::{Collector, GcHeap, GcRoots, HostDataTable, VMGcRef};

fn generational(bytes: usize) -> (Box<dyn GcHeap>, HostDataTable) {
    (new_growable_heap(Collector::Generational, bytes, 64 << 20), HostDataTable::new())
}

fn offset(r: &VMGcRef) -> u32 {
    r.as_heap_index().unwrap()
}

fn data(heap: &dyn GcHeap, r: &VMGcRef) -> u64 {
    u64::from_le_bytes(heap.read_data(r, PAIR_DATA, 8).unwrap().try_into().unwrap())
}

fn collect(heap: &mut dyn GcHeap, host: &mut HostDataTable, slots: &mut [Option<VMGcRef>], full: bool) {
    if full {
        heap.request_full_collection();
    }
    let mut roots = GcRoots::new();
    for slot in slots {
        roots.add_stack_root(slot);
    }
    heap.collect_all(roots, host).unwrap();
    heap.verify().unwrap();
}

/// `n` pairs holding 0..n, every other one rooted (the others garbage).
fn pairs(heap: &mut dyn GcHeap, n: u64) -> Vec<Option<VMGcRef>> {
    let mut kept = Vec::new();
    for i in 0..n {
        let r = heap.alloc_uninit_struct(PAIR).unwrap();
        heap.write_data(&r, PAIR_DATA, &i.to_le_bytes()).unwrap();
        if i % 2 == 0 {
            kept.push(Some(r));
        }
    }
    kept
}

#[test]
fn a_full_collection_slides_the_survivors_down_back_to_back() {
    let (mut heap, mut host) = generational(1 << 20);
    // Promoted once (a full collection), then garbage made between them.
    let mut kept = pairs(&mut *heap, 2000);
    collect(&mut *heap, &mut host, &mut kept, true);
    let before: Vec<u32> = kept.iter().map(|r| offset(r.as_ref().unwrap())).collect();
    kept.retain(|r| data(&*heap, r.as_ref().unwrap()).is_multiple_of(4));
    collect(&mut *heap, &mut host, &mut kept, true);

    let after: Vec<u32> = kept.iter().map(|r| offset(r.as_ref().unwrap())).collect();
    assert!(after.windows(2).all(|w| u64::from(w[1] - w[0]) == PAIR_SIZE), "packed, in address order");
    assert_eq!(after[0], before[0], "the first survivor was already at the bottom");
    assert!(after.iter().zip(before.iter().step_by(2)).all(|(a, b)| a <= b), "every survivor moved down or stayed");
    for (i, r) in kept.iter().enumerate() {
        assert_eq!(data(&*heap, r.as_ref().unwrap()), 4 * i as u64);
    }
    assert_eq!(heap.stats().bytes_in_use, kept.len() as u64 * PAIR_SIZE);
}

/// The pair's i8 ends at 25, rounded up to 8.
const PAIR_SIZE: u64 = 32;

#[test]
fn a_full_collection_rewrites_every_reference_to_a_moved_object() {
    let (mut heap, mut host) = generational(1 << 20);
    // A list of 3,000 nodes, each with a dead node allocated after it,
    // and a pair whose two fields name the first and the last node.
    let mut head: Option<VMGcRef> = None;
    let mut last = None;
    for _ in 0..3000 {
        let n = node(&mut *heap, &mut host, head.as_ref());
        last.get_or_insert_with(|| n.unchecked_copy());
        head = Some(n);
        node(&mut *heap, &mut host, None);
    }
    let pair = heap.alloc_uninit_struct(PAIR).unwrap();
    heap.write_gc_ref_field(&mut host, &pair, PAIR_LEFT, head.as_ref()).unwrap();
    heap.write_gc_ref_field(&mut host, &pair, PAIR_RIGHT, last.as_ref()).unwrap();
    let mut slots = [Some(pair), head];
    collect(&mut *heap, &mut host, &mut slots, true);

    let pair = slots[0].as_ref().unwrap().unchecked_copy();
    let first = heap.read_gc_ref_field(&pair, PAIR_LEFT).unwrap().unwrap();
    assert_eq!(Some(&first), slots[1].as_ref(), "the root and the field name the same copy");
    let (mut at, mut len) = (Some(first), 0);
    let mut end = None;
    while let Some(n) = at {
        len += 1;
        at = heap.read_gc_ref_field(&n, NODE_NEXT).unwrap();
        end = Some(n);
    }
    assert_eq!(len, 3000);
    assert_eq!(end, heap.read_gc_ref_field(&pair, PAIR_RIGHT).unwrap(), "the other field names the list's end");
    assert_eq!(heap.stats().bytes_in_use, 3000 * NODE_SIZE + PAIR_SIZE);
}

#[test]
fn a_full_collection_drops_dead_externrefs_host_data_exactly_once() {
    let (mut heap, mut host) = generational(1 << 20);
    let (live, dead) = (counter(), counter());
    let live_ext = heap.alloc_externref(host.insert(Box::new(DropCounter(live.clone()))).unwrap()).unwrap();
    let holder = node(&mut *heap, &mut host, Some(&live_ext));
    let dead_ext = heap.alloc_externref(host.insert(Box::new(DropCounter(dead.clone()))).unwrap()).unwrap();
    for r in [live_ext, dead_ext] {
        heap.expose_gc_ref_to_wasm(r).unwrap();
    }
    let mut slot = [Some(holder)];
    collect(&mut *heap, &mut host, &mut slot, true);
    assert_eq!((drops(&live), drops(&dead)), (0, 1));
    collect(&mut *heap, &mut host, &mut slot, true);
    assert_eq!((drops(&live), drops(&dead)), (0, 1), "not dropped twice");
    collect(&mut *heap, &mut host, &mut [], true);
    assert_eq!((drops(&live), drops(&dead)), (1, 1));
    assert!(host.is_empty());
}

#[test]
fn a_nursery_that_mostly_survived_is_promoted_in_place_and_its_dead_freed_later() {
    let (mut heap, mut host) = generational(8 << 20);
    // All of it survives an evacuating minor collection...
    let mut kept: Vec<Option<VMGcRef>> = (0..10_000).map(|_| Some(node(&mut *heap, &mut host, None))).collect();
    collect(&mut *heap, &mut host, &mut kept, false);
    assert_eq!(heap.stats().promotions_in_place, 0);
    // ...so the next one promotes in place, dead objects included.
    let mut more = pairs(&mut *heap, 10_000);
    kept.append(&mut more);
    collect(&mut *heap, &mut host, &mut kept, false);
    let stats = heap.stats();
    assert_eq!((stats.minor_collections, stats.promotions_in_place), (2, 1), "{stats:?}");
    let live = 10_000 * NODE_SIZE + 5000 * PAIR_SIZE;
    assert_eq!(stats.bytes_in_use, live + 5000 * PAIR_SIZE, "the dead pairs are in use until a full collection");
    for (i, r) in kept[10_000..].iter().enumerate() {
        assert_eq!(data(&*heap, r.as_ref().unwrap()), 2 * i as u64, "promoted where it was");
    }

    collect(&mut *heap, &mut host, &mut kept, true);
    assert_eq!(heap.stats().bytes_in_use, live);
    for (i, r) in kept[10_000..].iter().enumerate() {
        assert_eq!(data(&*heap, r.as_ref().unwrap()), 2 * i as u64);
    }
}

/// Steps of one unit each still make progress: marking visits at least one
/// slot of the object it takes up.
#[test]
fn a_full_collection_in_steps_of_one_unit_ends() {
    use kiln_gc::GcProgress;
    let (mut heap, mut host) = generational(1 << 20);
    let array = heap.alloc_uninit_array(REF_ARRAY, 100).unwrap();
    for i in 0..100u32 {
        let n = node(&mut *heap, &mut host, None);
        heap.write_gc_ref_field(&mut host, &array, ARRAY_ELEMS + 4 * i, Some(&n)).unwrap();
    }
    heap.request_full_collection();
    let mut slot = [Some(array)];
    let mut roots = GcRoots::new();
    roots.add_stack_root(&mut slot[0]);
    let mut gc = heap.collect(roots, &mut host);
    let mut steps = 0;
    while gc.step(1).unwrap() != GcProgress::Complete {
        steps += 1;
        assert!(steps < 10_000, "no progress");
    }
    drop(gc);
    heap.verify().unwrap();
    assert_eq!(heap.stats().bytes_in_use, 100 * NODE_SIZE + heap.header(slot[0].as_ref().unwrap()).unwrap().size() as u64);
}
