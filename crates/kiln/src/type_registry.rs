//! Engine-wide canonical type ids.
//!
//! Types are canonicalized a recursion group at a time, iso-recursively as
//! the spec requires: a group is keyed by its types with references inside
//! the group written relative to the group and references outside it
//! written as their engine ids. Equal groups from any module get the same
//! ids, so a signature check is one integer comparison.
//!
//! Registered types live as long as the engine.

use kiln_environ::{WasmCompositeType, WasmFieldType, WasmFuncType, WasmHeapType, WasmRefType, WasmStorageType, WasmSubType, WasmValType};
use crate::type_displays::TypeDisplays;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Marks a group-relative index in a canonicalization key.
const RELATIVE: u32 = 1 << 31;

#[derive(Default)]
pub struct TypeRegistry {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    groups: HashMap<Vec<WasmSubType>, u32>,
    /// Engine-level types, type `id` at `id - 1` (no type has id 0, so
    /// that zeroed display slots name none): concrete indices are engine
    /// ids.
    types: Vec<Arc<WasmSubType>>,
    /// Their supertype displays, for compiled code's casts.
    displays: TypeDisplays,
}

impl TypeRegistry {
    /// Registers a module's types, returning the engine id of each module
    /// type index.
    ///
    /// Fails when a new type would get an id past the display table's
    /// capacity (see `type_displays.rs`): compiled code relies on every
    /// type having a display.
    pub fn register_module(&self, types: &[WasmSubType]) -> anyhow::Result<Vec<u32>> {
        let mut inner = self.inner.lock().unwrap();
        let mut ids: Vec<u32> = Vec::with_capacity(types.len());
        let mut i = 0;
        while i < types.len() {
            let start = types[i].rec_group_start as usize;
            let len = types[i].rec_group_len as usize;
            let group = &types[start..start + len];
            let key: Vec<WasmSubType> = group
                .iter()
                .map(|t| map_indices(t, |idx| if (idx as usize) >= start { RELATIVE | (idx - start as u32) } else { ids[idx as usize] }))
                .collect();
            let first = match inner.groups.get(&key) {
                Some(first) => *first,
                None => {
                    let first = inner.next_id();
                    TypeDisplays::check_capacity(u64::from(first) + len as u64)?;
                    for t in &key {
                        let engine = map_indices(t, |idx| if idx & RELATIVE != 0 { first + (idx & !RELATIVE) } else { idx });
                        // Validation put every supertype before its subtypes.
                        let id = inner.next_id();
                        inner.displays.record(id, engine.supertype);
                        inner.types.push(Arc::new(engine));
                    }
                    inner.groups.insert(key, first);
                    first
                }
            };
            ids.extend((0..len as u32).map(|k| first + k));
            i = start + len;
        }
        Ok(ids)
    }

    /// Registers a function type whose concrete references are engine ids,
    /// as a final type in a group of its own.
    pub fn register_func_type(&self, ty: &WasmFuncType) -> anyhow::Result<u32> {
        self.register_single(WasmSubType { is_final: true, supertype: None, composite: WasmCompositeType::Func(ty.clone()), rec_group_start: 0, rec_group_len: 0 })
    }

    /// Registers a type whose concrete references (and supertype) are
    /// engine ids, as a group of its own. Fails as `register_module` does.
    pub fn register_single(&self, sub: WasmSubType) -> anyhow::Result<u32> {
        let mut inner = self.inner.lock().unwrap();
        let key = vec![sub.clone()];
        if let Some(id) = inner.groups.get(&key) {
            return Ok(*id);
        }
        let id = inner.next_id();
        TypeDisplays::check_capacity(u64::from(id) + 1)?;
        inner.displays.record(id, sub.supertype);
        inner.types.push(Arc::new(sub));
        inner.groups.insert(key, id);
        Ok(id)
    }

    /// The supertype display table compiled code reads (see
    /// `type_displays.rs`); its address never changes.
    pub fn display_table(&self) -> *const u8 {
        self.inner.lock().unwrap().displays.top()
    }

    /// The engine-level type with id `id`.
    pub fn get(&self, id: u32) -> Arc<WasmSubType> {
        self.try_get(id).unwrap_or_else(|| panic!("no engine type has id {id}"))
    }

    /// Like `get`, for ids read from untrusted places (GC object headers).
    pub fn try_get(&self, id: u32) -> Option<Arc<WasmSubType>> {
        self.inner.lock().unwrap().type_of(id).cloned()
    }


    /// Is type `sub` equal to `sup` or declared (transitively) as its
    /// subtype? Canonicalization makes declared supertypes engine ids, so
    /// this walks the chain; its length is bounded by the spec's subtyping
    /// depth limit (63).
    pub fn is_subtype(&self, sub: u32, sup: u32) -> bool {
        let inner = self.inner.lock().unwrap();
        let mut t = Some(sub);
        for _ in 0..=64 {
            match t {
                Some(id) if id == sup => return true,
                Some(id) => t = inner.type_of(id).and_then(|ty| ty.supertype),
                None => return false,
            }
        }
        false
    }
}

/// Rewrites every type index in `t` with `f`, dropping its module-specific
/// group position.
fn map_indices(t: &WasmSubType, f: impl Fn(u32) -> u32) -> WasmSubType {
    let val = |v: &WasmValType| match *v {
        WasmValType::Ref(r) => WasmValType::Ref(map_ref(r, &f)),
        other => other,
    };
    let field = |fl: &WasmFieldType| WasmFieldType {
        mutable: fl.mutable,
        storage: match &fl.storage {
            WasmStorageType::Val(v) => WasmStorageType::Val(val(v)),
            other => *other,
        },
    };
    let composite = match &t.composite {
        WasmCompositeType::Func(ft) => WasmCompositeType::Func(WasmFuncType {
            params: ft.params.iter().map(val).collect(),
            results: ft.results.iter().map(val).collect(),
        }),
        WasmCompositeType::Struct(fields) => WasmCompositeType::Struct(fields.iter().map(field).collect()),
        WasmCompositeType::Array(fl) => WasmCompositeType::Array(field(fl)),
    };
    WasmSubType { is_final: t.is_final, supertype: t.supertype.map(&f), composite, rec_group_start: 0, rec_group_len: 0 }
}

fn map_ref(r: WasmRefType, f: &impl Fn(u32) -> u32) -> WasmRefType {
    match r.heap {
        WasmHeapType::Concrete(i) => WasmRefType { nullable: r.nullable, heap: WasmHeapType::Concrete(f(i)) },
        _ => r,
    }
}

/// Rewrites module type indices in a value type to engine ids.
pub fn engine_val_type(t: WasmValType, ids: &[u32]) -> WasmValType {
    match t {
        WasmValType::Ref(r) => WasmValType::Ref(map_ref(r, &|i| ids[i as usize])),
        other => other,
    }
}

impl Inner {
    fn next_id(&self) -> u32 {
        self.types.len() as u32 + 1
    }

    fn type_of(&self, id: u32) -> Option<&Arc<WasmSubType>> {
        self.types.get((id as usize).checked_sub(1)?)
    }
}

impl kiln_environ::FuncTypeLookup for TypeRegistry {
    /// False for unknown ids (read from untrusted places).
    fn is_func_type(&self, id: u32) -> bool {
        self.try_get(id).is_some_and(|t| matches!(t.composite, WasmCompositeType::Func(_)))
    }
}
