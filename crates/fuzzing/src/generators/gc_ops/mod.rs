//! Typed GC operation sequences, and the module they compile to.
//!
//! A test case is a small family of GC types with subtyping (structs
//! below a root struct `$obj` whose only field is an immutable `i64` id;
//! arrays of `i64`, `i8` or `anyref`, some subtypes of others) and a
//! straight-line sequence of operations on ten `anyref` *slots*: four
//! locals of the exported function `run`, two globals and four elements
//! of a table. Operations allocate (`struct.new`, `array.new`,
//! `array.new_fixed`, `ref.i31`), copy references between slots, read and
//! write fields and elements (`struct.get/set`, `array.get/set/len`,
//! `array.fill`, `array.copy`), test and cast (`ref.test`, `ref.cast`),
//! compare identities (`ref.eq`), collect (the host's `gc`, also while a
//! callee's local holds the only reference) and allocate garbage in loops
//! to fill the heap.
//!
//! Every read is passed to the host's `observe(i64)`: numbers as they are,
//! references through the module's `describe` (null, an i31 value, a
//! struct's id, an array's length; see `describe`), so the oracle can
//! compare the whole run with a model. Typed accesses are guarded by a
//! `ref.test` whose result is observed too, so most sequences run to the
//! end; what may trap is explicit: array indices (out of bounds) and
//! `Cast` (a failing `ref.cast`). At the end every slot is observed.
//!
//! Bounded by construction: at most `MAX_OPS` operations, arrays of at
//! most `MAX_ARRAY_LEN` elements (but for one `array.new` in sixteen, of
//! `LONG_ARRAY_BYTES`), loops of at most `MAX_CHURN` garbage
//! allocations.

mod encode;

pub use encode::{DESCRIBE_ARRAY, DESCRIBE_I31, DESCRIBE_NULL, module};

use arbitrary::{Arbitrary, Result, Unstructured};

/// How a field or an array element is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Storage {
    I64,
    /// Packed: read back zero-extended (`struct.get_u`, `array.get_u`).
    I8,
    /// `(mut anyref)`.
    Ref,
}

impl Storage {
    /// The bytes an array element of this storage takes in the heap.
    pub fn bytes(self) -> u32 {
        match self {
            Storage::I64 => 8,
            Storage::I8 => 1,
            Storage::Ref => 4,
        }
    }
}

/// A struct type: `structs[0]` is the root `$obj` (one immutable `i64`
/// id field); every other has a parent and extends its fields.
#[derive(Debug, Clone)]
pub struct StructDef {
    pub parent: Option<usize>,
    /// All fields, inherited ones first; field 0 is the id, the rest are
    /// mutable.
    pub fields: Vec<Storage>,
    pub is_final: bool,
}

/// An array type (mutable elements), perhaps a subtype of an earlier one
/// of the same element storage.
#[derive(Debug, Clone)]
pub struct ArrayDef {
    pub elem: Storage,
    pub parent: Option<usize>,
    pub is_final: bool,
}

/// The module's GC types, all in one recursion group (so no two are the
/// same type, however alike).
#[derive(Debug, Clone)]
pub struct GcTypes {
    pub structs: Vec<StructDef>,
    pub arrays: Vec<ArrayDef>,
}

/// Where a reference lives: `run`'s locals, the globals, the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    Local(u32),
    Global(u32),
    Table(u32),
}

pub const LOCALS: u32 = 4;
pub const GLOBALS: u32 = 2;
pub const TABLE_SIZE: u32 = 4;

/// Every slot, in the order the final observations visit them.
pub fn all_slots() -> impl Iterator<Item = Slot> {
    (0..LOCALS).map(Slot::Local).chain((0..GLOBALS).map(Slot::Global)).chain((0..TABLE_SIZE).map(Slot::Table))
}

/// A reference operand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefSrc {
    Null,
    /// `ref.i31` of this value (wrapped to 31 bits).
    I31(i32),
    Slot(Slot),
}

/// A value for a field or element of a given storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Init {
    /// For `I64` as is, for `I8` truncated.
    Num(i64),
    Ref(RefSrc),
}

/// What `ref.test` tests against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Any,
    Eq,
    I31,
    Struct,
    Array,
    None,
    ConcreteStruct(usize),
    ConcreteArray(usize),
}

