//! Engine options shared by `kiln run` and `kiln wast`, in Wasmtime's
//! option groups and spellings, so a `wasmtime` user's flags carry over:
//! `-W` (Wasm proposals and limits), `-C` (code generation), `-O` (runtime
//! tuning) and `-D` (debugging), each also under Wasmtime's long name
//! (`--wasm`, `--codegen`, `--optimize`, `--debug`).
//!
//! A group takes `KEY[=VAL]` pairs, several per flag separated by commas or
//! in repeated flags; `-W help` (and so on) lists a group's keys.
//!
//! Invariants:
//! - One table per group lists every key the group knows; parsing, `help`
//!   and the error messages are all read from it, so they cannot disagree.
//! - Every key in a table is either honoured or refused, never accepted and
//!   ignored. A Wasmtime key for something Kiln lacks is an error saying it
//!   is not supported yet; a Wasmtime switch whose one setting is what
//!   Kiln always does (`-O signals-based-traps=y`, `-C compiler=cranelift`) accepts
//!   that setting and refuses the other.
//! - A key in no table is an error listing the keys Kiln honours.
//! - Pairs apply left to right, so a later value of a key wins.
//!
//! Values have Wasmtime's syntax: switches are `KEY`, `KEY=y|yes|true` or
//! `KEY=n|no|false`; numbers are decimal or `0x` hex with `_` allowed
//! between digits (Wasmtime takes no `K`/`M`/`G` size suffixes, so Kiln
//! takes none either); durations are `N` seconds or `N` followed by `ns`,
//! `us`, `ms`, `s`, `m` or `h`.

use anyhow::{Context as _, Result, anyhow, bail};
use clap::Args;
use kiln::{BoundsChecks, Cache, CacheConfig, Collector, Config, InstanceAllocationStrategy, OptLevel, PoolingAllocationConfig, Store};
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::time::Duration;

/// One option group: its flag, what its options are called, and its keys.
struct Group {
    flag: char,
    /// Plural, capitalised: the heading of `help`.
    name: &'static str,
    /// Singular, for "unknown code generation option `x`".
    singular: &'static str,
    keys: &'static [Key],
}

/// One key of a group. A `name` ending in `*` stands for every key with
/// that prefix (Wasmtime's `pooling-*` family, for example).
struct Key {
    name: &'static str,
    /// The value syntax `help` shows after the name, e.g. `[=y|n]`.
    value: &'static str,
    doc: &'static str,
    action: Action,
}

