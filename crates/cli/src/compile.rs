//! `kiln compile FILE [-o OUT]`: compiles a module ahead of time into a
//! `.cwasm` artifact that `kiln run --allow-precompiled` (or
//! `Module::deserialize`) loads without compiling. The artifact runs only
//! under the same engine settings (the same `-C`/`-O`/`-W` options that
//! affect code), which it records.

use anyhow::{Context as _, Result};
use clap::Args;
use kiln::Engine;
use std::path::PathBuf;
use std::process::ExitCode;

/// Compiles a WebAssembly module (.wasm or .wat) to a precompiled `.cwasm`.
#[derive(Args)]
pub struct CompileCommand {
    /// The module to compile.
    file: PathBuf,

    #[command(flatten)]
    options: crate::options::EngineOptions,

    /// Where to write the artifact [default: FILE with the extension `.cwasm`].
    #[arg(short = 'o', long = "output", value_name = "OUT")]
    output: Option<PathBuf>,
}

impl CompileCommand {
    pub fn execute(self) -> Result<ExitCode> {
        if let Some(help) = self.options.help_requested() {
            print!("{help}");
            return Ok(ExitCode::SUCCESS);
        }
        let (config, _) = self.options.config()?;
        let engine = Engine::new(&config)?;
        let bytes = std::fs::read(&self.file).with_context(|| format!("reading `{}`", self.file.display()))?;
        let artifact = engine.precompile_module(&bytes).with_context(|| format!("compiling `{}`", self.file.display()))?;
        let output = self.output.unwrap_or_else(|| self.file.with_extension("cwasm"));
        std::fs::write(&output, artifact).with_context(|| format!("writing `{}`", output.display()))?;
        Ok(ExitCode::SUCCESS)
    }
}
