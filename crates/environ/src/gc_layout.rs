//! The layout of objects in a GC heap, defined once here and read by the
//! collectors (kiln-gc, to walk and trace objects) and by the compiler
//! (kiln-cranelift, to emit inline allocation, field accesses and barriers).
//!
//! A GC heap is one contiguous region; a reference to an object is its byte
//! offset in that region. Every object starts 8-byte aligned with the same
//! 8-byte header, whichever collector manages the heap:
//! ```text
//!    0  kind word: u32    bits 26..32: VMGcKind
//!                         bits 8..26:  the object's size (see below)
//!                         bits 0..8:   the collector's (mark bits, "queued
//!                                      for freeing", "forwarded", ...)
//!    4  type_index: u32   engine-wide shared type index
//!                         (EXTERNREF_TYPE_INDEX for externref objects);
//!                         copying collectors overwrite it with the
//!                         forwarding offset once the object is copied
//! ```
//! The size field says how many bytes the object occupies, header
//! included (a multiple of 8, at least [`MIN_OBJECT_SIZE`], so a heap can
//! be walked object by object): for structs, exceptions and externrefs it
//! is the size in 8-byte granules (it may exceed what the type needs by the
//! allocator's rounding); for arrays it holds the log2 of the element size
//! in bits 8..11, and the size follows from the length
//! ([`array_object_size`]). A free block (in collectors that have them)
//! has a kind word of zero and its size in the second word.
//!
//! The header has no room for a collector's per-object word: DRC puts an
//! 8-byte prefix before each object holding its reference count
//! ([`DRC_PREFIX_SIZE`]); copying collectors forward through the type
//! word.
//!
//! The body follows:
//! - struct (and exception) objects: fields in declaration order from
//!   offset 8, each at its natural alignment;
//! - arrays: `length: u32` at offset 8, elements from the first offset
//!   >= 12 aligned to the element's alignment;
//! - externref objects: the host-data id, index `u32` at 8 and generation
//!   `u32` at 12; 16 bytes in all.
//!
//! Invariants:
//! - Offsets are relative to the object's start. Objects are 8-aligned, so a
//!   field's address is aligned to `min(its alignment, 8)`.
//! - Multi-byte values are little-endian.
//! - Offset 0 of a heap never holds an object (so a reference is never 0,
//!   and 0 means null); objects start at [`FIRST_OBJECT_OFFSET`] or later.
//! - A GC reference stored in an object is 4 bytes: a heap offset (a
//!   multiple of 8), an i31 value `(v << 1) | 1`, or 0 for null.
//! - A funcref stored in an object is a 4-byte id into the store's func-ref
//!   table, never a pointer: nothing inside a GC heap is trusted, and a
//!   pointer read from it could have been forged.
//! - Fields are laid out in declaration order, never reordered to save
//!   padding: a struct subtype's fields extend its supertype's, and this keeps
//!   every inherited field at the same offset, so code compiled against the
//!   supertype reads a subtype object correctly.

use crate::{RefRepr, WasmCompositeType, WasmFieldType, WasmHeapType, WasmRefType, WasmStorageType, WasmValType};

/// Size of the header every object starts with.
pub const HEADER_SIZE: u32 = 8;
/// Alignment of every object, and granule of every object size.
pub const OBJECT_ALIGN: u32 = 8;
/// The smallest object: a header and 8 bytes of body, what an array (its
/// length) and an externref (its id) need at least. Empty structs are
/// rounded up to it, so every object has a body and no object is as small
/// as the smallest free block.
pub const MIN_OBJECT_SIZE: u32 = 16;
/// The lowest offset an object may start at: offset 0 must never be a valid
/// reference, so the first granule of a heap stays unused.
pub const FIRST_OBJECT_OFFSET: u32 = 16;

pub const HEADER_KIND_OFFSET: u32 = 0;
pub const HEADER_TYPE_INDEX_OFFSET: u32 = 4;
/// Where the size field starts in the kind word, and its width.
pub const HEADER_SIZE_SHIFT: u32 = 8;
pub const HEADER_SIZE_BITS: u32 = 18;
/// The largest struct, exception or externref object the size field can
/// describe. Wasm's limits keep every struct and exception below it
/// (10,000 fields of at most 16 bytes; 1,000 parameters).
pub const MAX_FIXED_OBJECT_SIZE: u32 = ((1 << HEADER_SIZE_BITS) - 1) * OBJECT_ALIGN;

