//! [`WastContext`]: the state of one script run and the loop over its
//! directives.
//!
//! A script runs in one store with one linker: `register` puts an instance
//! into the linker under a module name, and later modules import from it, so
//! every instance must live in the same store. The linker allows shadowing
//! because scripts re-register the same name.
//!
//! Invariants:
//! - "The current instance" is the most recent `module` or `module instance`;
//!   `invoke`, `get` and `register` without a name use it.
//! - A module directive that fails leaves a [`Slot::Failed`] in its place
//!   (and in the current slot). Later actions on it report that failure
//!   instead of silently running against an older instance, which matters
//!   in continue mode where the script goes on after a failure.
//! - Assertion handlers (in `assertions`) never bind names or change the
//!   current instance: only `module` and `module instance` do.

mod assertions;

use crate::report::{DirectiveFailure, WastSummary};
use crate::spectest::{self, SpectestOutput};
use crate::values::{self, HostRefs};
use anyhow::{Context as _, Result, anyhow, bail};
use kiln::{Engine, Extern, Instance, Linker, Module, Store, Val};
use std::collections::HashMap;
use std::fmt;
use wast::lexer::Lexer;
use wast::parser::{self, ParseBuffer};
use wast::token::Id;
use wast::{QuoteWat, Wast, WastDirective, WastExecute, WastInvoke, Wat};

/// Runs `.wast` scripts against one Kiln store.
///
/// Use a fresh context per script: names registered by one script stay
/// visible to the next one run in the same context.
pub struct WastContext {
    engine: Engine,
    store: Store<()>,
    linker: Linker<()>,
    /// Every `module definition`, in script order. `Module` need not be
    /// `Clone`, so names refer to positions here.
    definitions: Vec<Module>,
    /// `module definition $name` -> position in `definitions`.
    definition_names: HashMap<String, Slot<usize>>,
    /// The most recent `module definition`, for `module instance` without a
    /// module name.
    last_definition: Option<Slot<usize>>,
    /// `(module $name ...)` and `(module instance $name ...)`.
    instances: HashMap<String, Slot<Instance>>,
    current: Option<Slot<Instance>>,
    host_refs: HostRefs,
    /// In a `thread`: the shared memories of its `(shared (module $m))`,
    /// under `$m`, for `register`.
    shared_modules: HashMap<String, Vec<(String, Extern)>>,
}

/// A `thread` directive's thread: its directives' summary, or why it
/// could not run them.
type ThreadHandle<'scope> = std::thread::ScopedJoinHandle<'scope, Result<WastSummary>>;

fn failure_at(text: &str, file: &str, span: wast::token::Span, directive: &'static str, message: String) -> DirectiveFailure {
    let (line, col) = span.linecol_in(text);
    DirectiveFailure { file: file.to_string(), line: line + 1, col: col + 1, directive, message }
}

/// `(wait $thread)`: its directives count as passed here, and its first
/// failure fails the `wait`.
fn join_thread(handle: ThreadHandle<'_>, summary: &mut WastSummary) -> Result<()> {
    let thread = handle.join().map_err(|_| anyhow!("the thread panicked"))??;
    summary.passed += thread.passed;
    match thread.failures.into_iter().next() {
        None => Ok(()),
        Some(f) => bail!("in the thread, {}:{}:{}: {} failed: {}", f.file, f.line, f.col, f.directive, f.message),
    }
}

/// Something a directive defined, or the place where defining it failed.
#[derive(Clone, Copy)]
enum Slot<T> {
    Ready(T),
    Failed(Location),
}

/// A 1-based position in the script.
#[derive(Clone, Copy, Debug)]
struct Location {
    line: usize,
    col: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

/// Whether a run stops at the first failing directive.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    StopAtFirstFailure,
    Continue,
}

