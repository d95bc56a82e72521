//! The object layouts of `kiln_environ::gc_layout` and the kind lattice.

mod common;

use common::*;
use kiln_environ::gc_layout::{self, ARRAY_LENGTH_OFFSET, HEADER_SIZE};
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
    assert_eq!(offsets, vec![(16, 1), (24, 8), (32, 2), (36, 4), (48, 16), (64, 4), (68, 4)]);
    assert_eq!(l.size, 72);
    // Only the anyref is traced; the funcref is an id into a side table.
    assert_eq!(l.gc_ref_offsets().collect::<Vec<_>>(), vec![36]);
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
fn empty_struct_is_a_header() {
    let l = gc_layout::struct_layout(&[], &ref_repr);
    assert_eq!(l.size, HEADER_SIZE);
}

#[test]
fn array_elements_start_after_the_length_at_their_alignment() {
    let val = WasmStorageType::Val;
    let base = |s| gc_layout::array_layout(&field(s), &ref_repr).base;
    assert_eq!(ARRAY_LENGTH_OFFSET, 16);
    assert_eq!(base(WasmStorageType::I8), 20);
    assert_eq!(base(WasmStorageType::I16), 20);
    assert_eq!(base(val(WasmValType::I32)), 20);
    assert_eq!(base(val(anyref())), 20);
    assert_eq!(base(val(WasmValType::I64)), 24);
    assert_eq!(base(val(WasmValType::V128)), 32);
    let refs = gc_layout::array_layout(&field(val(anyref())), &ref_repr);
    assert!(refs.elems_are_gc_refs);
    assert_eq!(refs.size_for_len(0), Some(24));
    assert_eq!(refs.size_for_len(3), Some(32));
    assert_eq!(refs.size_for_len(u32::MAX), None, "larger than any object");
    let bytes = gc_layout::array_layout(&field(WasmStorageType::I8), &ref_repr);
    assert!(!bytes.elems_are_gc_refs);
    assert_eq!(bytes.size_for_len(5), Some(32));
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
        assert_eq!(VMGcKind::from_header_word(a.as_u32() | 0x3ff_ffff), Some(a), "collector bits are ignored");
    }
    assert_eq!(VMGcKind::from_header_word(0), None);
    assert!(!AnyRef.is_stored() && !EqRef.is_stored() && !I31Ref.is_stored());
}