/// The kind word of a new struct, exception or externref object of `size`
/// bytes (a multiple of 8 up to [`MAX_FIXED_OBJECT_SIZE`]).
pub const fn fixed_object_kind_word(kind: VMGcKind, size: u32) -> u32 {
    kind.as_u32() | ((size / OBJECT_ALIGN) << HEADER_SIZE_SHIFT)
}

/// The kind word of a new array with elements of `elem_size` bytes (1, 2,
/// 4, 8 or 16).
pub const fn array_kind_word(elem_size: u32) -> u32 {
    VMGcKind::ArrayRef.as_u32() | (elem_size.trailing_zeros() << HEADER_SIZE_SHIFT)
}

/// The size field of a kind word.
pub const fn header_size_field(kind_word: u32) -> u32 {
    (kind_word >> HEADER_SIZE_SHIFT) & ((1 << HEADER_SIZE_BITS) - 1)
}

/// The size of an array object whose kind word has size field
/// `size_field` (the log2 of its element size) and whose length is `len`.
/// Computed in 64 bits: a corrupt length gives a size past any heap, never
/// an overflow.
pub const fn array_object_size(size_field: u32, len: u32) -> u64 {
    let log2 = size_field & 0b111;
    let elem_size = 1u64 << log2;
    let base = if elem_size <= 4 { ARRAY_ELEMS_MIN_OFFSET as u64 } else { 16 };
    (base + ((len as u64) << log2)).next_multiple_of(OBJECT_ALIGN as u64)
}

/// DRC: every object is preceded by a prefix of this many bytes: the word
/// [`DRC_PREFIX_MARKER`] (a kind word no free block has, so a DRC heap
/// walks block by block: each starts with a free block's header or a
/// prefix), then the object's reference count (u32, at
/// [`DRC_REF_COUNT_OFFSET`] from the object), counting references held
/// by the heap, tables, globals and the host (not by the Wasm stack).
pub const DRC_PREFIX_SIZE: u32 = 8;
pub const DRC_PREFIX_MARKER: u32 = u32::MAX;
pub const DRC_REF_COUNT_OFFSET: i32 = -4;
/// DRC collector bits (in the header's kind word): the object's count
/// reached zero and it waits to be freed.
pub const DRC_PENDING_FREE_BIT: u32 = 1;
/// DRC: the object is in the over-approximated stack root log (which
/// holds one count for it). Compiled code's read barrier tests this bit
/// inline and calls out only to log a reference not yet logged.
pub const DRC_LOGGED_BIT: u32 = 2;
/// DRC: marked live by a backup tracing collection (set only while one
/// runs).
pub const DRC_MARK_BIT: u32 = 4;
/// DRC: found on a Wasm stack by the collection under way (set between
/// its stack-root and reconcile phases).
pub const DRC_ON_STACK_BIT: u32 = 8;
/// DRC: allocated since the last collection from the bump region (always
/// with `DRC_LOGGED_BIT`). Such an object has no entry in the root log:
/// the collection finds it by walking the spans the region left behind,
/// and the count an entry would hold is in its count from birth. So
/// compiled code allocates inline without touching the log.
pub const DRC_FRESH_BIT: u32 = 16;
/// DRC: a barrier log entry with this bit set (heap offsets are 8-aligned)
/// names an object whose count compiled code brought to zero (marking it
/// `DRC_PENDING_FREE_BIT`), to be freed; without it, an object compiled
/// code logged as referenced from the stack (`DRC_LOGGED_BIT` set and its
/// count incremented for the entry).
pub const DRC_LOG_ZERO_COUNT_TAG: u32 = 1;
/// Generational collector: the heap is cut into cards of
/// `1 << CARD_SHIFT` bytes, and the write barrier marks the card holding
/// the header of an object it stores a reference into (one byte per card;
/// see kiln-gc's `cards.rs`). 512 bytes: a card's object starts fit one
/// 64-bit word (one bit per 8-byte granule).
pub const CARD_SHIFT: u32 = 9;
/// The value the write barrier stores into a card to mark it.
pub const CARD_MARKED: u8 = 1;
/// Copying collector bit: the object was copied during the collection
/// under way, and its type word holds the copy's offset.
pub const COPYING_FORWARDED_BIT: u32 = 0x80;
/// Copying: where a forwarded object's copy is.
pub const COPYING_FORWARDING_OFFSET: u32 = HEADER_TYPE_INDEX_OFFSET;