enum Action {
    /// A switch of `kiln::Config`, set to the value given.
    Switch(for<'a> fn(&'a mut Config, bool) -> &'a mut Config),
    /// Parses the value (`None` for a bare `KEY`) into the settings.
    Apply(fn(&mut Settings, Option<&str>) -> Result<()>),
    /// A Wasmtime switch Kiln cannot flip: `always` is what Kiln does, so
    /// it is accepted; the opposite needs `missing`, which Kiln lacks.
    Fixed { always: bool, missing: &'static str },
    /// A Wasmtime key for `missing`, which Kiln does not have yet.
    NotYet { missing: &'static str },
    /// A pooling allocator limit.
    Pooling(fn(&mut PoolingAllocationConfig, u64) -> Result<&mut PoolingAllocationConfig, std::num::TryFromIntError>),
}

const fn switch(name: &'static str, doc: &'static str, set: for<'a> fn(&'a mut Config, bool) -> &'a mut Config) -> Key {
    Key { name, value: "[=y|n]", doc, action: Action::Switch(set) }
}

const fn apply(name: &'static str, value: &'static str, doc: &'static str, f: fn(&mut Settings, Option<&str>) -> Result<()>) -> Key {
    Key { name, value, doc, action: Action::Apply(f) }
}

const fn fixed(name: &'static str, always: bool, missing: &'static str) -> Key {
    Key { name, value: "[=y|n]", doc: "", action: Action::Fixed { always, missing } }
}

const fn not_yet(name: &'static str, missing: &'static str) -> Key {
    Key { name, value: "", doc: "", action: Action::NotYet { missing } }
}

/// A `-O pooling-*` number, which `-O pooling-allocator` must come with.
const fn pooling(name: &'static str, doc: &'static str, set: fn(&mut PoolingAllocationConfig, u64) -> Result<&mut PoolingAllocationConfig, std::num::TryFromIntError>) -> Key {
    Key { name, value: "=N", doc, action: Action::Pooling(set) }
}

/// The largest GC heap Kiln can address: its references are 32-bit offsets.
const MAX_GC_HEAP: u64 = 4 << 30;

/// The smallest memory reservation (and guard) with which Kiln can elide
/// bounds checks: a 32-bit memory's whole index space.
const GUARD_PAGES_RESERVATION: u64 = 4 << 30;

const WASM: Group = Group {
    flag: 'W',
    name: "Wasm options",
    singular: "wasm option",
    keys: &[
        switch("gc", "the GC proposal: structs, arrays, i31 and the any/eq types", Config::wasm_gc),
        switch("function-references", "typed function references: call_ref, non-nullable references", Config::wasm_function_references),
        switch("exceptions", "exception handling: try_table, throw, exnref", Config::wasm_exceptions),
        switch("threads", "shared memories, atomic instructions, memory.atomic.wait/notify (off by default)", Config::wasm_threads),
        switch("legacy-exceptions", "the legacy exception instructions try, catch, catch_all, rethrow, delegate (off by default, as in Wasmtime)", Config::wasm_legacy_exceptions),
        switch("tail-call", "tail calls: return_call, return_call_indirect, return_call_ref", Config::wasm_tail_call),
        switch("simd", "128-bit SIMD", Config::wasm_simd),
        switch("relaxed-simd", "relaxed SIMD", Config::wasm_relaxed_simd),
        switch("memory64", "64-bit memories and tables", Config::wasm_memory64),
        switch("multi-memory", "more than one memory per module", Config::wasm_multi_memory),
        switch("reference-types", "externref, several tables, the table.* instructions", Config::wasm_reference_types),
        switch("bulk-memory", "memory.copy, memory.fill and passive segments", Config::wasm_bulk_memory),
        switch("multi-value", "functions and blocks returning several values", Config::wasm_multi_value),
        switch("extended-const", "i32.add and friends in constant expressions", Config::wasm_extended_const),
        switch("custom-page-sizes", "memories with a page size other than 64 KiB, `(pagesize 1)` (off by default, as in Wasmtime)", Config::wasm_custom_page_sizes),
        switch("wide-arithmetic", "i64.add128, i64.sub128, i64.mul_wide_s/u (off by default, as in Wasmtime)", Config::wasm_wide_arithmetic),
        apply("max-wasm-stack", "=N", "bytes of native stack Wasm may use before trapping with `call stack exhausted` (default: 524288)", |s, v| {
            let bytes = usize::try_from(number(v)?).context("too large for this host")?;
            if bytes == 0 {
                bail!("the stack size must be at least 1");
            }
            s.config.max_wasm_stack(bytes);
            Ok(())
        }),
        apply("max-memory-size", "=N", "largest size, in bytes, a linear memory may grow to: `memory.grow` beyond it returns -1 (default: 4 GiB)", |s, v| {
            s.config.max_memory_size(number(v)?);
            Ok(())
        }),
        apply("max-table-elements", "=N", "largest number of elements a table may grow to (default: 10000000)", |s, v| {
            s.config.max_table_elements(number(v)?);
            Ok(())
        }),
        apply("max-gc-heap-size", "=N", "largest size, in bytes, of a store's GC heap, at most 4 GiB; allocating beyond it traps (default: 1 GiB; Kiln only)", |s, v| {
            let bytes = number(v)?;
            if bytes > MAX_GC_HEAP {
                bail!("at most {MAX_GC_HEAP} (4 GiB): GC references are 32-bit heap offsets");
            }
            s.config.max_gc_heap_size(bytes);
            Ok(())
        }),
        apply("fuel", "=N", "run with N units of fuel, one per Wasm operator, trapping when it runs out (`kiln run` only)", |s, v| {
            s.store.fuel = Some(number(v)?);
            Ok(())
        }),
        switch("epoch-interruption", "compile epoch checks at function entries and loop headers; with no `timeout` the deadline is the starting epoch, so Wasm is interrupted at its first check, as in Wasmtime", Config::epoch_interruption),
        apply("timeout", "=N|Ns|Nms|..", "interrupt Wasm that runs longer than this, counted from the first instantiation; a bare number is seconds (`kiln run` only)", |s, v| {
            s.store.timeout = Some(duration(v)?);
            Ok(())
        }),
        fixed("shared-memory", false, "a shared memory made by the CLI for a module that imports one (wasi-threads)"),
        fixed("shared-everything-threads", false, "the shared-everything-threads proposal"),
        fixed("stack-switching", false, "the stack-switching proposal"),
        fixed("component-model*", false, "the component model"),
        fixed("concurrency-support", false, "component-model concurrency"),
        fixed("gc-support", true, "running without GC support"),
        not_yet("all-proposals", "switching every proposal at once"),
        not_yet("nan-canonicalization", "NaN canonicalization"),
        not_yet("relaxed-simd-deterministic", "deterministic relaxed SIMD"),
        not_yet("async-stack-size", "async stacks"),
        not_yet("async-stack-zeroing", "async stacks"),
        not_yet("unknown-exports-allow", "components"),
        not_yet("unknown-imports-trap", "stubbing unknown imports"),
        not_yet("unknown-imports-default", "stubbing unknown imports"),
        not_yet("wmemcheck", "the wmemcheck memory checker"),
        not_yet("max-instances", "per-store instance limits"),
        not_yet("max-tables", "per-store table limits"),
        not_yet("max-memories", "per-store memory limits"),
        not_yet("trap-on-grow-failure", "trapping on grow failure"),
    ],
};

const CODEGEN: Group = Group {
    flag: 'C',
    name: "Code generation options",
    singular: "code generation option",
    keys: &[
        apply("collector", "=null|copying|drc|generational", "the garbage collector (default: copying)", |s, v| {
            let collector = match required(v)? {
                "null" => Collector::Null,
                "copying" => Collector::Copying,
                "drc" => Collector::Drc,
                "generational" => Collector::Generational,
                other => bail!("unknown collector `{other}`; known: null, copying, drc, generational"),
            };
            s.config.collector(collector);
            Ok(())
        }),
        apply("compiler", "=cranelift", "the code generator: Kiln has Cranelift only", |_, v| match required(v)? {
            "cranelift" => Ok(()),
            "winch" => bail!("not supported by Kiln yet: the Winch baseline compiler"),
            other => bail!("unknown compiler `{other}`; known: cranelift"),
        }),
        apply("cache", "[=y|n]", "cache compiled modules in $XDG_CACHE_HOME/kiln (else ~/.cache/kiln), so a module run again starts without compiling (default: y)", |s, v| {
            s.cache = switch_value(v)?;
            Ok(())
        }),
        fixed("native-unwind-info", false, "native unwind info (Kiln unwinds by frame pointers)"),
        apply("cache-config", "=PATH", "read the module cache's settings from PATH (Wasmtime's TOML format: a [cache] table with enabled, directory, files-total-size-soft-limit)", |s, v| {
            s.cache_config = Some(PathBuf::from(required(v)?));
            Ok(())
        }),
        not_yet("cranelift-debug-verifier", "switching Cranelift's verifier (it runs in debug builds)"),
        not_yet("parallel-compilation", "switching parallel compilation"),
        not_yet("pcc", "proof-carrying code"),
        apply("inlining", "[=y|n]", "inline small functions into their callers (default: y)", |s, v| {
            s.config.compiler_inlining(switch_value(v)?);
            Ok(())
        }),
        not_yet("cranelift-*", "raw Cranelift settings"),
    ],
};

const RUNTIME: Group = Group {
    flag: 'O',
    name: "Runtime options",
    singular: "runtime option",
    keys: &[
        apply("opt-level", "=0|1|2|s", "optimisation of generated code: 0 none, 1 and 2 for speed, s for speed and size (default: 2)", |s, v| {
            let level = match required(v)? {
                "0" => OptLevel::None,
                "1" | "2" => OptLevel::Speed,
                "s" => OptLevel::SpeedAndSize,
                other => bail!("unknown optimisation level `{other}`; known: 0, 1, 2, s"),
            };
            s.config.cranelift_opt_level(level);
            Ok(())
        }),
        apply("memory-reservation", "=N", "address space reserved per linear memory: 0 for bounds-checked memories that move as they grow, at least 4 GiB for guard-page memories (the default)", |s, v| {
            s.memory_reservation = Some(layout_size(number(v)?)?);
            Ok(())
        }),
        apply("memory-guard-size", "=N", "guard region after a linear memory: 0 for bounds-checked memories, at least 4 GiB for guard-page memories (the default)", |s, v| {
            s.memory_guard_size = Some(layout_size(number(v)?)?);
            Ok(())
        }),
        apply("gc-zeal-alloc-counter", "=N", "collect garbage before every Nth GC allocation and verify the heap after every collection (for testing; slow)", |s, v| {
            let n = NonZeroU32::new(u32::try_from(number(v)?).context("too large")?).context("the counter must be at least 1")?;
            s.config.gc_zeal_alloc_counter(Some(n))?;
            Ok(())
        }),
        fixed("signals-based-traps", true, "trapping without signal handlers"),
        apply("pooling-allocator", "[=y|n]", "allocate instances, memories, tables and GC heaps from pools reserved once and reused (default: n)", |s, v| {
            s.pooling = switch_value(v)?.then(PoolingAllocationConfig::new);
            Ok(())
        }),
        pooling("pooling-total-core-instances", "instances alive at once (default: 1000)", |p, n| Ok(p.total_core_instances(u32::try_from(n)?))),
        pooling("pooling-total-memories", "memories alive at once (default: 1000)", |p, n| Ok(p.total_memories(u32::try_from(n)?))),
        pooling("pooling-total-tables", "tables alive at once (default: 1000)", |p, n| Ok(p.total_tables(u32::try_from(n)?))),
        pooling("pooling-total-gc-heaps", "GC heaps alive at once (default: 1000)", |p, n| Ok(p.total_gc_heaps(u32::try_from(n)?))),
        pooling("pooling-max-memory-size", "bytes a pooled memory may grow to (default: 4 GiB)", |p, n| Ok(p.max_memory_size(usize::try_from(n)?))),
        pooling("pooling-table-elements", "elements a pooled table may grow to (default: 20000)", |p, n| Ok(p.table_elements(usize::try_from(n)?))),
        pooling("pooling-max-core-instance-size", "bytes of an instance's state (default: 1 MiB)", |p, n| Ok(p.max_core_instance_size(usize::try_from(n)?))),
        pooling("pooling-memory-keep-resident", "bytes of a memory slot zeroed in place on reset (default: 0)", |p, n| Ok(p.linear_memory_keep_resident(usize::try_from(n)?))),
        pooling("pooling-table-keep-resident", "bytes of a table kept on reset (default: 0)", |p, n| Ok(p.table_keep_resident(usize::try_from(n)?))),
        pooling("pooling-gc-heap-keep-resident", "bytes of a GC heap slot zeroed in place on reset (default: 0)", |p, n| Ok(p.gc_heap_keep_resident(usize::try_from(n)?))),
        pooling("pooling-decommit-batch-size", "slots reset together (default: 1)", |p, n| Ok(p.decommit_batch_size(usize::try_from(n)?))),
        not_yet("pooling-*", "that pooling allocator setting"),
        apply("gc-heap-initial-size", "=N", "bytes a store's GC heap starts with; it grows from there up to -W max-gc-heap-size (default: 1048576)", |s, v| {
            s.config.gc_heap_initial_size(number(v)?);
            Ok(())
        }),
        not_yet("regalloc-algorithm", "choosing the register allocator"),
        not_yet("memory-may-move", "choosing whether memories move"),
        not_yet("memory-reservation-for-growth", "reservations for growth"),
        not_yet("guard-before-linear-memory", "guard regions before memories"),
        not_yet("table-lazy-init", "switching lazy table initialisation"),
        not_yet("memory-init-cow", "copy-on-write memory images"),
        not_yet("memory-guaranteed-dense-image-size", "copy-on-write memory images"),
    ],
};

const DEBUG: Group = Group {
    flag: 'D',
    name: "Debug options",
    singular: "debug option",
    keys: &[
        fixed("debug-info", false, "DWARF debug info for compiled code"),
        fixed("address-map", true, "compiling without the address map (backtraces use it)"),
        fixed("logging", false, "log output (Kiln's runtime logs nothing yet)"),
        not_yet("log-to-files", "log output"),
        not_yet("guest-debug", "guest debugging"),
        not_yet("coredump", "core dumps"),
    ],
};

const GROUPS: [&Group; 4] = [&WASM, &CODEGEN, &RUNTIME, &DEBUG];

/// What the options ask of the engine and of each store. Most keys go
/// straight into `config`; the memory keys combine, so `finish` settles
/// them.
struct Settings {
    config: Config,
    /// Whether to use the compiled-module cache (on unless `-C cache=n`).
    cache: bool,
    /// `-C cache-config`'s file.
    cache_config: Option<PathBuf>,
    memory_reservation: Option<u64>,
    /// `-O pooling-allocator`'s configuration, with the `pooling-*` limits.
    pooling: Option<PoolingAllocationConfig>,
    /// `pooling-*` limits given, applied once the options are all read.
    pooling_limits: Vec<(String, fn(&mut PoolingAllocationConfig, u64) -> Result<&mut PoolingAllocationConfig, std::num::TryFromIntError>, u64)>,
    memory_guard_size: Option<u64>,
    store: StoreOptions,
}

/// What a command must do to each store it creates.
#[derive(Default)]
pub struct StoreOptions {
    fuel: Option<u64>,
    timeout: Option<Duration>,
}

#[derive(Args, Default)]
pub struct EngineOptions {
    /// Wasm proposals and limits: `-W KEY[=VAL][,KEY[=VAL]...]`; `-W help` lists them.
    #[arg(short = 'W', long = "wasm", value_name = "KEY[=VAL][,...]")]
    wasm: Vec<String>,

