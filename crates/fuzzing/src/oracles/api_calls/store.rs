//! One store of an api_calls run, everything exported into it, and the
//! calls on its memories, globals and tables, each checked against what
//! the API documents.

use super::Check;
use crate::generators::{config, values};
use crate::oracles::dummy::{dummy_value, null_of};
use arbitrary::Unstructured;
use kiln::{AnyRef, ExternRef, OwnedRooted, RootScope, Rooted, Func, Global, Memory, Mutability, Store, Table, Val, ValType};

/// A store and everything exported into it so far.
pub(super) struct StoreEntry {
    pub store: Store<()>,
    pub funcs: Vec<(String, Func)>,
    pub memories: Vec<Memory>,
    pub globals: Vec<Global>,
    pub tables: Vec<Table>,
    /// Reference values seen in this store (results, global and table
    /// contents, new externrefs), used as arguments later. Values never
    /// leave their store: using one with another store is a documented
    /// panic, not a bug.
    pub refs: Vec<Val>,
    /// Host references made with `ExternRef::new`, with the value each
    /// wraps.
    pub externs: Vec<(Rooted<ExternRef>, u64)>,
    /// Externrefs kept in `OwnedRooted`s, with the value each wraps.
    pub owned: Vec<(OwnedRooted<ExternRef>, u64)>,
    /// Structs made by `mk` with their field, arrays made by `arr` with
    /// their length (see `track_gc_objects`).
    /// Objects the exports made, by handle, with the value they were made
    /// with.
    pub structs: Vec<(Rooted<AnyRef>, i32)>,
    pub arrays: Vec<(Rooted<AnyRef>, i32)>,
}

/// Checks that externref `r` wraps `n`.
fn check_data<'a>(store: impl Into<kiln::StoreContext<'a, ()>>, r: &ExternRef, n: u64, when: &str) -> Check {
    let data = r.data(store).map_err(|err| format!("{when} data of the externref made with {n}: {err:#}"))?;
    let back = data.and_then(|d| d.downcast_ref::<u64>()).copied();
    ensure(back == Some(n), || format!("{when} the externref made with {n} holds {back:?}"))
}

/// The `n`-th of `items` (modulo their count), if any.
pub(super) fn pick<T>(items: &[T], n: u8) -> Option<usize> {
    (!items.is_empty()).then(|| n as usize % items.len())
}

pub(super) fn ensure(ok: bool, msg: impl FnOnce() -> String) -> Check {
    if ok { Ok(()) } else { Err(msg()) }
}

pub(super) fn is_non_null_ref(v: &Val) -> bool {
    matches!(v, Val::FuncRef(Some(_)) | Val::ExternRef(Some(_)) | Val::AnyRef(Some(_)) | Val::ExnRef(Some(_)))
}

/// Numbers compared by bits, references only by kind and null-ness (a
/// reference read back may be a new handle to the same object).
fn same_value(a: &Val, b: &Val) -> bool {
    match (a, b) {
        (Val::I32(x), Val::I32(y)) => x == y,
        (Val::I64(x), Val::I64(y)) => x == y,
        (Val::F32(x), Val::F32(y)) => x == y,
        (Val::F64(x), Val::F64(y)) => x == y,
        (Val::V128(x), Val::V128(y)) => x == y,
        (Val::FuncRef(x), Val::FuncRef(y)) => x.is_some() == y.is_some(),
        (Val::ExternRef(x), Val::ExternRef(y)) => x.is_some() == y.is_some(),
        (Val::AnyRef(x), Val::AnyRef(y)) => x.is_some() == y.is_some(),
        (Val::ExnRef(x), Val::ExnRef(y)) => x.is_some() == y.is_some(),
        _ => false,
    }
}

impl StoreEntry {
    pub(super) fn new(store: Store<()>) -> StoreEntry {
        StoreEntry {
            store,
            funcs: vec![],
            memories: vec![],
            globals: vec![],
            tables: vec![],
            refs: vec![],
            externs: vec![],
            owned: vec![],
            structs: Vec::new(),
            arrays: Vec::new(),
        }
    }

    /// `ExternRef::new` wrapping `n`, read back and kept; nothing if the
    /// GC heap is full.
    pub(super) fn new_externref(&mut self, n: u64) -> Check {
        // A full heap is an error saying so, never a panic.
        let r = match ExternRef::new(&mut self.store, n) {
            Ok(r) => r,
            Err(err) if err.root_cause().downcast_ref::<kiln::Trap>() == Some(&kiln::Trap::GcHeapOutOfMemory) => return Ok(()),
            Err(err) => return Err(format!("ExternRef::new: {err:#}")),
        };
        check_data(&self.store, &*r, n, "a new externref:")?;
        self.refs.push(Val::ExternRef(Some(r)));
        self.externs.push((r, n));
        Ok(())
    }