/// The result of performing an action (`invoke`, `get`, or instantiating
/// the module of an `assert_trap`).
///
/// The outer `Result` of [`WastContext::execute`] is about whether the
/// action could be set up at all (unknown export, module that does not
/// compile); this inner one is what running it did. Assertions about traps
/// only look at the inner error, so a typo'd export name is never mistaken
/// for the expected trap.
type Outcome = Result<Vec<Val>, anyhow::Error>;

impl WastContext {
    /// A context whose `spectest.print*` functions print nothing.
    pub fn new(engine: &Engine) -> Result<Self> {
        Self::with_output(engine, SpectestOutput::Silent)
    }

    /// A context whose `spectest.print*` functions write to `output`.
    pub fn with_output(engine: &Engine, output: SpectestOutput) -> Result<Self> {
        let mut store = Store::new(engine, ());
        let mut linker = Linker::new(engine);
        linker.allow_shadowing(true);
        spectest::link(&mut linker, &mut store, output).context("defining `spectest`")?;
        Ok(WastContext {
            engine: engine.clone(),
            store,
            linker,
            definitions: Vec::new(),
            definition_names: HashMap::new(),
            last_definition: None,
            instances: HashMap::new(),
            current: None,
            host_refs: HostRefs::default(),
            shared_modules: HashMap::new(),
        })
    }

    /// Runs the script `text` (named `file` in messages) and stops at the
    /// first directive that fails, returning it as a [`DirectiveFailure`].
    ///
    /// This is what the spec harness wants: later directives usually depend
    /// on the state earlier ones built.
    pub fn run(&mut self, text: &str, file: &str) -> Result<()> {
        let summary = self.run_script(text, file, Mode::StopAtFirstFailure);
        match summary.failures.into_iter().next() {
            None => Ok(()),
            Some(failure) => Err(failure.into()),
        }
    }

    /// Runs the whole script `text` (named `file` in messages), carrying on
    /// after failures, and returns every failure.
    pub fn run_all(&mut self, text: &str, file: &str) -> WastSummary {
        self.run_script(text, file, Mode::Continue)
    }

    fn run_script(&mut self, text: &str, file: &str, mode: Mode) -> WastSummary {
        let mut summary = WastSummary::default();
        // The spec suite has names with bidirectional-override and other
        // "confusing" characters on purpose; the lexer rejects them by default.
        let mut lexer = Lexer::new(text);
        lexer.allow_confusing_unicode(true);
        let parse_failure = |err: wast::Error| {
            let message = format!("the script does not parse: {}", err.message());
            failure_at(text, file, err.span(), "script", message)
        };
        let buf = match ParseBuffer::new_with_lexer(lexer) {
            Ok(buf) => buf,
            Err(err) => {
                summary.failures.push(parse_failure(err));
                return summary;
            }
        };
        let wast = match parser::parse::<Wast<'_>>(&buf) {
            Ok(wast) => wast,
            Err(err) => {
                summary.failures.push(parse_failure(err));
                return summary;
            }
        };