    /// Code generation options: `-C KEY=VAL[,...]`; `-C help` lists them.
    #[arg(short = 'C', long = "codegen", value_name = "KEY[=VAL][,...]")]
    codegen: Vec<String>,

    /// Runtime options: `-O KEY=VAL[,...]`; `-O help` lists them.
    #[arg(short = 'O', long = "optimize", value_name = "KEY[=VAL][,...]")]
    runtime: Vec<String>,

    /// Debug options: `-D KEY[=VAL][,...]`; `-D help` lists them.
    #[arg(short = 'D', long = "debug", value_name = "KEY[=VAL][,...]")]
    debug: Vec<String>,
}

impl EngineOptions {
    fn flags(&self) -> [(&Group, &[String]); 4] {
        [(&WASM, &self.wasm), (&CODEGEN, &self.codegen), (&RUNTIME, &self.runtime), (&DEBUG, &self.debug)]
    }

    /// The help text `-W help`, `-C help`, `-O help` or `-D help` asked for,
    /// if any.
    pub fn help_requested(&self) -> Option<String> {
        let text: String = self.flags().iter().filter(|(_, flags)| pairs(flags).any(|p| p == "help")).map(|(group, _)| group.help()).collect();
        (!text.is_empty()).then_some(text)
    }

    /// The engine configuration these options ask for, and what each store
    /// needs on top of it.
    pub fn config(&self) -> Result<(Config, StoreOptions)> {
        let mut settings = Settings::default();
        for (group, flags) in self.flags() {
            for pair in pairs(flags) {
                group.apply(pair, &mut settings)?;
            }
        }
        settings.finish()
    }
}

/// The `KEY[=VAL]` pairs of a group's flags.
fn pairs(flags: &[String]) -> impl Iterator<Item = &str> {
    flags.iter().flat_map(|flag| flag.split(',')).filter(|p| !p.is_empty())
}

impl Group {
    fn find(&self, key: &str) -> Option<&Key> {
        self.keys.iter().find(|k| match k.name.strip_suffix('*') {
            Some(prefix) => key.starts_with(prefix),
            None => k.name == key,
        })
    }