/// `type_index` of externref objects: no engine type has this index.
pub const EXTERNREF_TYPE_INDEX: u32 = u32::MAX;
pub const EXTERNREF_HOST_DATA_INDEX_OFFSET: u32 = 8;
pub const EXTERNREF_HOST_DATA_GENERATION_OFFSET: u32 = 12;
pub const EXTERNREF_SIZE: u32 = 16;

pub const ARRAY_LENGTH_OFFSET: u32 = 8;
/// Array elements start at the first offset from here aligned to the
/// element's alignment.
pub const ARRAY_ELEMS_MIN_OFFSET: u32 = 12;

/// Size of a GC reference inside an object (and of a funcref id).
pub const GC_REF_SIZE: u32 = 4;

/// The largest object size: sizes are u32 multiples of 8.
pub const MAX_OBJECT_SIZE: u32 = u32::MAX & !(OBJECT_ALIGN - 1);

/// What kind of object a header describes, in the high 6 bits of its first
/// word.
///
/// The values encode the abstract subtype lattice as bit sets: `a` is a
/// subtype of `b` exactly when `a & b == b` ([`VMGcKind::matches`]), so
/// compiled code tests a kind with one mask and one compare. Struct and
/// array include the eq bits, which include the any bit.
///
/// Only [`VMGcKind::is_stored`] kinds appear in headers: any and eq are
/// abstract, and an i31 is a tagged value with no object behind it. They are
/// here so a heap type maps to the kind its test compares against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum VMGcKind {
    ExternRef = 0b100000 << VMGcKind::SHIFT,
    AnyRef = 0b010000 << VMGcKind::SHIFT,
    EqRef = 0b011000 << VMGcKind::SHIFT,
    StructRef = 0b011100 << VMGcKind::SHIFT,
    ArrayRef = 0b011010 << VMGcKind::SHIFT,
    I31Ref = 0b011001 << VMGcKind::SHIFT,
    ExnRef = 0b000011 << VMGcKind::SHIFT,
}

impl VMGcKind {
    pub const SHIFT: u32 = 26;
    /// The bits of a header's first word holding the kind.
    pub const MASK: u32 = 0b111111 << Self::SHIFT;
    /// The bits of a header's first word left to the collector.
    pub const COLLECTOR_BITS_MASK: u32 = 0xff;

    pub const ALL: [VMGcKind; 7] = [
        VMGcKind::ExternRef,
        VMGcKind::AnyRef,
        VMGcKind::EqRef,
        VMGcKind::StructRef,
        VMGcKind::ArrayRef,
        VMGcKind::I31Ref,
        VMGcKind::ExnRef,
    ];

    /// The kind in a header's first word, if its kind bits name one.
    #[inline]
    pub fn from_header_word(word: u32) -> Option<VMGcKind> {
        const fn bits(k: VMGcKind) -> u32 {
            k as u32 >> VMGcKind::SHIFT
        }
        // A match on the kind bits, not a search of `ALL`: the collectors
        // decode a kind per object they visit.
        Some(match word >> Self::SHIFT {
            b if b == bits(VMGcKind::ExternRef) => VMGcKind::ExternRef,
            b if b == bits(VMGcKind::AnyRef) => VMGcKind::AnyRef,
            b if b == bits(VMGcKind::EqRef) => VMGcKind::EqRef,
            b if b == bits(VMGcKind::StructRef) => VMGcKind::StructRef,
            b if b == bits(VMGcKind::ArrayRef) => VMGcKind::ArrayRef,
            b if b == bits(VMGcKind::I31Ref) => VMGcKind::I31Ref,
            b if b == bits(VMGcKind::ExnRef) => VMGcKind::ExnRef,
            _ => return None,
        })
    }

