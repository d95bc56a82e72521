//! The spec test suite, plus our own scripts in `tests/misc/`.
//!
//! Every script is one libtest-mimic trial, named `wasm-v3/NAME.wast`,
//! `proposals/PROPOSAL/NAME.wast` or `misc/NAME.wast`. The scripts of
//! proposals Kiln runs behind a flag (`FLAGGED_PROPOSALS`) run with it on. A script passes when
//! every directive does; the runner stops at its first failure.
//!
//! `tests/spec-expected-failures.txt` lists the scripts that cannot pass
//! yet, each with a reason. The list only shrinks:
//! - a listed script that fails is reported ok;
//! - a listed script that passes fails its trial ("now passes: remove it");
//! - an unlisted script that fails fails its trial;
//! - an entry naming no script, without a reason, or listed twice fails
//!   the `expected-failures-list` trial.
//!
//! `KILN_SPEC_BLESS=1 cargo test --test spec` rewrites the list to the
//! scripts that fail now, keeping known reasons and writing `TODO: reason`
//! for new ones. Entries for scripts that a name filter skipped are kept.
//!
//! Each script runs on its own thread with a 16 MiB stack, so the suite's
//! deep-recursion tests exercise Kiln's stack limit rather than the test
//! thread's.

use kiln::Engine;
use kiln_wast::WastContext;
use kiln_wast::testsuite::{FLAGGED_PROPOSALS, Script, flagged_proposal_scripts, suite_scripts};
use libtest_mimic::{Arguments, Failed, Trial};
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

const EXPECTED_FAILURES: &str = "tests/spec-expected-failures.txt";
const LIST_TRIAL: &str = "expected-failures-list";
const STACK_SIZE: usize = 16 << 20;
const TODO_REASON: &str = "TODO: reason";
const NOW_PASSES: &str = "now passes: remove it from tests/spec-expected-failures.txt";
const HEADER: &str = "\
# Spec scripts that cannot pass yet, one per line: `<trial name>  # <reason>`.
# tests/spec.rs fails a listed script that passes, so this list only shrinks.
# Regenerate with `KILN_SPEC_BLESS=1 cargo test --test spec` (keeps reasons).
";

/// Outcome counts shared by all trials, plus what blessing needs.
#[derive(Default)]
struct Tally {
    passed: AtomicUsize,
    expected_failures: AtomicUsize,
    failed: AtomicUsize,
    ran: Mutex<BTreeSet<String>>,
    failing: Mutex<BTreeSet<String>>,
}