    fn apply(&self, pair: &str, settings: &mut Settings) -> Result<()> {
        let (key, value) = match pair.split_once('=') {
            Some((key, value)) => (key, Some(value)),
            None => (pair, None),
        };
        let entry = self.find(key).ok_or_else(|| self.unknown(pair, key))?;
        // One line per error, led by the flag as typed: the message is about
        // the user's input, so a cause chain would only repeat it.
        entry.action.apply(key, value, settings).map_err(|err| anyhow!("-{} {pair}: {err:#}", self.flag))
    }

    fn unknown(&self, pair: &str, key: &str) -> anyhow::Error {
        let known: Vec<&str> = self.keys.iter().filter(|k| k.action.honoured()).map(|k| k.name).collect();
        let elsewhere = GROUPS.iter().filter(|g| g.flag != self.flag).find(|g| g.find(key).is_some());
        let hint = match elsewhere {
            Some(group) => format!("; `{key}` is a -{} option", group.flag),
            None => String::new(),
        };
        anyhow!("-{} {pair}: unknown {} `{key}`{hint}; known: {} (see `-{} help`)", self.flag, self.singular, known.join(", "), self.flag)
    }

    fn help(&self) -> String {
        let mut text = format!("{} (-{} KEY[=VAL][,...]):\n", self.name, self.flag);
        for key in self.keys.iter().filter(|k| k.action.honoured()) {
            let doc = match key.action {
                Action::Fixed { always, missing } => format!("only `{}={}`; not supported yet: {missing}", key.name, yes_no(always)),
                _ => key.doc.to_string(),
            };
            text.push_str(&format!("  -{} {}{}\n      {doc}\n", self.flag, key.name, key.value));
        }
        text.push_str(&format!("Not supported by Kiln yet (-{}):\n", self.flag));
        for key in self.keys.iter().filter(|k| !k.action.honoured()) {
            if let Action::NotYet { missing } = key.action {
                text.push_str(&format!("  -{} {} ({missing})\n", self.flag, key.name));
            }
        }
        text
    }
}

impl Action {
    /// Whether some value of the key is accepted.
    fn honoured(&self) -> bool {
        !matches!(self, Action::NotYet { .. })
    }