        self.run_directives(wast.directives, text, file, mode, &mut summary);
        summary
    }

    /// Runs `directives` (of the script `text`, named `file`), adding to
    /// `summary`. `thread` directives run on scoped threads, so every
    /// thread has ended when this returns; one never waited for is joined
    /// at the end and its failures reported all the same.
    fn run_directives(&mut self, directives: Vec<WastDirective<'_>>, text: &str, file: &str, mode: Mode, summary: &mut WastSummary) {
        let failure = |span, directive, message| failure_at(text, file, span, directive, message);
        std::thread::scope(|scope| {
            let mut threads = HashMap::new();
            for directive in directives {
                let span = directive.span();
                let kind = directive_name(&directive);
                let result = match directive {
                    WastDirective::Thread(thread) => self.spawn_thread(scope, &mut threads, thread, text, file, mode),
                    WastDirective::Wait { thread, .. } => match threads.remove(thread.name()) {
                        Some((_, handle)) => join_thread(handle, summary),
                        None => Err(anyhow!("unknown thread `${}`", thread.name())),
                    },
                    directive => {
                        let (line, col) = span.linecol_in(text);
                        self.directive(directive, Location { line: line + 1, col: col + 1 })
                    }
                };
                match result {
                    Ok(()) => summary.passed += 1,
                    Err(err) => {
                        summary.failures.push(failure(span, kind, format!("{err:#}")));
                        if mode == Mode::StopAtFirstFailure {
                            break;
                        }
                    }
                }
            }
            for (_, (span, handle)) in threads.drain() {
                if let Err(err) = join_thread(handle, summary) {
                    summary.failures.push(failure(span, "thread", format!("{err:#} (a thread no `wait` joined)")));
                }
            }
        });
    }

    /// `(thread $name (shared (module $m))? directives...)`: runs the
    /// directives on a new thread, in a context of its own (a store can
    /// only be used by one thread), which sees the shared memories that
    /// `$m` exports as the module `$m`.
    fn spawn_thread<'scope, 'a: 'scope>(
        &mut self,
        scope: &'scope std::thread::Scope<'scope, '_>,
        threads: &mut HashMap<String, (wast::token::Span, ThreadHandle<'scope>)>,
        thread: wast::WastThread<'a>,
        text: &'scope str,
        file: &'scope str,
        mode: Mode,
    ) -> Result<()> {
        let (name, span) = (thread.name.name().to_string(), thread.span);
        if threads.contains_key(&name) {
            bail!("thread `${name}` is already running");
        }
        let mut shared = HashMap::new();
        if let Some(module) = thread.shared_module {
            let exports = self.instance(Some(module))?.exports(&mut self.store);
            let memories: Vec<_> = exports.into_iter().filter(|(_, ext)| matches!(ext, Extern::SharedMemory(_))).collect();
            shared.insert(module.name().to_string(), memories);
        }
        let engine = self.engine.clone();
        let directives = thread.directives;
        let handle = std::thread::Builder::new()
            .name(format!("wast thread ${name}"))
            .spawn_scoped(scope, move || {
                let mut summary = WastSummary::default();
                let mut cx = WastContext::new(&engine)?;
                cx.shared_modules = shared;
                cx.run_directives(directives, text, file, mode, &mut summary);
                Ok(summary)
            })
            .context("spawning a thread")?;
        threads.insert(name, (span, handle));
        Ok(())
    }

    fn directive(&mut self, directive: WastDirective<'_>, at: Location) -> Result<()> {
        use WastDirective as D;
        match directive {
            D::Module(module) => self.module(module, at),
            D::ModuleDefinition(module) => self.module_definition(module, at),
            D::ModuleInstance {
                instance, module, ..
            } => self.module_instance(instance, module, at),
            D::Register { name, module, .. } => {
                if let Some(exports) = module.and_then(|m| self.shared_modules.get(m.name())) {
                    for (field, ext) in exports.clone() {
                        self.linker.define(&self.store, name, &field, ext)?;
                    }
                    return Ok(());
                }
                let instance = self.instance(module)?;
                self.linker.instance(&mut self.store, name, instance)?;
                Ok(())
            }
            D::Invoke(invoke) => match self.invoke(&invoke)? {
                Ok(_) => Ok(()),
                Err(err) => Err(err.context(format!("invoking `{}` failed", invoke.name))),
            },
            D::AssertReturn { exec, results, .. } => self.assert_return(exec, &results),
            D::AssertTrap { exec, message, .. } => self.assert_trap(exec, message),
            D::AssertExhaustion { call, message, .. } => self.assert_exhaustion(&call, message),
            D::AssertInvalid {
                module, message, ..
            } => self.assert_invalid(module, message),
            D::AssertMalformed {
                module, message, ..
            } => self.assert_malformed(module, message),
            D::AssertUnlinkable {
                module, message, ..
            } => self.assert_unlinkable(module, message),
            D::AssertException { exec, .. } => self.assert_exception(exec),
            D::AssertInvalidCustom {
                module, message, ..
            }
            | D::AssertMalformedCustom {
                module, message, ..
            } => self.assert_bad_custom_section(module, message),
            D::AssertSuspension { .. } => bail!("not supported yet: stack switching"),
            D::Thread(_) | D::Wait { .. } => unreachable!("`run_directives` runs threads"),
        }
    }

    /// `(module ...)`: compile, instantiate, make it current.
    fn module(&mut self, mut module: QuoteWat<'_>, at: Location) -> Result<()> {
        let name = module.name().map(|id| id.name().to_string());
        let instance = self.compile(&mut module).and_then(|module| {
            self.linker
                .instantiate(&mut self.store, &module)
                .context("instantiation failed")
        });
        let slot = match &instance {
            Ok(instance) => Slot::Ready(*instance),
            Err(_) => Slot::Failed(at),
        };
        self.bind_instance(name, slot);
        instance.map(drop)
    }

    /// `(module definition $name ...)`: compile only.
    fn module_definition(&mut self, mut module: QuoteWat<'_>, at: Location) -> Result<()> {
        let name = module.name().map(|id| id.name().to_string());
        let (slot, result) = match self.compile(&mut module) {
            Ok(module) => {
                self.definitions.push(module);
                (Slot::Ready(self.definitions.len() - 1), Ok(()))
            }
            Err(err) => (Slot::Failed(at), Err(err)),
        };
        if let Some(name) = name {
            self.definition_names.insert(name, slot);
        }
        self.last_definition = Some(slot);
        result
    }

    /// `(module instance $instance $definition)`.
    fn module_instance(
        &mut self,
        instance: Option<Id<'_>>,
        definition: Option<Id<'_>>,
        at: Location,
    ) -> Result<()> {
        let instantiated = self.definition(definition).and_then(|index| {
            self.linker
                .instantiate(&mut self.store, &self.definitions[index])
                .context("instantiation failed")
        });
        let slot = match &instantiated {
            Ok(instance) => Slot::Ready(*instance),
            Err(_) => Slot::Failed(at),
        };
        self.bind_instance(instance.map(|id| id.name().to_string()), slot);
        instantiated.map(drop)
    }

    fn bind_instance(&mut self, name: Option<String>, slot: Slot<Instance>) {
        if let Some(name) = name {
            self.instances.insert(name, slot);
        }
        self.current = Some(slot);
    }

    /// The definition `id` names, or the most recent one.
    fn definition(&self, id: Option<Id<'_>>) -> Result<usize> {
        let slot = match id {
            None => self
                .last_definition
                .ok_or_else(|| anyhow!("no module definition precedes this directive"))?,
            Some(id) => *self
                .definition_names
                .get(id.name())
                .ok_or_else(|| anyhow!("unknown module definition `${}`", id.name()))?,
        };
        match slot {
            Slot::Ready(index) => Ok(index),
            Slot::Failed(at) => bail!("the module definition at {at} failed (reported there)"),
        }
    }

    /// The instance `id` names, or the current one.
    fn instance(&self, id: Option<Id<'_>>) -> Result<Instance> {
        let slot = match id {
            None => self
                .current
                .ok_or_else(|| anyhow!("no module has been instantiated yet"))?,
            Some(id) => *self
                .instances
                .get(id.name())
                .ok_or_else(|| anyhow!("unknown module instance `${}`", id.name()))?,
        };
        match slot {
            Slot::Ready(instance) => Ok(instance),
            Slot::Failed(at) => bail!("the module defined at {at} failed (reported there)"),
        }
    }

    /// Encodes a script module (text, quoted text or binary) and compiles it.
    fn compile(&self, module: &mut QuoteWat<'_>) -> Result<Module> {
        if is_component(module) {
            bail!("not supported: components");
        }
        let bytes = module
            .encode()
            .map_err(|e| anyhow!("the module text does not parse: {}", e.message()))?;
        self.compile_binary(&bytes)
    }

    fn compile_wat(&self, wat: &mut Wat<'_>) -> Result<Module> {
        if let Wat::Component(_) = wat {
            bail!("not supported: components");
        }
        let bytes = wat
            .encode()
            .map_err(|e| anyhow!("the module text does not parse: {}", e.message()))?;
        self.compile_binary(&bytes)
    }

    /// Always `from_binary`: `Module::new` would read bytes without the Wasm
    /// magic as text, and some malformed binaries in the suite (an empty
    /// one, say) are valid as text.
    fn compile_binary(&self, bytes: &[u8]) -> Result<Module> {
        Module::from_binary(&self.engine, bytes).context("the module failed to compile")
    }

    /// Performs an `invoke`, `get` or module instantiation.
    fn execute(&mut self, exec: WastExecute<'_>) -> Result<Outcome> {
        match exec {
            WastExecute::Invoke(invoke) => self.invoke(&invoke),
            WastExecute::Get { module, global, .. } => {
                let instance = self.instance(module)?;
                let global = instance
                    .get_global(&mut self.store, global)
                    .ok_or_else(|| anyhow!("no exported global `{global}`"))?;
                Ok(Ok(vec![global.get(&mut self.store)]))
            }
            WastExecute::Wat(mut wat) => {
                let module = self.compile_wat(&mut wat)?;
                Ok(self
                    .linker
                    .instantiate(&mut self.store, &module)
                    .map(|_| Vec::new()))
            }
        }
    }

    /// Calls an exported function with the script's arguments.
    fn invoke(&mut self, invoke: &WastInvoke<'_>) -> Result<Outcome> {
        let instance = self.instance(invoke.module)?;
        let func = instance
            .get_func(&mut self.store, invoke.name)
            .ok_or_else(|| anyhow!("no exported function `{}`", invoke.name))?;
        let ty = func.ty(&mut self.store);
        if ty.params().len() != invoke.args.len() {
            bail!(
                "`{}` takes {} argument(s), the script passes {}",
                invoke.name,
                ty.params().len(),
                invoke.args.len()
            );
        }
        let mut args = Vec::with_capacity(invoke.args.len());
        for (i, (arg, param)) in invoke.args.iter().zip(ty.params()).enumerate() {
            let val = values::arg_to_val(&mut self.store, &mut self.host_refs, arg, param)
                .with_context(|| format!("argument {i} of `{}`", invoke.name))?;
            args.push(val);
        }
        // Placeholders only: `call` overwrites every slot.
        let mut results: Vec<Val> = ty.results().iter().map(|_| Val::I32(0)).collect();
        Ok(func
            .call(&mut self.store, &args, &mut results)
            .map(|()| results))
    }
}

