//! The object layouts of `kiln_environ::gc_layout` and the kind lattice.

mod common;

use common::*;
use kiln_environ::gc_layout::{self, ARRAY_ELEMS_MIN_OFFSET, ARRAY_LENGTH_OFFSET, HEADER_SIZE, MIN_OBJECT_SIZE};
use kiln_environ::{StandardLayouts, GcTypeLayouts, WasmCompositeType, WasmStorageType, WasmValType};
use kiln_gc::{GcLayout, VMGcKind};

#[test]
fn struct_fields_follow_declaration_order_at_natural_alignment() {
    let val = WasmStorageType::Val;
    let fields = [
        field(WasmStorageType::I8),
        field(val(WasmValType::I64)),
        field(WasmStorageType::I16),
        field(val(anyref())),
        field(val(WasmValType::V128)),
        field(val(WasmValType::Ref(kiln_environ::WasmRefType::FUNCREF))),
        field(val(WasmValType::F32)),
    ];
    let l = gc_layout::struct_layout(&fields, &ref_repr);
    let offsets: Vec<_> = l.fields.iter().map(|f| (f.offset, f.size)).collect();
    // From the end of the 8-byte header, each field at the next offset
    // aligned to its size (padding after the i8 and the anyref).
    assert_eq!(HEADER_SIZE, 8);
    assert_eq!(offsets, vec![(8, 1), (16, 8), (24, 2), (28, 4), (32, 16), (48, 4), (52, 4)]);
    assert_eq!(l.size, 56);
    // Only the anyref is traced; the funcref is an id into a side table.
    assert_eq!(l.gc_ref_offsets().collect::<Vec<_>>(), vec![28]);
}

#[test]
fn a_struct_subtype_keeps_its_supertypes_field_offsets() {
    let val = WasmStorageType::Val;
    let sup = [field(WasmStorageType::I8), field(val(anyref()))];
    let sub = [field(WasmStorageType::I8), field(val(anyref())), field(val(WasmValType::I64)), field(WasmStorageType::I8)];
    let a = gc_layout::struct_layout(&sup, &ref_repr);
    let b = gc_layout::struct_layout(&sub, &ref_repr);
    assert_eq!(a.fields[..], b.fields[..2]);
}

#[test]
fn empty_struct_is_the_smallest_object() {
    // A header only, padded to the smallest object (so DRC's count table
    // has one entry per object); as is a struct whose fields fit in the
    // padding.
    let l = gc_layout::struct_layout(&[], &ref_repr);
    assert_eq!(l.size, MIN_OBJECT_SIZE);
    assert!(HEADER_SIZE < MIN_OBJECT_SIZE);
    let l = gc_layout::struct_layout(&[field(WasmStorageType::Val(WasmValType::I64))], &ref_repr);
    assert_eq!(l.size, MIN_OBJECT_SIZE);
}

#[test]
fn array_elements_start_after_the_length_at_their_alignment() {
    let val = WasmStorageType::Val;
    let base = |s| gc_layout::array_layout(&field(s), &ref_repr).base;
    assert_eq!(ARRAY_LENGTH_OFFSET, HEADER_SIZE);
    assert_eq!(ARRAY_ELEMS_MIN_OFFSET, ARRAY_LENGTH_OFFSET + 4);
    assert_eq!(base(WasmStorageType::I8), 12);
    assert_eq!(base(WasmStorageType::I16), 12);
    assert_eq!(base(val(WasmValType::I32)), 12);
    assert_eq!(base(val(anyref())), 12);
    assert_eq!(base(val(WasmValType::I64)), 16);
    assert_eq!(base(val(WasmValType::V128)), 16);
    let refs = gc_layout::array_layout(&field(val(anyref())), &ref_repr);
    assert!(refs.elems_are_gc_refs);
    // An empty array is its header and length, rounded up to 8: the
    // smallest object.
    assert_eq!(refs.size_for_len(0), Some(MIN_OBJECT_SIZE));
    // 12 + 3 * 4 = 24.
    assert_eq!(refs.size_for_len(3), Some(24));
    assert_eq!(refs.size_for_len(u32::MAX), None, "larger than any object");
    let bytes = gc_layout::array_layout(&field(WasmStorageType::I8), &ref_repr);
    assert!(!bytes.elems_are_gc_refs);
    // 12 + 5 = 17, rounded up to 24.
    assert_eq!(bytes.size_for_len(5), Some(24));
    // The header's size field (the log2 of the element size) and the
    // length give the same size as the layout.
    for (elem, log2) in [(WasmStorageType::I8, 0), (val(anyref()), 2), (val(WasmValType::I64), 3), (val(WasmValType::V128), 4)] {
        let a = gc_layout::array_layout(&field(elem), &ref_repr);
        let size_field = gc_layout::header_size_field(gc_layout::array_kind_word(a.elem_size));
        assert_eq!(size_field, log2, "{elem:?}");
        for len in [0, 1, 3, 5, 100] {
            assert_eq!(Some(gc_layout::array_object_size(size_field, len)), a.size_for_len(len).map(u64::from), "{elem:?} x {len}");
        }
    }
}

#[test]
fn function_types_have_no_gc_layout() {
    let f = WasmCompositeType::Func(kiln_environ::WasmFuncType { params: Box::new([]), results: Box::new([]) });
    assert_eq!(StandardLayouts.gc_layout(&f, &ref_repr), None);
    assert!(matches!(layouts()[NODE as usize], GcLayout::Struct(_)));
}

#[test]
fn kind_subtyping_is_one_mask_and_compare() {
    use VMGcKind::*;
    // The abstract subtype relation, spelled out.
    let sub = |a: VMGcKind, b: VMGcKind| {
        a == b
            || matches!(
                (a, b),
                (EqRef | StructRef | ArrayRef | I31Ref, AnyRef) | (StructRef | ArrayRef | I31Ref, EqRef)
            )
    };
    for a in VMGcKind::ALL {
        for b in VMGcKind::ALL {
            assert_eq!(a.matches(b), sub(a, b), "{a:?} <: {b:?}");
        }
        assert_eq!(VMGcKind::from_header_word(a.as_u32() | 0x3ff_ffff), Some(a), "the size field and collector bits are ignored");
    }
    assert_eq!(VMGcKind::from_header_word(0), None);
    assert!(!AnyRef.is_stored() && !EqRef.is_stored() && !I31Ref.is_stored());
}