/// One operation. Type operands index `GcTypes::structs` / `arrays`.
#[derive(Debug, Clone)]
pub enum GcOp {
    /// `struct.new` with the next id and `inits` for the other fields.
    NewStruct { dst: Slot, ty: usize, inits: Vec<Init> },
    NewArray { dst: Slot, ty: usize, len: u32, init: Init },
    NewArrayFixed { dst: Slot, ty: usize, inits: Vec<Init> },
    Set { dst: Slot, value: RefSrc },
    Observe { src: Slot },
    /// Guarded by `ref.test (ref $ty)`; observes the test, then the field.
    GetField { src: Slot, ty: usize, field: u32 },
    SetField { dst: Slot, ty: usize, field: u32, value: Init },
    /// Guarded by `ref.test (ref array)`.
    ArrayLen { src: Slot },
    /// Guarded by the type test; the index is not: it may trap.
    ArrayGet { src: Slot, ty: usize, index: u32 },
    ArraySet { dst: Slot, ty: usize, index: u32, value: Init },
    ArrayFill { dst: Slot, ty: usize, offset: u32, value: Init, len: u32 },
    /// Both arrays' element storage is the same.
    ArrayCopy { dst: Slot, dst_ty: usize, dst_offset: u32, src: Slot, src_ty: usize, src_offset: u32, len: u32 },
    Test { src: Slot, target: Target, nullable: bool },
    /// An unguarded `ref.cast` (dropped): traps unless the value fits.
    Cast { src: Slot, target: Target, nullable: bool },
    /// `ref.eq` of the two slots.
    RefEq { a: Slot, b: Slot },
    /// The host collects.
    Gc,
    /// The slot is cleared and its value passed to `hold`, which collects
    /// while its parameter is the only reference, then returns it to the
    /// slot.
    GcHolding { slot: Slot },
    /// A loop allocating this many garbage structs.
    Churn { count: u32 },
}

/// A test case.
#[derive(Debug, Clone)]
pub struct GcOps {
    pub types: GcTypes,
    pub ops: Vec<GcOp>,
}

pub const MAX_OPS: usize = 48;
pub const MAX_ARRAY_LEN: u32 = 8;
/// The sizes of the rare long arrays: a plain object for the copying
/// collector if its elements are numbers (from 1 KiB), and just past the
/// copying collector's large-object threshold (64 KiB) and the
/// generational one's (256 KiB).
pub const LONG_ARRAY_BYTES: [u32; 3] = [2_000, 66_000, 263_000];
pub const MAX_CHURN: u32 = 300;
const MAX_NEW_STRUCTS: usize = 4;
const MAX_ARRAYS: usize = 3;

impl<'a> Arbitrary<'a> for GcOps {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let types = types(u)?;
        let mut ops = Vec::new();
        // Until the input runs out: a continue-or-stop flag per step
        // would make most sequences a handful of steps long.
        while !u.is_empty() && ops.len() < MAX_OPS {
            ops.push(op(u, &types)?);
        }
        Ok(GcOps { types, ops })
    }
}

fn storage(u: &mut Unstructured<'_>) -> Result<Storage> {
    Ok(*u.choose(&[Storage::I64, Storage::I8, Storage::Ref])?)
}

/// The root struct, 0 to 4 more structs and 1 to 3 arrays; a type is
/// final only if nothing extends it (and the input says so).
fn types(u: &mut Unstructured<'_>) -> Result<GcTypes> {
    let mut structs = vec![StructDef { parent: None, fields: vec![Storage::I64], is_final: false }];
    let mut final_wanted = vec![false];
    for _ in 0..u.int_in_range(0..=MAX_NEW_STRUCTS)? {
        let parent = u.choose_index(structs.len())?;
        let mut fields = structs[parent].fields.clone();
        for _ in 0..u.int_in_range(0..=2)? {
            fields.push(storage(u)?);
        }
        structs.push(StructDef { parent: Some(parent), fields, is_final: false });
        final_wanted.push(u.arbitrary()?);
    }
    let mut arrays: Vec<ArrayDef> = Vec::new();
    for _ in 0..u.int_in_range(1..=MAX_ARRAYS)? {
        let parent = if arrays.is_empty() || u.ratio(1, 2)? { None } else { Some(u.choose_index(arrays.len())?) };
        let elem = match parent {
            Some(p) => arrays[p].elem,
            None => storage(u)?,
        };
        arrays.push(ArrayDef { elem, parent, is_final: u.arbitrary()? });
    }
    for i in 0..structs.len() {
        structs[i].is_final = final_wanted[i] && !structs.iter().any(|s| s.parent == Some(i));
    }
    for i in 0..arrays.len() {
        arrays[i].is_final = arrays[i].is_final && !arrays.iter().any(|a| a.parent == Some(i));
    }
    Ok(GcTypes { structs, arrays })
}

