//! `kiln run`: run a WASI command, or call one export of any module.
//!
//! Every module is linked against WASI preview1 (`wasi_snapshot_preview1`)
//! and the exports of the `--preload`ed modules. Without `--invoke`, a
//! module exporting `_start` is run as a WASI command: ARGS become its
//! argv (after the file's base name as `argv[0]`), it inherits stdin, stdout
//! and stderr, and the process exits with the status the guest passed to
//! `proc_exit` (0 if `_start` returns). A module without `_start` has its
//! `main` called instead, and `--invoke NAME` calls `NAME`; then ARGS are
//! the function's parameters and its results are printed one per line, in
//! the format of `wasmtime run --invoke`.
//!
//! The flags mean what they mean to `wasmtime run`:
//! - `--dir HOST[::GUEST]` preopens the host directory HOST, which the
//!   guest sees as GUEST (by default, HOST as written);
//! - `--env NAME=VAL` sets a guest environment variable; `--env NAME`
//!   copies the host's value, if it has one;
//! - `--preload NAME=FILE` instantiates FILE first (it may use WASI, and
//!   has its `_initialize` called if it exports one) and makes its exports
//!   importable under the module name NAME.
//!
//! `--gc-stats`, Kiln's own, prints the store's GC statistics on stderr
//! when the program ends, however it ends (after any error message).
//!
//! Kiln's own options may also follow FILE, up to the first argument for
//! the guest (so `kiln run app.wat --invoke main` works); after that, or
//! after `--`, everything belongs to the guest.
//!
//! Traps end the process with status 134 (128 + SIGABRT), as in Wasmtime,
//! after printing the trap and its Wasm backtrace. An exception nothing
//! catches is an ordinary error (status 1): Wasmtime does not count it as a
//! trap either.

use crate::options::StoreOptions;
use crate::values::{format_result, parse_arg};
use anyhow::{Context as _, Result, anyhow, bail};
use clap::Args;
use kiln::{Engine, Func, GcStats, Instance, Linker, Module, ProfilingStrategy, Store, Trap, Val};
use kiln_wasi::{I32Exit, WasiCtx};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// What `wasmtime run` exits with after a trap on Unix: 128 + SIGABRT.
const TRAP_EXIT_STATUS: u8 = 134;

/// Runs a WebAssembly module (.wasm or .wat): a WASI command's `_start`, or
/// one exported function.
#[derive(Args)]
pub struct RunCommand {
    /// The module: a binary `.wasm` or a text `.wat` file.
    file: PathBuf,

    #[command(flatten)]
    options: crate::options::EngineOptions,

    /// Describes compiled code to a native profiler: `perfmap` writes
    /// `/tmp/perf-<pid>.map` for Linux `perf`.
    #[arg(long, value_name = "STRATEGY", value_parser = parse_profile)]
    profile: Option<ProfilingStrategy>,

    /// Runs FILE (and preloads) even when it is a precompiled `.cwasm`
    /// (from `kiln compile`), whose machine code is trusted as is.
    #[arg(long)]
    allow_precompiled: bool,

    /// The exported function to call [default: `_start`, else `main`].
    #[arg(long, value_name = "NAME")]
    invoke: Option<String>,

    /// Grants the guest a host directory, seen by the guest as GUEST
    /// (default: HOST as written). Repeatable.
    #[arg(long = "dir", value_name = "HOST[::GUEST]")]
    dirs: Vec<String>,

    /// Sets a guest environment variable; `NAME` alone copies the host's
    /// value. Repeatable.
    #[arg(long = "env", value_name = "NAME[=VAL]")]
    envs: Vec<String>,

    /// Instantiates FILE before the main module and makes its exports
    /// importable under the module name NAME. Repeatable.
    #[arg(long = "preload", value_name = "NAME=FILE")]
    preloads: Vec<String>,

    /// When the program ends, however it ends, print its GC statistics on
    /// stderr: collections, allocation, heap size and pauses (Kiln only).
    #[arg(long)]
    gc_stats: bool,

    /// The command's arguments (argv[1..]); with `--invoke`, or when the
    /// module has no `_start`, the function's parameters: integers in
    /// decimal or `0x` hex, floats in decimal (`inf`, `nan` too).
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "ARGS"
    )]
    args: Vec<String>,
}

