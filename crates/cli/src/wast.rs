//! `kiln wast`: run spec scripts and report every failing directive.
//!
//! Each file runs in a fresh context, in continue mode, so one run shows
//! all failures rather than the first. A file that cannot be read, or whose
//! run panics, counts as one failure and the other files still run. The
//! last line is `N passed, N failed`, counting directives.

use anyhow::Result;
use clap::Args;
use kiln::Engine;
use kiln_wast::{DirectiveFailure, SpectestOutput, WastContext, WastSummary};
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Runs .wast spec scripts and reports every failing directive.
#[derive(Args)]
pub struct WastCommand {
    /// The scripts to run.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,

    #[command(flatten)]
    options: crate::options::EngineOptions,

    /// Print what the scripts pass to `spectest.print*`.
    #[arg(short, long)]
    verbose: bool,
}

impl WastCommand {
    pub fn execute(self) -> Result<ExitCode> {
        if let Some(help) = self.options.help_requested() {
            print!("{help}");
            return Ok(ExitCode::SUCCESS);
        }
        let (config, store_options) = self.options.config()?;
        store_options.refuse_for("kiln wast")?;
        let engine = Engine::new(&config)?;
        let output = if self.verbose {
            SpectestOutput::Stdout
        } else {
            SpectestOutput::Silent
        };
        let mut total = WastSummary::default();
        for file in &self.files {
            let summary = run_file(&engine, file, output);
            for failure in &summary.failures {
                print_failure(failure);
            }
            if self.files.len() > 1 {
                println!("{}: {summary}", file.display());
            }
            total.passed += summary.passed;
            total.failures.extend(summary.failures);
        }
        println!("{total}");
        Ok(if total.is_success() {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        })
    }
}

fn run_file(engine: &Engine, path: &Path, output: SpectestOutput) -> WastSummary {
    let name = path.display().to_string();
    let whole_file = |message: String| WastSummary {
        passed: 0,
        failures: vec![DirectiveFailure {
            file: name.clone(),
            line: 1,
            col: 1,
            directive: "script",
            message,
        }],
    };
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(err) => return whole_file(format!("cannot read the file: {err}")),
    };
    // A panic inside the engine must not hide the results of other files.
    // The context is dropped with the panic, so nothing observes a store
    // left half-updated: that is why asserting unwind safety is sound here.
    let run = panic::catch_unwind(AssertUnwindSafe(|| {
        WastContext::with_output(engine, output).map(|mut cx| cx.run_all(&text, &name))
    }));
    match run {
        Ok(Ok(summary)) => summary,
        Ok(Err(err)) => whole_file(format!("cannot set up the script context: {err:#}")),
        Err(panic) => whole_file(format!("panicked: {}", panic_message(&*panic))),
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("<non-string panic payload>")
}

/// One failure: location and directive on the first line, the (possibly
/// multi-line) message indented below so it reads as one block.
fn print_failure(failure: &DirectiveFailure) {
    println!(
        "{}:{}:{}: {} failed",
        failure.file, failure.line, failure.col, failure.directive
    );
    for line in failure.message.lines() {
        println!("    {line}");
    }
}