    /// `Store::gc`: it succeeds and every host reference still wraps its
    /// value (objects are checked by later `get` and `len` calls).
    pub(super) fn gc(&mut self) -> Check {
        self.store.gc(None).map_err(|err| format!("Store::gc: {err:#}"))?;
        for (r, n) in &self.externs {
            check_data(&self.store, &**r, *n, "after a collection")?;
        }
        for (r, n) in &self.owned {
            check_data(&self.store, &**r, *n, "after a collection, an owned root:")?;
        }
        Ok(())
    }

    /// `Rooted::to_owned_rooted` of the n-th externref.
    pub(super) fn own_ref(&mut self, which: u8) -> Check {
        let Some(i) = pick(&self.externs, which) else { return Ok(()) };
        let (r, n) = self.externs[i];
        let owned = r.to_owned_rooted(&mut self.store).map_err(|err| format!("to_owned_rooted: {err:#}"))?;
        check_data(&self.store, &*owned, n, "a new owned root:")?;
        self.owned.push((owned, n));
        Ok(())
    }

    /// Drops the n-th owned root; the others still read back (after the
    /// next collection sweeps the dropped one's slot too).
    pub(super) fn drop_owned(&mut self, which: u8) -> Check {
        let Some(i) = pick(&self.owned, which) else { return Ok(()) };
        self.owned.swap_remove(i);
        Ok(())
    }

    /// Makes `count` externrefs (wrapping `first..`) in a `RootScope`:
    /// each reads back inside; after the scope the store holds no more
    /// roots than before and every handle made inside is refused.
    pub(super) fn scoped(&mut self, first: u64, count: u8) -> Check {
        let roots = |store: &mut Store<()>| store.gc_stats().map(|s| s.host_roots);
        let before = roots(&mut self.store);
        let mut made = Vec::new();
        {
            let mut scope = RootScope::new(&mut self.store);
            for n in first..first + u64::from(count) {
                let r = match ExternRef::new(&mut scope, n) {
                    Ok(r) => r,
                    Err(err) if err.root_cause().downcast_ref::<kiln::Trap>() == Some(&kiln::Trap::GcHeapOutOfMemory) => break,
                    Err(err) => return Err(format!("ExternRef::new in a scope: {err:#}")),
                };
                check_data(&scope, &*r, n, "in a scope:")?;
                made.push(r);
            }
        }
        let after = roots(&mut self.store);
        // Fewer is fine: a collection in the scope sweeps dropped owned roots.
        ensure(before.is_none() || after <= before, || format!("roots before a scope {before:?}, after it {after:?}"))?;
        for r in made {
            ensure(r.data(&self.store).is_err(), || "a handle made in a closed scope still reads".to_string())?;
        }
        Ok(())
    }

    /// `Memory::grow`: the old size back, success exactly within limits.
    pub(super) fn memory_grow(&mut self, memory: u8, delta: u64) -> Check {
        let Some(i) = pick(&self.memories, memory) else { return Ok(()) };
        let m = self.memories[i];
        let (before, ty) = (m.size(&self.store), m.ty(&self.store));
        let limit = ty.maximum().unwrap_or(u64::MAX).min(config::MAX_MEMORY_BYTES >> 16);
        let fits = before.checked_add(delta).is_some_and(|n| n <= limit);
        match m.grow(&mut self.store, delta) {
            Ok(old) => {
                ensure(fits, || format!("grew {before} pages by {delta} past the limit of {limit}"))?;
                ensure(old == before, || format!("grow returned {old}, the size was {before}"))?;
                let after = m.size(&self.store);
                ensure(after == before + delta, || format!("after growing {before} pages by {delta}: {after}"))?;
                ensure(m.data_size(&self.store) as u64 == after << 16, || "data_size disagrees with size after grow".into())?;
            }
            Err(_) => {
                ensure(!fits, || format!("growing {before} pages by {delta} failed within the limit of {limit}"))?;
                ensure(m.size(&self.store) == before, || "a failed grow changed the size".into())?;
            }
        }
        Ok(())
    }

    /// `Memory::write`: reads back when in bounds, fails otherwise.
    pub(super) fn memory_write(&mut self, memory: u8, offset: u64, bytes: &[u8]) -> Check {
        let Some(i) = pick(&self.memories, memory) else { return Ok(()) };
        let m = self.memories[i];
        let size = m.data_size(&self.store) as u64;
        let fits = offset.checked_add(bytes.len() as u64).is_some_and(|end| end <= size);
        let Ok(offset) = usize::try_from(offset) else { return Ok(()) };
        match m.write(&mut self.store, offset, bytes) {
            Ok(()) => {
                ensure(fits, || format!("wrote {} bytes at {offset} of a {size}-byte memory", bytes.len()))?;
                let mut back = vec![0; bytes.len()];
                m.read(&self.store, offset, &mut back).map_err(|err| format!("reading back a write: {err}"))?;
                ensure(&back == bytes, || format!("wrote {bytes:?} at {offset}, read back {back:?}"))?;
                ensure(&m.data(&self.store)[offset..offset + bytes.len()] == bytes, || "data() disagrees with read()".into())?;
            }
            Err(_) => ensure(!fits, || format!("writing {} bytes at {offset} of a {size}-byte memory failed", bytes.len()))?,
        }
        Ok(())
    }