    fn apply(&self, key: &str, value: Option<&str>, settings: &mut Settings) -> Result<()> {
        match *self {
            Action::Switch(set) => {
                set(&mut settings.config, switch_value(value)?);
                Ok(())
            }
            Action::Apply(f) => f(settings, value),
            Action::Fixed { always, missing } => {
                if switch_value(value)? != always {
                    bail!("not supported by Kiln yet: {missing}; only `{key}={}` is accepted", yes_no(always));
                }
                Ok(())
            }
            Action::NotYet { missing } => bail!("not supported by Kiln yet: {missing}"),
            Action::Pooling(set) => {
                settings.pooling_limits.push((key.to_string(), set, number(value)?));
                Ok(())
            }
        }
    }
}

fn yes_no(b: bool) -> &'static str {
    if b { "y" } else { "n" }
}

impl Default for Settings {
    fn default() -> Self {
        Settings { config: Config::default(), cache: true, cache_config: None, memory_reservation: None, pooling: None, pooling_limits: Vec::new(), memory_guard_size: None, store: StoreOptions::default() }
    }
}

impl Settings {
    fn finish(mut self) -> Result<(Config, StoreOptions)> {
        // Kiln has two memory layouts: a 4 GiB reservation with a 4 GiB
        // guard (no bounds checks), or bounds-checked memories that move
        // as they grow. Zero reservation or zero guard asks for the
        // latter; `layout_size` refused every value in between.
        let checked = self.memory_reservation == Some(0) || self.memory_guard_size == Some(0);
        self.config.bounds_checks(if checked { BoundsChecks::Explicit } else { BoundsChecks::GuardPages });
        if self.store.fuel.is_some() {
            self.config.consume_fuel(true);
        }
        match (self.pooling.take(), self.pooling_limits.first()) {
            (Some(mut pooling), _) => {
                for (name, set, n) in &self.pooling_limits {
                    set(&mut pooling, *n).with_context(|| format!("-O {name}: too large"))?;
                }
                self.config.allocation_strategy(InstanceAllocationStrategy::Pooling(pooling));
            }
            (None, Some((name, ..))) => bail!("-O {name} needs -O pooling-allocator"),
            (None, None) => {}
        }
        if self.store.timeout.is_some() {
            self.config.epoch_interruption(true);
        }
        if self.cache {
            // A configuration file asked for is an error when unusable; the
            // default cache that cannot be opened (no home directory, a
            // read-only one) only costs the compilation it would save.
            let config = match &self.cache_config {
                Some(path) => CacheConfig::from_file(path)?,
                None => Some(CacheConfig::new()),
            };
            match config.map(Cache::new).transpose() {
                Ok(cache) => {
                    self.config.cache(cache);
                }
                Err(e) if self.cache_config.is_none() => log::debug!("compiling without the module cache: {e:#}"),
                Err(e) => return Err(e),
            }
        }
        Ok((self.config, self.store))
    }
}