fn is_component(module: &QuoteWat<'_>) -> bool {
    matches!(
        module,
        QuoteWat::QuoteComponent(..) | QuoteWat::Wat(Wat::Component(_))
    )
}

/// The directive's keyword, for failure reports.
fn directive_name(directive: &WastDirective<'_>) -> &'static str {
    use WastDirective as D;
    match directive {
        D::Module(_) => "module",
        D::ModuleDefinition(_) => "module definition",
        D::ModuleInstance { .. } => "module instance",
        D::Register { .. } => "register",
        D::Invoke(_) => "invoke",
        D::AssertReturn { .. } => "assert_return",
        D::AssertTrap { .. } => "assert_trap",
        D::AssertExhaustion { .. } => "assert_exhaustion",
        D::AssertInvalid { .. } => "assert_invalid",
        D::AssertMalformed { .. } => "assert_malformed",
        D::AssertUnlinkable { .. } => "assert_unlinkable",
        D::AssertException { .. } => "assert_exception",
        D::AssertInvalidCustom { .. } => "assert_invalid_custom",
        D::AssertMalformedCustom { .. } => "assert_malformed_custom",
        D::AssertSuspension { .. } => "assert_suspension",
        D::Thread(_) => "thread",
        D::Wait { .. } => "wait",
    }
}