impl RunCommand {
    pub fn execute(self) -> Result<ExitCode> {
        if let Some(help) = self.options.help_requested() {
            print!("{help}");
            return Ok(ExitCode::SUCCESS);
        }
        let (mut config, store_options) = self.options.config()?;
        if let Some(profile) = self.profile {
            config.profiler(profile);
        }
        let engine = Engine::new(&config)?;
        let mut linker = Linker::new(&engine);
        kiln_wasi::add_to_linker(&mut linker, |cx: &mut WasiCtx| cx)?;
        let mut store = Store::new(&engine, self.wasi_ctx()?);
        let outcome = self.run(&engine, &mut linker, &mut store, &store_options);
        let status = exit_status(outcome);
        // Last, after any error, so the statistics cover the whole run.
        if self.gc_stats {
            eprint!("{}", gc_stats_report(store.gc_stats()));
        }
        Ok(status)
    }

    /// The guest's WASI context: argv, environment, preopens, host stdio.
    fn wasi_ctx(&self) -> Result<WasiCtx> {
        let mut builder = WasiCtx::builder();
        // argv[0] is the base name only, so the guest does not learn where
        // on the host it was loaded from (as in Wasmtime).
        let program = self
            .file
            .file_name()
            .map_or_else(|| self.file.to_string_lossy(), |n| n.to_string_lossy());
        builder.arg(program)?.args(&self.args)?.inherit_stdio();
        for env in &self.envs {
            match env.split_once('=') {
                Some((name, value)) => {
                    builder.env(name, value)?;
                }
                None => {
                    if let Ok(value) = std::env::var(env) {
                        builder.env(env, value)?;
                    }
                }
            }
        }
        for dir in &self.dirs {
            let (host, guest) = dir.split_once("::").unwrap_or((dir, dir));
            builder
                .preopened_dir(host, guest)
                .with_context(|| format!("--dir {dir}"))?;
        }
        Ok(builder.build())
    }

    fn run(
        &self,
        engine: &Engine,
        linker: &mut Linker<WasiCtx>,
        store: &mut Store<WasiCtx>,
        store_options: &StoreOptions,
    ) -> Result<ExitCode> {
        // Everything is compiled before the store gets its fuel and the
        // timeout's clock starts: they limit running Wasm, not compiling it.
        let mut preloads = Vec::new();
        for preload in &self.preloads {
            let (name, file) = preload
                .split_once('=')
                .ok_or_else(|| anyhow!("--preload {preload}: expected NAME=FILE"))?;
            preloads.push((name, file, load(engine, Path::new(file), self.allow_precompiled)?));
        }
        let module = load(engine, &self.file, self.allow_precompiled)?;
        store_options.apply(store)?;

        for (name, file, module) in preloads {
            let instance = linker
                .instantiate(&mut *store, &module)
                .with_context(|| format!("instantiating preload `{file}`"))?;
            if let Some(init) = instance.get_func(&mut *store, "_initialize") {
                init.call(&mut *store, &[], &mut [])
                    .with_context(|| format!("calling `_initialize` of `{file}`"))?;
            }
            linker.instance(&mut *store, name, instance)?;
        }

        let instance = linker
            .instantiate(&mut *store, &module)
            .with_context(|| format!("instantiating `{}`", self.file.display()))?;
        match &self.invoke {
            Some(name) => self.invoke(store, instance, name),
            None if instance.get_func(&mut *store, "_start").is_some() => {
                let start = instance.get_typed_func::<(), ()>(&mut *store, "_start")?;
                start.call(&mut *store, ()).context("calling `_start`")?;
                Ok(ExitCode::SUCCESS)
            }
            None if instance.get_func(&mut *store, "main").is_some() => {
                self.invoke(store, instance, "main")
            }
            None => bail!("the module exports no `_start` or `main` function; use --invoke NAME"),
        }
    }