    pub const fn as_u32(self) -> u32 {
        self as u32
    }

    /// Is `self` a subtype of `other` (or equal)?
    pub fn matches(self, other: VMGcKind) -> bool {
        self.as_u32() & other.as_u32() == other.as_u32()
    }

    /// Can this kind appear in an object header?
    pub fn is_stored(self) -> bool {
        matches!(self, VMGcKind::ExternRef | VMGcKind::StructRef | VMGcKind::ArrayRef | VMGcKind::ExnRef)
    }

    /// The kind a value must match to be of abstract heap type `heap`;
    /// `None` for function types, bottom types and concrete types.
    pub fn for_abstract_heap_type(heap: WasmHeapType) -> Option<VMGcKind> {
        use WasmHeapType as H;
        Some(match heap {
            H::Extern => VMGcKind::ExternRef,
            H::Any => VMGcKind::AnyRef,
            H::Eq => VMGcKind::EqRef,
            H::I31 => VMGcKind::I31Ref,
            H::Struct => VMGcKind::StructRef,
            H::Array => VMGcKind::ArrayRef,
            H::Exn => VMGcKind::ExnRef,
            H::Func | H::NoFunc | H::NoExtern | H::None | H::NoExn | H::Concrete(_) => return None,
        })
    }
}

/// Where one struct field lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GcFieldLayout {
    pub offset: u32,
    pub size: u32,
    /// Does the field hold a GC reference (traced by collectors)?
    pub is_gc_ref: bool,
}

/// Layout of a struct type (or of an exception's payload).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct GcStructLayout {
    /// Object size, header included, a multiple of 8.
    pub size: u32,
    pub fields: Box<[GcFieldLayout]>,
}

impl GcStructLayout {
    /// Offsets of the fields holding GC references, ascending.
    pub fn gc_ref_offsets(&self) -> impl Iterator<Item = u32> + '_ {
        self.fields.iter().filter(|f| f.is_gc_ref).map(|f| f.offset)
    }
}

/// Layout of an array type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GcArrayLayout {
    /// Offset of element 0.
    pub base: u32,
    pub elem_size: u32,
    pub elems_are_gc_refs: bool,
}

impl GcArrayLayout {
    /// Object size of an array of `len` elements, or `None` if it does not
    /// fit in [`MAX_OBJECT_SIZE`].
    pub fn size_for_len(&self, len: u32) -> Option<u32> {
        let end = u64::from(self.base) + u64::from(len) * u64::from(self.elem_size);
        let size = align_up(end, u64::from(OBJECT_ALIGN));
        u32::try_from(size).ok().filter(|s| *s <= MAX_OBJECT_SIZE)
    }

    /// Offset of element `index`, relative to the object.
    pub fn elem_offset(&self, index: u32) -> u64 {
        u64::from(self.base) + u64::from(index) * u64::from(self.elem_size)
    }
}

/// Layout of a struct or array type.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum GcLayout {
    Struct(GcStructLayout),
    Array(GcArrayLayout),
}

/// Computes object layouts. Every collector uses [`StandardLayouts`] today;
/// the trait lets a future collector with a different body layout say so
/// in one place (`GcRuntime::layouts`).
///
/// `ref_repr` says how a reference type is represented, which depends on
/// whether a concrete type index names a function type (see
/// `ModuleInfo::ref_repr`).
pub trait GcTypeLayouts: Send + Sync {
    fn struct_layout(&self, fields: &[WasmFieldType], ref_repr: &dyn Fn(WasmRefType) -> RefRepr) -> GcStructLayout {
        struct_layout(fields, ref_repr)
    }

    fn array_layout(&self, elem: &WasmFieldType, ref_repr: &dyn Fn(WasmRefType) -> RefRepr) -> GcArrayLayout {
        array_layout(elem, ref_repr)
    }

