//! A model of a `GcOps` run: the object graph as Rust values, and what
//! each operation observes or where it traps.
//!
//! Objects are numbered in allocation order (garbage from `Churn` loops
//! is never reachable, so it is not modelled); a struct's id is its
//! position among the sequence's structs, as `encode` assigns them.
//! Collections change nothing here: that is the point.

use crate::generators::gc_ops::{
    DESCRIBE_ARRAY, DESCRIBE_I31, DESCRIBE_NULL, GLOBALS, GcOp, GcOps, GcTypes, Init, LOCALS, RefSrc, Slot, Storage, TABLE_SIZE, Target, all_slots,
};
use kiln::Trap;

/// A reference: null, an i31 (its value, already wrapped to 31 bits) or
/// an object by number. Equal exactly when `ref.eq` says so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ref {
    Null,
    I31(i32),
    Obj(usize),
}

/// A field or element.
#[derive(Debug, Clone, Copy)]
enum Value {
    /// Numbers as read back (`i8` already truncated, zero-extended).
    Num(i64),
    Ref(Ref),
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Struct(usize),
    Array(usize),
}

#[derive(Debug, Clone)]
struct Object {
    kind: Kind,
    /// A struct's fields (the id first) or an array's elements.
    values: Vec<Value>,
}

/// What the model expects of a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    pub observed: Vec<i64>,
    /// For each observation, the index of the operation that made it
    /// (`ops.len()` for the final observations of every slot).
    pub origin: Vec<usize>,
    /// `None` if `run` returns, else the trap that ends it.
    pub trap: Option<Trap>,
}

struct Model<'a> {
    types: &'a GcTypes,
    objects: Vec<Object>,
    slots: [Ref; (LOCALS + GLOBALS + TABLE_SIZE) as usize],
    next_id: i64,
    observed: Vec<i64>,
    origin: Vec<usize>,
    op_index: usize,
}

/// Runs `case` on the model.
pub fn expected(case: &GcOps) -> Expected {
    let mut m = Model { types: &case.types, objects: Vec::new(), slots: [Ref::Null; 10], next_id: 0, observed: Vec::new(), origin: Vec::new(), op_index: 0 };
    for (i, op) in case.ops.iter().enumerate() {
        m.op_index = i;
        if let Err(trap) = m.op(op) {
            return Expected { observed: m.observed, origin: m.origin, trap: Some(trap) };
        }
    }
    m.op_index = case.ops.len();
    for slot in all_slots() {
        let d = m.describe(m.slot(slot));
        m.observe(d);
    }
    Expected { observed: m.observed, origin: m.origin, trap: None }
}

fn slot_index(slot: Slot) -> usize {
    match slot {
        Slot::Local(i) => i as usize,
        Slot::Global(i) => (LOCALS + i) as usize,
        Slot::Table(i) => (LOCALS + GLOBALS + i) as usize,
    }
}

/// `i31.get_s (ref.i31 v)`: the low 31 bits, sign-extended.
fn wrap_i31(v: i32) -> i32 {
    (v << 1) >> 1
}

/// Is every `array.*` access of `offset..offset+len` inside `len_of`?
fn in_bounds(offset: u32, len: u32, len_of: usize) -> Result<(), Trap> {
    if u64::from(offset) + u64::from(len) <= len_of as u64 { Ok(()) } else { Err(Trap::ArrayOutOfBounds) }
}

