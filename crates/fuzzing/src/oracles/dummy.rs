//! Dummy imports: something of every `ExternType`, so any module can be
//! instantiated without knowing what it imports.
//!
//! Host functions ignore their arguments and return default values;
//! memories, tables, globals and tags are fresh. What cannot be made
//! through the embedder API is an error, not a panic: a non-null
//! reference to a concrete type, a struct, an array or an exception has no
//! dummy (the API can only name those types by engine id, not build their
//! values), and oracles skip such modules.

use anyhow::{Result, bail};
use kiln::{AnyRef, Extern, ExternRef, ExternType, Func, FuncType, Global, GlobalType, HeapType, Memory, Module, Mutability, RefType, Store, Table, Tag, Val, ValType};

/// One dummy per import of `module`, in import order (what
/// `Instance::new` takes).
pub fn dummy_imports<T: 'static>(store: &mut Store<T>, module: &Module) -> Result<Vec<Extern>> {
    let types: Vec<ExternType> = module.imports().map(|i| i.ty()).collect();
    types.iter().map(|ty| dummy_extern(store, ty)).collect()
}

/// A fresh item of type `ty`.
pub fn dummy_extern<T: 'static>(store: &mut Store<T>, ty: &ExternType) -> Result<Extern> {
    Ok(match ty {
        ExternType::Func(f) => Extern::Func(dummy_func(store, f.clone())?),
        ExternType::Global(g) => {
            let init = dummy_value(store, g.content())?;
            Extern::Global(Global::new(&mut *store, *g, init)?)
        }
        ExternType::Table(t) => {
            let init = dummy_value(store, &ValType::Ref(*t.element()))?;
            Extern::Table(Table::new(&mut *store, *t, init)?)
        }
        ExternType::Memory(m) => Extern::Memory(Memory::new(&mut *store, *m)?),
        ExternType::Tag(t) => Extern::Tag(Tag::new(&mut *store, t)?),
    })
}

/// A host function of type `ty` that returns default values (computed
/// once, here, so a result type without a dummy fails now rather than at
/// call time).
pub fn dummy_func<T: 'static>(store: &mut Store<T>, ty: FuncType) -> Result<Func> {
    let results = ty.results().iter().map(|r| dummy_value(store, r)).collect::<Result<Vec<Val>>>()?;
    Ok(Func::new(&mut *store, ty, move |_caller, _params, out| {
        out.copy_from_slice(&results);
        Ok(())
    }))
}

/// A value of type `ty`: zero for numbers, null for nullable references,
/// and for the non-null abstract references the API can make: a dummy
/// function, a host reference, or the i31 zero.
pub fn dummy_value<T: 'static>(store: &mut Store<T>, ty: &ValType) -> Result<Val> {
    Ok(match ty {
        ValType::I32 => Val::I32(0),
        ValType::I64 => Val::I64(0),
        ValType::F32 => Val::F32(0),
        ValType::F64 => Val::F64(0),
        ValType::V128 => Val::V128(0),
        ValType::Ref(r) if r.nullable() => null_of(store, r),
        ValType::Ref(r) => match r.heap_type() {
            HeapType::Func => Val::FuncRef(Some(dummy_func(store, FuncType::new([], []))?)),
            HeapType::Extern => Val::ExternRef(Some(ExternRef::new(&mut *store, ())?)),
            HeapType::Any | HeapType::Eq | HeapType::I31 => Val::AnyRef(Some(AnyRef::from_i31(&mut *store, kiln::I31::wrapping_i32(0)))),
            _ => bail!("no dummy value of type {ty}"),
        },
    })
}

/// The null of the nullable reference type `r`.
///
/// `Val` has one variant per hierarchy, and a concrete type's hierarchy
/// (function or `any`) is not visible through the API: we ask the store by
/// creating a throwaway immutable global with the function-hierarchy null,
/// which only a function type accepts.
pub fn null_of<T: 'static>(store: &mut Store<T>, r: &RefType) -> Val {
    match r.heap_type() {
        HeapType::Func | HeapType::NoFunc => Val::FuncRef(None),
        HeapType::Extern | HeapType::NoExtern => Val::ExternRef(None),
        HeapType::Exn | HeapType::NoExn => Val::ExnRef(None),
        HeapType::Any | HeapType::Eq | HeapType::I31 | HeapType::Struct | HeapType::Array | HeapType::None => Val::AnyRef(None),
        HeapType::Concrete(_) => {
            let probe = GlobalType::new(ValType::Ref(*r), Mutability::Const);
            if Global::new(&mut *store, probe, Val::FuncRef(None)).is_ok() { Val::FuncRef(None) } else { Val::AnyRef(None) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln::{Engine, Instance};

    #[test]
    fn every_import_kind_gets_a_dummy_and_instantiation_succeeds() {
        let engine = Engine::default();
        let module = Module::new(
            &engine,
            r#"(module
                (type $s (struct))
                (type $f (func (param i32) (result i64)))
                (import "a" "f" (func $f (type $f)))
                (import "a" "g" (func $g (result (ref null $s) externref (ref func) (ref i31))))
                (import "a" "mem" (memory 1 2))
                (import "a" "table" (table 3 (ref null $f)))
                (import "a" "ref" (global (ref extern)))
                (import "a" "mut" (global (mut f64)))
                (import "a" "tag" (tag (param i32)))
                (func (export "run") (result i64 i32)
                    (call $f (i32.const 7))
                    (call $g) drop drop drop ref.is_null))"#,
        )
        .unwrap();
        let mut store = Store::new(&engine, ());
        let imports = dummy_imports(&mut store, &module).unwrap();
        let instance = Instance::new(&mut store, &module, &imports).unwrap();
        let run = instance.get_typed_func::<(), (i64, i32)>(&mut store, "run").unwrap();
        assert_eq!(run.call(&mut store, ()).unwrap(), (0, 1));
    }

    #[test]
    fn concrete_nulls_land_in_the_right_hierarchy() {
        let engine = Engine::default();
        let module = Module::new(&engine, "(module (type $s (struct)) (type $f (func)) (import \"a\" \"s\" (global (ref null $s))) (import \"a\" \"f\" (global (ref null $f))))").unwrap();
        let mut store = Store::new(&engine, ());
        let tys: Vec<ExternType> = module.imports().map(|i| i.ty()).collect();
        let [ExternType::Global(s), ExternType::Global(f)] = &tys[..] else { panic!("two globals expected: {tys:?}") };
        let ValType::Ref(s) = s.content() else { unreachable!() };
        let ValType::Ref(f) = f.content() else { unreachable!() };
        assert!(matches!(null_of(&mut store, s), Val::AnyRef(None)));
        assert!(matches!(null_of(&mut store, f), Val::FuncRef(None)));
    }

    #[test]
    fn non_null_concrete_references_are_refused_not_faked() {
        let engine = Engine::default();
        let module = Module::new(&engine, "(module (type $s (struct)) (import \"a\" \"s\" (global (ref $s))))").unwrap();
        let mut store = Store::new(&engine, ());
        let err = dummy_imports(&mut store, &module).unwrap_err();
        assert!(err.to_string().contains("no dummy value"), "{err}");
    }
}