    /// `Memory::read`: succeeds exactly in bounds.
    pub(super) fn memory_read(&mut self, memory: u8, offset: u64, len: u16) -> Check {
        let Some(i) = pick(&self.memories, memory) else { return Ok(()) };
        let m = self.memories[i];
        let size = m.data_size(&self.store) as u64;
        let fits = offset.checked_add(u64::from(len)).is_some_and(|end| end <= size);
        let Ok(offset) = usize::try_from(offset) else { return Ok(()) };
        let mut buf = vec![0; len as usize];
        let ok = m.read(&self.store, offset, &mut buf).is_ok();
        ensure(ok == fits, || format!("reading {len} bytes at {offset} of a {size}-byte memory: ok={ok}"))?;
        Ok(())
    }

    /// `Global::get`, keeping references for later calls.
    pub(super) fn global_get(&mut self, global: u8) -> Check {
        let Some(i) = pick(&self.globals, global) else { return Ok(()) };
        let v = self.globals[i].get(&mut self.store);
        if is_non_null_ref(&v) {
            self.refs.push(v);
        }
        Ok(())
    }

    /// `Global::set`: immutable globals refuse, mutable ones read back.
    pub(super) fn global_set(&mut self, global: u8, value: &[u8]) -> Check {
        let Some(i) = pick(&self.globals, global) else { return Ok(()) };
        let g = self.globals[i];
        let ty = g.ty(&self.store);
        let v = self.argument(ty.content(), &mut Unstructured::new(value));
        let result = g.set(&mut self.store, v);
        match ty.mutability() {
            Mutability::Const => ensure(result.is_err(), || "set an immutable global".into())?,
            Mutability::Var if !ty.content().is_ref() => {
                result.map_err(|err| format!("setting a {} global to {v:?}: {err:#}", ty.content()))?;
                let back = g.get(&mut self.store);
                ensure(same_value(&back, &v), || format!("set a global to {v:?}, read back {back:?}"))?;
            }
            // A reference from the pool may have another type.
            Mutability::Var => {}
        }
        Ok(())
    }

    /// `Table::get`: an element exactly in bounds.
    pub(super) fn table_get(&mut self, table: u8, index: u64) -> Check {
        let Some(i) = pick(&self.tables, table) else { return Ok(()) };
        let t = self.tables[i];
        let size = t.size(&mut self.store);
        let got = t.get(&mut self.store, index);
        ensure(got.is_some() == (index < size), || format!("Table::get({index}) of a table of {size}: {got:?}"))?;
        if let Some(v @ Val::FuncRef(Some(_))) = got {
            self.refs.push(v);
        }
        Ok(())
    }

    /// `Table::grow`: the old size back; with null, success exactly within
    /// limits.
    pub(super) fn table_grow(&mut self, table: u8, delta: u64, init: u8) -> Check {
        let Some(i) = pick(&self.tables, table) else { return Ok(()) };
        let t = self.tables[i];
        let ty = t.ty(&self.store);
        let before = t.size(&mut self.store);
        // Null (of the element type) or some reference seen in the
        // store, which may not fit the element type.
        let (v, null) = match pick(&self.refs, init) {
            Some(k) if init % 2 == 1 => (self.refs[k], false),
            _ => (null_of(&mut self.store, ty.element()), true),
        };
        let result = t.grow(&mut self.store, delta, v);
        let limit = ty.maximum().unwrap_or(u64::MAX).min(config::MAX_TABLE_ELEMENTS);
        if null {
            let fits = before + delta <= limit;
            ensure(result.is_ok() == fits, || format!("growing a table of {before} by {delta} (limit {limit}) with null: {result:?}"))?;
        }
        if let Ok(old) = result {
            ensure(old == before, || format!("table grow returned {old}, the size was {before}"))?;
            ensure(t.size(&mut self.store) == before + delta, || "table size after grow".into())?;
        }
        Ok(())
    }

    /// An argument of type `ty`: numbers from `u`; references from the
    /// pool (which may be of another type, making the call fail cleanly), a
    /// dummy, or null.
    pub(super) fn argument(&mut self, ty: &ValType, u: &mut Unstructured<'_>) -> Val {
        if let Some(v) = values::scalar(u, ty).unwrap_or(None) {
            return v;
        }
        let ValType::Ref(r) = ty else { unreachable!("scalar() covers every non-reference type") };
        let choice: u8 = u.arbitrary().unwrap_or(0);
        match pick(&self.refs, choice / 2) {
            Some(k) if choice % 2 == 1 => self.refs[k],
            _ => dummy_value(&mut self.store, ty).unwrap_or_else(|_| null_of(&mut self.store, r)),
        }
    }
}