impl Model<'_> {
    fn slot(&self, slot: Slot) -> Ref {
        self.slots[slot_index(slot)]
    }

    fn observe(&mut self, v: i64) {
        self.observed.push(v);
        self.origin.push(self.op_index);
    }

    fn observe_bool(&mut self, b: bool) {
        self.observe(i64::from(b));
    }

    fn resolve(&self, r: RefSrc) -> Ref {
        match r {
            RefSrc::Null => Ref::Null,
            RefSrc::I31(v) => Ref::I31(wrap_i31(v)),
            RefSrc::Slot(s) => self.slot(s),
        }
    }

    fn value(&self, init: Init, storage: Storage) -> Value {
        match (init, storage) {
            (Init::Num(v), Storage::I64) => Value::Num(v),
            (Init::Num(v), Storage::I8) => Value::Num(i64::from(v as u8)),
            (Init::Ref(r), Storage::Ref) => Value::Ref(self.resolve(r)),
            (init, storage) => unreachable!("the generator matches values to storage: {init:?} for {storage:?}"),
        }
    }

    /// What the module's `describe` returns for `r`.
    fn describe(&self, r: Ref) -> i64 {
        match r {
            Ref::Null => DESCRIBE_NULL,
            Ref::I31(v) => DESCRIBE_I31 + i64::from(v),
            Ref::Obj(o) => match (self.objects[o].kind, &self.objects[o].values[..]) {
                (Kind::Struct(_), [Value::Num(id), ..]) => *id,
                (Kind::Struct(_), _) => unreachable!("a struct's first field is its id"),
                (Kind::Array(_), values) => DESCRIBE_ARRAY + values.len() as i64,
            },
        }
    }

    fn read(&self, v: Value) -> i64 {
        match v {
            Value::Num(n) => n,
            Value::Ref(r) => self.describe(r),
        }
    }

    fn is_sub_struct(&self, mut t: usize, of: usize) -> bool {
        loop {
            if t == of {
                return true;
            }
            match self.types.structs[t].parent {
                Some(p) => t = p,
                None => return false,
            }
        }
    }

    fn is_sub_array(&self, mut t: usize, of: usize) -> bool {
        loop {
            if t == of {
                return true;
            }
            match self.types.arrays[t].parent {
                Some(p) => t = p,
                None => return false,
            }
        }
    }

    /// `ref.test` of `r` against `target` (nullable or not).
    fn test(&self, r: Ref, target: Target, nullable: bool) -> bool {
        match r {
            Ref::Null => nullable,
            Ref::I31(_) => matches!(target, Target::Any | Target::Eq | Target::I31),
            Ref::Obj(o) => match (self.objects[o].kind, target) {
                (_, Target::Any | Target::Eq) => true,
                (Kind::Struct(_), Target::Struct) | (Kind::Array(_), Target::Array) => true,
                (Kind::Struct(t), Target::ConcreteStruct(of)) => self.is_sub_struct(t, of),
                (Kind::Array(t), Target::ConcreteArray(of)) => self.is_sub_array(t, of),
                _ => false,
            },
        }
    }

    /// The object in `slot` if it passes the guard `ref.test (ref target)`,
    /// observing the test's result as the module does.
    fn guarded(&mut self, slot: Slot, target: Target) -> Option<usize> {
        let r = self.slot(slot);
        let pass = self.test(r, target, false);
        self.observe_bool(pass);
        match r {
            Ref::Obj(o) if pass => Some(o),
            _ => None,
        }
    }

    fn set_slot(&mut self, slot: Slot, r: Ref) {
        self.slots[slot_index(slot)] = r;
    }

    fn alloc(&mut self, kind: Kind, values: Vec<Value>) -> Ref {
        self.objects.push(Object { kind, values });
        Ref::Obj(self.objects.len() - 1)
    }

    fn op(&mut self, op: &GcOp) -> Result<(), Trap> {
        match *op {
            GcOp::NewStruct { dst, ty, ref inits } => {
                let fields = &self.types.structs[ty].fields;
                let mut values = vec![Value::Num(self.next_id)];
                self.next_id += 1;
                values.extend(inits.iter().zip(&fields[1..]).map(|(i, s)| self.value(*i, *s)));
                let r = self.alloc(Kind::Struct(ty), values);
                self.set_slot(dst, r);
            }
            GcOp::NewArray { dst, ty, len, init } => {
                let v = self.value(init, self.types.arrays[ty].elem);
                let r = self.alloc(Kind::Array(ty), vec![v; len as usize]);
                self.set_slot(dst, r);
            }
            GcOp::NewArrayFixed { dst, ty, ref inits } => {
                let values = inits.iter().map(|i| self.value(*i, self.types.arrays[ty].elem)).collect();
                let r = self.alloc(Kind::Array(ty), values);
                self.set_slot(dst, r);
            }
            GcOp::Set { dst, value } => self.set_slot(dst, self.resolve(value)),
            GcOp::Observe { src } => self.observe(self.describe(self.slot(src))),
            GcOp::GetField { src, ty, field } => {
                if let Some(o) = self.guarded(src, Target::ConcreteStruct(ty)) {
                    self.observe(self.read(self.objects[o].values[field as usize]));
                }
            }
            GcOp::SetField { dst, ty, field, value } => {
                if let Some(o) = self.guarded(dst, Target::ConcreteStruct(ty)) {
                    self.objects[o].values[field as usize] = self.value(value, self.types.structs[ty].fields[field as usize]);
                }
            }
            GcOp::ArrayLen { src } => {
                if let Some(o) = self.guarded(src, Target::Array) {
                    self.observe(self.objects[o].values.len() as i64);
                }
            }
            GcOp::ArrayGet { src, ty, index } => {
                if let Some(o) = self.guarded(src, Target::ConcreteArray(ty)) {
                    in_bounds(index, 1, self.objects[o].values.len())?;
                    self.observe(self.read(self.objects[o].values[index as usize]));
                }
            }
            GcOp::ArraySet { dst, ty, index, value } => {
                if let Some(o) = self.guarded(dst, Target::ConcreteArray(ty)) {
                    in_bounds(index, 1, self.objects[o].values.len())?;
                    self.objects[o].values[index as usize] = self.value(value, self.types.arrays[ty].elem);
                }
            }
            GcOp::ArrayFill { dst, ty, offset, value, len } => {
                if let Some(o) = self.guarded(dst, Target::ConcreteArray(ty)) {
                    in_bounds(offset, len, self.objects[o].values.len())?;
                    let v = self.value(value, self.types.arrays[ty].elem);
                    self.objects[o].values[offset as usize..(offset + len) as usize].fill(v);
                }
            }
            GcOp::ArrayCopy { dst, dst_ty, dst_offset, src, src_ty, src_offset, len } => self.array_copy(dst, dst_ty, dst_offset, src, src_ty, src_offset, len)?,
            GcOp::Test { src, target, nullable } => self.observe_bool(self.test(self.slot(src), target, nullable)),
            GcOp::Cast { src, target, nullable } => {
                if !self.test(self.slot(src), target, nullable) {
                    return Err(Trap::CastFailure);
                }
            }
            GcOp::RefEq { a, b } => self.observe_bool(self.slot(a) == self.slot(b)),
            GcOp::Gc | GcOp::GcHolding { .. } | GcOp::Churn { .. } => {}
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn array_copy(&mut self, dst: Slot, dst_ty: usize, dst_offset: u32, src: Slot, src_ty: usize, src_offset: u32, len: u32) -> Result<(), Trap> {
        let (d, s) = (self.slot(dst), self.slot(src));
        let pass = self.test(d, Target::ConcreteArray(dst_ty), false) && self.test(s, Target::ConcreteArray(src_ty), false);
        self.observe_bool(pass);
        let (Ref::Obj(d), Ref::Obj(s)) = (d, s) else { return Ok(()) };
        if !pass {
            return Ok(());
        }
        in_bounds(dst_offset, len, self.objects[d].values.len())?;
        in_bounds(src_offset, len, self.objects[s].values.len())?;
        // Through a copy: source and destination may be the same array.
        let moved = self.objects[s].values[src_offset as usize..(src_offset + len) as usize].to_vec();
        self.objects[d].values[dst_offset as usize..(dst_offset + len) as usize].copy_from_slice(&moved);
        Ok(())
    }
}