    /// The layout of a composite type; `None` for function types, which
    /// have no GC objects.
    fn gc_layout(&self, ty: &WasmCompositeType, ref_repr: &dyn Fn(WasmRefType) -> RefRepr) -> Option<GcLayout> {
        match ty {
            WasmCompositeType::Func(_) => None,
            WasmCompositeType::Struct(fields) => Some(GcLayout::Struct(self.struct_layout(fields, ref_repr))),
            WasmCompositeType::Array(elem) => Some(GcLayout::Array(self.array_layout(elem, ref_repr))),
        }
    }
}

/// The layout described at the top of this module.
#[derive(Debug, Clone, Copy, Default)]
pub struct StandardLayouts;

impl GcTypeLayouts for StandardLayouts {}

/// Size (which is also the alignment) of a field of type `storage`, and
/// whether it holds a GC reference.
pub fn storage_size(storage: WasmStorageType, ref_repr: &dyn Fn(WasmRefType) -> RefRepr) -> (u32, bool) {
    match storage {
        WasmStorageType::I8 => (1, false),
        WasmStorageType::I16 => (2, false),
        WasmStorageType::Val(v) => match v {
            WasmValType::I32 | WasmValType::F32 => (4, false),
            WasmValType::I64 | WasmValType::F64 => (8, false),
            WasmValType::V128 => (16, false),
            WasmValType::Ref(r) => match ref_repr(r) {
                RefRepr::GcRef => (GC_REF_SIZE, true),
                RefRepr::FuncRef => (GC_REF_SIZE, false),
            },
        },
    }
}

/// The standard layout of a struct with `fields`.
///
/// Wasm limits a struct to 10,000 fields of at most 16 bytes, so the
/// arithmetic here cannot overflow.
pub fn struct_layout(fields: &[WasmFieldType], ref_repr: &dyn Fn(WasmRefType) -> RefRepr) -> GcStructLayout {
    let fields: Box<[GcFieldLayout]> = struct_field_layouts(fields, ref_repr).collect();
    GcStructLayout { size: struct_size(&fields), fields }
}

/// The layouts of `fields`, in order, without allocating (see
/// [`struct_layout`]).
pub fn struct_field_layouts<'a>(fields: &'a [WasmFieldType], ref_repr: &'a dyn Fn(WasmRefType) -> RefRepr) -> impl Iterator<Item = GcFieldLayout> + 'a {
    let mut end = HEADER_SIZE;
    fields.iter().map(move |f| {
        let (size, is_gc_ref) = storage_size(f.storage, ref_repr);
        let offset = align_up(u64::from(end), u64::from(size)) as u32;
        end = offset + size;
        GcFieldLayout { offset, size, is_gc_ref }
    })
}

/// The size of a struct whose fields are laid out as `fields`.
pub fn struct_size(fields: &[GcFieldLayout]) -> u32 {
    let end = fields.last().map_or(HEADER_SIZE, |f| f.offset + f.size).max(MIN_OBJECT_SIZE);
    align_up(u64::from(end), u64::from(OBJECT_ALIGN)) as u32
}

/// The layout of an exception object thrown with a tag of parameters
/// `params`: a struct whose field 0 (a u32) identifies the tag instance
/// (an index the runtime assigns) and whose other fields are the payload.
/// Its header's type index is the tag's function type.
pub fn exception_layout(params: &[WasmValType], ref_repr: &dyn Fn(WasmRefType) -> RefRepr) -> GcStructLayout {
    let field = |v: WasmValType| WasmFieldType { storage: WasmStorageType::Val(v), mutable: false };
    let fields: Vec<WasmFieldType> = std::iter::once(field(WasmValType::I32)).chain(params.iter().copied().map(field)).collect();
    struct_layout(&fields, ref_repr)
}

/// The standard layout of an array of `elem`.
pub fn array_layout(elem: &WasmFieldType, ref_repr: &dyn Fn(WasmRefType) -> RefRepr) -> GcArrayLayout {
    let (elem_size, elems_are_gc_refs) = storage_size(elem.storage, ref_repr);
    let base = align_up(u64::from(ARRAY_ELEMS_MIN_OFFSET), u64::from(elem_size)) as u32;
    GcArrayLayout { base, elem_size, elems_are_gc_refs }
}

fn align_up(n: u64, align: u64) -> u64 {
    n.div_ceil(align) * align
}
