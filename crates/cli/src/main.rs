//! The `kiln` command line.
//!
//! - `kiln run [--dir HOST[::GUEST]] [--env NAME[=VAL]] [--preload
//!   NAME=FILE] [--invoke NAME] FILE [ARGS...]` runs a WASI command's
//!   `_start` with ARGS as its argv, or calls one export with ARGS as its
//!   parameters and prints its results (see `run`).
//! - `kiln wast FILE...` runs spec scripts and reports every failure.
//! - `kiln compile FILE [-o OUT]` writes a precompiled `.cwasm`, which
//!   `kiln run --allow-precompiled` runs without compiling.
//!
//! Both take Wasmtime's option groups, `-W`, `-C`, `-O` and `-D` (see
//! `options`), with Wasmtime's keys.
//!
//! Errors go to stderr with their cause chain, and the exit code is
//! non-zero (1; 134 for a trap, as in Wasmtime; a WASI command's own exit
//! code when it calls `proc_exit`); results go to stdout so they can be
//! piped.

mod compile;
mod options;
mod run;
mod values;
mod wast;

use clap::error::ErrorKind;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "kiln", version, about = "The Kiln WebAssembly runtime")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    Compile(compile::CompileCommand),
    Run(run::RunCommand),
    Wast(wast::WastCommand),
}

fn main() -> ExitCode {
    // `RUST_LOG=kiln=debug` shows compilation, collections and the module
    // cache at work; by default only warnings (an unusable cache entry)
    // reach stderr.
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).format_timestamp(None).init();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) if err.kind() == ErrorKind::MissingRequiredArgument => match group_help_without_file() {
            Some(help) => {
                print!("{help}");
                return ExitCode::SUCCESS;
            }
            None => err.exit(),
        },
        Err(err) => err.exit(),
    };
    let result = match cli.command {
        Command::Compile(cmd) => cmd.execute(),
        Command::Run(cmd) => cmd.execute(),
        Command::Wast(cmd) => cmd.execute(),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            report(&err);
            ExitCode::FAILURE
        }
    }
}

/// `kiln run -C help` and the like (as `wasmtime run -C help`) print the
/// group's keys without a module to run: the command line is parsed again
/// with the file arguments optional, for its option groups alone.
fn group_help_without_file() -> Option<String> {
    let optional_files = |c: clap::Command| c.mut_args(|a| if a.is_positional() { a.required(false) } else { a });
    let matches = Cli::command().mut_subcommands(optional_files).try_get_matches().ok()?;
    let (_, command) = matches.subcommand()?;
    options::EngineOptions::from_arg_matches(command).ok()?.help_requested()
}

/// Prints an error and its causes, one per line. Not `{:?}`: that would
/// also print a Rust backtrace whenever RUST_BACKTRACE is set, which says
/// nothing useful about a user's module.
pub(crate) fn report(err: &anyhow::Error) {
    eprintln!("error: {err}");
    for cause in err.chain().skip(1) {
        for (i, line) in cause.to_string().lines().enumerate() {
            let lead = if i == 0 { "caused by: " } else { "           " };
            eprintln!("  {lead}{line}");
        }
    }
}