impl StoreOptions {
    /// Refuses the options that only `kiln run` can give its store.
    pub fn refuse_for(&self, command: &str) -> Result<()> {
        if self.fuel.is_some() {
            bail!("-W fuel: not supported by `{command}` yet");
        }
        if self.timeout.is_some() {
            bail!("-W timeout: not supported by `{command}` yet");
        }
        Ok(())
    }

    /// Gives `store` its fuel and starts the timeout's clock. Call it just
    /// before the first instantiation, so compiling is not counted.
    pub fn apply<T>(&self, store: &mut Store<T>) -> Result<()> {
        if let Some(fuel) = self.fuel {
            store.set_fuel(fuel)?;
        }
        if let Some(timeout) = self.timeout {
            // Interrupted once the epoch moves one past where it is now. The
            // timer thread is never joined: it either fires into a run that
            // is still going or dies with the process.
            store.set_epoch_deadline(1);
            let engine = store.engine().clone();
            std::thread::spawn(move || {
                std::thread::sleep(timeout);
                engine.increment_epoch();
            });
        }
        Ok(())
    }
}

/// A memory reservation or guard size Kiln can honour: 0, or enough for
/// guard pages (see `Settings::finish`).
fn layout_size(bytes: u64) -> Result<u64> {
    if bytes != 0 && bytes < GUARD_PAGES_RESERVATION {
        bail!(
            "not supported by Kiln yet: sizes between 0 and 4 GiB; use 0 for bounds-checked memories or at least {GUARD_PAGES_RESERVATION} for guard pages"
        );
    }
    Ok(bytes)
}

