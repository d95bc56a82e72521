//! Barriers and object access, the same for every collector: i31 values
//! pass through untouched, accesses stay inside objects.

mod common;

use common::*;
use kiln_environ::gc_layout::{ARRAY_LENGTH_OFFSET, EXTERNREF_HOST_DATA_INDEX_OFFSET, HEADER_SIZE};
use kiln_gc::{Collector, GcError, GcRoots, HostDataTable, VMGcRef};

const I31S: [i32; 6] = [0, 1, -1, 12345, (1 << 30) - 1, -(1 << 30)];

#[test]
fn i31_values_pass_through_every_barrier_untouched() {
    for collector in ALL_COLLECTORS {
        let mut heap = new_heap(collector, 4096);
        let mut host = HostDataTable::new();
        let holder = node(&mut *heap, &mut host, None);
        let arr = heap.alloc_uninit_array(REF_ARRAY, 2).unwrap();
        let before = heap.memory().bytes().to_vec();
        let stats = heap.stats();

        for v in I31S {
            let i = VMGcRef::from_i31(v);
            let c = heap.clone_gc_ref(&i).unwrap();
            assert_eq!(c, i);
            heap.drop_gc_ref(&mut host, c).unwrap();
            let mut slot = None;
            heap.write_gc_ref(&mut host, &mut slot, Some(&i)).unwrap();
            assert_eq!(slot.as_ref().and_then(VMGcRef::i31_get_s), Some(v));
            heap.write_gc_ref(&mut host, &mut slot, None).unwrap();
            heap.expose_gc_ref_to_wasm(i.unchecked_copy()).unwrap();
            assert_eq!(heap.header(&i), Err(GcError::NotAnObject));
            assert_eq!(heap.array_len(&i), Err(GcError::NotAnObject));
            assert!(heap.read_data(&i, NODE_NEXT, 4).is_err());
        }
        assert_eq!(heap.memory().bytes(), &before[..], "{collector:?}: no barrier touched the heap");
        assert_eq!(heap.stats(), stats);

        // Through heap fields and back.
        for v in I31S {
            let i = VMGcRef::from_i31(v);
            heap.write_gc_ref_field(&mut host, &holder, NODE_NEXT, Some(&i)).unwrap();
            // The array's second element.
            heap.write_gc_ref_field(&mut host, &arr, ARRAY_ELEMS + 4, Some(&i)).unwrap();
            assert_eq!(heap.read_data(&holder, NODE_NEXT, 4).unwrap(), i.as_raw_u32().to_le_bytes());
            let back = heap.read_gc_ref_field(&arr, ARRAY_ELEMS + 4).unwrap().unwrap();
            assert_eq!(back.i31_get_s(), Some(v));
            heap.drop_gc_ref(&mut host, back).unwrap();
        }
        heap.verify().unwrap();

        // As roots. The holder is rooted too (a moving collector may move
        // it: it is found through its rewritten root).
        let holder_header = heap.header(&holder).unwrap();
        let mut s1 = Some(VMGcRef::from_i31(7));
        let mut s2 = Some(VMGcRef::from_i31(-7));
        let mut s3 = Some(holder);
        let mut roots = GcRoots::new();
        roots.add_stack_root(&mut s1);
        roots.add_non_stack_root(&mut s2);
        roots.add_non_stack_root(&mut s3);
        heap.collect_all(roots, &mut host).unwrap();
        assert_eq!(s1.as_ref().and_then(VMGcRef::i31_get_s), Some(7));
        assert_eq!(s2.as_ref().and_then(VMGcRef::i31_get_s), Some(-7));
        let holder = s3.unwrap();
        assert_eq!(heap.header(&holder).unwrap(), holder_header);
        assert_eq!(heap.read_data(&holder, NODE_NEXT, 4).unwrap(), VMGcRef::from_i31(I31S[5]).as_raw_u32().to_le_bytes());
        heap.verify().unwrap();
    }
}