fn slot(u: &mut Unstructured<'_>) -> Result<Slot> {
    Ok(match u.int_in_range(0..=3)? {
        0 | 1 => Slot::Local(u.int_in_range(0..=LOCALS - 1)?),
        2 => Slot::Global(u.int_in_range(0..=GLOBALS - 1)?),
        _ => Slot::Table(u.int_in_range(0..=TABLE_SIZE - 1)?),
    })
}

fn ref_src(u: &mut Unstructured<'_>) -> Result<RefSrc> {
    Ok(match u.int_in_range(0..=5)? {
        0 => RefSrc::Null,
        1 => RefSrc::I31(if u.ratio(1, 2)? { u.int_in_range(-3..=3)? } else { u.arbitrary()? }),
        _ => RefSrc::Slot(slot(u)?),
    })
}

fn init(u: &mut Unstructured<'_>, storage: Storage) -> Result<Init> {
    Ok(match storage {
        Storage::Ref => Init::Ref(ref_src(u)?),
        Storage::I64 | Storage::I8 => Init::Num(if u.ratio(1, 2)? { u.int_in_range(-2..=300)? } else { u.arbitrary()? }),
    })
}

/// The length of an `array.new`: at most [`MAX_ARRAY_LEN`], or in one
/// case of sixteen a long array (one of [`LONG_ARRAY_BYTES`]), for the
/// collectors' plain- and large-object spaces and their sweeps.
fn array_len(u: &mut Unstructured<'_>, elem: Storage) -> Result<u32> {
    if u.ratio(1, 16)? {
        return Ok(*u.choose(&LONG_ARRAY_BYTES)? / elem.bytes());
    }
    u.int_in_range(0..=MAX_ARRAY_LEN)
}

/// An array index, offset or length: mostly small enough for most arrays
/// (a trap ends the sequence), sometimes near or past the longest ones,
/// sometimes where `offset + len` overflows 32 bits.
fn index(u: &mut Unstructured<'_>) -> Result<u32> {
    Ok(match u.int_in_range(0..=15)? {
        0..=11 => u.int_in_range(0..=2)?,
        12..=14 => u.int_in_range(3..=MAX_ARRAY_LEN + 1)?,
        _ => *u.choose(&[u32::MAX, u32::MAX - 1, 1 << 31])?,
    })
}

fn target(u: &mut Unstructured<'_>, types: &GcTypes) -> Result<Target> {
    Ok(match u.int_in_range(0..=7)? {
        0 => Target::Any,
        1 => Target::Eq,
        2 => Target::I31,
        3 => Target::Struct,
        4 => Target::Array,
        5 => Target::None,
        6 => Target::ConcreteStruct(u.choose_index(types.structs.len())?),
        _ => Target::ConcreteArray(u.choose_index(types.arrays.len())?),
    })
}

fn op(u: &mut Unstructured<'_>, types: &GcTypes) -> Result<GcOp> {
    let st = |u: &mut Unstructured<'_>| u.choose_index(types.structs.len());
    let at = |u: &mut Unstructured<'_>| u.choose_index(types.arrays.len());
    // A failing `Cast` ends the sequence: it is one operation in 40.
    Ok(match u.int_in_range(0..=39)? {
        0 | 1 => {
            let ty = st(u)?;
            let inits = types.structs[ty].fields[1..].iter().map(|s| init(u, *s)).collect::<Result<_>>()?;
            GcOp::NewStruct { dst: slot(u)?, ty, inits }
        }
        2 => {
            let ty = at(u)?;
            GcOp::NewArray { dst: slot(u)?, ty, len: array_len(u, types.arrays[ty].elem)?, init: init(u, types.arrays[ty].elem)? }
        }
        3 => {
            let ty = at(u)?;
            let n = u.int_in_range(0..=4)?;
            let inits = (0..n).map(|_| init(u, types.arrays[ty].elem)).collect::<Result<_>>()?;
            GcOp::NewArrayFixed { dst: slot(u)?, ty, inits }
        }
        4 => GcOp::Set { dst: slot(u)?, value: ref_src(u)? },
        5 => GcOp::Observe { src: slot(u)? },
        6 | 7 => {
            let ty = st(u)?;
            GcOp::GetField { src: slot(u)?, ty, field: u.choose_index(types.structs[ty].fields.len())? as u32 }
        }
        8 | 9 => {
            let ty = st(u)?;
            let fields = &types.structs[ty].fields;
            if fields.len() == 1 {
                // Only the immutable id: nothing to set.
                return Ok(GcOp::Observe { src: slot(u)? });
            }
            let field = u.int_in_range(1..=fields.len() - 1)?;
            GcOp::SetField { dst: slot(u)?, ty, field: field as u32, value: init(u, fields[field])? }
        }
        10 => GcOp::ArrayLen { src: slot(u)? },
        11 => GcOp::ArrayGet { src: slot(u)?, ty: at(u)?, index: index(u)? },
        12 => {
            let ty = at(u)?;
            GcOp::ArraySet { dst: slot(u)?, ty, index: index(u)?, value: init(u, types.arrays[ty].elem)? }
        }
        13 => {
            let ty = at(u)?;
            GcOp::ArrayFill { dst: slot(u)?, ty, offset: index(u)?, value: init(u, types.arrays[ty].elem)?, len: index(u)? }
        }
        14 => array_copy(u, types)?,
        15 => GcOp::Test { src: slot(u)?, target: target(u, types)?, nullable: u.arbitrary()? },
        16 => GcOp::Cast { src: slot(u)?, target: target(u, types)?, nullable: u.arbitrary()? },
        17 | 20..=23 => GcOp::RefEq { a: slot(u)?, b: slot(u)? },
        18 | 24..=26 => {
            if u.arbitrary()? {
                GcOp::Gc
            } else {
                GcOp::GcHolding { slot: slot(u)? }
            }
        }
        19 | 27..=28 => GcOp::Churn { count: u.int_in_range(1..=MAX_CHURN)? },
        29..=32 => GcOp::Observe { src: slot(u)? },
        _ => GcOp::Set { dst: slot(u)?, value: RefSrc::Slot(slot(u)?) },
    })
}