/// A value that must be given, as in `KEY=VAL`.
fn required(value: Option<&str>) -> Result<&str> {
    value.ok_or_else(|| anyhow!("expected a value, as in KEY=VAL"))
}

/// A switch: bare, `y`, `yes` or `true` for on; `n`, `no` or `false` for off.
fn switch_value(value: Option<&str>) -> Result<bool> {
    match value {
        None | Some("y" | "yes" | "true") => Ok(true),
        Some("n" | "no" | "false") => Ok(false),
        Some(other) => bail!("expected y or n, got `{other}`"),
    }
}

/// A number: decimal or `0x` hex, `_` allowed between digits.
fn number(value: Option<&str>) -> Result<u64> {
    let text = required(value)?;
    let digits = text.replace('_', "");
    let parsed = match digits.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => digits.parse(),
    };
    parsed.map_err(|err| anyhow!("expected a number (decimal, or hex after 0x), got `{text}`: {err}"))
}

/// A duration: a bare number of seconds, or a number and a unit.
fn duration(value: Option<&str>) -> Result<Duration> {
    let text = required(value)?;
    let split = text.find(|c: char| !c.is_ascii_digit() && c != '_').unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let n = number(Some(digits)).with_context(|| format!("expected a duration such as 10, 2s or 300ms, got `{text}`"))?;
    let nanos_per_unit: u64 = match unit {
        "" | "s" => 1_000_000_000,
        "ns" => 1,
        "us" => 1_000,
        "ms" => 1_000_000,
        "m" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        other => bail!("unknown unit `{other}` in `{text}`; known: ns, us, ms, s, m, h"),
    };
    let nanos = n.checked_mul(nanos_per_unit).with_context(|| format!("`{text}` is too long"))?;
    Ok(Duration::from_nanos(nanos))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_take_wasmtime_syntax() {
        assert_eq!(number(Some("33_554_432")).unwrap(), 33_554_432);
        assert_eq!(number(Some("0x10000")).unwrap(), 65536);
        assert!(number(Some("64K")).is_err(), "Wasmtime takes no size suffixes");
        assert!(number(Some("-1")).is_err());
        assert!(number(None).is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(duration(Some("2")).unwrap(), Duration::from_secs(2));
        assert_eq!(duration(Some("300ms")).unwrap(), Duration::from_millis(300));
        assert_eq!(duration(Some("5us")).unwrap(), Duration::from_micros(5));
        assert_eq!(duration(Some("1m")).unwrap(), Duration::from_secs(60));
        assert!(duration(Some("3 fortnights")).is_err());
        assert!(duration(Some("ms")).is_err());
        assert!(duration(Some("99999999999h")).is_err());
    }

    #[test]
    fn switches() {
        assert!(switch_value(None).unwrap());
        assert!(switch_value(Some("yes")).unwrap());
        assert!(!switch_value(Some("false")).unwrap());
        assert!(switch_value(Some("maybe")).is_err());
    }

    #[test]
    fn every_key_is_in_one_group_only() {
        let mut seen = std::collections::HashSet::new();
        for group in GROUPS {
            for key in group.keys {
                assert!(seen.insert(key.name), "`{}` is in two groups", key.name);
                if matches!(key.action, Action::Switch(_) | Action::Apply(_)) {
                    assert!(!key.doc.is_empty(), "`{}` has no doc", key.name);
                }
            }
        }
    }
}