fn main() -> ExitCode {
    let args = Arguments::from_args();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let scripts = match collect_scripts(root) {
        Ok(scripts) => scripts,
        Err(err) => {
            eprintln!("error: collecting scripts: {err}");
            return ExitCode::FAILURE;
        }
    };
    let list_path = root.join(EXPECTED_FAILURES);
    // A missing list means "nothing is expected to fail".
    let list_text = match std::fs::read_to_string(&list_path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(err) => {
            eprintln!("error: reading {}: {err}", list_path.display());
            return ExitCode::FAILURE;
        }
    };
    let list = ExpectedFailures::parse(&list_text);
    let with_flag = |enable: fn(&mut kiln::Config, bool) -> &mut kiln::Config| {
        engine_with(|c| {
            enable(c, true);
        })
    };
    let mut flagged: Vec<(Script, Engine)> = FLAGGED_PROPOSALS
        .iter()
        .flat_map(|&(proposal, enable)| {
            let engine = with_flag(enable);
            flagged_proposal_scripts(proposal).into_iter().map(move |s| (s, engine.clone()))
        })
        .collect();
    for &(dir, enable) in FLAGGED_MISC {
        let engine = with_flag(enable);
        match misc_scripts_named(&root.join("tests/misc").join(dir), &format!("misc/{dir}")) {
            Ok(found) => flagged.extend(found.into_iter().map(|s| (s, engine.clone()))),
            Err(err) => {
                eprintln!("error: collecting tests/misc/{dir}: {err}");
                return ExitCode::FAILURE;
            }
        }
    }
    let names: BTreeSet<String> = scripts.iter().chain(flagged.iter().map(|(s, _)| s)).map(|s| s.name.clone()).collect();

    let engine = Engine::default();
    let null = engine_with(|c| {
        c.collector(kiln::Collector::Null);
    });
    let small_heap = engine_with(|c| {
        c.max_gc_heap_size(64 << 10);
    });
    // Zeal 1 collects before every allocation and verifies the heap after
    // each collection: a reference the runtime does not treat as a root
    // is moved (copying) or checked (null) at once.
    let zeal = |collector| {
        engine_with(|c| {
            c.collector(collector);
            c.gc_zeal_alloc_counter(std::num::NonZeroU32::new(1)).expect("zeal is supported");
        })
    };
    let (zeal_copying, zeal_null, zeal_drc) = (zeal(kiln::Collector::Copying), zeal(kiln::Collector::Null), zeal(kiln::Collector::Drc));
    let zeal_generational = zeal(kiln::Collector::Generational);
    let drc = engine_with(|c| {
        c.collector(kiln::Collector::Drc);
    });
    let generational = engine_with(|c| {
        c.collector(kiln::Collector::Generational);
    });
    // The pooling allocator, with room for the scripts that instantiate
    // hundreds of modules in one store (two scripts run at once).
    let pooling = engine_with(|c| {
        let mut pooling = kiln::PoolingAllocationConfig::new();
        pooling
            .total_core_instances(4_000)
            .total_memories(2_000)
            .total_tables(4_000)
            .total_gc_heaps(64)
            .max_memories_per_module(1_000)
            .max_tables_per_module(1_000)
            .table_elements(10_000_000)
            .max_core_instance_size(64 << 20);
        c.allocation_strategy(kiln::InstanceAllocationStrategy::Pooling(pooling));
    });
    let tally = Arc::new(Tally::default());
    let list = Arc::new(list);
    let mut trials = vec![list_trial(list.clone(), names.clone(), tally.clone())];
    for script in scripts {
        let mut variants = Vec::new();
        if script.name.starts_with(GC_SCRIPTS) {
            // The GC scripts again on the null collector, and on the default
            // (copying) one with a heap small enough that collections happen
            // while they run.
            variants.extend([("null", &null), ("small-heap", &small_heap)]);
        }
        // Scripts expected to fail (for reasons of their own) run once.
        if list.reason(&script.name).is_none() {
            variants.push(("pooling", &pooling));
        }
        if is_reference_script(&script.name) && list.reason(&script.name).is_none() {
            variants.extend([
                ("drc", &drc),
                ("generational", &generational),
                ("zeal-copying", &zeal_copying),
                ("zeal-null", &zeal_null),
                ("zeal-drc", &zeal_drc),
                ("zeal-generational", &zeal_generational),
            ]);
        }
        for (prefix, engine) in variants {
            let variant = Script { name: format!("{prefix}/{}", script.name), text: script.text.clone() };
            let (engine, list, tally) = (engine.clone(), list.clone(), tally.clone());
            trials.push(Trial::test(variant.name.clone(), move || run_trial(engine, variant, &list, &tally)));
        }
        let (engine, list, tally) = (engine.clone(), list.clone(), tally.clone());
        trials.push(Trial::test(script.name.clone(), move || {
            run_trial(engine, script, &list, &tally)
        }));
    }
    // Proposals behind a flag run on an engine with it on.
    for (script, engine) in flagged {
        let (list, tally) = (list.clone(), tally.clone());
        trials.push(Trial::test(script.name.clone(), move || run_trial(engine, script, &list, &tally)));
    }

    let conclusion = libtest_mimic::run(&args, trials);
    println!(
        "spec: {} passed, {} expected failures, {} failed",
        tally.passed.load(Ordering::SeqCst),
        tally.expected_failures.load(Ordering::SeqCst),
        tally.failed.load(Ordering::SeqCst),
    );
    let bless_requested = std::env::var_os("KILN_SPEC_BLESS").is_some_and(|v| v == "1");
    if bless_requested && let Err(err) = bless(&list_path, &list, &names, &tally) {
        eprintln!("error: writing {}: {err}", list_path.display());
        return ExitCode::FAILURE;
    }
    conclusion.exit_code()
}

/// Every script (the 3.0 suite, each merged proposal's, ours), sorted by
/// trial name so runs and listings are stable.
fn collect_scripts(root: &Path) -> std::io::Result<Vec<Script>> {
    let mut scripts = suite_scripts();
    scripts.extend(misc_scripts(&root.join("tests/misc"))?);
    scripts.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(scripts)
}

/// `tests/misc/*.wast`; none if the directory does not exist.
fn misc_scripts(dir: &Path) -> std::io::Result<Vec<Script>> {
    misc_scripts_named(dir, "misc")
}

/// Our scripts for proposals behind a flag: `tests/misc/DIR/*.wast`, run
/// with the flag on, named `misc/DIR/NAME.wast`.
const FLAGGED_MISC: &[(&str, fn(&mut kiln::Config, bool) -> &mut kiln::Config)] =
    &[("legacy-exceptions", kiln::Config::wasm_legacy_exceptions), ("threads", kiln::Config::wasm_threads)];

fn misc_scripts_named(dir: &Path, prefix: &str) -> std::io::Result<Vec<Script>> {
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    paths.retain(|p| p.extension().is_some_and(|e| e == "wast"));
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            let file = path.file_name().unwrap_or_default().to_string_lossy();
            Ok(Script {
                name: format!("{prefix}/{file}"),
                text: Cow::Owned(std::fs::read_to_string(&path)?),
            })
        })
        .collect()
}

/// Scripts also run with other GC configurations.
const GC_SCRIPTS: &str = "proposals/gc/";

/// The GC, exception and reference scripts: also run on the DRC collector,
/// and under GC zeal on every collector.
fn is_reference_script(name: &str) -> bool {
    const PROPOSALS: [&str; 4] = ["proposals/gc/", "proposals/exceptions/", "proposals/reference-types/", "proposals/function-references/"];
    const CORE: [&str; 11] = ["ref", "table", "elem", "global", "linking", "instance", "call_ref", "return_call_ref", "br_on_null", "br_on_non_null", "type-"];
    PROPOSALS.iter().any(|p| name.starts_with(p))
        || name.strip_prefix("wasm-v3/").is_some_and(|n| CORE.iter().any(|c| n.starts_with(c)))
}

