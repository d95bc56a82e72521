//! Corruption: random values written over headers, lengths and references
//! of a populated heap, then every heap operation and full collections.
//! Each must return `Ok` or `Err`: no panic, no access outside the heap,
//! and no work beyond a bound linear in the heap's size (checked by
//! counting collection steps at a small budget).
//!
//! A fixed-seed loop over thousands of cases; a failure names its case, and
//! `case(collector, seed)` replays it. `KILN_GC_CORRUPTION_CASES=n` runs n
//! cases per collector instead, for longer local runs.

mod common;

use common::*;
use kiln_environ::gc_layout::{ARRAY_LENGTH_OFFSET, HEADER_SIZE};
use kiln_gc::{Collector, GcHeap, GcProgress, GcRoots, HostDataTable, VMGcRef};
use std::panic::{AssertUnwindSafe, catch_unwind};

const CASES: u64 = 3000;

fn cases(default: u64) -> u64 {
    std::env::var("KILN_GC_CORRUPTION_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(default)
}
const HEAP: usize = 16 * 1024;

#[test]
fn corrupt_drc_heaps_never_panic_or_loop() {
    run(Collector::Drc, cases(CASES));
}

#[test]
fn corrupt_copying_heaps_never_panic_or_loop() {
    run(Collector::Copying, cases(CASES));
}

#[test]
fn corrupt_generational_heaps_never_panic_or_loop() {
    run(Collector::Generational, cases(CASES));
}

#[test]
fn corrupt_null_heaps_never_panic_or_loop() {
    run(Collector::Null, cases(CASES / 3));
}

fn run(collector: Collector, cases: u64) {
    let mut seen = Seen::default();
    for seed in 0..cases {
        match catch_unwind(AssertUnwindSafe(|| case(collector, seed))) {
            Ok(s) => {
                seen.verify_errors += s.verify_errors;
                seen.collect_errors += s.collect_errors;
            }
            Err(_) => panic!("{collector:?} corruption case {seed} panicked"),
        }
    }
    // The corruptions are real: the verifier notices most of them, and
    // collections meet some.
    assert!(seen.verify_errors > cases / 2, "{seen:?}");
    if collector != Collector::Null {
        assert!(seen.collect_errors > cases / 10, "{seen:?}");
    }
}

/// What a case observed.
#[derive(Debug, Default)]
struct Seen {
    /// Cases where the verifier rejected the corrupted heap.
    verify_errors: u64,
    /// Collection steps that reported an error.
    collect_errors: u64,
}

struct World {
    heap: Box<dyn GcHeap>,
    host: HostDataTable,
    /// Every object ever allocated (some freed since).
    objects: Vec<u32>,
    /// Stack slots and globals the runtime would report as roots.
    stack: Vec<Option<VMGcRef>>,
    globals: Vec<Option<VMGcRef>>,
}

fn case(collector: Collector, seed: u64) -> Seen {
    let mut seen = Seen::default();
    let mut rng = Rng::new(seed);
    let mut w = World { heap: new_growable_heap(collector, HEAP, 2 * HEAP), host: HostDataTable::new(), objects: vec![], stack: vec![], globals: vec![] };
    populate(&mut w, &mut rng);
    w.heap.verify().expect("an uncorrupted heap verifies");

    for _ in 0..1 + rng.below(6) {
        corrupt(&mut w, &mut rng);
    }
    seen.verify_errors += u64::from(w.heap.verify().is_err());
    exercise(&mut w, &mut rng);
    seen.collect_errors += collect(&mut w, &mut rng);
    exercise(&mut w, &mut rng);
    seen.collect_errors += collect(&mut w, &mut rng);

    // Whatever happened, a reset heap is sound again, zeroed or not.
    w.heap.reset(seed % 2 == 0);
    assert_eq!(w.heap.verify().unwrap().objects, 0);
    w.heap.alloc_uninit_struct(PAIR).unwrap();
    seen
}

/// About 40 objects of every kind, linked at random, held by stack slots,
/// globals, the root log, or nothing.
fn populate(w: &mut World, rng: &mut Rng) {
    // Objects that stay alive at least until the next collection.
    let mut linkable: Vec<u32> = Vec::new();
    for _ in 0..40 {
        let heap = &mut *w.heap;
        let pick = |rng: &mut Rng, linkable: &[u32]| -> Option<VMGcRef> {
            match rng.below(4) {
                0 => None,
                1 => Some(VMGcRef::from_i31(rng.next_u32() as i32)),
                _ if linkable.is_empty() => None,
                _ => VMGcRef::from_raw_u32(linkable[rng.below(linkable.len() as u64) as usize]),
            }
        };
        let r = match rng.below(7) {
            0 => {
                let r = heap.alloc_uninit_struct(NODE).unwrap();
                heap.write_gc_ref_field(&mut w.host, &r, NODE_NEXT, pick(rng, &linkable).as_ref()).unwrap();
                r
            }
            1 => {
                let r = heap.alloc_uninit_struct(PAIR).unwrap();
                heap.write_gc_ref_field(&mut w.host, &r, PAIR_LEFT, pick(rng, &linkable).as_ref()).unwrap();
                heap.write_gc_ref_field(&mut w.host, &r, PAIR_RIGHT, pick(rng, &linkable).as_ref()).unwrap();
                heap.write_data(&r, PAIR_DATA, &rng.next_u64().to_le_bytes()).unwrap();
                r
            }
            2 => {
                let len = rng.below(7) as u32;
                let r = heap.alloc_uninit_array(REF_ARRAY, len).unwrap();
                for i in 0..len {
                    heap.write_gc_ref_field(&mut w.host, &r, ARRAY_ELEMS + 4 * i, pick(rng, &linkable).as_ref()).unwrap();
                }
                r
            }
            3 => {
                let len = rng.below(41) as u32;
                let r = heap.alloc_uninit_array(BYTE_ARRAY, len).unwrap();
                let bytes: Vec<u8> = (0..len).map(|_| rng.next_u32() as u8).collect();
                heap.write_data(&r, ARRAY_ELEMS, &bytes).unwrap();
                r
            }
            4 => heap.alloc_uninit_struct(EMPTY).unwrap(),
            5 => heap.alloc_uninit_struct(FUNC_FIELD).unwrap(),
            _ => {
                let id = w.host.insert(Box::new(rng.next_u32())).unwrap();
                heap.alloc_externref(id).unwrap()
            }
        };
        let raw = r.as_raw_u32();
        w.objects.push(raw);
        match rng.below(4) {
            0 => {
                w.stack.push(Some(r.unchecked_copy()));
                heap.expose_gc_ref_to_wasm(r).unwrap();
                linkable.push(raw);
            }
            1 => {
                let mut g = None;
                heap.write_gc_ref(&mut w.host, &mut g, Some(&r)).unwrap();
                heap.drop_gc_ref(&mut w.host, r).unwrap();
                w.globals.push(g);
                linkable.push(raw);
            }
            2 => {
                heap.expose_gc_ref_to_wasm(r).unwrap();
                linkable.push(raw);
            }
            _ => heap.drop_gc_ref(&mut w.host, r).unwrap(),
        }
    }
}

/// A value worth writing into a header, a length or a reference.
fn nasty(rng: &mut Rng, old: u32, objects: &[u32]) -> u32 {
    match rng.below(9) {
        0 => rng.next_u32(),
        1 => old ^ (1 << rng.below(32)),
        2 => old.wrapping_add(8),
        3 => old.wrapping_sub(8),
        4 => 0,
        5 => u32::MAX,
        6 => objects[rng.below(objects.len() as u64) as usize].wrapping_add([0, 4, 8, 1][rng.below(4) as usize]),
        7 => rng.below(64) as u32,
        _ => old.wrapping_mul(2),
    }
}

fn corrupt(w: &mut World, rng: &mut Rng) {
    let obj = w.objects[rng.below(w.objects.len() as u64) as usize] as usize;
    let at = match rng.below(4) {
        // A header word: the kind word (kind, size field and collector
        // bits) or the type index (a forwarding offset during a copy).
        0 => obj + 4 * rng.below(2) as usize,
        // An array length (or whatever sits there).
        1 => obj + ARRAY_LENGTH_OFFSET as usize,
        // A reference field (or data): the first four words of the body.
        2 => obj + HEADER_SIZE as usize + 4 * rng.below(4) as usize,
        // Anywhere.
        _ => rng.below(HEAP as u64 - 4) as usize,
    };
    let mem = w.heap.memory_mut().bytes_mut();
    let Some(word) = mem.get_mut(at..at + 4) else { return };
    let old = u32::from_le_bytes([word[0], word[1], word[2], word[3]]);
    let new = nasty(rng, old, &w.objects);
    word.copy_from_slice(&new.to_le_bytes());
}

/// Every heap operation, on every object and on made-up references.
fn exercise(w: &mut World, rng: &mut Rng) {
    let mut raws = w.objects.clone();
    for _ in 0..10 {
        raws.push(nasty(rng, 16, &w.objects));
    }
    let heap = &mut *w.heap;
    let host = &mut w.host;
    for raw in raws {
        let Some(r) = VMGcRef::from_raw_u32(raw) else { continue };
        let _ = heap.header(&r);
        let _ = heap.array_len(&r);
        let _ = heap.object_data(&r).map(<[u8]>::len);
        let _ = heap.read_data(&r, rng.below(64) as u32, rng.below(16) as u32);
        let _ = heap.write_data(&r, HEADER_SIZE + rng.below(48) as u32, &[rng.next_u32() as u8; 3]);
        if let Ok(id) = heap.externref_host_data_id(&r) {
            let _ = host.get(id);
        }
        // The node's and the pair's references, the first array elements
        // and whatever else lies there.
        let field = [NODE_NEXT, ARRAY_ELEMS, PAIR_LEFT, PAIR_RIGHT][rng.below(4) as usize];
        if let Ok(Some(x)) = heap.read_gc_ref_field(&r, field) {
            let _ = heap.drop_gc_ref(host, x);
        }
        if rng.chance(3) {
            let src = VMGcRef::from_raw_u32(nasty(rng, raw, &w.objects));
            let _ = heap.write_gc_ref_field(host, &r, field, src.as_ref());
        }
        if let Ok(c) = heap.clone_gc_ref(&r) {
            if rng.chance(2) {
                let _ = heap.expose_gc_ref_to_wasm(c);
            } else {
                let _ = heap.drop_gc_ref(host, c);
            }
        }
        if rng.chance(8) {
            let _ = heap.drop_gc_ref(host, r.unchecked_copy());
        }
        let mut slot = VMGcRef::from_raw_u32(nasty(rng, raw, &w.objects));
        let _ = heap.write_gc_ref(host, &mut slot, Some(&r));
    }
    for _ in 0..4 {
        let allocated = match rng.below(4) {
            0 => heap.alloc_uninit_struct(NODE),
            1 => heap.alloc_uninit_struct(PAIR),
            2 => heap.alloc_uninit_array(REF_ARRAY, rng.below(10) as u32),
            _ => {
                let id = host.insert(Box::new(0u8)).unwrap();
                heap.alloc_externref(id)
            }
        };
        if let Ok(r) = allocated {
            w.objects.push(r.as_raw_u32());
            let _ = heap.expose_gc_ref_to_wasm(r);
        }
    }
    if rng.chance(8) {
        let _ = heap.grow(rng.below(4096));
    }
    let _ = heap.verify();
}

/// A full collection at a random small budget, with made-up roots added,
/// stepping through errors. Its work must stay linear in the heap size.
/// Returns how many steps failed.
fn collect(w: &mut World, rng: &mut Rng) -> u64 {
    let mut junk: Vec<Option<VMGcRef>> = (0..8).map(|_| VMGcRef::from_raw_u32(nasty(rng, 16, &w.objects))).collect();
    let mut roots = GcRoots::new();
    for slot in &mut w.stack {
        roots.add_stack_root(slot);
    }
    for slot in &mut w.globals {
        roots.add_non_stack_root(slot);
    }
    for (i, slot) in junk.iter_mut().enumerate() {
        if i % 2 == 0 {
            roots.add_stack_root(slot);
        } else {
            roots.add_non_stack_root(slot);
        }
    }
    let bound = roots.len() as u64 + w.heap.memory().len() as u64 + 16;
    let budget = 1 + rng.below(32) as u32;
    let mut gc = w.heap.collect(roots, &mut w.host);
    let mut steps = 0u64;
    let mut errors = 0;
    loop {
        match gc.step(budget) {
            Ok(GcProgress::Complete) => break,
            Ok(GcProgress::Continue) => {}
            Err(_) => errors += 1,
        }
        steps += 1;
        assert!(steps <= bound, "collection work is not bounded by the heap size");
    }
    assert!(gc.work_done() <= bound * u64::from(budget));
    errors
}