    /// Calls export `name` with ARGS as its parameters and prints its results.
    fn invoke(
        &self,
        store: &mut Store<WasiCtx>,
        instance: Instance,
        name: &str,
    ) -> Result<ExitCode> {
        let func: Func = instance
            .get_func(&mut *store, name)
            .ok_or_else(|| anyhow!("the module exports no function named `{name}`"))?;
        let ty = func.ty(&mut *store);
        if self.args.len() != ty.params().len() {
            bail!(
                "`{name}` takes {} argument(s) ({}), {} given",
                ty.params().len(),
                type_list(ty.params()),
                self.args.len()
            );
        }
        let args = self
            .args
            .iter()
            .zip(ty.params())
            .enumerate()
            .map(|(i, (text, param))| {
                parse_arg(text, param)
                    .with_context(|| format!("parameter {i} of `{name}` ({param}): `{text}`"))
            })
            .collect::<Result<Vec<Val>>>()?;

        // Placeholders only: `call` overwrites every slot.
        let mut results: Vec<Val> = ty.results().iter().map(|_| Val::I32(0)).collect();
        func.call(&mut *store, &args, &mut results)
            .with_context(|| format!("calling `{name}`"))?;
        for result in &results {
            println!("{}", format_result(result));
        }
        Ok(ExitCode::SUCCESS)
    }
}

/// The process status for how the run ended, after reporting its error
/// if it failed.
fn exit_status(outcome: Result<ExitCode>) -> ExitCode {
    let err = match outcome {
        Ok(status) => return status,
        Err(err) => err,
    };
    if let Some(exit) = err.downcast_ref::<I32Exit>() {
        return ExitCode::from(exit.process_status());
    }
    crate::report(&err);
    // Wasmtime raises an exception nothing caught as an error of the call,
    // not as a trap, so it exits 1 like other errors.
    match err.downcast_ref::<Trap>() {
        Some(_) => ExitCode::from(TRAP_EXIT_STATUS),
        None => ExitCode::FAILURE,
    }
}

/// What `--gc-stats` prints for a store's GC statistics (`None`: the store
/// never needed a GC heap).
fn gc_stats_report(stats: Option<GcStats>) -> String {
    let Some(stats) = stats else {
        return "GC statistics: no GC heap (nothing was allocated in one)\n".to_string();
    };
    format!(
        "GC statistics:\n\
         \x20 collections:     {} ({} of the nursery alone, {} of those in place)\n\
         \x20 allocated:       {} bytes\n\
         \x20 heap size:       {} bytes at the end\n\
         \x20 in use at end:   {} bytes\n\
         \x20 total pause:     {:?}\n\
         \x20 longest pause:   {:?}\n",
        stats.collections,
        stats.minor_collections,
        stats.promotions_in_place,
        // Not `objects_allocated`: objects compiled code allocates inline
        // are counted in batches, so it undercounts.
        stats.bytes_allocated,
        stats.heap_size,
        stats.bytes_in_use,
        stats.total_pause,
        stats.longest_pause,
    )
}

/// Compiles `file`, or loads it if it is a precompiled module and that is
/// allowed (as in Wasmtime, running a `.cwasm` must be asked for: its
/// machine code runs unchecked).
fn load(engine: &Engine, file: &Path, allow_precompiled: bool) -> Result<Module> {
    let bytes = std::fs::read(file).with_context(|| format!("reading `{}`", file.display()))?;
    if Engine::detect_precompiled(&bytes).is_some() {
        if !allow_precompiled {
            bail!("cannot load precompiled module `{}` unless --allow-precompiled is passed", file.display());
        }
        // SAFETY: the user vouched for the file with --allow-precompiled.
        return unsafe { Module::deserialize(engine, &bytes) }.with_context(|| format!("loading precompiled module `{}`", file.display()));
    }
    Module::new(engine, &bytes).with_context(|| format!("compiling `{}`", file.display()))
}

fn type_list(types: &[kiln::ValType]) -> String {
    if types.is_empty() {
        return "none".to_string();
    }
    let names: Vec<String> = types.iter().map(ToString::to_string).collect();
    names.join(", ")
}

/// `--profile`'s strategies, spelled as Wasmtime spells them.
fn parse_profile(s: &str) -> Result<ProfilingStrategy> {
    match s {
        "perfmap" => Ok(ProfilingStrategy::PerfMap),
        "none" => Ok(ProfilingStrategy::None),
        other => anyhow::bail!("unknown profiling strategy `{other}`; known: perfmap, none"),
    }
}
