//! The spectests oracle: one spec script, chosen by the input, run with
//! input-chosen engine settings (collector, bounds checks, opt level, GC
//! zeal, GC heap size), must pass as it does in `tests/spec.rs`. Scripts
//! listed in `tests/spec-expected-failures.txt` are not chosen.
//!
//! The settings are those under which every script must pass: the stack
//! limit stays the default (the suite's deepest recursions are sized for
//! it) and the GC heap is never smaller than 16 MiB (the null collector
//! never frees). Each script runs on a thread with a 16 MiB stack, as in the
//! spec harness.

use crate::generators::config::COLLECTORS;
use arbitrary::Unstructured;
use kiln::{BoundsChecks, Config, Engine, OptLevel};
use kiln_wast::WastContext;
use kiln_wast::testsuite::{Script, expected_failure_names, suite_scripts};
use std::num::NonZeroU32;
use std::sync::OnceLock;

const EXPECTED_FAILURES: &str = include_str!("../../../../tests/spec-expected-failures.txt");

/// The scripts that must pass.
fn scripts() -> &'static [Script] {
    static SCRIPTS: OnceLock<Vec<Script>> = OnceLock::new();
    SCRIPTS.get_or_init(|| {
        let skip = expected_failure_names(EXPECTED_FAILURES);
        suite_scripts().into_iter().filter(|s| !skip.contains(&s.name.as_str())).collect()
    })
}

/// What ran: the script's name and the settings.
#[derive(Debug)]
pub struct Report {
    pub script: String,
    pub settings: String,
}

/// Picks a script and settings, runs the script, and panics unless it
/// passes. `max_len` caps the script's size (fixed-seed tests in debug
/// builds keep to small scripts).
pub fn spectests(u: &mut Unstructured<'_>, max_len: usize) -> arbitrary::Result<Report> {
    let candidates: Vec<&Script> = scripts().iter().filter(|s| s.text.len() <= max_len).collect();
    let script = (*u.choose(&candidates)?).clone();
    let mut config = Config::new();
    let collector = *u.choose(&COLLECTORS)?;
    let bounds = if u.arbitrary()? { BoundsChecks::GuardPages } else { BoundsChecks::Explicit };
    let opt = if u.arbitrary()? { OptLevel::Speed } else { OptLevel::None };
    let zeal = if u.ratio(1, 4)? { NonZeroU32::new(1) } else { None };
    let heap: u64 = *u.choose(&[16 << 20, 1 << 30])?;
    config.collector(collector).bounds_checks(bounds).cranelift_opt_level(opt).max_gc_heap_size(heap);
    config.gc_zeal_alloc_counter(zeal).expect("zeal is supported");
    let settings = format!("collector {collector:?}, bounds checks {bounds:?}, opt level {opt:?}, zeal {zeal:?}, GC heap {heap} bytes");
    crate::repro::log_config("spectests", &format_args!("script {}, {settings}", script.name));
    let engine = Engine::new(&config).expect("fuzzing configurations are valid");
    let (name, text) = (script.name.clone(), script.text.clone());
    let outcome = std::thread::Builder::new()
        .stack_size(16 << 20)
        .spawn(move || -> Result<(), String> {
            let mut cx = WastContext::new(&engine).map_err(|e| format!("{e:#}"))?;
            cx.run(&text, &name).map_err(|e| format!("{e:#}"))
        })
        .expect("a thread for the script")
        .join()
        .expect("scripts report failures, they do not panic");
    if let Err(e) = outcome {
        panic!("spec script {} failed with {settings}:\n{e}", script.name);
    }
    Ok(Report { script: script.name, settings })
}