#[test]
fn field_accesses_stay_inside_the_object() {
    for collector in ALL_COLLECTORS {
        let mut heap = new_heap(collector, 4096);
        let mut host = HostDataTable::new();
        let pair = heap.alloc_uninit_struct(PAIR).unwrap();
        let arr = heap.alloc_uninit_array(BYTE_ARRAY, 4).unwrap();
        let ext = heap.alloc_externref(host.insert(Box::new(1u8)).unwrap()).unwrap();
        // The pair's i8 ends at 25, rounded up to 32.
        let size = heap.header(&pair).unwrap().size();
        assert_eq!(size, 32);
        assert!(heap.read_data(&pair, size - 4, 4).is_ok());
        assert!(matches!(heap.read_data(&pair, size - 3, 4), Err(GcError::OutOfBounds { .. })));
        assert!(matches!(heap.read_data(&pair, 0, 4), Err(GcError::OutOfBounds { .. })), "the header is not data");
        assert!(heap.read_data(&pair, u32::MAX, 4).is_err());
        assert!(heap.write_data(&pair, size - 4, &[1; 5]).is_err());
        assert!(heap.write_data(&arr, ARRAY_LENGTH_OFFSET, &[9; 4]).is_err(), "the length cannot be written");
        assert!(heap.write_data(&arr, ARRAY_ELEMS, &[9; 4]).is_ok());
        assert!(heap.write_data(&ext, EXTERNREF_HOST_DATA_INDEX_OFFSET, &[9; 4]).is_err(), "the host-data id cannot be written");
        assert_eq!(heap.array_len(&arr).unwrap(), 4);
        assert!(heap.array_len(&pair).is_err());
        assert!(heap.externref_host_data_id(&pair).is_err());
        // The whole object: 12 + 4 elements = 16 bytes.
        assert_eq!(heap.object_data(&arr).unwrap().len(), 16);
        let bogus = VMGcRef::from_raw_u32(4096 + 8).unwrap();
        assert!(heap.header(&bogus).is_err());
        // Only DRC's barrier reads the object; the others copy the value.
        assert!(heap.clone_gc_ref(&VMGcRef::from_raw_u32(8).unwrap()).is_err() || collector != Collector::Drc);
        heap.verify().unwrap();
    }
}

#[test]
fn data_copies_are_memmoves_inside_the_bodies() {
    for collector in ALL_COLLECTORS {
        let mut heap = new_heap(collector, 4096);
        let a = heap.alloc_uninit_array(BYTE_ARRAY, 8).unwrap();
        let b = heap.alloc_uninit_array(BYTE_ARRAY, 8).unwrap();
        let pair = heap.alloc_uninit_struct(PAIR).unwrap();
        const E: u32 = ARRAY_ELEMS;
        heap.write_data(&a, E, &[1, 2, 3, 4, 5, 6, 7, 8]).unwrap();
        // Overlapping, within one array: `memmove`.
        heap.copy_data(&a, E + 2, &a, E, 6).unwrap();
        assert_eq!(heap.read_data(&a, E, 8).unwrap(), &[1, 2, 1, 2, 3, 4, 5, 6]);
        heap.copy_data(&b, E, &a, E + 4, 4).unwrap();
        assert_eq!(heap.read_data(&b, E, 4).unwrap(), &[3, 4, 5, 6]);
        // Both ranges are checked against their object's body (24 bytes:
        // the 12 + 8 = 20 of the array rounded up).
        let size = heap.header(&b).unwrap().size();
        assert_eq!(size, 24);
        assert!(heap.copy_data(&b, size - 3, &a, E, 4).is_err(), "past the destination");
        assert!(heap.copy_data(&b, E, &a, size - 3, 4).is_err(), "past the source");
        assert!(heap.copy_data(&b, ARRAY_LENGTH_OFFSET, &a, E, 4).is_err(), "over the array's length");
        assert!(heap.copy_data(&pair, 0, &a, E, 4).is_err(), "over a header");
        assert!(heap.copy_data(&b, E, &a, u32::MAX, 4).is_err());
        assert_eq!(heap.array_len(&b).unwrap(), 8);
        heap.verify().unwrap();
    }
}

#[test]
fn funcref_fields_are_not_traced() {
    for collector in ALL_COLLECTORS {
        let mut heap = new_heap(collector, 4096);
        let s = heap.alloc_uninit_struct(FUNC_FIELD).unwrap();
        // Any id is fine: it is not a heap reference. The field is the
        // first, right after the header.
        heap.write_data(&s, HEADER_SIZE, &0xffff_fff8u32.to_le_bytes()).unwrap();
        assert_eq!(heap.verify().unwrap().references, 0);
    }
}

#[test]
fn an_empty_memory_grows_into_a_heap() {
    for collector in ALL_COLLECTORS {
        let mut heap = new_growable_heap(collector, 0, 1 << 16);
        assert!(matches!(heap.alloc_uninit_struct(EMPTY), Err(GcError::OutOfMemory { .. })));
        heap.grow(8).unwrap();
        assert!(heap.alloc_uninit_struct(EMPTY).is_err(), "{collector:?}: 8 bytes hold no object past offset 16");
        heap.grow(1024).unwrap();
        let r = heap.alloc_uninit_struct(EMPTY).unwrap();
        // Bump allocators start at offset 16; the free list splits its
        // block from the end.
        let at = r.as_heap_index().unwrap();
        assert!((16..16 + 1024).contains(&at), "{collector:?}: {at}");
        heap.verify().unwrap();
    }
}