fn engine_with(configure: impl FnOnce(&mut kiln::Config)) -> Engine {
    let mut config = kiln::Config::new();
    configure(&mut config);
    Engine::new(&config).expect("supported configuration")
}

fn run_trial(
    engine: Engine,
    script: Script,
    list: &ExpectedFailures,
    tally: &Tally,
) -> Result<(), Failed> {
    let name = script.name.clone();
    let outcome = run_script(engine, script);
    tally.ran.lock().unwrap().insert(name.clone());
    if outcome.is_err() {
        tally.failing.lock().unwrap().insert(name.clone());
    }
    match (outcome, list.reason(&name)) {
        (Ok(()), None) => {
            tally.passed.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
        (Ok(()), Some(_)) => {
            tally.failed.fetch_add(1, Ordering::SeqCst);
            Err(NOW_PASSES.into())
        }
        (Err(_), Some(_)) => {
            tally.expected_failures.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
        (Err(message), None) => {
            tally.failed.fetch_add(1, Ordering::SeqCst);
            Err(message.into())
        }
    }
}

/// Runs one script on a thread of its own with a large stack.
fn run_script(engine: Engine, script: Script) -> Result<(), String> {
    let thread_name = script.name.clone();
    let handle = std::thread::Builder::new()
        .name(thread_name)
        .stack_size(STACK_SIZE)
        .spawn(move || -> Result<(), String> {
            let mut cx = WastContext::new(&engine).map_err(|e| format!("{e:#}"))?;
            cx.run(&script.text, &script.name)
                .map_err(|e| format!("{e:#}"))
        })
        .map_err(|e| format!("cannot spawn the script's thread: {e}"))?;
    match handle.join() {
        Ok(outcome) => outcome,
        Err(panic) => {
            let message = panic
                .downcast_ref::<&str>()
                .copied()
                .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
                .unwrap_or("<non-string panic payload>");
            Err(format!("panicked: {message}"))
        }
    }
}

/// Checks the list itself: every entry names a script, has a reason, and
/// appears once. Counted as a failure in the summary if it fails.
fn list_trial(list: Arc<ExpectedFailures>, names: BTreeSet<String>, tally: Arc<Tally>) -> Trial {
    Trial::test(LIST_TRIAL, move || {
        let mut problems = list.problems.clone();
        for (name, _) in &list.entries {
            if !names.contains(name) {
                problems.push(format!("`{name}` names no script"));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            tally.failed.fetch_add(1, Ordering::SeqCst);
            Err(format!("{EXPECTED_FAILURES}:\n  {}", problems.join("\n  ")).into())
        }
    })
}

/// The parsed expected-failure list.
struct ExpectedFailures {
    /// Trial name -> reason, in file order.
    entries: Vec<(String, String)>,
    /// Malformed lines and duplicates, reported by the list trial.
    problems: Vec<String>,
}

impl ExpectedFailures {
    fn parse(text: &str) -> Self {
        let mut entries: Vec<(String, String)> = Vec::new();
        let mut problems = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (name, reason) = match line.split_once('#') {
                Some((name, reason)) => (name.trim(), reason.trim()),
                None => (line, ""),
            };
            if reason.is_empty() {
                problems.push(format!("line {}: `{name}` has no `# reason`", i + 1));
            }
            if entries.iter().any(|(n, _)| n == name) {
                problems.push(format!("line {}: `{name}` is listed twice", i + 1));
                continue;
            }
            entries.push((name.to_string(), reason.to_string()));
        }
        ExpectedFailures { entries, problems }
    }

    fn reason(&self, name: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, r)| r.as_str())
    }
}

/// Rewrites the list: scripts that ran and failed, plus entries for existing
/// scripts that did not run this time.
fn bless(
    path: &Path,
    list: &ExpectedFailures,
    names: &BTreeSet<String>,
    tally: &Tally,
) -> std::io::Result<()> {
    let ran = tally.ran.lock().unwrap();
    let failing = tally.failing.lock().unwrap();
    let mut entries: BTreeMap<&str, &str> = BTreeMap::new();
    for (name, reason) in &list.entries {
        if names.contains(name) && !ran.contains(name) {
            entries.insert(
                name,
                if reason.is_empty() {
                    TODO_REASON
                } else {
                    reason
                },
            );
        }
    }
    for name in failing.iter() {
        let reason = list
            .reason(name)
            .filter(|r| !r.is_empty())
            .unwrap_or(TODO_REASON);
        entries.insert(name, reason);
    }
    let mut text = HEADER.to_string();
    for (name, reason) in &entries {
        text.push_str(&format!("{name}  # {reason}\n"));
    }
    std::fs::write(path, text)?;
    println!("blessed: {} entries in {}", entries.len(), path.display());
    Ok(())
}
