//! The linker: resolves a module's imports by name from host functions
//! and registered instances' exports.

use crate::engine::Engine;
use crate::externals::Extern;
use crate::func::{Caller, Func, IntoFunc};
use crate::instance::Instance;
use crate::module::Module;
use crate::store::{AsContext, AsContextMut};
use crate::types::FuncType;
use crate::values::Val;
use anyhow::{Result, bail};
use std::collections::HashMap;
use std::sync::Arc;

type HostFn<T> = dyn Fn(Caller<'_, T>, &[Val], &mut [Val]) -> Result<()> + Send + Sync + 'static;

enum Definition<T> {
    Extern(Extern),
    /// A host function not yet bound to a store: it becomes a `Func` in
    /// each store that instantiates with this linker.
    HostFunc(FuncType, Arc<HostFn<T>>),
}

impl<T> Clone for Definition<T> {
    fn clone(&self) -> Self {
        match self {
            Definition::Extern(e) => Definition::Extern(e.clone()),
            Definition::HostFunc(t, f) => Definition::HostFunc(t.clone(), f.clone()),
        }
    }
}

pub struct Linker<T> {
    engine: Engine,
    map: HashMap<(String, String), Definition<T>>,
    allow_shadowing: bool,
}

impl<T: 'static> Linker<T> {
    pub fn new(engine: &Engine) -> Linker<T> {
        Linker { engine: engine.clone(), map: HashMap::new(), allow_shadowing: false }
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Whether a later definition may replace an earlier one of the same name.
    pub fn allow_shadowing(&mut self, allow: bool) -> &mut Self {
        self.allow_shadowing = allow;
        self
    }

    fn insert(&mut self, module: &str, name: &str, def: Definition<T>) -> Result<&mut Self> {
        let key = (module.to_string(), name.to_string());
        if !self.allow_shadowing && self.map.contains_key(&key) {
            bail!("import of `{module}::{name}` defined twice");
        }
        self.map.insert(key, def);
        Ok(self)
    }

    pub fn define(&mut self, _store: impl AsContext<Data = T>, module: &str, name: &str, item: impl Into<Extern>) -> Result<&mut Self> {
        self.insert(module, name, Definition::Extern(item.into()))
    }

    pub fn func_new(
        &mut self,
        module: &str,
        name: &str,
        ty: FuncType,
        f: impl Fn(Caller<'_, T>, &[Val], &mut [Val]) -> Result<()> + Send + Sync + 'static,
    ) -> Result<&mut Self> {
        self.insert(module, name, Definition::HostFunc(ty, Arc::new(f)))
    }

    pub fn func_wrap<Params, Results>(&mut self, module: &str, name: &str, f: impl IntoFunc<T, Params, Results>) -> Result<&mut Self> {
        let (ty, f) = f.into_host_fn();
        self.insert(module, name, Definition::HostFunc(ty, f))
    }

    /// Defines every export of `instance` under `module_name`.
    pub fn instance(&mut self, mut store: impl AsContextMut<Data = T>, module_name: &str, instance: Instance) -> Result<&mut Self> {
        for (name, ext) in instance.exports(&mut store) {
            self.insert(module_name, &name, Definition::Extern(ext))?;
        }
        Ok(self)
    }

    pub fn get(&self, mut store: impl AsContextMut<Data = T>, module: &str, name: &str) -> Option<Extern> {
        let def = self.map.get(&(module.to_string(), name.to_string()))?;
        Some(self.resolve(&mut store, def))
    }

    fn resolve(&self, store: &mut impl AsContextMut<Data = T>, def: &Definition<T>) -> Extern {
        match def {
            Definition::Extern(e) => e.clone(),
            Definition::HostFunc(ty, f) => Extern::Func(Func::new_arc(&mut store.as_context_mut(), ty.clone(), f.clone())),
        }
    }

    /// Instantiates `module`, resolving each import by module and name.
    pub fn instantiate(&self, mut store: impl AsContextMut<Data = T>, module: &Module) -> Result<Instance> {
        let mut imports = Vec::with_capacity(module.imports().len());
        for import in module.imports() {
            match self.map.get(&(import.module().to_string(), import.name().to_string())) {
                Some(def) => imports.push(self.resolve(&mut store, def)),
                None => bail!("unknown import: `{}::{}` has not been defined (expected {})", import.module(), import.name(), import.ty()),
            }
        }
        Instance::new(&mut store, module, &imports)
    }

    /// Instantiates `module` and defines its exports under `module_name`.
    pub fn module(&mut self, mut store: impl AsContextMut<Data = T>, module_name: &str, module: &Module) -> Result<&mut Self> {
        let instance = self.instantiate(&mut store, module)?;
        self.instance(&mut store, module_name, instance)
    }
}