/// An `array.copy` between two array types of the same element storage
/// (the destination's is the source's: validation requires it).
fn array_copy(u: &mut Unstructured<'_>, types: &GcTypes) -> Result<GcOp> {
    let dst_ty = u.choose_index(types.arrays.len())?;
    let same: Vec<usize> = (0..types.arrays.len()).filter(|a| types.arrays[*a].elem == types.arrays[dst_ty].elem).collect();
    let src_ty = *u.choose(&same)?;
    Ok(GcOp::ArrayCopy { dst: slot(u)?, dst_ty, dst_offset: index(u)?, src: slot(u)?, src_ty, src_offset: index(u)?, len: index(u)? })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cases() -> Vec<GcOps> {
        let bytes: Vec<u8> = (0u32..40_000).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
        let mut u = Unstructured::new(&bytes);
        let mut out = Vec::new();
        while !u.is_empty() {
            out.push(GcOps::arbitrary(&mut u).unwrap());
        }
        out
    }

    #[test]
    fn every_generated_module_validates() {
        let mut validator = wasmparser::Validator::new_with_features(kiln_environ::wasm_features());
        for case in cases() {
            assert!(case.ops.len() <= MAX_OPS);
            let wasm = module(&case);
            validator.reset();
            validator.validate_all(&wasm).unwrap_or_else(|e| panic!("{e}\n{case:#?}"));
        }
    }

    #[test]
    fn some_arrays_are_long_enough_for_each_space_apart() {
        let mut x: u32 = 0x2545_f491;
        let bytes: Vec<u8> = (0..200_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect();
        let mut u = Unstructured::new(&bytes);
        let mut sizes = std::collections::BTreeSet::new();
        while !u.is_empty() {
            let case = GcOps::arbitrary(&mut u).unwrap();
            for op in &case.ops {
                if let GcOp::NewArray { ty, len, .. } = op
                    && *len > MAX_ARRAY_LEN
                {
                    sizes.insert(len * case.types.arrays[*ty].elem.bytes() / 1000);
                }
            }
        }
        let has = |kb: std::ops::Range<u32>| sizes.iter().any(|s| kb.contains(s));
        assert!(has(1..64) && has(65..256) && has(262..300), "{sizes:?}");
    }

    #[test]
    fn subtypes_extend_their_parents_and_finals_have_no_children() {
        for case in cases() {
            let t = &case.types;
            for (i, s) in t.structs.iter().enumerate().skip(1) {
                let p = &t.structs[s.parent.unwrap()];
                assert_eq!(&s.fields[..p.fields.len()], &p.fields[..]);
                assert!(!p.is_final);
                assert!(!s.is_final || !t.structs.iter().any(|c| c.parent == Some(i)));
            }
            for a in &t.arrays {
                if let Some(p) = a.parent {
                    assert_eq!(t.arrays[p].elem, a.elem);
                    assert!(!t.arrays[p].is_final);
                }
            }
        }
    }
}
