//! `kiln run`: instantiate a module and call one of its exports.
//!
//! Imports are resolved against an empty linker for now (WASI comes later),
//! so only modules without imports run. Results are printed one per line in
//! the format of `wasmtime run --invoke`.

use crate::values::{format_result, parse_arg};
use anyhow::{Context as _, Result, anyhow, bail};
use clap::Args;
use kiln::{Engine, Linker, Module, Store, Val};
use std::path::PathBuf;
use std::process::ExitCode;

/// Runs a WebAssembly module (.wasm or .wat) and calls one of its exports.
#[derive(Args)]
pub struct RunCommand {
    /// The module: a binary `.wasm` or a text `.wat` file.
    file: PathBuf,

    /// The exported function to call [default: `_start`, else `main`].
    #[arg(long, value_name = "NAME")]
    invoke: Option<String>,

    /// Arguments for the function, one per parameter: integers in decimal
    /// or `0x` hex, floats in decimal (`inf`, `nan` too).
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "ARGS"
    )]
    args: Vec<String>,
}

impl RunCommand {
    pub fn execute(self) -> Result<ExitCode> {
        let bytes = std::fs::read(&self.file)
            .with_context(|| format!("reading `{}`", self.file.display()))?;
        let engine = Engine::default();
        let module = Module::new(&engine, &bytes)
            .with_context(|| format!("compiling `{}`", self.file.display()))?;
        let mut store = Store::new(&engine, ());
        let linker = Linker::new(&engine);
        let instance = linker
            .instantiate(&mut store, &module)
            .with_context(|| format!("instantiating `{}`", self.file.display()))?;

        let name = match &self.invoke {
            Some(name) => name.clone(),
            None => ["_start", "main"]
                .into_iter()
                .find(|name| instance.get_func(&mut store, name).is_some())
                .ok_or_else(|| {
                    anyhow!("the module exports no `_start` or `main` function; use --invoke NAME")
                })?
                .to_string(),
        };
        let func = instance
            .get_func(&mut store, &name)
            .ok_or_else(|| anyhow!("the module exports no function named `{name}`"))?;

        let ty = func.ty(&mut store);
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
        func.call(&mut store, &args, &mut results)
            .with_context(|| format!("calling `{name}`"))?;
        for result in &results {
            println!("{}", format_result(result));
        }
        Ok(ExitCode::SUCCESS)
    }
}

fn type_list(types: &[kiln::ValType]) -> String {
    if types.is_empty() {
        return "none".to_string();
    }
    let names: Vec<String> = types.iter().map(ToString::to_string).collect();
    names.join(", ")
}
