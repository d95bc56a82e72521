//! The instantiate oracle: a wasm-smith module is compiled, instantiated
//! with dummy imports and each exported function called with generated
//! arguments, all under fuel. Every step must end in `Ok`, a Wasm trap or
//! a clean error; a panic, a crash or a hang is a Kiln bug.
//!
//! The module is valid by construction, so it must also compile (checked
//! by `compile::checked_compile`). After the calls, every exported memory,
//! table and global is read back through the API, which decodes whatever
//! the Wasm code left there.

use super::Outcome;
use super::dummy::{dummy_imports, dummy_value};
use crate::generators::{config, smith, values};
use arbitrary::Unstructured;
use kiln::{Config, Engine, Extern, Func, Instance, Store, Val};

/// What happened to one module.
#[derive(Debug)]
pub struct Report {
    /// `None` when some import had no dummy and nothing ran.
    pub instantiation: Option<Outcome>,
    /// One entry per exported function called: its name and outcome.
    pub calls: Vec<(String, Outcome)>,
}

/// Generates an engine configuration and a module, then runs them.
pub fn instantiate(u: &mut Unstructured<'_>) -> arbitrary::Result<Report> {
    let config = config::kiln_config(u)?;
    let mut smith_config = smith::kiln_config(u)?;
    // Export every function, so that every function gets called.
    smith_config.export_everything = true;
    let wasm = wasm_smith::Module::new(smith_config, u)?.to_bytes();
    crate::repro::log_case("instantiate", &config, &wasm);
    Ok(instantiate_and_call(&config, &wasm, u))
}

/// Runs the valid module `wasm` on an engine made with `config` (which
/// must meter fuel), taking call arguments from `u`.
pub fn instantiate_and_call(config: &Config, wasm: &[u8], u: &mut Unstructured<'_>) -> Report {
    let engine = Engine::new(config).expect("fuzzing configurations are valid");
    let module = super::compile::checked_compile(&engine, wasm).expect("wasm-smith produced an invalid module");
    let mut store = Store::new(&engine, ());
    let mut report = Report { instantiation: None, calls: Vec::new() };
    let Ok(imports) = dummy_imports(&mut store, &module) else { return report };
    store.set_fuel(config::FUEL).expect("fuzzing configurations meter fuel");
    let instance = Instance::new(&mut store, &module, &imports);
    report.instantiation = Some(Outcome::of(&instance));
    let Ok(instance) = instance else { return report };

    let exports = instance.exports(&mut store);
    for (name, ext) in &exports {
        if let Extern::Func(f) = ext {
            if let Some(outcome) = call_with_generated_args(&mut store, *f, u) {
                report.calls.push((name.clone(), outcome));
            }
        }
    }
    read_back(&mut store, &exports);
    report
}

/// Calls `f` with arguments from `u` (numbers) or dummies (references)
/// and a full tank of fuel; `None` if some parameter has no dummy.
pub(crate) fn call_with_generated_args<T: 'static>(store: &mut Store<T>, f: Func, u: &mut Unstructured<'_>) -> Option<Outcome> {
    let ty = f.ty(&*store);
    let mut args = Vec::with_capacity(ty.params().len());
    for p in ty.params() {
        // Out of input bytes, `Unstructured` yields zeros rather than
        // failing, so only a missing dummy stops the call.
        let arg = match values::scalar(u, p).unwrap_or(None) {
            Some(v) => v,
            None => dummy_value(store, p).ok()?,
        };
        args.push(arg);
    }
    let mut results = vec![Val::I32(0); ty.results().len()];
    store.set_fuel(config::FUEL).expect("fuzzing configurations meter fuel");
    let outcome = Outcome::of(&f.call(&mut *store, &args, &mut results));
    if let Outcome::Error(e) = &outcome {
        // The arguments were built from the function's own type, and the
        // dummy imports return values of their declared types: a type
        // error here is the oracle's bug or the API's, never the input's.
        assert!(!e.contains("type mismatch") && !e.contains("wrong type"), "call of {ty} rejected generated arguments: {e}");
    }
    Some(outcome)
}

/// Reads every exported memory, table and global through the API.
fn read_back<T: 'static>(store: &mut Store<T>, exports: &[(String, Extern)]) {
    for (name, ext) in exports {
        match ext {
            Extern::Memory(m) => {
                let len = m.data_size(&*store);
                assert_eq!(len as u64, m.size(&*store) << 16, "memory `{name}`: byte size and page count disagree");
                assert_eq!(m.data(&*store).len(), len, "memory `{name}`: data() and data_size() disagree");
            }
            Extern::Table(t) => {
                let size = t.size(&mut *store);
                for i in [0, size / 2, size.saturating_sub(1)] {
                    assert_eq!(t.get(&mut *store, i).is_some(), i < size, "table `{name}` of size {size}: get({i})");
                }
                assert!(t.get(&mut *store, size).is_none(), "table `{name}`: get past the end");
            }
            Extern::Global(g) => {
                g.get(&mut *store);
            }
            // Fuzzed configurations leave threads off: no shared memories.
            Extern::Func(_) | Extern::Tag(_) | Extern::SharedMemory(_) => {}
        }
    }
}
