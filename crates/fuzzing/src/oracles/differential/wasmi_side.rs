//! The wasmi side of the differential oracle: the same steps as Kiln's,
//! in `DiffValue`s.

use super::{DiffOutcome, DiffValue, Snapshot};
use crate::generators::config::FUEL;
use wasmi::TrapCode;

/// A module compiled by wasmi and, once instantiated, its instance.
pub struct Peer {
    store: wasmi::Store<()>,
    module: wasmi::Module,
    instance: Option<wasmi::Instance>,
}

impl Peer {
    /// Compiles `wasm`; `None` if wasmi cannot (a feature it lacks).
    pub fn new(wasm: &[u8]) -> Option<Peer> {
        let mut config = wasmi::Config::default();
        config.consume_fuel(true);
        let engine = wasmi::Engine::new(&config);
        let module = wasmi::Module::new(&engine, wasm).ok()?;
        Some(Peer { store: wasmi::Store::new(&engine, ()), module, instance: None })
    }

    pub fn instantiate(&mut self) -> DiffOutcome {
        self.store.set_fuel(FUEL).expect("fuel is enabled");
        let linker = wasmi::Linker::<()>::new(self.store.engine());
        match linker.instantiate_and_start(&mut self.store, &self.module) {
            Ok(instance) => {
                self.instance = Some(instance);
                DiffOutcome::Returned(vec![])
            }
            Err(e) => outcome_of_error(&e),
        }
    }

    /// Calls export `name`.
    pub fn call(&mut self, name: &str, args: &[DiffValue], results: usize) -> DiffOutcome {
        let instance = self.instance.expect("instantiated");
        let Some(func) = instance.get_func(&self.store, name) else {
            return DiffOutcome::Error(format!("wasmi has no function export `{name}`"));
        };
        let args: Vec<wasmi::Val> = args.iter().map(|a| to_wasmi(*a)).collect();
        let mut out = vec![wasmi::Val::I32(0); results];
        self.store.set_fuel(FUEL).expect("fuel is enabled");
        match func.call(&mut self.store, &args, &mut out) {
            Ok(()) => DiffOutcome::Returned(out.iter().map(from_wasmi).collect()),
            Err(e) => outcome_of_error(&e),
        }
    }

    pub fn snapshot(&self) -> Snapshot {
        let instance = self.instance.expect("instantiated");
        let mut s = Snapshot { memories: vec![], globals: vec![], tables: vec![] };
        for export in instance.exports(&self.store) {
            let name = export.name().to_string();
            match export.into_extern() {
                wasmi::Extern::Memory(m) => s.memories.push((name, m.data(&self.store).to_vec())),
                wasmi::Extern::Global(g) => s.globals.push((name, from_wasmi(&g.get(&self.store)))),
                wasmi::Extern::Table(t) => s.tables.push((name, t.size(&self.store))),
                wasmi::Extern::Func(_) => {}
            }
        }
        s.sort();
        s
    }
}

fn outcome_of_error(e: &wasmi::Error) -> DiffOutcome {
    use wasmi::errors::{ErrorKind, FuelError};
    match e.kind() {
        ErrorKind::TrapCode(TrapCode::OutOfFuel | TrapCode::StackOverflow) | ErrorKind::Fuel(FuelError::OutOfFuel { .. }) => DiffOutcome::Exhausted,
        // wasmi reports some traps (bulk table and memory operations out of
        // bounds, segments out of bounds at instantiation) as errors of
        // the entity involved rather than as trap codes.
        ErrorKind::TrapCode(_) | ErrorKind::Table(_) | ErrorKind::Memory(_) | ErrorKind::Global(_) | ErrorKind::Instantiation(_) => {
            DiffOutcome::Trapped(e.to_string())
        }
        _ => DiffOutcome::Error(e.to_string()),
    }
}

fn to_wasmi(v: DiffValue) -> wasmi::Val {
    match v {
        DiffValue::I32(x) => wasmi::Val::I32(x),
        DiffValue::I64(x) => wasmi::Val::I64(x),
        DiffValue::F32(x) => wasmi::Val::F32(wasmi::F32::from_bits(x)),
        DiffValue::F64(x) => wasmi::Val::F64(wasmi::F64::from_bits(x)),
        DiffValue::V128(x) => wasmi::Val::V128(wasmi::V128::from(x)),
        DiffValue::FuncRef { .. } => wasmi::Val::FuncRef(wasmi::Ref::Null),
        DiffValue::ExternRef { .. } => wasmi::Val::ExternRef(wasmi::Ref::Null),
    }
}

fn from_wasmi(v: &wasmi::Val) -> DiffValue {
    match v {
        wasmi::Val::I32(x) => DiffValue::I32(*x),
        wasmi::Val::I64(x) => DiffValue::I64(*x),
        wasmi::Val::F32(x) => DiffValue::F32(x.to_bits()),
        wasmi::Val::F64(x) => DiffValue::F64(x.to_bits()),
        wasmi::Val::V128(x) => DiffValue::V128(x.as_u128()),
        wasmi::Val::FuncRef(r) => DiffValue::FuncRef { null: r.is_null() },
        wasmi::Val::ExternRef(r) => DiffValue::ExternRef { null: r.is_null() },
    }
}
