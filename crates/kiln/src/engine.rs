//! The engine: configuration, the compiler, the type registry and the
//! shared trampolines. Cheap to clone, `Send + Sync`.

use crate::config::Config;
use crate::type_registry::TypeRegistry;
use crate::vm::code_memory::CodeMemory;
use anyhow::Result;
use kiln_cranelift::{Compiler, TrampolineKind};
use kiln_environ::SignatureRepr;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

#[derive(Clone)]
pub struct Engine {
    pub(crate) inner: Arc<EngineInner>,
}

pub(crate) struct EngineInner {
    pub config: Config,
    pub compiler: Compiler,
    pub types: TypeRegistry,
    pub gc_runtime: Box<dyn kiln_gc::GcRuntime>,
    /// The current epoch; boxed so compiled code can hold its address.
    pub epoch: Box<AtomicU64>,
    /// The builtins table instances point at: the Rust builtins, with those
    /// that may collect garbage reached through exit trampolines.
    pub builtins: Box<[usize]>,
    _exit_trampolines: Vec<Arc<CodeMemory>>,
    /// See [`Engine::fingerprint`]; made once, read at every cache lookup
    /// and artifact load.
    fingerprint: String,
    trampolines: Mutex<HashMap<(SignatureRepr, TrampolineKind), Trampoline>>,
    /// The pools, with the pooling allocation strategy.
    pub pool: Option<Arc<crate::allocation::PoolingAllocator>>,
}

/// A compiled trampoline and the code memory keeping it alive.
#[derive(Clone)]
pub(crate) struct Trampoline {
    pub address: usize,
    _code: Arc<CodeMemory>,
}

/// The engine's builtins table (see `EngineInner::builtins`).
fn builtins_table(compiler: &Compiler) -> Result<(Box<[usize]>, Vec<Arc<CodeMemory>>)> {
    use kiln_environ::Builtin;
    let n = Builtin::ALL.len();
    // SAFETY: the static table has one entry per builtin.
    let mut table: Vec<usize> = unsafe { std::slice::from_raw_parts(crate::vm::builtins::table(), n) }.to_vec();
    let mut code = Vec::new();
    // Every builtin that may allocate, and so collect, records its exit
    // frame: a collection walks the Wasm frames from there.
    for &f in Builtin::ALL.iter().filter(|f| f.has_exit_trampoline()) {
        let compiled = compiler.compile_exit_trampoline(f, table[f.index() as usize])?;
        let memory = Arc::new(CodeMemory::new(&compiled.code)?);
        table[f.index() as usize] = memory.start() + compiled.offsets[0] as usize;
        code.push(memory);
    }
    Ok((table.into_boxed_slice(), code))
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").field("config", &self.inner.config).finish_non_exhaustive()
    }
}

impl Default for Engine {
    fn default() -> Self {
        Engine::new(&Config::default()).expect("the default configuration is valid on supported hosts")
    }
}

impl Engine {
    pub fn new(config: &Config) -> Result<Engine> {
        let compiler = Compiler::new(config.opt_level, config.tunables)?;
        let gc_runtime = config.collector_kind().gc_runtime()?;
        let (builtins, exit_trampolines) = builtins_table(&compiler)?;
        let fingerprint = fingerprint(config, &compiler);
        let pool = match &config.allocation {
            crate::InstanceAllocationStrategy::OnDemand => None,
            crate::InstanceAllocationStrategy::Pooling(p) => Some(crate::allocation::PoolingAllocator::new(p, config.guard_pages())?),
        };
        Ok(Engine {
            inner: Arc::new(EngineInner {
                config: config.clone(),
                compiler,
                types: TypeRegistry::default(),
                gc_runtime,
                epoch: Box::new(AtomicU64::new(0)),
                builtins,
                _exit_trampolines: exit_trampolines,
                fingerprint,
                trampolines: Mutex::new(HashMap::new()),
                pool,
            }),
        })
    }

    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// Compiles `bytes` (binary or WAT) into a `.cwasm` artifact for
    /// [`crate::Module::deserialize`], as `Module::new(..)?.serialize()`.
    pub fn precompile_module(&self, bytes: &[u8]) -> Result<Vec<u8>> {
        crate::Module::new(self, bytes)?.serialize()
    }

    /// What kind of precompiled artifact `bytes` is, if it is one (judged
    /// by its header only; loading checks the rest).
    pub fn detect_precompiled(bytes: &[u8]) -> Option<Precompiled> {
        crate::artifact::is_artifact(bytes).then_some(Precompiled::Module)
    }

    /// Every setting compiled code depends on, as `key=value` pairs: a
    /// precompiled module loads only into an engine with the same ones.
    pub(crate) fn fingerprint(&self) -> &str {
        &self.inner.fingerprint
    }

    /// Advances the epoch; stores whose deadline it reaches are
    /// interrupted at their next check (see `Config::epoch_interruption`).
    /// Safe to call from any thread, e.g. a timer.
    pub fn increment_epoch(&self) {
        self.inner.epoch.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn current_epoch(&self) -> u64 {
        self.inner.epoch.load(Ordering::Relaxed)
    }

    pub fn same(a: &Engine, b: &Engine) -> bool {
        Arc::ptr_eq(&a.inner, &b.inner)
    }

    /// The trampoline of `kind` for signatures represented as `sig`,
    /// compiled on first use.
    pub(crate) fn trampoline(&self, sig: &SignatureRepr, kind: TrampolineKind) -> Result<Trampoline> {
        let key = (sig.clone(), kind);
        let mut cache = self.inner.trampolines.lock().unwrap();
        if let Some(t) = cache.get(&key) {
            return Ok(t.clone());
        }
        let compiled = self.inner.compiler.compile_trampolines(std::slice::from_ref(&key))?;
        let code = Arc::new(CodeMemory::new(&compiled.code)?);
        let t = Trampoline { address: code.start() + compiled.offsets[0] as usize, _code: code };
        cache.insert(key, t.clone());
        Ok(t)
    }
}

/// The kinds of precompiled artifact ([`Engine::detect_precompiled`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Precompiled {
    /// A core module, from [`crate::Module::serialize`].
    Module,
}

/// The settings `config` and `compiler` compile code with (see
/// [`Engine::fingerprint`]).
fn fingerprint(config: &Config, compiler: &Compiler) -> String {
    let t = config.tunables;
    format!(
        "kiln={}+{};collector={:?};bounds_checks={:?};epoch_interruption={};consume_fuel={};inlining={};wasm_features={:#x};{}",
        env!("CARGO_PKG_VERSION"),
        // The build's sources: another build of this version may lay out
        // the VMContext or number the builtins differently.
        env!("KILN_SOURCE_HASH"),
        t.collector,
        t.bounds_checks,
        t.epoch_interruption,
        t.consume_fuel,
        t.inlining,
        config.features.bits(),
        compiler.isa_fingerprint(),
    )
}
